// Tests of ModelStore's start-up hygiene and version retention: leftovers of
// interrupted writes are removed, directories that break the name rule are
// ignored, and only the newest keep_versions versions stay (never the active
// one); and of models loaded on demand within a memory budget (LRU eviction,
// never a held model, damaged versions reported, new folders found).
#include "services/serving/model_store.h"

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/file_util.h"
#include "proto/core/random.h"
#include "ranking/factor_model.h"
#include "services/serving/serving_model.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::services {
namespace {

namespace fs = std::filesystem;
using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;
using ::recbandit::testing::WriteTextFile;

// Saves a tiny model as <root>/<name>/<version>.
void SaveVersion(const std::string& root, const std::string& name, int64_t version) {
  ranking::IdMap users, items;
  users.GetOrAdd("u");
  items.GetOrAdd("a");
  items.GetOrAdd("b");
  ModelManifest manifest;
  manifest.set_name(name);
  manifest.set_algo(ALS);
  manifest.mutable_params()->set_algo(ALS);
  auto model = ranking::FactorModel::Create(users, items, 2, {1, 0}, {1, 0, 0, 1}, {}, manifest);
  ASSERT_TRUE(model.ok());
  ASSERT_OK(model->Save(absl::StrCat(root, "/", name, "/", version)));
}

std::vector<int64_t> StoredVersions(const std::string& dir) {
  std::vector<int64_t> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (e.is_directory() && n.find_first_not_of("0123456789") == std::string::npos) {
      out.push_back(std::stoll(n));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(ModelStoreTest, OpenRemovesLeftoversOfInterruptedWrites) {
  ScratchDir dir;
  const std::string root = dir.File("models");
  SaveVersion(root, "m", 1);
  ASSERT_OK(MakeDirs(root + "/m/2.staging"));
  ASSERT_OK(MakeDirs(root + "/m/2.staging.tmp.123"));
  WriteTextFile(root + "/m/ACTIVE.tmp", "2\n");
  WriteTextFile(root + "/DEFAULT.tmp", "m\n");
  ASSERT_OK_AND_ASSIGN(auto store, ModelStore::Open(root));
  EXPECT_FALSE(fs::exists(root + "/m/2.staging"));
  EXPECT_FALSE(fs::exists(root + "/m/2.staging.tmp.123"));
  EXPECT_FALSE(fs::exists(root + "/m/ACTIVE.tmp"));
  EXPECT_FALSE(fs::exists(root + "/DEFAULT.tmp"));
  ASSERT_OK_AND_ASSIGN(auto m, store->Get("m"));
  EXPECT_EQ(m->version(), 1);
}

TEST(ModelStoreTest, DirectoriesThatAreNotModelNamesAreIgnored) {
  ScratchDir dir;
  const std::string root = dir.File("models");
  SaveVersion(root, "good", 1);
  SaveVersion(root, "-bad", 1);
  SaveVersion(root, "_hidden", 1);
  ASSERT_OK_AND_ASSIGN(auto store, ModelStore::Open(root));
  EXPECT_OK(store->Get("good").status());
  EXPECT_THAT(store->Get("-bad"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store->Activate("..", 1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store->Activate(".", 1), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_FALSE(fs::exists(root + "/ACTIVE"));
  EXPECT_FALSE(fs::exists(dir.File("ACTIVE")));
}

TEST(ModelStoreTest, KeepsTheNewestVersionsAndAlwaysTheActiveOne) {
  ScratchDir dir;
  const std::string root = dir.File("models");
  for (int v = 1; v <= 9; ++v) SaveVersion(root, "m", v);
  WriteTextFile(root + "/m/ACTIVE", "2\n");  // an old version is active (a rollback)
  ASSERT_OK_AND_ASSIGN(auto store, ModelStore::Open(root, /*keep_versions=*/3));
  EXPECT_THAT(StoredVersions(root + "/m"), ::testing::ElementsAre(2, 7, 8, 9));
  ASSERT_OK_AND_ASSIGN(auto m, store->Get("m"));
  EXPECT_EQ(m->version(), 2);
  // A new version, activated: the old active one may go now.
  SaveVersion(root, "m", 10);
  ASSERT_OK(store->Activate("m", 10).status());
  EXPECT_EQ(store->Prune("m"), 2);
  EXPECT_THAT(StoredVersions(root + "/m"), ::testing::ElementsAre(8, 9, 10));
  ASSERT_OK_AND_ASSIGN(auto info, store->List("m"));
  EXPECT_EQ(info.size(), 3u);
  EXPECT_EQ(store->keep_versions(), 3);
  EXPECT_THAT(ModelStore::Open(root, 0), StatusIs(absl::StatusCode::kInvalidArgument));
}

// Saves <root>/<name>/1: 20 users and 200 items with random 8-dim factors
// drawn from `seed`, 5 seen items per user (ids of equal length, so every
// such model has the same memory_bytes).
void SaveRandomModel(const std::string& root, const std::string& name, uint64_t seed) {
  constexpr int kUsers = 20, kItems = 200, kDim = 8;
  Rng rng(seed);
  ranking::IdMap users, items;
  for (int u = 0; u < kUsers; ++u) users.GetOrAdd(absl::StrCat("u", 100 + u));
  for (int i = 0; i < kItems; ++i) items.GetOrAdd(absl::StrCat("i", 1000 + i));
  std::vector<float> uf(kUsers * kDim), itf(kItems * kDim);
  for (float& x : uf) x = static_cast<float>(rng.Normal());
  for (float& x : itf) x = static_cast<float>(rng.Normal());
  ranking::CsrMatrix seen;
  seen.rows = kUsers;
  seen.cols = kItems;
  seen.indptr.push_back(0);
  for (int u = 0; u < kUsers; ++u) {
    for (int k = 0; k < 5; ++k) {
      seen.indices.push_back(u * 5 + k);  // distinct, ascending
      seen.values.push_back(1.0f);
    }
    seen.indptr.push_back(static_cast<int64_t>(seen.indices.size()));
  }
  ModelManifest manifest;
  manifest.set_name(name);
  manifest.set_algo(ALS);
  manifest.mutable_params()->set_algo(ALS);
  auto model = ranking::FactorModel::Create(users, items, kDim, uf, itf, {}, manifest, &seen);
  ASSERT_TRUE(model.ok());
  ASSERT_OK(model->Save(absl::StrCat(root, "/", name, "/1")));
}

std::vector<std::string> TopItems(const ServingModel& model, const std::string& user) {
  RecommendQuery q;
  q.user = user;
  q.k = 10;
  auto rec = model.Recommend(q);
  EXPECT_OK(rec.status());
  std::vector<std::string> out;
  if (rec.ok()) {
    for (const ScoredItemId& s : rec->items) out.push_back(s.item);
  }
  return out;
}

class OnDemandStoreTest : public ::testing::Test {
 protected:
  static constexpr int kModels = 100;
  static constexpr int kFit = 10;

  void SetUp() override {
    root_ = dir_.File("models");
    for (int m = 0; m < kModels; ++m) SaveRandomModel(root_, Name(m), 1000 + m);
    // Each model's answers when loaded alone: the oracle.
    for (int m = 0; m < kModels; ++m) {
      ASSERT_OK_AND_ASSIGN(auto alone, ServingModel::Load(absl::StrCat(root_, "/", Name(m), "/1")));
      model_bytes_ = std::max(model_bytes_, alone->memory_bytes());
      alone_.push_back({TopItems(*alone, "u103"), TopItems(*alone, "u117")});
    }
    ASSERT_GT(model_bytes_, 0);
    options_.memory_budget_bytes = kFit * model_bytes_ + model_bytes_ / 2;  // fits 10, not 11
    options_.on_evict = [this] { ++evicted_heard_; };
    options_.on_load = [this](double seconds, int64_t bytes) {
      ++loads_heard_;
      EXPECT_GE(seconds, 0);
      EXPECT_EQ(bytes, model_bytes_);
    };
    options_.on_resident = [this](int64_t models, int64_t bytes) {
      max_resident_ = std::max(max_resident_, models);
      EXPECT_LE(bytes, options_.memory_budget_bytes);
    };
  }
  static std::string Name(int m) { return absl::StrCat("model", 100 + m); }

  ScratchDir dir_;
  std::string root_;
  int64_t model_bytes_ = 0;
  std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> alone_;
  ModelStoreOptions options_;
  int64_t evicted_heard_ = 0;
  int64_t loads_heard_ = 0;
  int64_t max_resident_ = 0;
};

TEST_F(OnDemandStoreTest, HundredModelsUnderABudgetOfTenAnswerAsLoadedAlone) {
  ASSERT_OK_AND_ASSIGN(auto store, ModelStore::Open(root_, options_));
  EXPECT_EQ(store->residency().models, 0);  // nothing loads at Open
  Rng rng(42);
  for (int call = 0; call < 600; ++call) {
    // Every model once in order, then a random mix (revisits after eviction).
    const int m = call < kModels ? call : static_cast<int>(rng.UniformInt(kModels));
    ASSERT_OK_AND_ASSIGN(auto model, store->Get(Name(m)));
    EXPECT_EQ(model->name(), Name(m));
    EXPECT_EQ(TopItems(*model, "u103"), alone_[m].first) << Name(m);
    EXPECT_EQ(TopItems(*model, "u117"), alone_[m].second) << Name(m);
    const ModelStore::Residency r = store->residency();
    ASSERT_LE(r.models, kFit);
    ASSERT_LE(r.bytes, options_.memory_budget_bytes);
  }
  const ModelStore::Residency r = store->residency();
  EXPECT_EQ(r.models, kFit);
  EXPECT_GT(r.loads, kModels);  // evicted models came back
  EXPECT_EQ(r.evictions, r.loads - r.models);
  EXPECT_EQ(evicted_heard_, r.evictions);
  EXPECT_EQ(loads_heard_, r.loads);
  EXPECT_EQ(max_resident_, kFit);
}

TEST_F(OnDemandStoreTest, AModelHeldByACallIsNeverEvicted) {
  ASSERT_OK_AND_ASSIGN(auto store, ModelStore::Open(root_, options_));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<const ServingModel> held, store->Get(Name(0)));
  for (int m = 1; m <= 30; ++m) ASSERT_OK(store->Get(Name(m)).status());
  EXPECT_LE(store->residency().models, kFit);
  const int64_t loads = store->residency().loads;
  ASSERT_OK_AND_ASSIGN(auto again, store->Get(Name(0)));  // still resident: no load
  EXPECT_EQ(again.get(), held.get());
  EXPECT_EQ(store->residency().loads, loads);
  EXPECT_EQ(TopItems(*held, "u103"), alone_[0].first);
  // Released, it is the least recently used... after ten newer ones.
  held.reset();
  again.reset();
  for (int m = 31; m <= 40; ++m) ASSERT_OK(store->Get(Name(m)).status());
  ASSERT_OK(store->Get(Name(0)).status());
  EXPECT_EQ(store->residency().loads, loads + 11);
}

TEST_F(OnDemandStoreTest, WhenEveryResidentModelIsHeldANewOneIsRefusedClearly) {
  ASSERT_OK_AND_ASSIGN(auto store, ModelStore::Open(root_, options_));
  std::vector<std::shared_ptr<const ServingModel>> held;
  for (int m = 0; m < kFit; ++m) {
    ASSERT_OK_AND_ASSIGN(auto model, store->Get(Name(m)));
    held.push_back(model);
  }
  EXPECT_THAT(store->Get(Name(50)), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(store->residency().models, kFit);
  EXPECT_EQ(store->residency().evictions, 0);
  held.pop_back();
  EXPECT_OK(store->Get(Name(50)).status());
  EXPECT_EQ(store->residency().evictions, 1);
}

TEST_F(OnDemandStoreTest, ADamagedModelIsDataLossAndEvictsNothing) {
  // Flip one byte of model 7's item factors (its size stays the manifest's).
  const std::string file = absl::StrCat(root_, "/", Name(7), "/1/item_factors.bin");
  ASSERT_OK_AND_ASSIGN(std::string bytes, ReadFileToString(file));
  bytes[17] ^= 0x40;
  WriteTextFile(file, bytes);
  ASSERT_OK_AND_ASSIGN(auto store, ModelStore::Open(root_, options_));
  for (int m = 10; m < 10 + kFit; ++m) ASSERT_OK(store->Get(Name(m)).status());
  const ModelStore::Residency before = store->residency();
  auto bad = store->Get(Name(7));
  EXPECT_THAT(bad, StatusIs(absl::StatusCode::kDataLoss));
  EXPECT_THAT(std::string(bad.status().message()), ::testing::HasSubstr("item_factors.bin"));
  EXPECT_THAT(std::string(bad.status().message()), ::testing::HasSubstr("checksum"));
  const ModelStore::Residency after = store->residency();
  EXPECT_EQ(after.models, before.models);
  EXPECT_EQ(after.evictions, before.evictions);
  // The healthy ones still answer, without a reload.
  for (int m = 10; m < 10 + kFit; ++m) {
    ASSERT_OK_AND_ASSIGN(auto model, store->Get(Name(m)));
    EXPECT_EQ(TopItems(*model, "u117"), alone_[m].second);
  }
  EXPECT_EQ(store->residency().loads, before.loads);
}

TEST_F(OnDemandStoreTest, AFolderAddedAfterOpenIsFoundWithoutChangingTheDefault) {
  for (bool budget : {false, true}) {
    ScratchDir dir;
    const std::string root = dir.File("models");
    SaveRandomModel(root, "first", 1);
    ModelStoreOptions options = options_;
    if (!budget) options.memory_budget_bytes = 0;
    ASSERT_OK_AND_ASSIGN(auto store, ModelStore::Open(root, options));
    ASSERT_OK_AND_ASSIGN(auto d, store->Get(""));
    EXPECT_EQ(d->name(), "first");
    EXPECT_THAT(store->Get("later"), StatusIs(absl::StatusCode::kNotFound));
    SaveRandomModel(root, "later", 1005);
    ASSERT_OK_AND_ASSIGN(auto later, store->Get("later"));
    EXPECT_EQ(later->name(), "later");
    EXPECT_EQ(TopItems(*later, "u103"), alone_[5].first);  // same seed as model 5
    ASSERT_OK_AND_ASSIGN(d, store->Get(""));
    EXPECT_EQ(d->name(), "first");
    ASSERT_OK_AND_ASSIGN(auto listed, store->List("later"));
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_TRUE(listed[0].active());
  }
}

TEST_F(OnDemandStoreTest, AModelLargerThanTheBudgetIsRefusedAndBadBudgetsToo) {
  ModelStoreOptions options;
  options.memory_budget_bytes = model_bytes_ / 2;
  ASSERT_OK_AND_ASSIGN(auto store, ModelStore::Open(root_, options));
  auto got = store->Get(Name(3));
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(std::string(got.status().message()), ::testing::HasSubstr("model_memory_budget"));
  EXPECT_EQ(store->residency().models, 0);
  options.memory_budget_bytes = -1;
  EXPECT_THAT(ModelStore::Open(root_, options), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(OnDemandStoreTest, ActivatingANewVersionReplacesTheOldOneInTheBudget) {
  ASSERT_OK_AND_ASSIGN(auto store, ModelStore::Open(root_, options_));
  for (int m = 0; m < kFit; ++m) ASSERT_OK(store->Get(Name(m)).status());
  SaveRandomModel(root_ + "/tmp", "x", 1009);  // model 9's factors as model 0's version 2
  fs::rename(root_ + "/tmp/x/1", absl::StrCat(root_, "/", Name(0), "/2"));
  ASSERT_OK(store->Activate(Name(0), 2, /*make_default=*/false).status());
  EXPECT_LE(store->residency().models, kFit);
  ASSERT_OK_AND_ASSIGN(auto m0, store->Get(Name(0)));
  EXPECT_EQ(m0->version(), 2);
  EXPECT_EQ(TopItems(*m0, "u103"), alone_[9].first);
}

}  // namespace
}  // namespace recbandit::services
