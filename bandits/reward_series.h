// Reward rate over time of an experiment's (or a deployment's) logged
// decisions, per variant: the decisions are cut into equal time buckets and
// each bucket's mean reward gets a 95% interval. Read from the event log.
#ifndef RECBANDIT_BANDITS_REWARD_SERIES_H_
#define RECBANDIT_BANDITS_REWARD_SERIES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bandits/log/event_log.h"

namespace recbandit::bandits {

// One time bucket of one variant.
struct RewardBucket {
  int64_t start_us = 0;  // bucket start, microseconds since the Unix epoch
  int64_t decisions = 0;
  int64_t rewarded = 0;  // decisions with at least one reward
  double mean = 0;       // mean reward per decision (default_reward when none came)
  double low = 0, high = 0;  // 95% interval of the mean (normal approximation)
};

// One variant's buckets, oldest first (empty buckets left out).
struct VariantSeries {
  std::string variant;
  std::vector<RewardBucket> buckets;
  int64_t decisions = 0;  // over all buckets
  double mean = 0;        // over all buckets
};

struct RewardSeries {
  int64_t bucket_us = 0;         // width of a bucket
  int64_t first_us = 0, last_us = 0;  // first and last decision read
  int64_t decisions = 0;         // read
  bool truncated = false;        // max_decisions reached: the newest are left out
  std::vector<VariantSeries> variants;  // sorted by name; shadows are left out
};

struct RewardSeriesOptions {
  int32_t buckets = 12;              // 1..1000; the span is cut in this many
  int64_t max_decisions = 200000;    // read at most this many (oldest first), >= 1
  double default_reward = 0;         // reward of a decision with none
};

// Returns `experiment`'s reward rate over time, read with log.ScanDecisions
// and log.GetRewards (aggregated value of each decision). A variant whose
// bucket has n decisions of mean m and population variance v gets
// m -/+ 1.96 sqrt(v / n) (a single decision: [m, m]). An experiment with no
// decisions gives no variants. INVALID_ARGUMENT for bad options; the log's
// errors as they are. Thread-safe (reads only).
absl::StatusOr<RewardSeries> ComputeRewardSeries(const EventLog& log,
                                                 const std::string& experiment,
                                                 const RewardSeriesOptions& options);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_REWARD_SERIES_H_
