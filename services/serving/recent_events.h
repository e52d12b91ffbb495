// RecentEvents: each user's real-time interactions (Recommender.PutEvents),
// held in memory so the next Recommend folds them into the user's vector and
// excludes them as seen; rebuilt from the event log at start-up. Memory is
// bounded: at most max_users users (the least recently active are dropped
// first: their events stay in the log and in the next training run).
#ifndef RECBANDIT_SERVICES_SERVING_RECENT_EVENTS_H_
#define RECBANDIT_SERVICES_SERVING_RECENT_EVENTS_H_

#include <array>
#include <cstdint>
#include <deque>
#include <list>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace recbandit::services {

// Thread-safe (users are sharded over 16 mutexes).
class RecentEvents {
 public:
  static constexpr int64_t kDefaultMaxUsers = 1000000;

  // Keeps at most `max_per_user` items per user (the most recent ones) and
  // about `max_users` users (each of the 16 shards keeps max_users / 16,
  // rounded up; at least 1).
  explicit RecentEvents(int32_t max_per_user = 1000, int64_t max_users = kDefaultMaxUsers);

  // Records that `user` interacted with `item` (call in event-time order per
  // user for "most recent" to mean the latest events).
  void Add(const std::string& user, const std::string& item);

  // Returns the user's recorded items, oldest first, without repeats; empty
  // for a user with none.
  std::vector<std::string> Items(const std::string& user) const;

  // Returns the number of users with recorded items.
  int64_t num_users() const;

  // Returns how many users were dropped to keep within max_users.
  int64_t evicted_users() const;

 private:
  struct UserItems {
    std::deque<std::string> items;             // oldest first
    std::list<std::string>::iterator recency;  // this user's place in Shard::recency
  };
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, UserItems> users ABSL_GUARDED_BY(mu);
    std::list<std::string> recency ABSL_GUARDED_BY(mu);  // least recently active first
    int64_t evicted ABSL_GUARDED_BY(mu) = 0;
  };
  static constexpr int kShards = 16;
  Shard& ShardOf(const std::string& user) const;

  const int32_t max_per_user_;
  const int64_t max_users_per_shard_;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVING_RECENT_EVENTS_H_
