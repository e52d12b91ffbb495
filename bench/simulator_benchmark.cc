// Throughput of `recbandit simulate`'s runner (bandits/sim/simulator.h) with every
// policy built by CreatePolicy and driven through Policy::Bind (its Choose and
// Update; the context-free families skip their lock and id lookups there):
//   BM_SimulateSteps/<policy>: one run of 20,000 steps on 10 Bernoulli arms
//     (gap 0.1), one thread; items/s = simulated steps per second.
//   BM_IssueProblem: the issue-7 problem, 3 policies (thompson, ucb1,
//     epsilon_greedy:epsilon=0.1) x 50 runs x 100,000 steps on 2 threads;
//     real time per iteration = wall time (numpy reference: about 21 s).
// Like `recbandit simulate`, turns off abseil's Mutex deadlock detection
// (Debian's build has it on; it costs ~17% and serialises threads).
// Run: build/simulator_benchmark --benchmark_min_time=0.2
#include <memory>
#include <string>
#include <vector>

#include "bandits/policy.h"
#include "bandits/sim/simulator.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"

namespace {

using recbandit::bandits::CreateEnvironment;
using recbandit::bandits::CreatePolicy;
using recbandit::bandits::EnvironmentOptions;
using recbandit::bandits::PolicyFactory;
using recbandit::bandits::PolicyOptions;
using recbandit::bandits::Simulate;
using recbandit::bandits::SimulationOptions;

PolicyFactory Factory(const std::string& spec, int32_t context_dim) {
  return [spec, context_dim]() {
    PolicyOptions o;
    o.context_dim = context_dim;
    o.compute_pmf = false;
    return CreatePolicy(spec, o);
  };
}

void BM_SimulateSteps(benchmark::State& state, const std::string& kind,
                      const std::string& spec) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  EnvironmentOptions eo;
  eo.kind = kind;
  auto env = CreateEnvironment(eo);
  if (!env.ok()) {
    state.SkipWithError(std::string(env.status().message()).c_str());
    return;
  }
  SimulationOptions so;
  so.horizon = 20000;
  so.runs = 1;
  so.threads = 1;
  const std::vector<PolicyFactory> f = {Factory(spec, (*env)->context_dim())};
  for (auto _ : state) {
    auto r = Simulate(**env, {spec}, f, so);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      return;
    }
    benchmark::DoNotOptimize(r->curves[0].points.back().mean);
  }
  state.SetItemsProcessed(state.iterations() * so.horizon);
}
BENCHMARK_CAPTURE(BM_SimulateSteps, thompson, "bernoulli", "thompson");
BENCHMARK_CAPTURE(BM_SimulateSteps, ucb1, "bernoulli", "ucb1");
BENCHMARK_CAPTURE(BM_SimulateSteps, epsilon_greedy, "bernoulli", "epsilon_greedy:epsilon=0.1");
BENCHMARK_CAPTURE(BM_SimulateSteps, softmax, "bernoulli", "softmax:tau=0.1");
BENCHMARK_CAPTURE(BM_SimulateSteps, linucb_linear_d8, "linear", "linucb:alpha=1");
BENCHMARK_CAPTURE(BM_SimulateSteps, lin_ts_linear_d8, "linear", "lin_ts");

void BM_IssueProblem(benchmark::State& state) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  EnvironmentOptions eo;  // 10 arms, best 0.5, others 0.4
  auto env = CreateEnvironment(eo);
  SimulationOptions so;
  so.horizon = 100000;
  so.runs = 50;
  so.threads = 2;
  const std::vector<std::string> specs = {"thompson", "ucb1", "epsilon_greedy:epsilon=0.1"};
  std::vector<PolicyFactory> f;
  for (const auto& s : specs) f.push_back(Factory(s, 0));
  for (auto _ : state) {
    auto r = Simulate(**env, specs, f, so);
    if (!r.ok()) {
      state.SkipWithError(std::string(r.status().message()).c_str());
      return;
    }
    state.counters["thompson_regret"] = r->curves[0].points.back().mean;
    state.counters["ucb1_regret"] = r->curves[1].points.back().mean;
    state.counters["eg_regret"] = r->curves[2].points.back().mean;
  }
  state.SetItemsProcessed(state.iterations() * 3 * so.runs * so.horizon);
}
BENCHMARK(BM_IssueProblem)->Iterations(1)->UseRealTime()->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
