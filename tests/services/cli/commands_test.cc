// Tests of the CLI's command table and flag checks, in process (the table
// against the defined flags) and through the real binary (--help per
// command, flags of another command, unknown flags, --version).
#include "services/cli/commands.h"

#include <algorithm>
#include <string>

#include "absl/flags/reflection.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/test_util.h"

namespace recbandit::services {
namespace {

using ::recbandit::testing::CommandResult;
using ::recbandit::testing::RunRecbandit;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::testing::StartsWith;

TEST(CommandsTest, EveryListedFlagExistsAndEveryFlagBelongsToACommand) {
  for (const Command& c : Commands()) {
    EXPECT_NE(c.run, nullptr) << c.name;
    for (const std::string& f : c.flags) {
      EXPECT_NE(absl::FindCommandLineFlag(f), nullptr) << c.name << " --" << f;
    }
  }
  // Every flag of ours is read by some command (no orphan flags).
  int ours = 0;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (flag->Filename().find("services/cli/flags.cc") == std::string::npos) continue;
    ++ours;
    bool used = false;
    for (const Command& c : Commands()) {
      used |= std::find(c.flags.begin(), c.flags.end(), std::string(name)) != c.flags.end();
    }
    EXPECT_TRUE(used) << "--" << name << " is read by no command";
  }
  EXPECT_GT(ours, 50);
}

TEST(CommandsTest, HelpListsOnlyTheCommandsFlags) {
  CommandResult r = RunRecbandit({"train", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("usage: recbandit train"));
  EXPECT_THAT(r.out, HasSubstr("--iterations"));
  EXPECT_THAT(r.out, Not(HasSubstr("--port")));
  EXPECT_THAT(r.out, Not(HasSubstr("--metrics_port")));
  CommandResult top = RunRecbandit({"--help"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_THAT(top.out, HasSubstr("log repair"));
}

TEST(CommandsTest, AFlagOfAnotherCommandIsAnErrorNamingTheCommand) {
  CommandResult r = RunRecbandit({"split", "--input=x.csv", "--algo=bpr", "--port=1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("recbandit split: --algo is not a flag of `recbandit split`"));
  EXPECT_TRUE(r.out.empty());
}

TEST(CommandsTest, AnUnknownFlagSuggestsTheNearest) {
  CommandResult r = RunRecbandit({"split", "--inptu=x.csv"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown flag '--inptu'; did you mean --input?"));
  CommandResult far = RunRecbandit({"train", "--zzzzzzzz=1"});
  EXPECT_EQ(far.exit_code, 2);
  EXPECT_THAT(far.err, Not(HasSubstr("did you mean")));
  // Boolean negation of a command's own flag is fine.
  CommandResult neg = RunRecbandit({"train", "--noitem_bias", "--help"});
  EXPECT_EQ(neg.exit_code, 0);
}

TEST(CommandsTest, AValueThatDoesNotParseIsAUsageErrorNamingTheCommandAndFlag) {
  CommandResult r = RunRecbandit({"train", "--input=x.csv", "--factors=abc"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "recbandit train: --factors='abc' is not a 32-bit integer\n");
  CommandResult big = RunRecbandit({"gen", "interactions", "--users=1" + std::string(5000, '0')});
  EXPECT_EQ(big.exit_code, 2);
  EXPECT_THAT(big.err, HasSubstr("recbandit gen interactions: --users='1000"));
  EXPECT_LT(big.err.size(), 200u) << "the value must not be echoed whole";
  CommandResult boolean = RunRecbandit({"split", "--skip_bad_lines=maybe"});
  EXPECT_EQ(boolean.exit_code, 2);
  EXPECT_THAT(boolean.err, HasSubstr("--skip_bad_lines='maybe' is not true or false"));
}

TEST(CommandsTest, AnUnknownCommandIsOneLineListingTheCommands) {
  CommandResult r = RunRecbandit({"trian"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("recbandit: unknown command 'trian' (commands: gen, split, train"));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(CommandsTest, VersionPrintsTheProjectVersionAndBuildType) {
  CommandResult r = RunRecbandit({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, ::testing::MatchesRegex("recbandit [0-9]+\\.[0-9]+\\.[0-9]+ \\([A-Za-z]+ build, commit "
                                       "([0-9a-f]{12}|unknown), (gcc|clang) [0-9.]+\\)\n"));
}

}  // namespace
}  // namespace recbandit::services
