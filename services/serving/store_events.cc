// PutEvents' core: bounds, the durable write, the recent items.
#include "services/serving/store_events.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bandits/log/event_log.h"
#include "proto/core/names.h"
#include "services/serving/recent_events.h"
#include "services/serving/request_checks.h"

namespace recbandit::services {
namespace {

constexpr int kMaxEventsPerCall = 10000;

}  // namespace

absl::StatusOr<int32_t> StoreEvents(const PutEventsRequest& request, bandits::EventLog* log,
                                    RecentEvents* recent) {
  const int n = request.events_size();
  if (n < 1 || n > kMaxEventsPerCall) {
    return absl::InvalidArgumentError(
        absl::StrCat("events must have 1..", kMaxEventsPerCall, " entries, got ", n));
  }
  const int64_t now_us = absl::GetCurrentTimeNanos() / 1000;
  std::vector<Interaction> events(request.events().begin(), request.events().end());
  for (int i = 0; i < n; ++i) {
    Interaction& e = events[i];
    const std::string where = absl::StrCat("events[", i, "]");
    // Bounds of the API; the event log checks what it stores (no NUL in
    // a user, timestamps >= 0) and its INVALID_ARGUMENT passes through.
    absl::Status s = CheckId(e.user(), "user");
    if (s.ok()) s = CheckId(e.item(), "item");
    if (s.ok() && (!std::isfinite(e.weight()) || e.weight() < 0)) {
      s = absl::InvalidArgumentError(
          absl::StrCat("weight must be finite and >= 0, got ", e.weight()));
    }
    if (s.ok() && !e.event_type().empty()) s = ValidateName(e.event_type(), "event_type");
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ".", s.message()));
    }
    if (e.weight() == 0) e.set_weight(1);
    if (e.timestamp_us() == 0) e.set_timestamp_us(now_us);
  }
  // Durable first: an acknowledged event is never lost.
  absl::Status stored = log->AppendInteractions(events);
  if (absl::IsInvalidArgument(stored)) {
    return absl::InvalidArgumentError(absl::StrCat("events: ", stored.message()));
  }
  if (!stored.ok()) {
    return absl::UnavailableError(absl::StrCat("events not stored: ", stored.message()));
  }
  for (const Interaction& e : events) recent->Add(e.user(), e.item(), e.event_type(), e.weight());
  return n;
}

}  // namespace recbandit::services
