#include "bocker/cli/flags.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace bocker::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using T = FlagSpec::Type;

const std::vector<FlagSpec> kSpecs = {
    {.short_name = 'i', .long_name = "interactive", .help = "Keep STDIN open"},
    {.short_name = 't', .long_name = "tty", .help = "Allocate a pseudo-TTY"},
    {.short_name = 'd', .long_name = "detach", .help = "Run in background"},
    {.long_name = "rm", .help = "Remove when it exits"},
    {.short_name = 'e', .long_name = "env", .type = T::kList, .help = "Set environment variables"},
    {.long_name = "name", .type = T::kString, .help = "Assign a name"},
    {.short_name = 'n',
     .long_name = "tail",
     .type = T::kInt,
     .help = "Lines to show",
     .default_value = "all"},
};

ParsedArgs parse(std::vector<std::string> argv, bool interspersed = true) {
  return parse_flags(kSpecs, argv, interspersed);
}

std::string usage_error_of(std::vector<std::string> argv) {
  try {
    parse(argv);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Flags, ShortBoolsAlone) {
  auto p = parse({"-i", "-t"});
  EXPECT_TRUE(p.flags.get_bool("interactive"));
  EXPECT_TRUE(p.flags.get_bool("tty"));
  EXPECT_FALSE(p.flags.get_bool("detach"));
  EXPECT_TRUE(p.args.empty());
}

TEST(Flags, CombinedShortBools) {
  auto p = parse({"-itd"});
  EXPECT_TRUE(p.flags.get_bool("interactive"));
  EXPECT_TRUE(p.flags.get_bool("tty"));
  EXPECT_TRUE(p.flags.get_bool("detach"));
}

TEST(Flags, CombinedShortBoolsThenValueFlag) {
  auto p = parse({"-ite", "A=1", "img"});
  EXPECT_TRUE(p.flags.get_bool("tty"));
  EXPECT_THAT(p.flags.get_list("env"), ElementsAre("A=1"));
  EXPECT_THAT(p.args, ElementsAre("img"));
}

TEST(Flags, ShortValueForms) {
  auto p = parse({"-e", "A=1", "-eB=2", "-e=C=3"});
  EXPECT_THAT(p.flags.get_list("env"), ElementsAre("A=1", "B=2", "C=3"));
}

TEST(Flags, LongForms) {
  auto p = parse({"--name", "web", "--rm", "--env=X=1", "--env", "Y=2", "--tail=5"});
  EXPECT_EQ(p.flags.get_string("name"), "web");
  EXPECT_TRUE(p.flags.get_bool("rm"));
  EXPECT_THAT(p.flags.get_list("env"), ElementsAre("X=1", "Y=2"));
  EXPECT_EQ(p.flags.get_int("tail"), 5);
}

TEST(Flags, LastStringValueWins) {
  auto p = parse({"--name", "a", "--name=b"});
  EXPECT_EQ(p.flags.get_string("name"), "b");
  EXPECT_THAT(p.flags.get_list("name"), ElementsAre("a", "b"));
}

TEST(Flags, BoolWithExplicitValue) {
  auto p = parse({"--rm=false", "-t=true"});
  EXPECT_TRUE(p.flags.has("rm"));
  EXPECT_FALSE(p.flags.get_bool("rm"));
  EXPECT_TRUE(p.flags.get_bool("tty"));
}

TEST(Flags, DefaultsWhenAbsent) {
  auto p = parse({});
  EXPECT_FALSE(p.flags.has("name"));
  EXPECT_EQ(p.flags.get_string("name", "dflt"), "dflt");
  EXPECT_EQ(p.flags.get_int("tail", -1), -1);
  EXPECT_TRUE(p.flags.get_list("env").empty());
}

TEST(Flags, InterspersedPositionals) {
  auto p = parse({"a", "-t", "b", "--name", "n", "c"});
  EXPECT_THAT(p.args, ElementsAre("a", "b", "c"));
  EXPECT_TRUE(p.flags.get_bool("tty"));
  EXPECT_EQ(p.flags.get_string("name"), "n");
}

TEST(Flags, StopAtFirstPositional) {
  auto p = parse({"-t", "--rm", "alpine", "ls", "-l", "--name", "x"}, /*interspersed=*/false);
  EXPECT_TRUE(p.flags.get_bool("tty"));
  EXPECT_TRUE(p.flags.get_bool("rm"));
  EXPECT_FALSE(p.flags.has("name"));
  EXPECT_THAT(p.args, ElementsAre("alpine", "ls", "-l", "--name", "x"));
}

TEST(Flags, DoubleDashEndsFlags) {
  auto p = parse({"-t", "--", "-i", "--name", "x"});
  EXPECT_TRUE(p.flags.get_bool("tty"));
  EXPECT_FALSE(p.flags.get_bool("interactive"));
  EXPECT_THAT(p.args, ElementsAre("-i", "--name", "x"));
}

TEST(Flags, SingleDashIsPositional) {
  auto p = parse({"-", "-t"});
  EXPECT_THAT(p.args, ElementsAre("-"));
  EXPECT_TRUE(p.flags.get_bool("tty"));
}

TEST(Flags, UnknownLongFlag) { EXPECT_EQ(usage_error_of({"--nope"}), "unknown flag: --nope"); }

TEST(Flags, UnknownLongFlagWithValue) { EXPECT_EQ(usage_error_of({"--nope=3"}), "unknown flag: --nope"); }

TEST(Flags, UnknownShorthand) { EXPECT_EQ(usage_error_of({"-iz"}), "unknown shorthand flag: 'z' in -iz"); }

TEST(Flags, MissingValues) {
  EXPECT_EQ(usage_error_of({"-e"}), "flag needs an argument: 'e' in -e");
  EXPECT_EQ(usage_error_of({"--name"}), "flag needs an argument: --name");
}

TEST(Flags, BadIntAndBool) {
  EXPECT_THAT(usage_error_of({"--tail", "abc"}),
              HasSubstr("invalid argument \"abc\" for \"-n, --tail\" flag"));
  EXPECT_THAT(usage_error_of({"-n5x"}), HasSubstr("invalid argument \"5x\""));
  EXPECT_THAT(usage_error_of({"--rm=maybe"}), HasSubstr("invalid argument \"maybe\" for \"--rm\" flag"));
}

TEST(Flags, HelpBlockAlignsAndShowsTypes) {
  std::string help = format_flags(kSpecs);
  EXPECT_THAT(help, HasSubstr("  -e, --env list      Set environment variables\n"));
  EXPECT_THAT(help, HasSubstr("      --name string   Assign a name\n"));
  EXPECT_THAT(help, HasSubstr("      --rm            Remove when it exits\n"));
  EXPECT_THAT(help, HasSubstr("  -n, --tail int      Lines to show (default all)\n"));
}

TEST(Flags, HiddenFlagsLeftOutOfHelp) {
  std::vector<FlagSpec> specs = {{.long_name = "secret", .help = "no", .hidden = true},
                                 {.long_name = "shown", .help = "yes"}};
  EXPECT_EQ(format_flags(specs), "      --shown   yes\n");
}

}  // namespace
}  // namespace bocker::cli
