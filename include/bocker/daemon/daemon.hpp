// bockerd: the engine process. Owns the root lock, the API and metrics listeners, and every
// subsystem; runs on one io_uring loop until SIGTERM/SIGINT.
#pragma once

#include <memory>

#include "bocker/daemon/config.hpp"
#include "bocker/runtime/process.hpp"
#include "bocker/runtime/task.hpp"

namespace bocker::daemon {

class Daemon {
 public:
  // Blocking setup before the loop runs: root lock, engine id, host facts.
  explicit Daemon(Config cfg);
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;
  ~Daemon();

  // Listens, serves until a signal from `signals` arrives, then shuts down cleanly.
  rt::Task<void> run(rt::SignalSet& signals);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// stderr diagnostics with a UTC timestamp: "2026-11-28T09:00:00.123Z bockerd: msg".
void log_line(std::string_view msg);

}  // namespace bocker::daemon
