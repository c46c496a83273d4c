// Feeds arbitrary bytes to the container routes' body parsers, the code the daemon runs before it
// changes anything. The first byte picks the route: 0 create (api::parse_create_body, then the
// daemon's daemon::parse_create against an alpine-like image), 1 exec create, 2 commit (the first
// line is the query string, the rest the body). With the high bit set, a create's first line is
// its ?name=. Bad input must fail with Error(kInvalid) only (a 400); an accepted request must give
// a record that start/stop/inspect can read back without a type error, and limits in docker's ranges.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "bocker/api/bodies.hpp"
#include "bocker/daemon/create_spec.hpp"
#include "bocker/http/url.hpp"
#include "bocker/runtime/error.hpp"

namespace {

using nlohmann::json;

void check(bool ok) {
  if (!ok) std::abort();
}

const bocker::registry::ImageConfig& image() {
  static const bocker::registry::ImageConfig img = [] {
    bocker::registry::ImageConfig c;
    c.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
    c.cmd = {"/bin/sh"};
    c.volumes = {"/data"};
    return c;
  }();
  return img;
}

std::vector<bocker::volume::MountPoint> mounts_of(const std::string& name) {
  if (name != "donor") throw bocker::invalid("No such container: " + name + " (in HostConfig.VolumesFrom)");
  bocker::volume::MountPoint m;
  m.type = "volume";
  m.name = "shared";
  m.destination = "/shared";
  m.mode = "rw";
  return {m};
}

void fuzz_create(std::string_view in, bool with_name) {
  std::string name;
  if (with_name) {
    std::size_t nl = in.find('\n');
    name = std::string(in.substr(0, nl));
    in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
  }
  json body = bocker::api::parse_create_body(in);
  bocker::daemon::CreateSpec s = bocker::daemon::parse_create(body, name, image(), mounts_of);
  // What the daemon does with an accepted spec must not throw.
  check(!s.argv.empty() && !s.argv[0].empty());
  check(!s.image.empty());
  check(s.name == bocker::daemon::create_name(s.name));
  check(s.config.is_object() && s.host_config.is_object());
  (void)s.config.dump();
  (void)s.host_config.dump();
  (void)s.config.value("Env", std::vector<std::string>{});
  (void)s.config.value("Cmd", std::vector<std::string>{});
  (void)s.config.value("WorkingDir", "");
  (void)s.config.value("User", "");
  (void)s.config.value("Hostname", "");
  (void)s.config.value("StopSignal", "");
  (void)s.config.value("StopTimeout", 10);
  (void)s.config.value("Tty", false);
  (void)s.config.value("OpenStdin", false);
  (void)s.host_config.value("NetworkMode", "default");
  (void)s.host_config.value("AutoRemove", false);
  check(s.network_mode == "default" || s.network_mode == "bridge" || s.network_mode == "none" ||
        s.network_mode == "host");
  bocker::cgroup::validate(s.limits);
  for (const auto& m : s.mounts) {
    check(!m.destination.empty() && m.destination[0] == '/');
    check(m.type == "bind" || m.type == "volume" || m.type == "tmpfs");
    (void)bocker::volume::MountPoint::from_json(m.to_json());
  }
  (void)bocker::volume::spawn_mounts(s.mounts);
}

void fuzz_exec(std::string_view in) {
  bocker::api::ExecCreateRequest e = bocker::api::parse_exec_create(in);
  check(!e.cmd.empty() && !e.cmd[0].empty());
  for (const auto& v : e.env) check(v.find('=') != std::string::npos);
}

void fuzz_commit(std::string_view in) {
  std::size_t nl = in.find('\n');
  std::string_view query = in.substr(0, nl);
  auto pairs = bocker::http::parse_query(query);
  if (!pairs) return;  // the HTTP parser answers 400 before the route
  bocker::http::Request req;
  req.method = "POST";
  req.query_list = *pairs;
  for (const auto& [k, v] : *pairs) req.query[k] = v;
  req.body = nl == std::string_view::npos ? std::string{} : std::string(in.substr(nl + 1));
  bocker::api::CommitRequest c = bocker::api::parse_commit(req);
  check(!c.container.empty());
  std::string ref = bocker::daemon::commit_reference(c);
  check(c.repo.empty() == ref.empty());
  (void)c.config.dump();
  json history = {{"comment", c.comment}, {"author", c.author}, {"changes", c.changes}, {"ref", ref}};
  (void)history.dump();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    switch ((data[0] & 0x7f) % 3) {
      case 0:
        fuzz_create(in, (data[0] & 0x80) != 0);
        break;
      case 1:
        fuzz_exec(in);
        break;
      default:
        fuzz_commit(in);
        break;
    }
  } catch (const bocker::Error& e) {
    check(e.kind() == bocker::Error::Kind::kInvalid);  // a 400; anything else is a 404/409/500
  }
  return 0;
}
