// Tests of services::RecentEvents: per-user order, repeats moved to the most
// recent end, each item's events by (event type, weight), the per-user and
// per-item caps, the bound on users (least recently active dropped first),
// and concurrent writers.
#include "services/serving/recent_events.h"

#include <limits>
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

MATCHER_P4(IsEvent, item, event_type, weight, count, "") {
  return arg.item == item && arg.event_type == event_type && arg.weight == weight &&
         arg.count == count;
}

TEST(RecentEventsTest, KeepsEachItemsEventTypesAndWeightsWithTheirCounts) {
  RecentEvents recent(/*max_per_user=*/3);
  recent.Add("u1", "a", "click", 1);
  recent.Add("u1", "b", "purchase", 2);
  recent.Add("u1", "a", "purchase", 1);
  recent.Add("u1", "a", "click", 1);  // a repeated pair counts; a moves last
  recent.Add("u1", "b", "", 0);       // weight 0 (as PutEvents reads it): 1
  recent.Add("u1", "b", "", std::numeric_limits<float>::quiet_NaN());
  recent.Add("u1", "b", "", 2.5f);
  EXPECT_THAT(recent.Events("u1"),
              ElementsAre(IsEvent("a", "click", 1, 2), IsEvent("a", "purchase", 1, 1),
                          IsEvent("b", "purchase", 2, 1), IsEvent("b", "", 1, 2),
                          IsEvent("b", "", 2.5f, 1)));
  EXPECT_THAT(recent.Items("u1"), ElementsAre("a", "b"));
  recent.Add("u1", "c");
  recent.Add("u1", "d");  // over the cap: "a" goes with its events
  EXPECT_THAT(recent.Events("u1"),
              ElementsAre(IsEvent("b", "purchase", 2, 1), IsEvent("b", "", 1, 2),
                          IsEvent("b", "", 2.5f, 1), IsEvent("c", "", 1, 1),
                          IsEvent("d", "", 1, 1)));
  EXPECT_THAT(recent.Events("nobody"), ::testing::IsEmpty());
}

TEST(RecentEventsTest, AnItemKeepsItsLatestPairsWithinTheCap) {
  RecentEvents recent;
  for (int w = 1; w <= RecentEvents::kMaxPairsPerItem + 2; ++w) {
    recent.Add("u", "a", "click", static_cast<float>(w));
  }
  std::vector<RecentEvent> events = recent.Events("u");
  ASSERT_EQ(events.size(), static_cast<size_t>(RecentEvents::kMaxPairsPerItem));
  EXPECT_EQ(events.front().weight, 3);  // weights 1 and 2, met first, went
  EXPECT_EQ(events.back().weight, RecentEvents::kMaxPairsPerItem + 2);
}

TEST(RecentEventsTest, DistinctUsersCannotGrowMemoryWithoutBound) {
  RecentEvents recent(/*max_per_user=*/10, /*max_users=*/64);  // 4 per shard
  for (int i = 0; i < 100000; ++i) recent.Add(absl::StrCat("attacker", i), "i1");
  EXPECT_LE(recent.num_users(), 64);
  EXPECT_GE(recent.num_users(), 16);  // every shard keeps its newest users
  EXPECT_EQ(recent.evicted_users(), 100000 - recent.num_users());
  EXPECT_THAT(recent.Items("attacker99999"), ElementsAre("i1"));  // the newest stays
  EXPECT_THAT(recent.Items("attacker0"), ::testing::IsEmpty());   // the oldest went
}

TEST(RecentEventsTest, AnActiveUserOutlivesAFloodOfNewOnes) {
  RecentEvents recent(/*max_per_user=*/10, /*max_users=*/128);  // 8 per shard
  recent.Add("regular", "a");
  for (int i = 0; i < 20000; ++i) {
    recent.Add(absl::StrCat("new", i), "x");
    // Active again after every 2 new users: never 8 newer ones in its shard.
    if (i % 2 == 0) recent.Add("regular", absl::StrCat("b", i % 4));
  }
  EXPECT_THAT(recent.Items("regular"), ElementsAre("a", "b0", "b2"));
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
