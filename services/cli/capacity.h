// Capacity planning for `recbandit loadtest --slo_p99_ms`: the pure part of
// the concurrency ramp (which concurrency to measure next, when to stop, the
// highest QPS whose p99 meets the objective, replicas for a target QPS) and
// the curve's CSV and SVG. No I/O, no clock: the load generator measures.
#ifndef RECBANDIT_SERVICES_CLI_CAPACITY_H_
#define RECBANDIT_SERVICES_CLI_CAPACITY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"

namespace recbandit::services {

// What the ramp aims at and how far it may go.
struct RampOptions {
  // The objective: a step meets it when its p99 latency <= this,
  // milliseconds. REQUIRES finite, > 0.
  double slo_p99_ms = 10;
  // Highest concurrency (calls in flight) measured. REQUIRES >= 1.
  int32_t max_concurrency = 256;
  // A step whose errors / requests exceed this misses the objective and ends
  // the doubling. REQUIRES in [0, 1].
  double max_error_rate = 0.01;
  // Consecutive doubling steps over the objective that end the doubling (one
  // miss may be noise). REQUIRES >= 1.
  int32_t misses_to_stop = 2;
  // Bisection steps, after the doubling, between the highest concurrency
  // meeting the objective and the next measured one (which misses it).
  // REQUIRES >= 0.
  int32_t refine_steps = 3;
};

// One measured step of the ramp: closed loop at `concurrency`.
struct RampStep {
  int32_t concurrency = 0;
  int64_t requests = 0;  // completed, errors included
  int64_t errors = 0;
  double qps = 0;        // requests per second
  double p50_ms = 0;
  double p95_ms = 0;
  double p99_ms = 0;
  bool within_slo = false;  // set by CapacityRamp::Record
};

// Returns whether `step` meets the objective: at least one request, p99 <=
// slo_p99_ms and errors / requests <= max_error_rate.
bool MeetsObjective(const RampStep& step, const RampOptions& options);

// The ramp's schedule. Doubling: concurrency 1, 2, 4, ... and
// max_concurrency itself last when it is not a power of two; it ends after
// `misses_to_stop` consecutive steps over the objective, at a step over the
// error bound, or at max_concurrency. Then bisection: while the highest
// concurrency meeting the objective (lo) has a measured successor (hi) with
// hi - lo >= 2, measure (lo + hi) / 2, at most `refine_steps` times. So a
// run takes at most MaxSteps(options) steps.
//
//   CapacityRamp ramp(options);
//   while (int32_t c = ramp.NextConcurrency()) ramp.Record(Measure(c));
//   std::vector<RampStep> curve = ramp.Curve();
//
// Thread-compatible.
class CapacityRamp {
 public:
  explicit CapacityRamp(const RampOptions& options);

  // Returns the concurrency to measure next, or 0 when the ramp is over.
  int32_t NextConcurrency() const;
  // Records the measurement of the step NextConcurrency() returned (its
  // concurrency is taken from there) and sets its within_slo.
  void Record(const RampStep& step);
  // Returns the steps measured so far, sorted by concurrency.
  std::vector<RampStep> Curve() const;
  // Returns why the doubling ended ("" while it runs), e.g. "p99 over the
  // objective at 2 consecutive steps".
  const std::string& stop_reason() const { return stop_reason_; }

  // Returns the most steps a ramp with `options` measures.
  static int32_t MaxSteps(const RampOptions& options);

 private:
  // Returns the bisection point, or 0 when there is none to measure.
  int32_t RefinePoint() const;

  RampOptions options_;
  std::vector<RampStep> steps_;  // in measurement order
  bool doubling_done_ = false;
  int32_t next_doubling_ = 1;
  int32_t consecutive_misses_ = 0;
  int32_t refined_ = 0;
  std::string stop_reason_;
};

// What the curve says about capacity.
struct CapacityPlan {
  // Highest qps among steps within the objective, and that step's
  // concurrency; both 0 when no step meets it.
  double max_qps_within_slo = 0;
  int32_t concurrency_at_max = 0;
  // max_qps_within_slo / server_cores.
  double qps_per_core = 0;
  // With target_qps > 0 and max_qps_within_slo > 0: ceil(target_qps /
  // max_qps_within_slo), and the same with each replica run at (1 -
  // headroom) of its measured capacity; 0 otherwise.
  int64_t replicas_needed = 0;
  int64_t replicas_with_headroom = 0;
};

// Returns the plan of `curve` (steps with within_slo set). REQUIRES
// server_cores >= 1, target_qps >= 0 (0 = no target), headroom in [0, 1).
CapacityPlan PlanCapacity(absl::Span<const RampStep> curve, int32_t server_cores,
                          double target_qps, double headroom);

// Returns the curve as CSV: header
// "concurrency,qps,p50_ms,p95_ms,p99_ms,requests,errors,within_slo", one row
// per step in the given order; within_slo is true or false.
std::string CapacityCurveCsv(absl::Span<const RampStep> curve);

// Returns an SVG chart of the curve: p99 latency (y, ms) against QPS (x),
// one point per step, and the objective as a dashed horizontal line.
// `subtitle` names the target and rpc mix.
std::string CapacityCurveSvg(absl::Span<const RampStep> curve, double slo_p99_ms,
                             const std::string& subtitle);

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_CLI_CAPACITY_H_
