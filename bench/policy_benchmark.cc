// In-process Choose + Update throughput of every bandit policy with 10 and 100
// actions and 32 context dims (one Choose and one Update per item), e.g.
//   build/policy_benchmark --benchmark_min_time=0.3
// Names: BM_ChooseUpdate/<policy>/<actions>; "_nopmf" variants set
// PolicyOptions::compute_pmf = false (Thompson samples one posterior draw).
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bandits/policy.h"
#include "benchmark/benchmark.h"
#include "proto/core/random.h"

namespace {

using recbandit::Rng;
using recbandit::bandits::CreatePolicy;
using recbandit::bandits::Decision;
using recbandit::bandits::DecisionInput;
using recbandit::bandits::Policy;
using recbandit::bandits::PolicyOptions;

constexpr int kContextDim = 32;
constexpr int kActionDim = 4;
constexpr int kInputs = 1024;

void BM_ChooseUpdate(benchmark::State& state, const std::string& spec, int actions,
                     bool compute_pmf) {
  PolicyOptions options;
  options.context_dim = kContextDim;
  options.compute_pmf = compute_pmf;
  auto policy = CreatePolicy(spec, options);
  if (!policy.ok()) {
    state.SkipWithError(std::string(policy.status().message()).c_str());
    return;
  }
  Rng rng(1);
  std::vector<DecisionInput> inputs(kInputs);
  std::vector<double> action_value(actions);
  for (int a = 0; a < actions; ++a) action_value[a] = 0.5 * rng.Uniform();
  for (DecisionInput& input : inputs) {
    input.context.resize(kContextDim);
    for (double& x : input.context) x = rng.Uniform();
    for (int a = 0; a < actions; ++a) {
      std::vector<double> f(kActionDim);
      for (double& x : f) x = rng.Uniform();
      input.actions.push_back({absl::StrCat("action-", a), f});
    }
  }
  // Warm up: every arm has some data.
  Decision d;
  for (int i = 0; i < 2 * actions; ++i) {
    (void)(*policy)->Update(inputs[i % kInputs], i % actions, rng.Uniform() < 0.3);
  }
  int64_t i = 0;
  for (auto _ : state) {
    const DecisionInput& input = inputs[i & (kInputs - 1)];
    if (!(*policy)->Choose(input, static_cast<uint64_t>(i), &d).ok()) {
      state.SkipWithError("Choose failed");
      break;
    }
    const double reward = rng.Uniform() < action_value[d.chosen] ? 1.0 : 0.0;
    if (!(*policy)->Update(input, d.chosen, reward).ok()) {
      state.SkipWithError("Update failed");
      break;
    }
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

void RegisterAll() {
  struct Entry {
    const char* name;
    const char* spec;
    bool compute_pmf;
  };
  const Entry entries[] = {
      {"epsilon_greedy", "epsilon_greedy:epsilon=0.1", true},
      {"ucb1", "ucb1", true},
      {"softmax", "softmax:tau=0.1", true},
      {"thompson", "thompson", true},
      {"thompson_nopmf", "thompson", false},
      {"linucb", "linucb:alpha=1", true},
      {"linucb_shared", "linucb:alpha=1,model=shared", true},
      {"lin_epsilon_greedy", "lin_epsilon_greedy:epsilon=0.1", true},
      {"lin_ts", "lin_ts:v=0.5", true},
      {"lin_ts_nopmf", "lin_ts:v=0.5", false},
      {"lin_ts_shared_nopmf", "lin_ts:v=0.5,model=shared", false},
  };
  for (const Entry& e : entries) {
    for (int actions : {10, 100}) {
      const std::string spec = e.spec;
      const bool pmf = e.compute_pmf;
      benchmark::RegisterBenchmark(
          absl::StrCat("BM_ChooseUpdate/", e.name, "/", actions).c_str(),
          [spec, actions, pmf](benchmark::State& state) {
            BM_ChooseUpdate(state, spec, actions, pmf);
          });
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  RegisterAll();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
