// Internal: one factory per verb, each in its own cmd_<verb>.cpp. To add a verb, write
// cmd_<verb>.cpp with `Command <verb>_command()`, declare it here and list it in command.cpp's table.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>

#include "bocker/cli/command.hpp"

namespace bocker::cli {

Command commit_command();
Command container_command();
Command create_command();
Command exec_command();
Command image_command();
Command images_command();
Command import_command();
Command info_command();
Command inspect_command();
Command kill_command();
Command logs_command();
Command pause_command();
Command prune_command();  // container prune
Command rename_command();
Command top_command();
Command unpause_command();
Command port_command();
Command ps_command();
Command restart_command();
Command rm_command();
Command run_command();
Command start_command();
Command stats_command();
Command stop_command();
Command volume_command();
Command wait_command();
Command init_command();
Command pull_command();
Command rmi_command();
Command tag_command();
Command version_command();

// Pulls `text` (NAME[:TAG|@DIGEST]) rendering the progress to `out`; returns the canonical
// reference. A pull error reported in the stream is left in `error`; DaemonError is thrown.
std::string pull_image(Context& ctx, const std::string& text, const std::string& platform, std::ostream& out,
                       bool tty, std::string& error);

// Container helpers shared by run, create, start, exec and friends (cmd_containers.cpp).
// Sends each request of `per_container` for every argument, printing the argument on success and
// "Error response from daemon: ..." for a failure; exit 1 if any failed.
int for_each_container(Context& ctx, const std::function<void(const std::string& id)>& per_container);
// GET /containers/{name}/json; throws DaemonError (404 "No such container: name").
nlohmann::json inspect_container(Context& ctx, const std::string& name);

// Attaches to `id` (stdout/stderr, stdin when `with_stdin`), sets up the wait (condition
// `wait_condition`), starts it when `start`, copies the streams until the daemon closes them and
// returns the container's exit code. `tty` selects the raw stream and puts the terminal in raw
// mode. Throws DaemonError when a request fails.
int attach_start_wait(Context& ctx, const std::string& id, bool tty, bool with_stdin,
                      const std::string& wait_condition, bool start);

// The `--format` flag shared by commands that print one object.
FlagSpec format_flag();

// An import (POST /images/create?fromSrc=...), shared by `import` and `init`.
struct ImportQuery {
  std::string from_src = "-";  // "-": the body is the tarball
  std::string repository;      // REPOSITORY[:TAG], may be empty
  std::string message;
  std::vector<std::string> changes;
  std::string platform;
};
struct ImportResult {
  std::string id;     // "sha256:..."
  std::string error;  // what the daemon's stream reported, when it failed
};
// Sends the import with `body` (empty for a URL source) streamed as the request body. Throws
// DaemonError for an error status, and whatever `body` throws.
ImportResult import_image(Context& ctx, const ImportQuery& q,
                          std::function<std::size_t(char*, std::size_t)> body);
// Prints the id (exit 0) or the error on stderr (exit 1).
int print_import(Context& ctx, const ImportResult& r);

}  // namespace bocker::cli
