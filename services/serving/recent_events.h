// RecentEvents: each user's real-time interactions (Recommender.PutEvents),
// held in memory with their event types and weights so the next Recommend
// folds them into the user's vector (weighed by the model's event weights,
// ranking::EventWeighting) and excludes them as seen; rebuilt from the event
// log at start-up. Memory is bounded: at most max_users users (the least
// recently active are dropped first: their events stay in the log and in the
// next training run).
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
#include "absl/container/inlined_vector.h"
#include "absl/synchronization/mutex.h"

namespace recbandit::services {

// A user's stored events of one item with one event type and one weight.
struct RecentEvent {
  std::string item;        // external item id
  std::string event_type;  // "" = none
  float weight = 1;        // each event's own weight, > 0
  int64_t count = 1;       // how many such events, >= 1
};

// Thread-safe (users are sharded over 16 mutexes).
class RecentEvents {
 public:
  static constexpr int64_t kDefaultMaxUsers = 1000000;
  // Distinct (event type, weight) pairs kept per item; past it the pair met
  // first is forgotten (its events stay in the log).
  static constexpr int32_t kMaxPairsPerItem = 16;

  // Keeps at most `max_per_user` items per user (the most recent ones) and
  // about `max_users` users (each of the 16 shards keeps max_users / 16,
  // rounded up; at least 1).
  explicit RecentEvents(int32_t max_per_user = 1000, int64_t max_users = kDefaultMaxUsers);

  // Records that `user` interacted with `item`, in an event of `event_type`
  // ("" = none) and `weight` (one that is not a finite number > 0 counts as
  // 1, as PutEvents reads 0). Call in event-time order per user for "most
  // recent" to mean the latest events.
  void Add(const std::string& user, const std::string& item, const std::string& event_type = "",
           float weight = 1);

  // Returns the user's recorded items, oldest first (by their latest event),
  // without repeats; empty for a user with none.
  std::vector<std::string> Items(const std::string& user) const;

  // Returns the user's recorded events: for each item in Items' order, one
  // entry per (event type, weight) pair met, in the order first met, with
  // how many events it had. Empty for a user with none.
  std::vector<RecentEvent> Events(const std::string& user) const;

  // Returns the number of users with recorded items.
  int64_t num_users() const;

  // Returns how many users were dropped to keep within max_users.
  int64_t evicted_users() const;

 private:
  // One (event type, weight) pair of an item and its number of events.
  struct Pair {
    std::string event_type;
    float weight = 1;
    int64_t count = 0;
  };
  struct ItemEvents {
    std::string item;
    absl::InlinedVector<Pair, 1> pairs;  // first met first
  };
  struct UserItems {
    std::deque<ItemEvents> items;              // oldest first
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
