// `recbandit loadtest`: an asynchronous gRPC load generator. Keeps
// --concurrency calls in flight (Recommend, Decide, or a 50/50 mix) over
// --client_threads completion queues, each with its own channel, for
// --duration_s seconds or --requests calls, and prints QPS, latency
// percentiles and errors as one JSON line. With --slo_p99_ms it ramps the
// concurrency instead (services/cli/capacity.h) and reports the highest QPS
// whose p99 meets the objective, the curve, and replicas for --target_qps.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "proto/experiments.grpc.pb.h"
#include "proto/core/file_util.h"
#include "proto/core/json.h"
#include "proto/core/names.h"
#include "proto/core/progress.h"
#include "proto/core/random.h"
#include "proto/recommender.grpc.pb.h"
#include "proto/reports.pb.h"
#include "proto/core/status_macros.h"
#include "services/cli/capacity.h"
#include "services/cli/cli.h"
#include "services/cli/flags.h"

namespace recbandit::services {
namespace {

using Clock = std::chrono::steady_clock;

struct LoadSpec {
  std::string rpc;  // recommend | decide | mixed
  int32_t users = 1000;
  std::string user_prefix = "u";
  int32_t k = 10;
  std::string experiment;
  std::string deployment;  // Recommend through this deployment ("" = the default model)
  std::string explore;     // Recommend exploring through this experiment ("" = none)
  int32_t context_dim = 0;
  int32_t actions = 10;
  int32_t ef_search = 0;  // Recommend's per-request HNSW beam; 0 = the index's
  std::string auth_token;
  double deadline_s = 10;
  double qps = 0;  // per client thread; 0 = closed loop
};

// One call in flight. Lives in its thread's arena until the run ends.
struct Call {
  bool decide = false;
  Clock::time_point start;
  std::unique_ptr<grpc::ClientContext> context;
  RecommendRequest recommend_request;
  RecommendResponse recommend_response;
  DecideRequest decide_request;
  DecideResponse decide_response;
  std::unique_ptr<grpc::ClientAsyncResponseReader<RecommendResponse>> recommend_reader;
  std::unique_ptr<grpc::ClientAsyncResponseReader<DecideResponse>> decide_reader;
  grpc::Status status;
};

// Shared budget of requests to start (when --requests is set), and the
// counts the progress line shows.
struct Budget {
  int64_t limit = 0;  // 0 = unlimited
  std::atomic<int64_t> started{0};
  std::atomic<int64_t> finished{0};
  std::atomic<int64_t> errors{0};
  std::atomic<int32_t> clients_running{0};
  Clock::time_point end;
  bool Take() {
    if (Clock::now() >= end) return false;
    return limit == 0 || started.fetch_add(1) < limit;
  }
};

struct ThreadResult {
  std::vector<double> latencies_ms;
  int64_t errors = 0;
  std::string first_error;
};

// Drives `slots` concurrent calls on its own channel until the budget ends.
void RunClient(const LoadSpec& spec, std::shared_ptr<grpc::Channel> channel, int32_t slots,
               uint64_t seed, Budget* budget, ThreadResult* result) {
  auto recommender = Recommender::NewStub(channel);
  auto experiments = Experiments::NewStub(channel);
  grpc::CompletionQueue cq;
  Rng rng(seed);
  std::vector<std::unique_ptr<Call>> calls(slots);
  int64_t sequence = 0;
  auto start_call = [&](Call* call) {
    call->context = std::make_unique<grpc::ClientContext>();
    call->context->set_deadline(std::chrono::system_clock::now() +
                                std::chrono::microseconds(static_cast<int64_t>(
                                    spec.deadline_s * 1e6)));
    if (!spec.auth_token.empty()) {
      call->context->AddMetadata("authorization", "Bearer " + spec.auth_token);
    }
    const std::string user =
        absl::StrCat(spec.user_prefix, rng.UniformInt(static_cast<uint64_t>(spec.users)));
    call->decide = spec.rpc == "decide" || (spec.rpc == "mixed" && (sequence & 1));
    ++sequence;
    call->start = Clock::now();
    if (call->decide) {
      DecideRequest& r = call->decide_request;
      r.Clear();
      r.set_experiment(spec.experiment);
      r.set_unit_id(user);
      for (int32_t j = 0; j < spec.context_dim; ++j) {
        r.mutable_context()->add_dense(static_cast<float>(rng.Uniform()));
      }
      for (int32_t a = 0; a < spec.actions; ++a) r.add_actions()->set_id(absl::StrCat("a", a));
      call->decide_reader =
          experiments->PrepareAsyncDecide(call->context.get(), r, &cq);
      call->decide_reader->StartCall();
      call->decide_reader->Finish(&call->decide_response, &call->status, call);
    } else {
      RecommendRequest& r = call->recommend_request;
      r.Clear();
      r.set_user(user);
      r.set_k(spec.k);
      r.set_ef_search(spec.ef_search);
      r.set_deployment(spec.deployment);
      r.set_experiment(spec.explore);
      call->recommend_reader =
          recommender->PrepareAsyncRecommend(call->context.get(), r, &cq);
      call->recommend_reader->StartCall();
      call->recommend_reader->Finish(&call->recommend_response, &call->status, call);
    }
  };
  int32_t in_flight = 0;
  void* tag = nullptr;
  bool ok = false;
  // Records a finished call.
  auto finish = [&](Call* call) {
    --in_flight;
    budget->finished.fetch_add(1, std::memory_order_relaxed);
    result->latencies_ms.push_back(
        std::chrono::duration<double, std::milli>(Clock::now() - call->start).count());
    if (!ok || !call->status.ok()) {
      budget->errors.fetch_add(1, std::memory_order_relaxed);
      if (result->errors++ == 0) {
        result->first_error = absl::StrCat(
            call->decide ? "Decide: " : "Recommend: ",
            absl::StatusCodeToString(static_cast<absl::StatusCode>(call->status.error_code())),
            ": ", call->status.error_message());
      }
    }
  };
  if (spec.qps > 0) {
    // Open loop: a call starts at each scheduled time (or as soon as a slot
    // frees, when all are busy), its latency counted from that time.
    const auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(1.0 / spec.qps));
    std::vector<Call*> idle;
    for (auto& call : calls) {
      call = std::make_unique<Call>();
      idle.push_back(call.get());
    }
    Clock::time_point next = Clock::now();
    bool stopped = false;
    while (!stopped || in_flight > 0) {
      if (!stopped && !idle.empty() && Clock::now() >= next) {
        if (!budget->Take()) {
          stopped = true;
          continue;
        }
        Call* call = idle.back();
        idle.pop_back();
        start_call(call);
        call->start = next;
        next += interval;
        ++in_flight;
        continue;
      }
      const Clock::time_point wake =
          !stopped && !idle.empty() ? next : Clock::now() + std::chrono::milliseconds(100);
      // gRPC takes system-clock deadlines.
      const auto wake_system = std::chrono::system_clock::now() + (wake - Clock::now());
      const grpc::CompletionQueue::NextStatus got = cq.AsyncNext(&tag, &ok, wake_system);
      if (got == grpc::CompletionQueue::SHUTDOWN) break;
      if (got == grpc::CompletionQueue::GOT_EVENT) {
        Call* call = static_cast<Call*>(tag);
        finish(call);
        idle.push_back(call);
      } else if (!stopped && Clock::now() >= budget->end) {
        stopped = true;
      }
    }
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
    budget->clients_running.fetch_sub(1);
    return;
  }
  for (auto& call : calls) {
    call = std::make_unique<Call>();
    if (!budget->Take()) break;
    start_call(call.get());
    ++in_flight;
  }
  while (in_flight > 0 && cq.Next(&tag, &ok)) {
    Call* call = static_cast<Call*>(tag);
    finish(call);
    if (budget->Take()) {
      start_call(call);
      ++in_flight;
    }
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  budget->clients_running.fetch_sub(1);
}

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(q * sorted.size()));
  return sorted[i];
}

// What one load run measured.
struct RunResult {
  std::vector<double> latencies_ms;  // sorted
  int64_t errors = 0;
  std::string first_error;
  double elapsed_s = 0;
};

// Returns the result of keeping `concurrency` calls in flight over the first
// `threads` of `channels` (one client thread and completion queue each) for
// `duration_s` seconds or `requests` calls (0 = by duration). With
// `show_progress`, a progress line of calls or seconds on stderr.
// REQUIRES 1 <= threads <= min(channels.size(), concurrency).
RunResult RunLoad(const LoadSpec& spec, const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                  int32_t threads, int32_t concurrency, double duration_s, int64_t requests,
                  bool show_progress) {
  Budget budget;
  budget.limit = requests;
  const auto start = Clock::now();
  budget.end = start + std::chrono::microseconds(static_cast<int64_t>(duration_s * 1e6));
  std::vector<ThreadResult> results(threads);
  std::vector<std::thread> workers;
  budget.clients_running = threads;
  for (int32_t t = 0; t < threads; ++t) {
    const int32_t slots = concurrency / threads + (t < concurrency % threads ? 1 : 0);
    workers.emplace_back(RunClient, std::cref(spec), channels[t], slots,
                         0x9e3779b97f4a7c15ull * (t + 1), &budget, &results[t]);
  }
  // Progress: calls finished of --requests, or seconds of --duration_s.
  if (show_progress) {
    const int64_t seconds = static_cast<int64_t>(std::ceil(duration_s));
    ProgressReporter progress(requests > 0 ? "loadtest calls" : "loadtest seconds",
                              requests > 0 ? requests : seconds);
    auto counts = [&] {
      return absl::StrCat(budget.finished.load(), " calls, ", budget.errors.load(), " errors");
    };
    while (budget.clients_running.load() > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      const int64_t elapsed_s =
          std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - start).count();
      progress.Update(requests > 0 ? budget.finished.load() : std::min(seconds, elapsed_s),
                      counts());
    }
    progress.Finish(counts());
  }
  for (std::thread& w : workers) w.join();
  RunResult run;
  run.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
  for (ThreadResult& r : results) {
    run.latencies_ms.insert(run.latencies_ms.end(), r.latencies_ms.begin(), r.latencies_ms.end());
    run.errors += r.errors;
    if (run.first_error.empty()) run.first_error = r.first_error;
  }
  std::sort(run.latencies_ms.begin(), run.latencies_ms.end());
  return run;
}

// Returns the figures of `run` as a ramp step: calls completed, errors, QPS
// (completed calls per second of the run) and latency percentiles.
RampStep StepFigures(const RunResult& run) {
  RampStep step;
  step.requests = static_cast<int64_t>(run.latencies_ms.size());
  step.errors = run.errors;
  step.qps = run.elapsed_s > 0 ? step.requests / run.elapsed_s : 0;
  step.p50_ms = Percentile(run.latencies_ms, 0.50);
  step.p95_ms = Percentile(run.latencies_ms, 0.95);
  step.p99_ms = Percentile(run.latencies_ms, 0.99);
  return step;
}

// Fills the throughput and latency fields of `report` from `run`.
void FillFigures(const RunResult& run, LoadTestReport* report) {
  const RampStep figures = StepFigures(run);
  report->set_requests(figures.requests);
  report->set_errors(figures.errors);
  report->set_first_error(run.first_error);
  report->set_qps(figures.qps);
  report->set_p50_ms(figures.p50_ms);
  report->set_p95_ms(figures.p95_ms);
  report->set_p99_ms(figures.p99_ms);
  report->set_max_ms(run.latencies_ms.empty() ? 0 : run.latencies_ms.back());
  report->set_duration_s(run.elapsed_s);
}

// The capacity ramp's flags, checked.
struct RampFlags {
  RampOptions ramp;
  double step_duration_s = 5;
  double target_qps = 0;  // 0 = no plan
  double headroom = 0.2;
  int32_t server_cores = 1;
  std::string curve_out;
  std::string plot;
};

// Returns OK when the folder `path` would be written in exists, else
// INVALID_ARGUMENT naming `flag` (checked before a ramp that lasts minutes).
absl::Status CheckOutputPath(const char* flag, const std::string& path) {
  if (path.empty()) return absl::OkStatus();
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": no such directory ", Quote(dir.string())));
  }
  return absl::OkStatus();
}

// Returns the ramp's flags (`ramp` = --slo_p99_ms was given), or
// INVALID_ARGUMENT naming the flag and its bound; without a ramp, refuses the
// ramp's own flags, and with one the single run's.
absl::StatusOr<RampFlags> RampFlagsFromFlags(bool ramp) {
  static const char* const kRampOnly[] = {"target_qps",     "curve_out",      "plot",
                                          "step_duration_s", "max_concurrency", "max_error_rate",
                                          "server_cores",    "headroom"};
  if (!ramp) {
    for (const char* name : kRampOnly) {
      if (FlagGiven(name)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", name, " needs --slo_p99_ms (the capacity ramp)"));
      }
    }
    return RampFlags{};
  }
  static const struct {
    const char* name;
    const char* why;
  } kSingleRunOnly[] = {
      {"concurrency", "the ramp sets the concurrency (bound it with --max_concurrency)"},
      {"qps", "the ramp runs closed loop"},
      {"duration_s", "each step lasts --step_duration_s"},
      {"requests", "each step lasts --step_duration_s"},
  };
  for (const auto& f : kSingleRunOnly) {
    if (FlagGiven(f.name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", f.name, " does not apply with --slo_p99_ms: ", f.why));
    }
  }
  RampFlags flags;
  flags.ramp.slo_p99_ms = absl::GetFlag(FLAGS_slo_p99_ms);
  if (!(flags.ramp.slo_p99_ms > 0 && flags.ramp.slo_p99_ms <= 10000)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--slo_p99_ms must be a finite number of milliseconds in (0, 10000] (calls time out "
        "at 10 s), got ", flags.ramp.slo_p99_ms));
  }
  if (FlagGiven("target_qps")) {
    flags.target_qps = absl::GetFlag(FLAGS_target_qps);
    if (!(flags.target_qps > 0 && flags.target_qps <= 1e9)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--target_qps must be a finite number in (0, 1e9], got ", flags.target_qps));
    }
  }
  flags.headroom = absl::GetFlag(FLAGS_headroom);
  if (FlagGiven("headroom") && !FlagGiven("target_qps")) {
    return absl::InvalidArgumentError("--headroom needs --target_qps");
  }
  if (!(flags.headroom >= 0 && flags.headroom < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--headroom must be in [0, 1), got ", flags.headroom));
  }
  flags.step_duration_s = absl::GetFlag(FLAGS_step_duration_s);
  if (!(flags.step_duration_s > 0 && flags.step_duration_s <= 600)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--step_duration_s must be in (0, 600], got ", flags.step_duration_s));
  }
  flags.ramp.max_concurrency = absl::GetFlag(FLAGS_max_concurrency);
  if (flags.ramp.max_concurrency < 1 || flags.ramp.max_concurrency > 10000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_concurrency must be in [1, 10000], got ", flags.ramp.max_concurrency));
  }
  flags.ramp.max_error_rate = absl::GetFlag(FLAGS_max_error_rate);
  if (!(flags.ramp.max_error_rate >= 0 && flags.ramp.max_error_rate <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_error_rate must be in [0, 1], got ", flags.ramp.max_error_rate));
  }
  flags.server_cores = absl::GetFlag(FLAGS_server_cores);
  if (flags.server_cores < 1 || flags.server_cores > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("--server_cores must be in [1, 4096], got ", flags.server_cores));
  }
  flags.curve_out = absl::GetFlag(FLAGS_curve_out);
  flags.plot = absl::GetFlag(FLAGS_plot);
  RETURN_IF_ERROR(CheckOutputPath("curve_out", flags.curve_out));
  RETURN_IF_ERROR(CheckOutputPath("plot", flags.plot));
  return flags;
}

// Runs the capacity ramp against `channels`, writes --curve_out and --plot,
// and prints the report; FAILED_PRECONDITION (after printing) when no step met
// the objective.
absl::Status RunRamp(const LoadSpec& spec, const std::string& target,
                     const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                     const RampFlags& flags) {
  CapacityRamp ramp(flags.ramp);
  const int32_t max_steps = CapacityRamp::MaxSteps(flags.ramp);
  std::fprintf(stderr,
               "loadtest ramp: objective p99 <= %g ms, concurrency 1, 2, 4, .. up to %d, at most "
               "%d steps of %g s\n",
               flags.ramp.slo_p99_ms, flags.ramp.max_concurrency, max_steps,
               flags.step_duration_s);
  const auto start = Clock::now();
  LoadTestReport report;
  std::vector<RunResult> runs;  // by concurrency, for the figures of the best step
  std::vector<int32_t> run_concurrency;
  int64_t total_requests = 0, total_errors = 0;
  std::string first_error;
  int32_t step_number = 0;
  while (const int32_t concurrency = ramp.NextConcurrency()) {
    const int32_t threads = std::min<int32_t>(static_cast<int32_t>(channels.size()), concurrency);
    RunResult run = RunLoad(spec, channels, threads, concurrency, flags.step_duration_s,
                            /*requests=*/0, /*show_progress=*/false);
    RampStep step = StepFigures(run);
    ramp.Record(step);
    const bool met = MeetsObjective(step, flags.ramp);
    std::fprintf(stderr,
                 "loadtest ramp step %d (at most %d): concurrency %d: %.0f qps, p50 %.2f ms, "
                 "p99 %.2f ms, %lld errors: %s\n",
                 ++step_number, max_steps, concurrency, step.qps, step.p50_ms, step.p99_ms,
                 static_cast<long long>(step.errors), met ? "meets the objective" : "misses it");
    total_requests += step.requests;
    total_errors += step.errors;
    if (first_error.empty()) first_error = run.first_error;
    run_concurrency.push_back(concurrency);
    runs.push_back(std::move(run));
  }
  const std::vector<RampStep> curve = ramp.Curve();
  const CapacityPlan plan =
      PlanCapacity(curve, flags.server_cores, flags.target_qps, flags.headroom);

  report.set_rpc(spec.rpc);
  report.set_target(target);
  for (size_t i = 0; i < runs.size(); ++i) {
    if (plan.concurrency_at_max > 0 && run_concurrency[i] == plan.concurrency_at_max) {
      FillFigures(runs[i], &report);
      report.set_concurrency(plan.concurrency_at_max);
    }
  }
  report.set_requests(total_requests);
  report.set_errors(total_errors);
  report.set_first_error(first_error);
  report.set_duration_s(std::chrono::duration<double>(Clock::now() - start).count());
  report.set_slo_p99_ms(flags.ramp.slo_p99_ms);
  report.set_max_qps_within_slo(plan.max_qps_within_slo);
  report.set_concurrency_at_max(plan.concurrency_at_max);
  report.set_server_cores(flags.server_cores);
  report.set_qps_per_core(plan.qps_per_core);
  for (const RampStep& s : curve) {
    LoadTestStep* step = report.add_steps();
    step->set_concurrency(s.concurrency);
    step->set_qps(s.qps);
    step->set_p50_ms(s.p50_ms);
    step->set_p95_ms(s.p95_ms);
    step->set_p99_ms(s.p99_ms);
    step->set_requests(s.requests);
    step->set_errors(s.errors);
    step->set_within_slo(s.within_slo);
  }
  report.set_stop_reason(ramp.stop_reason());
  report.set_planned_qps(flags.target_qps);
  report.set_replicas_needed(plan.replicas_needed);
  if (flags.target_qps > 0) report.set_headroom(flags.headroom);
  report.set_replicas_with_headroom(plan.replicas_with_headroom);

  if (!flags.curve_out.empty()) {
    RETURN_IF_ERROR(WriteFileAtomically(flags.curve_out, CapacityCurveCsv(curve)));
  }
  if (!flags.plot.empty()) {
    const std::string subtitle =
        absl::StrCat(target, ", rpc ", spec.rpc, "; ", curve.size(), " steps of ",
                     flags.step_duration_s, " s, closed loop at rising concurrency");
    RETURN_IF_ERROR(WriteFileAtomically(
        flags.plot, CapacityCurveSvg(curve, flags.ramp.slo_p99_ms, subtitle)));
  }
  std::fprintf(stderr, "loadtest ramp: %s; max %.0f qps within p99 <= %g ms (concurrency %d)",
               ramp.stop_reason().c_str(), plan.max_qps_within_slo, flags.ramp.slo_p99_ms,
               plan.concurrency_at_max);
  if (plan.replicas_needed > 0) {
    std::fprintf(stderr, "; %.0f qps needs %lld replicas, %lld with %g%% headroom",
                 flags.target_qps, static_cast<long long>(plan.replicas_needed),
                 static_cast<long long>(plan.replicas_with_headroom), flags.headroom * 100);
  }
  std::fprintf(stderr, "\n");
  PrintJsonLine(ToJson(report));
  if (plan.concurrency_at_max == 0) {
    double best_p99 = 0;
    int32_t best_at = 0;
    for (const RampStep& s : curve) {
      if (s.requests > 0 && (best_at == 0 || s.p99_ms < best_p99)) {
        best_p99 = s.p99_ms;
        best_at = s.concurrency;
      }
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "no step met the objective (p99 <= ", flags.ramp.slo_p99_ms, " ms, error rate <= ",
        flags.ramp.max_error_rate, "): ",
        best_at > 0 ? absl::StrFormat("lowest p99 %.4g ms at concurrency %d", best_p99, best_at)
                    : std::string("no call completed"),
        "; the ramp ended on ", ramp.stop_reason(),
        first_error.empty() ? "" : absl::StrCat("; first error: ", first_error),
        "; the JSON report on stdout carries the curve"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunLoadtest(const CommandArgs& args) {
  if (!args.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("loadtest takes no arguments, got '", args[0],
                                                   "'"));
  }
  std::string target = absl::GetFlag(FLAGS_target);
  if (target == "uniform") target = "127.0.0.1:50051";  // the flag's ope default: unset here
  if (target.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("--target must be host:port, got ", Quote(target)));
  }
  LoadSpec spec;
  spec.rpc = absl::GetFlag(FLAGS_rpc);
  if (spec.rpc != "recommend" && spec.rpc != "decide" && spec.rpc != "mixed") {
    return absl::InvalidArgumentError(
        absl::StrCat("--rpc must be recommend, decide or mixed, got ", Quote(spec.rpc)));
  }
  const bool ramp = FlagGiven("slo_p99_ms");
  ASSIGN_OR_RETURN(const RampFlags ramp_flags, RampFlagsFromFlags(ramp));
  const int32_t concurrency = absl::GetFlag(FLAGS_concurrency);
  if (concurrency < 1 || concurrency > 10000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--concurrency must be in [1, 10000], got ", concurrency));
  }
  const double qps = absl::GetFlag(FLAGS_qps);
  if (!(qps >= 0 && qps <= 1e6)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--qps must be in [0, 1e6] (0 = closed loop), got ", qps));
  }
  const int32_t threads = absl::GetFlag(FLAGS_client_threads);
  if (threads < 1 || threads > 64 || (!ramp && threads > concurrency)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--client_threads must be in [1, min(64, --concurrency)], got ", threads));
  }
  spec.qps = qps / threads;
  const double duration_s = absl::GetFlag(FLAGS_duration_s);
  const int64_t requests = absl::GetFlag(FLAGS_requests);
  if (!(duration_s > 0) || requests < 0) {
    return absl::InvalidArgumentError("--duration_s must be > 0 and --requests >= 0");
  }
  spec.users = absl::GetFlag(FLAGS_users);
  spec.user_prefix = absl::GetFlag(FLAGS_user_prefix);
  spec.k = absl::GetFlag(FLAGS_k);
  spec.actions = absl::GetFlag(FLAGS_actions);
  spec.ef_search = absl::GetFlag(FLAGS_ef_search);
  if (spec.users < 1) return absl::InvalidArgumentError("--users must be >= 1");
  if (spec.actions < 1 || spec.actions > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("--actions must be in [1, 1024], got ", spec.actions));
  }
  spec.experiment = absl::GetFlag(FLAGS_experiment);
  if (spec.experiment.empty()) spec.experiment = "demo_layout";
  spec.deployment = absl::GetFlag(FLAGS_deployment);
  // With --rpc=recommend, an explicit --experiment makes every Recommend
  // explore through it (exploration_weight 0: the model's order, logged).
  if (spec.rpc == "recommend" && FlagGiven("experiment")) spec.explore = spec.experiment;
  ASSIGN_OR_RETURN(spec.auth_token, AuthTokenFromFlag());
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  const std::string ca = absl::GetFlag(FLAGS_tls_cert);
  if (!ca.empty()) {
    grpc::SslCredentialsOptions ssl;
    ASSIGN_OR_RETURN(ssl.pem_root_certs, ReadFileToString(ca));
    credentials = grpc::SslCredentials(ssl);
  }

  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int32_t t = 0; t < threads; ++t) {
    grpc::ChannelArguments channel_args;
    channel_args.SetInt("recbandit.loadtest.channel", t);  // one connection per thread
    channels.push_back(grpc::CreateCustomChannel(target, credentials, channel_args));
  }
  if (!channels[0]->WaitForConnected(std::chrono::system_clock::now() +
                                     std::chrono::seconds(10))) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", target));
  }
  if (spec.rpc != "recommend") {
    // Send contexts of the experiment's size.
    auto stub = Experiments::NewStub(channels[0]);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!spec.auth_token.empty()) ctx.AddMetadata("authorization", "Bearer " + spec.auth_token);
    GetExperimentRequest request;
    request.set_name(spec.experiment);
    ExperimentConfig config;
    grpc::Status s = stub->GetExperiment(&ctx, request, &config);
    if (!s.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                          absl::StrCat("GetExperiment ", Quote(spec.experiment), " on ", target, ": ",
                                       s.error_message()));
    }
    spec.context_dim = config.context_dim();
  }
  if (ramp) return RunRamp(spec, target, channels, ramp_flags);

  const RunResult run =
      RunLoad(spec, channels, threads, concurrency, duration_s, requests, /*show_progress=*/true);
  LoadTestReport report;
  FillFigures(run, &report);
  report.set_rpc(spec.rpc);
  report.set_target(target);
  report.set_concurrency(concurrency);
  report.set_target_qps(qps);
  std::fprintf(stderr, "loadtest: %lld %s calls in %.2f s: %.0f qps, p50 %.2f ms, p99 %.2f ms, "
               "%lld errors\n", static_cast<long long>(report.requests()), spec.rpc.c_str(),
               run.elapsed_s, report.qps(), report.p50_ms(), report.p99_ms(),
               static_cast<long long>(report.errors()));
  PrintJsonLine(ToJson(report));
  return absl::OkStatus();
}

}  // namespace recbandit::services
