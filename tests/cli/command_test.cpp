#include "bocker/cli/command.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "bocker/build_info.hpp"
#include "bocker/cli/format.hpp"
#include "fake_server.hpp"

namespace bocker::cli {
namespace {

using testing::FakeRequest;
using testing::FakeServer;
using ::testing::HasSubstr;
using testing::http_response;
using ::testing::Not;
using ::testing::StartsWith;
using testing::TempDir;

struct Outcome {
  int rc;
  std::string out;
  std::string err;
};

Outcome run_cli(std::vector<std::string> argv, std::map<std::string, std::string> env = {}) {
  std::ostringstream out, err;
  Env e = Env::from_map(std::move(env));
  int rc = run(argv, out, err, e);
  return {rc, out.str(), err.str()};
}

const char* kVersionJson =
    R"({"Version":"0.1.0","ApiVersion":"1.47","MinAPIVersion":"1.24","Os":"linux","Arch":"amd64",)"
    R"("GitCommit":"abc123","KernelVersion":"6.1.0-test","BuildTime":"2025-01-01T00:00:00Z"})";

const char* kInfoJson =
    R"J({"ID":"ID-1","Containers":3,"ContainersRunning":1,"ContainersPaused":0,"ContainersStopped":2,)J"
    R"J("Images":5,"ServerVersion":"0.1.0","Driver":"btrfs","DriverStatus":[["Backing Filesystem","btrfs"]],)J"
    R"J("LoggingDriver":"json-file","CgroupDriver":"cgroupfs","CgroupVersion":"2","KernelVersion":"6.1.0-test",)J"
    R"J("OperatingSystem":"Debian GNU/Linux 12 (bookworm)","OSType":"linux","Architecture":"x86_64","NCPU":2,)J"
    R"J("MemTotal":25158688768,"Name":"host1","DockerRootDir":"/var/lib/bocker","Warnings":["WARNING: test"]})J";

FakeServer::Handler daemon(std::string api = "1.47") {
  return [api](const FakeRequest& r, int) {
    if (r.path == "/_ping") return http_response(200, "OK", {"Api-Version: " + api}, "text/plain");
    if (r.path.ends_with("/version")) return http_response(200, kVersionJson);
    if (r.path.ends_with("/info")) return http_response(200, kInfoJson);
    return http_response(404, R"({"message":"page not found"})");
  };
}

TEST(Cli, MainHelpListsEveryCommand) {
  for (auto argv : {std::vector<std::string>{"--help"}, {"-h"}, {"help"}, {}}) {
    Outcome o = run_cli(argv);
    EXPECT_EQ(o.rc, 0);
    EXPECT_THAT(o.out, StartsWith("Usage:  bocker [OPTIONS] COMMAND\n"));
    for (const auto& c : commands()) {
      if (!c.hidden) {
        EXPECT_THAT(o.out, HasSubstr("  " + c.name + " ")) << c.name;
      }
    }
    EXPECT_THAT(o.out, HasSubstr("-H, --host string"));
    EXPECT_THAT(o.out, HasSubstr("BOCKER_NO_AUTOSTART"));
    EXPECT_EQ(o.err, "");
  }
}

TEST(Cli, EveryCommandHasHelp) {
  ASSERT_FALSE(commands().empty());
  for (const auto& c : commands()) {
    // run/create take -h for --hostname, like docker: only --help and `help X` there.
    bool h_taken =
        std::any_of(c.flags.begin(), c.flags.end(), [](const FlagSpec& f) { return f.short_name == 'h'; });
    for (auto argv : {std::vector<std::string>{c.name, "--help"},
                      {c.name, h_taken ? "--help" : "-h"},
                      {"help", c.name}}) {
      Outcome o = run_cli(argv);
      EXPECT_EQ(o.rc, 0) << c.name;
      EXPECT_THAT(o.out, StartsWith("Usage:  bocker " + c.name)) << c.name;
      EXPECT_THAT(o.out, HasSubstr(c.summary)) << c.name;
      for (const auto& f : c.flags) {
        if (!f.hidden) {
          EXPECT_THAT(o.out, HasSubstr("--" + f.long_name)) << c.name;
        }
      }
      EXPECT_FALSE(c.summary.empty()) << c.name;
    }
  }
}

TEST(Cli, HelpWinsOverOtherFlagsAndNeedsNoDaemon) {
  Outcome o = run_cli({"-H", "unix:///nonexistent/x.sock", "info", "--format", "json", "--help"},
                      {{"BOCKER_NO_AUTOSTART", "1"}});
  EXPECT_EQ(o.rc, 0);
  EXPECT_THAT(o.out, StartsWith("Usage:  bocker info [OPTIONS]\n"));
}

TEST(Cli, VersionFlag) {
  for (auto flag : {"--version", "-v"}) {
    Outcome o = run_cli({flag});
    EXPECT_EQ(o.rc, 0);
    EXPECT_EQ(o.out,
              std::string("bocker version ") + build::kVersion + ", build " + build::kGitCommit + "\n");
  }
}

TEST(Cli, UnknownCommandIsUsageError) {
  Outcome o = run_cli({"frobnicate"});
  EXPECT_EQ(o.rc, kExitUsage);
  EXPECT_THAT(o.err, HasSubstr("unknown command: bocker frobnicate"));
  EXPECT_THAT(o.err, HasSubstr("Run 'bocker --help' for more information"));
  EXPECT_EQ(o.out, "");
}

TEST(Cli, UnknownHelpTopic) {
  Outcome o = run_cli({"help", "frobnicate"});
  EXPECT_EQ(o.rc, kExitUsage);
  EXPECT_THAT(o.err, HasSubstr("unknown help topic: frobnicate"));
}

TEST(Cli, UnknownFlagsAreUsageErrors) {
  Outcome g = run_cli({"--bogus", "version"});
  EXPECT_EQ(g.rc, kExitUsage);
  EXPECT_THAT(g.err, StartsWith("unknown flag: --bogus\n\nUsage:  bocker [OPTIONS] COMMAND [ARG...]\n"));
  Outcome c = run_cli({"version", "-x"});
  EXPECT_EQ(c.rc, kExitUsage);
  EXPECT_THAT(c.err, StartsWith("unknown shorthand flag: 'x' in -x\n\nUsage:  bocker version [OPTIONS]\n"));
  EXPECT_THAT(c.err, HasSubstr("Run 'bocker version --help' for more information"));
  Outcome m = run_cli({"info", "--format"});
  EXPECT_EQ(m.rc, kExitUsage);
  EXPECT_THAT(m.err, StartsWith("flag needs an argument: --format"));
}

TEST(Cli, ExtraArgumentsAreUsageErrors) {
  Outcome o = run_cli({"version", "extra"});
  EXPECT_EQ(o.rc, kExitUsage);
  EXPECT_THAT(o.err, StartsWith("bocker: 'bocker version' accepts no arguments\n"));
}

TEST(Cli, MalformedHostIsUsageError) {
  Outcome o = run_cli({"-H", "ftp://x", "version"});
  EXPECT_EQ(o.rc, kExitUsage);
  EXPECT_THAT(o.err, HasSubstr("invalid daemon host \"ftp://x\""));
}

TEST(Cli, NoAutostartErrorMessage) {
  TempDir dir;
  std::string uri = "unix://" + dir.path() + "/none.sock";
  Outcome o = run_cli({"-H", uri, "info"}, {{"BOCKER_NO_AUTOSTART", "1"}});
  EXPECT_EQ(o.rc, 1);
  EXPECT_EQ(o.err, "Cannot connect to the bocker daemon at " + uri + ". Is bockerd running?\n");
}

TEST(Cli, NoAutostartUsesBockerHostEnv) {
  TempDir dir;
  std::string uri = "unix://" + dir.path() + "/env.sock";
  Outcome o = run_cli({"version"}, {{"BOCKER_NO_AUTOSTART", "1"}, {"BOCKER_HOST", uri}});
  EXPECT_EQ(o.rc, 1);
  EXPECT_THAT(o.out, StartsWith("Client:\n Version:"));  // client part still printed
  EXPECT_THAT(o.err, HasSubstr("Cannot connect to the bocker daemon at " + uri + ". Is bockerd running?"));
}

TEST(Cli, VersionAgainstFakeDaemon) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", daemon("1.45"));
  Outcome o = run_cli({"-H", srv.uri(), "version"});
  EXPECT_EQ(o.rc, 0) << o.err;
  EXPECT_THAT(o.out, HasSubstr(std::string(" Version:           ") + build::kVersion + "\n"));
  EXPECT_THAT(o.out, HasSubstr(" API version:       1.45 (downgraded from 1.47)\n"));
  EXPECT_THAT(o.out, HasSubstr("\nServer: bocker Engine\n Engine:\n"));
  EXPECT_THAT(o.out, HasSubstr("  API version:      1.47 (minimum version 1.24)\n"));
  EXPECT_THAT(o.out, HasSubstr("  Go version:       n/a\n"));
  EXPECT_THAT(o.out, HasSubstr("  Git commit:       abc123\n"));
  EXPECT_THAT(o.out, HasSubstr("  OS/Arch:          linux/amd64\n"));
  EXPECT_THAT(o.out, HasSubstr("  Kernel:           6.1.0-test\n"));
  EXPECT_EQ(srv.requests().back().path, "/v1.45/version");
}

TEST(Cli, VersionJsonFormat) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", daemon());
  for (auto fmt : {"{{json .}}", "json"}) {
    Outcome o = run_cli({"-H", srv.uri(), "version", "--format", fmt});
    EXPECT_EQ(o.rc, 0) << o.err;
    auto j = nlohmann::json::parse(o.out);
    EXPECT_EQ(j["Server"], nlohmann::json::parse(kVersionJson));
    EXPECT_EQ(j["Client"]["Version"], build::kVersion);
  }
  Outcome field =
      run_cli({"-H", srv.uri(), "version", "-f", "{{.Server.Version}} {{json .Server.ApiVersion}}"});
  EXPECT_EQ(field.out, "0.1.0 \"1.47\"\n");
}

TEST(Cli, InfoAgainstFakeDaemon) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", daemon());
  Outcome o = run_cli({"info"}, {{"BOCKER_HOST", srv.uri()}});
  EXPECT_EQ(o.rc, 0) << o.err;
  for (const char* line : {"Server:\n Containers: 3\n  Running: 1\n  Paused: 0\n  Stopped: 2\n Images: 5\n",
                           " Server Version: 0.1.0\n Storage Driver: btrfs\n  Backing Filesystem: btrfs\n",
                           " Cgroup Driver: cgroupfs\n Cgroup Version: 2\n", " Kernel Version: 6.1.0-test\n",
                           " Operating System: Debian GNU/Linux 12 (bookworm)\n", " Architecture: x86_64\n",
                           " CPUs: 2\n Total Memory: 23.43GiB\n Name: host1\n ID: ID-1\n",
                           " Docker Root Dir: /var/lib/bocker\n"}) {
    EXPECT_THAT(o.out, HasSubstr(line));
  }
  EXPECT_EQ(o.err, "WARNING: test\n");
}

TEST(Cli, InfoJsonFormatIsRaw) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", daemon());
  Outcome o = run_cli({"-H", srv.uri(), "info", "--format={{json .}}"});
  EXPECT_EQ(o.rc, 0) << o.err;
  EXPECT_EQ(nlohmann::json::parse(o.out), nlohmann::json::parse(kInfoJson));
  EXPECT_THAT(o.out, Not(HasSubstr("Client:")));
}

TEST(Cli, UnsupportedTemplateIsUsageError) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", daemon());
  Outcome o = run_cli({"-H", srv.uri(), "info", "--format", "{{range .Warnings}}x{{end}}"});
  EXPECT_EQ(o.rc, kExitUsage);
  EXPECT_THAT(o.err, HasSubstr("template parsing error"));
}

TEST(Cli, DaemonErrorIsReported) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", [](const FakeRequest& r, int) {
    if (r.path == "/_ping") return http_response(200, "OK", {"Api-Version: 1.47"});
    return http_response(500, R"({"message":"disk on fire"})");
  });
  Outcome o = run_cli({"-H", srv.uri(), "info"});
  EXPECT_EQ(o.rc, 1);
  EXPECT_EQ(o.err, "Error response from daemon: disk on fire\n");
}

TEST(Format, HumanSizes) {
  EXPECT_EQ(human_bytes(512), "512B");
  EXPECT_EQ(human_bytes(1536), "1.5KiB");
  EXPECT_EQ(human_bytes(25158688768.0), "23.43GiB");
  EXPECT_EQ(human_size(77900000), "77.9MB");
  EXPECT_EQ(human_size(999), "999B");
}

}  // namespace
}  // namespace bocker::cli
