// The capacity ramp's schedule, the plan drawn from its curve, and the
// curve's CSV and SVG (see capacity.h).
#include "services/cli/capacity.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bandits/sim/svg_plot.h"

namespace recbandit::services {
namespace {

double ErrorRate(const RampStep& step) {
  return step.requests > 0 ? static_cast<double>(step.errors) / step.requests : 0;
}

}  // namespace

bool MeetsObjective(const RampStep& step, const RampOptions& options) {
  return step.requests > 0 && step.p99_ms <= options.slo_p99_ms &&
         ErrorRate(step) <= options.max_error_rate;
}

CapacityRamp::CapacityRamp(const RampOptions& options) : options_(options) {}

int32_t CapacityRamp::NextConcurrency() const {
  if (!doubling_done_) return next_doubling_;
  return refined_ < options_.refine_steps ? RefinePoint() : 0;
}

void CapacityRamp::Record(const RampStep& measured) {
  RampStep step = measured;
  step.concurrency = NextConcurrency();
  if (step.concurrency == 0) return;  // the ramp is over
  step.within_slo = MeetsObjective(step, options_);
  steps_.push_back(step);
  if (doubling_done_) {
    ++refined_;
    return;
  }
  if (step.requests > 0 && ErrorRate(step) > options_.max_error_rate) {
    doubling_done_ = true;
    stop_reason_ = absl::StrFormat("error rate %.4g at concurrency %d over the bound %.4g",
                                   ErrorRate(step), step.concurrency, options_.max_error_rate);
    return;
  }
  consecutive_misses_ = step.within_slo ? 0 : consecutive_misses_ + 1;
  if (consecutive_misses_ >= options_.misses_to_stop) {
    doubling_done_ = true;
    stop_reason_ = absl::StrCat("p99 over the objective at ", consecutive_misses_,
                                consecutive_misses_ == 1 ? " step" : " consecutive steps");
    return;
  }
  if (step.concurrency >= options_.max_concurrency) {
    doubling_done_ = true;
    stop_reason_ = absl::StrCat("reached the concurrency bound ", options_.max_concurrency);
    return;
  }
  next_doubling_ = static_cast<int32_t>(
      std::min<int64_t>(2 * static_cast<int64_t>(step.concurrency), options_.max_concurrency));
}

int32_t CapacityRamp::RefinePoint() const {
  int32_t lo = 0;
  for (const RampStep& s : steps_) {
    if (s.within_slo) lo = std::max(lo, s.concurrency);
  }
  if (lo == 0) return 0;
  int32_t hi = 0;
  for (const RampStep& s : steps_) {
    if (s.concurrency > lo && (hi == 0 || s.concurrency < hi)) hi = s.concurrency;
  }
  if (hi - lo < 2) return 0;  // also hi == 0: nothing measured above lo
  return lo + (hi - lo) / 2;
}

std::vector<RampStep> CapacityRamp::Curve() const {
  std::vector<RampStep> curve = steps_;
  std::stable_sort(curve.begin(), curve.end(), [](const RampStep& a, const RampStep& b) {
    return a.concurrency < b.concurrency;
  });
  return curve;
}

int32_t CapacityRamp::MaxSteps(const RampOptions& options) {
  int32_t steps = 0;
  for (int64_t c = 1;; c = std::min<int64_t>(2 * c, options.max_concurrency)) {
    ++steps;
    if (c >= options.max_concurrency) break;
  }
  return steps + options.refine_steps;
}

CapacityPlan PlanCapacity(absl::Span<const RampStep> curve, int32_t server_cores,
                          double target_qps, double headroom) {
  CapacityPlan plan;
  for (const RampStep& s : curve) {
    if (s.within_slo && s.qps > plan.max_qps_within_slo) {
      plan.max_qps_within_slo = s.qps;
      plan.concurrency_at_max = s.concurrency;
    }
  }
  plan.qps_per_core = plan.max_qps_within_slo / std::max(1, server_cores);
  if (target_qps > 0 && plan.max_qps_within_slo > 0) {
    plan.replicas_needed =
        static_cast<int64_t>(std::ceil(target_qps / plan.max_qps_within_slo));
    plan.replicas_with_headroom = static_cast<int64_t>(
        std::ceil(target_qps / (plan.max_qps_within_slo * (1 - headroom))));
  }
  return plan;
}

std::string CapacityCurveCsv(absl::Span<const RampStep> curve) {
  std::string out = "concurrency,qps,p50_ms,p95_ms,p99_ms,requests,errors,within_slo\n";
  for (const RampStep& s : curve) {
    absl::StrAppend(&out, s.concurrency,
                    absl::StrFormat(",%.10g,%.10g,%.10g,%.10g,", s.qps, s.p50_ms, s.p95_ms,
                                    s.p99_ms),
                    s.requests, ",", s.errors, s.within_slo ? ",true\n" : ",false\n");
  }
  return out;
}

std::string CapacityCurveSvg(absl::Span<const RampStep> curve, double slo_p99_ms,
                             const std::string& subtitle) {
  bandits::XyChart chart;
  chart.title = "Capacity: latency against throughput";
  chart.subtitle = subtitle;
  chart.x_label = "throughput, QPS";
  chart.y_label = "latency, ms";
  bandits::XySeries p99{"p99", {}}, p50{"p50", {}};
  for (const RampStep& s : curve) {
    const std::string step = absl::StrFormat("concurrency %d: %.0f qps, ", s.concurrency, s.qps);
    p99.points.push_back({s.qps, s.p99_ms, absl::StrFormat("%sp99 %.3g ms%s", step, s.p99_ms,
                                                           s.within_slo ? "" : " (misses)")});
    p50.points.push_back({s.qps, s.p50_ms, absl::StrFormat("%sp50 %.3g ms", step, s.p50_ms)});
  }
  chart.series = {std::move(p99), std::move(p50)};
  chart.lines.push_back({absl::StrCat("objective: p99 <= ", slo_p99_ms, " ms"), slo_p99_ms});
  return bandits::RenderXySvg(chart, bandits::PlotOptions{});
}

}  // namespace recbandit::services
