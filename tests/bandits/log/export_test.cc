// Tests of the CSV/JSONL export (exact bytes on a small known log, RFC 4180
// quoting, list escaping) and of the readers in bandits/ope/logged_data.h.
#include "bandits/log/export.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "bandits/log/event_log.h"
#include "bandits/ope/logged_data.h"
#include "bandits/ope/ope_input.h"
#include "proto/core/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::bandits {
namespace {

using ::recbandit::testing::ReadTextFile;
using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;
using ::recbandit::testing::WriteTextFile;
using ::testing::HasSubstr;

// Two decisions: "e,1" (awkward characters everywhere, rewards 1 + 2 under
// SUM, one shadow) and "e2" (no reward).
void WriteKnownLog(const std::string& data_dir) {
  auto log = EventLog::Open(data_dir, {}).value();
  ExperimentConfig config;
  config.set_name("exp");
  config.set_reward_aggregation(SUM);
  config.set_default_reward(-1);
  ASSERT_OK(log->CreateExperiment(config));
  DecisionEvent e;
  e.set_event_id("e,1");
  e.set_experiment("exp");
  e.set_variant("a");
  e.set_timestamp_us(1000);
  e.set_unit_id("u\"q");
  e.mutable_context()->add_dense(0.5f);
  e.mutable_context()->add_dense(-1.25f);
  Namespace* ns = e.mutable_context()->add_namespaces();
  ns->set_name("user");
  Feature* f = ns->add_features();
  f->set_name("age");
  f->set_value(31);
  f = ns->add_features();
  f->set_name("device=ios");
  f->set_value(1);
  e.add_actions()->set_id("x");
  Action* y = e.add_actions();
  y->set_id("y;z");
  y->add_dense(0.1f);
  e.add_pmf(0.25);
  e.add_pmf(0.75);
  e.set_chosen_index(1);
  e.set_chosen_action("y;z");
  e.set_policy_spec("linucb:alpha=1,lambda=2");
  e.set_policy_version(3);
  ShadowDecision* s = e.add_shadows();
  s->set_policy_spec("ucb1");
  s->add_pmf(0);
  s->add_pmf(1);
  ASSERT_OK(log->AppendDecision(e));
  int64_t seq = 0;
  ASSERT_OK(log->AddReward(config, "e,1", 1, [&] { return ++seq; }).status());
  ASSERT_OK(log->AddReward(config, "e,1", 2, [&] { return ++seq; }).status());
  DecisionEvent e2;
  e2.set_event_id("e2");
  e2.set_experiment("exp");
  e2.set_variant("b");
  e2.set_timestamp_us(2000);
  e2.set_unit_id("e2");
  e2.add_actions()->set_id("x");
  e2.add_pmf(1);
  e2.set_chosen_index(0);
  e2.set_chosen_action("x");
  e2.set_policy_spec("ucb1");
  ASSERT_OK(log->AppendDecision(e2));
}

constexpr char kExpectedCsv[] =
    "event_id,experiment,variant,timestamp_us,unit_id,context_dense,context_sparse,actions,"
    "chosen_index,chosen_action,propensity,pmf,reward,policy_spec,policy_version,shadow_pmfs\n"
    "\"e,1\",exp,a,1000,\"u\"\"q\",0.5;-1.25,user|age=31;user|device=ios=1,x;y%3Bz,1,y;z,0.75,"
    "0.25;0.75,3,\"linucb:alpha=1,lambda=2\",3,ucb1=0;1\n"
    "e2,exp,b,2000,e2,,,x,0,x,1,1,,ucb1,0,\n";

constexpr char kExpectedJsonl[] =
    "{\"event_id\":\"e,1\",\"experiment\":\"exp\",\"variant\":\"a\",\"timestamp_us\":1000,"
    "\"unit_id\":\"u\\\"q\",\"context\":{\"dense\":[0.5,-1.25],\"namespaces\":[{\"name\":\"user\","
    "\"features\":[{\"name\":\"age\",\"value\":31},{\"name\":\"device=ios\",\"value\":1}]}]},"
    "\"actions\":[{\"id\":\"x\",\"dense\":[],\"namespaces\":[]},{\"id\":\"y;z\",\"dense\":[0.1],"
    "\"namespaces\":[]}],\"chosen_index\":1,\"chosen_action\":\"y;z\",\"propensity\":0.75,"
    "\"pmf\":[0.25,0.75],\"reward\":3,\"policy_spec\":\"linucb:alpha=1,lambda=2\","
    "\"policy_version\":3,\"shadows\":[{\"policy_spec\":\"ucb1\",\"pmf\":[0,1]}]}\n"
    "{\"event_id\":\"e2\",\"experiment\":\"exp\",\"variant\":\"b\",\"timestamp_us\":2000,"
    "\"unit_id\":\"e2\",\"context\":{\"dense\":[],\"namespaces\":[]},\"actions\":[{\"id\":\"x\","
    "\"dense\":[],\"namespaces\":[]}],\"chosen_index\":0,\"chosen_action\":\"x\","
    "\"propensity\":1,\"pmf\":[1],\"reward\":null,\"policy_spec\":\"ucb1\","
    "\"policy_version\":0,\"shadows\":[]}\n";

TEST(ExportTest, CsvAndJsonlRowsAreExact) {
  ScratchDir dir;
  WriteKnownLog(dir.path());
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
  ASSERT_OK_AND_ASSIGN(ExportStats csv, ExportExperiment(*log, "exp", ExportFormat::kCsv,
                                                         dir.File("out.csv")));
  EXPECT_EQ(csv.rows, 2);
  EXPECT_EQ(csv.rewarded, 1);
  EXPECT_EQ(ReadTextFile(dir.File("out.csv")), kExpectedCsv);
  ASSERT_OK(ExportExperiment(*log, "exp", ExportFormat::kJsonl, dir.File("out.jsonl")).status());
  EXPECT_EQ(ReadTextFile(dir.File("out.jsonl")), kExpectedJsonl);
  EXPECT_THAT(ExportExperiment(*log, "nope", ExportFormat::kCsv, dir.File("x.csv")),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(ParseExportFormat("xml"), StatusIs(absl::StatusCode::kInvalidArgument));
}

void ExpectKnownDecisions(const LoggedData& data, bool with_action_features) {
  ASSERT_EQ(data.decisions.size(), 2u);
  const LoggedDecision& d = data.decisions[0];
  EXPECT_EQ(d.event_id, "e,1");
  EXPECT_EQ(d.unit_id, "u\"q");
  EXPECT_EQ(d.timestamp_us, 1000);
  ASSERT_EQ(d.context.dense_size(), 2);
  EXPECT_EQ(d.context.dense(1), -1.25f);
  ASSERT_EQ(d.context.namespaces_size(), 1);
  EXPECT_EQ(d.context.namespaces(0).name(), "user");
  ASSERT_EQ(d.context.namespaces(0).features_size(), 2);
  EXPECT_EQ(d.context.namespaces(0).features(1).name(), "device=ios");
  EXPECT_EQ(d.context.namespaces(0).features(0).value(), 31.0f);
  ASSERT_EQ(d.actions.size(), 2u);
  EXPECT_EQ(d.actions[1].id(), "y;z");
  EXPECT_EQ(d.actions[1].dense_size(), with_action_features ? 1 : 0);
  EXPECT_EQ(d.chosen, 1);
  EXPECT_DOUBLE_EQ(d.propensity, 0.75);
  EXPECT_EQ(d.pmf, (std::vector<double>{0.25, 0.75}));
  EXPECT_TRUE(d.has_reward);
  EXPECT_DOUBLE_EQ(d.reward, 3);
  EXPECT_EQ(d.policy_spec, "linucb:alpha=1,lambda=2");
  EXPECT_EQ(d.policy_version, 3);
  ASSERT_EQ(d.shadows.size(), 1u);
  EXPECT_EQ(d.shadows[0].policy_spec, "ucb1");
  EXPECT_EQ(d.shadows[0].pmf, (std::vector<double>{0, 1}));
  const LoggedDecision& d2 = data.decisions[1];
  EXPECT_FALSE(d2.has_reward);
  EXPECT_DOUBLE_EQ(d2.RewardOr(-1), -1);
  EXPECT_TRUE(d2.shadows.empty());
}

TEST(LoggedDataTest, ReadsTheLogAndBothExportFormats) {
  ScratchDir dir;
  WriteKnownLog(dir.path());
  {
    ASSERT_OK_AND_ASSIGN(LoggedData from_log, ReadLoggedDataFromLog(dir.path(), "exp"));
    ExpectKnownDecisions(from_log, true);
    EXPECT_DOUBLE_EQ(from_log.default_reward, -1);
    EXPECT_EQ(from_log.config.name(), "exp");
  }
  WriteTextFile(dir.File("a.csv"), kExpectedCsv);
  WriteTextFile(dir.File("a.jsonl"), kExpectedJsonl);
  ASSERT_OK_AND_ASSIGN(LoggedData from_csv, ReadLoggedDataFromFile(dir.File("a.csv")));
  ExpectKnownDecisions(from_csv, false);
  ASSERT_OK_AND_ASSIGN(LoggedData from_jsonl, ReadLoggedDataFromFile(dir.File("a.jsonl")));
  ExpectKnownDecisions(from_jsonl, true);
  EXPECT_THAT(ReadLoggedDataFromLog(dir.path(), "nope"), StatusIs(absl::StatusCode::kNotFound));
}

TEST(LoggedDataTest, MalformedFilesNameFileLineAndColumn) {
  ScratchDir dir;
  const std::string header = ExportCsvHeader();
  WriteTextFile(dir.File("bad.csv"), header + "e,exp,a,1000,u,,,x;y,2,y,0.5,0.5;0.5,,p,0,\n");
  EXPECT_THAT(ReadLoggedDataFromFile(dir.File("bad.csv")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("bad.csv:2: column chosen_index: 2 is outside [0, 2)")));
  WriteTextFile(dir.File("short.csv"), header + "\"multi\nline\",exp\n");
  EXPECT_THAT(ReadLoggedDataFromFile(dir.File("short.csv")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("short.csv:2: expected 16 fields, got 2")));
  WriteTextFile(dir.File("quote.csv"), header + "\"open,exp\n");
  EXPECT_THAT(ReadLoggedDataFromFile(dir.File("quote.csv")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unterminated")));
  WriteTextFile(dir.File("bad.jsonl"), std::string(kExpectedJsonl) + "{\"event_id\": 5,}\n");
  EXPECT_THAT(ReadLoggedDataFromFile(dir.File("bad.jsonl")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad.jsonl:3:")));
  EXPECT_THAT(ReadLoggedDataFromFile(dir.File("missing.csv")),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(ExportTest, ListItemEscapingRoundTrips) {
  for (const std::string s : {"plain", "a;b", "a|b", "100%", "%3B", ";|%;"}) {
    EXPECT_EQ(UnescapeListItem(EscapeListItem(s)), s);
    EXPECT_EQ(EscapeListItem(s).find_first_of(";|"), std::string::npos);
  }
}

// Property: any action ids (';', '|', '%', quotes, commas, newlines,
// spaces, UTF-8) survive export -> ope input in both formats: the rounds read
// back name exactly the logged actions and choices.
TEST(ExportTest, AnyActionIdRoundTripsThroughCsvAndJsonl) {
  const std::string alphabet[] = {"a", "b", ";", "|", "%", "%3B", ",", "\"", "'", " ", "=",
                                  "\xc3\xa9", "\n", "\t", "x", "7"};
  Rng rng(2026);
  for (int trial = 0; trial < 20; ++trial) {
    ScratchDir dir;
    std::vector<std::vector<std::string>> offered;
    {
      ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
      ExperimentConfig config;
      config.set_name("exp");
      ASSERT_OK(log->CreateExperiment(config));
      for (int d = 0; d < 5; ++d) {
        DecisionEvent e;
        e.set_event_id(absl::StrCat("t", trial, "-", d));
        e.set_experiment("exp");
        e.set_variant("v");
        e.set_timestamp_us(10 + d);
        std::vector<std::string> ids;
        const int n = 1 + static_cast<int>(rng.Uniform() * 4);
        while (static_cast<int>(ids.size()) < n) {
          std::string id;
          const int len = 1 + static_cast<int>(rng.Uniform() * 6);
          for (int k = 0; k < len; ++k) id += alphabet[static_cast<int>(rng.Uniform() * 16)];
          if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
        }
        for (const std::string& id : ids) {
          e.add_actions()->set_id(id);
          e.add_pmf(1.0 / n);
        }
        const int chosen = static_cast<int>(rng.Uniform() * n);
        e.set_chosen_index(chosen);
        e.set_chosen_action(ids[chosen]);
        ASSERT_OK(log->AppendDecision(e));
        offered.push_back(ids);
      }
      for (ExportFormat format : {ExportFormat::kCsv, ExportFormat::kJsonl}) {
        ASSERT_OK(ExportExperiment(*log, "exp", format,
                                   dir.File(format == ExportFormat::kCsv ? "e.csv" : "e.jsonl"))
                      .status());
      }
    }
    // The set of every logged action id.
    std::set<std::string> all;
    for (const auto& ids : offered) all.insert(ids.begin(), ids.end());
    ExportReadOptions options;
    ASSERT_OK_AND_ASSIGN(ExportRounds csv, ReadExportCsv(dir.File("e.csv"), options));
    ASSERT_OK_AND_ASSIGN(LoggedData data, ReadLoggedDataFromFile(dir.File("e.jsonl")));
    ASSERT_OK_AND_ASSIGN(ExportRounds jsonl, RoundsFromLoggedData(data, options, "e.jsonl"));
    for (const ExportRounds* r : {&csv, &jsonl}) {
      ASSERT_EQ(r->rounds.action.size(), 5u);
      EXPECT_EQ(std::set<std::string>(r->rounds.action_names.begin(),
                                      r->rounds.action_names.end()),
                all);
      for (size_t d = 0; d < 5; ++d) {
        const std::string& chosen = r->rounds.action_names[r->rounds.action[d]];
        EXPECT_NE(std::find(offered[d].begin(), offered[d].end(), chosen), offered[d].end());
      }
    }
    // Both readers agree on which action each round chose.
    for (size_t d = 0; d < 5; ++d) {
      EXPECT_EQ(csv.rounds.action_names[csv.rounds.action[d]],
                jsonl.rounds.action_names[jsonl.rounds.action[d]]);
    }
    // The fast (ips/snips only) CSV path reads the same choices.
    options.full = false;
    ASSERT_OK_AND_ASSIGN(ExportRounds fast, ReadExportCsv(dir.File("e.csv"), options));
    for (size_t d = 0; d < 5; ++d) {
      EXPECT_EQ(fast.rounds.action_names[fast.rounds.action[d]],
                csv.rounds.action_names[csv.rounds.action[d]]);
    }
  }
}

TEST(ExportTest, DeploymentSlatesExactBytesBothFormats) {
  ScratchDir dir;
  {
    auto log = EventLog::Open(dir.path(), {}).value();
    DeploymentChange change;
    change.set_kind(DeploymentChange::CREATED);
    change.mutable_deployment()->set_name("shop");
    ASSERT_OK(log->WriteDeploymentChange(change));
    DecisionEvent e;
    e.set_event_id("s1");
    e.set_experiment("shop");
    e.set_variant("blue");
    e.set_timestamp_us(500);
    e.set_unit_id("u1");
    e.add_actions()->set_id("a");
    e.add_actions()->set_id("b;c");
    e.add_pmf(1);
    e.add_pmf(0);
    e.set_chosen_action("a");
    e.add_slate_indices(0);
    e.add_slate_propensities(1);
    e.set_deployment_revision(2);
    e.set_model_name("m");
    e.set_model_version(3);
    e.set_user("alice");
    e.add_slate_marginals(1);
    ASSERT_OK(log->AppendDecision(e));
    ExperimentConfig config;
    config.set_name("shop");
    ASSERT_OK(log->AddReward(config, "s1", 1, nullptr, /*position=*/1).status());
  }
  auto log = EventLog::Open(dir.path(), {}).value();
  ASSERT_OK_AND_ASSIGN(ExportStats stats,
                       ExportSlates(*log, "shop", ExportFormat::kCsv, dir.File("s.csv")));
  EXPECT_EQ(stats.rows, 1);
  EXPECT_EQ(stats.rewarded, 1);
  // The example of bandits/log/log_format.md, "Deployment export".
  EXPECT_EQ(ReadTextFile(dir.File("s.csv")),
            "event_id,deployment,variant,deployment_revision,timestamp_us,unit_id,model,"
            "candidates,slate,slate_propensities,clicked_positions,reward,shadow_of,user,"
            "slate_marginals,interleaving_teams\n"
            "s1,shop,blue,2,500,u1,m@3,a;b%3Bc,a,1,1,1,,alice,1,\n");
  ASSERT_OK(ExportSlates(*log, "shop", ExportFormat::kJsonl, dir.File("s.jsonl")).status());
  EXPECT_EQ(ReadTextFile(dir.File("s.jsonl")),
            "{\"event_id\":\"s1\",\"deployment\":\"shop\",\"variant\":\"blue\","
            "\"deployment_revision\":2,\"timestamp_us\":500,\"unit_id\":\"u1\","
            "\"model\":\"m@3\",\"candidates\":[\"a\",\"b;c\"],\"slate\":[\"a\"],"
            "\"slate_propensities\":[1],\"clicked_positions\":[1],\"reward\":1,"
            "\"shadow_of\":\"\",\"user\":\"alice\",\"slate_marginals\":[1],"
            "\"interleaving_teams\":[]}\n");
  EXPECT_THAT(ExportSlates(*log, "nope", ExportFormat::kCsv, dir.File("n.csv")),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("unknown deployment 'nope'")));
}

}  // namespace
}  // namespace recbandit::bandits
