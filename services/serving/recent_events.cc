// RecentEvents: sharded per-user deques of recent items.
#include "services/serving/recent_events.h"

#include <algorithm>

#include "absl/hash/hash.h"

namespace recbandit::services {

RecentEvents::RecentEvents(int32_t max_per_user, int64_t max_users)
    : max_per_user_(max_per_user),
      max_users_per_shard_(std::max<int64_t>(1, (max_users + kShards - 1) / kShards)) {}

RecentEvents::Shard& RecentEvents::ShardOf(const std::string& user) const {
  return shards_[absl::Hash<std::string>()(user) % kShards];
}

void RecentEvents::Add(const std::string& user, const std::string& item) {
  Shard& shard = ShardOf(user);
  absl::MutexLock lock(&shard.mu);
  auto [entry, inserted] = shard.users.try_emplace(user);
  if (inserted) {
    entry->second.recency = shard.recency.insert(shard.recency.end(), user);
  } else {
    shard.recency.splice(shard.recency.end(), shard.recency, entry->second.recency);
  }
  std::deque<std::string>& items = entry->second.items;
  // A repeat moves the item to the most recent end.
  auto it = std::find(items.begin(), items.end(), item);
  if (it != items.end()) items.erase(it);
  items.push_back(item);
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
  return std::vector<std::string>(it->second.items.begin(), it->second.items.end());
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
