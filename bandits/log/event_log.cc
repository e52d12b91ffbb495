// EventLog: the RocksDB wrapper. Every rocksdb::Status becomes an absl::Status
// here, and nothing RocksDB-specific leaves this file.
#include "bandits/log/event_log.h"

#include <algorithm>
#include <chrono>

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <filesystem>
#include <system_error>
#include <utility>

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "bandits/log/log_keys.h"
#include "proto/core/file_util.h"
#include "proto/core/names.h"
#include "proto/core/random.h"
#include "proto/core/status_macros.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/wal_filter.h"
#include "rocksdb/write_batch.h"

namespace recbandit::bandits {
namespace {

// RocksDB's write group: the thread that leads a group copies the batches of
// the threads waiting in it, handed over with atomics that ThreadSanitizer
// cannot see in Debian's (uninstrumented) RocksDB. Under TSan only, a write's
// own memory accesses inside db->Write are not checked; everything around it
// is. A no-op in every other build.
#if defined(__SANITIZE_THREAD__)
extern "C" void AnnotateIgnoreReadsBegin(const char* file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char* file, int line);
extern "C" void AnnotateIgnoreWritesBegin(const char* file, int line);
extern "C" void AnnotateIgnoreWritesEnd(const char* file, int line);
struct UncheckedByTsan {
  UncheckedByTsan() {
    AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
  }
  ~UncheckedByTsan() {
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
  }
};
#else
struct UncheckedByTsan {
  UncheckedByTsan() {}  // user-provided: no unused-variable warning
};
#endif

// Memtable memory of all column families together (db_write_buffer_size).
constexpr size_t kMemtableBudgetBytes = 32 << 20;

// Converts a RocksDB status, keeping its message and prefixing `context`.
absl::Status FromRocks(const rocksdb::Status& s, const std::string& context) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrCat(context, ": ", s.ToString());
  if (s.IsNotFound() || s.IsPathNotFound()) return absl::NotFoundError(msg);
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  if (s.IsNotSupported()) return absl::UnimplementedError(msg);
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain() || s.IsShutdownInProgress() ||
      s.IsIncomplete()) {
    return absl::UnavailableError(msg);
  }
  if (s.IsAborted()) return absl::AbortedError(msg);
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(msg);
  if (s.IsIOError()) {
    // A held LOCK file (another writer) and transient I/O are retryable.
    return absl::UnavailableError(msg);
  }
  return absl::InternalError(msg);
}

const char* CfName(int cf) { return EventLog::ColumnFamilyNames()[cf].c_str(); }

int64_t SystemNowUs() { return absl::ToUnixMicros(absl::Now()); }

// Forwards RocksDB's info log to its usual LOG file and keeps what recovery
// says it dropped ("<file>: dropping N bytes; <reason>"), so damage can be
// named in the error and counted by a repair. Thread-safe.
class DamageRecorder : public rocksdb::LoggerWrapper {
 public:
  explicit DamageRecorder(const std::shared_ptr<rocksdb::Logger>& target)
      : rocksdb::LoggerWrapper(target.get()), target_(target) {}

  using rocksdb::LoggerWrapper::Logv;
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    va_list copy;
    va_copy(copy, ap);
    char line[1024];
    std::vsnprintf(line, sizeof(line), format, copy);
    va_end(copy);
    const char* dropping = std::strstr(line, ": dropping ");
    if (dropping != nullptr) {
      const char* start = line;
      if (std::strncmp(start, "(ignoring error) ", 17) == 0) start += 17;
      absl::MutexLock lock(&mu_);
      files_.insert(std::filesystem::path(std::string(start, dropping)).filename().string());
      bytes_ += std::atoll(dropping + 11);
      if (first_.empty()) first_ = line;
    }
    target_->Logv(level, format, ap);
  }

  std::set<std::string> files() const {
    absl::MutexLock lock(&mu_);
    return files_;
  }
  int64_t bytes() const {
    absl::MutexLock lock(&mu_);
    return bytes_;
  }
  std::string first() const {
    absl::MutexLock lock(&mu_);
    return first_;
  }

 private:
  std::shared_ptr<rocksdb::Logger> target_;
  mutable absl::Mutex mu_;
  std::set<std::string> files_ ABSL_GUARDED_BY(mu_);
  int64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_ ABSL_GUARDED_BY(mu_);
};

// Records the sequence range of every WAL batch replayed at open, so a repair
// can count the writes missing between readable records. Thread-compatible
// (recovery calls it from one thread).
class SequenceRecorder : public rocksdb::WalFilter {
 public:
  const char* Name() const override { return "recbandit-sequence-recorder"; }
  WalProcessingOption LogRecordFound(unsigned long long, const std::string&,
                                     const rocksdb::WriteBatch& batch, rocksdb::WriteBatch*,
                                     bool* changed) override {
    *changed = false;
    const std::string& rep = batch.Data();  // fixed64 sequence, fixed32 count, records
    if (rep.size() >= 12) {
      uint64_t seq = 0;
      for (int i = 7; i >= 0; --i) seq = (seq << 8) | static_cast<unsigned char>(rep[i]);
      ranges_.emplace_back(seq, batch.Count());
    }
    return WalProcessingOption::kContinueProcessing;
  }
  // Returns the write operations missing between consecutive batches.
  int64_t Gaps() const {
    std::vector<std::pair<uint64_t, uint32_t>> sorted = ranges_;
    std::sort(sorted.begin(), sorted.end());
    int64_t missing = 0;
    for (size_t i = 1; i < sorted.size(); ++i) {
      const uint64_t expected = sorted[i - 1].first + sorted[i - 1].second;
      if (sorted[i].first > expected) missing += static_cast<int64_t>(sorted[i].first - expected);
    }
    return missing;
  }
  int64_t batches() const { return static_cast<int64_t>(ranges_.size()); }

 private:
  std::vector<std::pair<uint64_t, uint32_t>> ranges_;
};

// The error for a log whose files are damaged: DATA_LOSS naming the files and
// the way out.
absl::Status DamageError(const std::string& path, const std::string& data_dir,
                         const rocksdb::Status& s, const DamageRecorder& damage) {
  std::string files;
  for (const std::string& f : damage.files()) absl::StrAppend(&files, files.empty() ? "" : ", ", f);
  if (!files.empty()) {
    return absl::DataLossError(absl::StrCat(
        "event log ", path, ": damaged write-ahead log ", files, " (", damage.bytes(),
        " bytes unreadable: ", s.ToString(),
        "); refusing to open it rather than drop acknowledged events in silence. "
        "`recbandit log repair --data_dir=", data_dir,
        "` keeps a copy and drops only the damaged records"));
  }
  return absl::DataLossError(absl::StrCat("event log ", path, " is damaged: ", s.ToString()));
}

// True when a failed open is about the log's own files (damage), not about a
// lock or a transient I/O error.
bool IsDamage(const rocksdb::Status& s) {
  if (s.IsCorruption()) return true;
  const std::string m = s.ToString();
  return (s.IsIOError() || s.IsPathNotFound() || s.IsNotFound()) &&
         (m.find(".sst") != std::string::npos || m.find("MANIFEST") != std::string::npos ||
          m.find(".log") != std::string::npos);
}

}  // namespace

const std::vector<std::string>& EventLog::ColumnFamilyNames() {
  static const auto* names = new std::vector<std::string>{
      rocksdb::kDefaultColumnFamilyName, "decisions", "rewards", "snapshots",
      "experiments", "event_index", "learned", "interactions", "deployments",
      "deployment_changes"};
  return *names;
}

// What a repairing open needs: skip damaged records, record what was read
// and what was dropped.
struct EventLog::Recovery {
  bool skip_damaged = false;
  SequenceRecorder sequences;
  std::shared_ptr<DamageRecorder> damage;  // set by OpenImpl
};

absl::StatusOr<std::unique_ptr<EventLog>> EventLog::Open(const std::string& data_dir,
                                                         EventLogOptions options) {
  return OpenImpl(data_dir, std::move(options), nullptr);
}

absl::StatusOr<std::unique_ptr<EventLog>> EventLog::OpenImpl(const std::string& data_dir,
                                                             EventLogOptions options,
                                                             Recovery* recovery) {
  if (data_dir.empty()) return absl::InvalidArgumentError("event log: --data_dir is empty");
  if (!options.now_us) options.now_us = SystemNowUs;
  const std::string path = data_dir + "/events";
  const bool writer = options.mode == EventLogOptions::Mode::kReadWrite;
  if (!writer && !PathExists(path + "/CURRENT")) {
    return absl::NotFoundError(absl::StrCat("no event log at ", path));
  }
  if (writer) RETURN_IF_ERROR(MakeDirs(path));
  std::string owned_secondary_dir;
  if (options.mode == EventLogOptions::Mode::kSecondary) {
    // A secondary skips table files it cannot open (the writer may have just
    // deleted them) and would read a damaged log as a shorter one: a
    // read-only open first checks every file the manifest names. Once more
    // after a pause, in case a live writer's compaction raced with it.
    EventLogOptions check;
    check.mode = EventLogOptions::Mode::kReadOnly;
    absl::Status checked = OpenImpl(data_dir, check, nullptr).status();
    if (absl::IsDataLoss(checked)) {
      absl::SleepFor(absl::Milliseconds(200));
      checked = OpenImpl(data_dir, check, nullptr).status();
    }
    RETURN_IF_ERROR(checked);
    if (options.secondary_dir.empty()) {
      options.secondary_dir = absl::StrFormat(
          "/tmp/recbandit-secondary-%d-%x", getpid(),
          Mix64(reinterpret_cast<uintptr_t>(&options) ^ static_cast<uint64_t>(SystemNowUs())));
      owned_secondary_dir = options.secondary_dir;
    }
    RETURN_IF_ERROR(MakeDirs(options.secondary_dir));
  }

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = writer;
  db_options.create_missing_column_families = writer;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 4;
  if (options.mode == EventLogOptions::Mode::kSecondary) db_options.max_open_files = -1;
  // A torn last record (a crash mid-write, never acknowledged) is dropped;
  // any other damaged record fails the open instead of silently ending the
  // replay there (RocksDB's default point-in-time recovery). A repair skips
  // damaged records and counts them.
  const bool skip_damaged = recovery != nullptr && recovery->skip_damaged;
  db_options.wal_recovery_mode = skip_damaged
                                     ? rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords
                                     : rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  db_options.paranoid_checks = true;
  // One memory budget for the memtables of every column family (flushed when
  // it is reached), so a long-lived server's memory levels off instead of
  // each family filling its own 64 MB default pair.
  db_options.db_write_buffer_size = kMemtableBudgetBytes;
  if (recovery != nullptr) db_options.wal_filter = &recovery->sequences;
  // RocksDB's usual LOG file, through a recorder of what recovery drops.
  std::shared_ptr<rocksdb::Logger> file_logger;
  std::shared_ptr<DamageRecorder> damage;
  const std::string log_home =
      options.mode == EventLogOptions::Mode::kSecondary ? options.secondary_dir : path;
  if (rocksdb::CreateLoggerFromOptions(log_home, db_options, &file_logger).ok()) {
    damage = std::make_shared<DamageRecorder>(file_logger);
    db_options.info_log = damage;
  }
  if (recovery != nullptr) recovery->damage = damage;

  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  cf_options.compression = rocksdb::kNoCompression;
  cf_options.write_buffer_size = kMemtableBudgetBytes / 4;
  // A whole-key bloom filter over each memtable: every decision first asks
  // whether its event id is taken, and the answer is nearly always "no", so
  // the filter spares a skip-list search per Decide (RocksDB's Get in the
  // memtable was ~8% of the server's time under Decide load).
  cf_options.memtable_whole_key_filtering = true;
  cf_options.memtable_prefix_bloom_size_ratio = 0.02;

  // A reader opens the families the log has: a log its writer made before
  // deployments existed lacks their two families, and reads them as empty.
  std::vector<bool> present(ColumnFamilyNames().size(), true);
  if (!writer) {
    std::vector<std::string> existing;
    if (rocksdb::DB::ListColumnFamilies(db_options, path, &existing).ok()) {
      for (size_t cf = 0; cf < present.size(); ++cf) {
        present[cf] = std::find(existing.begin(), existing.end(), ColumnFamilyNames()[cf]) !=
                      existing.end();
      }
    }
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (size_t cf = 0; cf < present.size(); ++cf) {
    if (present[cf]) families.emplace_back(ColumnFamilyNames()[cf], cf_options);
  }
  std::vector<rocksdb::ColumnFamilyHandle*> opened;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  switch (options.mode) {
    case EventLogOptions::Mode::kReadWrite:
      s = rocksdb::DB::Open(db_options, path, families, &opened, &raw);
      break;
    case EventLogOptions::Mode::kReadOnly:
      s = rocksdb::DB::OpenForReadOnly(db_options, path, families, &opened, &raw);
      break;
    case EventLogOptions::Mode::kSecondary:
      s = rocksdb::DB::OpenAsSecondary(db_options, path, options.secondary_dir, families,
                                       &opened, &raw);
      break;
  }
  if (!s.ok() && !owned_secondary_dir.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(owned_secondary_dir, ignored);
  }
  if (!s.ok() && IsDamage(s)) {
    return damage != nullptr ? DamageError(path, data_dir, s, *damage)
                             : absl::DataLossError(absl::StrCat("event log ", path,
                                                                " is damaged: ", s.ToString()));
  }
  RETURN_IF_ERROR(FromRocks(s, absl::StrCat("opening event log ", path)));
  std::vector<rocksdb::ColumnFamilyHandle*> handles(present.size(), nullptr);
  for (size_t cf = 0, next = 0; cf < present.size(); ++cf) {
    if (present[cf]) handles[cf] = opened[next++];
  }
  auto log = std::unique_ptr<EventLog>(
      new EventLog(std::move(options), std::unique_ptr<rocksdb::DB>(raw), std::move(handles)));
  log->owned_secondary_dir_ = std::move(owned_secondary_dir);
  // A secondary was checked through its read-only open; its own view may
  // name files a live writer has compacted away since (still open here).
  if (log->options_.mode != EventLogOptions::Mode::kSecondary) {
    RETURN_IF_ERROR(log->CheckTableFiles(data_dir));
  }
  if (!log->options_.outbox_origin.empty()) RETURN_IF_ERROR(log->LoadOutboxSeq());
  return log;
}

absl::Status EventLog::CheckTableFiles(const std::string& data_dir) const {
  // RocksDB opens a truncated table file (and, as a secondary, a missing one)
  // without complaint and then reads nothing from it: check every live table
  // file's size against the manifest, one stat each.
  std::vector<rocksdb::LiveFileMetaData> files;
  db_->GetLiveFilesMetaData(&files);
  for (const rocksdb::LiveFileMetaData& f : files) {
    const std::string file = f.directory + "/" + f.relative_filename;
    std::error_code ec;
    const uintmax_t size = std::filesystem::file_size(file, ec);
    if (ec || size != f.size) {
      return absl::DataLossError(absl::StrCat(
          "event log ", data_dir, "/events is damaged: table file ", f.relative_filename,
          ec ? absl::StrCat(" is missing (", ec.message(), ")")
             : absl::StrCat(" has ", size, " bytes, the manifest says ", f.size),
          "; keep the folder for inspection and restore the log from a backup"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<LogRepairReport> EventLog::Repair(const std::string& data_dir) {
  const std::string path = data_dir + "/events";
  if (!PathExists(path + "/CURRENT")) {
    return absl::NotFoundError(absl::StrCat("no event log at ", path));
  }
  LogRepairReport report;
  {  // A log that opens as it is needs no repair.
    absl::StatusOr<std::unique_ptr<EventLog>> as_is = Open(data_dir, {});
    if (as_is.ok()) return report;
    if (!absl::IsDataLoss(as_is.status())) return as_is.status();
  }
  const std::string copy = absl::StrCat(
      data_dir, "/events.damaged-", absl::FormatTime("%Y%m%dT%H%M%SZ", absl::Now(),
                                                     absl::UTCTimeZone()));
  std::error_code ec;
  std::filesystem::copy(path, copy, std::filesystem::copy_options::recursive, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot copy ", path, " to ", copy, ": ",
                                            ec.message(), "; nothing was changed"));
  }
  report.damaged_copy = copy;
  Recovery recovery;
  recovery.skip_damaged = true;
  ASSIGN_OR_RETURN(std::unique_ptr<EventLog> log, OpenImpl(data_dir, {}, &recovery));
  // What was replayed is now in table files; the damaged WAL is obsolete.
  RETURN_IF_ERROR(log->Flush());
  if (recovery.damage != nullptr) {
    const std::set<std::string> files = recovery.damage->files();
    report.damaged_files.assign(files.begin(), files.end());
    report.bytes_dropped = recovery.damage->bytes();
  }
  report.operations_lost = recovery.sequences.Gaps();
  report.batches_recovered = recovery.sequences.batches();
  return report;
}

absl::Status EventLog::Flush() {
  if (options_.mode != EventLogOptions::Mode::kReadWrite) {
    return absl::FailedPreconditionError("event log opened read-only");
  }
  rocksdb::FlushOptions flush;
  flush.wait = true;
  return FromRocks(db_->Flush(flush, handles_), "flushing the event log");
}

EventLog::EventLog(EventLogOptions options, std::unique_ptr<rocksdb::DB> db,
                   std::vector<rocksdb::ColumnFamilyHandle*> handles)
    : options_(std::move(options)), db_(std::move(db)), handles_(std::move(handles)) {}

EventLog::~EventLog() {
  {
    absl::MutexLock lock(&commit_mu_);
    commit_stop_ = true;
  }
  if (committer_.joinable()) committer_.join();  // writes what is queued first
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    if (h != nullptr) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  db_->Close().PermitUncheckedError();
  db_.reset();
  if (!owned_secondary_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(owned_secondary_dir_, ignored);
  }
}

absl::Status EventLog::Write(rocksdb::WriteBatch* batch) const {
  if (options_.mode != EventLogOptions::Mode::kReadWrite) {
    return absl::FailedPreconditionError("event log opened read-only");
  }
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  const auto start = std::chrono::steady_clock::now();
  rocksdb::Status s;
  {
    UncheckedByTsan rocksdb_write_group;
    s = db_->Write(wo, batch);
  }
  if (!options_.on_write) return FromRocks(s, "event log write");
  options_.on_write(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return FromRocks(s, "event log write");
}

absl::StatusOr<std::optional<std::string>> EventLog::RawGet(Cf cf, const std::string& key) const {
  std::string value;
  if (handles_[cf] == nullptr) return std::nullopt;  // a family an older log lacks
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), handles_[cf], key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  RETURN_IF_ERROR(FromRocks(s, absl::StrCat("reading ", CfName(cf), " key '",
                                            PrintableKey(key), "'")));
  return std::optional<std::string>(std::move(value));
}

namespace {
template <typename Message>
absl::Status ParseValue(const std::string& bytes, const char* cf, const std::string& key,
                        Message* message) {
  if (!message->ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat("corrupt ", message->GetTypeName(), " in ", cf,
                                            " key ", Quote(PrintableKey(key)), " (",
                                            bytes.size(), " bytes)"));
  }
  return absl::OkStatus();
}

// Parses one scanned value. Returns true when it parsed (counted in
// stats->records), false when it was corrupt and skipped (counted in
// stats->skipped_corrupt), or the DATA_LOSS error when !skip_corrupt.
template <typename Message>
absl::StatusOr<bool> ParseScanned(const std::string& bytes, const char* cf,
                                  const std::string& key, bool skip_corrupt,
                                  ScanStats* stats, Message* message) {
  absl::Status parsed = ParseValue(bytes, cf, key, message);
  if (!parsed.ok()) {
    if (!skip_corrupt) return parsed;
    ++stats->skipped_corrupt;
    return false;
  }
  ++stats->records;
  return true;
}
}  // namespace

// ------------------------------------------------------------------ experiments

absl::Status EventLog::CreateExperiment(const ExperimentConfig& config) {
  absl::MutexLock lock(&experiment_mu_);
  RETURN_IF_ERROR(CheckNameFree(config.name()));
  rocksdb::WriteBatch batch;
  batch.Put(handles_[kExperiments], config.name(), config.SerializeAsString());
  std::vector<StreamRecord> outbox(1);
  *outbox[0].mutable_experiment() = config;
  return WriteWithOutbox(&batch, std::move(outbox));
}

absl::Status EventLog::CreateReplicatedExperiment(const ExperimentConfig& config) {
  absl::MutexLock lock(&experiment_mu_);
  RETURN_IF_ERROR(CheckNameFree(config.name()));
  rocksdb::WriteBatch batch;
  batch.Put(handles_[kExperiments], config.name(), config.SerializeAsString());
  return Write(&batch);
}

absl::Status EventLog::CheckNameFree(const std::string& name) const {
  ASSIGN_OR_RETURN(std::optional<std::string> experiment, RawGet(kExperiments, name));
  if (experiment) return absl::AlreadyExistsError(absl::StrCat("experiment ", Quote(name), " exists"));
  ASSIGN_OR_RETURN(std::optional<std::string> deployment, RawGet(kDeployments, name));
  if (deployment) return absl::AlreadyExistsError(absl::StrCat("deployment ", Quote(name), " exists"));
  return absl::OkStatus();
}

uint64_t EventLog::NextArrival() {
  // Strictly increasing numbers from the microsecond clock.
  const uint64_t now = static_cast<uint64_t>(std::max<int64_t>(options_.now_us(), 0));
  uint64_t last = last_arrival_.load(std::memory_order_relaxed);
  uint64_t arrival;
  do {
    arrival = std::max(now, last + 1);
  } while (!last_arrival_.compare_exchange_weak(last, arrival, std::memory_order_relaxed));
  return arrival;
}

// ------------------------------------------------------------------ deployments

absl::Status EventLog::WriteDeploymentChange(const DeploymentChange& change) {
  const std::string& name = change.deployment().name();
  if (name.empty() || name.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError("a deployment change needs a name without NUL bytes");
  }
  absl::MutexLock lock(&experiment_mu_);  // one name space with experiments
  ASSIGN_OR_RETURN(std::optional<std::string> current, RawGet(kDeployments, name));
  rocksdb::WriteBatch batch;
  switch (change.kind()) {
    case DeploymentChange::CREATED:
      RETURN_IF_ERROR(CheckNameFree(name));
      batch.Put(handles_[kDeployments], name, change.deployment().SerializeAsString());
      break;
    case DeploymentChange::UPDATED:
    case DeploymentChange::ROLLOUT_ADVANCED:
    case DeploymentChange::PROMOTED:
    case DeploymentChange::ROLLED_BACK:
    case DeploymentChange::SWITCHED:
      if (!current) return absl::NotFoundError(absl::StrCat("unknown deployment ", Quote(name)));
      batch.Put(handles_[kDeployments], name, change.deployment().SerializeAsString());
      break;
    case DeploymentChange::DELETED:
      if (!current) return absl::NotFoundError(absl::StrCat("unknown deployment ", Quote(name)));
      batch.Delete(handles_[kDeployments], name);
      break;
    default:
      return absl::InvalidArgumentError("a deployment change needs a kind");
  }
  batch.Put(handles_[kDeploymentChanges], SeqKey(name, NextArrival()), change.SerializeAsString());
  return Write(&batch);
}

absl::StatusOr<std::vector<Deployment>> EventLog::ListDeployments(bool skip_corrupt,
                                                                  ScanStats* stats) const {
  ScanStats local;
  if (stats == nullptr) stats = &local;
  std::vector<Deployment> out;
  if (handles_[kDeployments] == nullptr) return out;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), handles_[kDeployments]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    Deployment d;
    ASSIGN_OR_RETURN(const bool ok, ParseScanned(it->value().ToString(), "deployments",
                                                 it->key().ToString(), skip_corrupt, stats, &d));
    if (ok) out.push_back(std::move(d));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "listing deployments"));
  return out;
}

absl::StatusOr<std::vector<DeploymentChange>> EventLog::ListDeploymentChanges(
    const std::string& name) const {
  std::vector<DeploymentChange> out;
  if (handles_[kDeploymentChanges] == nullptr) return out;
  const std::string prefix = name + '\0';
  const std::string upper = PrefixEnd(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[kDeploymentChanges]));
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    DeploymentChange change;
    RETURN_IF_ERROR(ParseValue(it->value().ToString(), "deployment_changes",
                               it->key().ToString(), &change));
    out.push_back(std::move(change));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "listing deployment changes"));
  return out;
}

absl::StatusOr<ExperimentConfig> EventLog::GetExperiment(const std::string& name) const {
  ASSIGN_OR_RETURN(std::optional<std::string> bytes, RawGet(kExperiments, name));
  if (!bytes) return absl::NotFoundError(absl::StrCat("unknown experiment ", Quote(name)));
  ExperimentConfig config;
  RETURN_IF_ERROR(ParseValue(*bytes, "experiments", name, &config));
  return config;
}

absl::StatusOr<std::vector<ExperimentConfig>> EventLog::ListExperiments(bool skip_corrupt,
                                                                        ScanStats* stats) const {
  ScanStats local;
  if (stats == nullptr) stats = &local;
  std::vector<ExperimentConfig> out;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), handles_[kExperiments]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    ExperimentConfig config;
    ASSIGN_OR_RETURN(const bool ok, ParseScanned(it->value().ToString(), "experiments",
                                                 it->key().ToString(), skip_corrupt, stats,
                                                 &config));
    if (ok) out.push_back(std::move(config));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "listing experiments"));
  return out;
}

// ------------------------------------------------------------------ decisions

absl::Status EventLog::BeginAppend(const DecisionEvent& event) {
  if (event.event_id().empty() || event.experiment().empty()) {
    return absl::InvalidArgumentError("decision event needs event_id and experiment");
  }
  if (event.timestamp_us() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("decision timestamp_us must be >= 0, got ", event.timestamp_us()));
  }
  if (options_.mode != EventLogOptions::Mode::kReadWrite) {
    return absl::FailedPreconditionError("event log opened read-only");
  }
  const std::string& id = event.event_id();
  {
    absl::MutexLock lock(&pending_mu_);
    if (!pending_.insert(id).second) {
      return absl::AlreadyExistsError(absl::StrCat("event id ", Quote(id), " is being logged"));
    }
  }
  absl::StatusOr<std::optional<std::string>> existing = RawGet(kEventIndex, id);
  absl::Status status = existing.status();
  if (status.ok() && existing->has_value()) {
    status = absl::AlreadyExistsError(absl::StrCat("event id ", Quote(id), " already has a decision"));
  }
  if (!status.ok()) {
    absl::MutexLock lock(&pending_mu_);
    pending_.erase(id);
  }
  return status;
}

absl::Status EventLog::AppendDecision(const DecisionEvent& event) {
  // The same path as the asynchronous append: one writer groups every
  // decision queued meanwhile into one synced batch.
  absl::Notification written;
  absl::Status status;
  AppendDecisionAsync(event, [&](absl::Status s) {
    status = std::move(s);
    written.Notify();
  });
  written.WaitForNotification();
  return status;
}

void EventLog::AppendDecisionAsync(DecisionEvent event, std::function<void(absl::Status)> done) {
  absl::Status checked = BeginAppend(event);
  if (!checked.ok()) {
    done(checked);
    return;
  }
  // Encoded here, on the caller's thread, outside the committer's lock.
  QueuedDecision queued;
  queued.event_id = event.event_id();
  queued.key = DecisionKey(event.experiment(), event.timestamp_us(), event.event_id());
  queued.bytes = event.SerializeAsString();
  if (!options_.outbox_origin.empty()) queued.outbox = std::move(event);
  queued.done = std::move(done);
  absl::MutexLock lock(&commit_mu_);
  if (commit_stop_) {
    {
      absl::MutexLock pending(&pending_mu_);
      pending_.erase(queued.event_id);
    }
    queued.done(absl::UnavailableError("event log is closing"));
    return;
  }
  if (!committer_.joinable()) committer_ = std::thread([this] { CommitterLoop(); });
  commit_queue_.push_back(std::move(queued));
}

void EventLog::CommitterLoop() {
  std::vector<QueuedDecision> group;
  while (true) {
    {
      absl::MutexLock lock(&commit_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(commit_mu_) {
        return commit_stop_ || !commit_queue_.empty();
      };
      commit_mu_.Await(absl::Condition(&ready));
      if (commit_queue_.empty()) return;  // stopping, nothing left
      group.swap(commit_queue_);
    }
    // Everything queued while the previous group synced: one batch, one sync.
    rocksdb::WriteBatch batch;
    std::vector<StreamRecord> outbox;
    for (QueuedDecision& q : group) {
      PutEncodedDecision(q.event_id, q.key, q.bytes, &batch);
      if (q.outbox) *outbox.emplace_back().mutable_decision() = std::move(*q.outbox);
    }
    const absl::Status status = WriteWithOutbox(&batch, std::move(outbox));
    {
      absl::MutexLock lock(&pending_mu_);
      for (const QueuedDecision& q : group) pending_.erase(q.event_id);
    }
    for (QueuedDecision& q : group) q.done(status);
    group.clear();
  }
}

void EventLog::PutDecision(const DecisionEvent& event, rocksdb::WriteBatch* batch) {
  PutEncodedDecision(event.event_id(),
                     DecisionKey(event.experiment(), event.timestamp_us(), event.event_id()),
                     event.SerializeAsString(), batch);
}

void EventLog::PutEncodedDecision(const std::string& event_id, const std::string& key,
                                  const std::string& bytes, rocksdb::WriteBatch* batch) {
  batch->Put(handles_[kDecisions], key, bytes);
  batch->Put(handles_[kEventIndex], event_id, key);
}

absl::StatusOr<DecisionEvent> EventLog::GetDecision(const std::string& event_id) const {
  ASSIGN_OR_RETURN(std::optional<std::string> key, RawGet(kEventIndex, event_id));
  if (!key) return absl::NotFoundError(absl::StrCat("unknown event id ", Quote(event_id)));
  ASSIGN_OR_RETURN(std::optional<std::string> bytes, RawGet(kDecisions, *key));
  if (!bytes) {
    return absl::DataLossError(absl::StrCat("event index of '", event_id,
                                            "' points to a missing decision"));
  }
  DecisionEvent event;
  RETURN_IF_ERROR(ParseValue(*bytes, "decisions", *key, &event));
  return event;
}

absl::Status EventLog::ScanDecisions(const std::string& experiment, int64_t start_us,
                                     int64_t end_us,
                                     const std::function<absl::Status(const DecisionEvent&)>& fn,
                                     bool skip_corrupt, ScanStats* stats) const {
  ScanStats local;
  if (stats == nullptr) stats = &local;
  std::string prefix = experiment;
  prefix.push_back('\0');
  const std::string lower = DecisionKey(experiment, std::max<int64_t>(start_us, 0), "");
  const std::string upper = end_us > 0 ? DecisionKey(experiment, end_us, "") : PrefixEnd(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[kDecisions]));
  DecisionEvent event;
  for (it->Seek(lower); it->Valid(); it->Next()) {
    event.Clear();
    ASSIGN_OR_RETURN(const bool ok, ParseScanned(it->value().ToString(), "decisions",
                                                 it->key().ToString(), skip_corrupt, stats,
                                                 &event));
    if (ok) RETURN_IF_ERROR(fn(event));
  }
  return FromRocks(it->status(), absl::StrCat("scanning decisions of ", Quote(experiment)));
}

// ------------------------------------------------------------------ interactions

namespace {

// INVALID_ARGUMENT naming the first interaction without user or item, with a
// NUL byte in its user or a negative timestamp.
absl::Status CheckInteractions(absl::Span<const Interaction> interactions) {
  for (size_t i = 0; i < interactions.size(); ++i) {
    const Interaction& x = interactions[i];
    if (x.user().empty() || x.item().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("interaction ", i, ": user and item are required"));
    }
    if (x.user().find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("interaction ", i, ": user contains a NUL byte"));
    }
    if (x.timestamp_us() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("interaction ", i, ": timestamp_us must be >= 0"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status EventLog::AppendInteractions(absl::Span<const Interaction> interactions) {
  RETURN_IF_ERROR(CheckInteractions(interactions));
  if (interactions.empty()) return absl::OkStatus();
  rocksdb::WriteBatch batch;
  for (const Interaction& x : interactions) {
    batch.Put(handles_[kInteractions], InteractionKey(x.user(), x.timestamp_us(), NextArrival()),
              x.SerializeAsString());
  }
  std::vector<StreamRecord> outbox;
  if (!options_.outbox_origin.empty()) {
    StreamInteractions* copy = outbox.emplace_back().mutable_interactions();
    for (const Interaction& x : interactions) *copy->add_interactions() = x;
  }
  return WriteWithOutbox(&batch, std::move(outbox));
}

absl::Status EventLog::StoreReplicatedInteractions(absl::Span<const Interaction> interactions,
                                                  const std::string& record_id) {
  RETURN_IF_ERROR(CheckInteractions(interactions));
  const std::string marker = absl::StrCat("applied/", record_id);
  ASSIGN_OR_RETURN(std::optional<std::string> seen, RawGet(kDefault, marker));
  if (seen) return absl::OkStatus();  // stored before a restart
  rocksdb::WriteBatch batch;
  for (const Interaction& x : interactions) {
    batch.Put(handles_[kInteractions], InteractionKey(x.user(), x.timestamp_us(), NextArrival()),
              x.SerializeAsString());
  }
  batch.Put(handles_[kDefault], marker, "");
  return Write(&batch);
}

absl::Status EventLog::ScanInteractions(
    const std::string& user, const std::function<absl::Status(const Interaction&)>& fn,
    bool skip_corrupt, ScanStats* stats) const {
  ScanStats local;
  if (stats == nullptr) stats = &local;
  std::string prefix;
  if (!user.empty()) {
    prefix = user;
    prefix.push_back('\0');
  }
  const std::string upper = prefix.empty() ? std::string() : PrefixEnd(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  if (!upper.empty()) ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[kInteractions]));
  Interaction x;
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    x.Clear();
    ASSIGN_OR_RETURN(const bool ok, ParseScanned(it->value().ToString(), "interactions",
                                                 it->key().ToString(), skip_corrupt, stats, &x));
    if (ok) RETURN_IF_ERROR(fn(x));
  }
  return FromRocks(it->status(), "scanning interactions");
}

// ------------------------------------------------------------------ rewards

absl::Status EventLog::CheckRewardValue(double value) {
  if (!(std::abs(value) <= kMaxAbsReward)) {  // also false for NaN
    return absl::InvalidArgumentError(absl::StrCat(
        "reward value must be finite and within [-", kMaxAbsReward, ", ", kMaxAbsReward,
        "], got ", value));
  }
  return absl::OkStatus();
}

absl::StatusOr<RewardOutcome> EventLog::AddReward(const ExperimentConfig& config,
                                                  const std::string& event_id, double value,
                                                  const std::function<int64_t()>& next_learn_seq,
                                                  int32_t position) {
  return AddRewardImpl(config, event_id, value, next_learn_seq, position, options_.now_us(), "");
}

absl::StatusOr<RewardOutcome> EventLog::AddReplicatedReward(
    const ExperimentConfig& config, const StreamReward& reward,
    const std::function<int64_t()>& next_learn_seq) {
  if (reward.reward_id().empty()) return absl::InvalidArgumentError("reward_id is required");
  return AddRewardImpl(config, reward.event_id(), reward.value(), next_learn_seq, 0,
                       reward.timestamp_us(), reward.reward_id());
}

absl::StatusOr<RewardOutcome> EventLog::AddRewardImpl(
    const ExperimentConfig& config, const std::string& event_id, double value,
    const std::function<int64_t()>& next_learn_seq, int32_t position, int64_t now,
    const std::string& reward_id) {
  RETURN_IF_ERROR(CheckRewardValue(value));
  absl::MutexLock lock(&reward_mu_[StableHash64(event_id) % kRewardStripes]);
  RewardOutcome out;
  ASSIGN_OR_RETURN(out.decision, GetDecision(event_id));
  if (out.decision.experiment() != config.name()) {
    return absl::InvalidArgumentError(absl::StrCat("event id '", event_id,
                                                   "' belongs to experiment '",
                                                   out.decision.experiment(), "', not '",
                                                   config.name(), "'"));
  }
  ASSIGN_OR_RETURN(std::optional<std::string> bytes, RawGet(kRewards, event_id));
  if (bytes) {
    RETURN_IF_ERROR(ParseValue(*bytes, "rewards", event_id, &out.record));
  } else {
    out.record.set_event_id(event_id);
  }
  int non_late_before = 0;
  for (const RewardEvent& r : out.record.rewards()) {
    non_late_before += r.late() ? 0 : 1;
    if (!reward_id.empty() && r.reward_id() == reward_id) {
      return absl::AlreadyExistsError(
          absl::StrCat("reward ", Quote(reward_id), " is stored already"));
    }
  }

  out.late = config.reward_window_ms() > 0 &&
             now - out.decision.timestamp_us() > config.reward_window_ms() * 1000;
  RewardEvent* event = out.record.add_rewards();
  event->set_event_id(event_id);
  event->set_value(value);
  event->set_timestamp_us(now);
  event->set_late(out.late);
  event->set_position(position);
  event->set_reward_id(reward_id);

  if (!out.late) {
    const double previous = out.record.aggregated();
    double aggregated = previous;
    if (non_late_before == 0) {
      aggregated = value;
      out.learned = true;
      out.learn_value = value;
    } else {
      switch (config.reward_aggregation()) {
        case FIRST:
          break;
        case LAST:
          aggregated = value;
          break;
        case SUM:
        default:
          aggregated = previous + value;
          break;
      }
      out.learn_value = aggregated - previous;
      out.learned = out.learn_value != 0;
    }
    // Checked before anything is written: a rejected reward changes nothing.
    if (!(std::abs(aggregated) <= kMaxAbsReward)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the aggregated (SUM) reward of event id ", Quote(event_id), " would be ", aggregated,
          ", outside [-", kMaxAbsReward, ", ", kMaxAbsReward, "]"));
    }
    out.record.set_aggregated(aggregated);
  }

  rocksdb::WriteBatch batch;
  batch.Put(handles_[kRewards], event_id, out.record.SerializeAsString());
  if (!next_learn_seq) out.learned = false;  // nothing learns: nothing journaled
  if (out.learned) {
    out.learn_seq = next_learn_seq();
    LearnedReward learned;
    learned.set_event_id(event_id);
    learned.set_variant(out.decision.variant());
    learned.set_value(out.learn_value);
    learned.set_timestamp_us(now);
    batch.Put(handles_[kLearned], SeqKey(config.name(), out.learn_seq),
              learned.SerializeAsString());
  }
  RETURN_IF_ERROR(Write(&batch));
  return out;
}

absl::StatusOr<RewardRecord> EventLog::GetRewards(const std::string& event_id) const {
  ASSIGN_OR_RETURN(std::optional<std::string> bytes, RawGet(kRewards, event_id));
  if (!bytes) return absl::NotFoundError(absl::StrCat("no reward for event id ", Quote(event_id)));
  RewardRecord record;
  RETURN_IF_ERROR(ParseValue(*bytes, "rewards", event_id, &record));
  return record;
}

// ------------------------------------------------------------------ learned journal

absl::StatusOr<int64_t> EventLog::LastLearnSeq(const std::string& experiment) const {
  std::string prefix = experiment;
  prefix.push_back('\0');
  const std::string upper = PrefixEnd(prefix);
  rocksdb::Slice lower_slice(prefix), upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower_slice;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[kLearned]));
  it->SeekToLast();
  int64_t seq = 0;
  if (it->Valid() && it->key().size() == prefix.size() + 8) {
    seq = static_cast<int64_t>(ReadBigEndian64(it->key().data() + prefix.size()));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "reading the learned journal"));
  return seq;
}

absl::Status EventLog::ScanLearned(
    const std::string& experiment, int64_t after_seq,
    const std::function<absl::Status(int64_t, const LearnedReward&)>& fn, bool skip_corrupt,
    ScanStats* stats) const {
  ScanStats local;
  if (stats == nullptr) stats = &local;
  std::string prefix = experiment;
  prefix.push_back('\0');
  const std::string upper = PrefixEnd(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[kLearned]));
  LearnedReward entry;
  for (it->Seek(SeqKey(experiment, static_cast<uint64_t>(after_seq) + 1)); it->Valid();
       it->Next()) {
    const std::string key = it->key().ToString();
    if (key.size() != prefix.size() + 8) {
      return absl::DataLossError(absl::StrCat("bad learned key ", Quote(PrintableKey(key))));
    }
    entry.Clear();
    ASSIGN_OR_RETURN(const bool ok, ParseScanned(it->value().ToString(), "learned", key,
                                                 skip_corrupt, stats, &entry));
    if (ok) {
      RETURN_IF_ERROR(
          fn(static_cast<int64_t>(ReadBigEndian64(key.data() + prefix.size())), entry));
    }
  }
  return FromRocks(it->status(), "scanning the learned journal");
}

// ------------------------------------------------------------------ snapshots

absl::Status EventLog::PutSnapshot(const PolicySnapshot& snapshot) {
  if (options_.mode != EventLogOptions::Mode::kReadWrite) {
    return absl::FailedPreconditionError("event log opened read-only");
  }
  rocksdb::WriteOptions wo;
  wo.sync = false;
  return FromRocks(
      db_->Put(wo, handles_[kSnapshots],
               SnapshotKey(snapshot.experiment(), snapshot.variant(), snapshot.version()),
               snapshot.SerializeAsString()),
      "writing a policy snapshot");
}

absl::StatusOr<std::optional<PolicySnapshot>> EventLog::LatestSnapshot(
    const std::string& experiment, const std::string& variant) const {
  std::string prefix = experiment;
  prefix.push_back('\0');
  prefix.append(variant);
  prefix.push_back('\0');
  const std::string upper = PrefixEnd(prefix);
  rocksdb::Slice lower_slice(prefix), upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower_slice;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[kSnapshots]));
  it->SeekToLast();
  std::optional<PolicySnapshot> out;
  if (it->Valid()) {
    PolicySnapshot snapshot;
    RETURN_IF_ERROR(ParseValue(it->value().ToString(), "snapshots", it->key().ToString(),
                               &snapshot));
    out = std::move(snapshot);
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "reading snapshots"));
  return out;
}

absl::Status EventLog::CatchUp() {
  if (options_.mode != EventLogOptions::Mode::kSecondary) return absl::OkStatus();
  return FromRocks(db_->TryCatchUpWithPrimary(), "catching up with the event log writer");
}

// ------------------------------------------------------------------ scale-out

namespace {

constexpr char kOutboxPrefix[] = "outbox/";
constexpr char kPublishedKey[] = "cursor/published";
constexpr char kAppliedKey[] = "cursor/applied";
constexpr char kStreamPositionPrefix[] = "streampos/";

std::string OutboxKey(int64_t seq) {
  std::string key = kOutboxPrefix;
  AppendBigEndian64(static_cast<uint64_t>(seq), &key);
  return key;
}

std::string BigEndianValue(uint64_t v) {
  std::string out;
  AppendBigEndian64(v, &out);
  return out;
}

// DATA_LOSS unless `bytes` holds exactly 8 bytes.
absl::StatusOr<uint64_t> ParseCounter(const std::optional<std::string>& bytes, const char* key) {
  if (!bytes) return 0;
  if (bytes->size() != 8) {
    return absl::DataLossError(absl::StrCat("event log key '", key, "' holds ", bytes->size(),
                                            " bytes, not 8"));
  }
  return ReadBigEndian64(bytes->data());
}

}  // namespace

absl::Status EventLog::WriteWithOutbox(rocksdb::WriteBatch* batch,
                                       std::vector<StreamRecord> records) {
  if (options_.outbox_origin.empty() || records.empty()) return Write(batch);
  absl::MutexLock lock(&outbox_mu_);
  int64_t seq = last_outbox_seq_;
  for (StreamRecord& r : records) {
    r.set_origin(options_.outbox_origin);
    r.set_origin_seq(++seq);
    batch->Put(handles_[kDefault], OutboxKey(seq), r.SerializeAsString());
  }
  RETURN_IF_ERROR(Write(batch));
  last_outbox_seq_ = seq;  // only once written: positions never skip
  return absl::OkStatus();
}

absl::Status EventLog::LoadOutboxSeq() {
  ASSIGN_OR_RETURN(int64_t published, PublishedSeq());
  int64_t last = published;
  const std::string lower = kOutboxPrefix;
  const std::string upper = PrefixEnd(lower);
  rocksdb::Slice lower_slice(lower), upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_lower_bound = &lower_slice;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[kDefault]));
  it->SeekToLast();
  if (it->Valid()) {
    const rocksdb::Slice key = it->key();
    if (key.size() != lower.size() + 8) {
      return absl::DataLossError(absl::StrCat("corrupt outbox key ",
                                              Quote(PrintableKey(key.ToString()))));
    }
    last = std::max<int64_t>(last, static_cast<int64_t>(ReadBigEndian64(key.data() + lower.size())));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "reading the outbox"));
  absl::MutexLock lock(&outbox_mu_);
  last_outbox_seq_ = last;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> EventLog::AppendOutbox(StreamRecord record) {
  if (options_.outbox_origin.empty()) {
    return absl::FailedPreconditionError("the event log has no outbox (no --stream)");
  }
  rocksdb::WriteBatch batch;
  std::vector<StreamRecord> records;
  records.push_back(std::move(record));
  absl::MutexLock lock(&outbox_mu_);
  const int64_t seq = last_outbox_seq_ + 1;
  records[0].set_origin(options_.outbox_origin);
  records[0].set_origin_seq(seq);
  if (records[0].has_reward() && records[0].reward().reward_id().empty()) {
    records[0].mutable_reward()->set_reward_id(absl::StrCat(options_.outbox_origin, ":", seq));
  }
  batch.Put(handles_[kDefault], OutboxKey(seq), records[0].SerializeAsString());
  RETURN_IF_ERROR(Write(&batch));
  last_outbox_seq_ = seq;
  return seq;
}

absl::Status EventLog::ScanOutbox(int64_t after, int32_t limit,
                                  const std::function<absl::Status(const StreamRecord&)>& fn) const {
  const std::string upper = PrefixEnd(kOutboxPrefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, handles_[kDefault]));
  StreamRecord record;
  int32_t n = 0;
  for (it->Seek(OutboxKey(after + 1)); it->Valid() && n < limit; it->Next(), ++n) {
    record.Clear();
    RETURN_IF_ERROR(ParseValue(it->value().ToString(), "default (outbox)", it->key().ToString(),
                               &record));
    RETURN_IF_ERROR(fn(record));
  }
  return FromRocks(it->status(), "scanning the outbox");
}

int64_t EventLog::LastOutboxSeq() const {
  absl::MutexLock lock(&outbox_mu_);
  return last_outbox_seq_;
}

absl::StatusOr<int64_t> EventLog::PublishedSeq() const {
  ASSIGN_OR_RETURN(std::optional<std::string> bytes, RawGet(kDefault, kPublishedKey));
  ASSIGN_OR_RETURN(uint64_t seq, ParseCounter(bytes, kPublishedKey));
  return static_cast<int64_t>(seq);
}

absl::Status EventLog::MarkPublished(int64_t seq) {
  rocksdb::WriteBatch batch;
  batch.Put(handles_[kDefault], kPublishedKey, BigEndianValue(static_cast<uint64_t>(seq)));
  batch.DeleteRange(handles_[kDefault], OutboxKey(0), OutboxKey(seq + 1));
  return Write(&batch);
}

absl::StatusOr<uint64_t> EventLog::AppliedStreamSeq() const {
  ASSIGN_OR_RETURN(std::optional<std::string> bytes, RawGet(kDefault, kAppliedKey));
  return ParseCounter(bytes, kAppliedKey);
}

absl::Status EventLog::SetAppliedStreamSeq(uint64_t seq) {
  rocksdb::WriteBatch batch;
  batch.Put(handles_[kDefault], kAppliedKey, BigEndianValue(seq));
  return Write(&batch);
}

absl::Status EventLog::PutStreamPosition(const std::string& event_id, uint64_t seq) {
  rocksdb::WriteBatch batch;
  batch.Put(handles_[kDefault], absl::StrCat(kStreamPositionPrefix, event_id), BigEndianValue(seq));
  return Write(&batch);
}

absl::StatusOr<std::optional<uint64_t>> EventLog::StreamPosition(const std::string& event_id) const {
  const std::string key = absl::StrCat(kStreamPositionPrefix, event_id);
  ASSIGN_OR_RETURN(std::optional<std::string> bytes, RawGet(kDefault, key));
  if (!bytes) return std::optional<uint64_t>();
  ASSIGN_OR_RETURN(uint64_t seq, ParseCounter(bytes, "streampos/<event id>"));
  return std::optional<uint64_t>(seq);
}

absl::Status EventLog::StoreReplicatedDecision(const DecisionEvent& event) {
  RETURN_IF_ERROR(BeginAppend(event));
  rocksdb::WriteBatch batch;
  PutDecision(event, &batch);
  const absl::Status status = Write(&batch);
  absl::MutexLock lock(&pending_mu_);
  pending_.erase(event.event_id());
  return status;
}

}  // namespace recbandit::bandits
