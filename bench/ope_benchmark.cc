// Offline policy evaluation throughput: IPS/SNIPS end to end from an exported
// CSV (read + estimate, one core), and a DR evaluation with its cross-fitted
// reward model, on a generated export of --rows decisions (default 10M; 5
// actions, 4 dense context features, one shadow policy; written once to /tmp).
//   build/ope_benchmark --rows=10000000 --benchmark_min_time=1
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "bandits/ope/ope.h"
#include "bandits/ope/ope_input.h"
#include "benchmark/benchmark.h"
#include "proto/core/file_util.h"
#include "proto/core/random.h"

namespace {

using recbandit::bandits::Evaluate;
using recbandit::bandits::ExportReadOptions;
using recbandit::bandits::ExportRounds;
using recbandit::bandits::OpeOptions;
using recbandit::bandits::ReadExportCsv;

int64_t g_rows = 10000000;
std::string g_path;

void AppendDouble(std::string* out, double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end - buf);
}

// Writes the export CSV once: contexts x in [0,1]^4, an epsilon-greedy-like
// logging pmf over 5 actions, Bernoulli rewards with mean depending on x and
// the action, and a shadow policy "softmax:tau=0.1" with its own pmf.
const std::string& DataFile() {
  if (!g_path.empty()) return g_path;
  g_path = absl::StrCat("/tmp/recbandit_bench_ope_", g_rows, ".csv");
  if (recbandit::PathExists(g_path)) return g_path;
  recbandit::Rng rng(7);
  std::string out =
      "event_id,experiment,variant,timestamp_us,unit_id,context_dense,context_sparse,actions,"
      "chosen_index,chosen_action,propensity,pmf,reward,policy_spec,policy_version,"
      "shadow_pmfs\n";
  FILE* f = std::fopen(g_path.c_str(), "w");
  if (f == nullptr) std::exit(1);
  constexpr int kActions = 5;
  for (int64_t i = 0; i < g_rows; ++i) {
    double x[4];
    for (double& v : x) v = static_cast<int>(rng.Uniform() * 100) / 100.0;
    const int best = static_cast<int>(x[0] * kActions) % kActions;
    double pmf[kActions], shadow[kActions];
    for (int a = 0; a < kActions; ++a) {
      pmf[a] = a == best ? 0.6 : 0.1;
      shadow[a] = a == (best + 1) % kActions ? 0.8 : 0.05;
    }
    const double u = rng.Uniform();
    int chosen = 0;
    double acc = pmf[0];
    while (u >= acc && chosen < kActions - 1) acc += pmf[++chosen];
    const double mean = 0.1 + 0.5 * x[1] * (chosen == best) + 0.1 * chosen / kActions;
    const int reward = rng.Uniform() < mean ? 1 : 0;
    absl::StrAppend(&out, "e", i, ",bench,A,", 1700000000000000 + i, ",u", i % 100000, ",");
    for (int j = 0; j < 4; ++j) {
      if (j) out.push_back(';');
      AppendDouble(&out, x[j]);
    }
    absl::StrAppend(&out, ",,a0;a1;a2;a3;a4,", chosen, ",a", chosen, ",");
    AppendDouble(&out, pmf[chosen]);
    out.push_back(',');
    for (int a = 0; a < kActions; ++a) {
      if (a) out.push_back(';');
      AppendDouble(&out, pmf[a]);
    }
    absl::StrAppend(&out, ",", reward, ",epsilon_greedy:epsilon=0.5,", i, ",softmax:tau=0.1=");
    for (int a = 0; a < kActions; ++a) {
      if (a) out.push_back(';');
      AppendDouble(&out, shadow[a]);
    }
    out.push_back('\n');
    if (out.size() > (1 << 24)) {
      std::fwrite(out.data(), 1, out.size(), f);
      out.clear();
    }
  }
  std::fwrite(out.data(), 1, out.size(), f);
  std::fclose(f);
  return g_path;
}

// IPS + SNIPS end to end from the CSV (fast columnar path), arg: 0 = uniform
// target, 1 = shadow target.
void BM_OpeIpsSnipsFromCsv(benchmark::State& state) {
  const std::string& path = DataFile();
  ExportReadOptions read;
  read.full = false;
  if (state.range(0) == 1) {
    read.target.kind = recbandit::bandits::ExportTarget::Kind::kShadow;
    read.target.shadow_spec = "softmax:tau=0.1";
  }
  OpeOptions options;
  options.estimators = {"ips", "snips"};
  options.bootstrap = 0;
  int64_t n = 0;
  for (auto _ : state) {
    auto rounds = ReadExportCsv(path, read);
    if (!rounds.ok()) {
      state.SkipWithError(std::string(rounds.status().message()).c_str());
      return;
    }
    auto report = Evaluate(rounds->rounds, options);
    if (!report.ok()) {
      state.SkipWithError(std::string(report.status().message()).c_str());
      return;
    }
    n = report->n();
    benchmark::DoNotOptimize(report);
  }
  state.counters["events_per_s"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_OpeIpsSnipsFromCsv)->ArgName("shadow")->Arg(0)->Arg(1)
    ->Unit(benchmark::kMillisecond)->UseRealTime();

// DR (plus DM, IPS, SNIPS) with the ridge reward model cross-fitted on 5
// folds, reading the CSV with every column it needs; arg = bootstrap resamples.
void BM_OpeDrFromCsv(benchmark::State& state) {
  const std::string& path = DataFile();
  ExportReadOptions read;
  read.full = true;
  read.target.kind = recbandit::bandits::ExportTarget::Kind::kShadow;
  read.target.shadow_spec = "softmax:tau=0.1";
  OpeOptions options;
  options.estimators = {"ips", "snips", "dm", "dr"};
  options.bootstrap = static_cast<int32_t>(state.range(0));
  int64_t n = 0;
  for (auto _ : state) {
    auto rounds = ReadExportCsv(path, read);
    if (!rounds.ok()) {
      state.SkipWithError(std::string(rounds.status().message()).c_str());
      return;
    }
    auto report = Evaluate(rounds->rounds, options);
    if (!report.ok()) {
      state.SkipWithError(std::string(report.status().message()).c_str());
      return;
    }
    n = report->n();
    benchmark::DoNotOptimize(report);
  }
  state.counters["events_per_s"] =
      benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_OpeDrFromCsv)->ArgName("bootstrap")->Arg(0)->Arg(200)
    ->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--rows=", 0) == 0) g_rows = std::atoll(a.c_str() + 7);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
