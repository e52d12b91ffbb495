// `recbandit monitor`: the drift of a model's or an experiment's logged
// traffic against its stored baseline, read from a service data directory
// (the event log as a secondary instance, so a running server may keep
// writing): the same DriftMonitor the server runs, fed from disk.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "bandits/log/event_log.h"
#include "proto/core/file_util.h"
#include "proto/core/json.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"
#include "services/cli/cli.h"
#include "services/cli/flags.h"
#include "services/serving/serving_model.h"

namespace recbandit::services {
namespace {

// Returns the active version of model `name` under `models` (its ACTIVE
// file, else its highest version). NOT_FOUND when it has none.
absl::StatusOr<int64_t> ActiveVersion(const std::string& models, const std::string& name) {
  auto recorded = ReadFileToString(absl::StrCat(models, "/", name, "/ACTIVE"), 4096);
  int64_t v = 0;
  if (recorded.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*recorded), &v) && v > 0) {
    return v;
  }
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator(absl::StrCat(models, "/", name), ec)) {
    int64_t n;
    if (entry.is_directory() && absl::SimpleAtoi(entry.path().filename().string(), &n)) {
      v = std::max(v, n);
    }
  }
  if (v <= 0) return absl::NotFoundError(absl::StrCat("unknown model ", Quote(name)));
  return v;
}

const char* StateName(DriftState s) {
  switch (s) {
    case DRIFT_STATE_OK: return "ok";
    case DRIFT_STATE_WARN: return "WARN";
    case DRIFT_STATE_ALERT: return "ALERT";
    case DRIFT_STATE_INSUFFICIENT_DATA: return "too little data";
    default: return "?";
  }
}

void PrintTable(const DriftReport& r) {
  std::printf("%s %s%s: %s (source %s, window %lld, PSI warn %g alert %g)\n", r.kind().c_str(),
              r.subject().c_str(),
              r.kind() == "model" ? absl::StrCat(" version ", r.model_version()).c_str() : "",
              StateName(r.state()), r.source().c_str(), static_cast<long long>(r.window()),
              r.psi_warn(), r.psi_alert());
  std::printf("%-26s %9s %9s %10s %8s  %s\n", "feature", "psi", "js", "baseline", "live",
              "state");
  for (const FeatureDrift& f : r.features()) {
    std::printf("%-26s %9.4f %9.4f %10lld %8lld  %s\n", f.feature().c_str(), f.psi(),
                f.js_divergence(), static_cast<long long>(f.baseline_count()),
                static_cast<long long>(f.live_count()), StateName(f.state()));
  }
}

}  // namespace

absl::Status DriftOptionsFromFlags(DriftMonitorOptions* drift) {
  drift->thresholds.warn = absl::GetFlag(FLAGS_drift_psi_warn);
  drift->thresholds.alert = absl::GetFlag(FLAGS_drift_psi_alert);
  RETURN_IF_ERROR(ValidateThresholds(drift->thresholds, "--drift_psi_warn", "--drift_psi_alert"));
  drift->window = absl::GetFlag(FLAGS_drift_window);
  if (drift->window < 100 || drift->window > 1000000) {
    return absl::InvalidArgumentError(
        absl::StrCat("--drift_window must be in [100, 1000000], got ", drift->window));
  }
  drift->baseline_events = absl::GetFlag(FLAGS_drift_baseline_events);
  if (drift->baseline_events < 100 || drift->baseline_events > 1000000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--drift_baseline_events must be in [100, 1000000], got ", drift->baseline_events));
  }
  return absl::OkStatus();
}

absl::Status RunMonitor(const CommandArgs& args) {
  if (!args.empty()) {
    return absl::InvalidArgumentError(
        "usage: recbandit monitor --data_dir= (--model=<name> | --experiment=<name>) [--table]");
  }
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  const std::string model_name = absl::GetFlag(FLAGS_model);
  const std::string experiment = absl::GetFlag(FLAGS_experiment);
  if (data_dir.empty() || model_name.empty() == experiment.empty()) {
    return absl::InvalidArgumentError(
        "--data_dir and one of --model (a model name in the data directory) or --experiment "
        "are required");
  }
  DriftMonitorOptions options;
  RETURN_IF_ERROR(DriftOptionsFromFlags(&options));
  options.data_dir = data_dir;
  options.persist = false;  // reads the stored baselines, never writes the server's files
  options.source = "log";
  bandits::EventLogOptions log_options;
  log_options.mode = bandits::EventLogOptions::Mode::kSecondary;
  ASSIGN_OR_RETURN(std::unique_ptr<bandits::EventLog> log,
                   bandits::EventLog::Open(data_dir, log_options));
  const bool skip_corrupt = absl::GetFlag(FLAGS_skip_bad_lines);
  GetDriftReportRequest request;
  std::unique_ptr<DriftMonitor> monitor;
  if (!model_name.empty()) {
    RETURN_IF_ERROR(ValidateName(model_name, "--model"));
    const std::string models = data_dir + "/models";
    ASSIGN_OR_RETURN(const int64_t version, ActiveVersion(models, model_name));
    const std::string dir = absl::StrCat(models, "/", model_name, "/", version);
    ASSIGN_OR_RETURN(std::shared_ptr<const ServingModel> model,
                     ServingModel::Load(dir, "Exact", model_name, version));
    ASSIGN_OR_RETURN(monitor, DriftMonitor::Create(options));
    RETURN_IF_ERROR(monitor->CaptureModel(model, dir));
    // The real-time interactions newer than the model, oldest first: the
    // window keeps the last ones.
    const int64_t since_us = model->model().manifest().created_unix_ms() * 1000;
    google::protobuf::RepeatedPtrField<Interaction> recent;
    RETURN_IF_ERROR(log->ScanInteractions(
        "",
        [&](const Interaction& x) {
          if (x.timestamp_us() > since_us) *recent.Add() = x;
          return absl::OkStatus();
        },
        skip_corrupt));
    std::stable_sort(recent.begin(), recent.end(), [](const Interaction& a, const Interaction& b) {
      return a.timestamp_us() < b.timestamp_us();
    });
    monitor->ObserveInteractions(recent);
    request.set_model_name(model_name);
  } else {
    RETURN_IF_ERROR(ValidateName(experiment, "--experiment"));
    RETURN_IF_ERROR(log->GetExperiment(experiment).status());
    ASSIGN_OR_RETURN(monitor, DriftMonitor::Create(options));
    // Every decision in time order, each followed by its rewards: the first
    // --drift_baseline_events make the baseline unless one is stored.
    RETURN_IF_ERROR(log->ScanDecisions(
        experiment, 0, 0,
        [&](const DecisionEvent& d) -> absl::Status {
          monitor->ObserveDecision(experiment, d.context(), d.chosen_action());
          auto rewards = log->GetRewards(d.event_id());
          if (rewards.ok()) {
            for (const RewardEvent& r : rewards->rewards()) {
              monitor->ObserveReward(experiment, r.value());
            }
          }
          return absl::OkStatus();
        },
        skip_corrupt));
    request.set_experiment(experiment);
  }
  ASSIGN_OR_RETURN(DriftReport report, monitor->Report(request));
  if (absl::GetFlag(FLAGS_table)) {
    PrintTable(report);
  } else {
    PrintJsonLine(ToJson(report));
  }
  return absl::OkStatus();
}

}  // namespace recbandit::services
