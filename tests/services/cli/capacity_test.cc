// Tests of loadtest's capacity ramp without a server: the schedule (doubling,
// the two-miss stop, the error bound, bisection near the knee), the plan
// (max QPS within the objective, QPS per core, replicas) and the CSV/SVG.
#include "services/cli/capacity.h"

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace recbandit::services {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A step measured at `concurrency` by a fake server: p99 and qps from the
// given functions, 1000 requests, `errors` of them failed.
RampStep Fake(int32_t concurrency, const std::function<double(int32_t)>& p99,
              const std::function<double(int32_t)>& qps, int64_t errors = 0) {
  RampStep s;
  s.concurrency = concurrency;
  s.requests = 1000;
  s.errors = errors;
  s.qps = qps(concurrency);
  s.p50_ms = p99(concurrency) / 2;
  s.p95_ms = p99(concurrency) * 0.9;
  s.p99_ms = p99(concurrency);
  return s;
}

// Runs the ramp against the fake; returns the concurrencies in the order
// measured.
std::vector<int32_t> Drive(CapacityRamp* ramp, const std::function<double(int32_t)>& p99,
                           const std::function<double(int32_t)>& qps,
                           const std::function<int64_t(int32_t)>& errors = nullptr) {
  std::vector<int32_t> order;
  while (const int32_t c = ramp->NextConcurrency()) {
    order.push_back(c);
    ramp->Record(Fake(c, p99, qps, errors ? errors(c) : 0));
    if (order.size() > 100) break;  // a broken schedule must not hang the test
  }
  return order;
}

std::vector<int32_t> Concurrencies(const std::vector<RampStep>& curve) {
  std::vector<int32_t> out;
  for (const RampStep& s : curve) out.push_back(s.concurrency);
  return out;
}

// Latency rises past 10 ms above concurrency 5; throughput 1000 per call in
// flight up to 6, flat beyond.
double KneeP99(int32_t c) { return c <= 5 ? 2.0 * c : 20.0 * c; }
double KneeQps(int32_t c) { return 1000.0 * std::min(c, 6); }

TEST(CapacityRampTest, DoublesThenBisectsTowardTheKnee) {
  RampOptions options;
  options.slo_p99_ms = 10;
  options.max_concurrency = 256;
  CapacityRamp ramp(options);
  // 8 and 16 miss (two in a row): the doubling stops; bisection 4..8 -> 6
  // (misses), 4..6 -> 5 (meets); 5..6 leaves nothing between.
  EXPECT_THAT(Drive(&ramp, KneeP99, KneeQps), ElementsAre(1, 2, 4, 8, 16, 6, 5));
  EXPECT_EQ(ramp.stop_reason(), "p99 over the objective at 2 consecutive steps");
  const std::vector<RampStep> curve = ramp.Curve();
  EXPECT_THAT(Concurrencies(curve), ElementsAre(1, 2, 4, 5, 6, 8, 16));
  std::vector<bool> within;
  for (const RampStep& s : curve) within.push_back(s.within_slo);
  EXPECT_THAT(within, ElementsAre(true, true, true, true, false, false, false));

  const CapacityPlan plan = PlanCapacity(curve, /*server_cores=*/2, /*target_qps=*/12000,
                                         /*headroom=*/0.2);
  EXPECT_DOUBLE_EQ(plan.max_qps_within_slo, 5000);
  EXPECT_EQ(plan.concurrency_at_max, 5);
  EXPECT_DOUBLE_EQ(plan.qps_per_core, 2500);
  EXPECT_EQ(plan.replicas_needed, 3);         // ceil(12000 / 5000)
  EXPECT_EQ(plan.replicas_with_headroom, 3);  // ceil(12000 / 4000)
}

TEST(CapacityRampTest, OneMissIsNotTheEnd) {
  RampOptions options;
  options.slo_p99_ms = 10;
  options.max_concurrency = 64;
  options.refine_steps = 0;
  CapacityRamp ramp(options);
  // A hiccup at 2 (one miss), fine up to 8, over from 16 on.
  auto p99 = [](int32_t c) { return c == 2 || c >= 16 ? 50.0 : 1.0; };
  EXPECT_THAT(Drive(&ramp, p99, KneeQps), ElementsAre(1, 2, 4, 8, 16, 32));
  const CapacityPlan plan = PlanCapacity(ramp.Curve(), 1, 0, 0.2);
  EXPECT_EQ(plan.concurrency_at_max, 8);
  EXPECT_DOUBLE_EQ(plan.max_qps_within_slo, 6000);
}

TEST(CapacityRampTest, StopsAtMaxConcurrencyNotAPowerOfTwo) {
  RampOptions options;
  options.max_concurrency = 12;
  CapacityRamp ramp(options);
  // Everything meets the objective: 12 is measured last, nothing to bisect.
  EXPECT_THAT(Drive(&ramp, [](int32_t) { return 1.0; }, KneeQps), ElementsAre(1, 2, 4, 8, 12));
  EXPECT_EQ(ramp.stop_reason(), "reached the concurrency bound 12");
  EXPECT_EQ(ramp.NextConcurrency(), 0);
  ramp.Record(RampStep{});  // after the end: ignored
  EXPECT_EQ(ramp.Curve().size(), 5u);
}

TEST(CapacityRampTest, AnErrorRateOverTheBoundEndsTheDoubling) {
  RampOptions options;
  options.slo_p99_ms = 10;
  options.max_error_rate = 0.01;
  CapacityRamp ramp(options);
  // Fast but failing from 4 on (5%): 4 misses though its p99 is low.
  auto errors = [](int32_t c) -> int64_t { return c >= 4 ? 50 : 0; };
  EXPECT_THAT(Drive(&ramp, [](int32_t) { return 1.0; }, KneeQps, errors),
              ElementsAre(1, 2, 4, 3));
  EXPECT_EQ(ramp.stop_reason(), "error rate 0.05 at concurrency 4 over the bound 0.01");
  const std::vector<RampStep> curve = ramp.Curve();
  EXPECT_THAT(Concurrencies(curve), ElementsAre(1, 2, 3, 4));
  EXPECT_FALSE(curve[3].within_slo);
  EXPECT_EQ(PlanCapacity(curve, 1, 0, 0).concurrency_at_max, 3);  // the bisection's step
}

TEST(CapacityRampTest, NoStepMeetsTheObjective) {
  RampOptions options;
  options.slo_p99_ms = 0.001;
  CapacityRamp ramp(options);
  // Two misses at 1 and 2; nothing meets it, so nothing to bisect.
  EXPECT_THAT(Drive(&ramp, KneeP99, KneeQps), ElementsAre(1, 2));
  const CapacityPlan plan = PlanCapacity(ramp.Curve(), 4, /*target_qps=*/1000, 0.2);
  EXPECT_EQ(plan.max_qps_within_slo, 0);
  EXPECT_EQ(plan.concurrency_at_max, 0);
  EXPECT_EQ(plan.qps_per_core, 0);
  EXPECT_EQ(plan.replicas_needed, 0);
  EXPECT_EQ(plan.replicas_with_headroom, 0);
}

TEST(CapacityRampTest, MaxStepsBoundsEveryRun) {
  RampOptions options;
  options.max_concurrency = 256;  // 1 .. 256: 9 doubling steps, 3 bisections
  EXPECT_EQ(CapacityRamp::MaxSteps(options), 12);
  options.max_concurrency = 12;  // 1, 2, 4, 8, 12
  EXPECT_EQ(CapacityRamp::MaxSteps(options), 8);
  options.max_concurrency = 1;
  options.refine_steps = 0;
  EXPECT_EQ(CapacityRamp::MaxSteps(options), 1);
  // A knee placed anywhere never takes more than MaxSteps.
  options.max_concurrency = 100;
  options.refine_steps = 3;
  for (int32_t knee = 0; knee <= 120; ++knee) {
    CapacityRamp ramp(options);
    auto p99 = [knee](int32_t c) { return c <= knee ? 1.0 : 100.0; };
    EXPECT_LE(static_cast<int32_t>(Drive(&ramp, p99, KneeQps).size()),
              CapacityRamp::MaxSteps(options))
        << knee;
  }
}

TEST(MeetsObjectiveTest, BoundsAreInclusive) {
  RampOptions options;
  options.slo_p99_ms = 10;
  options.max_error_rate = 0.01;
  RampStep s;
  EXPECT_FALSE(MeetsObjective(s, options));  // no request completed
  s.requests = 100;
  s.p99_ms = 10;
  s.errors = 1;
  EXPECT_TRUE(MeetsObjective(s, options));
  s.p99_ms = 10.0001;
  EXPECT_FALSE(MeetsObjective(s, options));
  s.p99_ms = 1;
  s.errors = 2;
  EXPECT_FALSE(MeetsObjective(s, options));
}

TEST(PlanCapacityTest, KnownAnswers) {
  std::vector<RampStep> curve(3);
  curve[0] = {1, 100, 0, 100, 1, 2, 3, true};
  curve[1] = {2, 100, 0, 250, 2, 3, 4, true};
  curve[2] = {4, 100, 0, 300, 9, 20, 40, false};  // faster but over the objective
  CapacityPlan plan = PlanCapacity(curve, 4, 1000, 0.2);
  EXPECT_DOUBLE_EQ(plan.max_qps_within_slo, 250);
  EXPECT_EQ(plan.concurrency_at_max, 2);
  EXPECT_DOUBLE_EQ(plan.qps_per_core, 62.5);
  EXPECT_EQ(plan.replicas_needed, 4);         // 1000 / 250 exactly
  EXPECT_EQ(plan.replicas_with_headroom, 5);  // 1000 / 200
  plan = PlanCapacity(curve, 4, 1001, 0.2);
  EXPECT_EQ(plan.replicas_needed, 5);         // 4.004 -> 5
  EXPECT_EQ(plan.replicas_with_headroom, 6);  // 5.005 -> 6
  plan = PlanCapacity(curve, 4, 0, 0.2);      // no target: no replicas
  EXPECT_EQ(plan.replicas_needed, 0);
  EXPECT_EQ(plan.replicas_with_headroom, 0);
  // Throughput that falls at higher concurrency: the best step counts, not the last.
  curve[1].qps = 90;
  plan = PlanCapacity(curve, 1, 1000, 0);
  EXPECT_DOUBLE_EQ(plan.max_qps_within_slo, 100);
  EXPECT_EQ(plan.concurrency_at_max, 1);
  EXPECT_EQ(plan.replicas_needed, 10);
  EXPECT_EQ(plan.replicas_with_headroom, 10);
}

TEST(CapacityCurveTest, CsvHasOneRowPerStep) {
  std::vector<RampStep> curve(2);
  curve[0] = {1, 500, 2, 1234.5, 0.5, 0.75, 0.875, true};
  curve[1] = {2, 400, 400, 2000, 1, 2, 12.25, false};
  EXPECT_EQ(CapacityCurveCsv(curve),
            "concurrency,qps,p50_ms,p95_ms,p99_ms,requests,errors,within_slo\n"
            "1,1234.5,0.5,0.75,0.875,500,2,true\n"
            "2,2000,1,2,12.25,400,400,false\n");
}

TEST(CapacityCurveTest, SvgDrawsP99AgainstQpsAndTheObjective) {
  std::vector<RampStep> curve(2);
  curve[0] = {1, 500, 0, 1000, 0.5, 0.75, 1, true};
  curve[1] = {2, 400, 0, 1500, 1, 2, 20, false};
  const std::string svg = CapacityCurveSvg(curve, 10, "127.0.0.1:1 <recommend>");
  EXPECT_THAT(svg, StartsWith("<?xml"));
  EXPECT_THAT(svg, HasSubstr("<title>p99</title>"));
  EXPECT_THAT(svg, HasSubstr("<title>p50</title>"));
  EXPECT_THAT(svg, HasSubstr("class=\"reference\""));
  EXPECT_THAT(svg, HasSubstr("objective: p99 &lt;= 10 ms"));
  EXPECT_THAT(svg, HasSubstr("127.0.0.1:1 &lt;recommend&gt;"));
  EXPECT_THAT(svg, HasSubstr("throughput, QPS"));
  EXPECT_THAT(svg, HasSubstr("<title>concurrency 2: 1500 qps, p99 20 ms (misses)</title>"));
}

}  // namespace
}  // namespace recbandit::services
