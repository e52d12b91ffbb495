// StreamApplier: the stream-to-replica loop (see stream_applier.h).
#include "services/replication/stream_applier.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proto/core/status_macros.h"

namespace recbandit::services {

StreamApplier::StreamApplier(StreamApplierOptions options, NatsStream* stream)
    : options_(std::move(options)), stream_(stream) {}

StreamApplier::~StreamApplier() { Stop(); }

absl::Status StreamApplier::Start() {
  ASSIGN_OR_RETURN(applied_, options_.log->AppliedStreamSeq());
  saved_ = applied_;
  {
    absl::MutexLock lock(&mu_);
    stats_.applied_seq = applied_;
  }
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void StreamApplier::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool StreamApplier::Stopping() {
  absl::MutexLock lock(&mu_);
  return stop_;
}

StreamApplier::Stats StreamApplier::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void StreamApplier::SetError(const std::string& text) {
  absl::MutexLock lock(&mu_);
  std::string bounded = text.substr(0, 200);
  if (bounded != stats_.last_error) {
    std::fprintf(stderr, "stream: %s\n", bounded.c_str());
    stats_.last_error = std::move(bounded);
  }
}

void StreamApplier::SaveCursor() {
  uint64_t cursor = applied_;
  if (!parked_seqs_.empty()) cursor = std::min(cursor, parked_seqs_.begin()->first - 1);
  if (cursor == saved_) return;
  absl::Status s = options_.log->SetAppliedStreamSeq(cursor);
  if (!s.ok()) {
    SetError(absl::StrCat("storing the stream cursor: ", s.message()));
    return;
  }
  saved_ = cursor;
}

absl::Status StreamApplier::ApplyReward(const StreamReward& reward) {
  absl::Status s = options_.experiments->ApplyStreamReward(reward);
  if (s.ok() || absl::IsUnavailable(s)) return s;
  // Refused alike on every replica (an aggregate out of bounds, an unknown
  // experiment): counted and reported, the stream goes on.
  {
    absl::MutexLock lock(&mu_);
    ++stats_.rejected;
  }
  SetError(absl::StrCat("reward ", reward.reward_id().substr(0, 160), " not applied: ",
                        s.message()));
  return absl::OkStatus();
}

absl::Status StreamApplier::Apply(uint64_t seq, const std::string& data) {
  StreamRecord record;
  if (!record.ParseFromString(data)) {
    return absl::DataLossError(absl::StrCat("stream message ", seq, " (", data.size(),
                                            " bytes) is not a StreamRecord"));
  }
  const bool foreign = record.origin() != options_.replica_id;
  bandits::EventLog& log = *options_.log;
  switch (record.record_case()) {
    case StreamRecord::kDecision: {
      const DecisionEvent& d = record.decision();
      if (foreign) {
        absl::Status stored = log.StoreReplicatedDecision(d);
        if (!stored.ok() && !absl::IsAlreadyExists(stored)) return stored;
      }
      RETURN_IF_ERROR(log.PutStreamPosition(d.event_id(), seq));
      auto it = parked_.find(d.event_id());
      if (it == parked_.end()) return absl::OkStatus();
      for (const Parked& p : it->second) {
        RETURN_IF_ERROR(ApplyReward(p.reward));
        if (--parked_seqs_[p.seq] == 0) parked_seqs_.erase(p.seq);
        --parked_count_;
      }
      parked_.erase(it);
      return absl::OkStatus();
    }
    case StreamRecord::kReward: {
      const StreamReward& r = record.reward();
      ASSIGN_OR_RETURN(std::optional<uint64_t> decided, log.StreamPosition(r.event_id()));
      if (decided.has_value()) return ApplyReward(r);
      // Its decision is later in the stream (or never comes): wait for it.
      parked_[r.event_id()].push_back({seq, r});
      ++parked_seqs_[seq];
      ++parked_count_;
      return absl::OkStatus();
    }
    case StreamRecord::kExperiment:
      if (!foreign) return absl::OkStatus();
      return options_.experiments->ApplyStreamExperiment(record.experiment());
    case StreamRecord::kInteractions: {
      if (!foreign) return absl::OkStatus();
      const auto& list = record.interactions().interactions();
      std::vector<Interaction> xs(list.begin(), list.end());
      RETURN_IF_ERROR(log.StoreReplicatedInteractions(
          xs, absl::StrCat(record.origin(), ":", record.origin_seq())));
      if (options_.on_interaction) {
        for (const Interaction& x : xs) options_.on_interaction(x);
      }
      return absl::OkStatus();
    }
    case StreamRecord::kActivation:
      if (!foreign || !options_.activate) return absl::OkStatus();
      return options_.activate(record.activation());
    default:
      return absl::DataLossError(absl::StrCat("stream message ", seq, " holds no record"));
  }
}

void StreamApplier::Loop() {
  std::unique_ptr<NatsStream::Reader> reader;
  absl::Duration backoff = absl::Milliseconds(50);
  absl::Time last_save = absl::Now();
  absl::Time last_message = absl::Now();
  while (!Stopping()) {
    if (reader == nullptr) {
      absl::StatusOr<std::unique_ptr<NatsStream::Reader>> r = stream_->Read(applied_ + 1);
      if (!r.ok()) {
        SetError(std::string(r.status().message()));
        absl::SleepFor(backoff);
        backoff = std::min(backoff * 2, absl::Seconds(1));
        continue;
      }
      reader = *std::move(r);
      last_message = absl::Now();
    }
    absl::StatusOr<std::optional<StreamMessage>> next = reader->Next(100);
    if (!next.ok()) {
      SetError(std::string(next.status().message()));
      reader.reset();  // resubscribe from the cursor
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(1));
      continue;
    }
    if (absl::Now() - last_save > absl::Milliseconds(200)) {
      SaveCursor();
      last_save = absl::Now();
    }
    if (!next->has_value()) {
      // Quiet: resubscribe when the stream has moved on without us (a
      // consumer lost with its node).
      if (absl::Now() - last_message > absl::Seconds(3)) {
        absl::StatusOr<uint64_t> last = stream_->LastSeq();
        if (last.ok() && *last > applied_) reader.reset();
        last_message = absl::Now();
      }
      continue;
    }
    last_message = absl::Now();
    const StreamMessage& m = **next;
    if (m.seq <= applied_) continue;  // redelivered
    if (m.seq != applied_ + 1) {
      reader.reset();  // a gap: read again from the cursor
      continue;
    }
    absl::Status applied = Apply(m.seq, m.data);
    while (absl::IsUnavailable(applied) && !Stopping()) {
      SetError(absl::StrCat("applying stream message ", m.seq, ": ", applied.message()));
      absl::SleepFor(absl::Milliseconds(200));
      applied = Apply(m.seq, m.data);
    }
    if (!applied.ok() && !absl::IsUnavailable(applied)) {
      absl::MutexLock lock(&mu_);
      ++stats_.rejected;
    }
    if (!applied.ok()) {
      SetError(absl::StrCat("stream message ", m.seq, " not applied: ", applied.message()));
      if (absl::IsUnavailable(applied)) break;  // stopping
    }
    backoff = absl::Milliseconds(50);
    applied_ = m.seq;
    absl::MutexLock lock(&mu_);
    stats_.applied_seq = applied_;
    stats_.parked_rewards = parked_count_;
  }
  SaveCursor();
}

}  // namespace recbandit::services
