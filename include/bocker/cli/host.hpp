// Which daemon the CLI talks to: `-H/--host`, else $BOCKER_HOST, else unix:///run/bocker.sock.
#pragma once

#include <string>
#include <string_view>

#include "bocker/cli/env.hpp"

namespace bocker::cli {

inline constexpr std::string_view kDefaultHost = "unix:///run/bocker.sock";

// A parsed daemon address: `unix:///abs/path` or `tcp://host:port`.
struct Host {
  enum class Kind { kUnix, kTcp };
  Kind kind = Kind::kUnix;
  std::string path;  // kUnix: socket path
  std::string host;  // kTcp: host name or address (IPv6 without brackets)
  int port = 0;      // kTcp
  std::string uri;   // canonical form, e.g. "unix:///run/bocker.sock", "tcp://127.0.0.1:2375"

  bool is_unix() const noexcept { return kind == Kind::kUnix; }
  // Base URL: "http://localhost" for unix sockets, "http://host:port" for tcp.
  std::string base_url() const;
};

// Parses a host URI. Accepts `unix:///path`, `unix://path` is rejected (path must be absolute),
// `tcp://host:port`, `tcp://[v6]:port`; `tcp://host` defaults to port 2375.
// Throws bocker::Error(kInvalid) naming the bad value.
Host parse_host(std::string_view uri);

// The host to use: `flag_value` when non-empty, else $BOCKER_HOST when non-empty, else kDefaultHost.
Host select_host(std::string_view flag_value, const Env& env);

}  // namespace bocker::cli
