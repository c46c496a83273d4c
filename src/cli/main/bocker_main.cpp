// The `bocker` command: everything lives in bocker_cli; this only hands over argv.
#include <iostream>
#include <string>
#include <vector>

#include "bocker/cli/command.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  bocker::cli::Env env = bocker::cli::Env::process();
  int rc = bocker::cli::run(args, std::cout, std::cerr, env);
  std::cout.flush();
  return rc;
}
