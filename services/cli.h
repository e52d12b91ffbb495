// The `recbandit` subcommands. Each reads its flags (services/flags.h), writes
// ONE line of JSON on stdout on success and returns a Status otherwise; main()
// turns a non-OK status into a one-line error on stderr and exit code 1.
#ifndef RECBANDIT_SERVICES_CLI_H_
#define RECBANDIT_SERVICES_CLI_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

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
absl::Status RunOpe(const CommandArgs& args);    // ope (offline policy evaluation)

// Writes `json` plus a newline to stdout and flushes.
void PrintJsonLine(const std::string& json);

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_CLI_H_
