// The filter language: tokenizer, recursive-descent parser, binding of
// parameters and CurrentUser, evaluation over catalog items.
#include "ranking/filter_expression.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"

namespace recbandit::ranking {
namespace {

using Field = FilterExpression::Field;
using Op = FilterExpression::Op;
using Operand = FilterExpression::Operand;

struct Token {
  enum Kind { kEnd, kWord, kString, kNumber, kParam, kPunct } kind = kEnd;
  std::string text;  // word, punctuation, decoded string, parameter name
  double number = 0;
  int column = 0;    // 1-based
};

bool IsWordStart(char c) { return absl::ascii_isalpha(c) || c == '_'; }
bool IsWordChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }

std::string Describe(const Token& t) {
  switch (t.kind) {
    case Token::kEnd: return "the end";
    case Token::kString: return absl::StrCat("string ", Quote(t.text, 32));
    case Token::kParam: return absl::StrCat("$", t.text.substr(0, 32));
    default: return Quote(t.text, 32);
  }
}

// Returns "$name" for a message (names are [A-Za-z0-9_]+; long ones cut).
std::string ParamName(const std::string& name) {
  return name.size() <= 64 ? absl::StrCat("$", name) : absl::StrCat("$", name.substr(0, 64), "...");
}

absl::Status ErrorAt(int column, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("column ", column, ": ", message));
}

// Splits the text into tokens (a bounded text gives a bounded count).
absl::StatusOr<std::vector<Token>> Tokenize(absl::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (true) {
    while (i < s.size() && absl::ascii_isspace(s[i])) ++i;
    Token t;
    t.column = static_cast<int>(i) + 1;
    if (i >= s.size()) {
      out.push_back(t);
      return out;
    }
    const char c = s[i];
    if (IsWordStart(c)) {
      size_t j = i;
      while (j < s.size() && IsWordChar(s[j])) ++j;
      t.kind = Token::kWord;
      t.text = std::string(s.substr(i, j - i));
      i = j;
    } else if (c == '$') {
      size_t j = i + 1;
      while (j < s.size() && IsWordChar(s[j])) ++j;
      if (j == i + 1 || !IsWordStart(s[i + 1])) {
        return ErrorAt(t.column, "'$' must start a parameter name ([A-Za-z_][A-Za-z0-9_]*)");
      }
      t.kind = Token::kParam;
      t.text = std::string(s.substr(i + 1, j - i - 1));
      i = j;
    } else if (c == '"') {
      t.kind = Token::kString;
      size_t j = i + 1;
      bool closed = false;
      while (j < s.size()) {
        if (s[j] == '\\' && j + 1 < s.size() && (s[j + 1] == '"' || s[j + 1] == '\\')) {
          t.text.push_back(s[j + 1]);
          j += 2;
        } else if (s[j] == '"') {
          closed = true;
          ++j;
          break;
        } else {
          t.text.push_back(s[j++]);
        }
      }
      if (!closed) return ErrorAt(t.column, "string not closed by '\"'");
      if (t.text.size() > kMaxFilterStringBytes) {
        return ErrorAt(t.column, absl::StrCat("string of ", t.text.size(),
                                              " bytes; at most ", kMaxFilterStringBytes));
      }
      i = j;
    } else if (absl::ascii_isdigit(c) ||
               ((c == '-' || c == '+' || c == '.') && i + 1 < s.size() &&
                (absl::ascii_isdigit(s[i + 1]) || (c != '.' && s[i + 1] == '.')))) {
      size_t j = i + 1;
      while (j < s.size() && (absl::ascii_isalnum(s[j]) || s[j] == '.' ||
                              ((s[j] == '-' || s[j] == '+') &&
                               (s[j - 1] == 'e' || s[j - 1] == 'E')))) {
        ++j;
      }
      const std::string text(s.substr(i, j - i));
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (end != text.c_str() + text.size() || !std::isfinite(v) ||
          text.find_first_of("xX") != std::string::npos) {  // no hex
        return ErrorAt(t.column, absl::StrCat("bad number ", Quote(text, 32)));
      }
      t.kind = Token::kNumber;
      t.text = text;
      t.number = v;
      i = j;
    } else {
      static constexpr const char* kTwo[] = {"!=", "<>", "<=", ">="};
      t.kind = Token::kPunct;
      for (const char* two : kTwo) {
        if (s.substr(i, 2) == two) t.text = two;
      }
      if (t.text.empty()) {
        if (std::string_view("()|,.=<>").find(c) == std::string_view::npos) {
          return ErrorAt(t.column, absl::StrCat("unexpected character ",
                                                Quote(s.substr(i, 1), 8)));
        }
        t.text = std::string(1, c);
      }
      i += t.text.size();
    }
    out.push_back(std::move(t));
  }
}

}  // namespace

// Recursive descent over the tokens; depth bounded by kMaxFilterDepth.
class FilterParser {
 public:
  FilterParser(std::vector<Token> tokens, FilterExpression* out)
      : tokens_(std::move(tokens)), out_(out) {}

  absl::Status Parse() {
    while (true) {
      FilterExpression::Clause clause;
      const Token& verb = Next();
      if (IsWord(verb, "INCLUDE")) {
        clause.include = true;
      } else if (IsWord(verb, "EXCLUDE")) {
        clause.include = false;
      } else {
        return Expected(verb, "INCLUDE or EXCLUDE");
      }
      const Token& what = Next();
      if (!IsWord(what, "ITEMID")) return Expected(what, "ItemID");
      const Token& where = Next();
      if (!IsWord(where, "WHERE")) return Expected(where, "WHERE");
      ASSIGN_OR_RETURN(clause.root, Cond(0));
      out_->clauses_.push_back(clause);
      const Token& after = Next();
      if (after.kind == Token::kEnd) return absl::OkStatus();
      if (!IsPunct(after, "|")) return Expected(after, "'|', AND, OR or the end");
    }
  }

 private:
  const Token& Peek() const { return tokens_[pos_]; }
  const Token& Next() {
    const Token& t = tokens_[pos_];
    if (t.kind != Token::kEnd) ++pos_;
    return t;
  }
  static bool IsWord(const Token& t, const char* upper) {
    return t.kind == Token::kWord && absl::EqualsIgnoreCase(t.text, upper);
  }
  static bool IsPunct(const Token& t, const char* p) {
    return t.kind == Token::kPunct && t.text == p;
  }
  static absl::Status Expected(const Token& t, absl::string_view what) {
    return ErrorAt(t.column, absl::StrCat("expected ", what, ", got ", Describe(t)));
  }
  int Add(FilterExpression::Node node) {
    out_->nodes_.push_back(std::move(node));
    return static_cast<int>(out_->nodes_.size()) - 1;
  }

  // cond := conj (OR conj)*
  absl::StatusOr<int> Cond(int depth) {
    std::vector<int> terms;
    while (true) {
      ASSIGN_OR_RETURN(int t, Conj(depth));
      terms.push_back(t);
      if (!IsWord(Peek(), "OR")) break;
      Next();
    }
    if (terms.size() == 1) return terms[0];
    FilterExpression::Node node;
    node.kind = FilterExpression::Node::kOr;
    node.children = std::move(terms);
    return Add(std::move(node));
  }

  // conj := term (AND term)*
  absl::StatusOr<int> Conj(int depth) {
    std::vector<int> terms;
    while (true) {
      ASSIGN_OR_RETURN(int t, Term(depth));
      terms.push_back(t);
      if (!IsWord(Peek(), "AND")) break;
      Next();
    }
    if (terms.size() == 1) return terms[0];
    FilterExpression::Node node;
    node.kind = FilterExpression::Node::kAnd;
    node.children = std::move(terms);
    return Add(std::move(node));
  }

  absl::StatusOr<int> Term(int depth) {
    if (IsPunct(Peek(), "(")) {
      const Token& open = Next();
      if (depth + 1 > kMaxFilterDepth) {
        return ErrorAt(open.column, absl::StrCat("parentheses nested deeper than ",
                                                 kMaxFilterDepth));
      }
      ASSIGN_OR_RETURN(int inner, Cond(depth + 1));
      const Token& close = Next();
      if (!IsPunct(close, ")")) return Expected(close, "')', AND or OR");
      return inner;
    }
    return Predicate();
  }

  absl::StatusOr<int> Predicate() {
    FilterExpression::Node node;
    const Token& items = Next();
    if (!IsWord(items, "Items")) return Expected(items, "Items.<field> or '('");
    node.field_column = items.column;
    const Token& dot = Next();
    if (!IsPunct(dot, ".")) return Expected(dot, "'.' after Items");
    const Token& name = Next();
    if (name.kind != Token::kWord) return Expected(name, "a field name after 'Items.'");
    if (absl::EqualsIgnoreCase(name.text, "ItemID")) {
      node.field = Field::kItemId;
    } else if (absl::EqualsIgnoreCase(name.text, "category")) {
      node.field = Field::kCategory;
    } else if (absl::EqualsIgnoreCase(name.text, "tag")) {
      node.field = Field::kTag;
    } else if (absl::EqualsIgnoreCase(name.text, "created")) {
      node.field = Field::kCreated;
    } else if (IsNumericFieldName(name.text)) {
      node.field = Field::kNumeric;
      node.field_name = name.text;
    } else {
      return ErrorAt(name.column, absl::StrCat("bad field name ", Quote(name.text, 32)));
    }
    const bool numeric = node.field == Field::kCreated || node.field == Field::kNumeric;
    const Token& op = Next();
    bool list = false;
    if (IsWord(op, "IN")) {
      node.op = Op::kIn;
      list = true;
    } else if (IsWord(op, "NOT")) {
      const Token& in = Next();
      if (!IsWord(in, "IN")) return Expected(in, "IN after NOT");
      node.op = Op::kNotIn;
      list = true;
    } else if (op.kind == Token::kPunct && op.text == "=") {
      node.op = Op::kEq;
    } else if (op.kind == Token::kPunct && (op.text == "!=" || op.text == "<>")) {
      node.op = Op::kNe;
    } else if (op.kind == Token::kPunct && (op.text == "<" || op.text == "<=" ||
                                            op.text == ">" || op.text == ">=")) {
      node.op = op.text == "<" ? Op::kLt : op.text == "<=" ? Op::kLe
                : op.text == ">" ? Op::kGt : Op::kGe;
      if (!numeric) {
        return ErrorAt(op.column, absl::StrCat("'", op.text, "' needs a numeric field; Items.",
                                               name.text, " holds strings"));
      }
    } else {
      return Expected(op, "=, !=, <, <=, >, >=, IN or NOT IN");
    }
    if (list && IsPunct(Peek(), "(")) {
      Next();
      while (true) {
        ASSIGN_OR_RETURN(Operand v, Value(numeric, /*literal_only=*/true));
        node.values.push_back(std::move(v));
        if (node.values.size() > static_cast<size_t>(kMaxFilterListValues)) {
          return ErrorAt(node.values.back().column,
                         absl::StrCat("more than ", kMaxFilterListValues, " values in a list"));
        }
        const Token& sep = Next();
        if (IsPunct(sep, ")")) break;
        if (!IsPunct(sep, ",")) return Expected(sep, "',' or ')'");
      }
    } else {
      ASSIGN_OR_RETURN(Operand v, Value(numeric, /*literal_only=*/false));
      if (list && (v.kind == Operand::kString || v.kind == Operand::kNumber)) {
        return ErrorAt(v.column, "expected '(', a $parameter or CurrentUser.<field> after IN");
      }
      node.values.push_back(std::move(v));
    }
    return Add(std::move(node));
  }

  // value := string | number | $param | CurrentUser.<field>
  absl::StatusOr<Operand> Value(bool numeric, bool literal_only) {
    const Token& t = Next();
    Operand v;
    v.column = t.column;
    if (t.kind == Token::kString || t.kind == Token::kNumber) {
      if (numeric != (t.kind == Token::kNumber)) {
        return ErrorAt(t.column, absl::StrCat("expected a ", numeric ? "number" : "string",
                                              " for this field, got ", Describe(t)));
      }
      v.kind = t.kind == Token::kString ? Operand::kString : Operand::kNumber;
      v.text = t.text;
      v.number = t.number;
      return v;
    }
    if (!literal_only && t.kind == Token::kParam) {
      v.kind = Operand::kParam;
      v.text = t.text;
      return v;
    }
    if (!literal_only && IsWord(t, "CurrentUser")) {
      const Token& dot = Next();
      if (!IsPunct(dot, ".")) return Expected(dot, "'.' after CurrentUser");
      const Token& name = Next();
      if (name.kind != Token::kWord) return Expected(name, "a field name after 'CurrentUser.'");
      v.kind = Operand::kUserField;
      v.text = name.text;
      out_->uses_current_user_ = true;
      return v;
    }
    const char* literal = numeric ? "a number" : "a string";
    return Expected(t, literal_only ? std::string(literal)
                                    : absl::StrCat(literal, ", a $parameter or CurrentUser.<field>"));
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  FilterExpression* out_;
};

absl::StatusOr<std::shared_ptr<const FilterExpression>> FilterExpression::Parse(
    absl::string_view text) {
  if (text.size() > kMaxFilterBytes) {
    return absl::InvalidArgumentError(absl::StrCat("expression has ", text.size(),
                                                   " bytes; at most ", kMaxFilterBytes));
  }
  if (!IsValidUtf8(text)) return absl::InvalidArgumentError("expression is not valid UTF-8");
  ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(text));
  auto expression = std::make_shared<FilterExpression>();
  FilterParser parser(std::move(tokens), expression.get());
  RETURN_IF_ERROR(parser.Parse());
  return std::shared_ptr<const FilterExpression>(std::move(expression));
}

namespace {

// The values a CurrentUser field holds for `user` (none when it lacks it).
void UserValues(const CatalogUser* user, const Operand& v, bool numeric,
                std::vector<std::string>* strings, std::vector<double>* numbers) {
  if (user == nullptr) return;
  if (absl::EqualsIgnoreCase(v.text, "category")) {
    strings->assign(user->categories().begin(), user->categories().end());
  } else if (absl::EqualsIgnoreCase(v.text, "tag")) {
    strings->assign(user->tags().begin(), user->tags().end());
  } else {
    auto it = user->numbers().find(v.text);
    if (it != user->numbers().end()) numbers->push_back(it->second);
  }
}

}  // namespace

absl::StatusOr<std::shared_ptr<const BoundFilter>> FilterExpression::Bind(
    const google::protobuf::Map<std::string, FilterValue>& parameters, bool has_user,
    const CatalogUser* user,
    const std::function<bool(absl::string_view)>& is_numeric_field) const {
  if (parameters.size() > static_cast<size_t>(kMaxFilterParameters)) {
    return absl::InvalidArgumentError(absl::StrCat("parameters has ", parameters.size(),
                                                   " entries; at most ", kMaxFilterParameters));
  }
  auto bound = std::make_shared<BoundFilter>();
  absl::flat_hash_set<std::string> used;
  for (const Node& n : nodes_) {
    BoundFilter::Node b;
    b.kind = n.kind;
    b.children = n.children;
    if (n.kind == Node::kPredicate) {
      if (n.field == Field::kNumeric && !is_numeric_field(n.field_name)) {
        return ErrorAt(n.field_column, absl::StrCat("unknown field ",
                                                    Quote(absl::StrCat("Items.", n.field_name)),
                                                    " (no catalog record has it)"));
      }
      const bool numeric = n.field == Field::kCreated || n.field == Field::kNumeric;
      const bool single = n.op != Op::kIn && n.op != Op::kNotIn;
      BoundFilter::Predicate p;
      p.field = n.field;
      p.field_name = n.field_name;
      p.op = n.op;
      std::vector<std::string> strings;
      std::vector<double> numbers;
      for (const Operand& v : n.values) {
        switch (v.kind) {
          case Operand::kString: strings.push_back(v.text); break;
          case Operand::kNumber: numbers.push_back(v.number); break;
          case Operand::kParam: {
            used.insert(v.text);
            auto it = parameters.find(v.text);
            if (it == parameters.end()) {
              return ErrorAt(v.column, absl::StrCat("parameter ", ParamName(v.text),
                                                    " is missing from parameters"));
            }
            const FilterValue& value = it->second;
            const int count = numeric ? value.numbers_size() : value.strings_size();
            const int other = numeric ? value.strings_size() : value.numbers_size();
            if (other > 0 || count == 0) {
              return ErrorAt(v.column,
                             absl::StrCat("parameter ", ParamName(v.text), " must hold ",
                                          numeric ? "numbers" : "strings", " for Items.",
                                          n.field == Field::kNumeric ? n.field_name
                                                                     : "<string field>",
                                          ", got ", value.numbers_size(), " numbers and ",
                                          value.strings_size(), " strings"));
            }
            if (single && count != 1) {
              return ErrorAt(v.column, absl::StrCat("parameter ", ParamName(v.text),
                                                    " must hold one value here, got ", count));
            }
            if (count > kMaxFilterListValues) {
              return ErrorAt(v.column, absl::StrCat("parameter ", ParamName(v.text), " has ",
                                                    count, " values; at most ",
                                                    kMaxFilterListValues));
            }
            for (const std::string& s : value.strings()) {
              if (s.size() > kMaxFilterStringBytes) {
                return ErrorAt(v.column, absl::StrCat("parameter ", ParamName(v.text),
                                                      " has a string of ", s.size(),
                                                      " bytes; at most ",
                                                      kMaxFilterStringBytes));
              }
              strings.push_back(s);
            }
            for (double x : value.numbers()) {
              if (!std::isfinite(x)) {
                return ErrorAt(v.column, absl::StrCat("parameter ", ParamName(v.text),
                                                      " has a number that is not finite"));
              }
              numbers.push_back(x);
            }
            break;
          }
          case Operand::kUserField: {
            if (!has_user) {
              return ErrorAt(v.column, "CurrentUser is not available here (no user)");
            }
            const bool user_numeric = !absl::EqualsIgnoreCase(v.text, "category") &&
                                      !absl::EqualsIgnoreCase(v.text, "tag");
            if (user_numeric && !is_numeric_field(v.text)) {
              return ErrorAt(v.column, absl::StrCat("unknown field ",
                                                    Quote(absl::StrCat("CurrentUser.", v.text)),
                                                    " (no catalog record has it)"));
            }
            if (user_numeric != numeric) {
              return ErrorAt(v.column, absl::StrCat(Quote(absl::StrCat("CurrentUser.", v.text)),
                                                    " holds ", user_numeric ? "numbers" : "strings",
                                                    "; this field needs ",
                                                    numeric ? "numbers" : "strings"));
            }
            std::vector<std::string> s;
            std::vector<double> x;
            UserValues(user, v, numeric, &s, &x);
            if (single && s.size() + x.size() > 1) {
              return ErrorAt(v.column, absl::StrCat(Quote(absl::StrCat("CurrentUser.", v.text)),
                                                    " holds several values; use IN"));
            }
            if (s.empty() && x.empty()) p.empty = true;
            strings.insert(strings.end(), s.begin(), s.end());
            numbers.insert(numbers.end(), x.begin(), x.end());
            break;
          }
        }
      }
      p.strings.insert(strings.begin(), strings.end());
      std::sort(numbers.begin(), numbers.end());
      p.numbers = std::move(numbers);
      b.predicate = static_cast<int>(bound->predicates_.size());
      bound->predicates_.push_back(std::move(p));
    }
    bound->nodes_.push_back(std::move(b));
  }
  for (const auto& [name, value] : parameters) {
    if (!used.contains(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameters[", Quote(name, 64), "] is not used by the expression"));
    }
  }
  bound->clauses_ = clauses_;
  return std::shared_ptr<const BoundFilter>(std::move(bound));
}

bool BoundFilter::Test(const Predicate& p, absl::string_view id, const CatalogItem* item) const {
  if (p.empty) return false;
  switch (p.field) {
    case Field::kItemId:
    case Field::kCategory:
    case Field::kTag: {
      bool any = false;
      bool has = false;
      auto check = [&](absl::string_view v) {
        has = true;
        if (p.strings.contains(v)) any = true;
      };
      if (p.field == Field::kItemId) {
        check(id);
      } else if (item != nullptr) {
        for (const std::string& v : p.field == Field::kCategory ? item->categories()
                                                                 : item->tags()) {
          check(v);
        }
      }
      if (!has) return false;
      return (p.op == Op::kEq || p.op == Op::kIn) ? any : !any;
    }
    case Field::kCreated:
    case Field::kNumeric: {
      if (item == nullptr) return false;
      double x;
      if (p.field == Field::kCreated) {
        x = static_cast<double>(item->created_unix_ms());
      } else {
        auto it = item->numbers().find(p.field_name);
        if (it == item->numbers().end()) return false;
        x = it->second;
      }
      const bool in = std::binary_search(p.numbers.begin(), p.numbers.end(), x);
      switch (p.op) {
        case Op::kEq: case Op::kIn: return in;
        case Op::kNe: case Op::kNotIn: return !in;
        case Op::kLt: return x < p.numbers[0];
        case Op::kLe: return x <= p.numbers[0];
        case Op::kGt: return x > p.numbers[0];
        case Op::kGe: return x >= p.numbers[0];
      }
    }
  }
  return false;
}

bool BoundFilter::Eval(int node, absl::string_view id, const CatalogItem* item) const {
  const Node& n = nodes_[node];
  switch (n.kind) {
    case FilterExpression::Node::kPredicate:
      return Test(predicates_[n.predicate], id, item);
    case FilterExpression::Node::kAnd:
      for (int c : n.children) {
        if (!Eval(c, id, item)) return false;
      }
      return true;
    case FilterExpression::Node::kOr:
      for (int c : n.children) {
        if (Eval(c, id, item)) return true;
      }
      return false;
  }
  return false;
}

bool BoundFilter::Allows(absl::string_view id, const CatalogItem* item) const {
  for (const FilterExpression::Clause& c : clauses_) {
    if (Eval(c.root, id, item) != c.include) return false;
  }
  return true;
}

}  // namespace recbandit::ranking
