// `recbandit ope`: offline policy evaluation of a target policy on an Open
// Bandit Dataset CSV (--obd) or an exported log (--input=*.csv|*.jsonl); one
// JSON OpeReport line on stdout, a readable table on stderr.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "bandits/log/event_log.h"
#include "bandits/features.h"
#include "bandits/ope/logged_data.h"
#include "bandits/ope/obd.h"
#include "bandits/ope/ope.h"
#include "bandits/ope/ope_input.h"
#include "bandits/policy.h"
#include "bandits/ope/policy_evaluation.h"
#include "proto/core/json.h"
#include "proto/core/progress.h"
#include "proto/core/names.h"
#include "proto/reports.pb.h"
#include "proto/core/status_macros.h"
#include "services/cli/cli.h"
#include "services/cli/flags.h"
#include "services/serving/model_store.h"
#include "services/serving/slate_evaluation.h"

namespace recbandit::services {
namespace {

using bandits::ExportReadOptions;
using bandits::ExportTarget;
using bandits::LoggedRounds;

absl::StatusOr<LoggedRounds> ObdInput(const std::string& path, const std::string& target,
                                      const std::string& target_pmf,
                                      const std::string& target_pmf_from,
                                      std::vector<std::string>* warnings) {
  ASSIGN_OR_RETURN(bandits::ObdLog log, bandits::ReadObdCsv(path));
  if (log.hash_collisions > 0) {
    warnings->push_back(absl::StrFormat(
        "%d of the log's distinct features share a hashed slot (2^%d slots) with another: "
        "the reward model cannot tell them apart",
        log.hash_collisions, log.hash_bits));
  }
  bandits::PositionPmfs pmfs;
  if (!target_pmf_from.empty()) {
    ASSIGN_OR_RETURN(bandits::ObdLog other, bandits::ReadObdCsv(target_pmf_from));
    const int32_t items = std::max(log.num_items, other.num_items);
    ASSIGN_OR_RETURN(pmfs, bandits::EmpiricalPositionPmfs(other, items, log.num_positions));
  } else if (!target_pmf.empty()) {
    ASSIGN_OR_RETURN(bandits::TargetPmfTable table, bandits::ReadTargetPmfCsv(target_pmf));
    ASSIGN_OR_RETURN(pmfs,
                     bandits::PositionPmfsFromTable(table, log.num_items, log.num_positions));
  } else if (target == "uniform") {
    pmfs = bandits::UniformPositionPmfs(log.num_items, log.num_positions);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown target ", Quote(target), " for --obd (use --target=uniform, "
        "--target_pmf=<csv> or --target_pmf_from=<other OBD csv>)"));
  }
  return bandits::ObdRounds(log, pmfs);
}

// Returns whether `target` is a policy spec of a known family.
bool IsPolicySpec(const std::string& target) {
  absl::StatusOr<bandits::PolicySpec> spec = bandits::ParsePolicySpec(target);
  if (!spec.ok()) return false;
  const auto& families = bandits::PolicyFamilies();
  return std::find(families.begin(), families.end(), spec->family) != families.end();
}

// Rounds whose target pmf comes from a policy: the latest snapshot of a
// variant in the event log (`snapshot[:<variant>]`, default the first
// variant), or a fresh policy built from a spec. Reads whole decisions.
absl::StatusOr<bandits::ExportRounds> PolicyTargetRounds(const std::string& target,
                                                         const std::string& input,
                                                         const std::string& log,
                                                         ExportReadOptions* read,
                                                         std::vector<std::string>* warnings) {
  const bool snapshot = target == "snapshot" || absl::StartsWith(target, "snapshot:");
  bandits::LoggedData data;
  std::string source = input;
  ExperimentConfig config;
  if (!log.empty()) {
    const std::string experiment = absl::GetFlag(FLAGS_experiment);
    if (experiment.empty()) return absl::InvalidArgumentError("--log needs --experiment=<name>");
    ASSIGN_OR_RETURN(data, bandits::ReadLoggedDataFromLog(log, experiment));
    read->default_reward = data.default_reward;
    config = data.config;
    source = absl::StrCat(log, " (experiment ", experiment, ")");
  } else {
    if (snapshot) {
      return absl::InvalidArgumentError(
          "--target=snapshot needs --log=<data_dir> (snapshots live in the event log)");
    }
    if (!absl::EndsWith(input, ".csv") && !absl::EndsWith(input, ".jsonl")) {
      return absl::InvalidArgumentError(
          absl::StrCat("--input must end in .csv or .jsonl, got ", Quote(input)));
    }
    ASSIGN_OR_RETURN(data, bandits::ReadLoggedDataFromFile(input));
    if (data.decisions.empty()) return absl::InvalidArgumentError(input + ": no decisions");
    // Without the experiment config: dense contexts as logged, no sparse slots.
    config.set_context_dim(data.decisions[0].context.dense_size());
    config.set_hash_bits(0);
    for (const bandits::LoggedDecision& d : data.decisions) {
      if (d.context.namespaces_size() > 0) {
        return absl::InvalidArgumentError(
            "this export has sparse context features; evaluate a policy target with "
            "--log=<data_dir> so the experiment's hash_bits are known");
      }
    }
  }
  read->target.space = bandits::FeatureSpaceFromConfig(config);
  RETURN_IF_ERROR(bandits::ValidateFeatureSpace(read->target.space));
  bandits::PolicyOptions policy_options;
  policy_options.context_dim = bandits::ContextLength(read->target.space);
  policy_options.exploration_floor = config.exploration_floor();
  std::unique_ptr<bandits::Policy> policy;
  if (snapshot) {
    std::string variant = target.size() > 9 ? target.substr(9) : "";
    if (variant.empty()) {
      if (config.variants_size() == 0) {
        return absl::FailedPreconditionError("the experiment has no variants");
      }
      variant = config.variants(0).name();
    }
    bandits::EventLogOptions log_options;
    log_options.mode = bandits::EventLogOptions::Mode::kSecondary;
    ASSIGN_OR_RETURN(std::unique_ptr<bandits::EventLog> event_log,
                     bandits::EventLog::Open(log, log_options));
    std::string description;
    ASSIGN_OR_RETURN(policy, bandits::SnapshotPolicy(*event_log, config, variant,
                                                     policy_options, &description));
    warnings->push_back(description);
  } else {
    ASSIGN_OR_RETURN(policy, bandits::CreatePolicy(target, policy_options));
    warnings->push_back(absl::StrCat("target: a fresh (untrained) ", policy->spec(),
                                     " policy, evaluated statically"));
  }
  read->target.policy = policy.get();
  return bandits::RoundsFromLoggedData(data, *read, source);
}

void PrintTable(const OpeReport& report);

// `ope --log=<data_dir> --deployment=<name> --target=model:...|shadow:...`:
// slate OPE of the deployment's served slates (services/serving/
// slate_evaluation.h), the models read from <data_dir>/models.
absl::Status RunDeploymentOpe(const std::string& log, const std::string& target) {
  if (log.empty()) {
    return absl::InvalidArgumentError("--deployment needs --log=<data_dir> (not --input or --obd)");
  }
  if (!absl::GetFlag(FLAGS_experiment).empty()) {
    return absl::InvalidArgumentError("give --experiment or --deployment, not both");
  }
  EvaluatePolicyRequest request;
  request.set_deployment(absl::GetFlag(FLAGS_deployment));
  request.set_target(target);
  // The flag's default names the flat estimators; slates default to their own.
  const std::string estimators = absl::GetFlag(FLAGS_estimators);
  if (estimators != "ips,snips,dm,dr") {
    for (absl::string_view name : absl::StrSplit(estimators, ',', absl::SkipWhitespace())) {
      request.add_estimators(std::string(name));
    }
  }
  request.set_bootstrap(absl::GetFlag(FLAGS_bootstrap));
  request.set_seed(absl::GetFlag(FLAGS_seed));
  bandits::EventLogOptions log_options;
  log_options.mode = bandits::EventLogOptions::Mode::kSecondary;  // a server may be writing
  ASSIGN_OR_RETURN(std::unique_ptr<bandits::EventLog> event_log,
                   bandits::EventLog::Open(log, log_options));
  ASSIGN_OR_RETURN(std::unique_ptr<ModelStore> models,
                   ModelStore::Open(absl::StrCat(log, "/models"), /*keep_versions=*/1000,
                                    /*prune=*/false));
  ASSIGN_OR_RETURN(OpeReport report,
                   EvaluateDeploymentSlates(*event_log, request, LookupIn(*models)));
  report.set_input(absl::StrCat(log, " (deployment ", request.deployment(), ")"));
  PrintTable(report);
  PrintJsonLine(ToJson(report));
  return absl::OkStatus();
}

void PrintTable(const OpeReport& report) {
  std::fprintf(stderr, "ope: target %s on %s (%s), n=%lld, on-policy mean %.6f\n",
               report.target().c_str(), report.input().c_str(), report.input_kind().c_str(),
               static_cast<long long>(report.n()), report.on_policy_mean());
  std::fprintf(stderr, "%-12s %10s %23s %23s %10s %10s\n", "estimator", "value",
               "95% CI (bootstrap)", "95% CI (normal)", "ESS", "max w");
  for (const OpeEstimate& e : report.estimates()) {
    const std::string boot =
        !std::isnan(e.bootstrap_ci_low())
            ? absl::StrFormat("[%.6f, %.6f]", e.bootstrap_ci_low(), e.bootstrap_ci_high())
            : std::string("-");
    std::fprintf(stderr, "%-12s %10.6f %23s %23s %10.1f %10.2f\n", e.estimator().c_str(),
                 e.value(), boot.c_str(),
                 absl::StrFormat("[%.6f, %.6f]", e.normal_ci_low(), e.normal_ci_high()).c_str(),
                 e.ess(), e.max_weight());
  }
  for (const std::string& w : report.warnings()) std::fprintf(stderr, "warning: %s\n", w.c_str());
}

}  // namespace

absl::Status RunOpe(const CommandArgs& args) {
  if (!args.empty()) {
    return absl::InvalidArgumentError(
        "usage: recbandit ope (--obd=<csv> | --input=<export.csv|.jsonl> | --log=<data_dir> "
        "(--experiment=<name> | --deployment=<name>)) [--target=uniform|shadow:<spec>|"
        "model:<name>@<version>] [--target_pmf=<csv>] "
        "[--target_pmf_from=<obd csv>] [--estimators=ips,snips,dm,dr] [--clip=] "
        "[--bootstrap=200] [--seed=1]");
  }
  const std::string obd = absl::GetFlag(FLAGS_obd);
  const std::string input = absl::GetFlag(FLAGS_input);
  const std::string log = absl::GetFlag(FLAGS_log);
  const std::string target = absl::GetFlag(FLAGS_target);
  const std::string target_pmf = absl::GetFlag(FLAGS_target_pmf);
  const std::string target_pmf_from = absl::GetFlag(FLAGS_target_pmf_from);
  if ((!obd.empty()) + (!input.empty()) + (!log.empty()) != 1) {
    return absl::InvalidArgumentError("give exactly one of --obd, --input or --log");
  }
  if (!absl::GetFlag(FLAGS_deployment).empty()) return RunDeploymentOpe(log, target);

  bandits::OpeOptions options;
  options.estimators.clear();
  for (absl::string_view name :
       absl::StrSplit(absl::GetFlag(FLAGS_estimators), ',', absl::SkipWhitespace())) {
    options.estimators.emplace_back(name);
  }
  options.clip = absl::GetFlag(FLAGS_clip);
  options.switch_tau = absl::GetFlag(FLAGS_switch_tau);
  options.bootstrap = absl::GetFlag(FLAGS_bootstrap);
  options.seed = absl::GetFlag(FLAGS_seed);
  options.support_threshold = absl::GetFlag(FLAGS_support_threshold);
  options.reward_model.kind = absl::GetFlag(FLAGS_reward_model);
  options.reward_model.folds = absl::GetFlag(FLAGS_folds);
  bool needs_rows = false;
  for (const std::string& name : options.estimators) {
    needs_rows |= name != "ips" && name != "clipped_ips" && name != "snips";
  }

  OpeReport header;
  LoggedRounds rounds;
  std::vector<std::string> input_warnings;
  std::string target_name = target;
  if (!obd.empty()) {
    if (!target_pmf_from.empty()) target_name = absl::StrCat("pmf_from:", target_pmf_from);
    else if (!target_pmf.empty()) target_name = absl::StrCat("pmf:", target_pmf);
    ASSIGN_OR_RETURN(rounds,
                     ObdInput(obd, target, target_pmf, target_pmf_from, &input_warnings));
    header.set_input(obd);
    header.set_input_kind("obd");
  } else {
    if (!target_pmf_from.empty()) {
      return absl::InvalidArgumentError("--target_pmf_from is for --obd inputs only");
    }
    ExportReadOptions read;
    read.default_reward = absl::GetFlag(FLAGS_default_reward);
    read.full = needs_rows;
    read.reward_features = bandits::NeedsRewardModel(options.estimators);
    bandits::TargetPmfTable table;
    if (!target_pmf.empty()) {
      ASSIGN_OR_RETURN(table, bandits::ReadTargetPmfCsv(target_pmf));
      read.target.kind = ExportTarget::Kind::kTable;
      read.target.table = &table;
      target_name = absl::StrCat("pmf:", target_pmf);
    } else if (target == "uniform") {
      read.target.kind = ExportTarget::Kind::kUniform;
    } else if (absl::StartsWith(target, "shadow:") && target.size() > 7) {
      bandits::SetShadowTarget(target.substr(7), &read.target);
    } else if (target == "snapshot" || absl::StartsWith(target, "snapshot:") ||
               IsPolicySpec(target)) {
      read.target.kind = ExportTarget::Kind::kPolicy;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown target ", Quote(target), " (use uniform, shadow:<spec>, snapshot[:<variant>], "
          "a policy spec such as epsilon_greedy:epsilon=0.1, or --target_pmf=<csv>)"));
    }
    bandits::ExportRounds er;
    if (read.target.kind == ExportTarget::Kind::kPolicy) {
      ASSIGN_OR_RETURN(er, PolicyTargetRounds(target, input, log, &read, &input_warnings));
      header.set_input_kind(!log.empty() ? "rocksdb"
                                         : (absl::EndsWith(input, ".csv") ? "csv" : "jsonl"));
    } else if (!input.empty() && absl::EndsWith(input, ".csv")) {
      ASSIGN_OR_RETURN(er, bandits::ReadExportCsv(input, read));
      header.set_input_kind("csv");
    } else if (!input.empty() && absl::EndsWith(input, ".jsonl")) {
      ASSIGN_OR_RETURN(bandits::LoggedData data, bandits::ReadLoggedDataFromFile(input));
      read.full = true;
      ASSIGN_OR_RETURN(er, bandits::RoundsFromLoggedData(data, read, input));
      header.set_input_kind("jsonl");
    } else if (!input.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--input must end in .csv or .jsonl, got ", Quote(input)));
    } else {
      const std::string experiment = absl::GetFlag(FLAGS_experiment);
      if (experiment.empty()) {
        return absl::InvalidArgumentError("--log needs --experiment=<name>");
      }
      // Opened as a secondary: a running server may keep writing the log.
      ASSIGN_OR_RETURN(bandits::LoggedData data,
                       bandits::ReadLoggedDataFromLog(log, experiment));
      if (data.skipped_corrupt > 0) {
        input_warnings.push_back(absl::StrFormat("%d corrupt log records skipped",
                                                 data.skipped_corrupt));
      }
      // Decisions without a reward get the experiment's default reward.
      read.default_reward = data.default_reward;
      read.full = true;
      ASSIGN_OR_RETURN(er, bandits::RoundsFromLoggedData(
                               data, read, absl::StrCat(log, " (experiment ", experiment, ")")));
      header.set_input_kind("rocksdb");
    }
    header.set_input(input.empty() ? log : input);
    rounds = std::move(er.rounds);
    if (er.missing_rewards > 0) {
      input_warnings.push_back(absl::StrFormat(
          "%d of %d decisions had no reward; they count as --default_reward=%g",
          er.missing_rewards, rounds.size(), read.default_reward));
    }
    if (er.target_renormalized > 0) {
      input_warnings.push_back(absl::StrFormat(
          "--target_pmf put mass on actions not offered in %d decisions; renormalized over "
          "the offered ones",
          er.target_renormalized));
    }
  }

  std::unique_ptr<ProgressReporter> progress;
  options.bootstrap_progress = ReportProgressTo(
      absl::StrCat("ope bootstrap (", options.bootstrap, " resamples) rounds"), &progress);
  ASSIGN_OR_RETURN(OpeReport report, bandits::Evaluate(rounds, options));
  if (progress) progress->Finish();
  report.set_target(target_name);
  report.set_input(header.input());
  report.set_input_kind(header.input_kind());
  for (const std::string& w : input_warnings) report.add_warnings(w);
  PrintTable(report);
  PrintJsonLine(ToJson(report));
  return absl::OkStatus();
}

}  // namespace recbandit::services
