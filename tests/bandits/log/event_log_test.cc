// Tests of bandits::EventLog: durability across SIGKILL, reward joins with
// aggregation and window, corrupt values, secondary readers, snapshots.
#include "bandits/log/event_log.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bandits/log/log_keys.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::bandits {
namespace {

using ::recbandit::testing::IsOk;
using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;
using ::testing::HasSubstr;

DecisionEvent MakeDecision(const std::string& experiment, const std::string& id, int64_t ts) {
  DecisionEvent e;
  e.set_event_id(id);
  e.set_experiment(experiment);
  e.set_variant("a");
  e.set_timestamp_us(ts);
  e.mutable_context()->add_dense(0.5f);
  for (const char* a : {"x", "y"}) e.add_actions()->set_id(a);
  e.add_pmf(0.25);
  e.add_pmf(0.75);
  e.set_chosen_index(1);
  e.set_chosen_action("y");
  return e;
}

ExperimentConfig MakeConfig(const std::string& name, RewardAggregation aggregation,
                            int64_t window_ms) {
  ExperimentConfig c;
  c.set_name(name);
  c.set_reward_aggregation(aggregation);
  c.set_reward_window_ms(window_ms);
  return c;
}

struct FakeClock {
  std::atomic<int64_t> now{1'000'000};
  std::function<int64_t()> Fn() {
    return [this] { return now.load(); };
  }
};

TEST(EventLogTest, AppendsReadsAndRejectsDuplicates) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
  ASSERT_OK(log->AppendDecision(MakeDecision("exp", "e1", 10)));
  EXPECT_THAT(log->AppendDecision(MakeDecision("exp", "e1", 20)),
              StatusIs(absl::StatusCode::kAlreadyExists));
  ASSERT_OK_AND_ASSIGN(DecisionEvent e, log->GetDecision("e1"));
  EXPECT_EQ(e.timestamp_us(), 10);
  EXPECT_EQ(e.chosen_action(), "y");
  EXPECT_THAT(log->GetDecision("nope"), StatusIs(absl::StatusCode::kNotFound));
  DecisionEvent bad = MakeDecision("exp", "", 1);
  EXPECT_THAT(log->AppendDecision(bad), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(EventLogTest, ScansOneExperimentInTimeOrderWithinRange) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
  // "ex" is a prefix of "exp": its events must not leak into "ex" scans.
  ASSERT_OK(log->AppendDecision(MakeDecision("exp", "c", 300)));
  ASSERT_OK(log->AppendDecision(MakeDecision("exp", "a", 100)));
  ASSERT_OK(log->AppendDecision(MakeDecision("exp", "b", 200)));
  ASSERT_OK(log->AppendDecision(MakeDecision("ex", "z", 150)));
  ASSERT_OK(log->AppendDecision(MakeDecision("exq", "w", 150)));
  auto scan = [&](const std::string& exp, int64_t start, int64_t end) {
    std::vector<std::string> ids;
    EXPECT_OK(log->ScanDecisions(exp, start, end, [&](const DecisionEvent& e) {
      ids.push_back(e.event_id());
      return absl::OkStatus();
    }));
    return ids;
  };
  EXPECT_EQ(scan("exp", 0, 0), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(scan("exp", 200, 0), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(scan("exp", 100, 300), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(scan("ex", 0, 0), (std::vector<std::string>{"z"}));
  EXPECT_TRUE(scan("e", 0, 0).empty());
}

TEST(EventLogTest, StoresExperimentsAndLatestSnapshot) {
  ScratchDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
    ASSERT_OK(log->CreateExperiment(MakeConfig("b", SUM, 0)));
    ASSERT_OK(log->CreateExperiment(MakeConfig("a", LAST, 5)));
    EXPECT_THAT(log->CreateExperiment(MakeConfig("a", SUM, 0)),
                StatusIs(absl::StatusCode::kAlreadyExists));
    for (int version : {3, 12, 7}) {
      PolicySnapshot s;
      s.set_experiment("a");
      s.set_variant("v");
      s.set_version(version);
      ASSERT_OK(log->PutSnapshot(s));
    }
    PolicySnapshot other;
    other.set_experiment("a");
    other.set_variant("v2");
    other.set_version(99);
    ASSERT_OK(log->PutSnapshot(other));
  }
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
  ASSERT_OK_AND_ASSIGN(auto all, log->ListExperiments());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name(), "a");
  EXPECT_EQ(all[0].reward_aggregation(), LAST);
  EXPECT_EQ(all[1].name(), "b");
  EXPECT_THAT(log->GetExperiment("c"), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK_AND_ASSIGN(auto latest, log->LatestSnapshot("a", "v"));
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->version(), 12);
  ASSERT_OK_AND_ASSIGN(auto none, log->LatestSnapshot("a", "w"));
  EXPECT_FALSE(none.has_value());
}

// Adds rewards to one decision and returns (learned, learn_value, aggregated).
struct Step {
  bool learned;
  double value;
  double aggregated;
};

std::vector<Step> RewardSequence(RewardAggregation aggregation, const std::vector<double>& values) {
  ScratchDir dir;
  EventLogOptions options;
  FakeClock clock;
  options.now_us = clock.Fn();
  auto log = EventLog::Open(dir.path(), options).value();
  const ExperimentConfig config = MakeConfig("exp", aggregation, 0);
  EXPECT_OK(log->AppendDecision(MakeDecision("exp", "e", 1'000'000)));
  int64_t seq = 0;
  std::vector<Step> out;
  for (double v : values) {
    auto r = log->AddReward(config, "e", v, [&] { return ++seq; });
    EXPECT_OK(r.status());
    out.push_back({r->learned, r->learn_value, r->record.aggregated()});
  }
  // The journal holds exactly the learned values, in order.
  std::vector<double> journal;
  EXPECT_OK(log->ScanLearned("exp", 0, [&](int64_t s, const LearnedReward& l) {
    journal.push_back(l.value());
    return absl::OkStatus();
  }));
  std::vector<double> learned;
  for (const Step& s : out) {
    if (s.learned) learned.push_back(s.value);
  }
  EXPECT_EQ(journal, learned);
  EXPECT_EQ(log->LastLearnSeq("exp").value(), static_cast<int64_t>(learned.size()));
  return out;
}

TEST(EventLogTest, RewardAggregationSumFirstLast) {
  auto sum = RewardSequence(SUM, {1, 0, 2, 0.5});
  EXPECT_DOUBLE_EQ(sum.back().aggregated, 3.5);
  EXPECT_TRUE(sum[0].learned);
  EXPECT_FALSE(sum[1].learned);  // adds 0: nothing to learn
  EXPECT_TRUE(sum[2].learned);
  EXPECT_DOUBLE_EQ(sum[2].value, 2);
  auto first = RewardSequence(FIRST, {0.25, 1, 2});
  EXPECT_DOUBLE_EQ(first.back().aggregated, 0.25);
  EXPECT_TRUE(first[0].learned);
  EXPECT_FALSE(first[1].learned);
  EXPECT_FALSE(first[2].learned);
  auto last = RewardSequence(LAST, {1, 0.25, 0.25, 3});
  EXPECT_DOUBLE_EQ(last.back().aggregated, 3);
  EXPECT_DOUBLE_EQ(last[1].value, -0.75);  // learned values sum to the aggregate
  EXPECT_FALSE(last[2].learned);
  EXPECT_DOUBLE_EQ(last[3].value, 2.75);
  // Unspecified aggregation is SUM.
  EXPECT_DOUBLE_EQ(RewardSequence(REWARD_AGGREGATION_UNSPECIFIED, {1, 1}).back().aggregated, 2);
}

TEST(EventLogTest, RewardWindowStoresLateRewardsWithoutLearning) {
  ScratchDir dir;
  FakeClock clock;
  EventLogOptions options;
  options.now_us = clock.Fn();
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), options));
  const ExperimentConfig config = MakeConfig("exp", SUM, /*window_ms=*/1000);
  ASSERT_OK(log->AppendDecision(MakeDecision("exp", "e", clock.now.load())));
  int64_t seq = 0;
  auto next = [&] { return ++seq; };
  clock.now += 1'000'000;  // exactly at the window's end: still in time
  ASSERT_OK_AND_ASSIGN(RewardOutcome in_time, log->AddReward(config, "e", 1, next));
  EXPECT_FALSE(in_time.late);
  EXPECT_TRUE(in_time.learned);
  clock.now += 1;  // one microsecond late
  ASSERT_OK_AND_ASSIGN(RewardOutcome late, log->AddReward(config, "e", 5, next));
  EXPECT_TRUE(late.late);
  EXPECT_FALSE(late.learned);
  EXPECT_DOUBLE_EQ(late.record.aggregated(), 1);
  ASSERT_OK_AND_ASSIGN(RewardRecord record, log->GetRewards("e"));
  ASSERT_EQ(record.rewards_size(), 2);
  EXPECT_FALSE(record.rewards(0).late());
  EXPECT_TRUE(record.rewards(1).late());
  EXPECT_DOUBLE_EQ(record.rewards(1).value(), 5);
  EXPECT_EQ(seq, 1);

  // A decision whose only reward is late has no aggregated reward.
  ASSERT_OK(log->AppendDecision(MakeDecision("exp", "f", clock.now.load())));
  clock.now += 2'000'000;
  ASSERT_OK_AND_ASSIGN(RewardOutcome only_late, log->AddReward(config, "f", 1, next));
  EXPECT_TRUE(only_late.late);
  EXPECT_FALSE(only_late.learned);
  EXPECT_DOUBLE_EQ(only_late.record.aggregated(), 0);
}

TEST(EventLogTest, RewardErrors) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
  ASSERT_OK(log->AppendDecision(MakeDecision("exp", "e", 5)));
  auto next = [] { return int64_t{1}; };
  EXPECT_THAT(log->AddReward(MakeConfig("exp", SUM, 0), "nope", 1, next),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(log->AddReward(MakeConfig("other", SUM, 0), "e", 1, next),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("belongs to experiment")));
  EXPECT_THAT(log->AddReward(MakeConfig("exp", SUM, 0), "e", std::nan(""), next),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("finite")));
  EXPECT_THAT(log->GetRewards("e"), StatusIs(absl::StatusCode::kNotFound));
}

TEST(EventLogTest, ARewardThatWouldOverflowTheSumIsRefusedAndChangesNothing) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
  ASSERT_OK(log->AppendDecision(MakeDecision("exp", "e", 5)));
  int64_t seq = 0;
  auto next = [&] { return ++seq; };
  const ExperimentConfig config = MakeConfig("exp", SUM, 0);
  // Out-of-range single values, NaN and infinities never reach storage.
  for (double bad : {1e308, -1e308, kMaxAbsReward * 2, std::nan(""), HUGE_VAL, -HUGE_VAL}) {
    EXPECT_THAT(log->AddReward(config, "e", bad, next),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("within")))
        << bad;
  }
  EXPECT_THAT(log->GetRewards("e"), StatusIs(absl::StatusCode::kNotFound));
  // The largest value is accepted once; a second one would push the SUM
  // past the bound: refused, and the stored record and journal are as before.
  ASSERT_OK(log->AddReward(config, "e", kMaxAbsReward, next).status());
  EXPECT_THAT(log->AddReward(config, "e", kMaxAbsReward, next),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("aggregated")));
  ASSERT_OK_AND_ASSIGN(RewardRecord record, log->GetRewards("e"));
  EXPECT_EQ(record.rewards_size(), 1);
  EXPECT_EQ(record.aggregated(), kMaxAbsReward);
  EXPECT_EQ(seq, 1);  // no journal entry was allocated for the refused one
  // A reward that brings the sum back is fine.
  ASSERT_OK_AND_ASSIGN(RewardOutcome back, log->AddReward(config, "e", -1, next));
  EXPECT_EQ(back.record.aggregated(), kMaxAbsReward - 1);
}

// Overwrites the value of `key` in column family `cf` with garbage, through
// RocksDB directly.
void CorruptValue(const std::string& data_dir, const std::string& cf, const std::string& key) {
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& name : EventLog::ColumnFamilyNames()) families.emplace_back(name,
                                                                                      rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), data_dir + "/events", families, &handles, &db)
                  .ok());
  int index = -1;
  for (size_t i = 0; i < families.size(); ++i) {
    if (families[i].name == cf) index = static_cast<int>(i);
  }
  ASSERT_GE(index, 0);
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), handles[index], key,
                      std::string("\xff\xff\xff\xff\xff\x01garbage", 12))
                  .ok());
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  delete db;
}

TEST(EventLogTest, ReadersOpenALogWrittenBeforeDeploymentsExisted) {
  // A log with only the eight families the log had before deployments.
  ScratchDir dir;
  {
    rocksdb::DBOptions options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (size_t i = 0; i < 8; ++i) {
      families.emplace_back(EventLog::ColumnFamilyNames()[i], rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(
        rocksdb::DB::Open(options, dir.path() + "/events", families, &handles, &db).ok());
    for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    delete db;
  }
  EventLogOptions read_only;
  read_only.mode = EventLogOptions::Mode::kReadOnly;
  {
    ASSERT_OK_AND_ASSIGN(auto reader, EventLog::Open(dir.path(), read_only));
    ASSERT_OK_AND_ASSIGN(std::vector<Deployment> none, reader->ListDeployments());
    EXPECT_TRUE(none.empty());
    ASSERT_OK_AND_ASSIGN(std::vector<DeploymentChange> no_changes,
                         reader->ListDeploymentChanges("d"));
    EXPECT_TRUE(no_changes.empty());
  }
  // The writer adds the families; a change is then journaled and readable.
  {
    ASSERT_OK_AND_ASSIGN(auto writer, EventLog::Open(dir.path(), {}));
    DeploymentChange change;
    change.set_kind(DeploymentChange::CREATED);
    change.mutable_deployment()->set_name("d");
    ASSERT_OK(writer->WriteDeploymentChange(change));
    EXPECT_THAT(writer->WriteDeploymentChange(change),
                StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("deployment 'd'")));
    change.set_kind(DeploymentChange::DELETED);
    ASSERT_OK(writer->WriteDeploymentChange(change));
    EXPECT_THAT(writer->WriteDeploymentChange(change), StatusIs(absl::StatusCode::kNotFound));
  }
  ASSERT_OK_AND_ASSIGN(auto reader, EventLog::Open(dir.path(), read_only));
  ASSERT_OK_AND_ASSIGN(std::vector<DeploymentChange> changes, reader->ListDeploymentChanges("d"));
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].kind(), DeploymentChange::CREATED);
  EXPECT_EQ(changes[1].kind(), DeploymentChange::DELETED);
  ASSERT_OK_AND_ASSIGN(std::vector<Deployment> left, reader->ListDeployments());
  EXPECT_TRUE(left.empty());
}

TEST(EventLogTest, CorruptValueIsReportedNotFatal) {
  ScratchDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
    for (int i = 0; i < 3; ++i) {
      ASSERT_OK(log->AppendDecision(MakeDecision("exp", absl::StrCat("e", i), 100 + i)));
    }
    ASSERT_OK(log->CreateExperiment(MakeConfig("exp", SUM, 0)));
  }
  CorruptValue(dir.path(), "decisions", DecisionKey("exp", 101, "e1"));
  CorruptValue(dir.path(), "experiments", "exp");
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
  EXPECT_THAT(log->GetDecision("e1"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("e1")));
  EXPECT_OK(log->GetDecision("e0").status());
  EXPECT_THAT(log->GetExperiment("exp"), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("exp")));
  auto count = [](int* n) {
    return [n](const DecisionEvent&) {
      ++*n;
      return absl::OkStatus();
    };
  };
  int seen = 0;
  EXPECT_THAT(log->ScanDecisions("exp", 0, 0, count(&seen)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("decisions key 'exp")));
  EXPECT_EQ(seen, 1);  // stopped at the corrupt record
  seen = 0;
  ScanStats stats;
  EXPECT_OK(log->ScanDecisions("exp", 0, 0, count(&seen), /*skip_corrupt=*/true, &stats));
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(stats.records, 2);
  EXPECT_EQ(stats.skipped_corrupt, 1);
  // The log still takes writes.
  EXPECT_OK(log->AppendDecision(MakeDecision("exp", "e9", 200)));
}

// Files of `suffix` (".log", ".sst") in the log's folder, largest first.
std::vector<std::string> LogFiles(const std::string& data_dir, const std::string& suffix) {
  std::vector<std::pair<uintmax_t, std::string>> found;
  for (const auto& e : std::filesystem::directory_iterator(data_dir + "/events")) {
    const std::string name = e.path().string();
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(),
                                                    suffix) == 0) {
      found.emplace_back(e.file_size(), name);
    }
  }
  std::sort(found.rbegin(), found.rend());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

// Overwrites 8 bytes at the middle of `path` with their complement.
void FlipMiddleBytes(const std::string& path) {
  std::string bytes = ::recbandit::testing::ReadTextFile(path);
  ASSERT_GT(bytes.size(), 64u);
  for (size_t i = bytes.size() / 2; i < bytes.size() / 2 + 8; ++i) bytes[i] = ~bytes[i];
  ::recbandit::testing::WriteTextFile(path, bytes);
}

int CountDecisions(EventLog& log) {
  int n = 0;
  EXPECT_OK(log.ScanDecisions("exp", 0, 0, [&](const DecisionEvent&) {
    ++n;
    return absl::OkStatus();
  }));
  return n;
}

void AppendDecisions(const std::string& data_dir, int n) {
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(data_dir, {}));
  for (int i = 0; i < n; ++i) {
    ASSERT_OK(log->AppendDecision(MakeDecision("exp", absl::StrCat("e", i), 100 + i)));
  }
}

// Expects every way of opening the log (a secondary, read-only, the writer;
// the writer last, since it may write) to refuse it with DATA_LOSS naming
// `file`.
void ExpectEveryReaderRefuses(const std::string& data_dir, const std::string& file) {
  for (auto mode : {EventLogOptions::Mode::kSecondary, EventLogOptions::Mode::kReadOnly,
                    EventLogOptions::Mode::kReadWrite}) {
    EventLogOptions options;
    options.mode = mode;
    EXPECT_THAT(EventLog::Open(data_dir, options),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr(file)))
        << file << " " << static_cast<int>(mode);
  }
}

TEST(EventLogTest, ACorruptWriteAheadLogRefusesToOpenNamingTheFile) {
  ScratchDir dir;
  AppendDecisions(dir.path(), 400);
  const std::vector<std::string> wals = LogFiles(dir.path(), ".log");
  ASSERT_FALSE(wals.empty());
  FlipMiddleBytes(wals[0]);
  ExpectEveryReaderRefuses(dir.path(), std::filesystem::path(wals[0]).filename().string());
}

TEST(EventLogTest, RepairDropsOnlyTheDamagedRecordsReportsThemAndKeepsACopy) {
  ScratchDir dir;
  AppendDecisions(dir.path(), 400);
  const std::vector<std::string> wals = LogFiles(dir.path(), ".log");
  ASSERT_FALSE(wals.empty());
  FlipMiddleBytes(wals[0]);
  ASSERT_OK_AND_ASSIGN(LogRepairReport report, EventLog::Repair(dir.path()));
  // RocksDB skips the rest of the 32 KB WAL block a bad record sits in: a
  // few dozen decisions, exactly counted, never the rest of the log.
  EXPECT_GE(report.operations_lost, 2);
  EXPECT_LE(report.operations_lost, 2 * 200);
  EXPECT_GT(report.bytes_dropped, 0);
  EXPECT_LE(report.bytes_dropped, 2 * 32768);
  EXPECT_EQ(report.damaged_files.size(), 1u);
  EXPECT_TRUE(std::filesystem::exists(report.damaged_copy + "/" +
                                      std::filesystem::path(wals[0]).filename().string()));
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
  const int kept = CountDecisions(*log);
  // Each decision is one batch of two operations (decision + event index).
  EXPECT_EQ(kept, 400 - report.operations_lost / 2);
  EXPECT_GT(kept, 200);  // the records after the damaged block are kept
  // A repaired log opens again and again, and a second repair finds nothing.
  log.reset();
  ASSERT_OK_AND_ASSIGN(LogRepairReport again, EventLog::Repair(dir.path()));
  EXPECT_EQ(again.operations_lost, 0);
  EXPECT_EQ(again.bytes_dropped, 0);
}

TEST(EventLogTest, ATruncatedOrMissingTableFileIsDataLossForEveryReader) {
  for (const bool remove : {false, true}) {
    ScratchDir dir;
    AppendDecisions(dir.path(), 300);
    {  // Move the decisions from the WAL into table files.
      ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
      ASSERT_OK(log->Flush());
    }
    const std::vector<std::string> tables = LogFiles(dir.path(), ".sst");
    ASSERT_FALSE(tables.empty());
    if (remove) {
      std::filesystem::remove(tables[0]);
    } else {
      std::filesystem::resize_file(tables[0], std::filesystem::file_size(tables[0]) / 2);
    }
    ExpectEveryReaderRefuses(dir.path(), std::filesystem::path(tables[0]).stem().string());
  }
}

TEST(EventLogTest, SecondaryReaderSeesNewWritesAfterCatchUp) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(auto writer, EventLog::Open(dir.path(), {}));
  ASSERT_OK(writer->AppendDecision(MakeDecision("exp", "a", 1)));
  EventLogOptions secondary;
  secondary.mode = EventLogOptions::Mode::kSecondary;
  secondary.secondary_dir = dir.File("secondary");
  ASSERT_OK_AND_ASSIGN(auto reader, EventLog::Open(dir.path(), secondary));
  EXPECT_OK(reader->GetDecision("a").status());
  ASSERT_OK(writer->AppendDecision(MakeDecision("exp", "b", 2)));
  ASSERT_OK(reader->CatchUp());
  EXPECT_OK(reader->GetDecision("b").status());
  EXPECT_THAT(reader->AppendDecision(MakeDecision("exp", "c", 3)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  // A second writer is refused while the first holds the log.
  EXPECT_FALSE(EventLog::Open(dir.path(), {}).ok());
  // Read-only mode sees the state as of its opening.
  EventLogOptions read_only;
  read_only.mode = EventLogOptions::Mode::kReadOnly;
  ASSERT_OK_AND_ASSIGN(auto frozen, EventLog::Open(dir.path(), read_only));
  EXPECT_OK(frozen->GetDecision("b").status());
  // Missing logs are NOT_FOUND for readers.
  ScratchDir empty;
  EXPECT_THAT(EventLog::Open(empty.path(), read_only), StatusIs(absl::StatusCode::kNotFound));
}

// ---------------------------------------------------------------- SIGKILL
// The crash test re-executes this binary with the filter below and these
// variables set; the child appends from several threads and writes each event
// id to the ack pipe only after AppendDecision returned OK.
constexpr char kChildDirEnv[] = "RECBANDIT_CRASH_CHILD_DIR";
constexpr char kChildFdEnv[] = "RECBANDIT_CRASH_CHILD_FD";

// ------------------------------------------------------------------ interactions

Interaction MakeInteraction(const std::string& user, const std::string& item, int64_t ts) {
  Interaction x;
  x.set_user(user);
  x.set_item(item);
  x.set_weight(1);
  x.set_timestamp_us(ts);
  return x;
}

std::vector<std::string> ScanItems(const EventLog& log, const std::string& user) {
  std::vector<std::string> out;
  EXPECT_THAT(log.ScanInteractions(user,
                                   [&](const Interaction& x) {
                                     out.push_back(user.empty() ? x.user() + "/" + x.item()
                                                                : x.item());
                                     return absl::OkStatus();
                                   }),
              IsOk());
  return out;
}

TEST(EventLogTest, InteractionsScanByUserInEventTimeOrderAndSurviveReopen) {
  ScratchDir dir;
  {
    ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
    // Same user and event time twice: both kept (distinct arrival numbers).
    ASSERT_OK(log->AppendInteractions({MakeInteraction("bob", "i2", 20),
                                       MakeInteraction("bob", "i1", 10),
                                       MakeInteraction("bo", "i9", 5),
                                       MakeInteraction("bob", "i3", 20)}));
    ASSERT_OK(log->AppendInteractions({MakeInteraction("bob", "i0", 1)}));
    EXPECT_THAT(ScanItems(*log, "bob"), ::testing::ElementsAre("i0", "i1", "i2", "i3"));
    EXPECT_THAT(ScanItems(*log, "bo"), ::testing::ElementsAre("i9"));  // not a prefix match
  }
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
  EXPECT_THAT(ScanItems(*log, ""),
              ::testing::ElementsAre("bo/i9", "bob/i0", "bob/i1", "bob/i2", "bob/i3"));
  EXPECT_THAT(ScanItems(*log, "nobody"), ::testing::IsEmpty());
}

TEST(EventLogTest, AnInvalidInteractionRejectsTheWholeBatch) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
  EXPECT_THAT(log->AppendInteractions({MakeInteraction("a", "i1", 1), MakeInteraction("", "i", 1)}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("interaction 1")));
  EXPECT_THAT(log->AppendInteractions({MakeInteraction(std::string("a\0b", 3), "i", 1)}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("NUL")));
  EXPECT_THAT(log->AppendInteractions({MakeInteraction("a", "i", -5)}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ScanItems(*log, ""), ::testing::IsEmpty());
}

TEST(EventLogTest, AsyncAppendsAreDurableGroupedAndChecked) {
  ScratchDir dir;
  constexpr int kThreads = 4, kPerThread = 200;
  {
    ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
    std::atomic<int> ok{0}, failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          log->AppendDecisionAsync(MakeDecision("exp", absl::StrCat("t", t, "-", i), 1000 + i),
                                   [&](absl::Status s) { (s.ok() ? ok : failed)++; });
        }
      });
    }
    for (auto& th : threads) th.join();
    // Checked at once: a duplicate of a queued or written id, and a bad event.
    absl::Status dup, bad;
    log->AppendDecisionAsync(MakeDecision("exp", "t0-0", 5), [&](absl::Status s) { dup = s; });
    log->AppendDecisionAsync(MakeDecision("", "x", 5), [&](absl::Status s) { bad = s; });
    EXPECT_THAT(dup, StatusIs(absl::StatusCode::kAlreadyExists));
    EXPECT_THAT(bad, StatusIs(absl::StatusCode::kInvalidArgument));
    // Closing the log drains the queue before it returns.
    log.reset();
    EXPECT_EQ(ok.load(), kThreads * kPerThread);
    EXPECT_EQ(failed.load(), 0);
  }
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
  int64_t n = 0;
  ASSERT_OK(log->ScanDecisions("exp", 0, 0, [&](const DecisionEvent&) {
    ++n;
    return absl::OkStatus();
  }));
  EXPECT_EQ(n, kThreads * kPerThread);
  EXPECT_OK(log->GetDecision("t3-199").status());
}

TEST(EventLogCrashChild, AppendsUntilKilled) {
  const char* dir = std::getenv(kChildDirEnv);
  const char* fd_text = std::getenv(kChildFdEnv);
  if (dir == nullptr || fd_text == nullptr) GTEST_SKIP() << "only run by the crash test";
  const int fd = std::atoi(fd_text);
  auto log = EventLog::Open(dir, {});
  if (!log.ok()) _exit(3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        const std::string id = absl::StrCat("t", t, "-", i);
        if (!(*log)->AppendDecision(MakeDecision("crash", id, 1000 + i)).ok()) _exit(4);
        const std::string line = id + "\n";  // < PIPE_BUF: one atomic write
        if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(5);
      }
    });
  }
  for (auto& th : threads) th.join();
}

TEST(EventLogTest, EveryAcknowledgedDecisionSurvivesSigkill) {
  ScratchDir dir;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    setenv(kChildDirEnv, dir.path().c_str(), 1);
    setenv(kChildFdEnv, std::to_string(fds[1]).c_str(), 1);
    execl("/proc/self/exe", "event_log_test", "--gtest_filter=EventLogCrashChild.*",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string acked_text;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  // Read acks until a good burst is in flight, then kill mid-write.
  while (std::count(acked_text.begin(), acked_text.end(), '\n') < 3000 &&
         std::chrono::steady_clock::now() < deadline) {
    const ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n <= 0) break;
    acked_text.append(buf, n);
  }
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int wstatus = 0;
  ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(wstatus)) << "child exited early with " << WEXITSTATUS(wstatus);
  for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) > 0;) acked_text.append(buf, n);
  close(fds[0]);

  std::vector<std::string> acked;
  for (absl::string_view line : absl::StrSplit(acked_text, '\n', absl::SkipEmpty())) {
    acked.emplace_back(line);
  }
  ASSERT_GT(acked.size(), 100u);
  ASSERT_OK_AND_ASSIGN(auto log, EventLog::Open(dir.path(), {}));
  int64_t missing = 0;
  for (const std::string& id : acked) missing += log->GetDecision(id).ok() ? 0 : 1;
  EXPECT_EQ(missing, 0) << "of " << acked.size() << " acknowledged decisions";
  int64_t stored = 0;
  ASSERT_OK(log->ScanDecisions("crash", 0, 0, [&](const DecisionEvent&) {
    ++stored;
    return absl::OkStatus();
  }));
  EXPECT_GE(stored, static_cast<int64_t>(acked.size()));
}

}  // namespace
}  // namespace recbandit::bandits
