// `recbandit simulate`: runs bandit policies (specs from --policies, built by
// CreatePolicy like the service does) on a simulated environment or an OBD
// replay, writes curves (--out CSV, --plot SVG) and one JSON
// SimulationReport line on stdout.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "bandits/ope/obd.h"
#include "bandits/policy.h"
#include "bandits/sim/simulator.h"
#include "bandits/sim/svg_plot.h"
#include "proto/core/file_util.h"
#include "proto/core/json.h"
#include "proto/core/progress.h"
#include "proto/reports.pb.h"
#include "proto/core/status_macros.h"
#include "services/cli/cli.h"
#include "services/cli/flags.h"

namespace recbandit::services {
namespace {

constexpr char kObdRelative[] = "shared/data/obd/random/men/men.csv";

// Returns --obd, or the uniform-random OBD sample next to the repository
// (<repo>/../shared/...), looked up from the working directory and from the
// binary's location (<repo>/<build dir>/recbandit).
absl::StatusOr<std::string> ReplayPath() {
  std::string path = absl::GetFlag(FLAGS_obd);
  if (!path.empty()) return path;
  std::vector<std::string> candidates = {absl::StrCat("../", kObdRelative),
                                         absl::StrCat("../../", kObdRelative)};
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    std::string dir(exe, n);
    dir = dir.substr(0, dir.rfind('/'));
    candidates.push_back(absl::StrCat(dir, "/../../", kObdRelative));
    candidates.push_back(absl::StrCat(dir, "/../", kObdRelative));
  }
  for (const std::string& c : candidates) {
    if (PathExists(c)) return c;
  }
  return absl::NotFoundError(absl::StrCat(
      "--env=obd_replay: no --obd given and <repo>/../", kObdRelative,
      " not found; pass --obd=<uniform-random OBD csv>"));
}

absl::StatusOr<std::vector<double>> ParseMeans(const std::string& text) {
  std::vector<double> means;
  if (text.empty()) return means;
  int i = 0;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    double v;
    if (!absl::SimpleAtod(part, &v)) {
      return absl::InvalidArgumentError(absl::StrCat("--means item ", i, " '",
                                                     std::string(part), "' is not a number"));
    }
    means.push_back(v);
    ++i;
  }
  return means;
}

}  // namespace

absl::Status RunSimulate(const CommandArgs& args) {
  if (!args.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("simulate takes no positional arguments; got '", args[0], "'"));
  }
  const std::string env_kind = absl::GetFlag(FLAGS_env);
  bandits::SimulationOptions sim;
  sim.horizon = absl::GetFlag(FLAGS_horizon);
  sim.runs = absl::GetFlag(FLAGS_runs);
  sim.seed = absl::GetFlag(FLAGS_seed);
  sim.threads = absl::GetFlag(FLAGS_threads);
  if (sim.threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--threads must be >= 0; got ", sim.threads));
  }
  if (sim.threads == 0) {
    sim.threads = static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
  }
  if (sim.horizon < 1 || sim.horizon > 1000000000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--horizon must be in [1, 1e9]; got ", sim.horizon));
  }
  if (sim.runs < 1 || sim.runs > 100000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--runs must be in [1, 100000]; got ", sim.runs));
  }
  ASSIGN_OR_RETURN(std::vector<std::string> specs,
                   bandits::ParsePolicySpecList(absl::GetFlag(FLAGS_policies)));
  if (specs.empty()) return absl::InvalidArgumentError("--policies is empty");

  std::unique_ptr<bandits::Environment> env;
  bandits::ObdLog log;
  int32_t context_dim = 0;
  if (env_kind == "obd_replay") {
    ASSIGN_OR_RETURN(std::string path, ReplayPath());
    ASSIGN_OR_RETURN(log, bandits::ReadObdCsv(path));
    context_dim = log.feature_dim;
  } else {
    bandits::EnvironmentOptions eo;
    eo.kind = env_kind;
    ASSIGN_OR_RETURN(eo.means, ParseMeans(absl::GetFlag(FLAGS_means)));
    eo.arms = absl::GetFlag(FLAGS_arms);
    eo.gap = absl::GetFlag(FLAGS_gap);
    eo.dim = absl::GetFlag(FLAGS_dim);
    eo.noise_sd = absl::GetFlag(FLAGS_noise_sd);
    eo.change_step = absl::GetFlag(FLAGS_change_step);
    if (eo.change_step == 0) eo.change_step = std::max<int64_t>(1, sim.horizon / 2);
    ASSIGN_OR_RETURN(env, bandits::CreateEnvironment(eo));
    context_dim = env->context_dim();
  }

  // Every policy through CreatePolicy; the Thompson families' pmf (quadrature,
  // or Monte Carlo for lin_ts) is not needed by the simulator, the chosen
  // action is drawn the same way.
  bandits::PolicyOptions po;
  po.context_dim = context_dim;
  po.compute_pmf = false;
  std::vector<std::string> names;
  std::vector<bandits::PolicyFactory> factories;
  for (const std::string& spec : specs) {
    ASSIGN_OR_RETURN(std::unique_ptr<bandits::Policy> probe, bandits::CreatePolicy(spec, po));
    names.push_back(probe->spec());
    factories.push_back([spec, po]() { return bandits::CreatePolicy(spec, po); });
  }

  std::unique_ptr<ProgressReporter> progress;
  sim.progress = ReportProgressTo("simulate runs", &progress);
  bandits::SimulationResult result;
  if (env) {
    ASSIGN_OR_RETURN(result, bandits::Simulate(*env, names, factories, sim));
  } else {
    ASSIGN_OR_RETURN(result, bandits::SimulateReplay(log, names, factories, sim));
  }

  if (progress) progress->Finish();
  const std::string out = absl::GetFlag(FLAGS_out);
  if (!out.empty()) RETURN_IF_ERROR(WriteFileAtomically(out, bandits::CurvesCsv(result)));
  const std::string plot = absl::GetFlag(FLAGS_plot);
  if (!plot.empty()) {
    bandits::PlotOptions plot_options;
    plot_options.log_x = absl::GetFlag(FLAGS_log_x);
    RETURN_IF_ERROR(WriteFileAtomically(plot, bandits::RenderSvg(result, plot_options)));
  }

  SimulationReport report;
  report.set_horizon(result.horizon);
  report.set_runs(result.runs);
  report.set_env(env_kind);
  report.set_environment(result.environment);
  report.set_threads(sim.threads);
  report.set_wall_seconds(result.wall_seconds);
  if (result.lai_robbins_constant > 0) {
    report.set_lai_robbins_final(result.lai_robbins_constant *
                                 std::log(static_cast<double>(result.horizon)));
  }
  int64_t total_steps = 0;
  for (const bandits::PolicyCurve& c : result.curves) {
    PolicyRegret* pr = report.add_policies();
    pr->set_policy(c.policy);
    const bandits::CurvePoint& last = c.points.back();
    if (result.replay) {
      pr->set_final_reward_per_step(last.mean);
      pr->set_reward_ci_low(last.low);
      pr->set_reward_ci_high(last.high);
      pr->set_matched_steps(c.matched_steps);
    } else {
      pr->set_final_regret(last.mean);
      pr->set_ci_low(last.low);
      pr->set_ci_high(last.high);
    }
    if (c.busy_seconds > 0) pr->set_steps_per_second(c.steps / c.busy_seconds);
    total_steps += c.steps;
  }
  if (result.wall_seconds > 0) report.set_steps_per_second(total_steps / result.wall_seconds);
  PrintJsonLine(ToJson(report));
  return absl::OkStatus();
}

}  // namespace recbandit::services
