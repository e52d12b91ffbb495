// Tests of services::RecentEvents: per-user order, repeats moved to the most
// recent end, the per-user cap, and concurrent writers.
#include "services/recent_events.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace recbandit::services {
namespace {

using ::testing::ElementsAre;

TEST(RecentEventsTest, KeepsEachUsersItemsOldestFirstWithoutRepeats) {
  RecentEvents recent(/*max_per_user=*/3);
  recent.Add("u1", "a");
  recent.Add("u1", "b");
  recent.Add("u2", "z");
  recent.Add("u1", "a");  // a repeat becomes the most recent
  EXPECT_THAT(recent.Items("u1"), ElementsAre("b", "a"));
  recent.Add("u1", "c");
  recent.Add("u1", "d");  // over the cap: the oldest ("b") goes
  EXPECT_THAT(recent.Items("u1"), ElementsAre("a", "c", "d"));
  EXPECT_THAT(recent.Items("u2"), ElementsAre("z"));
  EXPECT_THAT(recent.Items("nobody"), ::testing::IsEmpty());
  EXPECT_EQ(recent.num_users(), 2);
}

TEST(RecentEventsTest, ConcurrentWritersLoseNothing) {
  RecentEvents recent(1000);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&recent, t] {
      for (int i = 0; i < 500; ++i) recent.Add(absl::StrCat("u", i % 50), absl::StrCat(t, "-", i));
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(recent.num_users(), 50);
  size_t total = 0;
  for (int u = 0; u < 50; ++u) total += recent.Items(absl::StrCat("u", u)).size();
  EXPECT_EQ(total, 2000u);
}

}  // namespace
}  // namespace recbandit::services
