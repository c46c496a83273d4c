// Internal: one factory per verb, each in its own cmd_<verb>.cpp. To add a verb, write
// cmd_<verb>.cpp with `Command <verb>_command()`, declare it here and list it in command.cpp's table.
#pragma once

#include "bocker/cli/command.hpp"

namespace bocker::cli {

Command image_command();
Command images_command();
Command import_command();
Command info_command();
Command init_command();
Command pull_command();
Command rmi_command();
Command tag_command();
Command version_command();

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
