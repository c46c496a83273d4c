// Container route bodies parsed without side effects (see bodies.hpp).
#include "bocker/api/bodies.hpp"

#include <string>
#include <vector>

#include "bocker/runtime/error.hpp"

namespace bocker::api {

namespace {

using nlohmann::json;

bool present(const json& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

void no_nul(const std::string& s, const std::string& what) {
  if (s.find('\0') != std::string::npos) throw invalid(what + " must not contain a NUL byte");
}

std::vector<std::string> json_strings(const json& body, const char* key) {
  std::vector<std::string> out;
  if (!present(body, key)) return out;
  const json& v = body[key];
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
  } else {
    if (!v.is_array()) throw invalid(std::string(key) + " must be an array of strings");
    for (const auto& e : v) {
      if (!e.is_string()) throw invalid(std::string(key) + " must be an array of strings");
      out.push_back(e.get<std::string>());
    }
  }
  for (const auto& s : out) no_nul(s, key);
  return out;
}

bool json_bool(const json& body, const char* key, bool fallback) {
  if (!present(body, key)) return fallback;
  if (!body[key].is_boolean()) throw invalid(std::string(key) + " must be a boolean");
  return body[key].get<bool>();
}

std::string json_string(const json& body, const char* key) {
  if (!present(body, key)) return {};
  if (!body[key].is_string()) throw invalid(std::string(key) + " must be a string");
  std::string s = body[key].get<std::string>();
  no_nul(s, key);
  return s;
}

// Query values go into JSON documents (the image config, its history): they must be UTF-8.
std::string utf8(std::string s, const char* what) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = n != 0 && i + n <= s.size() && (n != 2 || c >= 0xc2) && (n != 4 || c <= 0xf4);
    for (std::size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok && n == 3) {
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);  // overlong, surrogates
    }
    if (ok && n == 4) {
      auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);  // overlong, past U+10FFFF
    }
    if (!ok) throw invalid(std::string(what) + " is not valid UTF-8");
    i += n;
  }
  no_nul(s, what);
  return s;
}

// An optional body: empty or "null" is {}; anything else must be a JSON object.
json body_object(std::string_view text, const char* what) {
  if (text.empty()) return json::object();
  json body = json::parse(text, nullptr, false);
  if (body.is_null()) return json::object();
  if (body.is_discarded() || !body.is_object()) {
    throw invalid(std::string("invalid JSON in the ") + what + " request body");
  }
  return body;
}

// The commit body's Config fields, type-checked: they go into the new image's config as sent.
json commit_config(json body) {
  for (const char* k : {"Env", "Cmd", "Entrypoint", "OnBuild"}) {
    if (present(body, k)) body[k] = json_strings(body, k);
  }
  for (const char* k : {"WorkingDir", "User", "StopSignal"}) (void)json_string(body, k);
  for (const char* k : {"ExposedPorts", "Volumes", "Labels", "Healthcheck"}) {
    if (present(body, k) && !body[k].is_object()) throw invalid(std::string(k) + " must be an object");
  }
  if (present(body, "Labels")) {
    for (const auto& [key, v] : body["Labels"].items()) {
      if (!v.is_string()) throw invalid("Labels[\"" + key + "\"] must be a string");
    }
  }
  return body;
}

}  // namespace

json parse_create_body(std::string_view text) {
  json body = json::parse(text, nullptr, false);
  if (body.is_discarded() || !body.is_object()) throw invalid("invalid JSON in the create request body");
  return body;
}

ExecCreateRequest parse_exec_create(std::string_view text) {
  json body = body_object(text, "exec");
  ExecCreateRequest e;
  e.cmd = json_strings(body, "Cmd");
  e.env = json_strings(body, "Env");
  e.user = json_string(body, "User");
  e.working_dir = json_string(body, "WorkingDir");
  e.detach_keys = json_string(body, "DetachKeys");
  e.attach_stdin = json_bool(body, "AttachStdin", false);
  e.attach_stdout = json_bool(body, "AttachStdout", false);
  e.attach_stderr = json_bool(body, "AttachStderr", false);
  e.tty = json_bool(body, "Tty", false);
  e.privileged = json_bool(body, "Privileged", false);
  if (e.cmd.empty() || e.cmd[0].empty()) throw invalid("No exec command specified");
  for (const auto& v : e.env) {
    if (v.empty() || v[0] == '=' || v.find('=') == std::string::npos) {
      throw invalid("invalid environment variable \"" + v + "\" in exec: expected KEY=VALUE");
    }
  }
  if (!e.working_dir.empty() && e.working_dir[0] != '/') {
    throw invalid("the working directory '" + e.working_dir +
                  "' is invalid, it needs to be an absolute path");
  }
  return e;
}

std::string utf8_query(const http::Request& req, std::string_view key) {
  return utf8(req.query_value(key), std::string(key).c_str());
}

std::vector<std::string> parse_changes(const http::Request& req) {
  std::vector<std::string> out;
  for (const auto& [k, v] : req.query_list) {
    if (k != "changes") continue;
    // One change per value; a value may also hold several, one per line (docker's API allows both).
    std::size_t pos = 0;
    while (pos <= v.size()) {
      std::size_t nl = v.find('\n', pos);
      std::string line = v.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      // Trailing blanks go ("ENV " is a change without a value, not an instruction with an empty one).
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
        line.pop_back();
      if (line.find_first_not_of(" \t") != std::string::npos) out.push_back(utf8(line, "changes"));
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
  }
  return out;
}

CommitRequest parse_commit(const http::Request& req) {
  CommitRequest c;
  c.container = req.query_value("container");
  if (c.container.empty()) throw invalid("commit needs a container (query parameter container=)");
  c.repo = utf8_query(req, "repo");
  c.tag = utf8_query(req, "tag");
  c.comment = utf8_query(req, "comment");
  c.author = utf8_query(req, "author");
  c.pause = req.query_bool("pause", true);
  c.changes = parse_changes(req);
  json body = body_object(req.body, "commit");
  if (!body.empty()) c.config = commit_config(std::move(body));
  return c;
}

}  // namespace bocker::api
