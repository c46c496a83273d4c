#include "bocker/cli/autostart.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "bocker/cli/command.hpp"
#include "fake_server.hpp"

namespace bocker::cli {
namespace {

using testing::FakeRequest;
using testing::FakeServer;
using ::testing::HasSubstr;
using testing::http_response;
using testing::TempDir;

// When started with BOCKER_CLI_TEST_FAKE_DAEMON=1 (by the autostart test, as its "bockerd"),
// this binary serves /_ping and /version on the --host socket for a while instead of testing.
struct FakeDaemonMode {
  FakeDaemonMode() {
    const char* mode = std::getenv("BOCKER_CLI_TEST_FAKE_DAEMON");
    if (mode == nullptr || std::string(mode) != "1") return;
    std::ifstream in("/proc/self/cmdline");
    std::vector<std::string> args;
    for (std::string a; std::getline(in, a, '\0');) args.push_back(a);
    std::string host;
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "--host") host = args[i + 1];
    }
    std::fprintf(stderr, "fake bockerd serving %s\n", host.c_str());
    try {
      FakeServer srv(parse_host(host).path, [](const FakeRequest& r, int) {
        if (r.path == "/_ping") return http_response(200, "OK", {"Api-Version: 1.47"}, "text/plain");
        return http_response(200, R"({"Version":"fake","ApiVersion":"1.47","Os":"linux","Arch":"amd64"})");
      });
      ::sleep(30);  // the test kills us long before
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fake bockerd: %s\n", e.what());
      ::_exit(2);
    }
    ::_exit(0);
  }
} fake_daemon_mode;

std::string write_script(const std::string& path, const std::string& text, mode_t mode = 0755) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
  return path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Outcome {
  int rc;
  std::string out, err;
};

Outcome run_cli(std::vector<std::string> argv, std::map<std::string, std::string> env) {
  std::ostringstream out, err;
  Env e = Env::from_map(std::move(env));
  int rc = run(argv, out, err, e);
  return {rc, out.str(), err.str()};
}

TEST(Autostart, EnabledOnlyForUnixWithoutOptOut) {
  Host unix_host = parse_host("unix:///tmp/x.sock");
  EXPECT_TRUE(autostart_enabled(unix_host, Env::from_map({})));
  EXPECT_TRUE(autostart_enabled(unix_host, Env::from_map({{"BOCKER_NO_AUTOSTART", "0"}})));
  EXPECT_FALSE(autostart_enabled(unix_host, Env::from_map({{"BOCKER_NO_AUTOSTART", "1"}})));
  EXPECT_FALSE(autostart_enabled(parse_host("tcp://127.0.0.1:1"), Env::from_map({})));
}

TEST(Autostart, DaemonPathFromEnv) {
  TempDir dir;
  std::string exe = write_script(dir.path() + "/mybockerd", "#!/bin/sh\nexit 0\n");
  EXPECT_EQ(find_daemon_binary(Env::from_map({{"BOCKER_DAEMON_PATH", exe}})), exe);
  std::string plain = write_script(dir.path() + "/notexec", "x", 0644);
  try {
    find_daemon_binary(Env::from_map({{"BOCKER_DAEMON_PATH", plain}}));
    FAIL() << "accepted a non-executable file";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kNotFound);
    EXPECT_THAT(e.what(), HasSubstr(plain));
  }
}

TEST(Autostart, DaemonFoundOnPath) {
  TempDir dir;
  std::string exe = write_script(dir.path() + "/bockerd", "#!/bin/sh\nexit 0\n");
  EXPECT_EQ(find_daemon_binary(Env::from_map({{"PATH", "/nonexistent:" + dir.path()}})), exe);
  try {
    find_daemon_binary(Env::from_map({{"PATH", "/nonexistent"}}));
    FAIL() << "found a bockerd on an empty PATH";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("bockerd not found"));
  }
}

TEST(Autostart, LogPathFromEnv) {
  TempDir dir;
  std::string path;
  Fd fd = open_daemon_log(Env::from_map({{"BOCKER_DAEMON_LOG", dir.path() + "/d.log"}}), path);
  EXPECT_TRUE(fd.valid());
  EXPECT_EQ(path, dir.path() + "/d.log");
  EXPECT_THROW(open_daemon_log(Env::from_map({{"BOCKER_DAEMON_LOG", dir.path() + "/no/such/d.log"}}), path),
               SystemError);
}

TEST(Autostart, DaemonThatExitsIsReportedWithItsLog) {
  TempDir dir;
  std::string uri = "unix://" + dir.path() + "/d.sock";
  std::string exe =
      write_script(dir.path() + "/bockerd", "#!/bin/sh\necho \"fake bockerd args: $*\" >&2\nexit 3\n");
  Outcome o = run_cli({"-H", uri, "info"}, {{"BOCKER_DAEMON_PATH", exe},
                                            {"BOCKER_DAEMON_LOG", dir.path() + "/d.log"},
                                            {"BOCKER_ROOT", dir.path() + "/root"},
                                            {"BOCKER_BRIDGE", "none"}});
  EXPECT_EQ(o.rc, 1);
  EXPECT_THAT(o.err, HasSubstr("bocker: no daemon answered on " + uri + "; started " + exe + " (pid "));
  EXPECT_THAT(o.err, HasSubstr("exited with status 3 before answering on " + uri));
  std::string expected_args = "fake bockerd args: --host " + uri + " --root " + dir.path() + "/root --bridge none";
  EXPECT_THAT(o.err, HasSubstr(expected_args));  // log tail quoted in the error
  EXPECT_THAT(read_file(dir.path() + "/d.log"), HasSubstr(expected_args));
}

TEST(Autostart, ExecFailureIsReported) {
  TempDir dir;
  std::string exe = write_script(dir.path() + "/bockerd", "no shebang, not a binary\n");
  Outcome o = run_cli({"-H", "unix://" + dir.path() + "/d.sock", "info"},
                      {{"BOCKER_DAEMON_PATH", exe}, {"BOCKER_DAEMON_LOG", dir.path() + "/d.log"}});
  EXPECT_EQ(o.rc, 1);
  EXPECT_THAT(o.err, HasSubstr("Cannot connect to the bocker daemon at unix://" + dir.path() + "/d.sock"));
  EXPECT_THAT(o.err, HasSubstr("could not start bockerd: exec " + exe + ": Exec format error"));
}

TEST(Autostart, MissingDaemonBinaryIsReported) {
  TempDir dir;
  Outcome o = run_cli({"-H", "unix://" + dir.path() + "/d.sock", "info"},
                      {{"BOCKER_DAEMON_PATH", dir.path() + "/nope"}});
  EXPECT_EQ(o.rc, 1);
  EXPECT_THAT(o.err, HasSubstr("Is bockerd running?\nbocker: could not start bockerd: BOCKER_DAEMON_PATH " +
                               dir.path() + "/nope is not an executable file"));
}

TEST(Autostart, NotForTcpHosts) {
  // Port 1 on loopback: nothing listens there; no daemon may be started for a tcp host.
  Outcome o = run_cli({"-H", "tcp://127.0.0.1:1", "info"}, {{"BOCKER_DAEMON_PATH", "/nonexistent"}});
  EXPECT_EQ(o.rc, 1);
  EXPECT_THAT(o.err, HasSubstr("Cannot connect to the bocker daemon at tcp://127.0.0.1:1"));
  EXPECT_THAT(o.err, ::testing::Not(HasSubstr("started")));
}

TEST(Autostart, StartsDaemonAndGoesOn) {
  TempDir dir;
  std::string uri = "unix://" + dir.path() + "/d.sock";
  std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  ::setenv("BOCKER_CLI_TEST_FAKE_DAEMON", "1", 1);  // inherited by the started "bockerd" only
  Outcome o = run_cli({"-H", uri, "version", "--format", "{{.Server.Version}}"},
                      {{"BOCKER_DAEMON_PATH", self}, {"BOCKER_DAEMON_LOG", dir.path() + "/d.log"}});
  ::unsetenv("BOCKER_CLI_TEST_FAKE_DAEMON");
  std::smatch m;
  std::regex pid_re("\\(pid ([0-9]+)\\)");
  ASSERT_TRUE(std::regex_search(o.err, m, pid_re)) << o.err;
  pid_t pid = std::stoi(m[1]);
  ::kill(pid, SIGKILL);
  int st = 0;
  ::waitpid(pid, &st, 0);
  EXPECT_EQ(o.rc, 0) << o.err;
  EXPECT_EQ(o.out, "fake\n");
  EXPECT_EQ(o.err, "bocker: no daemon answered on " + uri + "; started " + self + " (pid " +
                       std::to_string(pid) + "), log in " + dir.path() + "/d.log\n");
  EXPECT_THAT(read_file(dir.path() + "/d.log"), HasSubstr("fake bockerd serving " + uri));
}

}  // namespace
}  // namespace bocker::cli
