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

#include "gmock/gmock.h"
#include "gtest/gtest.h"
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
  EXPECT_THAT(r.out, HasSubstr("\"ci_method\":\"normal\""));
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
