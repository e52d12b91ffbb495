// Fuzzes the catalog filter language (ranking/filter_expression.h): any text
// either parses or fails with INVALID_ARGUMENT naming a column inside it (or
// a byte bound), with a bounded message; a parsed expression binds (its
// $parameters given as numbers, or as strings, CurrentUser from a record) or
// fails with INVALID_ARGUMENT, and a bound filter decides every item of a
// small catalog, with and without metadata, twice alike.
#include <cstdint>
#include <cctype>
#include <cstdlib>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "ranking/filter_expression.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using recbandit::CatalogItem;
using recbandit::CatalogUser;
using recbandit::FilterValue;

bool Numeric(absl::string_view name) { return name == "price" || name == "rank"; }

void CheckColumn(const absl::Status& s, size_t size) {
  recbandit::fuzz::Require(absl::IsInvalidArgument(s), "errors are INVALID_ARGUMENT");
  recbandit::fuzz::Require(s.message().size() <= 1024, "error messages are bounded");
  if (absl::StartsWith(s.message(), "column ")) {
    int column = 0;
    const absl::string_view rest = s.message().substr(7);
    const size_t colon = rest.find(':');
    recbandit::fuzz::Require(colon != absl::string_view::npos &&
                                 absl::SimpleAtoi(rest.substr(0, colon), &column),
                             "a column error names its column");
    recbandit::fuzz::Require(column >= 1 && static_cast<size_t>(column) <= size + 1,
                             "the column lies inside the text (or just past its end)");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace recbandit;
  if (size > 4096) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto parsed = ranking::FilterExpression::Parse(text);
  if (!parsed.ok()) {
    CheckColumn(parsed.status(), size);
    return 0;
  }
  CatalogUser user;
  user.set_user("u");
  user.add_categories("a");
  (*user.mutable_numbers())["price"] = 3;
  CatalogItem items[3];
  items[0].set_item("x");
  items[0].add_categories("a");
  items[0].add_tags("t");
  (*items[0].mutable_numbers())["price"] = 2.5;
  items[0].set_created_unix_ms(1000);
  items[1].set_item("y");
  items[1].add_categories("b");
  (*items[1].mutable_numbers())["rank"] = -1;
  items[2].set_item("\"");
  // Every $name in the text gets a value: numbers in one round, strings in the other.
  for (int round = 0; round < 2; ++round) {
    google::protobuf::Map<std::string, FilterValue> params;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] != '$') continue;
      size_t j = i + 1;
      while (j < text.size() && (std::isalnum(static_cast<unsigned char>(text[j])) || text[j] == '_')) ++j;
      if (j == i + 1 || params.size() >= 8) continue;
      FilterValue& v = params[text.substr(i + 1, j - i - 1)];
      if (round == 0) v.add_numbers(1.5); else v.add_strings("a");
    }
    auto bound = (*parsed)->Bind(params, true, round == 0 ? &user : nullptr, Numeric);
    if (!bound.ok()) {
      CheckColumn(bound.status(), size);
      continue;
    }
    for (const CatalogItem& item : items) {
      const bool with = (*bound)->Allows(item.item(), &item);
      fuzz::Require(with == (*bound)->Allows(item.item(), &item), "decisions are pure");
      (void)(*bound)->Allows(item.item(), nullptr);
    }
  }
  return 0;
}
