// Tests for services/serving/catalog.h: PutItems / PutUsers bounds and
// durability across a reopen, and filtered Recommend / Similar against a
// brute-force oracle on both paths (scan of the allowed rows, index search
// with the rest excluded), hidden items never returned, k still filled.
#include "services/serving/catalog.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/random.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::services {
namespace {

using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int32_t kDim = 8;
constexpr int32_t kItems = 600;

// A random model: 50 users, kItems items "i<n>", no seen items.
std::shared_ptr<const ServingModel> RandomModel(const std::string& index) {
  Rng rng(11);
  ranking::IdMap users, items;
  std::vector<float> uf(50 * kDim), vf(kItems * kDim);
  for (float& x : uf) x = static_cast<float>(rng.Normal());
  for (float& x : vf) x = static_cast<float>(rng.Normal());
  for (int u = 0; u < 50; ++u) users.GetOrAdd("u" + std::to_string(u));
  for (int i = 0; i < kItems; ++i) items.GetOrAdd("i" + std::to_string(i));
  ModelManifest manifest;
  manifest.set_name("random");
  auto model = ranking::FactorModel::Create(std::move(users), std::move(items), kDim,
                                            std::move(uf), std::move(vf), {}, manifest, nullptr);
  EXPECT_TRUE(model.ok()) << model.status();
  retrieval::IndexBuildOptions options;
  auto built = retrieval::BuildItemIndex(index, model->item_factors(), kDim, options);
  EXPECT_TRUE(built.ok()) << built.status();
  auto serving = ServingModel::Create(*std::move(model), *std::move(built), "random", 1);
  EXPECT_TRUE(serving.ok()) << serving.status();
  return *serving;
}

// Item n: category "c<n % 4>", price n % 100, hidden when n % 37 == 5.
PutItemsRequest Metadata() {
  PutItemsRequest request;
  for (int n = 0; n < kItems; ++n) {
    CatalogItem* item = request.add_items();
    item->set_item("i" + std::to_string(n));
    item->add_categories("c" + std::to_string(n % 4));
    (*item->mutable_numbers())["price"] = n % 100;
    item->set_hidden(n % 37 == 5);
  }
  return request;
}

// The exact top k of the items `allowed(n)` keeps, for user u.
std::vector<std::string> Oracle(const ServingModel& model, int u, int k,
                                const std::function<bool(int)>& allowed) {
  std::vector<std::pair<float, int>> scored;
  absl::Span<const float> q = model.model().UserVector(u);
  for (int n = 0; n < kItems; ++n) {
    if (n % 37 == 5 || !allowed(n)) continue;
    absl::Span<const float> v = model.model().ItemVector(n);
    float s = 0;
    for (int j = 0; j < kDim; ++j) s += q[j] * v[j];
    scored.emplace_back(-s, n);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (int j = 0; j < k && j < static_cast<int>(scored.size()); ++j) {
    out.push_back("i" + std::to_string(scored[j].second));
  }
  return out;
}

std::vector<std::string> Ids(const Recommendation& rec) {
  std::vector<std::string> out;
  for (const auto& s : rec.items) out.push_back(s.item);
  return out;
}

TEST(CatalogTest, FilteredRecommendEqualsOracleOnBothPaths) {
  struct Case {
    std::string expression;
    std::function<bool(int)> allowed;
  };
  const std::vector<Case> cases = {
      {R"(EXCLUDE ItemID WHERE Items.category IN ("c1", "c2"))",
       [](int n) { return n % 4 == 0 || n % 4 == 3; }},
      {"INCLUDE ItemID WHERE Items.price < 4", [](int n) { return n % 100 < 4; }},
      {"", [](int) { return true; }},
  };
  for (const char* index : {"Exact", "Flat"}) {
    std::shared_ptr<const ServingModel> model = RandomModel(index);
    for (size_t scan_rows : {size_t{0}, size_t{100000}}) {
      ScratchDir scratch;
      const std::string dir = scratch.path();
      CatalogLimits limits;
      limits.scan_rows = scan_rows;
      auto catalog = Catalog::Open(dir, limits);
      ASSERT_TRUE(catalog.ok()) << catalog.status();
      ASSERT_TRUE((*catalog)->PutItems(Metadata()).ok());
      for (const Case& c : cases) {
        Filter filter;
        filter.set_expression(c.expression);
        auto compiled = (*catalog)->Compile(filter, true, "u3");
        ASSERT_TRUE(compiled.ok()) << compiled.status();
        ASSERT_NE(*compiled, nullptr);  // hidden items make every request filtered
        std::shared_ptr<const FilteredRows> rows = (*compiled)->Rows(*model);
        EXPECT_EQ(rows->scan, scan_rows > 0) << c.expression;
        for (int u : {0, 3, 17}) {
          for (int k : {1, 10, 200}) {
            RecommendQuery query;
            query.user = "u" + std::to_string(u);
            query.k = k;
            query.filter = *compiled;
            auto rec = model->Recommend(query);
            ASSERT_TRUE(rec.ok()) << rec.status();
            EXPECT_EQ(Ids(*rec), Oracle(*model, u, k, c.allowed))
                << index << " scan_rows " << scan_rows << " " << c.expression << " k " << k;
          }
        }
      }
    }
  }
}

TEST(CatalogTest, KIsFilledWhenEnoughAllowedAndCutWhenNot) {
  std::shared_ptr<const ServingModel> model = RandomModel("HNSW16");
  for (size_t scan_rows : {size_t{0}, size_t{100000}}) {
    CatalogLimits limits;
    limits.scan_rows = scan_rows;
    ScratchDir scratch;
    auto catalog = Catalog::Open(scratch.path(), limits);
    ASSERT_TRUE(catalog.ok());
    ASSERT_TRUE((*catalog)->PutItems(Metadata()).ok());
    Filter filter;
    filter.set_expression("INCLUDE ItemID WHERE Items.price IN $p");
    (*filter.mutable_parameters())["p"].add_numbers(7);
    (*filter.mutable_parameters())["p"].add_numbers(8);
    auto compiled = (*catalog)->Compile(filter, true, "u1");
    ASSERT_TRUE(compiled.ok()) << compiled.status();
    RecommendQuery query;
    query.user = "u1";
    query.k = 50;
    query.filter = *compiled;
    auto rec = model->Recommend(query);
    ASSERT_TRUE(rec.ok());
    EXPECT_EQ(rec->items.size(), 12u);  // prices 7 and 8: 6 items each, none hidden
    query.k = 5;
    rec = model->Recommend(query);
    ASSERT_TRUE(rec.ok());
    EXPECT_EQ(rec->items.size(), 5u);
    // Similar: every returned item allowed, k filled, never the item itself.
    auto similar = model->Similar("i7", 11, compiled->get());
    ASSERT_TRUE(similar.ok());
    EXPECT_EQ(similar->items.size(), 11u);
    for (const auto& s : similar->items) {
      const int n = std::stoi(s.item.substr(1));
      EXPECT_TRUE(n % 100 == 7 || n % 100 == 8) << s.item;
      EXPECT_NE(s.item, "i7");
    }
  }
}

TEST(CatalogTest, SurvivesReopen) {
  ScratchDir scratch;
  const std::string dir = scratch.path();
  {
    auto catalog = Catalog::Open(dir);
    ASSERT_TRUE(catalog.ok()) << catalog.status();
    auto put = (*catalog)->PutItems(Metadata());
    ASSERT_TRUE(put.ok()) << put.status();
    EXPECT_EQ(put->catalog_items(), kItems);
    PutUsersRequest users;
    CatalogUser* u = users.add_users();
    u->set_user("u1");
    u->add_categories("c2");
    ASSERT_TRUE((*catalog)->PutUsers(users).ok());
    // Replacing a record: i5 was hidden, now it is not.
    PutItemsRequest again;
    again.add_items()->set_item("i5");
    ASSERT_TRUE((*catalog)->PutItems(again).ok());
  }
  auto catalog = Catalog::Open(dir);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  EXPECT_EQ((*catalog)->num_items(), kItems);
  EXPECT_EQ((*catalog)->num_users(), 1);
  auto i9 = (*catalog)->GetItem("i9");
  ASSERT_TRUE(i9.has_value());
  EXPECT_EQ(i9->categories(0), "c1");
  EXPECT_EQ(i9->numbers().at("price"), 9);
  EXPECT_GT(i9->created_unix_ms(), 0);  // 0 became the time of the call
  EXPECT_FALSE((*catalog)->GetItem("i5")->hidden());
  // The user's record and the numeric field names came back too.
  std::shared_ptr<const ServingModel> model = RandomModel("Exact");
  Filter filter;
  filter.set_expression("INCLUDE ItemID WHERE Items.category IN CurrentUser.category AND "
                        "Items.price >= 0");
  auto compiled = (*catalog)->Compile(filter, true, "u1");
  ASSERT_TRUE(compiled.ok()) << compiled.status();
  RecommendQuery query;
  query.user = "u1";
  query.k = 1000;
  query.filter = *compiled;
  auto rec = model->Recommend(query);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(Ids(*rec), Oracle(*model, 1, 1000, [](int n) { return n % 4 == 2; }));
}

TEST(CatalogTest, BoundsNameFieldAndBound) {
  CatalogLimits limits;
  limits.max_records = 3;
  limits.max_numeric_fields = 2;
  ScratchDir scratch;
  auto catalog = Catalog::Open(scratch.path(), limits);
  ASSERT_TRUE(catalog.ok());
  PutItemsRequest four;
  for (int n = 0; n < 4; ++n) four.add_items()->set_item("i" + std::to_string(n));
  EXPECT_THAT((*catalog)->PutItems(four).status(),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("bound of 3")));
  PutItemsRequest fields;
  CatalogItem* item = fields.add_items();
  item->set_item("a");
  for (const char* name : {"x", "y", "z"}) (*item->mutable_numbers())[name] = 1;
  EXPECT_THAT((*catalog)->PutItems(fields).status(),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("numeric field names")));
  PutItemsRequest bad;
  bad.add_items()->set_item("ok");
  bad.add_items()->set_item("");
  EXPECT_THAT((*catalog)->PutItems(bad).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("items[1].item must have 1..256 bytes, got 0")));
  EXPECT_EQ((*catalog)->num_items(), 0);  // nothing of a refused batch is stored
  // No expression and nothing hidden: no filter at all.
  auto none = (*catalog)->Compile(Filter(), true, "u");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);
  Filter params_only;
  (*params_only.mutable_parameters())["x"].add_numbers(1);
  EXPECT_THAT((*catalog)->Compile(params_only, true, "u").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("without filter.expression")));
}

}  // namespace
}  // namespace recbandit::services
