// End-to-end tests of `recbandit gen interactions` and `recbandit split`
// through the built binary: JSON on stdout, files written, errors on stderr.
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ranking/interactions.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::services {
namespace {

using ::recbandit::testing::RunRecbandit;
using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::ReadTextFile;
using ::recbandit::testing::WriteTextFile;
using ::testing::HasSubstr;

TEST(GenCommandTest, WritesDeterministicFileAndTruth) {
  ScratchDir dir;
  auto run = [&](const std::string& name, int seed) {
    return RunRecbandit({"gen", "interactions", "--users=100", "--items=50", "--nnz=2000",
                         "--factors=4", "--seed=" + std::to_string(seed),
                         "--out=" + dir.File(name), "--truth_out=" + dir.File(name + ".truth")});
  };
  auto a = run("a.csv", 5);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_THAT(a.out, HasSubstr("\"interactions\":2000"));
  EXPECT_EQ(std::count(a.out.begin(), a.out.end(), '\n'), 1);
  ASSERT_EQ(run("b.csv", 5).exit_code, 0);
  ASSERT_EQ(run("c.csv", 6).exit_code, 0);
  EXPECT_EQ(ReadTextFile(dir.File("a.csv")), ReadTextFile(dir.File("b.csv")));
  EXPECT_NE(ReadTextFile(dir.File("a.csv")), ReadTextFile(dir.File("c.csv")));
  EXPECT_FALSE(ReadTextFile(dir.File("a.csv.truth")).empty());
  ASSERT_OK_AND_ASSIGN(ranking::InteractionLog log,
                       ranking::LoadInteractions(dir.File("a.csv")));
  EXPECT_EQ(log.size(), 2000);
}

TEST(GenCommandTest, BadFlagsFailWithOneLineError) {
  ScratchDir dir;
  auto r = RunRecbandit({"gen", "interactions", "--nnz=0", "--out=" + dir.File("x")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("--nnz must be >= 1"));
  EXPECT_TRUE(r.out.empty());
  auto usage = RunRecbandit({"gen", "users"});
  EXPECT_NE(usage.exit_code, 0);
  EXPECT_THAT(usage.err, HasSubstr("usage: recbandit gen interactions"));
  auto unknown = RunRecbandit({"frobnicate"});
  EXPECT_NE(unknown.exit_code, 0);
}

TEST(SplitCommandTest, SplitsWithoutLosingRowsAndRepeats) {
  ScratchDir dir;
  ASSERT_EQ(RunRecbandit({"gen", "interactions", "--users=200", "--items=80", "--nnz=3000",
                          "--seed=2", "--out=" + dir.File("all.csv")})
                .exit_code,
            0);
  for (const std::string scheme : {"random", "leave_last_out", "user_holdout"}) {
    auto split = [&](const std::string& tag) {
      return RunRecbandit({"split", "--input=" + dir.File("all.csv"), "--scheme=" + scheme,
                           "--test_fraction=0.2", "--seed=9",
                           "--train_out=" + dir.File(tag + ".train"),
                           "--test_out=" + dir.File(tag + ".test")});
    };
    auto r = split(scheme + "1");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(split(scheme + "2").exit_code, 0);
    EXPECT_EQ(ReadTextFile(dir.File(scheme + "1.test")), ReadTextFile(dir.File(scheme + "2.test")));
    ASSERT_OK_AND_ASSIGN(auto train, ranking::LoadInteractions(dir.File(scheme + "1.train")));
    ASSERT_OK_AND_ASSIGN(auto test, ranking::LoadInteractions(dir.File(scheme + "1.test")));
    EXPECT_EQ(train.size() + test.size(), 3000) << scheme;
    EXPECT_GT(test.size(), 0) << scheme;
    EXPECT_THAT(r.out, HasSubstr("\"scheme\":\"" + scheme + "\""));
  }
}

TEST(SplitCommandTest, BadLineIsReportedAndCanBeSkipped) {
  ScratchDir dir;
  WriteTextFile(dir.File("in.csv"), "a,x,1,1\nb,y,1,2\nbad line here with many fields\nc,z,1,3\n");
  auto r = RunRecbandit({"split", "--input=" + dir.File("in.csv"),
                         "--train_out=" + dir.File("tr"), "--test_out=" + dir.File("te")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr(dir.File("in.csv") + ":3:"));
  auto s = RunRecbandit({"split", "--input=" + dir.File("in.csv"), "--skip_bad_lines",
                         "--train_out=" + dir.File("tr"), "--test_out=" + dir.File("te")});
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_THAT(s.out, HasSubstr("\"skipped_lines\":1"));
  auto missing = RunRecbandit({"split", "--input=" + dir.File("nope.csv"),
                               "--train_out=" + dir.File("tr"), "--test_out=" + dir.File("te")});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.err, HasSubstr("nope.csv"));
}

TEST(SplitCommandTest, LeaveLastOutNeedsTimestamps) {
  ScratchDir dir;
  WriteTextFile(dir.File("in.csv"), "a,x\na,y\n");
  auto r = RunRecbandit({"split", "--input=" + dir.File("in.csv"), "--scheme=leave_last_out",
                         "--train_out=" + dir.File("tr"), "--test_out=" + dir.File("te")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("timestamp"));
}

}  // namespace
}  // namespace recbandit::services
