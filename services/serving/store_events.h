// StoreEvents: PutEvents' core. Real-time interactions checked against the
// API's bounds, written durably to the event log (one synced batch), then
// added to the users' recent items for the next Recommend.
#ifndef RECBANDIT_SERVICES_SERVING_STORE_EVENTS_H_
#define RECBANDIT_SERVICES_SERVING_STORE_EVENTS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "proto/recommender.pb.h"

namespace recbandit::bandits {
class EventLog;
}  // namespace recbandit::bandits

namespace recbandit::services {

class RecentEvents;

// Returns the number of events stored. INVALID_ARGUMENT naming the event and
// field (1..10000 events, ids of 1..256 bytes, finite weights >= 0; a weight
// of 0 means 1 and a timestamp of 0 means now); UNAVAILABLE when the log
// could not store them (then nothing is acknowledged or added).
absl::StatusOr<int32_t> StoreEvents(const PutEventsRequest& request, bandits::EventLog* log,
                                    RecentEvents* recent);

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVING_STORE_EVENTS_H_
