// Interleaving against an A/B split in a planted position-based click model
// (issue 14: "interleaving finds the better of two planted models with 10x
// fewer events than an A/B split at the same error rate"): for each world,
// the error rate of both methods over a grid of event budgets N, and the N
// each needs for a 5% error rate. Also the cost of one TeamDraftInterleave.
//
//   build/interleaving_simulation_benchmark --benchmark_counters_tabular=true
//
// RECBANDIT_SIM_REPS sets the repetitions per budget (default 10000).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bandits/interleaving.h"
#include "bandits/sim/interleaving_simulation.h"
#include "benchmark/benchmark.h"
#include "proto/core/random.h"

namespace recbandit::bandits {
namespace {

constexpr double kTargetError = 0.05;

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoll(v) : fallback;
}

// Returns even budgets near 2^(k/4) from 16 up to `max`.
std::vector<int64_t> Grid(int64_t max) {
  std::vector<int64_t> budgets;
  for (int k = 16; ; ++k) {
    const int64_t n = 2 * static_cast<int64_t>(std::llround(std::pow(2.0, k / 4.0) / 2));
    if (n > max) break;
    if (budgets.empty() || n > budgets.back()) budgets.push_back(n);
  }
  return budgets;
}

// One world per argument set: B's extra noise sd and the users' activity
// shape in hundredths (0: all users alike), the world's seed.
void BM_InterleavingVsAbSplit(benchmark::State& state) {
  PbmWorldOptions o;
  o.b_extra_noise_sd = static_cast<double>(state.range(0)) / 100.0;
  o.activity_shape = static_cast<double>(state.range(1)) / 100.0;
  o.seed = static_cast<uint64_t>(state.range(2));
  const int32_t reps = static_cast<int32_t>(EnvInt("RECBANDIT_SIM_REPS", 10000));
  auto world = PbmWorld::Create(o);
  if (!world.ok()) {
    state.SkipWithError(world.status().ToString().c_str());
    return;
  }
  // Every run of both methods streams until the error rate is a fifth of
  // the target.
  const std::vector<int64_t> grid = Grid(int64_t{1} << 24);
  double n_il = NAN, n_ab = NAN;
  for (auto _ : state) {
    auto il = ComparisonErrorRates(*world, ComparisonMethod::kInterleaving, grid, reps, 1,
                                   kTargetError / 5);
    auto ab =
        ComparisonErrorRates(*world, ComparisonMethod::kAbSplit, grid, reps, 2, kTargetError / 5);
    if (!il.ok() || !ab.ok()) {
      state.SkipWithError("simulation failed");
      return;
    }
    std::string report = absl::StrCat(world->Describe(), "; ", reps, " repetitions per budget\n",
                                      "  N        interleaving  A/B split   (error rates)\n");
    const size_t rows = std::max(il->size(), ab->size());
    for (size_t i = 0; i < rows; ++i) {
      absl::StrAppend(&report, "  ", grid[i], "\t", i < il->size() ? absl::StrCat((*il)[i]) : "-",
                      "\t", i < ab->size() ? absl::StrCat((*ab)[i]) : "-", "\n");
    }
    const absl::Span<const int64_t> budgets(grid);
    auto at_il = BudgetForErrorRate(budgets.subspan(0, il->size()), *il, kTargetError);
    auto at_ab = BudgetForErrorRate(budgets.subspan(0, ab->size()), *ab, kTargetError);
    if (at_il.ok()) n_il = *at_il;
    if (at_ab.ok()) n_ab = *at_ab;
    absl::StrAppend(&report, "  N for a ", kTargetError, " error rate: interleaving ", n_il,
                    ", A/B ", n_ab, ", ratio ", n_ab / n_il, "\n");
    std::fputs(report.c_str(), stderr);
  }
  state.counters["clicks_A"] = world->ExpectedClicksA();
  state.counters["lift_pct"] = 100.0 * (world->ExpectedClicksA() / world->ExpectedClicksB() - 1);
  state.counters["top10_overlap"] = world->TopOverlap();
  state.counters["N_interleaving"] = n_il;
  state.counters["N_ab"] = n_ab;
  state.counters["ratio"] = n_ab / n_il;
}
BENCHMARK(BM_InterleavingVsAbSplit)
    ->ArgNames({"b_noise_x100", "activity_x100", "world_seed"})
    // The plain PBM (every user alike), three worlds, then B closer to / further from A.
    ->Args({50, 0, 1})->Args({50, 0, 2})->Args({50, 0, 3})
    ->Args({25, 0, 1})->Args({100, 0, 1})
    // Users who differ in how much they click (activity sd 1 and 0.5).
    ->Args({50, 100, 1})->Args({50, 100, 2})->Args({50, 100, 3})->Args({50, 400, 1})
    ->Unit(benchmark::kSecond)->Iterations(1);

// One serving call: the merge of two top-10 rankings of string ids.
void BM_TeamDraftInterleave(benchmark::State& state) {
  const int32_t size = static_cast<int32_t>(state.range(0));
  std::vector<std::string> a, b;
  Rng rng(3);
  for (int32_t i = 0; i < size; ++i) {
    a.push_back(absl::StrCat("item", i));
    b.push_back(absl::StrCat("item", (i % 3 == 0) ? i + 1000 : i));
  }
  uint64_t seed = 0;
  for (auto _ : state) {
    auto slate = TeamDraftInterleave(a, b, size, ++seed);
    benchmark::DoNotOptimize(slate);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TeamDraftInterleave)->ArgName("size")->Arg(10)->Arg(100);

}  // namespace
}  // namespace recbandit::bandits

BENCHMARK_MAIN();
