// Slate OPE of a deployment's logged traffic: reading its served slates and
// clicks, recomputing the target's slates, and EvaluateSlates.
#include "services/serving/slate_evaluation.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proto/core/file_util.h"
#include "proto/core/names.h"
#include "proto/core/status_macros.h"
#include "services/serving/deployments.h"
#include "services/serving/model_store.h"
#include "services/serving/serving_model.h"

namespace recbandit::services {
namespace {

// One served slate as the evaluation needs it.
struct Served {
  DecisionEvent event;
  std::vector<std::string> slate;  // logged items in display order
};

// The target of an evaluation: a model's ranking or a shadow's slates.
struct Target {
  std::shared_ptr<const ServingModel> model;
  std::string shadow;  // "shadow:<name>" variant, when a shadow
};

absl::StatusOr<Target> ParseTarget(const std::string& target, const ModelLookup& models) {
  Target t;
  if (absl::StartsWith(target, "shadow:")) {
    const std::string name = target.substr(7);
    RETURN_IF_ERROR(ValidateName(name, "target shadow name"));
    t.shadow = target;
    return t;
  }
  if (absl::StartsWith(target, "model:")) {
    ASSIGN_OR_RETURN(ModelRef ref, ParseModelRef(target.substr(6), "target model"));
    ASSIGN_OR_RETURN(t.model, models(ref.name, ref.version));
    return t;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "a deployment's target must be model:<name>[@<version>] or shadow:<name>, got ",
      Quote(target)));
}

}  // namespace

ModelLookup LookupIn(const ModelStore& store) {
  return [&store](const std::string& name,
                  int64_t version) -> absl::StatusOr<std::shared_ptr<const ServingModel>> {
    if (version == 0) return store.Get(name);
    absl::StatusOr<std::shared_ptr<const ServingModel>> loaded = store.GetVersion(name, version);
    if (loaded.ok() || loaded.status().code() != absl::StatusCode::kNotFound) return loaded;
    const std::string dir = store.VersionDir(name, version);
    if (!PathExists(dir)) {
      return absl::NotFoundError(
          absl::StrCat("model ", Quote(name), " has no version ", version));
    }
    return ServingModel::Load(dir, "Exact", name, version);
  };
}

absl::StatusOr<OpeReport> EvaluateDeploymentSlates(const bandits::EventLog& log,
                                                   const EvaluatePolicyRequest& request,
                                                   const ModelLookup& models) {
  RETURN_IF_ERROR(ValidateName(request.deployment(), "deployment"));
  ASSIGN_OR_RETURN(std::vector<DeploymentChange> journal,
                   log.ListDeploymentChanges(request.deployment()));
  if (journal.empty()) {
    return absl::NotFoundError(absl::StrCat("unknown deployment ", Quote(request.deployment())));
  }
  ASSIGN_OR_RETURN(Target target, ParseTarget(request.target(), models));
  bandits::SlateOpeOptions options;
  if (request.estimators_size() > 0) {
    options.estimators.assign(request.estimators().begin(), request.estimators().end());
  } else {
    options.estimators = {"iips", "rips", "sips"};
  }
  if (request.bootstrap() < 0 || request.bootstrap() > 10000) {
    return absl::InvalidArgumentError(
        absl::StrCat("bootstrap must be in [0, 10000], got ", request.bootstrap()));
  }
  options.bootstrap = request.bootstrap();
  options.seed = request.seed();

  // Served slates (and, for a shadow target, the shadow's slates by the
  // event they shadow), in time order.
  std::vector<Served> served;
  absl::flat_hash_map<std::string, std::vector<std::string>> shadow_slates;
  int64_t interleaved = 0, without_user = 0;
  bandits::ScanStats stats;
  RETURN_IF_ERROR(log.ScanDecisions(
      request.deployment(), request.start_time_us(), request.end_time_us(),
      [&](const DecisionEvent& e) -> absl::Status {
        std::vector<std::string> slate;
        for (int32_t index : e.slate_indices()) {
          if (index < 0 || index >= e.actions_size()) {
            return absl::DataLossError(absl::StrCat("event ", Quote(e.event_id()),
                                                    ": slate index outside its candidates"));
          }
          slate.push_back(e.actions(index).id());
        }
        if (absl::StartsWith(e.variant(), "shadow:")) {
          if (e.variant() == target.shadow) shadow_slates[e.shadow_of()] = std::move(slate);
          return absl::OkStatus();
        }
        if (e.interleaving_teams_size() > 0) {
          ++interleaved;
          return absl::OkStatus();
        }
        if (slate.empty()) return absl::OkStatus();
        if (target.model != nullptr && e.user().empty()) {
          ++without_user;
          return absl::OkStatus();
        }
        served.push_back({e, std::move(slate)});
        return absl::OkStatus();
      },
      /*skip_corrupt=*/true, &stats));

  bandits::SlateRounds rounds;
  bool all_deterministic = true, all_uniform = true;
  int64_t whole_slate_rewards = 0, zero_support = 0, unsampled = 0;
  for (const Served& s : served) {
    const DecisionEvent& e = s.event;
    const size_t k = s.slate.size();
    std::vector<std::string> target_slate;
    if (target.model != nullptr) {
      std::vector<std::string> candidates;
      for (const Action& a : e.actions()) candidates.push_back(a.id());
      ASSIGN_OR_RETURN(Recommendation ranked, target.model->RankItems(e.user(), candidates, {}));
      for (size_t j = 0; j < ranked.items.size() && j < k; ++j) {
        target_slate.push_back(ranked.items[j].item);
      }
    } else {
      auto it = shadow_slates.find(e.event_id());
      if (it == shadow_slates.end()) {
        ++unsampled;
        continue;
      }
      target_slate = it->second;
    }
    const absl::flat_hash_set<std::string> in_target(target_slate.begin(), target_slate.end());
    // Per-position clicks.
    std::vector<double> reward(k, 0.0);
    absl::StatusOr<RewardRecord> record = log.GetRewards(e.event_id());
    if (record.ok()) {
      for (const RewardEvent& r : record->rewards()) {
        if (r.late()) continue;
        if (r.position() >= 1 && static_cast<size_t>(r.position()) <= k) {
          reward[r.position() - 1] += r.value();
        } else {
          ++whole_slate_rewards;
        }
      }
    } else if (record.status().code() != absl::StatusCode::kNotFound) {
      return record.status();
    }
    const double epsilon = e.exploration_epsilon();
    // New items mixed in (NewItemExploration): the last new_item_candidates
    // actions; a base item may then sit below its base position.
    const bool mixed = e.new_item_share() > 0 && e.new_item_candidates() > 0;
    const int32_t first_new = e.actions_size() - e.new_item_candidates();
    all_deterministic &= epsilon == 0 && !mixed;
    all_uniform &= epsilon == 1 && e.exploration_pool() > static_cast<int32_t>(k) && !mixed;
    const int32_t pool = epsilon > 0 ? e.exploration_pool() : 0;
    bool no_support = false;
    for (size_t j = 0; j < k; ++j) {
      const bool match = j < target_slate.size() && target_slate[j] == s.slate[j];
      rounds.reward.push_back(reward[j]);
      rounds.logging_conditional.push_back(e.slate_propensities(j));
      rounds.logging_marginal.push_back(e.slate_marginals_size() == static_cast<int>(k)
                                            ? e.slate_marginals(j)
                                            : e.slate_propensities(j));
      rounds.target_conditional.push_back(match ? 1.0 : 0.0);
      rounds.target_marginal.push_back(match ? 1.0 : 0.0);
      rounds.target_item_total.push_back(in_target.count(s.slate[j]) ? 1.0 : 0.0);
      // Could the logger have shown the target's item here at all?
      if (j < target_slate.size()) {
        const std::string& want = target_slate[j];
        bool logger_top = static_cast<int>(j) < e.actions_size() &&
                          e.actions(static_cast<int>(j)).id() == want;
        bool in_pool = false;
        for (int32_t i = 0; i < pool && i < e.actions_size(); ++i) {
          in_pool |= e.actions(i).id() == want;
        }
        bool new_candidate = false;
        if (mixed) {  // any base position up to j, or any new candidate
          for (int32_t i = 0; i < e.actions_size(); ++i) {
            if (e.actions(i).id() != want) continue;
            if (i >= first_new) new_candidate = true;
            if (i <= static_cast<int32_t>(j) && i < first_new) logger_top = true;
          }
        }
        if (!((1 - epsilon) * logger_top + (in_pool ? epsilon / pool : 0) > 0) && !new_candidate) {
          no_support = true;
        }
      }
    }
    zero_support += no_support;
    rounds.offsets.push_back(static_cast<int64_t>(rounds.reward.size()));
    rounds.candidates.push_back(pool);
  }
  if (rounds.size() == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "deployment ", Quote(request.deployment()), " has no served slate to evaluate",
        target.shadow.empty() ? "" : " with a slate of that shadow", " in the time range"));
  }
  rounds.logger = all_deterministic ? bandits::SlateLogger::kProduct
                  : all_uniform     ? bandits::SlateLogger::kUniformWithoutReplacement
                                    : bandits::SlateLogger::kUnknown;
  if (rounds.logger != bandits::SlateLogger::kUniformWithoutReplacement) rounds.candidates.clear();
  for (const std::string& name : options.estimators) {
    if ((name == "pi" || name == "snpi") && rounds.logger == bandits::SlateLogger::kUnknown) {
      return absl::InvalidArgumentError(
          "pi and snpi need slates logged without exploration or with epsilon 1 (uniform); "
          "this deployment's were drawn by an epsilon mixture or mixed with new items: use iips, rips or sips");
    }
  }
  ASSIGN_OR_RETURN(OpeReport report, bandits::EvaluateSlates(rounds, options));
  report.set_target(request.target());
  report.set_input(request.deployment());
  report.set_input_kind("deployment");
  report.set_zero_support_rounds(zero_support);
  report.set_low_support_rounds(zero_support);
  report.set_low_support_share(static_cast<double>(zero_support) / rounds.size());
  if (zero_support > 0) {
    report.add_warnings(absl::StrFormat(
        "the target shows items the logger could never have shown at that position in %d of %d "
        "slates (%.1f%%): the estimates miss their clicks; serve with "
        "pipeline.exploration to judge other versions",
        zero_support, rounds.size(), 100.0 * zero_support / rounds.size()));
  }
  if (whole_slate_rewards > 0) {
    report.add_warnings(absl::StrFormat(
        "%d rewards for a whole slate (no item) were left out: slate estimators use clicks "
        "per position",
        whole_slate_rewards));
  }
  if (interleaved > 0) {
    report.add_warnings(absl::StrFormat("%d interleaved slates were left out", interleaved));
  }
  if (without_user > 0) {
    report.add_warnings(absl::StrFormat(
        "%d slates logged without their user (an older log) were left out", without_user));
  }
  if (unsampled > 0) {
    report.add_warnings(absl::StrFormat(
        "%d served slates without a slate of %s (not sampled) were left out", unsampled,
        target.shadow));
  }
  if (stats.skipped_corrupt > 0) {
    report.add_warnings(
        absl::StrFormat("%d corrupt log records skipped", stats.skipped_corrupt));
  }
  return report;
}

}  // namespace recbandit::services
