// The `recbandit` subcommands. Each reads its flags (services/cli/flags.h), writes
// ONE line of JSON on stdout on success and returns a Status otherwise; main()
// turns a non-OK status into a one-line error on stderr and exit code 1.
#ifndef RECBANDIT_SERVICES_CLI_CLI_H_
#define RECBANDIT_SERVICES_CLI_CLI_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "proto/core/progress.h"
#include "proto/reports.pb.h"
#include "ranking/factor_model.h"
#include "ranking/interactions.h"
#include "ranking/training.h"
#include "retrieval/item_index.h"
#include "services/monitoring/drift.h"

namespace grpc {
class Channel;
}  // namespace grpc

namespace recbandit::services {

// `args` are the positional words after the subcommand name.
using CommandArgs = std::vector<std::string>;

absl::Status RunGen(const CommandArgs& args);    // gen interactions
absl::Status RunSplit(const CommandArgs& args);  // split
absl::Status RunServe(const CommandArgs& args);  // serve
absl::Status RunTrain(const CommandArgs& args);     // train
absl::Status RunEvaluate(const CommandArgs& args);  // evaluate
absl::Status RunRecommend(const CommandArgs& args); // recommend
absl::Status RunExport(const CommandArgs& args); // export (event log to CSV/JSONL)
absl::Status RunMonitor(const CommandArgs& args);  // monitor (drift vs baseline)
absl::Status RunLog(const CommandArgs& args);    // log repair (a damaged event log)
absl::Status RunOpe(const CommandArgs& args);    // ope (offline policy evaluation)
absl::Status RunSimulate(const CommandArgs& args);  // simulate (bandit regret curves)
absl::Status RunLoadtest(const CommandArgs& args);  // loadtest (gRPC load generator)
absl::Status RunStream(const CommandArgs& args);    // stream (the shared event stream's records)

absl::Status RunIndex(const CommandArgs& args);    // index (build a model's item index)
absl::Status RunSimilar(const CommandArgs& args);  // similar (item-to-item)
absl::Status RunImport(const CommandArgs& args);   // import (factors trained elsewhere)
// recommend --all_users: batch inference for every user of the model.
absl::Status RunRecommendAllUsers(const std::string& model_dir, const std::string& out_path);
// Returns the model for trained `state` with its manifest filled in (algo,
// params, counts, creation time, code version, optional metrics); `out` names it.
absl::StatusOr<ranking::FactorModel> MakeModel(const ranking::Interactions& data,
                                               const TrainParams& params,
                                               const ranking::FactorState& state,
                                               const std::string& out,
                                               const RankingMetrics* metrics);
// serve --demo: writes a demo model (models/demo/1, ALS + HNSW32) and the
// experiment "demo_layout" into `data_dir` unless they exist.
absl::Status PrepareDemo(const std::string& data_dir);
// `serve --demo`, once serving: simulated traffic through the server's own
// rpcs (the experiment "demo_banner", 800 decisions with rewards, and the
// deployment "demo_home" in canary rollout, 400 served slates with clicks),
// once per data directory (skipped when demo_banner exists).
absl::Status RunDemoTraffic(const std::shared_ptr<grpc::Channel>& channel,
                            const std::string& auth_token);
// Returns the bearer token in --auth_token_file ("" when the flag is empty):
// the file's content without surrounding whitespace, printable ASCII.
absl::StatusOr<std::string> AuthTokenFromFlag();
// Fills `drift` from the --drift_* flags (serve and monitor);
// INVALID_ARGUMENT naming the flag and its bound.
absl::Status DriftOptionsFromFlags(DriftMonitorOptions* drift);
// Returns --ef_search / --nprobe as per-request search parameters.
retrieval::SearchParams SearchParamsFromFlags();

// Writes `json` plus a newline to stdout and flushes.
void PrintJsonLine(const std::string& json);
// Writes a non-empty `warning` plus a newline to stderr ("" prints nothing).
void PrintWarning(const std::string& warning);

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_CLI_CLI_H_
