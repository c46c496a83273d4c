// Internal: one factory per verb, each in its own cmd_<verb>.cpp. To add a verb, write
// cmd_<verb>.cpp with `Command <verb>_command()`, declare it here and list it in command.cpp's table.
#pragma once

#include "bocker/cli/command.hpp"

namespace bocker::cli {

Command info_command();
Command version_command();

// The `--format` flag shared by commands that print one object.
FlagSpec format_flag();

}  // namespace bocker::cli
