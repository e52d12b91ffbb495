// Offline evaluation of a target policy on an experiment's own event log, in
// the process that writes it (Experiments.EvaluatePolicy).
#ifndef RECBANDIT_BANDITS_OPE_POLICY_EVALUATION_H_
#define RECBANDIT_BANDITS_OPE_POLICY_EVALUATION_H_

#include "absl/status/statusor.h"
#include <memory>
#include <string>

#include "bandits/log/event_log.h"
#include "bandits/policy.h"
#include "proto/experiments.pb.h"
#include "proto/reports.pb.h"

namespace recbandit::bandits {

// Returns a policy restored from the latest snapshot of `variant` of the
// experiment `config` in `log`, and a one-line description of it for report
// warnings. FAILED_PRECONDITION when the variant has no snapshot yet;
// DATA_LOSS when the stored state does not parse.
absl::StatusOr<std::unique_ptr<Policy>> SnapshotPolicy(const EventLog& log,
                                                       const ExperimentConfig& config,
                                                       const std::string& variant,
                                                       const PolicyOptions& options,
                                                       std::string* description);

// Returns the OPE report of request.target on request.experiment's logged
// decisions in `log` (time range [start_time_us, end_time_us)), rewards
// joined, decisions without one counted as the experiment's default_reward.
// Targets: "uniform"; "shadow:<spec>" (pmfs the shadow logged);
// "snapshot[:<variant>]" (the latest stored state of one variant, default
// the first, evaluated statically on every decision); any policy spec (a
// fresh policy; "replay" lets it learn along the log). NOT_FOUND: unknown
// experiment or variant. INVALID_ARGUMENT: bad target, estimator, clip or
// bootstrap. FAILED_PRECONDITION: no decisions in the range, or no snapshot
// of the variant yet.
absl::StatusOr<OpeReport> EvaluatePolicyOnLog(const EventLog& log,
                                              const EvaluatePolicyRequest& request);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_OPE_POLICY_EVALUATION_H_
