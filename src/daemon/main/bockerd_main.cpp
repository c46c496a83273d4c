// bockerd: the bocker engine.
#include <signal.h>

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "bocker/build_info.hpp"
#include "bocker/daemon/config.hpp"
#include "bocker/daemon/daemon.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/loop.hpp"
#include "bocker/runtime/process.hpp"
#include "../fd_keeper.hpp"

int main(int argc, char** argv) {
  using namespace bocker;
  // The fd keeper (src/daemon/fd_keeper.hpp): started by bockerd itself, never by hand.
  if (argc == 2 && std::string(argv[1]) == "--fd-keeper") return daemon::fd_keeper_main();
  daemon::Config cfg;
  try {
    cfg = daemon::parse_args(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 125;
  }
  if (cfg.help) {
    std::fputs(daemon::usage().c_str(), stdout);
    return 0;
  }
  if (cfg.version) {
    std::printf("bockerd version %s, build %s\n", build::kVersion, build::kGitCommit);
    return 0;
  }
  ::signal(SIGPIPE, SIG_IGN);
  try {
    // Block the signals before any thread starts so every thread inherits the mask.
    rt::SignalSet signals{SIGTERM, SIGINT};
    daemon::Daemon d(cfg);
    rt::Loop loop({.entries = 4096, .workers = cfg.workers});
    loop.run(d.run(signals));
    return 0;
  } catch (const std::exception& e) {
    daemon::log_line(std::string("fatal: ") + e.what());
    return 1;
  }
}
