// Forwarder: the outbox-to-stream loop (see forwarder.h).
#include "services/replication/forwarder.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "proto/core/status_macros.h"

namespace recbandit::services {

std::string StreamMessageId(const StreamRecord& record) {
  if (record.has_decision()) return record.decision().event_id();
  return absl::StrCat(record.origin(), ":", record.origin_seq());
}

const char* StreamKind(const StreamRecord& record) {
  switch (record.record_case()) {
    case StreamRecord::kDecision: return "decision";
    case StreamRecord::kReward: return "reward";
    case StreamRecord::kExperiment: return "experiment";
    case StreamRecord::kInteractions: return "interactions";
    case StreamRecord::kActivation: return "activation";
    default: return "unknown";
  }
}

Forwarder::Forwarder(bandits::EventLog* log, NatsStream* stream) : log_(log), stream_(stream) {}

Forwarder::~Forwarder() { Stop(); }

absl::Status Forwarder::Start() {
  ASSIGN_OR_RETURN(int64_t published, log_->PublishedSeq());
  {
    absl::MutexLock lock(&mu_);
    stats_.published_seq = published;
  }
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void Forwarder::Stop() {
  std::vector<Waiter> left;
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
  {
    absl::MutexLock lock(&mu_);
    left.swap(waiters_);
  }
  for (Waiter& w : left) w.fn(false);
}

bool Forwarder::Stopping() {
  absl::MutexLock lock(&mu_);
  return stop_;
}

void Forwarder::WhenPublished(int64_t seq, std::function<void(bool)> fn) {
  bool published;
  {
    absl::MutexLock lock(&mu_);
    published = stats_.published_seq >= seq;
    if (!stop_ && !published) {
      waiters_.push_back({seq, std::move(fn)});
      return;
    }
  }
  fn(published);
}

Forwarder::Stats Forwarder::stats() const {
  absl::MutexLock lock(&mu_);
  Stats s = stats_;
  s.connected = stream_->connected();
  return s;
}

void Forwarder::SetError(const absl::Status& s) {
  absl::MutexLock lock(&mu_);
  std::string text(s.message().substr(0, 200));
  if (text != stats_.last_error) {
    std::fprintf(stderr, "stream: %s\n", text.c_str());
    stats_.last_error = std::move(text);
  }
}

bool Forwarder::PublishOne(const StreamRecord& record) {
  const std::string bytes = record.SerializeAsString();
  const std::string id = StreamMessageId(record);
  absl::Duration backoff = absl::Milliseconds(50);
  while (!Stopping()) {
    absl::StatusOr<NatsStream::Ack> ack = stream_->Publish(StreamKind(record), id, bytes);
    if (ack.ok()) {
      if (ack->duplicate && record.has_decision()) {
        // Our own earlier publication (a restart before the position was
        // stored), or another replica's decision under the same event id.
        absl::StatusOr<std::string> first = stream_->Get(ack->seq);
        StreamRecord stored;
        if (first.ok() && stored.ParseFromString(*first) &&
            (stored.origin() != record.origin() || stored.origin_seq() != record.origin_seq())) {
          absl::MutexLock lock(&mu_);
          ++stats_.conflicts;
          std::fprintf(stderr,
                       "stream: event id %.128s was used by replica %.64s first; this "
                       "replica's decision stays in its own log only\n",
                       id.c_str(), stored.origin().c_str());
        }
      }
      absl::MutexLock lock(&mu_);
      stats_.last_error.clear();
      ++stats_.published_total;
      return true;
    }
    SetError(ack.status());
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
  return false;
}

void Forwarder::Loop() {
  bool stream_ready = false;
  absl::Duration backoff = absl::Milliseconds(50);
  while (!Stopping()) {
    if (!stream_ready) {
      absl::Status s = stream_->EnsureStream();
      if (!s.ok()) {
        SetError(s);
        absl::SleepFor(backoff);
        backoff = std::min(backoff * 2, absl::Seconds(1));
        continue;
      }
      stream_ready = true;
    }
    int64_t published;
    {
      absl::MutexLock lock(&mu_);
      published = stats_.published_seq;
    }
    if (log_->LastOutboxSeq() <= published) {
      absl::SleepFor(absl::Milliseconds(1));
      continue;
    }
    int64_t last = published;
    bool stopped = false;
    absl::Status scanned = log_->ScanOutbox(published, 512, [&](const StreamRecord& r) {
      if (!PublishOne(r)) {
        stopped = true;
        return absl::CancelledError("stopping");
      }
      last = r.origin_seq();
      return absl::OkStatus();
    });
    if (!scanned.ok() && !stopped) SetError(scanned);
    if (last == published) continue;
    absl::Status marked = log_->MarkPublished(last);
    if (!marked.ok()) {
      SetError(marked);  // republished after a restart: the stream keeps one copy
    }
    std::vector<Waiter> ready;
    {
      absl::MutexLock lock(&mu_);
      stats_.published_seq = last;
      auto split = std::partition(waiters_.begin(), waiters_.end(),
                                  [last](const Waiter& w) { return w.seq > last; });
      ready.assign(std::make_move_iterator(split), std::make_move_iterator(waiters_.end()));
      waiters_.erase(split, waiters_.end());
    }
    for (Waiter& w : ready) w.fn(true);
  }
}

}  // namespace recbandit::services
