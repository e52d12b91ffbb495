// RecentEvents: sharded per-user deques of recent items with their events.
#include "services/serving/recent_events.h"

#include <algorithm>
#include <cmath>
#include <iterator>

#include "absl/hash/hash.h"

namespace recbandit::services {

RecentEvents::RecentEvents(int32_t max_per_user, int64_t max_users)
    : max_per_user_(max_per_user),
      max_users_per_shard_(std::max<int64_t>(1, (max_users + kShards - 1) / kShards)) {}

RecentEvents::Shard& RecentEvents::ShardOf(const std::string& user) const {
  return shards_[absl::Hash<std::string>()(user) % kShards];
}

void RecentEvents::Add(const std::string& user, const std::string& item,
                       const std::string& event_type, float weight) {
  if (!(weight > 0) || !std::isfinite(weight)) weight = 1;
  Shard& shard = ShardOf(user);
  absl::MutexLock lock(&shard.mu);
  auto [entry, inserted] = shard.users.try_emplace(user);
  if (inserted) {
    entry->second.recency = shard.recency.insert(shard.recency.end(), user);
  } else {
    shard.recency.splice(shard.recency.end(), shard.recency, entry->second.recency);
  }
  std::deque<ItemEvents>& items = entry->second.items;
  // A repeat moves the item, its events with it, to the most recent end.
  auto it = std::find_if(items.begin(), items.end(),
                         [&](const ItemEvents& e) { return e.item == item; });
  if (it == items.end()) {
    items.push_back(ItemEvents{item, {}});
  } else if (std::next(it) != items.end()) {
    ItemEvents moved = std::move(*it);
    items.erase(it);
    items.push_back(std::move(moved));
  }
  absl::InlinedVector<Pair, 1>& pairs = items.back().pairs;
  auto pair = std::find_if(pairs.begin(), pairs.end(), [&](const Pair& p) {
    return p.weight == weight && p.event_type == event_type;
  });
  if (pair != pairs.end()) {
    ++pair->count;
  } else {
    pairs.push_back(Pair{event_type, weight, 1});
    if (static_cast<int32_t>(pairs.size()) > kMaxPairsPerItem) pairs.erase(pairs.begin());
  }
  while (static_cast<int32_t>(items.size()) > max_per_user_) items.pop_front();
  while (static_cast<int64_t>(shard.users.size()) > max_users_per_shard_) {
    shard.users.erase(shard.recency.front());  // never `user`: it is at the back
    shard.recency.pop_front();
    ++shard.evicted;
  }
}

std::vector<std::string> RecentEvents::Items(const std::string& user) const {
  Shard& shard = ShardOf(user);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.users.find(user);
  if (it == shard.users.end()) return {};
  std::vector<std::string> out;
  out.reserve(it->second.items.size());
  for (const ItemEvents& e : it->second.items) out.push_back(e.item);
  return out;
}

std::vector<RecentEvent> RecentEvents::Events(const std::string& user) const {
  Shard& shard = ShardOf(user);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.users.find(user);
  if (it == shard.users.end()) return {};
  std::vector<RecentEvent> out;
  for (const ItemEvents& e : it->second.items) {
    for (const Pair& p : e.pairs) {
      out.push_back(RecentEvent{e.item, p.event_type, p.weight, p.count});
    }
  }
  return out;
}

int64_t RecentEvents::num_users() const {
  int64_t n = 0;
  for (const Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    n += static_cast<int64_t>(shard.users.size());
  }
  return n;
}

int64_t RecentEvents::evicted_users() const {
  int64_t n = 0;
  for (const Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    n += shard.evicted;
  }
  return n;
}

}  // namespace recbandit::services
