// Tests of ModelStore's start-up hygiene and version retention: leftovers of
// interrupted writes are removed, directories that break the name rule are
// ignored, and only the newest keep_versions versions stay (never the active
// one).
#include "services/serving/model_store.h"

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/file_util.h"
#include "ranking/factor_model.h"
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

}  // namespace
}  // namespace recbandit::services
