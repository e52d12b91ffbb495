// End-to-end tests of `recbandit index`, `similar` and `recommend
// --all_users` through the built binary.
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_util.h"

namespace recbandit::services {
namespace {

using ::recbandit::testing::ReadTextFile;
using ::recbandit::testing::RunRecbandit;
using ::recbandit::testing::ScratchDir;
using ::testing::HasSubstr;
using ::testing::Not;

class RetrievalCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(RunRecbandit({"gen", "interactions", "--users=300", "--items=400", "--nnz=8000",
                            "--factors=8", "--out=" + dir_.File("d.csv")})
                  .exit_code,
              0);
    auto train = RunRecbandit({"train", "--input=" + dir_.File("d.csv"), "--factors=16",
                               "--iterations=4", "--threads=1", "--out=" + model()});
    ASSERT_EQ(train.exit_code, 0) << train.err;
  }
  std::string model() const { return dir_.File("model"); }
  ScratchDir dir_;
};

TEST_F(RetrievalCommandsTest, IndexThenBatchEqualsOneAtATime) {
  auto index = RunRecbandit({"index", "--model=" + model(), "--index=HNSW16"});
  ASSERT_EQ(index.exit_code, 0) << index.err;
  EXPECT_THAT(index.out, HasSubstr("\"index_factory\":\"HNSW16\""));
  EXPECT_THAT(index.out, HasSubstr("\"items\":"));
  auto batch = RunRecbandit({"recommend", "--model=" + model(), "--all_users", "--k=5",
                             "--threads=2", "--out=" + dir_.File("all.jsonl")});
  ASSERT_EQ(batch.exit_code, 0) << batch.err;
  EXPECT_THAT(batch.out, HasSubstr("\"index_factory\":\"HNSW16\""));
  const std::string lines = ReadTextFile(dir_.File("all.jsonl"));
  // Every line's items equal a one-at-a-time recommend for that user (first 5 users).
  size_t pos = 0;
  for (int n = 0; n < 5; ++n) {
    const size_t end = lines.find('\n', pos);
    const std::string line = lines.substr(pos, end - pos);
    pos = end + 1;
    const size_t u0 = line.find("\"user\":\"") + 8;
    const std::string user = line.substr(u0, line.find('"', u0) - u0);
    auto one = RunRecbandit({"recommend", "--model=" + model(), "--user=" + user, "--k=5"});
    ASSERT_EQ(one.exit_code, 0) << one.err;
    // Compare the item lists.
    auto items_of = [](const std::string& json) {
      std::vector<std::string> items;
      size_t p = 0;
      while ((p = json.find("\"item\":\"", p)) != std::string::npos) {
        p += 8;
        items.push_back(json.substr(p, json.find('"', p) - p));
      }
      return items;
    };
    EXPECT_EQ(items_of(line), items_of(one.out)) << user;
    // Both carry the model's version, as the last key.
    EXPECT_THAT(line, ::testing::EndsWith(",\"model_version\":1}"));
    EXPECT_THAT(one.out, HasSubstr(",\"model_version\":1}"));
  }
}

TEST_F(RetrievalCommandsTest, CsvBatchAndSimilar) {
  auto batch = RunRecbandit({"recommend", "--model=" + model(), "--all_users", "--k=3",
                             "--format=csv", "--out=" + dir_.File("all.csv")});
  ASSERT_EQ(batch.exit_code, 0) << batch.err;
  const std::string csv = ReadTextFile(dir_.File("all.csv"));
  EXPECT_EQ(csv.rfind("user,rank,item,score\n", 0), 0u);
  // Three rows per user of the model (users with >= 3 unseen items: all here).
  const auto rows = std::count(csv.begin(), csv.end(), '\n') - 1;
  EXPECT_GT(rows, 0);
  EXPECT_EQ(rows % 3, 0);
  auto similar = RunRecbandit({"similar", "--model=" + model(), "--item=i1", "--k=4"});
  ASSERT_EQ(similar.exit_code, 0) << similar.err;
  // Its own shape: the item asked about, the items, the model version; no user.
  EXPECT_EQ(similar.out.rfind("{\"item\":\"i1\",\"items\":[{\"item\":\"", 0), 0u) << similar.out;
  EXPECT_EQ(similar.out.find("\"item\":\"i1\"", 2), std::string::npos) << "never the item itself";
  EXPECT_THAT(similar.out, HasSubstr("],\"model_version\":1}"));
  EXPECT_THAT(similar.out, Not(HasSubstr("\"user\"")));
  EXPECT_THAT(similar.out, Not(HasSubstr("\"fallback\"")));
  auto unknown = RunRecbandit({"similar", "--model=" + model(), "--item=nope", "--k=4"});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_THAT(unknown.err, HasSubstr("unknown item 'nope'"));
}

TEST_F(RetrievalCommandsTest, TrainWithIndexBuildsItAndRecommendUsesIt) {
  auto train = RunRecbandit({"train", "--input=" + dir_.File("d.csv"), "--factors=8",
                             "--iterations=2", "--index=IVF8,Flat",
                             "--out=" + dir_.File("with_index")});
  ASSERT_EQ(train.exit_code, 0) << train.err;
  EXPECT_THAT(train.out, HasSubstr("\"index_factory\":\"IVF8,Flat\""));
  EXPECT_FALSE(ReadTextFile(dir_.File("with_index") + "/items.index").empty());
  auto rec = RunRecbandit({"recommend", "--model=" + dir_.File("with_index"), "--user=u1",
                           "--k=5", "--nprobe=8"});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  EXPECT_THAT(rec.out, HasSubstr("\"fallback\":false"));
  auto bad = RunRecbandit({"recommend", "--model=" + dir_.File("with_index"), "--user=u1",
                           "--nprobe=9"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("nprobe"));
}

TEST_F(RetrievalCommandsTest, GraphIndexFromTrainServesTheExactTopK) {
  // Graph8 over 400 items at the default efSearch 128: the exact top 5 (the
  // model without an index is served by the Exact scan).
  auto train = RunRecbandit({"train", "--input=" + dir_.File("d.csv"), "--factors=16",
                             "--iterations=4", "--threads=1", "--index=Graph8",
                             "--out=" + dir_.File("graph")});
  ASSERT_EQ(train.exit_code, 0) << train.err;
  EXPECT_THAT(train.out, HasSubstr("\"index_factory\":\"Graph8\""));
  for (const char* user : {"u1", "u2", "u3", "u10"}) {
    auto graph = RunRecbandit({"recommend", "--model=" + dir_.File("graph"),
                               std::string("--user=") + user, "--k=5", "--ef_search=64"});
    ASSERT_EQ(graph.exit_code, 0) << graph.err;
    auto exact = RunRecbandit({"recommend", "--model=" + model(), std::string("--user=") + user,
                               "--k=5"});
    ASSERT_EQ(exact.exit_code, 0) << exact.err;
    EXPECT_EQ(graph.out, exact.out) << user;
  }
  auto rebuilt = RunRecbandit({"index", "--model=" + model(), "--index=Graph16,SQ8"});
  ASSERT_EQ(rebuilt.exit_code, 0) << rebuilt.err;
  EXPECT_THAT(rebuilt.out, HasSubstr("\"index_factory\":\"Graph16,SQ8\""));
  auto bad = RunRecbandit({"index", "--model=" + model(), "--index=Graph200"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("Graph's M must be in [4, 128], got 200"));
}

TEST_F(RetrievalCommandsTest, BadIndexStringsAndCorruptIndexAreErrors) {
  auto bad = RunRecbandit({"index", "--model=" + model(), "--index=Bogus7"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_THAT(bad.err, HasSubstr("Bogus7"));
  ASSERT_EQ(RunRecbandit({"index", "--model=" + model(), "--index=Flat"}).exit_code, 0);
  std::string bytes = ReadTextFile(model() + "/items.index");
  bytes[bytes.size() - 10] ^= 0x33;
  recbandit::testing::WriteTextFile(model() + "/items.index", bytes);
  auto corrupt = RunRecbandit({"similar", "--model=" + model(), "--item=i1"});
  EXPECT_NE(corrupt.exit_code, 0);
  EXPECT_THAT(corrupt.err, HasSubstr("checksum"));
  auto missing = RunRecbandit({"index", "--model=" + dir_.File("nope"), "--index=Flat"});
  EXPECT_NE(missing.exit_code, 0);
}

}  // namespace
}  // namespace recbandit::services
