// Tests of services::StoreEvents (PutEvents' core): events are durable with
// their types and weights (0 read as 1) and reach the users' recent events
// with them; a bad event stores nothing.
#include "services/serving/store_events.h"

#include <string>
#include <vector>

#include "bandits/log/event_log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/serving/recent_events.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_util.h"

namespace recbandit::services {
namespace {

using ::recbandit::testing::ScratchDir;
using ::recbandit::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

MATCHER_P4(IsEvent, item, event_type, weight, count, "") {
  return arg.item == item && arg.event_type == event_type && arg.weight == weight &&
         arg.count == count;
}

Interaction Event(const std::string& user, const std::string& item, const std::string& type,
                  float weight) {
  Interaction x;
  x.set_user(user);
  x.set_item(item);
  x.set_event_type(type);
  x.set_weight(weight);
  return x;
}

TEST(StoreEventsTest, TypesAndWeightsReachTheLogAndTheRecentEvents) {
  ScratchDir dir;
  ASSERT_OK_AND_ASSIGN(auto log, bandits::EventLog::Open(dir.path(), {}));
  RecentEvents recent;
  PutEventsRequest put;
  *put.add_events() = Event("u1", "a", "click", 0);  // weight 0: 1
  *put.add_events() = Event("u1", "a", "purchase", 2);
  *put.add_events() = Event("u1", "b", "", 3);
  *put.add_events() = Event("u1", "a", "click", 1);
  ASSERT_OK_AND_ASSIGN(int32_t stored, StoreEvents(put, log.get(), &recent));
  EXPECT_EQ(stored, 4);
  EXPECT_THAT(recent.Events("u1"),
              ElementsAre(IsEvent("b", "", 3, 1), IsEvent("a", "click", 1, 2),
                          IsEvent("a", "purchase", 2, 1)));
  std::vector<Interaction> logged;
  ASSERT_OK(log->ScanInteractions("u1", [&](const Interaction& x) {
    logged.push_back(x);
    return absl::OkStatus();
  }));
  ASSERT_EQ(logged.size(), 4u);
  int purchases = 0;
  for (const Interaction& x : logged) {
    EXPECT_GT(x.weight(), 0);
    if (x.event_type() == "purchase") {
      ++purchases;
      EXPECT_EQ(x.weight(), 2);
    }
  }
  EXPECT_EQ(purchases, 1);

  // A bad type refuses the whole call: nothing stored, nothing recent.
  PutEventsRequest bad;
  *bad.add_events() = Event("u2", "a", "click", 1);
  *bad.add_events() = Event("u2", "b", "a b", 1);
  EXPECT_THAT(StoreEvents(bad, log.get(), &recent),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("events[1].event_type")));
  EXPECT_THAT(recent.Events("u2"), ::testing::IsEmpty());
}

}  // namespace
}  // namespace recbandit::services
