// EvaluatePolicyOnLog: target resolution (uniform, shadow, snapshot, spec),
// reading the log, the estimators.
#include "bandits/ope/policy_evaluation.h"

#include <algorithm>
#include <memory>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bandits/features.h"
#include "bandits/ope/logged_data.h"
#include "bandits/ope/ope.h"
#include "bandits/ope/ope_input.h"
#include "bandits/policy.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"

namespace recbandit::bandits {
namespace {

constexpr int32_t kMaxBootstrap = 10000;

}  // namespace

absl::StatusOr<std::unique_ptr<Policy>> SnapshotPolicy(const EventLog& log,
                                                       const ExperimentConfig& config,
                                                       const std::string& variant,
                                                       const PolicyOptions& options,
                                                       std::string* description) {
  ASSIGN_OR_RETURN(std::optional<PolicySnapshot> snap,
                   log.LatestSnapshot(config.name(), variant));
  if (!snap.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no policy snapshot of variant ", Quote(variant), " in experiment '", config.name(),
        "' yet (one is written every snapshot_every_rewards learned rewards and at shutdown)"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Policy> policy, CreatePolicy(snap->policy_spec(), options));
  PolicyState state;
  if (!state.ParseFromString(snap->state())) {
    return absl::DataLossError(absl::StrCat("snapshot of variant ", Quote(variant), " version ",
                                            snap->version(), " does not parse"));
  }
  RETURN_IF_ERROR(policy->Restore(state));
  *description = absl::StrFormat(
      "target: snapshot of variant '%s' (%s) at version %d, evaluated statically (it does "
      "not keep learning over the log)",
      variant, snap->policy_spec(), snap->version());
  return policy;
}

absl::StatusOr<OpeReport> EvaluatePolicyOnLog(const EventLog& log,
                                              const EvaluatePolicyRequest& request) {
  if (request.experiment().empty()) return absl::InvalidArgumentError("experiment is required");
  ASSIGN_OR_RETURN(ExperimentConfig config, log.GetExperiment(request.experiment()));
  if (request.target().empty()) {
    return absl::InvalidArgumentError(
        "target is required (uniform, shadow:<spec>, snapshot[:<variant>] or a policy spec)");
  }
  if (request.bootstrap() < 0 || request.bootstrap() > kMaxBootstrap) {
    return absl::InvalidArgumentError(absl::StrCat("bootstrap must be in [0, ", kMaxBootstrap,
                                                   "], got ", request.bootstrap()));
  }
  if (!(request.clip() == 0 || request.clip() >= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("clip must be 0 (off) or >= 1, got ", request.clip()));
  }
  if (request.start_time_us() < 0 || request.end_time_us() < 0 ||
      (request.end_time_us() > 0 && request.end_time_us() <= request.start_time_us())) {
    return absl::InvalidArgumentError(
        absl::StrCat("time range [", request.start_time_us(), ", ", request.end_time_us(),
                     ") is empty or negative"));
  }
  OpeOptions options;
  if (request.estimators_size() > 0) {
    options.estimators.assign(request.estimators().begin(), request.estimators().end());
  }
  const std::vector<std::string>& known = KnownEstimators();
  for (const std::string& name : options.estimators) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown estimator ", Quote(name)));
    }
  }
  options.clip = request.clip();
  options.bootstrap = request.bootstrap();
  options.seed = request.seed();

  ExportReadOptions read;
  read.default_reward = config.default_reward();
  read.full = true;
  read.reward_features = NeedsRewardModel(options.estimators);
  read.target.space = FeatureSpaceFromConfig(config);
  std::vector<std::string> warnings;
  std::unique_ptr<Policy> policy;
  const std::string& target = request.target();
  if (target == "uniform") {
    read.target.kind = ExportTarget::Kind::kUniform;
  } else if (absl::StartsWith(target, "shadow:") && target.size() > 7) {
    SetShadowTarget(target.substr(7), &read.target);
  } else {
    PolicyOptions policy_options;
    policy_options.context_dim = ContextLength(read.target.space);
    policy_options.exploration_floor = config.exploration_floor();
    std::string description;
    if (target == "snapshot" || absl::StartsWith(target, "snapshot:")) {
      std::string variant = target.size() > 9 ? target.substr(9) : config.variants(0).name();
      bool known = false;
      for (const Variant& v : config.variants()) known |= v.name() == variant;
      if (!known) {
        return absl::NotFoundError(absl::StrCat("experiment '", config.name(),
                                                "' has no variant ", Quote(variant)));
      }
      ASSIGN_OR_RETURN(policy,
                       SnapshotPolicy(log, config, variant, policy_options, &description));
    } else {
      absl::StatusOr<std::unique_ptr<Policy>> fresh = CreatePolicy(target, policy_options);
      if (!fresh.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "target ", Quote(target), " is not uniform, shadow:<spec>, snapshot[:<variant>] or a "
            "valid policy spec: ", fresh.status().message()));
      }
      policy = *std::move(fresh);
      description = absl::StrCat("target: a fresh (untrained) ", policy->spec(),
                                 " policy, evaluated statically");
    }
    warnings.push_back(description);
    read.target.kind = ExportTarget::Kind::kPolicy;
    read.target.policy = policy.get();
  }

  LogReadOptions range;
  range.start_time_us = request.start_time_us();
  range.end_time_us = request.end_time_us();
  ASSIGN_OR_RETURN(LoggedData data, ReadLoggedData(log, config.name(), range));
  if (data.decisions.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "experiment ", Quote(config.name()), " has no logged decisions in the time range"));
  }
  const std::string source = absl::StrCat("event log (experiment ", config.name(), ")");
  ASSIGN_OR_RETURN(ExportRounds rounds, RoundsFromLoggedData(data, read, source));
  if (rounds.missing_rewards > 0) {
    warnings.push_back(absl::StrFormat(
        "%d of %d decisions had no reward; they count as the default reward %g",
        rounds.missing_rewards, rounds.rounds.size(), read.default_reward));
  }
  ASSIGN_OR_RETURN(OpeReport report, Evaluate(rounds.rounds, options));
  report.set_target(target);
  report.set_input(source);
  report.set_input_kind("rocksdb");
  for (const std::string& w : warnings) report.add_warnings(w);
  return report;
}

}  // namespace recbandit::bandits
