// End-to-end tests of `recbandit ope` through the built binary: the Open
// Bandit Pipeline reference values on the OBD sample, exported CSV logs, and
// clear one-line errors for malformed logs, zero propensities, unknown targets.
//
// Data: Open Bandit Dataset, ZOZO, Inc., CC BY 4.0
// (https://creativecommons.org/licenses/by/4.0/); small sample from
// st-tech/zr-obp obp/dataset/obd/. Saito, Aihara, Matsutani, Narita, "Open
// Bandit Dataset and Pipeline", arXiv:2008.07146.
#include <cstdlib>
#include <string>

#include "absl/strings/str_format.h"
#include "bandits/log/event_log.h"
#include "bandits/policy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/random.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::services {
namespace {

using ::recbandit::testing::RunRecbandit;
using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::WriteTextFile;
using ::testing::HasSubstr;

std::string Obd(const std::string& policy) {
  return testing::SourceDir() + "/../shared/data/obd/" + policy + "/men/men.csv";
}

// Returns field `key` (a number) of the estimate `estimator` in the JSON line.
double Field(const std::string& json, const std::string& estimator, const std::string& key) {
  const size_t at = json.find("\"estimator\":\"" + estimator + "\"");
  EXPECT_NE(at, std::string::npos) << estimator << " missing in " << json;
  if (at == std::string::npos) return NAN;
  const size_t k = json.find("\"" + key + "\":", at);
  return std::strtod(json.c_str() + k + key.size() + 3, nullptr);
}

TEST(OpeCommandTest, ReproducesOpenBanditPipelineOnBtsLogs) {
  auto r = RunRecbandit({"ope", "--obd=" + Obd("bts"), "--target=uniform",
                         "--estimators=ips,snips,dm,dr", "--bootstrap=50"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1);
  EXPECT_NEAR(Field(r.out, "ips", "value"), 0.003009, 1e-6);
  EXPECT_NEAR(Field(r.out, "snips", "value"), 0.003189, 1e-6);
  EXPECT_NEAR(Field(r.out, "ips", "ess"), 656, 0.5);
  EXPECT_NEAR(Field(r.out, "ips", "max_weight"), 178.25, 0.005);
  EXPECT_THAT(r.out, HasSubstr("\"n\":10000"));
  EXPECT_THAT(r.err, HasSubstr("estimator"));  // the table
}

TEST(OpeCommandTest, ReproducesOpenBanditPipelineOnRandomLogs) {
  auto r = RunRecbandit({"ope", "--obd=" + Obd("random"), "--target_pmf_from=" + Obd("bts"),
                         "--estimators=ips,snips", "--bootstrap=0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NEAR(Field(r.out, "ips", "value"), 0.005656, 1e-6);
  EXPECT_NEAR(Field(r.out, "snips", "value"), 0.005740, 1e-6);
  // Clicks are 0/1: the normal interval is hulled with the Clopper-Pearson one.
  EXPECT_THAT(r.out, HasSubstr("\"ci_method\":\"normal+clopper_pearson\""));
  EXPECT_THAT(r.out, HasSubstr("\"binary_ci_high\":"));
}

TEST(OpeCommandTest, ExportedCsvWithShadowTarget) {
  ScratchDir dir;
  const std::string csv =
      "event_id,experiment,variant,timestamp_us,unit_id,context_dense,context_sparse,actions,"
      "chosen_index,chosen_action,propensity,pmf,reward,policy_spec,policy_version,"
      "shadow_pmfs\n"
      "e1,x,A,1,u1,0.5,,a;b,0,a,0.8,0.8;0.2,1,p,1,ucb1=0.5;0.5|lin_ts=1;0\n"
      "e2,x,A,2,u2,0.1,,a;b,1,b,0.2,0.8;0.2,0,p,1,ucb1=0.5;0.5|lin_ts=1;0\n";
  WriteTextFile(dir.File("log.csv"), csv);
  auto r = RunRecbandit({"ope", "--input=" + dir.File("log.csv"), "--target=shadow:lin_ts",
                         "--estimators=ips,snips", "--bootstrap=0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NEAR(Field(r.out, "ips", "value"), (1 / 0.8) / 2, 1e-12);
  EXPECT_NEAR(Field(r.out, "snips", "value"), 1.0, 1e-12);
  EXPECT_THAT(r.out, HasSubstr("\"target\":\"shadow:lin_ts\""));
}

TEST(OpeCommandTest, EventLogCsvAndJsonlExportsAgree) {
  ScratchDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto log, bandits::EventLog::Open(dir.path(), {}));
    ExperimentConfig config;
    config.set_name("exp");
    config.set_default_reward(0.25);
    config.set_context_dim(2);
    Variant* variant = config.add_variants();
    variant->set_name("v");
    variant->set_policy_spec("epsilon_greedy:epsilon=0.3");
    variant->set_traffic_weight(1);
    ASSERT_OK(log->CreateExperiment(config));
    Rng rng(3);
    int64_t seq = 0;
    const double pmf[3] = {0.6, 0.3, 0.1};
    for (int i = 0; i < 300; ++i) {
      DecisionEvent e;
      e.set_event_id("ev" + std::to_string(i));
      e.set_experiment("exp");
      e.set_variant("v");
      e.set_timestamp_us(1000 + i);
      e.set_unit_id("u" + std::to_string(i % 5));
      e.mutable_context()->add_dense(static_cast<float>(i % 4));
      e.mutable_context()->add_dense(0.5f);
      for (const char* id : {"a", "b", "c"}) e.add_actions()->set_id(id);
      for (double p : pmf) e.add_pmf(p);
      const double u = rng.Uniform();
      const int chosen = u < 0.6 ? 0 : (u < 0.9 ? 1 : 2);
      e.set_chosen_index(chosen);
      e.set_chosen_action(e.actions(chosen).id());
      e.set_policy_spec("epsilon_greedy:epsilon=0.3");
      ShadowDecision* s = e.add_shadows();
      s->set_policy_name("ucb1");
      s->set_policy_spec("ucb1");
      for (double p : {0.2, 0.2, 0.6}) s->add_pmf(p);
      ASSERT_OK(log->AppendDecision(e));
      if (i % 10 != 0) {  // every 10th decision keeps the default reward
        const double reward = rng.Uniform() < 0.2 + 0.2 * chosen ? 1.0 : 0.0;
        ASSERT_OK(log->AddReward(config, e.event_id(), reward, [&] { return ++seq; }).status());
      }
    }
  }
  for (const std::string format : {"csv", "jsonl"}) {
    auto r = RunRecbandit({"export", "--data_dir=" + dir.path(), "--experiment=exp",
                           "--format=" + format, "--out=" + dir.File("out." + format)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  for (const std::string target : {"uniform", "shadow:ucb1"}) {
    const std::vector<std::string> common = {"--target=" + target,
                                             "--estimators=ips,snips,dr,replay",
                                             "--bootstrap=20"};
    auto run = [&](std::vector<std::string> args) {
      args.insert(args.begin(), "ope");
      args.insert(args.end(), common.begin(), common.end());
      return RunRecbandit(args);
    };
    auto from_log = run({"--log=" + dir.path(), "--experiment=exp"});
    auto from_csv = run({"--input=" + dir.File("out.csv"), "--default_reward=0.25"});
    auto from_jsonl = run({"--input=" + dir.File("out.jsonl"), "--default_reward=0.25"});
    ASSERT_EQ(from_log.exit_code, 0) << from_log.err;
    ASSERT_EQ(from_csv.exit_code, 0) << from_csv.err;
    ASSERT_EQ(from_jsonl.exit_code, 0) << from_jsonl.err;
    EXPECT_THAT(from_log.out, HasSubstr("\"input_kind\":\"rocksdb\""));
    EXPECT_THAT(from_log.out, HasSubstr("30 of 300 decisions had no reward"));
    for (const std::string est : {"ips", "snips", "dr", "replay"}) {
      for (const std::string key : {"value", "ci_low", "ci_high"}) {
        const double expected = Field(from_log.out, est, key);
        EXPECT_NEAR(Field(from_csv.out, est, key), expected, 1e-9) << target << " " << est;
        EXPECT_NEAR(Field(from_jsonl.out, est, key), expected, 1e-9) << target << " " << est;
      }
    }
  }
}

TEST(OpeCommandTest, SnapshotAndPolicySpecTargets) {
  ScratchDir dir;
  std::string snapshot_pmf_csv;
  {
    ASSERT_OK_AND_ASSIGN(auto log, bandits::EventLog::Open(dir.path(), {}));
    ExperimentConfig config;
    config.set_name("exp");
    config.set_context_dim(2);
    Variant* variant = config.add_variants();
    variant->set_name("v");
    variant->set_policy_spec("epsilon_greedy:epsilon=0.3");
    variant->set_traffic_weight(1);
    ASSERT_OK(log->CreateExperiment(config));
    Rng rng(5);
    int64_t seq = 0;
    for (int i = 0; i < 200; ++i) {
      DecisionEvent e;
      e.set_event_id("ev" + std::to_string(i));
      e.set_experiment("exp");
      e.set_variant("v");
      e.set_timestamp_us(1000 + i);
      e.mutable_context()->add_dense(static_cast<float>(i % 3));
      e.mutable_context()->add_dense(1.0f);
      for (const char* id : {"a", "b", "c"}) e.add_actions()->set_id(id);
      for (double p : {0.5, 0.25, 0.25}) e.add_pmf(p);
      const double u = rng.Uniform();
      const int chosen = u < 0.5 ? 0 : (u < 0.75 ? 1 : 2);
      e.set_chosen_index(chosen);
      e.set_chosen_action(e.actions(chosen).id());
      ASSERT_OK(log->AppendDecision(e));
      ASSERT_OK(log->AddReward(config, e.event_id(), chosen == 2 ? 1.0 : 0.0,
                               [&] { return ++seq; })
                    .status());
    }
    // A learned epsilon-greedy policy that prefers "c".
    bandits::PolicyOptions options;
    options.context_dim = 2;
    ASSERT_OK_AND_ASSIGN(auto policy,
                         bandits::CreatePolicy("epsilon_greedy:epsilon=0.3", options));
    bandits::DecisionInput input;
    input.context = {0, 1};
    for (const char* id : {"a", "b", "c"}) input.actions.push_back({id, {}});
    for (int k = 0; k < 30; ++k) {
      ASSERT_OK(policy->Update(input, k % 3, k % 3 == 2 ? 1.0 : 0.0));
    }
    PolicySnapshot snap;
    snap.set_experiment("exp");
    snap.set_variant("v");
    snap.set_policy_spec(policy->spec());
    snap.set_version(policy->version());
    snap.set_state(policy->Snapshot().SerializeAsString());
    ASSERT_OK(log->PutSnapshot(snap));
    bandits::Decision d;
    ASSERT_OK(policy->Choose(input, 1, &d));
    ASSERT_EQ(d.pmf.size(), 3u);
    EXPECT_GT(d.pmf[2], d.pmf[0]);
    for (int a = 0; a < 3; ++a) {
      absl::StrAppend(&snapshot_pmf_csv, "*,", input.actions[a].id, ",",
                      absl::StrFormat("%.17g", d.pmf[a]), "\n");
    }
  }
  WriteTextFile(dir.File("pmf.csv"), snapshot_pmf_csv);
  const std::vector<std::string> common = {"ope", "--log=" + dir.path(), "--experiment=exp",
                                           "--estimators=ips,snips,dr", "--bootstrap=0"};
  auto with = [&](const std::string& extra) {
    std::vector<std::string> args = common;
    args.push_back(extra);
    return RunRecbandit(args);
  };
  auto snapshot = with("--target=snapshot");
  auto table = with("--target_pmf=" + dir.File("pmf.csv"));
  ASSERT_EQ(snapshot.exit_code, 0) << snapshot.err;
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(snapshot.out, HasSubstr("snapshot of variant 'v'"));
  for (const std::string est : {"ips", "snips", "dr"}) {
    EXPECT_NEAR(Field(snapshot.out, est, "value"), Field(table.out, est, "value"), 1e-9) << est;
  }
  // A fresh epsilon_greedy with epsilon = 1 is the uniform policy.
  auto fresh = with("--target=epsilon_greedy:epsilon=1");
  auto uniform = with("--target=uniform");
  ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
  ASSERT_EQ(uniform.exit_code, 0) << uniform.err;
  EXPECT_NEAR(Field(fresh.out, "ips", "value"), Field(uniform.out, "ips", "value"), 1e-12);
  // Snapshot targets need the log.
  auto no_log = RunRecbandit({"ope", "--input=" + dir.File("pmf.csv"), "--target=snapshot"});
  EXPECT_EQ(no_log.exit_code, 1);
  auto missing = with("--target=snapshot:nope");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("no policy snapshot of variant 'nope'"));
}

TEST(OpeCommandTest, ClearErrors) {
  ScratchDir dir;
  const std::string header =
      ",timestamp,item_id,position,click,propensity_score,user_feature_0\n";
  WriteTextFile(dir.File("zero.csv"), header + "0,t,1,1,0,0.5,a\n1,t,2,1,0,0,b\n");
  auto zero = RunRecbandit({"ope", "--obd=" + dir.File("zero.csv")});
  EXPECT_EQ(zero.exit_code, 1);
  EXPECT_THAT(zero.err, HasSubstr(dir.File("zero.csv") + ":3: propensity_score 0 is zero"));
  EXPECT_TRUE(zero.out.empty());

  WriteTextFile(dir.File("bad.csv"), "not,a,log\n");
  auto bad = RunRecbandit({"ope", "--input=" + dir.File("bad.csv")});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.err, HasSubstr(dir.File("bad.csv") + ":1: not a recbandit export CSV"));

  auto target = RunRecbandit({"ope", "--obd=" + Obd("bts"), "--target=best_guess"});
  EXPECT_EQ(target.exit_code, 1);
  EXPECT_THAT(target.err, HasSubstr("unknown target 'best_guess'"));

  auto estimator = RunRecbandit({"ope", "--obd=" + Obd("bts"), "--estimators=ips,magic"});
  EXPECT_EQ(estimator.exit_code, 1);
  EXPECT_THAT(estimator.err, HasSubstr("unknown estimator 'magic'"));

  auto none = RunRecbandit({"ope"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_THAT(none.err, HasSubstr("exactly one of --obd, --input or --log"));
}

}  // namespace
}  // namespace recbandit::services
