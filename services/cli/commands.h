// The recbandit CLI's commands: one table of names, summaries and the flags
// each command reads, so usage, per-command --help, the check that a flag
// belongs to its command, and the dispatch all come from one place.
#ifndef RECBANDIT_SERVICES_CLI_COMMANDS_H_
#define RECBANDIT_SERVICES_CLI_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "services/cli/cli.h"

namespace recbandit::services {

struct Command {
  std::string name;     // "train"
  std::string usage;    // "train --input= --out= [...]", after "recbandit "
  std::string summary;  // one line
  std::vector<std::string> flags;  // every flag the command reads, sorted
  absl::Status (*run)(const CommandArgs& args) = nullptr;
};

// Returns every command, in the order `recbandit` lists them.
const std::vector<Command>& Commands();

// Returns the words that invoke `command`: its name, plus the verb that some
// commands take ("gen interactions", "log repair"); from its usage line.
std::string CommandTitle(const Command& command);

// Returns the command named `name`, or nullptr.
const Command* FindCommand(const std::string& name);

// Returns the text of `recbandit <command> --help`: usage, summary and each
// flag with its default and help.
std::string CommandHelp(const Command& command);

// Returns OK when every --flag in argv[first..] belongs to `command`;
// otherwise INVALID_ARGUMENT naming the flag and the command, and for an
// unknown flag the nearest flag of the command. Stops at "--".
absl::Status CheckCommandFlags(const Command& command, int argc, char** argv, int first);

// Returns "recbandit <version> (<build type> build, commit <git commit>, <compiler>)".
std::string VersionString();

}  // namespace recbandit::services

#endif  // RECBANDIT_SERVICES_CLI_COMMANDS_H_
