// Durable decision logging: decisions/s with WAL sync on and 1, 8, 64
// concurrent writers, and the latency AppendDecision adds to a decision
// (p50/p99). Each run writes for a fixed wall time from its own std::threads.
//
//   build-b2/event_log_benchmark --benchmark_counters_tabular=true
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bandits/event_log.h"
#include "benchmark/benchmark.h"
#include "proto/random.h"

namespace recbandit::bandits {
namespace {

// A realistic decision: 32 dense context features, 10 actions, full pmf and
// one shadow pmf (about 600 bytes serialized).
DecisionEvent MakeEvent(const std::string& id, int64_t ts) {
  DecisionEvent e;
  e.set_event_id(id);
  e.set_experiment("bench");
  e.set_variant("a");
  e.set_timestamp_us(ts);
  e.set_unit_id(id);
  Rng rng(StableHash64(id));
  for (int i = 0; i < 32; ++i) e.mutable_context()->add_dense(static_cast<float>(rng.Normal()));
  for (int a = 0; a < 10; ++a) {
    e.add_actions()->set_id(absl::StrCat("action", a));
    e.add_pmf(0.1);
  }
  e.set_chosen_index(3);
  e.set_chosen_action("action3");
  e.set_seed(StableHash64(id));
  e.set_policy_name("epsilon_greedy");
  e.set_policy_spec("epsilon_greedy:epsilon=0.1");
  ShadowDecision* s = e.add_shadows();
  s->set_policy_spec("ucb1");
  for (int a = 0; a < 10; ++a) s->add_pmf(0.1);
  return e;
}

void BM_DurableDecisions(benchmark::State& state) {
  const int writers = static_cast<int>(state.range(0));
  const bool sync = state.range(1) != 0;
  const double seconds = writers == 1 ? 2.0 : 3.0;
  const std::string dir =
      absl::StrCat("/tmp/recbandit-event-log-bench-", getpid(), "-", writers, "-", sync);
  for (auto _ : state) {
    std::filesystem::remove_all(dir);
    EventLogOptions options;
    options.sync = sync;
    auto log = EventLog::Open(dir, options);
    if (!log.ok()) {
      state.SkipWithError(std::string(log.status().message()).c_str());
      return;
    }
    std::vector<std::vector<double>> latencies_us(writers);
    std::atomic<bool> stop{false};
    std::atomic<int64_t> errors{0};
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < writers; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
          const std::string id = absl::StrCat("w", t, "-", i);
          DecisionEvent e = MakeEvent(id, 1000000 + i);  // built before timing
          const auto t0 = std::chrono::steady_clock::now();
          if (!(*log)->AppendDecision(e).ok()) errors.fetch_add(1);
          const auto t1 = std::chrono::steady_clock::now();
          latencies_us[t].push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& th : threads) th.join();
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<double> all;
    for (auto& v : latencies_us) all.insert(all.end(), v.begin(), v.end());
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
      return all.empty() ? 0.0 : all[std::min(all.size() - 1, static_cast<size_t>(p * all.size()))];
    };
    state.counters["decisions_per_s"] = all.size() / elapsed;
    state.counters["p50_ms"] = pct(0.50) / 1000;
    state.counters["p99_ms"] = pct(0.99) / 1000;
    state.counters["max_ms"] = all.empty() ? 0 : all.back() / 1000;
    state.counters["decisions"] = static_cast<double>(all.size());
    state.counters["errors"] = static_cast<double>(errors.load());
    log->reset();
    std::filesystem::remove_all(dir);
  }
}
BENCHMARK(BM_DurableDecisions)
    ->ArgNames({"writers", "sync"})
    ->Args({1, 1})
    ->Args({8, 1})
    ->Args({64, 1})
    ->Args({64, 0})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace recbandit::bandits

BENCHMARK_MAIN();
