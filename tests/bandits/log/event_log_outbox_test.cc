// Tests of the event log's scale-out bookkeeping (event_log.h, "scale-out
// bookkeeping"): outbox positions follow commit order with no gaps under
// concurrent writers and survive a reopen; what came from the stream is
// stored without an outbox entry; a replicated reward is judged by its own
// arrival time and stored once by its reward id; replicated interactions are
// stored once; the cursors and stream positions are durable. The experiment
// manager's replicated mode: Reward only queues; the stream's order alone
// decides what is learned.
#include <cmath>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bandits/experiment.h"
#include "bandits/log/event_log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::bandits {
namespace {

using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;

DecisionEvent Decision(const std::string& experiment, const std::string& id, int64_t ts) {
  DecisionEvent e;
  e.set_event_id(id);
  e.set_experiment(experiment);
  e.set_variant("eg");
  e.set_timestamp_us(ts);
  for (const char* a : {"x", "y"}) e.add_actions()->set_id(a);
  e.add_pmf(0.5);
  e.add_pmf(0.5);
  e.set_chosen_index(1);
  e.set_chosen_action("y");
  return e;
}

EventLogOptions WithOutbox(const std::string& origin) {
  EventLogOptions o;
  o.outbox_origin = origin;
  return o;
}

std::vector<StreamRecord> Outbox(const EventLog& log) {
  std::vector<StreamRecord> out;
  EXPECT_OK(log.ScanOutbox(0, 1 << 30, [&](const StreamRecord& r) {
    out.push_back(r);
    return absl::OkStatus();
  }));
  return out;
}

TEST(EventLogOutboxTest, PositionsFollowCommitsWithoutGapsAndSurviveReopen) {
  ScratchDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), WithOutbox("r1")));
    ExperimentConfig config;
    config.set_name("exp");
    ASSERT_OK(log->CreateExperiment(config));
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&log, t] {
        for (int i = 0; i < 50; ++i) {
          ASSERT_OK(log->AppendDecision(Decision("exp", absl::StrCat("t", t, "-", i), i)));
        }
      });
    }
    for (std::thread& th : threads) th.join();
    Interaction x;
    x.set_user("u");
    x.set_item("i");
    x.set_weight(1);
    ASSERT_OK(log->AppendInteractions({x}));
    EXPECT_EQ(log->LastOutboxSeq(), 202);
  }
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), WithOutbox("r1")));
  EXPECT_EQ(log->LastOutboxSeq(), 202);
  std::vector<StreamRecord> records = Outbox(*log);
  ASSERT_EQ(records.size(), 202u);
  std::set<std::string> ids;
  for (size_t i = 0; i < records.size(); ++i) {
    EXPECT_EQ(records[i].origin(), "r1");
    EXPECT_EQ(records[i].origin_seq(), static_cast<int64_t>(i + 1));
    if (records[i].has_decision()) ids.insert(records[i].decision().event_id());
  }
  EXPECT_TRUE(records.front().has_experiment());
  EXPECT_TRUE(records.back().has_interactions());
  EXPECT_EQ(ids.size(), 200u);
  // Published records leave the outbox; the position is durable.
  ASSERT_OK(log->MarkPublished(150));
  EXPECT_EQ(Outbox(*log).size(), 52u);
  EXPECT_EQ(Outbox(*log).front().origin_seq(), 151);
  log.reset();
  ASSERT_OK_AND_ASSIGN(log, EventLog::Open(dir.path(), WithOutbox("r1")));
  ASSERT_OK_AND_ASSIGN(int64_t published, log->PublishedSeq());
  EXPECT_EQ(published, 150);
  ASSERT_OK_AND_ASSIGN(int64_t seq, log->AppendOutbox(StreamRecord()));
  EXPECT_EQ(seq, 203);
}

TEST(EventLogOutboxTest, WhatCameFromTheStreamIsNotPublishedAgain) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), WithOutbox("r2")));
  ExperimentConfig config;
  config.set_name("exp");
  ASSERT_OK(log->CreateReplicatedExperiment(config));
  EXPECT_THAT(log->CreateReplicatedExperiment(config), StatusIs(absl::StatusCode::kAlreadyExists));
  ASSERT_OK(log->StoreReplicatedDecision(Decision("exp", "e1", 5)));
  EXPECT_THAT(log->StoreReplicatedDecision(Decision("exp", "e1", 5)),
              StatusIs(absl::StatusCode::kAlreadyExists));
  Interaction x;
  x.set_user("u");
  x.set_item("i");
  x.set_weight(1);
  ASSERT_OK(log->StoreReplicatedInteractions({x}, "r1:7"));
  ASSERT_OK(log->StoreReplicatedInteractions({x}, "r1:7"));  // a replay: stored once
  int stored = 0;
  ASSERT_OK(log->ScanInteractions("u", [&](const Interaction&) {
    ++stored;
    return absl::OkStatus();
  }));
  EXPECT_EQ(stored, 1);
  EXPECT_EQ(log->LastOutboxSeq(), 0);
  EXPECT_TRUE(Outbox(*log).empty());
  ASSERT_OK_AND_ASSIGN(DecisionEvent d, log->GetDecision("e1"));
  EXPECT_EQ(d.timestamp_us(), 5);
}

TEST(EventLogOutboxTest, ReplicatedRewardIsJudgedByItsOwnArrivalAndStoredOnce) {
  ScratchDir dir;
  EventLogOptions options = WithOutbox("r1");
  options.now_us = [] { return int64_t{10'000'000'000}; };  // far after every reward
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), options));
  ExperimentConfig config;
  config.set_name("exp");
  config.set_reward_window_ms(1000);
  ASSERT_OK(log->StoreReplicatedDecision(Decision("exp", "e1", 1'000'000)));
  StreamReward r;
  r.set_experiment("exp");
  r.set_event_id("e1");
  r.set_value(1);
  r.set_timestamp_us(1'500'000);  // 0.5 s after the decision: in the window
  r.set_reward_id("r1:1");
  int64_t seq = 0;
  ASSERT_OK_AND_ASSIGN(RewardOutcome first, log->AddReplicatedReward(config, r, [&] { return ++seq; }));
  EXPECT_FALSE(first.late);
  EXPECT_TRUE(first.learned);
  EXPECT_THAT(log->AddReplicatedReward(config, r, [&] { return ++seq; }),
              StatusIs(absl::StatusCode::kAlreadyExists));
  r.set_reward_id("r2:1");
  r.set_timestamp_us(2'500'000);  // 1.5 s after: late, wherever it is applied
  ASSERT_OK_AND_ASSIGN(RewardOutcome late, log->AddReplicatedReward(config, r, [&] { return ++seq; }));
  EXPECT_TRUE(late.late);
  EXPECT_FALSE(late.learned);
  ASSERT_OK_AND_ASSIGN(RewardRecord record, log->GetRewards("e1"));
  ASSERT_EQ(record.rewards_size(), 2);
  EXPECT_EQ(record.rewards(0).reward_id(), "r1:1");
  EXPECT_EQ(record.rewards(1).timestamp_us(), 2'500'000);
  EXPECT_EQ(seq, 1);
  // Cursors and stream positions are durable counters.
  ASSERT_OK(log->SetAppliedStreamSeq(42));
  ASSERT_OK(log->PutStreamPosition("e1", 17));
  log.reset();
  ASSERT_OK_AND_ASSIGN(log, EventLog::Open(dir.path(), options));
  ASSERT_OK_AND_ASSIGN(uint64_t applied, log->AppliedStreamSeq());
  EXPECT_EQ(applied, 42u);
  ASSERT_OK_AND_ASSIGN(std::optional<uint64_t> pos, log->StreamPosition("e1"));
  EXPECT_EQ(pos, std::optional<uint64_t>(17));
  ASSERT_OK_AND_ASSIGN(pos, log->StreamPosition("e2"));
  EXPECT_FALSE(pos.has_value());
}

TEST(EventLogOutboxTest, AppendOutboxNeedsAnOrigin) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
  EXPECT_THAT(log->AppendOutbox(StreamRecord()),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK(log->AppendDecision(Decision("exp", "e1", 1)));
  EXPECT_EQ(log->LastOutboxSeq(), 0);  // one server: no outbox
}

// Two managers fed the same stream records in the same order learn the same
// state, whichever replica the rewards were queued on; Reward only queues.
TEST(ExperimentManagerReplicatedTest, TheStreamOrderAloneDecidesWhatIsLearned) {
  ScratchDir d1, d2;
  ASSERT_OK_AND_ASSIGN(auto log1, EventLog::Open(d1.path(), WithOutbox("r1")));
  ASSERT_OK_AND_ASSIGN(auto log2, EventLog::Open(d2.path(), WithOutbox("r2")));
  ExperimentManagerOptions options;
  options.replicated = true;
  ASSERT_OK_AND_ASSIGN(auto m1, ExperimentManager::Open(log1.get(), options));
  ASSERT_OK_AND_ASSIGN(auto m2, ExperimentManager::Open(log2.get(), options));
  ExperimentConfig config;
  config.set_name("exp");
  Variant* v = config.add_variants();
  v->set_name("eg");
  v->set_policy_spec("epsilon_greedy:epsilon=0.1");
  v->set_traffic_weight(1);
  ASSERT_OK_AND_ASSIGN(ExperimentConfig stored, m1->CreateExperiment(config));
  ASSERT_OK(m2->ApplyStreamExperiment(stored));
  ASSERT_OK(m2->ApplyStreamExperiment(stored));  // a replay
  // Decisions on r1; rewards queued on either replica.
  std::vector<StreamRecord> stream;
  for (int i = 0; i < 20; ++i) {
    DecideRequest d;
    d.set_experiment("exp");
    d.set_event_id(absl::StrCat("e", i));
    for (const char* a : {"x", "y", "z"}) d.add_actions()->set_id(a);
    ASSERT_OK(m1->Decide(d).status());
    RewardRequest r;
    r.set_experiment("exp");
    r.set_event_id(absl::StrCat("e", i));
    r.set_value(0.1 * i);
    ASSERT_OK_AND_ASSIGN(RewardResponse queued, (i % 2 ? m2 : m1)->Reward(r));
    EXPECT_TRUE(queued.queued());
    EXPECT_FALSE(queued.learned());
  }
  EXPECT_THAT(m1->Reward([] {
                RewardRequest r;
                r.set_experiment("exp");
                r.set_event_id("e1");
                r.set_value(std::nan(""));
                return r;
              }()),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Nothing learned yet: rewards wait for the stream.
  ASSERT_OK_AND_ASSIGN(PolicyState before, m1->PolicyStateOf("exp", "eg"));
  EXPECT_EQ(before.step(), 0);
  // "The stream": r1's outbox, then r2's (one interleaving), applied on both.
  for (EventLog* log : {log1.get(), log2.get()}) {
    for (const StreamRecord& r : Outbox(*log)) stream.push_back(r);
  }
  for (const StreamRecord& r : stream) {
    if (r.has_decision()) {
      ASSERT_THAT(log2->StoreReplicatedDecision(r.decision()).code(),
                  ::testing::AnyOf(absl::StatusCode::kOk, absl::StatusCode::kAlreadyExists));
    }
  }
  for (const StreamRecord& r : stream) {
    if (!r.has_reward()) continue;
    ASSERT_OK(m1->ApplyStreamReward(r.reward()));
    ASSERT_OK(m2->ApplyStreamReward(r.reward()));
    ASSERT_OK(m2->ApplyStreamReward(r.reward()));  // a replay learns nothing more
  }
  ASSERT_OK_AND_ASSIGN(PolicyState s1, m1->PolicyStateOf("exp", "eg"));
  ASSERT_OK_AND_ASSIGN(PolicyState s2, m2->PolicyStateOf("exp", "eg"));
  EXPECT_EQ(s1.step(), 20);
  EXPECT_EQ(s1.SerializeAsString(), s2.SerializeAsString());
}

}  // namespace
}  // namespace recbandit::bandits
