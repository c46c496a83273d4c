#include "bocker/cli/host.hpp"

#include <charconv>

#include "bocker/runtime/error.hpp"

namespace bocker::cli {

std::string Host::base_url() const {
  if (is_unix()) return "http://localhost";
  if (host.find(':') != std::string::npos) return "http://[" + host + "]:" + std::to_string(port);
  return "http://" + host + ":" + std::to_string(port);
}

Host parse_host(std::string_view uri) {
  auto bad = [&](const std::string& why) {
    return invalid("invalid daemon host \"" + std::string(uri) + "\": " + why +
                   " (want unix:///path/to.sock or tcp://host:port)");
  };
  Host h;
  if (uri.starts_with("unix://")) {
    std::string_view path = uri.substr(7);
    if (path.empty() || path.front() != '/') throw bad("the socket path must be absolute");
    h.kind = Host::Kind::kUnix;
    h.path = std::string(path);
    h.uri = "unix://" + h.path;
    return h;
  }
  if (uri.starts_with("tcp://")) {
    std::string_view rest = uri.substr(6);
    while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (rest.empty()) throw bad("no host name");
    std::string_view name = rest;
    std::string_view port;
    if (rest.front() == '[') {
      auto close = rest.find(']');
      if (close == std::string_view::npos) throw bad("unterminated [ in IPv6 address");
      name = rest.substr(1, close - 1);
      std::string_view after = rest.substr(close + 1);
      if (!after.empty()) {
        if (after.front() != ':') throw bad("junk after ]");
        port = after.substr(1);
      }
    } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
      name = rest.substr(0, colon);
      port = rest.substr(colon + 1);
    }
    if (name.empty()) throw bad("no host name");
    if (name.find('/') != std::string_view::npos) throw bad("a tcp host takes no path");
    h.kind = Host::Kind::kTcp;
    h.host = std::string(name);
    h.port = 2375;
    if (!port.empty()) {
      int p = 0;
      auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
      if (ec != std::errc() || end != port.data() + port.size() || p <= 0 || p > 65535) {
        throw bad("bad port \"" + std::string(port) + "\"");
      }
      h.port = p;
    }
    bool v6 = h.host.find(':') != std::string::npos;
    h.uri = "tcp://" + (v6 ? "[" + h.host + "]" : h.host) + ":" + std::to_string(h.port);
    return h;
  }
  throw bad("unknown scheme");
}

Host select_host(std::string_view flag_value, const Env& env) {
  if (!flag_value.empty()) return parse_host(flag_value);
  std::string from_env = env.get_or("BOCKER_HOST", "");
  if (!from_env.empty()) return parse_host(from_env);
  return parse_host(kDefaultHost);
}

}  // namespace bocker::cli
