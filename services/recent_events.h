// RecentEvents: each user's real-time interactions (Recommender.PutEvents),
// held in memory so the next Recommend folds them into the user's vector and
// excludes them as seen; rebuilt from the event log at start-up.
#ifndef RECBANDIT_SERVICES_RECENT_EVENTS_H_
#define RECBANDIT_SERVICES_RECENT_EVENTS_H_

#include <array>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace recbandit::services {

// Thread-safe (users are sharded over 16 mutexes).
class RecentEvents {
 public:
  // Keeps at most `max_per_user` items per user (the most recent ones).
  explicit RecentEvents(int32_t max_per_user = 1000) : max_per_user_(max_per_user) {}

  // Records that `user` interacted with `item` (call in event-time order per
  // user for "most recent" to mean the latest events).
  void Add(const std::string& user, const std::string& item);

  // Returns the user's recorded items, oldest first, without repeats; empty
  // for a user with none.
  std::vector<std::string> Items(const std::string& user) const;

  // Returns the number of users with recorded items.
  int64_t num_users() const;

 private:
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, std::deque<std::string>> items ABSL_GUARDED_BY(mu);
  };
  static constexpr int kShards = 16;
  Shard& ShardOf(const std::string& user) const;

  const int32_t max_per_user_;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_RECENT_EVENTS_H_
