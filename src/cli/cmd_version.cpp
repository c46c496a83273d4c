// bocker version: the client's build and the daemon's GET /version, laid out like `docker version`.
#include <sys/utsname.h>

#include <exception>

#include "bocker/build_info.hpp"
#include "bocker/cli/format.hpp"
#include "commands.hpp"

namespace bocker::cli {
namespace {

std::string go_arch(const std::string& machine) {
  if (machine == "x86_64") return "amd64";
  if (machine == "aarch64") return "arm64";
  if (machine == "i686" || machine == "i386") return "386";
  return machine;
}

std::string compiler() {
#if defined(__clang__)
  return "clang " __clang_version__;
#elif defined(__GNUC__)
  return "gcc " __VERSION__;
#else
  return "unknown";
#endif
}

nlohmann::json client_info(const std::string& api, const std::string& downgraded_from) {
  utsname u{};
  ::uname(&u);
  nlohmann::json j = {{"Version", build::kVersion},
                      {"ApiVersion", api},
                      {"DefaultAPIVersion", std::string(kClientApiVersion)},
                      {"GitCommit", build::kGitCommit},
                      {"BuildTime", build::kBuildTime},
                      {"Compiler", compiler()},
                      {"Os", "linux"},
                      {"Arch", go_arch(u.machine)}};
  if (!downgraded_from.empty()) j["DowngradedFrom"] = downgraded_from;
  return j;
}

void print_row(std::string& s, const std::string& indent, const std::string& key, const std::string& value,
               size_t width) {
  s += indent + key + ":" + std::string(width > key.size() ? width - key.size() : 1, ' ') + value + "\n";
}

std::string client_section(const nlohmann::json& c) {
  std::string s = "Client:\n";
  std::string api = json_str(c, "ApiVersion");
  if (c.contains("DowngradedFrom")) api += " (downgraded from " + json_str(c, "DowngradedFrom") + ")";
  print_row(s, " ", "Version", json_str(c, "Version"), 18);
  print_row(s, " ", "API version", api, 18);
  print_row(s, " ", "C++ compiler", json_str(c, "Compiler"), 18);
  print_row(s, " ", "Git commit", json_str(c, "GitCommit"), 18);
  print_row(s, " ", "Built", json_str(c, "BuildTime"), 18);
  print_row(s, " ", "OS/Arch", json_str(c, "Os") + "/" + json_str(c, "Arch"), 18);
  return s;
}

std::string server_section(const nlohmann::json& v) {
  std::string name = "bocker Engine";
  if (v.contains("Platform") && v["Platform"].is_object()) name = json_str(v["Platform"], "Name", name);
  std::string s = "Server: " + name + "\n Engine:\n";
  std::string api = json_str(v, "ApiVersion", "n/a");
  if (v.contains("MinAPIVersion")) api += " (minimum version " + json_str(v, "MinAPIVersion") + ")";
  print_row(s, "  ", "Version", json_str(v, "Version", "n/a"), 17);
  print_row(s, "  ", "API version", api, 17);
  print_row(s, "  ", "Go version", json_str(v, "GoVersion", "n/a"), 17);
  print_row(s, "  ", "Git commit", json_str(v, "GitCommit", "n/a"), 17);
  print_row(s, "  ", "Built", json_str(v, "BuildTime", "n/a"), 17);
  print_row(s, "  ", "OS/Arch", json_str(v, "Os", "n/a") + "/" + json_str(v, "Arch", "n/a"), 17);
  print_row(s, "  ", "Kernel", json_str(v, "KernelVersion", "n/a"), 17);
  print_row(s, "  ", "Experimental", json_str(v, "Experimental", "false"), 17);
  return s;
}

int run_version(Context& ctx) {
  std::string format = ctx.flags.get_string("format");
  // Like docker, the client section shows even when the daemon is away: connect first, print
  // the client with the negotiated version, then report a connection failure.
  Client* c = nullptr;
  std::exception_ptr failure;
  try {
    c = &ctx.client();
    c->negotiate();  // the client section shows the negotiated version
  } catch (...) {
    failure = std::current_exception();
  }
  std::string api = c != nullptr ? c->api_version() : std::string(kClientApiVersion);
  std::string downgraded = api != kClientApiVersion ? std::string(kClientApiVersion) : std::string();
  nlohmann::json client = client_info(api, downgraded);
  if (format.empty()) {
    ctx.out << client_section(client) << std::flush;
    if (failure) std::rethrow_exception(failure);
    nlohmann::json server = c->get_json("/version");
    ctx.out << "\n" << server_section(server);
    return 0;
  }
  nlohmann::json all = {{"Client", client}, {"Server", nullptr}};
  if (!failure) {
    try {
      all["Server"] = c->get_json("/version");
    } catch (...) {
      failure = std::current_exception();
    }
  }
  std::string out;
  print_formatted(format, all, out);
  ctx.out << out << std::flush;
  if (failure) std::rethrow_exception(failure);
  return 0;
}

}  // namespace

Command version_command() {
  return Command{.name = "version",
                 .summary = "Show the bocker version information",
                 .usage = "[OPTIONS]",
                 .flags = {format_flag()},
                 .max_args = 0,
                 .handler = run_version};
}

}  // namespace bocker::cli
