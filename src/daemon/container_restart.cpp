// Restart policies (HostConfig.RestartPolicy): no, on-failure[:N], always, unless-stopped.
// After an exit the supervisor asks restart_by_policy(); a restart waits out Docker's backoff
// (100 ms doubling to at most 1 min, back to 100 ms after a run of 10 s or more) with the
// container in state "restarting". A stop or kill through the API (manual_stop) ends it and
// prevents further restarts. At daemon start `always` and (not manually stopped) `unless-stopped`
// containers are started again.
#include <algorithm>
#include <chrono>

#include "bocker/daemon/container_service.hpp"
#include "bocker/daemon/daemon.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/scope.hpp"
#include "container_record.hpp"

namespace bocker::daemon {

namespace {

constexpr std::int64_t kFirstDelayMs = 100;
constexpr std::int64_t kMaxDelayMs = 60'000;
constexpr std::int64_t kResetAfterNs = 10'000'000'000;

struct Policy {
  std::string name = "no";
  std::int64_t max_retries = 0;
};

Policy policy_of(const json& hc) {
  Policy p;
  if (!hc.is_object() || !hc.contains("RestartPolicy") || hc["RestartPolicy"].is_null()) return p;
  const json& rp = hc["RestartPolicy"];
  if (!rp.is_object()) throw invalid("HostConfig.RestartPolicy must be an object");
  if (rp.contains("Name") && !rp["Name"].is_null()) {
    if (!rp["Name"].is_string()) throw invalid("HostConfig.RestartPolicy.Name must be a string");
    p.name = rp["Name"].get<std::string>();
  }
  if (p.name.empty()) p.name = "no";
  if (rp.contains("MaximumRetryCount") && !rp["MaximumRetryCount"].is_null()) {
    if (!rp["MaximumRetryCount"].is_number_integer()) {
      throw invalid("HostConfig.RestartPolicy.MaximumRetryCount must be an integer");
    }
    p.max_retries = rp["MaximumRetryCount"].get<std::int64_t>();
  }
  return p;
}

}  // namespace

void validate_restart_policy(const json& host_config) {
  Policy p = policy_of(host_config);
  if (p.name != "no" && p.name != "always" && p.name != "unless-stopped" && p.name != "on-failure") {
    throw invalid("invalid restart policy: unknown policy '" + p.name +
                  "'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'");
  }
  if (p.max_retries < 0) throw invalid("invalid restart policy: maximum retry count can't be negative");
  if (p.max_retries != 0 && p.name != "on-failure") {
    throw invalid("invalid restart policy: maximum retry count can only be used with 'on-failure'");
  }
  if (p.name != "no" && host_config.value("AutoRemove", false)) {
    throw invalid("can't create 'AutoRemove' container with restart policy");
  }
}

rt::Task<bool> ContainerService::restart_by_policy(Container& c) {
  Policy p;
  try {
    p = policy_of(c.host_config);
  } catch (const Error&) {
    co_return false;  // a record from before validation: no policy
  }
  if (p.name == "no" || c.manual_stop || c.gone || c.status != "exited") co_return false;
  if (c.host_config.value("AutoRemove", false)) co_return false;
  if (p.name == "on-failure" && (c.exit_code == 0 || (p.max_retries > 0 && c.restart_count >= p.max_retries))) {
    co_return false;
  }
  // Backoff: doubles on quick exits, starts over after a run of 10 s or more.
  if (c.restart_delay_ms == 0 || c.finished_ns - c.started_ns >= kResetAfterNs) {
    c.restart_delay_ms = kFirstDelayMs;
  } else {
    c.restart_delay_ms = std::min(c.restart_delay_ms * 2, kMaxDelayMs);
  }
  c.status = "restarting";
  co_await save(c);
  const std::string id = c.id;
  const Container* self = &c;
  auto wake = [](Container& k) -> rt::Task<void> { co_await k.restart_wake.wait(); };
  try {
    co_await rt::with_timeout(wake(c), std::chrono::milliseconds(c.restart_delay_ms));
  } catch (const Error& e) {
    // kTimeout: the backoff is over. kCancelled: the daemon is shutting down (the record is
    // saved as "restarting"; the next daemon's start treats it as exited).
    if (e.kind() != Error::Kind::kTimeout) co_return true;
  }
  // Woken: a manual stop, a start by the user, or the container was removed meanwhile: its record
  // may be freed already, so look it up by id before touching `c`.
  if (auto it = by_id_.find(id); it == by_id_.end() || it->second.get() != self) co_return true;
  if (c.gone || c.status != "restarting") co_return true;
  if (c.manual_stop) {
    c.status = "exited";
    co_await save(c);
    c.exited.notify_all();
    co_return true;
  }
  ++c.restart_count;
  try {
    co_await start(c.id);
  } catch (const std::exception& e) {
    log_line("container " + c.id.substr(0, 12) + ": restart: " + e.what());
  }
  co_return true;
}

void ContainerService::restart_on_daemon_start() {
  std::vector<std::string> ids;
  for (const auto& [id, c] : by_id_) {
    if (c->running() || c->status == "removing" || c->status == "created") continue;  // never started: stays
    Policy p;
    try {
      p = policy_of(c->host_config);
    } catch (const Error&) {
      continue;
    }
    if (p.name == "always" || (p.name == "unless-stopped" && !c->manual_stop)) ids.push_back(id);
  }
  for (const auto& id : ids) {
    supervisors_.spawn([](ContainerService& self, std::string cid) -> rt::Task<void> {
      try {
        if (self.by_id_.count(cid) == 0) co_return;
        Container& k = *self.by_id_.at(cid);
        if (k.status == "restarting") k.status = "exited";
        co_await self.start(cid);
        log_line("container " + cid.substr(0, 12) + ": started by its restart policy");
      } catch (const std::exception& e) {
        log_line("container " + cid.substr(0, 12) + ": restart at daemon start: " + e.what());
      }
    }(*this, id));
  }
}

}  // namespace bocker::daemon
