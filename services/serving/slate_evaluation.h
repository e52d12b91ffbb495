// Slate OPE of a deployment's logged traffic (recbandit ope --deployment,
// Experiments.EvaluatePolicy with a deployment): what another model version
// or a shadow would have earned on the slates the deployment served, by the
// slate estimators of bandits/ope/slate_ope.h over the logged per-position
// propensities and clicks.
#ifndef RECBANDIT_SERVICES_SERVING_SLATE_EVALUATION_H_
#define RECBANDIT_SERVICES_SERVING_SLATE_EVALUATION_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "bandits/log/event_log.h"
#include "bandits/ope/slate_ope.h"
#include "proto/experiments.pb.h"
#include "proto/reports.pb.h"

namespace recbandit::services {

class ModelStore;
class ServingModel;

// Returns the model version `version` of `name` (0: the active one).
using ModelLookup = std::function<absl::StatusOr<std::shared_ptr<const ServingModel>>(
    const std::string& name, int64_t version)>;

// The lookup of `store` (which must outlive it): the active or a loaded
// version, else the stored version loaded from its folder for the call.
ModelLookup LookupIn(const ModelStore& store);

// Returns the slate OPE report of `request.target` on the slates
// `request.deployment` served (time range [start_time_us, end_time_us);
// shadow and interleaved slates are not served traffic and are left out).
// Targets: "model:<name>@<version>" or "model:<name>" (that version's, or the
// active version's, ranking of each slate's logged candidates for its user;
// its first K make the target slate, a deterministic policy), or
// "shadow:<name>" (the slate that shadow logged beside each served one;
// served slates it did not sample are left out). Per-position rewards are
// the slate's non-late clicks (RewardSlate with an item); rewards for a
// whole slate are left out with a warning. Estimators: request.estimators
// (default iips, rips, sips), any of bandits::KnownSlateEstimators(); pi
// and snpi only when every slate was logged without exploration (a product
// logger) or with epsilon 1 (uniform). NOT_FOUND: unknown deployment or
// model. INVALID_ARGUMENT: bad target or estimator. FAILED_PRECONDITION: no
// served slate to evaluate.
absl::StatusOr<OpeReport> EvaluateDeploymentSlates(const bandits::EventLog& log,
                                                   const EvaluatePolicyRequest& request,
                                                   const ModelLookup& models);

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_SERVING_SLATE_EVALUATION_H_
