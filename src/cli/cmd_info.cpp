// bocker info: the daemon's GET /info, laid out like the Server section of `docker info`.
#include "bocker/build_info.hpp"
#include "bocker/cli/format.hpp"
#include "commands.hpp"

namespace bocker::cli {
namespace {

void row(std::string& s, const std::string& indent, const std::string& key, const std::string& value) {
  s += indent + key + ": " + value + "\n";
}

std::string num(const nlohmann::json& j, const char* key) { return json_str(j, key, "0"); }

std::string server_section(const nlohmann::json& i) {
  std::string s = "Server:\n";
  row(s, " ", "Containers", num(i, "Containers"));
  row(s, "  ", "Running", num(i, "ContainersRunning"));
  row(s, "  ", "Paused", num(i, "ContainersPaused"));
  row(s, "  ", "Stopped", num(i, "ContainersStopped"));
  row(s, " ", "Images", num(i, "Images"));
  row(s, " ", "Server Version", json_str(i, "ServerVersion"));
  row(s, " ", "Storage Driver", json_str(i, "Driver"));
  if (auto it = i.find("DriverStatus"); it != i.end() && it->is_array()) {
    for (const auto& pair : *it) {
      if (pair.is_array() && pair.size() == 2 && pair[0].is_string() && pair[1].is_string()) {
        row(s, "  ", pair[0].get<std::string>(), pair[1].get<std::string>());
      }
    }
  }
  if (i.contains("LoggingDriver")) row(s, " ", "Logging Driver", json_str(i, "LoggingDriver"));
  row(s, " ", "Cgroup Driver", json_str(i, "CgroupDriver"));
  row(s, " ", "Cgroup Version", json_str(i, "CgroupVersion"));
  row(s, " ", "Kernel Version", json_str(i, "KernelVersion"));
  row(s, " ", "Operating System", json_str(i, "OperatingSystem"));
  row(s, " ", "OSType", json_str(i, "OSType", "linux"));
  row(s, " ", "Architecture", json_str(i, "Architecture"));
  row(s, " ", "CPUs", num(i, "NCPU"));
  double mem = 0;
  if (auto it = i.find("MemTotal"); it != i.end() && it->is_number()) mem = it->get<double>();
  row(s, " ", "Total Memory", human_bytes(mem));
  row(s, " ", "Name", json_str(i, "Name"));
  row(s, " ", "ID", json_str(i, "ID"));
  row(s, " ", "Docker Root Dir", json_str(i, "DockerRootDir"));
  row(s, " ", "Debug Mode", json_str(i, "Debug", "false"));
  row(s, " ", "Experimental", json_str(i, "ExperimentalBuild", "false"));
  row(s, " ", "Live Restore Enabled", json_str(i, "LiveRestoreEnabled", "false"));
  return s;
}

int run_info(Context& ctx) {
  std::string format = ctx.flags.get_string("format");
  if (format.empty()) {
    ctx.out << "Client:\n Version:    " << build::kVersion << "\n Context:    default\n Debug Mode: false\n\n"
            << std::flush;
  }
  nlohmann::json info = ctx.client().get_json("/info");
  std::string out;
  if (print_formatted(format, info, out)) {
    ctx.out << out;
    return 0;
  }
  ctx.out << server_section(info);
  if (auto it = info.find("Warnings"); it != info.end() && it->is_array()) {
    for (const auto& w : *it) {
      if (w.is_string()) ctx.err << w.get<std::string>() << "\n";
    }
  }
  return 0;
}

}  // namespace

Command info_command() {
  return Command{.name = "info",
                 .summary = "Display system-wide information",
                 .usage = "[OPTIONS]",
                 .flags = {format_flag()},
                 .max_args = 0,
                 .handler = run_info};
}

}  // namespace bocker::cli
