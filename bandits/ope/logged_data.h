// Logged bandit decisions as offline evaluation (OPE) and replay consume them:
// read from the RocksDB event log, or from a `recbandit export` file (CSV or
// JSONL, bandits/log/log_format.md). One LoggedDecision per decision, time order.
#ifndef RECBANDIT_BANDITS_OPE_LOGGED_DATA_H_
#define RECBANDIT_BANDITS_OPE_LOGGED_DATA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/common.pb.h"
#include "proto/events.pb.h"

namespace recbandit::bandits {

class EventLog;

// What a shadow policy logged for one decision.
struct LoggedShadow {
  std::string policy_spec;   // e.g. "linucb:alpha=1"
  std::vector<double> pmf;   // same order as LoggedDecision::actions
};

// One logged decision with its joined reward. Plain data; thread-compatible.
struct LoggedDecision {
  std::string event_id;
  std::string experiment;
  std::string variant;
  std::string unit_id;
  int64_t timestamp_us = 0;     // decision time, microseconds since the epoch
  // As used: as received (dense + sparse namespaces), then the stored user
  // attributes in the namespace "user" (DecisionEvent.context).
  Context context;
  // Offered actions in offered order. From a CSV export only `id` is set (CSV
  // carries no action features); JSONL and the log keep the features.
  std::vector<Action> actions;
  std::vector<double> pmf;      // logging pmf, action order, sums to 1
  int32_t chosen = -1;          // index into actions
  double propensity = 0;        // pmf[chosen], > 0
  bool has_reward = false;      // false: no (non-late) reward arrived
  double reward = 0;            // aggregated reward when has_reward
  std::string policy_spec;      // logging policy
  int64_t policy_version = 0;   // rewards it had learned from when deciding
  std::vector<LoggedShadow> shadows;  // experiment config order

  // Returns the reward, or `default_reward` when none arrived.
  double RewardOr(double default_reward) const {
    return has_reward ? reward : default_reward;
  }
};

// A whole logged data set.
struct LoggedData {
  std::vector<LoggedDecision> decisions;   // time order
  // Reward of decisions without one: the experiment's default_reward when read
  // from the event log; 0 for exported files (which do not carry it).
  double default_reward = 0;
  // Set when read from the event log (empty name otherwise).
  ExperimentConfig config;
  // Records skipped because their stored bytes did not parse (log only, with
  // skip_corrupt).
  int64_t skipped_corrupt = 0;
};

struct LogReadOptions {
  int64_t start_time_us = 0;   // only decisions at or after; 0 = from the start
  int64_t end_time_us = 0;     // only decisions before; 0 = no end
  bool skip_corrupt = false;   // false: a corrupt record fails with DATA_LOSS
};

// Returns the decisions of `experiment` in the event log under `data_dir`
// (`<data_dir>/events`), with rewards joined. Opens the log as a secondary
// instance, so a server may be writing it at the same time. NOT_FOUND: no log
// or no such experiment; DATA_LOSS: a corrupt record (unless skip_corrupt).
absl::StatusOr<LoggedData> ReadLoggedDataFromLog(const std::string& data_dir,
                                                 const std::string& experiment,
                                                 const LogReadOptions& options = {});

// Same, from an open log (the server's own, in process).
absl::StatusOr<LoggedData> ReadLoggedData(const EventLog& log, const std::string& experiment,
                                          const LogReadOptions& options = {});

// Returns the decisions of an exported file: CSV when the first line is the
// CSV header of bandits/log/log_format.md, JSONL otherwise. INVALID_ARGUMENT naming
// the file, line and field for malformed content.
absl::StatusOr<LoggedData> ReadLoggedDataFromFile(const std::string& path);

// Appends to `context` the namespaces of an exported CSV's context_sparse
// field (`namespace|name=value` items, `;`-separated, list escapes undone;
// consecutive items of one namespace share it). INVALID_ARGUMENT naming the
// malformed item.
absl::Status ParseContextSparse(absl::string_view field, Context* context);

// Converts a stored decision and its reward record (nullptr = none) into a
// LoggedDecision.
LoggedDecision ToLoggedDecision(const DecisionEvent& event, const RewardRecord* rewards);

}  // namespace recbandit::bandits

#endif  // RECBANDIT_BANDITS_OPE_LOGGED_DATA_H_
