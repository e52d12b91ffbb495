// Tests of bandits::ExperimentManager: config validation, deterministic and
// proportional variant assignment, durable Decide with shadows, Reward
// learning, and restart restoring exactly what was learned.
#include "bandits/experiment.h"

#include "bandits/explore.h"

#include <cmath>
#include <map>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bandits/log/log_keys.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/core/random.h"
#include "rocksdb/db.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::bandits {
namespace {

using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;
using ::testing::HasSubstr;

ExperimentConfig TwoVariantConfig(const std::string& name) {
  ExperimentConfig c;
  c.set_name(name);
  c.set_context_dim(3);
  Variant* a = c.add_variants();
  a->set_name("greedy");
  a->set_policy_spec("epsilon_greedy:epsilon=0.2");
  a->set_traffic_weight(1);
  Variant* b = c.add_variants();
  b->set_name("lin");
  b->set_policy_spec("linucb:alpha=1");
  b->set_traffic_weight(1);
  c.add_shadow_policy_specs("ucb1");
  c.add_shadow_policy_specs("lin_ts");
  return c;
}

DecideRequest MakeRequest(const std::string& experiment, const std::string& event_id,
                          int i) {
  DecideRequest r;
  r.set_experiment(experiment);
  r.set_event_id(event_id);
  r.set_unit_id(absl::StrCat("user", i % 17));
  Rng rng(i);
  for (int d = 0; d < 3; ++d) r.mutable_context()->add_dense(static_cast<float>(rng.Normal()));
  for (const char* id : {"a", "b", "c", "d"}) r.add_actions()->set_id(id);
  return r;
}

// Reward of a decision: action "c" pays 1, the others 0.
double RewardOf(const DecideResponse& d) { return d.chosen_action() == "c" ? 1.0 : 0.0; }

TEST(ExperimentTest, CreateValidatesAndFillsDefaults) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(auto manager, ExperimentManager::Open(dir.path(), {}));
  ASSERT_OK_AND_ASSIGN(ExperimentConfig stored, manager->CreateExperiment(TwoVariantConfig("e1")));
  EXPECT_EQ(stored.reward_aggregation(), SUM);
  EXPECT_EQ(stored.snapshot_every_rewards(), 100);
  EXPECT_GT(stored.created_unix_ms(), 0);
  EXPECT_THAT(manager->CreateExperiment(TwoVariantConfig("e1")),
              StatusIs(absl::StatusCode::kAlreadyExists));

  auto bad = [&](auto mutate, const std::string& message) {
    ExperimentConfig c = TwoVariantConfig("e2");
    mutate(c);
    EXPECT_THAT(manager->CreateExperiment(c),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(message)));
  };
  bad([](ExperimentConfig& c) { c.set_name(""); }, "name must have 1..64");
  bad([](ExperimentConfig& c) { c.set_name(std::string(65, 'x')); }, "1..64");
  bad([](ExperimentConfig& c) { c.set_name("a b"); }, "[A-Za-z0-9_.-]");
  bad([](ExperimentConfig& c) { c.clear_variants(); }, "variants must have 1..16");
  bad([](ExperimentConfig& c) { c.mutable_variants(1)->set_traffic_weight(0); },
      "variants[1].traffic_weight must be > 0");
  bad([](ExperimentConfig& c) { c.mutable_variants(1)->set_traffic_weight(std::nan("")); },
      "traffic_weight");
  bad([](ExperimentConfig& c) { c.mutable_variants(1)->set_name("greedy"); }, "repeated");
  bad([](ExperimentConfig& c) { c.mutable_variants(0)->set_policy_spec("nope:x=1"); },
      "variants[0].policy_spec");
  bad([](ExperimentConfig& c) { c.add_shadow_policy_specs("ucb1"); }, "repeated");
  bad([](ExperimentConfig& c) { c.set_reward_window_ms(-1); }, "reward_window_ms");
  bad([](ExperimentConfig& c) { c.set_exploration_floor(1.5); }, "exploration_floor");
  bad([](ExperimentConfig& c) { c.set_context_dim(5000); }, "context_dim");
  bad([](ExperimentConfig& c) { c.set_snapshot_every_rewards(-3); }, "snapshot_every_rewards");
  bad([](ExperimentConfig& c) { c.set_default_reward(INFINITY); }, "default_reward");
  bad([](ExperimentConfig& c) { c.set_reward_aggregation(static_cast<RewardAggregation>(9)); },
      "reward_aggregation");
  EXPECT_THAT(manager->GetExperiment("e2"), StatusIs(absl::StatusCode::kNotFound));

  // Stored durably: a reopened manager lists it.
  manager.reset();
  ASSERT_OK_AND_ASSIGN(manager, ExperimentManager::Open(dir.path(), {}));
  auto all = manager->ListExperiments();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].name(), "e1");
  EXPECT_EQ(all[0].variants(1).policy_spec(), stored.variants(1).policy_spec());
}

TEST(ExperimentTest, AtMostAThousandExperiments) {
  ScratchDir dir;
  EventLogOptions no_sync;
  no_sync.sync = false;
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), no_sync));
  ASSERT_OK_AND_ASSIGN(auto manager, ExperimentManager::Open(log.get(), {}));
  ExperimentConfig c;
  Variant* v = c.add_variants();
  v->set_name("a");
  v->set_policy_spec("ucb1");
  v->set_traffic_weight(1);
  for (int i = 0; i < 1000; ++i) {
    c.set_name(absl::StrCat("e", i));
    ASSERT_OK(manager->CreateExperiment(c).status());
  }
  c.set_name("one_more");
  EXPECT_THAT(manager->CreateExperiment(c),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("1000 experiments")));
}

TEST(ExperimentTest, DecideLogsDurablyWithShadowsAndRejectsDuplicates) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(auto manager, ExperimentManager::Open(dir.path(), {}));
  ASSERT_OK(manager->CreateExperiment(TwoVariantConfig("exp")).status());
  ASSERT_OK_AND_ASSIGN(DecideResponse d, manager->Decide(MakeRequest("exp", "ev1", 1)));
  EXPECT_EQ(d.event_id(), "ev1");
  double sum = 0;
  for (double p : d.pmf()) sum += p;
  EXPECT_NEAR(sum, 1.0, 1e-9);
  EXPECT_GT(d.propensity(), 0);
  EXPECT_EQ(d.propensity(), d.pmf(d.chosen_index()));
  ASSERT_OK_AND_ASSIGN(DecisionEvent logged, manager->log().GetDecision("ev1"));
  EXPECT_EQ(logged.chosen_index(), d.chosen_index());
  EXPECT_EQ(logged.variant(), d.variant());
  EXPECT_EQ(logged.unit_id(), "user1");
  EXPECT_EQ(logged.seed(), StableHash64("ev1"));
  ASSERT_EQ(logged.shadows_size(), 2);
  EXPECT_EQ(logged.shadows(0).policy_spec(), CanonicalPolicySpec("ucb1").value());
  for (const ShadowDecision& s : logged.shadows()) {
    ASSERT_EQ(s.pmf_size(), 4);
    double total = 0;
    for (double p : s.pmf()) total += p;
    EXPECT_NEAR(total, 1.0, 1e-9);
  }
  EXPECT_THAT(manager->Decide(MakeRequest("exp", "ev1", 2)),
              StatusIs(absl::StatusCode::kAlreadyExists));
  // The same unit always lands in the same variant.
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK_AND_ASSIGN(DecideResponse again,
                         manager->Decide(MakeRequest("exp", absl::StrCat("same", i), 1)));
    EXPECT_EQ(again.variant(), d.variant());
  }
  // Generated event ids are unique and logged.
  DecideRequest anonymous = MakeRequest("exp", "", 3);
  ASSERT_OK_AND_ASSIGN(DecideResponse g1, manager->Decide(anonymous));
  ASSERT_OK_AND_ASSIGN(DecideResponse g2, manager->Decide(anonymous));
  EXPECT_NE(g1.event_id(), g2.event_id());
  EXPECT_OK(manager->log().GetDecision(g2.event_id()).status());
  // Bad input.
  EXPECT_THAT(manager->Decide(MakeRequest("nope", "x", 1)), StatusIs(absl::StatusCode::kNotFound));
  DecideRequest no_actions = MakeRequest("exp", "x1", 1);
  no_actions.clear_actions();
  EXPECT_THAT(manager->Decide(no_actions), StatusIs(absl::StatusCode::kInvalidArgument));
  DecideRequest short_context = MakeRequest("exp", "x2", 1);
  short_context.mutable_context()->mutable_dense()->RemoveLast();
  EXPECT_THAT(manager->Decide(short_context), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(manager->Decide(MakeRequest("exp", "has space", 1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(manager->log().GetDecision("x2"), StatusIs(absl::StatusCode::kNotFound));
}

TEST(ExperimentTest, RewardLearnsHonoursWindowAndReportsErrors) {
  ScratchDir dir;
  ExperimentManagerOptions options;
  std::atomic<int64_t> now{5'000'000};
  options.log.now_us = [&] { return now.load(); };
  ASSERT_OK_AND_ASSIGN(auto manager, ExperimentManager::Open(dir.path(), options));
  ExperimentConfig config = TwoVariantConfig("exp");
  config.set_reward_window_ms(100);
  config.set_reward_aggregation(FIRST);
  ASSERT_OK(manager->CreateExperiment(config).status());
  ASSERT_OK_AND_ASSIGN(DecideResponse d, manager->Decide(MakeRequest("exp", "ev", 1)));
  RewardRequest r;
  r.set_experiment("exp");
  r.set_event_id("ev");
  r.set_value(1);
  ASSERT_OK_AND_ASSIGN(RewardResponse first, manager->Reward(r));
  EXPECT_TRUE(first.learned());
  EXPECT_EQ(first.aggregated(), 1);
  r.set_value(0);
  ASSERT_OK_AND_ASSIGN(RewardResponse repeat, manager->Reward(r));
  EXPECT_FALSE(repeat.learned());  // FIRST ignores repeats
  EXPECT_EQ(repeat.aggregated(), 1);
  ASSERT_OK_AND_ASSIGN(PolicyState state, manager->PolicyStateOf("exp", d.variant()));
  EXPECT_EQ(state.step(), 1);
  ASSERT_OK_AND_ASSIGN(PolicyState shadow, manager->PolicyStateOf("exp", "shadow:ucb1"));
  EXPECT_EQ(shadow.step(), 1);

  ASSERT_OK(manager->Decide(MakeRequest("exp", "late", 2)).status());
  now += 100'001;
  r.set_event_id("late");
  r.set_value(1);
  ASSERT_OK_AND_ASSIGN(RewardResponse late, manager->Reward(r));
  EXPECT_FALSE(late.learned());
  EXPECT_OK(manager->log().GetRewards("late").status());  // stored anyway

  r.set_event_id("unknown");
  EXPECT_THAT(manager->Reward(r), StatusIs(absl::StatusCode::kNotFound));
  r.set_event_id("ev");
  r.set_value(std::nan(""));
  EXPECT_THAT(manager->Reward(r), StatusIs(absl::StatusCode::kInvalidArgument));
  // A failed reward does not stall the journal: the next one still learns.
  ASSERT_OK(manager->Decide(MakeRequest("exp", "ev3", 3)).status());
  r.set_event_id("ev3");
  r.set_value(1);
  ASSERT_OK_AND_ASSIGN(RewardResponse ok, manager->Reward(r));
  EXPECT_TRUE(ok.learned());
}

// Runs decisions [begin, end) with rewards on `manager`; returns the responses.
std::vector<DecideResponse> Drive(ExperimentManager& manager, const std::string& experiment,
                                  int begin, int end, bool reward) {
  std::vector<DecideResponse> out;
  for (int i = begin; i < end; ++i) {
    auto d = manager.Decide(MakeRequest(experiment, absl::StrCat("ev", i), i));
    EXPECT_OK(d.status());
    if (!d.ok()) break;
    if (reward) {
      RewardRequest r;
      r.set_experiment(experiment);
      r.set_event_id(d->event_id());
      r.set_value(RewardOf(*d));
      EXPECT_OK(manager.Reward(r).status());
      if (i % 5 == 0) {  // a second reward for some decisions (SUM)
        r.set_value(0.5);
        EXPECT_OK(manager.Reward(r).status());
      }
    }
    out.push_back(*d);
  }
  return out;
}

TEST(ExperimentTest, RestartRestoresLearnedStateWithoutFinalSnapshot) {
  for (int snapshot_every : {7, 1000000}) {  // snapshot + replay; replay only
    SCOPED_TRACE(snapshot_every);
    ScratchDir twin_dir, restarted_dir;
    ExperimentConfig config = TwoVariantConfig("exp");
    config.set_snapshot_every_rewards(snapshot_every);
    ASSERT_OK_AND_ASSIGN(auto twin, ExperimentManager::Open(twin_dir.path(), {}));
    ASSERT_OK(twin->CreateExperiment(config).status());
    ExperimentManagerOptions no_final;
    no_final.snapshot_on_shutdown = false;
    ASSERT_OK_AND_ASSIGN(auto restarted, ExperimentManager::Open(restarted_dir.path(), no_final));
    ASSERT_OK(restarted->CreateExperiment(config).status());

    Drive(*twin, "exp", 0, 60, true);
    Drive(*restarted, "exp", 0, 60, true);
    restarted.reset();  // a crash as far as learning is concerned: no final snapshot
    ASSERT_OK_AND_ASSIGN(restarted, ExperimentManager::Open(restarted_dir.path(), no_final));

    for (const std::string variant : {"greedy", "lin", "shadow:ucb1", "shadow:lin_ts"}) {
      ASSERT_OK_AND_ASSIGN(PolicyState a, twin->PolicyStateOf("exp", variant));
      ASSERT_OK_AND_ASSIGN(PolicyState b, restarted->PolicyStateOf("exp", variant));
      EXPECT_GT(a.step(), 0) << variant;
      EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString()) << variant;
    }
    const auto after_twin = Drive(*twin, "exp", 60, 120, true);
    const auto after_restart = Drive(*restarted, "exp", 60, 120, true);
    ASSERT_EQ(after_twin.size(), after_restart.size());
    for (size_t i = 0; i < after_twin.size(); ++i) {
      EXPECT_EQ(after_twin[i].chosen_index(), after_restart[i].chosen_index()) << i;
      EXPECT_EQ(after_twin[i].policy_version(), after_restart[i].policy_version()) << i;
      EXPECT_EQ(std::vector<double>(after_twin[i].pmf().begin(), after_twin[i].pmf().end()),
                std::vector<double>(after_restart[i].pmf().begin(), after_restart[i].pmf().end()))
          << i;
    }
  }
}

// Overwrites with garbage, through RocksDB directly, every value of column
// family `cf` whose key starts with `prefix`.
void CorruptValues(const std::string& data_dir, const std::string& cf, const std::string& prefix) {
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& name : EventLog::ColumnFamilyNames()) {
    families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), data_dir + "/events", families, &handles,
                                &db).ok());
  rocksdb::ColumnFamilyHandle* handle = nullptr;
  for (size_t i = 0; i < families.size(); ++i) {
    if (families[i].name == cf) handle = handles[i];
  }
  ASSERT_NE(handle, nullptr);
  std::vector<std::string> keys;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handle));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    keys.push_back(it->key().ToString());
  }
  it.reset();
  EXPECT_FALSE(keys.empty());
  for (const std::string& key : keys) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handle, key, std::string("\xff\xff\xff\xff\x01", 5))
                    .ok());
  }
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  delete db;
}

TEST(ExperimentTest, CorruptSnapshotsAndJournalEntriesAreNotFatal) {
  ScratchDir twin_dir, dir;
  ExperimentConfig config = TwoVariantConfig("exp");
  config.set_snapshot_every_rewards(7);
  ASSERT_OK_AND_ASSIGN(auto twin, ExperimentManager::Open(twin_dir.path(), {}));
  ASSERT_OK(twin->CreateExperiment(config).status());
  Drive(*twin, "exp", 0, 40, true);
  {
    ASSERT_OK_AND_ASSIGN(auto manager, ExperimentManager::Open(dir.path(), {}));
    ASSERT_OK(manager->CreateExperiment(config).status());
    Drive(*manager, "exp", 0, 40, true);
  }
  // Every snapshot of "greedy" is garbage: it is rebuilt from the journal.
  CorruptValues(dir.path(), "snapshots", std::string("exp\0greedy\0", 11));
  {
    ASSERT_OK_AND_ASSIGN(auto manager, ExperimentManager::Open(dir.path(), {}));
    ASSERT_OK_AND_ASSIGN(PolicyState a, twin->PolicyStateOf("exp", "greedy"));
    ASSERT_OK_AND_ASSIGN(PolicyState b, manager->PolicyStateOf("exp", "greedy"));
    EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
  }
  // Garbage in one journal entry and in every snapshot: reopening still works
  // and replays the rest of the journal.
  CorruptValues(dir.path(), "learned", SeqKey("exp", 3));
  CorruptValues(dir.path(), "snapshots", std::string("exp\0", 4));
  {
    ASSERT_OK_AND_ASSIGN(auto manager, ExperimentManager::Open(dir.path(), {}));
    ASSERT_OK_AND_ASSIGN(PolicyState shadow, manager->PolicyStateOf("exp", "shadow:ucb1"));
    ASSERT_OK_AND_ASSIGN(PolicyState twin_shadow, twin->PolicyStateOf("exp", "shadow:ucb1"));
    EXPECT_EQ(shadow.step(), twin_shadow.step() - 1);  // one entry lost, the rest replayed
  }
  // A corrupt config leaves its experiment out instead of failing the open.
  CorruptValues(dir.path(), "experiments", "exp");
  ASSERT_OK_AND_ASSIGN(auto manager, ExperimentManager::Open(dir.path(), {}));
  EXPECT_THAT(manager->GetExperiment("exp"), StatusIs(absl::StatusCode::kNotFound));
}

TEST(ExperimentTest, ConcurrentRewardsAreAllLearnedOnceInJournalOrder) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(auto manager, ExperimentManager::Open(dir.path(), {}));
  ExperimentConfig config = TwoVariantConfig("exp");
  config.set_snapshot_every_rewards(10);
  ASSERT_OK(manager->CreateExperiment(config).status());
  constexpr int kThreads = 8, kPerThread = 40;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int n = t * kPerThread + i;
        auto d = manager->Decide(MakeRequest("exp", absl::StrCat("c", n), n));
        ASSERT_OK(d.status());
        RewardRequest r;
        r.set_experiment("exp");
        r.set_event_id(d->event_id());
        r.set_value(1);  // every reward is learned (first reward of its decision)
        ASSERT_OK(manager->Reward(r).status());
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_OK_AND_ASSIGN(PolicyState shadow, manager->PolicyStateOf("exp", "shadow:ucb1"));
  EXPECT_EQ(shadow.step(), kThreads * kPerThread);
  ASSERT_OK_AND_ASSIGN(int64_t last, manager->log().LastLearnSeq("exp"));
  EXPECT_EQ(last, kThreads * kPerThread);
  ASSERT_OK_AND_ASSIGN(PolicyState greedy, manager->PolicyStateOf("exp", "greedy"));
  ASSERT_OK_AND_ASSIGN(PolicyState lin, manager->PolicyStateOf("exp", "lin"));
  EXPECT_EQ(greedy.step() + lin.step(), kThreads * kPerThread);
}

TEST(ExperimentTest, DecideAsyncRepliesOnceTheDecisionIsLogged) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(auto manager, ExperimentManager::Open(dir.path(), {}));
  ASSERT_OK(manager->CreateExperiment(TwoVariantConfig("exp")).status());
  absl::Mutex mu;
  std::vector<DecideResponse> replies;
  constexpr int kN = 300;
  for (int i = 0; i < kN; ++i) {
    manager->DecideAsync(MakeRequest("exp", absl::StrCat("a", i), i),
                         [&](absl::StatusOr<DecideResponse> r) {
                           ASSERT_TRUE(r.ok()) << r.status();
                           // Durable before the reply: the log already has it.
                           EXPECT_OK(manager->log().GetDecision(r->event_id()).status());
                           absl::MutexLock lock(&mu);
                           replies.push_back(*r);
                         });
  }
  absl::Status unknown;
  manager->DecideAsync(MakeRequest("nope", "b", 0),
                       [&](absl::StatusOr<DecideResponse> r) { unknown = r.status(); });
  EXPECT_THAT(unknown, StatusIs(absl::StatusCode::kNotFound));  // at once
  absl::Status duplicate;
  manager->DecideAsync(MakeRequest("exp", "a0", 0), [&](absl::StatusOr<DecideResponse> r) {
    absl::MutexLock lock(&mu);
    duplicate = r.status();
  });
  {
    absl::MutexLock lock(&mu);
    auto all = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return static_cast<int>(replies.size()) == kN && !duplicate.ok();
    };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(60)));
  }
  EXPECT_THAT(duplicate, StatusIs(absl::StatusCode::kAlreadyExists));
  // The same choice a synchronous Decide of the same event would log.
  for (const DecideResponse& r : replies) {
    ASSERT_OK_AND_ASSIGN(DecisionEvent logged, manager->log().GetDecision(r.event_id()));
    EXPECT_EQ(logged.chosen_index(), r.chosen_index());
    EXPECT_DOUBLE_EQ(logged.pmf(r.chosen_index()), r.propensity());
  }
}

// ------------------------------------------------------------------ slates

TEST(ExperimentTest, DecideSlateAtWeightZeroKeepsTheModelOrderWhateverTheFloor) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(auto manager, ExperimentManager::Open(dir.path(), {}));
  ExperimentConfig config;
  config.set_name("home");
  config.set_exploration_floor(0.02);  // 60 candidates: the old code went fully uniform
  Variant* v = config.add_variants();
  v->set_name("eg");
  v->set_policy_spec("epsilon_greedy:epsilon=0.2");
  v->set_traffic_weight(1);
  ASSERT_OK(manager->CreateExperiment(config).status());
  for (int call = 0; call < 20; ++call) {
    SlateRequest request;
    request.decide.set_experiment("home");
    for (int i = 0; i < 60; ++i) request.decide.add_actions()->set_id(absl::StrCat("i", i));
    request.slate_size = 5;
    request.exploration_weight = 0;
    ASSERT_OK_AND_ASSIGN(SlateDecision slate, manager->DecideSlate(request));
    EXPECT_THAT(slate.slate, ::testing::ElementsAre(0, 1, 2, 3, 4));
    EXPECT_THAT(slate.propensities, ::testing::Each(1.0));
  }
}

TEST(ExperimentTest, DecideSlateLogsTheSlateAndLearnsForTheFirstItem) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(auto manager, ExperimentManager::Open(dir.path(), {}));
  ExperimentConfig config;
  config.set_name("home");
  config.set_exploration_floor(0.02);
  Variant* v = config.add_variants();
  v->set_name("eg");
  v->set_policy_spec("epsilon_greedy:epsilon=0.5");
  v->set_traffic_weight(1);
  ASSERT_OK(manager->CreateExperiment(config).status());
  SlateRequest request;
  request.decide.set_experiment("home");
  request.decide.set_event_id("slate-1");
  request.decide.set_unit_id("u1");
  for (const char* id : {"x", "y", "z", "w", "v"}) request.decide.add_actions()->set_id(id);
  request.slate_size = 3;
  request.exploration_weight = 0.3;
  ASSERT_OK_AND_ASSIGN(SlateDecision slate, manager->DecideSlate(request));
  ASSERT_EQ(slate.slate.size(), 3u);
  EXPECT_EQ(slate.decide.chosen_index(), slate.slate[0]);
  EXPECT_DOUBLE_EQ(slate.decide.propensity(), slate.propensities[0]);
  // Replayable from the log: the same pmf and seed give the same slate.
  ASSERT_OK_AND_ASSIGN(DecisionEvent logged, manager->log().GetDecision("slate-1"));
  EXPECT_THAT(logged.slate_indices(), ::testing::ElementsAreArray(slate.slate));
  EXPECT_THAT(logged.slate_propensities(), ::testing::ElementsAreArray(slate.propensities));
  EXPECT_DOUBLE_EQ(logged.exploration_weight(), 0.3);
  EXPECT_EQ(logged.chosen_index(), slate.slate[0]);
  ASSERT_EQ(logged.pmf_size(), 5);
  EXPECT_NEAR(std::accumulate(logged.pmf().begin(), logged.pmf().end(), 0.0), 1.0, 1e-12);
  // The untrained epsilon-greedy pmf is uniform (0.2 each; the 0.02 floor
  // is inside it), mixed with the model's first item at weight 0.3.
  for (int i = 0; i < 5; ++i) {
    const double mixed = 0.3 * 0.2 + (i == 0 ? 0.7 : 0.0);
    EXPECT_NEAR(logged.pmf(i), mixed, 1e-12) << i;
  }
  RewardRequest reward;
  reward.set_experiment("home");
  reward.set_event_id("slate-1");
  reward.set_value(1);
  ASSERT_OK_AND_ASSIGN(RewardResponse r, manager->Reward(reward));
  EXPECT_TRUE(r.learned());
  ASSERT_OK_AND_ASSIGN(PolicyState state, manager->PolicyStateOf("home", "eg"));
  const std::string first_item = request.decide.actions(slate.slate[0]).id();
  bool found = false;
  for (const ArmStat& arm : state.arm_stats().arms()) {
    if (arm.action() == first_item) {
      found = true;
      EXPECT_EQ(arm.pulls(), 1);
      EXPECT_DOUBLE_EQ(arm.reward_sum(), 1.0);
    }
  }
  EXPECT_TRUE(found) << "the reward is learned for the first item " << first_item;

  request.decide.set_event_id("slate-2");
  request.slate_size = 6;
  EXPECT_THAT(manager->DecideSlate(request), StatusIs(absl::StatusCode::kInvalidArgument));
  request.slate_size = 2;
  request.exploration_weight = 1.5;
  EXPECT_THAT(manager->DecideSlate(request), StatusIs(absl::StatusCode::kInvalidArgument));
  request.exploration_weight = 0.5;
  request.decide.set_event_id("slate-1");
  EXPECT_THAT(manager->DecideSlate(request), StatusIs(absl::StatusCode::kAlreadyExists));
}

}  // namespace
}  // namespace recbandit::bandits
