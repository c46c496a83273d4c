// docker events: what the engine did (container create/start/die/..., image pull/tag/delete),
// kept in memory (the last kKept events, for `since`) and streamed to GET /events.
// Loop thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "bocker/http/router.hpp"
#include "bocker/runtime/event.hpp"

namespace bocker::api {

struct Event {
  std::string type;    // "container", "image", "volume"
  std::string action;  // "create", "start", "die", "kill", "stop", "pause", "unpause", "rename", "destroy", "pull", "tag", "delete"
  std::string id;      // container id, or image reference / id
  std::map<std::string, std::string> attributes;  // name, image, exitCode, signal, oldName, ...
  std::int64_t time_ns = 0;                        // 0: now
};

class Events {
 public:
  static constexpr std::size_t kKept = 1024;

  void publish(Event e);
  // Docker's message for `e`: {"status","id","from","Type","Action","Actor":{ID,Attributes},"scope","time","timeNano"}.
  static nlohmann::json message(const Event& e);
  const std::deque<Event>& recent() const noexcept { return recent_; }
  std::uint64_t published() const noexcept { return published_; }  // ever, including dropped ones
  rt::Notifier& arrived() noexcept { return arrived_; }

 private:
  std::deque<Event> recent_;
  std::uint64_t published_ = 0;
  rt::Notifier arrived_;
};

// Whether `e` passes Docker's event filters (type, event, container, image, label); throws
// invalid() for another filter name.
bool event_matches(const Event& e, const nlohmann::json& filters);

// GET /events?since=&until=&filters=: the kept events since `since`, then new ones as they
// happen, until `until` (or the client leaves).
void add_event_routes(http::Router& r, Events& events);

}  // namespace bocker::api
