// End-to-end tests of `recbandit train`, `evaluate` and `recommend` through
// the built binary: JSON reports, model directories, checkpoint + resume,
// the popularity fallback, and one-line errors for bad input.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/model.pb.h"
#include "ranking/factor_model.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::services {
namespace {

using ::recbandit::testing::CommandResult;
using ::recbandit::testing::ReadTextFile;
using ::recbandit::testing::RunRecbandit;
using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::WriteTextFile;
using ::testing::HasSubstr;
using ::testing::Not;

int Lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

class TrainCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CommandResult gen = RunRecbandit({"gen", "interactions", "--users=300", "--items=120",
                                      "--nnz=8000", "--factors=4", "--seed=3",
                                      "--out=" + dir_.File("all.csv")});
    ASSERT_EQ(gen.exit_code, 0) << gen.err;
    CommandResult split = RunRecbandit({"split", "--input=" + dir_.File("all.csv"),
                                        "--train_out=" + train_, "--test_out=" + test_});
    ASSERT_EQ(split.exit_code, 0) << split.err;
  }
  CommandResult Train(std::vector<std::string> extra) {
    std::vector<std::string> args = {"train", "--input=" + train_, "--factors=8",
                                     "--threads=1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunRecbandit(args);
  }
  ScratchDir dir_;
  std::string train_ = dir_.File("train.csv");
  std::string test_ = dir_.File("test.csv");
};

TEST_F(TrainCommandTest, AlsTrainEvaluateRecommend) {
  const std::string model = dir_.File("als");
  CommandResult t = Train({"--algo=als", "--iterations=5", "--test=" + test_,
                           "--out=" + model, "--compute_loss"});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_EQ(Lines(t.out), 1);
  for (const char* key : {"\"algo\":\"als\"", "\"factors\":8", "\"iterations\":5",
                          "\"seconds_per_iteration\":", "\"train_seconds\":",
                          "\"peak_rss_bytes\":", "\"ndcg_at_k\":", "\"loss\":["}) {
    EXPECT_THAT(t.out, HasSubstr(key));
  }
  EXPECT_THAT(t.err, HasSubstr("als 5/5"));  // progress on stderr
  ASSERT_OK_AND_ASSIGN(ranking::FactorModel m, ranking::FactorModel::Load(model));
  EXPECT_EQ(m.manifest().iterations_done(), 5);
  EXPECT_GT(m.manifest().metrics().users_evaluated(), 0);

  CommandResult e = RunRecbandit({"evaluate", "--model=" + model, "--train=" + train_,
                                  "--test=" + test_, "--k=5"});
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_THAT(e.out, HasSubstr("\"metrics\":{\"k\":5"));
  EXPECT_THAT(e.out, HasSubstr("\"popularity_baseline\":{\"k\":5"));

  const std::string user = m.users().Name(0);
  CommandResult r = RunRecbandit({"recommend", "--model=" + model, "--user=" + user, "--k=4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\"fallback\":false"));
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '{'), 5);  // result + 4 items
  for (int32_t i : m.SeenItems(0)) {  // --exclude_seen is on by default
    EXPECT_THAT(r.out, Not(HasSubstr("\"item\":\"" + m.items().Name(i) + "\"")));
  }
  CommandResult cold = RunRecbandit({"recommend", "--model=" + model, "--user=stranger"});
  ASSERT_EQ(cold.exit_code, 0) << cold.err;
  EXPECT_THAT(cold.out, HasSubstr("\"fallback\":true"));
}

TEST_F(TrainCommandTest, BprTrains) {
  CommandResult t = Train({"--algo=bpr", "--iterations=3", "--item_bias",
                           "--negative_sampling=popularity", "--out=" + dir_.File("bpr")});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_THAT(t.out, HasSubstr("\"algo\":\"bpr\""));
  ASSERT_OK_AND_ASSIGN(ranking::FactorModel m, ranking::FactorModel::Load(dir_.File("bpr")));
  EXPECT_EQ(m.item_bias().size(), static_cast<size_t>(m.num_items()));
}

TEST_F(TrainCommandTest, ResumeFromCheckpointEqualsUninterruptedRun) {
  for (const std::string algo : {"--algo=als", "--algo=bpr"}) {
    const std::string full = dir_.File("full" + algo), part = dir_.File("part" + algo);
    CommandResult f = Train({algo, "--iterations=6", "--out=" + full});
    ASSERT_EQ(f.exit_code, 0) << f.err;
    // Preempted after iteration 4 (checkpoints every 2).
    CommandResult stopped =
        Train({algo, "--iterations=6", "--checkpoint_every=2", "--stop_after=4", "--out=" + part});
    EXPECT_EQ(stopped.exit_code, 1);
    EXPECT_THAT(stopped.err, HasSubstr("--resume"));
    ASSERT_OK_AND_ASSIGN(ranking::FactorModel ckpt, ranking::FactorModel::Load(part));
    EXPECT_EQ(ckpt.manifest().iterations_done(), 4);
    CommandResult resumed =
        Train({algo, "--iterations=6", "--checkpoint_every=2", "--resume", "--out=" + part});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    EXPECT_THAT(resumed.err, HasSubstr("resuming from"));
    EXPECT_THAT(resumed.out, HasSubstr("\"iterations\":6"));
    for (const char* file : {"user_factors.bin", "item_factors.bin"}) {
      EXPECT_EQ(ReadTextFile(part + "/" + file), ReadTextFile(full + "/" + file))
          << algo << " " << file;
    }
    // Different parameters: refused.
    CommandResult other = Train({algo, "--iterations=6", "--factors=9", "--resume",
                                 "--out=" + part});
    EXPECT_EQ(other.exit_code, 1);
    EXPECT_THAT(other.err, HasSubstr("different parameters"));
  }
}

TEST_F(TrainCommandTest, GatesPassAgainstAWeakerModelAndFailAgainstAStrongerOne) {
  // The active versions trained on the older 85% of the rows (the generated
  // timestamps grow with the line), as before a retraining on newer data;
  // the candidates' time holdout is the newest 10%, which neither saw.
  const std::string all = ReadTextFile(train_);
  const std::vector<std::string> lines = absl::StrSplit(all, '\n', absl::SkipEmpty());
  std::string older;
  for (size_t i = 0; i < lines.size() * 85 / 100; ++i) absl::StrAppend(&older, lines[i], "\n");
  WriteTextFile(dir_.File("older.csv"), older);
  const std::string strong = dir_.File("strong"), weak = dir_.File("weak");
  for (const auto& [out, extra] : std::vector<std::pair<std::string, std::string>>{
           {strong, "--iterations=10"}, {weak, "--iterations=1"}}) {
    CommandResult r = RunRecbandit({"train", "--input=" + dir_.File("older.csv"), "--threads=1",
                                    out == weak ? "--factors=1" : "--factors=8", extra,
                                    "--out=" + out});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // A weak candidate against the strong model: exit 1, the model written
  // with its figures, the report on stdout.
  const std::string held = dir_.File("held");
  CommandResult fail = Train({"--factors=1", "--iterations=1", "--compare_to=" + strong,
                              "--gate_ndcg_tolerance=0.01", "--out=" + held});
  EXPECT_EQ(fail.exit_code, 1) << fail.err;
  EXPECT_THAT(fail.err, HasSubstr("validation gates failed (ndcg_at_k: candidate"));
  EXPECT_THAT(fail.err, HasSubstr("--force_promotion"));
  EXPECT_THAT(fail.out, HasSubstr("\"promoted\":false"));
  ASSERT_OK_AND_ASSIGN(ranking::FactorModel held_model, ranking::FactorModel::Load(held));
  const ValidationReport& v = held_model.manifest().validation();
  EXPECT_FALSE(v.promoted());
  bool saw_ndcg = false;
  for (const GateResult& g : v.gates()) {
    if (g.gate() != "ndcg_at_k") continue;
    saw_ndcg = true;
    EXPECT_FALSE(g.passed());
    EXPECT_LT(g.candidate(), g.baseline() - 0.01);
  }
  EXPECT_TRUE(saw_ndcg);

  // Forced: exit 0, the failure still recorded.
  CommandResult forced = Train({"--factors=1", "--iterations=1", "--compare_to=" + strong,
                                "--gate_ndcg_tolerance=0.01", "--force_promotion",
                                "--out=" + held});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_THAT(forced.out, HasSubstr("\"forced\":true"));

  // A strong candidate against the weak model passes.
  CommandResult pass = Train({"--iterations=10", "--compare_to=" + weak,
                              "--gate_ndcg_tolerance=0", "--gate_min_coverage=0.05",
                              "--out=" + dir_.File("promoted")});
  EXPECT_EQ(pass.exit_code, 0) << pass.err;
  EXPECT_THAT(pass.out, HasSubstr("\"promoted\":true"));
  EXPECT_THAT(pass.out, HasSubstr("\"forced\":false"));
}

TEST_F(TrainCommandTest, GatesFailClosedAgainstAModelThatSawTheHoldout) {
  const std::string active = dir_.File("active");
  ASSERT_EQ(Train({"--iterations=3", "--out=" + active}).exit_code, 0);
  CommandResult r = Train({"--iterations=3", "--compare_to=" + active,
                           "--gate_ndcg_tolerance=0.5", "--out=" + dir_.File("o")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("comparison would favour it"));
}

TEST_F(TrainCommandTest, GatesFailClosedWithoutTimestamps) {
  WriteTextFile(dir_.File("plain.csv"), "u1,i1\nu1,i2\nu2,i1\nu2,i3\nu3,i2\nu3,i3\n");
  CommandResult r = RunRecbandit({"train", "--input=" + dir_.File("plain.csv"), "--factors=2",
                                  "--iterations=2", "--gate_min_coverage=0",
                                  "--out=" + dir_.File("o")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no timestamp column"));
}

TEST_F(TrainCommandTest, BadInputGivesOneLineErrors) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  WriteTextFile(dir_.File("empty.csv"), "");
  const std::vector<Case> cases = {
      {{"train", "--input=" + dir_.File("missing.csv"), "--out=" + dir_.File("x")},
       "missing.csv"},
      {{"train", "--input=" + dir_.File("empty.csv"), "--out=" + dir_.File("x")},
       "no interactions"},
      {{"train", "--input=" + train_}, "--out"},
      {{"train", "--input=" + train_, "--out=" + dir_.File("x"), "--factors=5000"},
       "factors = 5000 is out of range (1..1024)"},
      {{"train", "--input=" + train_, "--out=" + dir_.File("x"), "--alpha=0"},
       "alpha = 0 is out of range (> 0)"},
      {{"train", "--input=" + train_, "--out=" + dir_.File("x"), "--algo=bpr",
        "--learning_rate=-1"},
       "learning_rate = -1 is out of range (> 0)"},
      {{"train", "--input=" + train_, "--out=" + dir_.File("x"), "--algo=svd"},
       "--algo must be als or bpr"},
      {{"train", "--input=" + train_, "--out=" + dir_.File("x"), "--solver=lu"},
       "--solver must be cg or cholesky"},
      {{"evaluate", "--model=" + dir_.File("nope"), "--train=" + train_, "--test=" + test_},
       "no such model directory"},
      {{"recommend", "--model=" + dir_.File("nope"), "--user=u1"}, "no such model"},
      // Index strings that abort FAISS or exhaust the machine: refused before
      // training, with the bound (the process exits cleanly, not by a signal).
      {{"train", "--input=" + train_, "--out=" + dir_.File("x"), "--index=HNSW0"},
       "--index: index factory 'HNSW0': HNSW's M must be in [4, 128], got 0"},
      {{"train", "--input=" + train_, "--out=" + dir_.File("x"), "--index=IVF0,Flat"},
       "IVF's nlist must be in [1, 65536], got 0"},
      {{"train", "--input=" + train_, "--out=" + dir_.File("x"), "--index=IVF99999,Flat"},
       "IVF's nlist must be in [1, 65536], got 99999"},
      {{"train", "--input=" + train_, "--out=" + dir_.File("x"), "--index=IVF500,Flat"},
       "500 IVF lists but only "},
      {{"train", "--input=" + train_, "--out=" + dir_.File("x"), "--index=HNSW100000"},
       "HNSW's M must be in [4, 128], got 100000"},
      {{"train", "--input=" + train_, "--out=" + dir_.File("x"), "--index=IVF8,PQ3"},
       "PQ's m must divide the dimension 64, got 3"},
  };
  for (const Case& c : cases) {
    CommandResult r = RunRecbandit(c.args);
    EXPECT_NE(r.exit_code, 0) << c.message;
    EXPECT_THAT(r.err, HasSubstr(c.message));
    EXPECT_EQ(Lines(r.err), 1) << r.err;
    EXPECT_TRUE(r.out.empty());
  }
}

// Event types through the real binary: "hot" is clicked by 4 users, "gem"
// purchased by 2, "meh" clicked once. The popularity fallback (pairs kept)
// and the interaction count show exactly which rows training kept.
TEST(EventTypesCommandTest, WeightsThresholdsAndPerTypeMetricsKnownAnswers) {
  ScratchDir dir;
  const std::string data = dir.File("typed.csv");
  WriteTextFile(data,
                "user,item,weight,timestamp,event_type\n"
                "u1,hot,1,1,click\nu2,hot,1,2,click\nu3,hot,1,3,click\nu4,hot,1,4,click\n"
                "u5,gem,1,5,purchase\nu6,gem,1,6,purchase\nu1,meh,1,7,click\n"
                "u5,hot,1,8,click\nu6,meh,2,9\n");
  auto train = [&](const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> argv = {"train", "--input=" + data, "--factors=2",
                                     "--iterations=2", "--threads=1", "--out=" + dir.File(out)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunRecbandit(argv);
  };
  auto fallback_top = [&](const std::string& model) {
    CommandResult r = RunRecbandit({"recommend", "--model=" + dir.File(model),
                                    "--user=stranger", "--k=1"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const size_t p = r.out.find("\"item\":\"") + 8;
    return r.out.substr(p, r.out.find('"', p) - p);
  };
  CommandResult all = train("all", {});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_THAT(all.out, HasSubstr("\"num_interactions\":9"));
  EXPECT_EQ(fallback_top("all"), "hot");
  // Clicks weighed 0: the two purchases and the untyped row remain.
  CommandResult purchases = train("purchases", {"--event_weights=click=0"});
  ASSERT_EQ(purchases.exit_code, 0) << purchases.err;
  EXPECT_THAT(purchases.out, HasSubstr("\"num_interactions\":3"));
  EXPECT_EQ(fallback_top("purchases"), "gem");
  // purchase=5 then --min_weight=2: the purchases (5) and the untyped
  // weight-2 row (u6,meh) are kept, every click (1) dropped.
  CommandResult thresholded =
      train("thresholded", {"--event_weights=purchase=5", "--min_weight=2"});
  ASSERT_EQ(thresholded.exit_code, 0) << thresholded.err;
  EXPECT_THAT(thresholded.out, HasSubstr("\"num_interactions\":3"));
  EXPECT_THAT(thresholded.err, HasSubstr("3 interactions kept, 6 dropped"));
  // The manifest records the weighting.
  ASSERT_OK_AND_ASSIGN(ranking::FactorModel m,
                       ranking::FactorModel::Load(dir.File("thresholded")));
  EXPECT_EQ(m.manifest().params().event_weights().at("purchase"), 5.0f);
  EXPECT_EQ(m.manifest().params().min_weight(), 2.0f);
  // Per-type metrics, by hand: the test rows are u2's purchase of gem (gem
  // is u2's top unseen item only if it outranks meh) and u5's click of meh.
  // Each type's users_evaluated is its own rows' users: 1 and 1.
  const std::string test = dir.File("test.csv");
  WriteTextFile(test, "u2,gem,1,10,purchase\nu5,meh,1,11,click\nu3,gem,1,12,purchase\n");
  CommandResult eval = RunRecbandit({"evaluate", "--model=" + dir.File("all"), "--train=" + data,
                                     "--test=" + test, "--by_event_type", "--k=2",
                                     "--metrics_k=1"});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_THAT(eval.out, HasSubstr("\"by_event_type\":[{\"event_type\":\"click\","
                                  "\"interactions\":1,\"metrics\":{\"k\":2,"));
  EXPECT_THAT(eval.out, HasSubstr("{\"event_type\":\"purchase\",\"interactions\":2,"
                                  "\"metrics\":{\"k\":2,"));
  // With k = 2 and two unseen items per user (3 items, 1 seen), every test
  // item is in the top 2: recall 1 for each type.
  const size_t click = eval.out.find("\"event_type\":\"click\"");
  const size_t purchase = eval.out.find("\"event_type\":\"purchase\"");
  EXPECT_THAT(eval.out.substr(click, purchase - click),
              HasSubstr("\"recall_at_k\":1,\"ndcg_at_k\""));
  EXPECT_THAT(eval.out.substr(click, purchase - click), HasSubstr("\"users_evaluated\":1}"));
  EXPECT_THAT(eval.out.substr(purchase), HasSubstr("\"recall_at_k\":1,\"ndcg_at_k\""));
  EXPECT_THAT(eval.out.substr(purchase), HasSubstr("\"users_evaluated\":2}"));
}

TEST_F(TrainCommandTest, CorruptModelIsDataLossNotACrash) {
  const std::string model = dir_.File("m");
  ASSERT_EQ(Train({"--iterations=2", "--out=" + model}).exit_code, 0);
  std::string bytes = ReadTextFile(model + "/user_factors.bin");
  bytes[bytes.size() / 2] ^= 1;
  WriteTextFile(model + "/user_factors.bin", bytes);
  CommandResult r = RunRecbandit({"recommend", "--model=" + model, "--user=u1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("user_factors.bin: checksum mismatch"));
}

}  // namespace
}  // namespace recbandit::services
