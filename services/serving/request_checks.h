// The bounds every serving request shares: ids, list lengths and k, checked
// the same way by the rpc handlers and the Recommend pipeline.
#ifndef RECBANDIT_SERVICES_SERVING_REQUEST_CHECKS_H_
#define RECBANDIT_SERVICES_SERVING_REQUEST_CHECKS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace recbandit::services {

// The largest k of a request (Recommend, SimilarItems).
inline constexpr int32_t kMaxK = 1000;
// The most recent_items a request may carry (Recommend, RankItems).
inline constexpr int kMaxRecentItems = 1000;

// Returns OK when `value` has 1..256 bytes; INVALID_ARGUMENT naming `field`.
absl::Status CheckId(const std::string& value, const char* field);
// Returns OK when n <= max; INVALID_ARGUMENT naming `field`.
absl::Status CheckCount(int n, int max, const char* field);
// Returns k with the default applied, or INVALID_ARGUMENT out of [0, 1000].
absl::StatusOr<int32_t> CheckK(int32_t k);

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVING_REQUEST_CHECKS_H_
