// FilterExpression: the grammar, its errors (column and token), binding of
// parameters and CurrentUser, and known answers over a small catalog.
#include "ranking/filter_expression.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace recbandit::ranking {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

CatalogItem Item(const std::string& id, std::vector<std::string> categories,
                 std::vector<std::string> tags, double price, int64_t created) {
  CatalogItem item;
  item.set_item(id);
  for (auto& c : categories) item.add_categories(c);
  for (auto& t : tags) item.add_tags(t);
  if (price >= 0) (*item.mutable_numbers())["price"] = price;
  item.set_created_unix_ms(created);
  return item;
}

// a: books, 10, new   b: books+music, 25   c: music, 5, sale   d: no price   e: no metadata
const std::vector<CatalogItem>& Catalog() {
  static const auto* items = new std::vector<CatalogItem>{
      Item("a", {"books"}, {"new"}, 10, 1000), Item("b", {"books", "music"}, {}, 25, 2000),
      Item("c", {"music"}, {"sale"}, 5, 3000), Item("d", {"toys"}, {"new"}, -1, 4000)};
  return *items;
}

bool IsNumeric(absl::string_view name) { return name == "price" || name == "max_price"; }

// Returns the ids (a..e) the filter allows, e having no metadata.
std::vector<std::string> Allowed(const std::string& text,
                                 google::protobuf::Map<std::string, FilterValue> params = {},
                                 const CatalogUser* user = nullptr) {
  auto parsed = FilterExpression::Parse(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  if (!parsed.ok()) return {"<parse error>"};
  auto bound = (*parsed)->Bind(params, true, user, IsNumeric);
  EXPECT_TRUE(bound.ok()) << bound.status();
  if (!bound.ok()) return {"<bind error>"};
  std::vector<std::string> out;
  for (const CatalogItem& item : Catalog()) {
    if ((*bound)->Allows(item.item(), &item)) out.push_back(item.item());
  }
  if ((*bound)->Allows("e", nullptr)) out.push_back("e");
  return out;
}

std::string ParseError(const std::string& text) {
  auto parsed = FilterExpression::Parse(text);
  EXPECT_FALSE(parsed.ok()) << text;
  if (parsed.ok()) return "";
  EXPECT_TRUE(absl::IsInvalidArgument(parsed.status()));
  return std::string(parsed.status().message());
}

std::string BindError(const std::string& text, google::protobuf::Map<std::string, FilterValue> params,
                      bool has_user = true) {
  auto parsed = FilterExpression::Parse(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  if (!parsed.ok()) return "";
  auto bound = (*parsed)->Bind(params, has_user, nullptr, IsNumeric);
  EXPECT_FALSE(bound.ok()) << text;
  if (bound.ok()) return "";
  EXPECT_TRUE(absl::IsInvalidArgument(bound.status()));
  return std::string(bound.status().message());
}

FilterValue Numbers(std::vector<double> xs) {
  FilterValue v;
  for (double x : xs) v.add_numbers(x);
  return v;
}
FilterValue Strings(std::vector<std::string> xs) {
  FilterValue v;
  for (auto& x : xs) v.add_strings(x);
  return v;
}

TEST(FilterExpressionTest, ExcludeCategoriesInList) {
  // b has music among its categories: excluded; d and e have no such category.
  EXPECT_THAT(Allowed(R"(EXCLUDE ItemID WHERE Items.category IN ("music", "x"))"),
              ElementsAre("a", "d", "e"));
}

TEST(FilterExpressionTest, IncludeNumericComparisonWithParameter) {
  google::protobuf::Map<std::string, FilterValue> p;
  p["max"] = Numbers({10});
  // d lacks price and e lacks metadata: a predicate on a missing field is false.
  EXPECT_THAT(Allowed("INCLUDE ItemID WHERE Items.price <= $max", p), ElementsAre("a", "c"));
  EXPECT_THAT(Allowed("INCLUDE ItemID WHERE Items.price < $max", p), ElementsAre("c"));
}

TEST(FilterExpressionTest, MultiValuedEqualityAndNegation) {
  EXPECT_THAT(Allowed(R"(INCLUDE ItemID WHERE Items.category = "books")"), ElementsAre("a", "b"));
  // != holds when no value matches, and only for items that have the field.
  EXPECT_THAT(Allowed(R"(INCLUDE ItemID WHERE Items.category != "books")"),
              ElementsAre("c", "d"));
  EXPECT_THAT(Allowed(R"(INCLUDE ItemID WHERE Items.tag NOT IN ("new"))"), ElementsAre("c"));
}

TEST(FilterExpressionTest, AndOrParenthesesPrecedence) {
  // AND binds tighter than OR.
  EXPECT_THAT(
      Allowed(R"(INCLUDE ItemID WHERE Items.tag = "sale" OR Items.category = "books" AND Items.price > 20)"),
      ElementsAre("b", "c"));
  EXPECT_THAT(
      Allowed(R"(INCLUDE ItemID WHERE (Items.tag = "sale" OR Items.category = "books") AND Items.price > 20)"),
      ElementsAre("b"));
}

TEST(FilterExpressionTest, ClausesChainedByPipeMustAllHold) {
  EXPECT_THAT(Allowed(R"(INCLUDE ItemID WHERE Items.created >= 2000 | EXCLUDE ItemID WHERE Items.ItemID IN ("c"))"),
              ElementsAre("b", "d"));
}

TEST(FilterExpressionTest, KeywordsAndBuiltinsAreCaseInsensitive) {
  EXPECT_THAT(Allowed(R"(exclude itemid where items.CATEGORY in ("books"))"),
              ElementsAre("c", "d", "e"));
}

TEST(FilterExpressionTest, CurrentUserValues) {
  CatalogUser user;
  user.set_user("u");
  user.add_categories("music");
  (*user.mutable_numbers())["max_price"] = 6;
  EXPECT_THAT(Allowed("INCLUDE ItemID WHERE Items.category IN CurrentUser.category", {}, &user),
              ElementsAre("b", "c"));
  EXPECT_THAT(Allowed("INCLUDE ItemID WHERE Items.price < CurrentUser.max_price", {}, &user),
              ElementsAre("c"));
  // A user without the field (or without a record) makes the predicate false.
  EXPECT_THAT(Allowed("EXCLUDE ItemID WHERE Items.tag IN CurrentUser.tag", {}, &user),
              ElementsAre("a", "b", "c", "d", "e"));
  EXPECT_THAT(Allowed("INCLUDE ItemID WHERE Items.category IN CurrentUser.category", {}, nullptr),
              ElementsAre());
}

TEST(FilterExpressionTest, StringEscapesAndNumbers) {
  EXPECT_THAT(Allowed(R"(INCLUDE ItemID WHERE Items.ItemID IN ("a\"", "b", "\\c"))"),
              ElementsAre("b"));
  EXPECT_THAT(Allowed("INCLUDE ItemID WHERE Items.price > -1.5e0 AND Items.price < 2.5E1"),
              ElementsAre("a", "c"));
}

TEST(FilterExpressionTest, SyntaxErrorsNameColumnAndToken) {
  EXPECT_EQ(ParseError("INCLUDE ItemID Items.price < 3"),
            "column 16: expected WHERE, got 'Items'");
  EXPECT_EQ(ParseError("INCLUDE ItemID WHERE Items.price <"),
            "column 35: expected a number, a $parameter or CurrentUser.<field>, got the end");
  EXPECT_EQ(ParseError(R"(INCLUDE ItemID WHERE Items.category < "a")"),
            "column 37: '<' needs a numeric field; Items.category holds strings");
  EXPECT_EQ(ParseError(R"(INCLUDE ItemID WHERE Items.price = "a")"),
            "column 36: expected a number for this field, got string 'a'");
  EXPECT_EQ(ParseError(R"(INCLUDE ItemID WHERE Items.tag IN ("a" "b"))"),
            "column 40: expected ',' or ')', got string 'b'");
  EXPECT_EQ(ParseError(R"(INCLUDE ItemID WHERE Items.tag = "a)"),
            "column 34: string not closed by '\"'");
  EXPECT_EQ(ParseError("INCLUDE ItemID WHERE Items.price < 1 ;"),
            "column 38: unexpected character ';'");
  EXPECT_EQ(ParseError("KEEP ItemID WHERE Items.price < 1"),
            "column 1: expected INCLUDE or EXCLUDE, got 'KEEP'");
  EXPECT_EQ(ParseError("INCLUDE ItemID WHERE Items.price < 1 OR"),
            "column 40: expected Items.<field> or '(', got the end");
  EXPECT_EQ(ParseError("INCLUDE ItemID WHERE Items.price < 0x10"),
            "column 36: bad number '0x10'");
}

TEST(FilterExpressionTest, BoundsAreEnforced) {
  EXPECT_THAT(ParseError(std::string(2049, ' ')), HasSubstr("at most 2048"));
  std::string deep = "INCLUDE ItemID WHERE ";
  for (int i = 0; i < 33; ++i) deep += "(";
  deep += "Items.price < 1";
  for (int i = 0; i < 33; ++i) deep += ")";
  EXPECT_THAT(ParseError(deep), HasSubstr("nested deeper than 32"));
  std::string list = "INCLUDE ItemID WHERE Items.price IN (";
  for (int i = 0; i < 1001; ++i) list += i ? ",1" : "1";
  list += ")";
  EXPECT_THAT(ParseError(list), HasSubstr("more than 1000 values"));
  EXPECT_THAT(ParseError("INCLUDE ItemID WHERE Items.tag = \"" + std::string(300, 'x') + "\""),
              HasSubstr("at most 256"));
}

TEST(FilterExpressionTest, BindErrors) {
  EXPECT_EQ(BindError("INCLUDE ItemID WHERE Items.weight < 3", {}),
            "column 22: unknown field 'Items.weight' (no catalog record has it)");
  EXPECT_EQ(BindError("INCLUDE ItemID WHERE Items.price < $max", {}),
            "column 36: parameter $max is missing from parameters");
  google::protobuf::Map<std::string, FilterValue> wrong;
  wrong["max"] = Strings({"ten"});
  EXPECT_THAT(BindError("INCLUDE ItemID WHERE Items.price < $max", wrong),
              HasSubstr("column 36: parameter $max must hold numbers"));
  google::protobuf::Map<std::string, FilterValue> two;
  two["max"] = Numbers({1, 2});
  EXPECT_EQ(BindError("INCLUDE ItemID WHERE Items.price < $max", two),
            "column 36: parameter $max must hold one value here, got 2");
  google::protobuf::Map<std::string, FilterValue> extra;
  extra["unused"] = Numbers({1});
  EXPECT_EQ(BindError("INCLUDE ItemID WHERE Items.price < 3", extra),
            "parameters['unused'] is not used by the expression");
  EXPECT_EQ(BindError("INCLUDE ItemID WHERE Items.category IN CurrentUser.category", {}, false),
            "column 40: CurrentUser is not available here (no user)");
}

TEST(FilterExpressionTest, ListParameterForIn) {
  google::protobuf::Map<std::string, FilterValue> p;
  p["cats"] = Strings({"toys", "music"});
  EXPECT_THAT(Allowed("EXCLUDE ItemID WHERE Items.category IN $cats", p), ElementsAre("a", "e"));
}

}  // namespace
}  // namespace recbandit::ranking
