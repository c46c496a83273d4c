// daemon::parse_create and commit_reference without a daemon: what the docker CLI sends becomes
// the expected spec; hostile bodies are Error(kInvalid) naming the field.
#include "bocker/daemon/create_spec.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "bocker/api/bodies.hpp"
#include "bocker/runtime/error.hpp"

namespace bocker::daemon {
namespace {

using nlohmann::json;

registry::ImageConfig alpine() {
  registry::ImageConfig c;
  c.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  c.cmd = {"/bin/sh"};
  c.working_dir = "/home";
  return c;
}

std::vector<volume::MountPoint> no_donors(const std::string& name) {
  throw invalid("No such container: " + name + " (in HostConfig.VolumesFrom)");
}

// A body from the fuzz corpus (the docker 28 CLI's own JSON), without the fuzzer's selector byte
// and, for named creates, the name line.
json corpus_body(const std::string& file, std::string* name = nullptr) {
  std::ifstream in(std::string(BOCKER_SOURCE_DIR) + "/tests/fuzz/corpus/api_bodies/" + file,
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string data = ss.str();
  EXPECT_FALSE(data.empty()) << file;
  std::string rest = data.substr(1);
  if (!data.empty() && (static_cast<unsigned char>(data[0]) & 0x80) != 0) {
    if (name != nullptr) *name = rest.substr(0, rest.find('\n'));
    rest = rest.substr(rest.find('\n') + 1);
  }
  return api::parse_create_body(rest);
}

CreateSpec parse(const json& body, std::string name = "") {
  return parse_create(body, name, alpine(), no_donors);
}

json with_host(json host_config) {
  return {{"Image", "alpine"}, {"Cmd", {"true"}}, {"HostConfig", std::move(host_config)}};
}

// The error of a body that must be refused: kInvalid, and its message names `needle`.
std::string refused(const json& body, const std::string& name = "") {
  try {
    (void)parse(body, name);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kInvalid) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "accepted " << body.dump().substr(0, 300);
  return "";
}

TEST(CreateSpec, DockerRunDetachedWithPortsAndEnv) {
  std::string name;
  json body = corpus_body("create_run_d_name_ports", &name);
  CreateSpec s = parse_create(body, name, alpine(), no_donors);
  EXPECT_EQ(s.name, "web");
  EXPECT_EQ(s.image, "alpine");
  EXPECT_EQ(s.argv, (std::vector<std::string>{"sleep", "100"}));
  EXPECT_EQ(s.network_mode, "bridge");
  // The request's PATH replaces the image's; A=b is added.
  EXPECT_EQ(s.config["Env"], json({"A=b", "PATH=/x"}));
  EXPECT_EQ(s.config["WorkingDir"], "/home") << "the image's default for an empty WorkingDir";
  EXPECT_EQ(s.config["Image"], "alpine");
  EXPECT_EQ(s.config["Tty"], false);
  EXPECT_TRUE(s.config["Entrypoint"].is_null());
  EXPECT_TRUE(s.config["ExposedPorts"].contains("80/tcp"));
  EXPECT_EQ(s.host_config["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
  EXPECT_EQ(s.limits, cgroup::Limits{});
  EXPECT_TRUE(s.mounts.empty());
}

TEST(CreateSpec, DockerRunLimits) {
  CreateSpec s = parse(corpus_body("create_limits"));
  EXPECT_EQ(s.limits.memory_bytes, 64 << 20);
  EXPECT_EQ(s.limits.memory_swap, 128 << 20);
  EXPECT_EQ(s.limits.cpu_shares, 512);
  EXPECT_EQ(s.limits.cpu_period_us, 100000);
  EXPECT_EQ(s.limits.cpu_quota_us, 50000) << "--cpus 0.5";
  EXPECT_EQ(s.limits.pids_limit, 64);
  CreateSpec q = parse(corpus_body("create_cpu_quota"));
  EXPECT_EQ(q.limits.cpu_quota_us, 50000);
  EXPECT_EQ(q.limits.cpu_period_us, 100000);
  EXPECT_EQ(q.limits.memory_swap, -1);
}

TEST(CreateSpec, EntrypointTtyUserAndDefaults) {
  CreateSpec s = parse(corpus_body("create_tty_entry"));
  EXPECT_EQ(s.argv, (std::vector<std::string>{"/bin/sh", "-c", "echo"}));
  EXPECT_EQ(s.config["Tty"], true);
  EXPECT_EQ(s.config["OpenStdin"], true);
  EXPECT_EQ(s.config["User"], "1000:1000");
  EXPECT_EQ(s.config["Hostname"], "box");
  EXPECT_EQ(s.config["StopTimeout"], 3);
  EXPECT_EQ(s.network_mode, "host");
  // Only an image: its Cmd, Env and WorkingDir.
  CreateSpec m = parse(json{{"Image", "alpine"}});
  EXPECT_EQ(m.argv, (std::vector<std::string>{"/bin/sh"}));
  EXPECT_EQ(m.config["Env"], json(alpine().env));
  EXPECT_EQ(m.config["Labels"], json::object());
  EXPECT_EQ(m.network_mode, "default");
  // An Entrypoint without Cmd drops the image's Cmd.
  CreateSpec e = parse(json{{"Image", "alpine"}, {"Entrypoint", "top"}});
  EXPECT_EQ(e.argv, (std::vector<std::string>{"top"}));
}

TEST(CreateSpec, MountsArePlannedNotCreated) {
  auto donor = [](const std::string& name) {
    if (name != "donor") throw invalid("No such container: " + name);
    volume::MountPoint m;
    m.type = "volume";
    m.name = "shared";
    m.destination = "/shared";
    return std::vector<volume::MountPoint>{m};
  };
  registry::ImageConfig img = alpine();
  img.volumes = {"/data"};
  CreateSpec s = parse_create(corpus_body("create_volumes"), "", img, donor);
  std::map<std::string, const volume::MountPoint*> by_dest;
  for (const auto& m : s.mounts) by_dest[m.destination] = &m;
  ASSERT_EQ(by_dest.size(), 7U)
      << "binds 3, Mounts 1, Tmpfs 1, VolumesFrom 1, Config.Volumes 1; /data is a bind";
  EXPECT_EQ(by_dest["/data"]->name, "vol1");
  EXPECT_FALSE(by_dest["/data"]->rw);
  EXPECT_EQ(by_dest["/host"]->type, "bind");
  EXPECT_TRUE(by_dest["/anon"]->anonymous);
  EXPECT_EQ(by_dest["/run"]->type, "tmpfs");
  EXPECT_EQ(by_dest["/shared"]->rw, false) << "donor:ro";
  EXPECT_TRUE(by_dest["/cache"]->anonymous) << "Config.Volumes";
  EXPECT_EQ(by_dest["/v2"]->name, "v2");
}

TEST(CreateSpec, RestartAndLogOptionsAreAccepted) {
  CreateSpec s = parse(corpus_body("create_restart_log"));
  EXPECT_EQ(s.host_config["RestartPolicy"]["Name"], "on-failure");
  // Nulls the CLI may send are read as defaults later: no type errors at start.
  CreateSpec n =
      parse(with_host({{"AutoRemove", nullptr}, {"NetworkMode", nullptr}, {"PublishAllPorts", nullptr}}));
  EXPECT_EQ(n.host_config["AutoRemove"], false);
  EXPECT_EQ(n.host_config["NetworkMode"], "default");
}

TEST(CreateSpec, WrongTypesNameTheField) {
  EXPECT_NE(refused(json{{"Image", {"alpine"}}}).find("Config.Image"), std::string::npos);
  EXPECT_NE(refused(json{{"Cmd", {"true"}}}).find("Config.Image"), std::string::npos);
  EXPECT_NE(refused(json{{"Image", "a"}, {"Cmd", {{"a", 1}}}}).find("Cmd must be an array of strings"),
            std::string::npos);
  EXPECT_NE(refused(json{{"Image", "a"}, {"Env", {1, 2}}}).find("Env"), std::string::npos);
  EXPECT_NE(refused(json{{"Image", "a"}, {"Entrypoint", {{"a", 1}}}}).find("Entrypoint"), std::string::npos);
  EXPECT_NE(refused(json{{"Image", "a"}, {"Tty", "yes"}}).find("Config.Tty must be a boolean"),
            std::string::npos);
  EXPECT_NE(refused(json{{"Image", "a"}, {"WorkingDir", 5}}).find("Config.WorkingDir must be a string"),
            std::string::npos);
  EXPECT_NE(refused(json{{"Image", "a"}, {"Labels", {{"k", 1}}}}).find("Config.Labels[\"k\"]"),
            std::string::npos);
  EXPECT_NE(refused(json{{"Image", "a"}, {"Volumes", {"/x"}}}).find("Config.Volumes must be an object"),
            std::string::npos);
  EXPECT_NE(refused(json{{"Image", "a"}, {"StopTimeout", "10"}}).find("StopTimeout"), std::string::npos);
  EXPECT_NE(refused(json{{"Image", "a"}, {"StopSignal", "SIGNOPE"}}).find("invalid signal"),
            std::string::npos);
  EXPECT_NE(refused(json{{"Image", "a"}, {"StopSignal", "99999999999999999999"}}).find("invalid signal"),
            std::string::npos);
  EXPECT_NE(refused(json{{"Image", "a"}, {"WorkingDir", "tmp"}}).find("absolute path"), std::string::npos);
  EXPECT_NE(refused(json{{"Image", "a"}, {"Hostname", std::string(65, 'h')}}).find("hostname"),
            std::string::npos);
  EXPECT_NE(refused(json{{"Image", "a"}, {"Cmd", {std::string("a\0b", 3)}}}).find("NUL"), std::string::npos);
  EXPECT_NE(refused(json{{"Image", "a"}, {"HostConfig", json::array()}}).find("HostConfig must be an object"),
            std::string::npos);
  EXPECT_NE(refused(with_host({{"Memory", "lots"}})).find("HostConfig.Memory must be an integer"),
            std::string::npos);
  EXPECT_NE(refused(with_host({{"Memory", 1.5e12}})).find("HostConfig.Memory must be an integer"),
            std::string::npos);
  EXPECT_NE(refused(with_host({{"AutoRemove", "yes"}})).find("HostConfig.AutoRemove must be a boolean"),
            std::string::npos);
  EXPECT_NE(refused(with_host({{"NetworkMode", 7}})).find("HostConfig.NetworkMode must be a string"),
            std::string::npos);
  EXPECT_NE(refused(json{{"Image", "a"}}, "/-bad").find("Invalid container name"), std::string::npos);
  EXPECT_NE(refused(json{{"Image", "a"}}, std::string(129, 'n')).find("Invalid container name"),
            std::string::npos);
  EXPECT_NE(
      refused(json{{"Image", "a"}, {"Entrypoint", ""}, {"Cmd", json::array()}}).find("No command specified"),
      std::string::npos);
}

TEST(CreateSpec, AbsurdLimitsAreRefused) {
  EXPECT_NE(refused(with_host({{"Memory", -5}})).find("memory"), std::string::npos);
  EXPECT_NE(refused(with_host({{"Memory", 1}})).find("Minimum memory limit allowed is 6MB"),
            std::string::npos);
  EXPECT_NE(refused(with_host({{"Memory", 8 << 20}, {"MemorySwap", 1 << 20}})).find("memoryswap"),
            std::string::npos);
  EXPECT_NE(refused(with_host({{"MemorySwap", 64 << 20}})).find("Memory limit"), std::string::npos);
  EXPECT_NE(refused(with_host({{"MemorySwap", -2}})).find("swap"), std::string::npos);
  EXPECT_NE(refused(with_host({{"CpuShares", 99999999999LL}})).find("CpuShares"), std::string::npos);
  EXPECT_NE(refused(with_host({{"CpuShares", -1}})).find("CpuShares"), std::string::npos);
  EXPECT_NE(refused(with_host({{"NanoCpus", -1}})).find("Range of CPUs"), std::string::npos);
  EXPECT_NE(refused(with_host({{"NanoCpus", 1000}})).find("Range of CPUs"), std::string::npos)
      << "0.000001 CPU";
  EXPECT_NE(refused(with_host({{"NanoCpus", 2'000'000'000'000LL}})).find("Range of CPUs"), std::string::npos);
  EXPECT_NE(refused(with_host({{"NanoCpus", 500'000'000}, {"CpuQuota", 20000}})).find("Conflicting"),
            std::string::npos);
  EXPECT_NE(refused(with_host({{"CpuQuota", 5}})).find("quota"), std::string::npos);
  EXPECT_NE(refused(with_host({{"CpuPeriod", 50}})).find("period"), std::string::npos);
  EXPECT_NE(refused(with_host({{"PidsLimit", -7}})).find("PidsLimit"), std::string::npos);
  // 2^64-1 arrives as an unsigned number: refused, not wrapped into "unlimited".
  json huge = with_host(json::object());
  huge["HostConfig"]["Memory"] = std::numeric_limits<std::uint64_t>::max();
  EXPECT_NE(refused(huge).find("memory"), std::string::npos);
}

TEST(CreateSpec, BadRestartPolicyPortsAndLogOptions) {
  EXPECT_NE(
      refused(with_host({{"RestartPolicy", {{"Name", "sometimes"}}}})).find("unknown policy 'sometimes'"),
      std::string::npos);
  EXPECT_NE(refused(with_host({{"RestartPolicy", {{"Name", "always"}, {"MaximumRetryCount", 3}}}}))
                .find("on-failure"),
            std::string::npos);
  EXPECT_NE(
      refused(with_host({{"RestartPolicy", {{"Name", "always"}}}, {"AutoRemove", true}})).find("AutoRemove"),
      std::string::npos);
  EXPECT_NE(refused(with_host({{"RestartPolicy", "always"}})).find("RestartPolicy must be an object"),
            std::string::npos);
  EXPECT_NE(refused(with_host({{"NetworkMode", "nosuchnet"}})).find("network nosuchnet not found"),
            std::string::npos);
  EXPECT_NE(refused(with_host({{"PortBindings", {{"99999/tcp", {{{"HostPort", "80"}}}}}}})).find("99999/tcp"),
            std::string::npos);
  EXPECT_NE(refused(with_host({{"PortBindings", {{"80/sctp", json::array()}}}})).find("tcp or udp"),
            std::string::npos);
  EXPECT_NE(refused(with_host({{"PortBindings", {{"80/tcp", {{{"HostPort", "9-1"}}}}}}})).find("range"),
            std::string::npos);
  EXPECT_NE(refused(with_host({{"PortBindings", {{"80/tcp", {{{"HostIp", "::g"}}}}}}})).find("host IP"),
            std::string::npos);
  EXPECT_NE(refused(with_host({{"PortBindings", {{"80", "8080"}}}})).find("must be a list"),
            std::string::npos);
  EXPECT_NE(refused(json{{"Image", "a"}, {"ExposedPorts", {{"http", json::object()}}}}).find("invalid port"),
            std::string::npos);
  EXPECT_NE(refused(with_host({{"LogConfig", {{"Type", "syslog"}}}})).find("syslog"), std::string::npos);
  EXPECT_NE(refused(with_host({{"LogConfig", {{"Type", "local"}, {"Config", {{"max-size", "-1k"}}}}}}))
                .find("'-1k'"),
            std::string::npos);
  EXPECT_NE(refused(with_host({{"LogConfig", {{"Config", {{"max-size", "1125899906842624g"}}}}}}))
                .find("too large"),
            std::string::npos);
}

TEST(CreateSpec, BadMountsAreRefused) {
  EXPECT_NE(refused(with_host({{"Binds", {"/tmp:relative"}}})).find("relative"), std::string::npos);
  EXPECT_NE(refused(with_host({{"Binds", {"/a:/x", "/b:/x"}}})).find("Duplicate mount point: /x"),
            std::string::npos);
  EXPECT_NE(refused(with_host({{"Binds", "/a:/x"}})).find("HostConfig.Binds must be an array"),
            std::string::npos);
  EXPECT_NE(refused(with_host({{"Tmpfs", {{"/run", 5}}}})).find("Tmpfs"), std::string::npos);
  EXPECT_NE(refused(with_host({{"Mounts", {{{"Type", "npipe"}, {"Target", "/x"}}}}})).find("npipe"),
            std::string::npos);
  EXPECT_NE(refused(with_host({{"VolumesFrom", {"nosuch"}}})).find("No such container: nosuch"),
            std::string::npos);
}

TEST(CommitReference, ChecksRepoTagBodyAndChanges) {
  api::CommitRequest c;
  c.container = "x";
  EXPECT_EQ(commit_reference(c), "");
  c.repo = "example/snap";
  c.tag = "v1";
  c.changes = {"CMD [\"/bin/sh\"]", "ENV A=b"};
  EXPECT_EQ(commit_reference(c), "docker.io/example/snap:v1");
  auto refused_commit = [](api::CommitRequest r) -> std::string {
    try {
      (void)commit_reference(r);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kInvalid) << e.what();
      return e.what();
    }
    ADD_FAILURE() << "accepted";
    return "";
  };
  api::CommitRequest bad = c;
  bad.changes = {"RUN rm -rf /"};
  EXPECT_NE(refused_commit(bad).find("not supported"), std::string::npos);
  bad = c;
  bad.repo = "";
  EXPECT_NE(refused_commit(bad).find("needs a repository"), std::string::npos);
  bad = c;
  bad.repo = "a//b";
  EXPECT_FALSE(refused_commit(bad).empty());
  bad = c;
  bad.config = json::array();
  EXPECT_NE(refused_commit(bad).find("JSON object"), std::string::npos);
}

}  // namespace
}  // namespace bocker::daemon
