// main() of the `recbandit` binary: finds the command (services/cli/commands.h),
// answers --version and `<command> --help`, refuses flags the command does
// not read, parses flags and runs the command.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "services/cli/cli.h"
#include "proto/core/names.h"
#include "services/cli/commands.h"

namespace {

using recbandit::services::Command;
using recbandit::services::Commands;

std::string Usage() {
  std::string out =
      "recbandit: recommendation and bandit experimentation.\n"
      "usage: recbandit <command> [--flag=value ...]\n"
      "commands:\n";
  for (const Command& c : Commands()) {
    std::string name = recbandit::services::CommandTitle(c);
    name.resize(std::max<size_t>(name.size(), 18), ' ');
    absl::StrAppend(&out, "  ", name, " ", c.summary, "\n");
  }
  absl::StrAppend(&out,
                  "`recbandit <command> --help` lists a command's flags; `recbandit --version` "
                  "the version.");
  return out;
}

// Prints `message` as the command's one-line error: bounded, and any line
// breaks of a library's message (e.g. a JSON parser's caret) folded.
void PrintError(const std::string& title, absl::string_view message) {
  std::string line = recbandit::BoundedMessage(message);
  for (char& c : line) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::fprintf(stderr, "recbandit%s%s: %s\n", title.empty() ? "" : " ", title.c_str(),
               std::string(absl::StripTrailingAsciiWhitespace(line)).c_str());
}

bool IsHelp(const char* arg) {
  return std::strcmp(arg, "--help") == 0 || std::strcmp(arg, "-help") == 0 ||
         std::strcmp(arg, "-h") == 0 || std::strcmp(arg, "--helpshort") == 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian's abseil is built with Mutex deadlock detection on: every lock
  // then goes through one global graph lock, which serialises the server's
  // threads and halves the simulator's throughput. Tests keep it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const std::string usage = Usage();
  absl::SetProgramUsageMessage(usage);
  // The command is the first argument that is not a flag.
  int command_at = 0;
  for (int i = 1; i < argc && command_at == 0; ++i) {
    if (std::strcmp(argv[i], "--version") == 0 || std::strcmp(argv[i], "-version") == 0) {
      std::printf("%s\n", recbandit::services::VersionString().c_str());
      return 0;
    }
    if (std::strcmp(argv[i], "--") == 0) break;
    if (argv[i][0] != '-') command_at = i;
  }
  const Command* command =
      command_at > 0 ? recbandit::services::FindCommand(argv[command_at]) : nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) break;
    if (!IsHelp(argv[i])) continue;
    if (command != nullptr) {
      std::printf("%s", recbandit::services::CommandHelp(*command).c_str());
    } else {
      std::printf("%s\n", usage.c_str());
    }
    return 0;
  }
  if (command_at == 0) {
    std::fprintf(stderr, "%s\n", usage.c_str());
    return 2;
  }
  if (command == nullptr) {
    std::vector<std::string> names;
    for (const Command& c : Commands()) names.push_back(c.name);
    PrintError("", absl::StrCat("unknown command ", recbandit::Quote(argv[command_at]),
                                " (commands: ", absl::StrJoin(names, ", "),
                                "; see `recbandit --help`)"));
    return 2;
  }
  const std::string title = recbandit::services::CommandTitle(*command);
  absl::Status flags = recbandit::services::CheckCommandFlags(*command, argc, argv, 1);
  if (!flags.ok()) {
    PrintError(title, flags.message());
    return 2;
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  recbandit::services::CommandArgs args(positional.begin() + 2, positional.end());
  const absl::Status status = command->run(args);
  if (!status.ok()) {
    PrintError(title, status.message());
    return 1;
  }
  return 0;
}
