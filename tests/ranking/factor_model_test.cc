// Tests for ranking/factor_model.h: exact save/load round trip, replacement
// of an existing directory, and DATA_LOSS on missing, truncated or corrupt
// files (never a crash).
#include "ranking/factor_model.h"

#include <sys/stat.h>

#include <filesystem>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::ranking {
namespace {

using ::recbandit::testing::ReadTextFile;
using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;
using ::recbandit::testing::WriteTextFile;
using ::testing::HasSubstr;

FactorModel Small(bool bias) {
  IdMap users, items;
  users.GetOrAdd("alice");
  users.GetOrAdd("bob");
  items.GetOrAdd("x");
  items.GetOrAdd("y");
  items.GetOrAdd("z");
  ModelManifest manifest;
  manifest.set_name("small");
  manifest.set_algo(ALS);
  manifest.mutable_params()->set_algo(ALS);
  manifest.mutable_params()->mutable_als()->set_alpha(2.5);
  manifest.set_iterations_done(3);
  std::vector<float> b;
  if (bias) b = {0.5f, -1.0f, 0.25f};
  return *FactorModel::Create(users, items, 2, {1.0f, 2.0f, -0.5f, 0.125f},
                              {0.1f, 0.2f, 0.3f, 0.4f, 1e-30f, -7.0f}, b, manifest);
}

TEST(FactorModelTest, ScoreIsInnerProductPlusBias) {
  const FactorModel m = Small(true);
  EXPECT_FLOAT_EQ(m.Score(0, 1), 1.0f * 0.3f + 2.0f * 0.4f - 1.0f);
  EXPECT_FLOAT_EQ(Small(false).Score(1, 0), -0.5f * 0.1f + 0.125f * 0.2f);
}

TEST(FactorModelTest, CreateRejectsShapeMismatch) {
  IdMap users, items;
  users.GetOrAdd("a");
  items.GetOrAdd("b");
  EXPECT_THAT(FactorModel::Create(users, items, 2, {1}, {1, 2}, {}, ModelManifest()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("user_factors")));
}

TEST(FactorModelTest, SaveLoadRoundTripsExactly) {
  ScratchDir dir;
  for (bool bias : {false, true}) {
    const FactorModel m = Small(bias);
    const std::string path = dir.File(bias ? "with_bias" : "plain");
    ASSERT_OK(m.Save(path));
    ASSERT_OK_AND_ASSIGN(FactorModel back, FactorModel::Load(path));
    EXPECT_EQ(back.user_factors(), m.user_factors());
    EXPECT_EQ(back.item_factors(), m.item_factors());
    EXPECT_EQ(back.item_bias(), m.item_bias());
    EXPECT_EQ(back.users().Name(1), "bob");
    EXPECT_EQ(back.items().Find("z"), 2);
    EXPECT_EQ(back.manifest().params().als().alpha(), 2.5);
    EXPECT_EQ(back.manifest().iterations_done(), 3);
    EXPECT_EQ(back.manifest().num_users(), 2);
    EXPECT_EQ(back.manifest().has_item_bias(), bias);
  }
}

TEST(FactorModelTest, SaveReplacesAnExistingModelAndLeavesNoTempDirs) {
  ScratchDir dir;
  const std::string path = dir.File("m");
  ASSERT_OK(Small(true).Save(path));
  ASSERT_OK(Small(false).Save(path));
  ASSERT_OK_AND_ASSIGN(FactorModel back, FactorModel::Load(path));
  EXPECT_TRUE(back.item_bias().empty());
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1);
}

TEST(FactorModelTest, SaveRefusesToReplaceSomethingThatIsNotAModel) {
  ScratchDir dir;
  std::filesystem::create_directory(dir.File("precious"));
  WriteTextFile(dir.File("precious/notes.txt"), "keep me");
  EXPECT_THAT(Small(false).Save(dir.File("precious")),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("not a model")));
  EXPECT_EQ(ReadTextFile(dir.File("precious/notes.txt")), "keep me");
  WriteTextFile(dir.File("file"), "x");
  EXPECT_THAT(Small(false).Save(dir.File("file")),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  std::filesystem::create_directory(dir.File("empty"));
  EXPECT_OK(Small(false).Save(dir.File("empty")));
}

TEST(FactorModelTest, LoadReportsDataLossNamingTheFile) {
  ScratchDir dir;
  const std::string path = dir.File("m");
  ASSERT_OK(Small(true).Save(path));
  const std::string good = ReadTextFile(path + "/item_factors.bin");

  // Flipped byte: checksum mismatch.
  std::string bad = good;
  bad[5] ^= 0x40;
  WriteTextFile(path + "/item_factors.bin", bad);
  EXPECT_THAT(FactorModel::Load(path),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("item_factors.bin: checksum mismatch")));
  // Truncated.
  WriteTextFile(path + "/item_factors.bin", good.substr(0, 10));
  EXPECT_THAT(FactorModel::Load(path),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("item_factors.bin: truncated")));
  // Missing.
  std::filesystem::remove(path + "/item_factors.bin");
  EXPECT_THAT(FactorModel::Load(path),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("item_factors.bin: missing")));
  WriteTextFile(path + "/item_factors.bin", good);
  ASSERT_OK(FactorModel::Load(path).status());

  // Corrupt id file.
  const std::string users = ReadTextFile(path + "/users.txt");
  WriteTextFile(path + "/users.txt", "alice\nalice\n");
  EXPECT_THAT(FactorModel::Load(path),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("users.txt")));
  WriteTextFile(path + "/users.txt", users);

  // Manifest: garbage, truncated, missing.
  const std::string manifest = ReadTextFile(path + "/manifest");
  WriteTextFile(path + "/manifest", "this is { not a manifest");
  EXPECT_THAT(FactorModel::Load(path),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("manifest")));
  WriteTextFile(path + "/manifest", manifest.substr(0, manifest.size() / 2));
  EXPECT_THAT(FactorModel::Load(path), StatusIs(absl::StatusCode::kDataLoss));
  std::filesystem::remove(path + "/manifest");
  EXPECT_THAT(FactorModel::Load(path),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("manifest: missing")));
  EXPECT_THAT(FactorModel::Load(dir.File("nope")), StatusIs(absl::StatusCode::kNotFound));
}

// A factor file that is a symlink to /dev/zero (endless) or a FIFO (blocks
// on open) is refused at once; one larger than the manifest says is refused
// before it is read.
TEST(FactorModelTest, NonRegularOrOversizedFilesAreRefusedUnread) {
  ScratchDir dir;
  const std::string path = dir.File("m");
  ASSERT_OK(Small(true).Save(path));
  const std::string good = ReadTextFile(path + "/user_factors.bin");
  std::filesystem::remove(path + "/user_factors.bin");
  std::filesystem::create_symlink("/dev/zero", path + "/user_factors.bin");
  EXPECT_THAT(FactorModel::Load(path),
              StatusIs(absl::StatusCode::kDataLoss,
                       HasSubstr("user_factors.bin: missing or unreadable")));
  std::filesystem::remove(path + "/user_factors.bin");
  ASSERT_EQ(::mkfifo((path + "/user_factors.bin").c_str(), 0600), 0);
  EXPECT_THAT(FactorModel::Load(path),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("not a regular file")));
  std::filesystem::remove(path + "/user_factors.bin");
  WriteTextFile(path + "/user_factors.bin", good + std::string(1 << 20, 'x'));
  EXPECT_THAT(FactorModel::Load(path),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("larger than the manifest")));
  std::filesystem::remove(path + "/manifest");
  std::filesystem::create_symlink("/dev/zero", path + "/manifest");
  EXPECT_THAT(FactorModel::Load(path),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("manifest: missing or unreadable")));
}

TEST(FactorModelTest, EveryTruncationOfEveryFileFailsCleanly) {
  ScratchDir dir;
  const std::string path = dir.File("m");
  ASSERT_OK(Small(true).Save(path));
  for (const char* name : {"manifest", "users.txt", "items.txt", "user_factors.bin",
                           "item_factors.bin", "item_bias.bin"}) {
    const std::string good = ReadTextFile(path + "/" + name);
    for (size_t len = 0; len < good.size(); len += std::max<size_t>(1, good.size() / 13)) {
      WriteTextFile(path + "/" + name, good.substr(0, len));
      EXPECT_FALSE(FactorModel::Load(path).ok()) << name << " cut at " << len;
    }
    WriteTextFile(path + "/" + name, good);
  }
  EXPECT_OK(FactorModel::Load(path).status());
}

}  // namespace
}  // namespace recbandit::ranking

namespace recbandit::ranking {
namespace {

TEST(FactorModelTest, KeepsSeenItemsAndPopularityThroughSaveLoad) {
  IdMap users, items;
  users.GetOrAdd("u0");
  users.GetOrAdd("u1");
  items.GetOrAdd("a");
  items.GetOrAdd("b");
  CsrMatrix seen;
  seen.rows = 2;
  seen.cols = 2;
  seen.indptr = {0, 2, 3};
  seen.indices = {0, 1, 1};
  seen.values = {1, 1, 1};
  ASSERT_OK_AND_ASSIGN(FactorModel m,
                       FactorModel::Create(users, items, 1, {1, 2}, {3, 4}, {}, ModelManifest(),
                                           &seen));
  recbandit::testing::ScratchDir dir;
  ASSERT_OK(m.Save(dir.File("m")));
  ASSERT_OK_AND_ASSIGN(FactorModel back, FactorModel::Load(dir.File("m")));
  EXPECT_THAT(back.SeenItems(0), ::testing::ElementsAre(0, 1));
  EXPECT_THAT(back.SeenItems(1), ::testing::ElementsAre(1));
  EXPECT_THAT(back.item_popularity(), ::testing::ElementsAre(1.0f / 3, 2.0f / 3));
}

}  // namespace
}  // namespace recbandit::ranking
