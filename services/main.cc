// main() of the `recbandit` binary: parses flags and runs one subcommand.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "services/cli.h"

namespace {

constexpr char kUsage[] =
    "recbandit: recommendation and bandit experimentation.\n"
    "usage: recbandit <command> [--flag=value ...]\n"
    "commands:\n"
    "  gen interactions   synthetic interactions with planted structure\n"
    "  split              train/test split of an interactions file\n"
    "  serve              the gRPC service\n"
    "  train              train an ALS or BPR model\n"
    "  evaluate           ranking metrics of a model on a test file\n"
    "  recommend          top K items for a user (or --all_users to a file)\n"
    "  index              build or rebuild a model's item index (FAISS or Exact)\n"
    "  similar            items most similar to an item\n"
    "  export             an experiment's logged decisions as CSV or JSONL\n"
    "  log repair         recover a damaged event log (reports what it drops, keeps a copy)\n"
    "  ope                offline policy evaluation (IPS, SNIPS, DM, DR, ...)\n"
    "  simulate           bandit policies on simulated environments: regret curves\n"
    "  loadtest           drive a running server with Recommend/Decide calls: QPS, latency\n"
    "Run `recbandit --helpfull` for every flag.";

}  // namespace

int main(int argc, char** argv) {
  // Debian's abseil is built with Mutex deadlock detection on: every lock
  // then goes through one global graph lock, which serialises the server's
  // threads and halves the simulator's throughput. Tests keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2) {
    std::fprintf(stderr, "%s\n", kUsage);
    return 2;
  }
  const std::string command = positional[1];
  recbandit::services::CommandArgs args(positional.begin() + 2, positional.end());
  absl::Status status;
  if (command == "gen") {
    status = recbandit::services::RunGen(args);
  } else if (command == "split") {
    status = recbandit::services::RunSplit(args);
  } else if (command == "serve") {
    status = recbandit::services::RunServe(args);
  } else if (command == "train") {
    status = recbandit::services::RunTrain(args);
  } else if (command == "evaluate") {
    status = recbandit::services::RunEvaluate(args);
  } else if (command == "recommend") {
    status = recbandit::services::RunRecommend(args);
  } else if (command == "index") {
    status = recbandit::services::RunIndex(args);
  } else if (command == "similar") {
    status = recbandit::services::RunSimilar(args);
  } else if (command == "export") {
    status = recbandit::services::RunExport(args);
  } else if (command == "log") {
    status = recbandit::services::RunLog(args);
  } else if (command == "ope") {
    status = recbandit::services::RunOpe(args);
  } else if (command == "simulate") {
    status = recbandit::services::RunSimulate(args);
  } else if (command == "loadtest") {
    status = recbandit::services::RunLoadtest(args);
  } else {
    std::fprintf(stderr, "recbandit: unknown command '%s'\n%s\n", command.c_str(), kUsage);
    return 2;
  }
  if (!status.ok()) {
    std::fprintf(stderr, "recbandit %s: %s\n", command.c_str(),
                 std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
