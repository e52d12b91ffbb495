// Durable decision logging: decisions/s with WAL sync on and 1, 8, 64
// concurrent writers, and the latency AppendDecision adds to a decision
// (p50/p99); and the whole Decide + Reward path of ExperimentManager. Each run
// writes for a fixed wall time from its own std::threads.
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
#include "bandits/log/event_log.h"
#include "bandits/experiment.h"
#include "benchmark/benchmark.h"
#include "proto/core/random.h"

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

// The whole durable Decide: variant assignment, the policy's pmf and draw
// (plus one shadow policy), the decision logged with sync on, then a Reward
// for every decision (also synced, and learned in journal order).
void BM_DurableDecideAndReward(benchmark::State& state) {
  const int writers = static_cast<int>(state.range(0));
  const std::string dir = absl::StrCat("/tmp/recbandit-decide-bench-", getpid(), "-", writers);
  for (auto _ : state) {
    std::filesystem::remove_all(dir);
    auto manager = ExperimentManager::Open(dir, {});
    if (!manager.ok()) {
      state.SkipWithError(std::string(manager.status().message()).c_str());
      return;
    }
    ExperimentConfig config;
    config.set_name("bench");
    config.set_context_dim(32);
    Variant* v = config.add_variants();
    v->set_name("eg");
    v->set_policy_spec("epsilon_greedy:epsilon=0.1");
    v->set_traffic_weight(1);
    config.add_shadow_policy_specs("ucb1");
    if (!(*manager)->CreateExperiment(config).ok()) {
      state.SkipWithError("CreateExperiment failed");
      return;
    }
    std::vector<std::vector<double>> decide_us(writers), reward_us(writers);
    std::atomic<bool> stop{false};
    std::atomic<int64_t> errors{0};
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < writers; ++t) {
      threads.emplace_back([&, t] {
        DecideRequest request;
        request.set_experiment("bench");
        Rng rng(t);
        for (int i = 0; i < 32; ++i) request.mutable_context()->add_dense(rng.Normal());
        for (int a = 0; a < 10; ++a) request.add_actions()->set_id(absl::StrCat("action", a));
        RewardRequest reward;
        reward.set_experiment("bench");
        for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
          request.set_event_id(absl::StrCat("w", t, "-", i));
          const auto t0 = std::chrono::steady_clock::now();
          auto d = (*manager)->Decide(request);
          const auto t1 = std::chrono::steady_clock::now();
          if (!d.ok()) {
            errors.fetch_add(1);
            continue;
          }
          reward.set_event_id(d->event_id());
          reward.set_value(d->chosen_index() == 3 ? 1.0 : 0.0);
          if (!(*manager)->Reward(reward).ok()) errors.fetch_add(1);
          const auto t2 = std::chrono::steady_clock::now();
          decide_us[t].push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
          reward_us[t].push_back(std::chrono::duration<double, std::micro>(t2 - t1).count());
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::seconds(3));
    stop = true;
    for (auto& th : threads) th.join();
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    auto flatten = [](std::vector<std::vector<double>>& per_thread) {
      std::vector<double> all;
      for (auto& v : per_thread) all.insert(all.end(), v.begin(), v.end());
      std::sort(all.begin(), all.end());
      return all;
    };
    const std::vector<double> decide = flatten(decide_us), rewards = flatten(reward_us);
    auto pct = [](const std::vector<double>& v, double p) {
      return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))] / 1000;
    };
    state.counters["decide_per_s"] = decide.size() / elapsed;
    state.counters["decide_p50_ms"] = pct(decide, 0.5);
    state.counters["decide_p99_ms"] = pct(decide, 0.99);
    state.counters["reward_p50_ms"] = pct(rewards, 0.5);
    state.counters["reward_p99_ms"] = pct(rewards, 0.99);
    state.counters["errors"] = static_cast<double>(errors.load());
    manager->reset();
    std::filesystem::remove_all(dir);
  }
}
BENCHMARK(BM_DurableDecideAndReward)
    ->ArgNames({"writers"})
    ->Arg(1)
    ->Arg(64)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace recbandit::bandits

BENCHMARK_MAIN();
