// ComputeRewardSeries: one scan of the decisions, one reward lookup each,
// then per-variant buckets.
#include "bandits/reward_series.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bandits/confidence_sequence.h"

namespace recbandit::bandits {

absl::StatusOr<RewardSeries> ComputeRewardSeries(const EventLog& log,
                                                 const std::string& experiment,
                                                 const RewardSeriesOptions& options) {
  if (options.buckets < 1 || options.buckets > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("buckets must be in [1, 1000], got ", options.buckets));
  }
  if (options.max_decisions < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_decisions must be >= 1, got ", options.max_decisions));
  }
  struct Row {
    int64_t us;
    std::string variant;
    double reward;
    bool rewarded;
  };
  std::vector<Row> rows;
  RewardSeries series;
  const absl::Status scanned = log.ScanDecisions(
      experiment, 0, 0, [&](const DecisionEvent& d) -> absl::Status {
        if (!d.shadow_of().empty() || absl::StartsWith(d.variant(), "shadow:")) {
          return absl::OkStatus();
        }
        if (static_cast<int64_t>(rows.size()) >= options.max_decisions) {
          series.truncated = true;
          return absl::CancelledError("enough");
        }
        Row row{d.timestamp_us(), d.variant(), options.default_reward, false};
        absl::StatusOr<RewardRecord> reward = log.GetRewards(d.event_id());
        if (reward.ok()) {
          row.reward = reward->aggregated();
          row.rewarded = true;
        } else if (!absl::IsNotFound(reward.status())) {
          return reward.status();
        }
        rows.push_back(std::move(row));
        return absl::OkStatus();
      });
  if (!scanned.ok() && !(series.truncated && absl::IsCancelled(scanned))) return scanned;
  if (rows.empty()) return series;
  series.decisions = static_cast<int64_t>(rows.size());
  series.first_us = rows.front().us;
  series.last_us = rows.back().us;
  const int64_t span = series.last_us - series.first_us + 1;
  series.bucket_us = std::max<int64_t>(1, (span + options.buckets - 1) / options.buckets);

  struct Acc {
    RunningMoments moments;
    int64_t rewarded = 0;
  };
  std::map<std::string, std::map<int64_t, Acc>> by_variant;  // variant -> bucket index
  for (const Row& row : rows) {
    Acc& acc = by_variant[row.variant][(row.us - series.first_us) / series.bucket_us];
    acc.moments.Add(row.reward);
    acc.rewarded += row.rewarded ? 1 : 0;
  }
  for (const auto& [variant, buckets] : by_variant) {
    VariantSeries& out = series.variants.emplace_back();
    out.variant = variant;
    RunningMoments total;
    for (const auto& [index, acc] : buckets) {
      const ArmSummary s = acc.moments.SummaryOver(acc.moments.n());
      RewardBucket& b = out.buckets.emplace_back();
      b.start_us = series.first_us + index * series.bucket_us;
      b.decisions = s.n;
      b.rewarded = acc.rewarded;
      b.mean = s.mean;
      const double half = 1.96 * std::sqrt(std::max(0.0, s.variance) / static_cast<double>(s.n));
      b.low = s.mean - half;
      b.high = s.mean + half;
      total.Merge(acc.moments);
    }
    out.decisions = total.n();
    out.mean = total.SummaryOver(total.n()).mean;
  }
  return series;
}

}  // namespace recbandit::bandits
