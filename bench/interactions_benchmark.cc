// Loader throughput: lines/s and bytes per interaction for LoadInteractions on
// a generated MovieLens-like file (user,item,weight,timestamp), and the CSR
// build. Size by --lines (default 10M):
//   build/interactions_benchmark --lines=10000000 --benchmark_min_time=1
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "proto/core/file_util.h"
#include "ranking/interactions.h"
#include "ranking/synthetic.h"

namespace {

int64_t g_lines = 10000000;
std::string g_path;
std::string g_numeric_path;

const std::string& DataFile();

// The same data with MovieLens-style integer ids ("17" instead of "u17").
const std::string& NumericDataFile() {
  if (!g_numeric_path.empty()) return g_numeric_path;
  g_numeric_path = absl::StrCat("/tmp/recbandit_bench_interactions_", g_lines, "_numeric.csv");
  if (recbandit::PathExists(g_numeric_path)) return g_numeric_path;
  auto log = recbandit::ranking::LoadInteractions(DataFile());
  std::string out = "user,item,weight,timestamp\n";
  for (int64_t k = 0; k < log->size(); ++k) {
    absl::StrAppend(&out, log->users.Name(log->user[k]).substr(1), ",",
                    log->items.Name(log->item[k]).substr(1), ",", log->weight[k], ",",
                    log->timestamp[k], "\n");
  }
  if (!recbandit::WriteFileAtomically(g_numeric_path, out).ok()) std::exit(1);
  return g_numeric_path;
}

const std::string& DataFile() {
  if (!g_path.empty()) return g_path;
  g_path = absl::StrCat("/tmp/recbandit_bench_interactions_", g_lines, ".csv");
  if (recbandit::PathExists(g_path)) return g_path;
  recbandit::ranking::SyntheticOptions o;
  o.users = static_cast<int32_t>(std::max<int64_t>(1000, g_lines / 50));
  o.items = static_cast<int32_t>(std::max<int64_t>(500, g_lines / 200));
  o.nnz = g_lines;
  o.factors = 32;
  auto data = recbandit::ranking::GenerateInteractions(o);
  if (!data.ok() || !recbandit::ranking::WriteInteractions(g_path, data->log).ok()) {
    std::fprintf(stderr, "cannot generate %s\n", g_path.c_str());
    std::exit(1);
  }
  return g_path;
}

// Arg 0: string ids ("u17"); arg 1: integer ids ("17").
void BM_LoadInteractions(benchmark::State& state) {
  const std::string& path = state.range(0) == 0 ? DataFile() : NumericDataFile();
  int64_t lines = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    auto log = recbandit::ranking::LoadInteractions(path);
    if (!log.ok()) state.SkipWithError(std::string(log.status().message()).c_str());
    lines = log->size();
    bytes = log->MemoryBytes();
    benchmark::DoNotOptimize(log);
  }
  state.counters["lines_per_s"] =
      benchmark::Counter(static_cast<double>(lines), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["log_bytes_per_interaction"] = static_cast<double>(bytes) / lines;
}
BENCHMARK(BM_LoadInteractions)->ArgName("numeric_ids")->Arg(0)->Arg(1)
    ->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_BuildCsr(benchmark::State& state) {
  auto log = recbandit::ranking::LoadInteractions(DataFile());
  size_t bytes = 0;
  for (auto _ : state) {
    auto x = recbandit::ranking::Interactions::FromLog(*log);
    bytes = x.MemoryBytes();
    benchmark::DoNotOptimize(x);
  }
  state.counters["interactions_per_s"] = benchmark::Counter(
      static_cast<double>(log->size()), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["csr_bytes_per_interaction"] = static_cast<double>(bytes) / log->size();
}
BENCHMARK(BM_BuildCsr)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--lines=", 0) == 0) g_lines = std::atoll(a.c_str() + 8);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
