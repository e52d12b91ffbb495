// FilterExpression: the catalog filter language of Recommend and
// SimilarItems (Amazon Personalize's grammar, a subset), parsed and checked
// once, then bound to a request's $parameters and CurrentUser record and
// evaluated against items' catalog metadata (proto/catalog.proto).
//
//   filter  := clause ( "|" clause )*
//   clause  := ( INCLUDE | EXCLUDE ) ItemID WHERE cond
//   cond    := conj ( OR conj )*
//   conj    := term ( AND term )*
//   term    := "(" cond ")" | field op value | field [NOT] IN list
//   field   := Items.ItemID | Items.category | Items.tag | Items.created | Items.<numeric>
//   op      := = | != | <> | < | <= | > | >=
//   value   := "string" | number | $param | CurrentUser.<field>
//   list    := "(" value ( "," value )* ")" | $param | CurrentUser.<field>
//
// Keywords and built-in field names are case-insensitive; numeric field
// names are not. category and tag are multi-valued: = and IN hold when any
// of the item's values matches, != and NOT IN when none does. A predicate
// on a field the item lacks (no metadata, no such number), or against a
// CurrentUser field the user lacks, is false whatever its operator.
#ifndef RECBANDIT_RANKING_FILTER_EXPRESSION_H_
#define RECBANDIT_RANKING_FILTER_EXPRESSION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/catalog.pb.h"
#include "proto/core/names.h"

namespace recbandit::ranking {

// Bounds of an expression and of its parameters (proto/catalog.proto).
inline constexpr size_t kMaxFilterBytes = 2048;
inline constexpr int kMaxFilterDepth = 32;        // nested parentheses
inline constexpr int kMaxFilterListValues = 1000; // values of a list or parameter
inline constexpr int kMaxFilterParameters = 32;
inline constexpr size_t kMaxFilterStringBytes = 256;

// The numeric field name rule PutItems applies (proto/core/names.h).
using ::recbandit::IsNumericFieldName;

class BoundFilter;

// A parsed expression. Immutable: thread-safe.
class FilterExpression {
 public:
  // Returns the parsed `text`; INVALID_ARGUMENT "column C: ..." naming the
  // 1-based byte column and the offending token for a syntax error, a type
  // mismatch between a built-in field and a literal, or a bound exceeded.
  static absl::StatusOr<std::shared_ptr<const FilterExpression>> Parse(absl::string_view text);

  // Returns the expression bound to `parameters` and to `user` (the
  // CurrentUser record; null when the user has none) for a catalog whose
  // numeric field names satisfy `is_numeric_field`. `has_user` false (as in
  // SimilarItems) refuses CurrentUser. INVALID_ARGUMENT naming the column
  // for an unknown field, a missing parameter or one of the wrong type or
  // size; naming the parameter for one given but unused.
  absl::StatusOr<std::shared_ptr<const BoundFilter>> Bind(
      const google::protobuf::Map<std::string, FilterValue>& parameters, bool has_user,
      const CatalogUser* user,
      const std::function<bool(absl::string_view)>& is_numeric_field) const;

  // Returns whether the expression reads CurrentUser.
  bool uses_current_user() const { return uses_current_user_; }

  // The parse tree (public for BoundFilter; not an API).
  enum class Field { kItemId, kCategory, kTag, kCreated, kNumeric };
  enum class Op { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };
  struct Operand {
    enum Kind { kString, kNumber, kParam, kUserField } kind = kString;
    std::string text;  // string literal, parameter or user field name
    double number = 0;
    int column = 0;
  };
  struct Node {
    enum Kind { kAnd, kOr, kPredicate } kind = kPredicate;
    std::vector<int> children;  // kAnd / kOr
    Field field = Field::kItemId;
    std::string field_name;     // kNumeric
    int field_column = 0;
    Op op = Op::kEq;
    std::vector<Operand> values;  // a literal list, or one operand
  };
  struct Clause {
    bool include = true;
    int root = 0;
  };

 private:
  friend class FilterParser;
  friend class BoundFilter;
  std::vector<Node> nodes_;
  std::vector<Clause> clauses_;
  bool uses_current_user_ = false;
};

// An expression with its values resolved, ready to test items. Immutable:
// thread-safe.
class BoundFilter {
 public:
  // Returns whether the item `id` with metadata `item` (null: none) passes
  // every clause.
  bool Allows(absl::string_view id, const CatalogItem* item) const;

 private:
  friend class FilterExpression;
  struct Predicate {
    FilterExpression::Field field;
    std::string field_name;
    FilterExpression::Op op;
    absl::flat_hash_set<std::string> strings;
    std::vector<double> numbers;  // sorted
    bool empty = false;           // a CurrentUser value the user lacks: false
  };
  struct Node {
    FilterExpression::Node::Kind kind;
    std::vector<int> children;
    int predicate = -1;
  };
  bool Eval(int node, absl::string_view id, const CatalogItem* item) const;
  bool Test(const Predicate& p, absl::string_view id, const CatalogItem* item) const;

  std::vector<Node> nodes_;
  std::vector<Predicate> predicates_;
  std::vector<FilterExpression::Clause> clauses_;
};

}  // namespace recbandit::ranking

#endif  // RECBANDIT_RANKING_FILTER_EXPRESSION_H_
