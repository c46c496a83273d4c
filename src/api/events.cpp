// docker events. See events.hpp.
#include "bocker/api/events.hpp"

#include <chrono>
#include <string>
#include <vector>

#include "bocker/api/filters.hpp"
#include "bocker/http/server.hpp"
#include "bocker/runtime/error.hpp"
#include "bocker/runtime/scope.hpp"
#include "query.hpp"

namespace bocker::api {

using nlohmann::json;

namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

rt::Task<void> wait_arrival(rt::Notifier& n) { co_await n.wait(); }

}  // namespace

void Events::publish(Event e) {
  if (e.time_ns == 0) e.time_ns = now_ns();
  recent_.push_back(std::move(e));
  if (recent_.size() > kKept) recent_.pop_front();
  ++published_;
  arrived_.notify_all();
}

json Events::message(const Event& e) {
  json attrs = json::object();
  for (const auto& [k, v] : e.attributes) attrs[k] = v;
  json m = {{"Type", e.type},
            {"Action", e.action},
            {"Actor", {{"ID", e.id}, {"Attributes", attrs}}},
            {"scope", "local"},
            {"time", e.time_ns / 1'000'000'000},
            {"timeNano", e.time_ns}};
  if (e.type == "container") {  // the fields of the old message format the CLI still reads
    m["status"] = e.action;
    m["id"] = e.id;
    if (auto it = e.attributes.find("image"); it != e.attributes.end()) m["from"] = it->second;
  }
  return m;
}

bool event_matches(const Event& e, const json& filters) {
  if (!filters.is_object()) return true;
  for (auto it = filters.begin(); it != filters.end(); ++it) {
    std::vector<std::string> vals = filter_values(it.value());
    if (vals.empty()) continue;
    const std::string& key = it.key();
    bool any = false;
    for (const std::string& v : vals) {
      auto attr = [&e](const char* k) {
        auto a = e.attributes.find(k);
        return a == e.attributes.end() ? std::string() : a->second;
      };
      if (key == "type") {
        any = any || e.type == v;
      } else if (key == "event") {
        any = any || e.action == v;
      } else if (key == "container") {
        any = any || (e.type == "container" && (e.id == v || e.id.rfind(v, 0) == 0 || attr("name") == v));
      } else if (key == "image") {
        any = any || attr("image") == v || (e.type == "image" && (e.id == v || attr("name") == v));
      } else if (key == "label") {
        auto eq = v.find('=');
        auto a = e.attributes.find(v.substr(0, eq));
        any = any || (a != e.attributes.end() && (eq == std::string::npos || a->second == v.substr(eq + 1)));
      } else {
        throw invalid("invalid filter '" + key + "'");
      }
    }
    if (!any) return false;
  }
  return true;
}

void add_event_routes(http::Router& r, Events& events) {
  r.get("/events", [&events](http::Request& req, http::ResponseWriter& w) -> rt::Task<void> {
    return [](Events& ev, http::Request& q, http::ResponseWriter& out) -> rt::Task<void> {
      auto since = static_cast<std::int64_t>(seconds_query(q, "since") * 1e9);
      auto until = static_cast<std::int64_t>(seconds_query(q, "until") * 1e9);
      json filters = filters_query(q);
      event_matches(Event{}, filters);  // an unknown filter is a 400 before the stream starts
      http::Headers h;
      h.add("Content-Type", "application/json");
      co_await out.begin_stream(200, std::move(h));
      // A copy: publish() may change the deque while a write below is suspended.
      std::vector<Event> kept = since != 0 ? std::vector<Event>(ev.recent().begin(), ev.recent().end()) : std::vector<Event>{};
      std::uint64_t seen = ev.published();
      try {
        if (since != 0) {  // the kept ones first
          for (const Event& e : kept) {
            if (e.time_ns < since || (until != 0 && e.time_ns > until) || !event_matches(e, filters)) continue;
            co_await out.write(Events::message(e).dump() + "\n");
          }
        }
        while (until == 0 || now_ns() < until) {
          if (until == 0) {
            co_await ev.arrived().wait();
          } else {
            try {
              co_await rt::with_timeout(wait_arrival(ev.arrived()), std::chrono::nanoseconds(until - now_ns()));
            } catch (const Error& e) {
              if (e.kind() != Error::Kind::kTimeout) throw;
              break;
            }
          }
          // The new ones, in order (those beyond the kept window are gone).
          std::uint64_t fresh = ev.published() - seen;
          seen = ev.published();
          const auto& now_kept = ev.recent();
          std::size_t from = fresh >= now_kept.size() ? 0 : now_kept.size() - static_cast<std::size_t>(fresh);
          std::vector<Event> batch(now_kept.begin() + static_cast<long>(from), now_kept.end());
          for (const Event& e : batch) {
            if (until != 0 && e.time_ns > until) continue;
            if (event_matches(e, filters)) co_await out.write(Events::message(e).dump() + "\n");
          }
        }
      } catch (const std::exception&) {
        co_return;  // the client went away, or the daemon is stopping
      }
      co_await out.end();
    }(events, req, w);
  });
}

}  // namespace bocker::api
