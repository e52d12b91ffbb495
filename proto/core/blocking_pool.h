// BlockingPool: a bounded queue of tasks run by a fixed set of threads (rpc
// work that blocks, shadow slates computed off the latency path).
#ifndef RECBANDIT_PROTO_CORE_BLOCKING_POOL_H_
#define RECBANDIT_PROTO_CORE_BLOCKING_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace recbandit {

// A fixed set of threads for work that blocks (a durable write's fsync)
// and must not run on gRPC's callback threads. Thread-safe.
class BlockingPool {
 public:
  explicit BlockingPool(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
  }
  ~BlockingPool() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    for (std::thread& t : threads_) t.join();
  }
  // Queues `task`; returns false (and drops it) when `max_queued` tasks wait.
  bool Run(std::function<void()> task, size_t max_queued) {
    absl::MutexLock lock(&mu_);
    if (tasks_.size() >= max_queued) return false;
    tasks_.push_back(std::move(task));
    return true;
  }

 private:
  void Loop() {
    while (true) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return stop_ || !tasks_.empty();
        };
        mu_.Await(absl::Condition(&ready));
        if (tasks_.empty()) return;  // stopping, and everything queued ran
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }
  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace recbandit

#endif  // RECBANDIT_PROTO_CORE_BLOCKING_POOL_H_
