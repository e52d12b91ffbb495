// End-to-end tests of `recbandit export` through the built binary: the file
// written while the log stays open by a writer, the JSON line, and errors.
#include <string>

#include "bandits/log/event_log.h"
#include "bandits/ope/logged_data.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::services {
namespace {

using ::recbandit::testing::ReadTextFile;
using ::recbandit::testing::RunRecbandit;
using ::recbandit::testing::ScratchDir;
using ::testing::HasSubstr;

TEST(ExportCommandTest, ExportsWhileTheWriterKeepsTheLogOpen) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(auto log, bandits::EventLog::Open(dir.path(), {}));
  ExperimentConfig config;
  config.set_name("exp");
  ASSERT_OK(log->CreateExperiment(config));
  for (int i = 0; i < 3; ++i) {
    DecisionEvent e;
    e.set_event_id("ev" + std::to_string(i));
    e.set_experiment("exp");
    e.set_variant("v");
    e.set_timestamp_us(100 * (3 - i));  // reverse order: export sorts by time
    e.set_unit_id("u, \"quoted\"");
    e.add_actions()->set_id("a");
    e.add_actions()->set_id("b");
    e.add_pmf(0.5);
    e.add_pmf(0.5);
    e.set_chosen_index(i % 2);
    e.set_chosen_action(i % 2 ? "b" : "a");
    e.set_policy_spec("epsilon_greedy:epsilon=1");
    ASSERT_OK(log->AppendDecision(e));
  }
  int64_t seq = 0;
  ASSERT_OK(log->AddReward(config, "ev1", 0.5, [&] { return ++seq; }).status());

  auto r = RunRecbandit({"export", "--data_dir=" + dir.path(), "--experiment=exp",
                         "--format=csv", "--out=" + dir.File("out.csv")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"experiment\":\"exp\",\"format\":\"csv\",\"out\":\"" + dir.File("out.csv") +
                       "\",\"rows\":3,\"rewarded\":1,\"skipped_corrupt\":0,\"deployment\":\"\"}\n");
  EXPECT_EQ(ReadTextFile(dir.File("out.csv")),
            "event_id,experiment,variant,timestamp_us,unit_id,context_dense,context_sparse,"
            "actions,chosen_index,chosen_action,propensity,pmf,reward,policy_spec,"
            "policy_version,shadow_pmfs\n"
            "ev2,exp,v,100,\"u, \"\"quoted\"\"\",,,a;b,0,a,0.5,0.5;0.5,,"
            "epsilon_greedy:epsilon=1,0,\n"
            "ev1,exp,v,200,\"u, \"\"quoted\"\"\",,,a;b,1,b,0.5,0.5;0.5,0.5,"
            "epsilon_greedy:epsilon=1,0,\n"
            "ev0,exp,v,300,\"u, \"\"quoted\"\"\",,,a;b,0,a,0.5,0.5;0.5,,"
            "epsilon_greedy:epsilon=1,0,\n");

  // JSONL of the same log reads back to the same decisions.
  auto j = RunRecbandit({"export", "--data_dir=" + dir.path(), "--experiment=exp",
                         "--format=jsonl", "--out=" + dir.File("out.jsonl")});
  ASSERT_EQ(j.exit_code, 0) << j.err;
  ASSERT_OK_AND_ASSIGN(bandits::LoggedData data,
                       bandits::ReadLoggedDataFromFile(dir.File("out.jsonl")));
  ASSERT_EQ(data.decisions.size(), 3u);
  EXPECT_EQ(data.decisions[1].event_id, "ev1");
  EXPECT_TRUE(data.decisions[1].has_reward);
  EXPECT_EQ(data.decisions[1].unit_id, "u, \"quoted\"");
}

TEST(ExportCommandTest, ErrorsAreOneLine) {
  ScratchDir dir;
  auto missing = RunRecbandit({"export", "--data_dir=" + dir.path(), "--experiment=exp",
                               "--out=" + dir.File("x")});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.err, HasSubstr("no event log"));
  EXPECT_TRUE(missing.out.empty());
  auto usage = RunRecbandit({"export", "--data_dir=" + dir.path()});
  EXPECT_NE(usage.exit_code, 0);
  EXPECT_THAT(usage.err, HasSubstr("--experiment"));
  auto format = RunRecbandit({"export", "--data_dir=" + dir.path(), "--experiment=exp",
                              "--format=xml", "--out=" + dir.File("x")});
  EXPECT_NE(format.exit_code, 0);
  EXPECT_THAT(format.err, HasSubstr("--format must be csv or jsonl"));
  {
    ASSERT_OK_AND_ASSIGN(auto log, bandits::EventLog::Open(dir.path(), {}));
  }
  auto unknown = RunRecbandit({"export", "--data_dir=" + dir.path(), "--experiment=nope",
                               "--out=" + dir.File("x")});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_THAT(unknown.err, HasSubstr("unknown experiment 'nope'"));
}

}  // namespace
}  // namespace recbandit::services
