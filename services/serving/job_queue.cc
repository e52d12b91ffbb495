// JobQueue: validation, durable job records and their recovery, the worker
// loop, training with checkpoints, validation gates and activation, and
// batch recommendation to a file.
#include "services/serving/job_queue.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "proto/core/file_util.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"
#include "ranking/interactions.h"
#include "ranking/train_params.h"
#include "ranking/training.h"
#include "retrieval/item_index.h"
#include "services/serving/batch_recommend.h"
#include "services/serving/model_builder.h"
#include "services/serving/model_store.h"
#include "services/serving/request_checks.h"
#include "services/serving/validation_gates.h"

namespace recbandit::services {
namespace fs = std::filesystem;
namespace {

constexpr char kRecordFile[] = "job.record";
constexpr char kCheckpointDir[] = "checkpoint";
constexpr char kExtraFile[] = "extra_interactions";
// Every stored record starts with this, then the CRC-32C of the payload
// (4 bytes, little endian), then the serialized message.
constexpr char kRecordMagic[8] = {'R', 'B', 'J', 'O', 'B', '0', '1', '\n'};
constexpr int32_t kMaxBatchUsers = 1000000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// True when `inner` is `root` or below it (both absolute and normalised).
bool IsWithin(const fs::path& inner, const fs::path& root) {
  auto r = root.begin(), i = inner.begin();
  for (; r != root.end(); ++r, ++i) {
    if (r->empty()) continue;  // trailing separator
    if (i == inner.end() || *i != *r) return false;
  }
  return true;
}

absl::StatusOr<fs::path> DataRoot(const std::string& data_dir) {
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(fs::absolute(data_dir, ec), ec);
  if (ec || root.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot resolve the data directory ", Quote(data_dir), ": ", ec.message()));
  }
  return root;
}

// Writes `message` framed (magic, CRC-32C, payload) to `path` atomically.
absl::Status WriteFramed(const std::string& path, const google::protobuf::Message& message) {
  std::string payload;
  if (!message.SerializeToString(&payload)) {
    return absl::InternalError(absl::StrCat("cannot serialize ", path));
  }
  const uint32_t crc = Crc32c(payload);
  std::string data(kRecordMagic, sizeof(kRecordMagic));
  for (int b = 0; b < 4; ++b) data.push_back(static_cast<char>((crc >> (8 * b)) & 0xff));
  data += payload;
  return WriteFileAtomically(path, data);
}

// Reads what WriteFramed wrote. DATA_LOSS naming the file for a wrong magic,
// a short file, a CRC mismatch or an unparsable payload.
absl::Status ReadFramed(const std::string& path, google::protobuf::Message* message) {
  ASSIGN_OR_RETURN(std::string data, ReadFileToString(path, uint64_t{1} << 30));
  const size_t header = sizeof(kRecordMagic) + 4;
  if (data.size() < header || std::memcmp(data.data(), kRecordMagic, sizeof(kRecordMagic)) != 0) {
    return absl::DataLossError(absl::StrCat(PathForMessage(path), ": not a job record (",
                                            data.size(), " bytes, bad header)"));
  }
  uint32_t crc = 0;
  for (int b = 0; b < 4; ++b) {
    crc |= static_cast<uint32_t>(static_cast<unsigned char>(data[sizeof(kRecordMagic) + b]))
           << (8 * b);
  }
  const std::string_view payload(data.data() + header, data.size() - header);
  if (Crc32c(payload) != crc) {
    return absl::DataLossError(absl::StrCat(PathForMessage(path), ": checksum mismatch"));
  }
  if (!message->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) {
    return absl::DataLossError(absl::StrCat(PathForMessage(path), ": unparsable record"));
  }
  return absl::OkStatus();
}

// Size and modification time of `path` (the input a resumed job checks).
absl::Status Fingerprint(const std::string& path, uint64_t* size, int64_t* mtime_ns) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot stat ", PathForMessage(path), ": ",
                                            std::strerror(errno)));
  }
  *size = static_cast<uint64_t>(st.st_size);
  *mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ResolveDataPath(const std::string& data_dir,
                                            const std::string& path, const std::string& field) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  ASSIGN_OR_RETURN(const fs::path root, DataRoot(data_dir));
  std::error_code ec;
  fs::path p(path);
  if (p.is_relative()) p = root / p;
  const fs::path resolved = fs::weakly_canonical(p, ec);
  if (ec || !IsWithin(resolved, root)) {
    return absl::PermissionDeniedError(absl::StrCat(
        field, " ", Quote(path), " is outside the server's data directory ", root.string()));
  }
  if (!fs::exists(resolved, ec)) {
    return absl::NotFoundError(absl::StrCat(field, " ", Quote(path), " does not exist"));
  }
  return resolved.string();
}

absl::StatusOr<std::string> ResolveOutputPath(const std::string& data_dir,
                                              const std::string& path, const std::string& field) {
  if (path.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  ASSIGN_OR_RETURN(const fs::path root, DataRoot(data_dir));
  fs::path p(path);
  if (p.is_relative()) p = root / p;
  if (!p.has_filename() || p.filename() == "." || p.filename() == "..") {
    return absl::InvalidArgumentError(absl::StrCat(field, " ", Quote(path), " names no file"));
  }
  std::error_code ec;
  const fs::path folder = fs::weakly_canonical(p.parent_path(), ec);
  const fs::path resolved = folder / p.filename();
  if (ec || !IsWithin(resolved, root) || resolved == root) {
    return absl::PermissionDeniedError(absl::StrCat(
        field, " ", Quote(path), " is outside the server's data directory ", root.string()));
  }
  // The server's own state is not a place for output files.
  const std::string top = resolved.lexically_relative(root).begin()->string();
  for (const char* reserved : {"events", "models", "jobs"}) {
    if (top == reserved) {
      return absl::PermissionDeniedError(absl::StrCat(
          field, " ", Quote(path), " is inside the server's ", reserved,
          "/ folder (events/, models/ and jobs/ are the server's own state)"));
    }
  }
  if (!fs::is_directory(folder, ec)) {
    return absl::NotFoundError(
        absl::StrCat(field, " ", Quote(path), ": its folder does not exist"));
  }
  if (fs::is_symlink(resolved, ec) || fs::is_directory(resolved, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " ", Quote(path), " is a directory or a symbolic link"));
  }
  return resolved.string();
}

JobQueue::JobQueue(ModelStore* store, JobQueueOptions options)
    : store_(store),
      options_(std::move(options)),
      jobs_dir_((fs::path(options_.data_dir) / "jobs").string()) {}

absl::StatusOr<std::unique_ptr<JobQueue>> JobQueue::Open(ModelStore* store,
                                                         JobQueueOptions options) {
  std::unique_ptr<JobQueue> queue(new JobQueue(store, std::move(options)));
  RETURN_IF_ERROR(MakeDirs(queue->jobs_dir_));
  RETURN_IF_ERROR(queue->Recover());
  if (queue->options_.start_worker) queue->Start();
  return queue;
}

void JobQueue::Start() {
  absl::MutexLock join(&join_mu_);
  if (!worker_.joinable()) worker_ = std::thread([this] { WorkerLoop(); });
}

JobQueue::~JobQueue() { Shutdown(); }

void JobQueue::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    stopping_ = true;
  }
  absl::MutexLock join(&join_mu_);  // one caller joins; the others wait for it
  if (worker_.joinable()) worker_.join();
}

std::string JobQueue::JobDir(const std::string& job_id) const {
  return (fs::path(jobs_dir_) / job_id).string();
}

namespace {

// Returns the sequence number that ends a job id ("job-<ms>-<seq>"), 0 when
// there is none.
int64_t JobSequence(const std::string& job_id) {
  const size_t dash = job_id.rfind('-');
  int64_t seq = 0;
  if (dash == std::string::npos || !absl::SimpleAtoi(job_id.substr(dash + 1), &seq)) return 0;
  return seq;
}

}  // namespace

absl::Status JobQueue::Recover() {
  std::vector<JobRecord> records;
  std::error_code list_error;
  for (fs::directory_iterator it(jobs_dir_, list_error), end; !list_error && it != end;
       it.increment(list_error)) {
    std::error_code ec;  // one per operation: a failure of one is reported there
    if (!it->is_directory(ec)) continue;
    const std::string dir = it->path().string();
    const std::string file = (it->path() / kRecordFile).string();
    if (!PathExists(file)) {
      if (PathExists(file + ".corrupt")) continue;  // reported when it was moved aside; kept
      // Submit writes the record before it answers: this job was never
      // acknowledged.
      std::fprintf(stderr, "serve: %s has no job record (a submission cut short); removed\n",
                   PathForMessage(dir).c_str());
      fs::remove_all(it->path(), ec);
      continue;
    }
    JobRecord record;
    absl::Status read = ReadFramed(file, &record);
    if (read.ok() && record.job().job_id() != it->path().filename().string()) {
      read = absl::DataLossError(absl::StrCat(PathForMessage(file), ": holds job ",
                                              Quote(record.job().job_id())));
    }
    if (!read.ok()) {
      fs::rename(file, file + ".corrupt", ec);
      std::fprintf(stderr, "serve: damaged job record skipped%s: %s\n",
                   ec ? absl::StrCat(" (left in place: cannot rename it: ", ec.message(), ")")
                            .c_str()
                      : absl::StrCat(" and moved to ", PathForMessage(file), ".corrupt").c_str(),
                   std::string(read.message()).c_str());
      continue;
    }
    records.push_back(std::move(record));
  }
  if (list_error) {
    return absl::InternalError(absl::StrCat("cannot list ", jobs_dir_, ": ", list_error.message()));
  }
  std::sort(records.begin(), records.end(), [](const JobRecord& a, const JobRecord& b) {
    return std::make_pair(a.job().created_unix_ms(), JobSequence(a.job().job_id())) <
           std::make_pair(b.job().created_unix_ms(), JobSequence(b.job().job_id()));
  });
  absl::MutexLock lock(&mu_);
  // New ids continue after the recovered ones, even if the clock went back.
  for (const JobRecord& record : records) {
    next_id_ = std::max(next_id_, JobSequence(record.job().job_id()));
  }
  for (JobRecord& record : records) {
    auto entry = std::make_shared<Entry>();
    Job& job = *record.mutable_job();
    if (!IsTerminal(job.state())) {
      if (job.state() == JOB_STATE_RUNNING) job.set_restarts(job.restarts() + 1);
      job.set_state(JOB_STATE_QUEUED);
      job.set_eta_seconds(0);
      // Progress restarts from what the checkpoint holds, known once it runs.
      job.set_iteration(0);
      job.set_resumed_from_iteration(0);
      job.set_users_done(0);
      queue_.push_back(entry.get());
      std::fprintf(stderr, "serve: job %s (%s) queued again after a restart\n",
                   job.job_id().c_str(), job.model_name().c_str());
    } else {
      finished_.push_back(job.job_id());
    }
    entry->record = std::move(record);
    jobs_[entry->record.job().job_id()] = std::move(entry);
  }
  ForgetOldLocked();
  return absl::OkStatus();
}

absl::StatusOr<Job> JobQueue::Enqueue(JobRecord record) {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return absl::UnavailableError("the server is shutting down");
    // Submissions being written count against the bound too.
    const int64_t waiting = static_cast<int64_t>(queue_.size()) + submitting_;
    if (waiting >= options_.max_queued) {
      return absl::ResourceExhaustedError(absl::StrCat(
          waiting, " jobs are already queued (at most ", options_.max_queued, ")"));
    }
    ++submitting_;
    Job& job = *record.mutable_job();
    job.set_job_id(absl::StrCat("job-", NowMs(), "-", ++next_id_));
    job.set_state(JOB_STATE_QUEUED);
    job.set_created_unix_ms(NowMs());
  }
  // Durable before it is acknowledged (and before the worker can see it).
  const std::string dir = JobDir(record.job().job_id());
  absl::Status written = MakeDirs(dir);
  if (written.ok()) written = WriteFramed((fs::path(dir) / kRecordFile).string(), record);
  absl::MutexLock lock(&mu_);
  --submitting_;
  if (written.ok() && shut_down_) {
    written = absl::UnavailableError("the server is shutting down");
  }
  if (!written.ok()) {
    // Not acknowledged, so not run at the next start either.
    std::error_code ignored;
    fs::remove_all(dir, ignored);
    return written;
  }
  auto entry = std::make_shared<Entry>();
  entry->record = std::move(record);
  Job copy = entry->record.job();
  queue_.push_back(entry.get());
  jobs_[copy.job_id()] = std::move(entry);
  return copy;
}

absl::StatusOr<Job> JobQueue::Submit(const TrainRequest& request) {
  RETURN_IF_ERROR(ValidateName(request.model_name(), "model_name"));
  RETURN_IF_ERROR(ranking::ValidateTrainParams(request.params()));
  if (!request.params().index_factory().empty()) {
    absl::Status index = retrieval::ValidateIndexFactory(request.params().index_factory(),
                                                         ranking::FactorsOf(request.params()));
    if (!index.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("params.index_factory: ", index.message()));
    }
  }
  if (request.k() < 0 || request.k() > 1000) {
    return absl::InvalidArgumentError(absl::StrCat("k must be in [0, 1000], got ", request.k()));
  }
  if (request.checkpoint_every() < 0 || request.checkpoint_every() > 10000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint_every = ", request.checkpoint_every(), " is out of range (1..10000)"));
  }
  if (request.has_gates()) {
    RETURN_IF_ERROR(
        ValidateGates(request.gates(), !request.params().index_factory().empty(),
                      [](const std::string& field) {
                        return absl::StartsWith(field, "params.") ? field
                                                                  : absl::StrCat("gates.", field);
                      }));
  }
  JobRecord record;
  TrainRequest& resolved = *record.mutable_train();
  resolved = request;
  ASSIGN_OR_RETURN(*resolved.mutable_interactions_path(),
                   ResolveDataPath(options_.data_dir, request.interactions_path(),
                                   "interactions_path"));
  if (!request.test_path().empty()) {
    ASSIGN_OR_RETURN(*resolved.mutable_test_path(),
                     ResolveDataPath(options_.data_dir, request.test_path(), "test_path"));
  }
  if (resolved.k() == 0) resolved.set_k(10);
  if (resolved.checkpoint_every() == 0) resolved.set_checkpoint_every(1);
  if (resolved.has_gates()) *resolved.mutable_gates() = WithGateDefaults(resolved.gates());
  Job& job = *record.mutable_job();
  job.set_kind(JOB_KIND_TRAIN);
  job.set_total_iterations(ranking::IterationsOf(request.params()));
  job.set_model_name(request.model_name());
  return Enqueue(std::move(record));
}

absl::StatusOr<Job> JobQueue::Submit(const BatchRecommendRequest& request) {
  if (!request.model_name().empty()) RETURN_IF_ERROR(ValidateName(request.model_name(), "model_name"));
  if (request.k() != 0) RETURN_IF_ERROR(CheckK(request.k()).status());
  RETURN_IF_ERROR(ValidateBatchFormat(request.format().empty() ? "jsonl" : request.format(),
                                      "format"));
  if (request.ef_search() < 0 || request.ef_search() > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("ef_search = ", request.ef_search(), " is out of range (1..4096)"));
  }
  if (request.nprobe() < 0 || request.nprobe() > 65536) {
    return absl::InvalidArgumentError(
        absl::StrCat("nprobe = ", request.nprobe(), " is out of range (1..65536)"));
  }
  if (request.threads() < 0 || request.threads() > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads = ", request.threads(), " is out of range (1..256)"));
  }
  if (request.users_size() > kMaxBatchUsers) {
    return absl::InvalidArgumentError(absl::StrCat("users has ", request.users_size(),
                                                   " entries (at most ", kMaxBatchUsers, ")"));
  }
  for (const std::string& user : request.users()) RETURN_IF_ERROR(CheckId(user, "users"));
  RETURN_IF_ERROR(BatchFilter(request.filter()).status());
  ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> model, store_->Get(request.model_name()));
  JobRecord record;
  BatchRecommendRequest& resolved = *record.mutable_batch();
  resolved = request;
  ASSIGN_OR_RETURN(*resolved.mutable_output_path(),
                   ResolveOutputPath(options_.data_dir, request.output_path(), "output_path"));
  resolved.set_model_name(model->name());
  if (resolved.k() == 0) resolved.set_k(10);
  if (resolved.format().empty()) resolved.set_format("jsonl");
  if (resolved.threads() == 0) resolved.set_threads(1);
  Job& job = *record.mutable_job();
  job.set_kind(JOB_KIND_BATCH_RECOMMEND);
  job.set_model_name(model->name());
  job.set_users_total(request.users_size() > 0 ? request.users_size()
                                               : model->model().num_users());
  return Enqueue(std::move(record));
}

absl::StatusOr<Job> JobQueue::Get(const std::string& job_id) const {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("unknown job ", Quote(job_id)));
  return it->second->record.job();
}

absl::StatusOr<Job> JobQueue::WaitForChange(const std::string& job_id, int64_t* revision,
                                            absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("unknown job ", Quote(job_id)));
  const std::shared_ptr<const Entry> entry = it->second;
  const int64_t seen = *revision;
  auto changed = [&entry, seen]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return entry->revision > seen;
  };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  *revision = entry->revision;
  return entry->record.job();
}

absl::StatusOr<Job> JobQueue::Cancel(const std::string& job_id) {
  std::shared_ptr<Entry> entry;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) {
      return absl::NotFoundError(absl::StrCat("unknown job ", Quote(job_id)));
    }
    entry = it->second;
    Job& job = *entry->record.mutable_job();
    if (IsTerminal(job.state())) return job;
    entry->cancel = true;
    if (job.state() != JOB_STATE_QUEUED) return job;  // the worker finishes it
    queue_.erase(std::remove(queue_.begin(), queue_.end(), entry.get()), queue_.end());
    job.set_state(JOB_STATE_CANCELLED);
    ++entry->revision;
    finished_.push_back(job_id);
    ForgetOldLocked();
  }
  const absl::Status persisted = Persist(entry.get());
  if (!persisted.ok()) {
    std::fprintf(stderr, "job %s: cannot record the cancellation: %s\n", job_id.c_str(),
                 std::string(persisted.message()).c_str());
  }
  std::error_code ignored;
  fs::remove_all(fs::path(JobDir(job_id)) / kExtraFile, ignored);
  absl::MutexLock lock(&mu_);
  return entry->record.job();
}

std::map<JobState, int64_t> JobQueue::CountByState() const {
  absl::MutexLock lock(&mu_);
  std::map<JobState, int64_t> counts;
  for (const auto& [id, entry] : jobs_) ++counts[entry->record.job().state()];
  return counts;
}

void JobQueue::ForgetOldLocked() {
  while (static_cast<int32_t>(finished_.size()) > options_.max_finished) {
    std::error_code ignored;
    fs::remove_all(JobDir(finished_.front()), ignored);
    jobs_.erase(finished_.front());
    finished_.pop_front();
  }
}

void JobQueue::Update(Entry* entry, const std::function<void(Job*)>& update) {
  absl::MutexLock lock(&mu_);
  update(entry->record.mutable_job());
  ++entry->revision;
}

absl::Status JobQueue::Persist(Entry* entry) {
  JobRecord copy;
  {
    absl::MutexLock lock(&mu_);
    copy = entry->record;
  }
  return WriteFramed((fs::path(JobDir(copy.job().job_id())) / kRecordFile).string(), copy);
}

bool JobQueue::Stopping(const Entry& entry) const { return entry.cancel || stopping_; }

void JobQueue::WorkerLoop() {
  while (true) {
    Entry* entry = nullptr;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return shut_down_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (shut_down_) return;  // the queued jobs stay recorded for the next Open
      entry = queue_.front();
      queue_.pop_front();
      entry->record.mutable_job()->set_state(JOB_STATE_RUNNING);
      ++entry->revision;
    }
    const absl::Status persisted = Persist(entry);
    if (!persisted.ok()) {
      std::fprintf(stderr, "job %s: cannot record its start: %s\n",
                   entry->record.job().job_id().c_str(), std::string(persisted.message()).c_str());
    }
    Run(entry);
  }
}

void JobQueue::Run(Entry* entry) {
  int64_t version = 0;
  bool promoted = true;
  absl::StatusOr<TrainReport> train;
  absl::StatusOr<BatchRecommendReport> batch;
  absl::Status status;
  const bool is_batch = entry->record.has_batch();
  if (is_batch) {
    batch = RecommendToFile(entry);
    status = batch.status();
  } else {
    train = TrainAndActivate(entry, &version, &promoted);
    status = train.status();
  }
  if (absl::IsCancelled(status) && !entry->cancel && stopping_) {
    // Stopped by Shutdown, not by CancelJob: the record stays RUNNING, so
    // the next Open takes the job up again.
    std::fprintf(stderr, "job %s stopped by the shutdown; it resumes at the next start\n",
                 entry->record.job().job_id().c_str());
    return;
  }
  Job finished;
  {
    absl::MutexLock lock(&mu_);
    Job& job = *entry->record.mutable_job();
    job.set_eta_seconds(0);
    if (status.ok()) {
      if (is_batch) {
        job.set_state(JOB_STATE_SUCCEEDED);
        *job.mutable_batch_report() = *batch;
      } else {
        job.set_state(promoted ? JOB_STATE_SUCCEEDED : JOB_STATE_NOT_PROMOTED);
        job.set_model_version(version);
        *job.mutable_report() = *train;
      }
    } else if (absl::IsCancelled(status)) {
      job.set_state(JOB_STATE_CANCELLED);
    } else {
      job.set_state(JOB_STATE_FAILED);
      job.set_error(BoundedMessage(status.message(), 512));
    }
    ++entry->revision;
    finished_.push_back(job.job_id());
    finished = job;
  }
  const absl::Status persisted = Persist(entry);
  if (!persisted.ok()) {
    std::fprintf(stderr, "job %s: cannot record its end: %s\n", finished.job_id().c_str(),
                 std::string(persisted.message()).c_str());
  }
  std::error_code ignored;  // what only a resumed run needs
  fs::remove_all(fs::path(JobDir(finished.job_id())) / kCheckpointDir, ignored);
  fs::remove_all(fs::path(JobDir(finished.job_id())) / kExtraFile, ignored);
  {
    absl::MutexLock lock(&mu_);
    ForgetOldLocked();  // never this entry: it was just pushed, max_finished >= 1
  }
  std::fprintf(stderr, "job %s (%s): %s%s\n", finished.job_id().c_str(),
               finished.model_name().c_str(), JobState_Name(finished.state()).c_str(),
               finished.error().empty() ? "" : (": " + finished.error()).c_str());
  if (options_.on_finished) options_.on_finished(finished);
}

absl::StatusOr<std::shared_ptr<const RowFilter>> JobQueue::BatchFilter(
    const Filter& filter) const {
  if (options_.compile_filter) return options_.compile_filter(filter);
  if (!filter.expression().empty() || !filter.parameters().empty()) {
    return absl::FailedPreconditionError("filters need the server's catalog");
  }
  return nullptr;
}

absl::StatusOr<BatchRecommendReport> JobQueue::RecommendToFile(Entry* entry) {
  const BatchRecommendRequest& request = entry->record.batch();
  ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> model, store_->Get(request.model_name()));
  BatchRecommendOptions options;
  options.k = request.k();
  options.exclude_seen = !request.include_seen();
  options.search.ef_search = request.ef_search();
  options.search.nprobe = request.nprobe();
  options.threads = request.threads();
  options.format = request.format();
  options.users.assign(request.users().begin(), request.users().end());
  ASSIGN_OR_RETURN(options.filter, BatchFilter(request.filter()));
  options.stop = [this, entry] { return Stopping(*entry); };
  options.progress = [this, entry](int64_t done, int64_t total) {
    Update(entry, [&](Job* job) {
      job->set_users_done(done);
      job->set_users_total(total);
    });
  };
  Update(entry, [&](Job* job) { job->set_model_version(model->version()); });
  return WriteBatchRecommendations(*model, request.output_path(), options);
}

absl::StatusOr<TrainReport> JobQueue::TrainAndActivate(Entry* entry, int64_t* version,
                                                       bool* promoted) {
  const std::string job_id = entry->record.job().job_id();
  const std::string job_dir = JobDir(job_id);
  const std::string checkpoint_dir = (fs::path(job_dir) / kCheckpointDir).string();
  const std::string extra_path = (fs::path(job_dir) / kExtraFile).string();
  const TrainRequest request = entry->record.train();  // immutable once queued
  const TrainParams& params = request.params();

  // The same rows on every run of this job: the file unchanged, the
  // real-time interactions read from the log once and saved.
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  RETURN_IF_ERROR(Fingerprint(request.interactions_path(), &size, &mtime_ns));
  bool first_run;
  {
    absl::MutexLock lock(&mu_);
    first_run = !entry->record.extra_interactions_saved();
  }
  if (!first_run && (size != entry->record.input_size_bytes() ||
                     mtime_ns != entry->record.input_mtime_ns())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "interactions_path ", PathForMessage(request.interactions_path()),
        " changed since the job started (size or modification time); submit a new job"));
  }
  ranking::LoadStats stats;
  ASSIGN_OR_RETURN(ranking::InteractionLog log,
                   ranking::LoadInteractions(request.interactions_path(), {}, &stats));
  SavedInteractions extra;
  if (first_run) {
    if (options_.extra_interactions) {
      RETURN_IF_ERROR(options_.extra_interactions(
          [&extra](const Interaction& x) { *extra.add_interactions() = x; }));
    }
    RETURN_IF_ERROR(WriteFramed(extra_path, extra));
    {
      absl::MutexLock lock(&mu_);
      entry->record.set_input_size_bytes(size);
      entry->record.set_input_mtime_ns(mtime_ns);
      entry->record.set_extra_interactions_saved(true);
    }
    RETURN_IF_ERROR(Persist(entry));
  } else {
    RETURN_IF_ERROR(ReadFramed(extra_path, &extra));
  }
  for (const Interaction& x : extra.interactions()) {
    int16_t type = -1;
    if (!x.event_type().empty()) {
      const int32_t t = log.event_types.GetOrAdd(x.event_type());
      if (t >= ranking::InteractionLog::kMaxEventTypes) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the input and the real-time events have more than ",
            ranking::InteractionLog::kMaxEventTypes, " event types"));
      }
      type = static_cast<int16_t>(t);
    }
    log.Add(log.users.GetOrAdd(x.user()), log.items.GetOrAdd(x.item()),
            x.weight() > 0 ? x.weight() : 1.0f, x.timestamp_us(), type);
  }
  RETURN_IF_ERROR(ranking::CheckHasInteractions(log, request.interactions_path(), stats));
  RETURN_IF_ERROR(ApplyWeighting(params, request.interactions_path(), &log));
  if (extra.interactions_size() > 0) {
    std::fprintf(stderr, "job %s: %d real-time events added to %s\n", job_id.c_str(),
                 extra.interactions_size(), request.interactions_path().c_str());
  }
  // With gates, the candidate trains on the log minus its holdout.
  const bool gated = request.has_gates();
  HoldoutSplit split;
  if (gated) {
    split = SplitHoldout(log, request.gates().holdout());
  } else {
    split.train = std::move(log);
  }
  log = ranking::InteractionLog();
  const ranking::Interactions data = ranking::Interactions::FromLog(split.train);
  if (!gated) split.train = ranking::InteractionLog();
  if (!params.index_factory().empty()) {  // the item count is known now: fail before training
    absl::Status index = retrieval::ValidateIndexFactory(params.index_factory(),
                                                         ranking::FactorsOf(params),
                                                         data.num_items());
    if (!index.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("params.index_factory: ", index.message()));
    }
  }

  // Resume from the checkpoint of an earlier run of this job, if usable.
  std::unique_ptr<ranking::FactorState> resume;
  if (PathExists((fs::path(checkpoint_dir) / "manifest").string())) {
    absl::StatusOr<ranking::FactorState> s = LoadTrainingCheckpoint(checkpoint_dir, params, data);
    if (s.ok()) {
      resume = std::make_unique<ranking::FactorState>(std::move(*s));
      std::fprintf(stderr, "job %s: resuming from its checkpoint after %d iterations\n",
                   job_id.c_str(), resume->iterations_done);
    } else {
      std::fprintf(stderr, "job %s: checkpoint unusable, training from scratch: %s\n",
                   job_id.c_str(), std::string(s.status().message()).c_str());
      std::error_code ignored;
      fs::remove_all(checkpoint_dir, ignored);
    }
  }
  std::vector<double> losses;
  {
    absl::MutexLock lock(&mu_);
    if (resume != nullptr) {
      losses.assign(entry->record.losses().begin(), entry->record.losses().end());
      losses.resize(std::min<size_t>(losses.size(), resume->iterations_done));
    }
    entry->record.mutable_job()->set_resumed_from_iteration(
        resume != nullptr ? resume->iterations_done : 0);
    entry->record.mutable_job()->set_iteration(resume != nullptr ? resume->iterations_done : 0);
    ++entry->revision;
  }

  TrainReport report;
  const bool loss_computed = (params.has_als() && params.als().compute_loss()) ||
                             (params.has_bpr() && params.bpr().compute_loss());
  double iteration_seconds = 0;
  int32_t iterations_run = 0;
  const ranking::IterationCallback callback =
      [&](const ranking::TrainingProgress& p, const ranking::FactorState& s) -> absl::Status {
    iteration_seconds += p.seconds;
    ++iterations_run;
    // One loss per iteration when they are computed, a NaN one included
    // (the training_loss gate must see a diverged run).
    if (loss_computed) losses.push_back(p.loss);
    const double eta = iteration_seconds / iterations_run * (p.total - p.iteration);
    // Checkpoint first: a reported iteration that is a multiple of
    // checkpoint_every is one a restart resumes from.
    if (p.iteration < p.total && p.iteration % request.checkpoint_every() == 0) {
      // The losses first: a resumed run keeps those of the iterations its
      // checkpoint holds (a surplus is trimmed), never fewer.
      {
        absl::MutexLock lock(&mu_);
        entry->record.mutable_losses()->Assign(losses.begin(), losses.end());
      }
      RETURN_IF_ERROR(Persist(entry));
      ASSIGN_OR_RETURN(ranking::FactorModel checkpoint,
                       MakeVersionedModel(data, params, s, request.model_name(), 0, nullptr));
      RETURN_IF_ERROR(checkpoint.Save(checkpoint_dir));
    }
    Update(entry, [&](Job* job) {
      job->set_iteration(p.iteration);
      job->set_total_iterations(p.total);
      job->set_loss(std::isnan(p.loss) ? 0 : p.loss);
      job->set_eta_seconds(eta);
    });
    if (Stopping(*entry)) return absl::CancelledError("cancelled");
    return absl::OkStatus();
  };
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<ranking::FactorState> state =
      ranking::Train(params, data, resume.get(), callback);
  if (!state.ok()) return state.status();
  if (Stopping(*entry)) return absl::CancelledError("cancelled");
  const double train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (double l : losses) report.add_loss(l);

  const int32_t threads = params.threads() > 0 ? params.threads() : 1;
  *version = store_->NextVersion(request.model_name());
  const std::string dir = store_->VersionDir(request.model_name(), *version);
  ASSIGN_OR_RETURN(ranking::FactorModel model,
                   MakeVersionedModel(data, params, *state, request.model_name(), *version,
                                      nullptr));
  if (!request.test_path().empty()) {
    ASSIGN_OR_RETURN(RankingMetrics metrics,
                     EvaluateOnTestFile(model, data.user_items(), request.test_path(),
                                        request.k(), threads, nullptr));
    *report.mutable_metrics() = metrics;
    *model.mutable_manifest()->mutable_metrics() = metrics;
  }
  std::unique_ptr<retrieval::ItemIndex> index;
  if (!params.index_factory().empty()) {
    retrieval::IndexBuildOptions build;
    build.threads = threads;
    ASSIGN_OR_RETURN(index, retrieval::BuildItemIndex(params.index_factory(),
                                                      model.item_factors(), model.factors(),
                                                      build));
    report.set_index_factory(params.index_factory());
  }
  if (Stopping(*entry)) return absl::CancelledError("cancelled");
  *promoted = true;
  if (gated) {
    GateInputs inputs;
    inputs.candidate = &model;
    inputs.train = &data;
    inputs.split = &split;
    inputs.index = index.get();
    inputs.losses = losses;
    absl::StatusOr<std::shared_ptr<const ServingModel>> active = store_->Get(request.model_name());
    if (active.ok()) {
      inputs.active = &(*active)->model();
      inputs.active_version = (*active)->version();
    }
    ASSIGN_OR_RETURN(ValidationReport validation,
                     EvaluateGates(request.gates(), inputs, threads));
    *promoted = validation.promoted();
    *report.mutable_validation() = validation;
    *model.mutable_manifest()->mutable_validation() = validation;
  }
  // Written and indexed in a staging directory, then renamed into place: a
  // version directory is complete from the moment it exists (ModelStore
  // ignores names that are not numbers).
  const std::string staging = dir + ".staging";
  std::error_code ignored;
  fs::remove_all(staging, ignored);
  RETURN_IF_ERROR(MakeDirs(fs::path(dir).parent_path().string()));
  absl::Status staged = model.Save(staging);
  if (staged.ok() && index != nullptr) {
    staged = index->Save(absl::StrCat(staging, "/", kItemIndexFile));
  }
  if (staged.ok() && Stopping(*entry)) staged = absl::CancelledError("cancelled");
  if (staged.ok()) {
    fs::rename(staging, dir, ignored);
    if (ignored) {
      staged = absl::InternalError(
          absl::StrCat("cannot rename ", staging, " to ", dir, ": ", ignored.message()));
    }
  }
  if (!staged.ok()) {
    fs::remove_all(staging, ignored);
    return staged;
  }
  if (*promoted) {
    // A new version of the default model's name is served at once; another
    // name becomes the default only when there is none (ActivateModel says
    // so explicitly).
    absl::Status activated =
        store_->Activate(request.model_name(), *version, /*make_default=*/false).status();
    if (!activated.ok()) {
      fs::remove_all(dir, ignored);  // never keep a version that does not serve
      return activated;
    }
  }
  store_->Prune(request.model_name());  // the newest --keep_versions stay

  FillTrainReport(data, params, *state, iterations_run, iteration_seconds, train_seconds, dir,
                  &report);
  return report;
}

}  // namespace recbandit::services
