// RecentEvents: sharded per-user deques of recent items.
#include "services/recent_events.h"

#include <algorithm>

#include "absl/hash/hash.h"

namespace recbandit::services {

RecentEvents::Shard& RecentEvents::ShardOf(const std::string& user) const {
  return shards_[absl::Hash<std::string>()(user) % kShards];
}

void RecentEvents::Add(const std::string& user, const std::string& item) {
  Shard& shard = ShardOf(user);
  absl::MutexLock lock(&shard.mu);
  std::deque<std::string>& items = shard.items[user];
  // A repeat moves the item to the most recent end.
  auto it = std::find(items.begin(), items.end(), item);
  if (it != items.end()) items.erase(it);
  items.push_back(item);
  while (static_cast<int32_t>(items.size()) > max_per_user_) items.pop_front();
}

std::vector<std::string> RecentEvents::Items(const std::string& user) const {
  Shard& shard = ShardOf(user);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.items.find(user);
  if (it == shard.items.end()) return {};
  return std::vector<std::string>(it->second.begin(), it->second.end());
}

int64_t RecentEvents::num_users() const {
  int64_t n = 0;
  for (const Shard& shard : shards_) {
    absl::MutexLock lock(&shard.mu);
    n += static_cast<int64_t>(shard.items.size());
  }
  return n;
}

}  // namespace recbandit::services
