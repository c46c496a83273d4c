#include "bocker/net/nft.hpp"

#include <nftables/libnftables.h>

#include <cctype>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "bocker/net/network.hpp"
#include "bocker/runtime/error.hpp"

namespace bocker::net {

namespace {
constexpr std::string_view kTagPrefix = "bocker:";

// libnftables keeps some global state (the parser, mini-gmp); one call at a time.
std::mutex g_nft_mu;

struct CtxFree {
  void operator()(nft_ctx* c) const noexcept { nft_ctx_free(c); }
};
using Ctx = std::unique_ptr<nft_ctx, CtxFree>;

// Runs `cmds` (one transaction) and returns the output; throws Error with libnftables' own
// message prefixed by `what`.
std::string run(const std::string& cmds, const std::string& what, bool json = false) {
  Ctx ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!ctx) throw Error(what + ": cannot create an nftables context");
  if (nft_ctx_buffer_output(ctx.get()) != 0 || nft_ctx_buffer_error(ctx.get()) != 0) {
    throw Error(what + ": cannot buffer nftables output");
  }
  if (json) nft_ctx_output_set_flags(ctx.get(), NFT_CTX_OUTPUT_JSON | NFT_CTX_OUTPUT_HANDLE);
  int rc = nft_run_cmd_from_buffer(ctx.get(), cmds.c_str());
  if (rc != 0) {
    // libnftables prints "Error: ...", then the command and a caret line; keep the first line.
    std::string err = nft_ctx_get_error_buffer(ctx.get());
    err = err.substr(0, err.find('\n'));
    throw Error(what + ": " + (err.empty() ? "nftables command failed" : err));
  }
  return nft_ctx_get_output_buffer(ctx.get());
}

bool valid_word(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

void check_table(const std::string& table) {
  if (!valid_word(table, 64))
    throw invalid("invalid nftables table name \"" + table + "\" (want [A-Za-z0-9_-]{1,64})");
}

void check_container_id(const std::string& id) {
  bool ok = !id.empty() && id.size() <= 100;
  for (char c : id) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                c == '-' || c == '.');
  }
  if (!ok) throw invalid("invalid container id \"" + id + "\" for a port mapping");
}

bool table_exists_locked(const std::string& table) {
  std::string out = run("list tables ip", "list nftables tables", true);
  auto j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_discarded()) throw Error("list nftables tables: unparsable JSON output");
  for (const auto& item : j.value("nftables", nlohmann::json::array())) {
    if (item.contains("table") && item["table"].value("name", "") == table) return true;
  }
  return false;
}

struct TaggedRule {
  std::string chain;
  long long handle;
  std::string owner;
};

// The port-mapping rules (comment "bocker:<id>") of the prerouting and output chains.
std::vector<TaggedRule> tagged_rules_locked(const std::string& table) {
  std::vector<TaggedRule> out;
  for (const char* chain : {"prerouting", "output"}) {
    std::string what = "list chain ip " + table + " " + chain;
    std::string text = run("list chain ip " + table + " " + chain, what, true);
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) throw Error(what + ": unparsable JSON output");
    for (const auto& item : j.value("nftables", nlohmann::json::array())) {
      if (!item.contains("rule")) continue;
      const auto& r = item["rule"];
      std::string comment = r.value("comment", "");
      if (comment.rfind(kTagPrefix, 0) != 0 || !r.contains("handle")) continue;
      out.push_back({chain, r["handle"].get<long long>(), comment.substr(kTagPrefix.size())});
    }
  }
  return out;
}
}  // namespace

std::string to_string(Proto p) { return p == Proto::kUdp ? "udp" : "tcp"; }

Proto parse_proto(std::string_view text) {
  std::string s(text);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "tcp") return Proto::kTcp;
  if (s == "udp") return Proto::kUdp;
  throw invalid("invalid protocol \"" + std::string(text) + "\" (want tcp or udp)");
}

void ensure_nat_table(const NetworkConfig& cfg) {
  cfg.validate();
  const std::string t = "ip " + cfg.nft_table;
  const std::string br = "\"" + cfg.bridge + "\"";
  const std::string subnet = cfg.subnet.to_string();
  std::string cmds;
  cmds += "add table " + t + "\n";
  cmds += "add chain " + t + " prerouting { type nat hook prerouting priority -100; policy accept; }\n";
  cmds += "add chain " + t + " output { type nat hook output priority -100; policy accept; }\n";
  cmds += "add chain " + t + " postrouting { type nat hook postrouting priority 100; policy accept; }\n";
  cmds += "add chain " + t + " forward { type filter hook forward priority 0; policy accept; }\n";
  cmds += "flush chain " + t + " postrouting\n";
  cmds += "add rule " + t + " postrouting ip saddr " + subnet + " oifname != " + br +
          " masquerade comment \"bocker-masquerade\"\n";
  // A container reaching another through a published host port: make the reply come back via us.
  cmds += "add rule " + t + " postrouting iifname " + br + " oifname " + br +
          " ct status dnat masquerade comment \"bocker-hairpin\"\n";
  cmds += "flush chain " + t + " forward\n";
  cmds += "add rule " + t + " forward iifname " + br + " accept\n";
  cmds += "add rule " + t + " forward oifname " + br + " accept\n";
  std::lock_guard lock(g_nft_mu);
  run(cmds, "install nftables table " + t + " for bridge " + cfg.bridge + " subnet " + subnet);
}

void delete_nat_table(const std::string& table) {
  check_table(table);
  std::lock_guard lock(g_nft_mu);
  if (!table_exists_locked(table)) return;
  run("delete table ip " + table + "\n", "delete nftables table ip " + table);
}

bool nat_table_exists(const std::string& table) {
  check_table(table);
  std::lock_guard lock(g_nft_mu);
  return table_exists_locked(table);
}

void add_port_mapping(const std::string& table, const PortMapping& m) {
  check_table(table);
  check_container_id(m.container_id);
  if (m.host_port == 0) throw invalid("port mapping for " + m.container_id + ": host port 0");
  if (m.container_port == 0) throw invalid("port mapping for " + m.container_id + ": container port 0");
  if (m.container_ip.value == 0)
    throw invalid("port mapping for " + m.container_id + ": no container address");
  const std::string t = "ip " + table;
  const std::string proto = to_string(m.proto);
  std::string match = "fib daddr type local";
  if (m.host_ip.value != 0) match += " ip daddr " + m.host_ip.to_string();
  match += " " + proto + " dport " + std::to_string(m.host_port);
  const std::string action = " counter dnat to " + m.container_ip.to_string() + ":" +
                             std::to_string(m.container_port) + " comment \"" + std::string(kTagPrefix) +
                             m.container_id + "\"\n";
  std::string cmds;
  cmds += "add rule " + t + " prerouting " + match + action;
  cmds += "add rule " + t + " output ip daddr != 127.0.0.0/8 " + match + action;
  std::lock_guard lock(g_nft_mu);
  run(cmds, "add port mapping " + (m.host_ip.value ? m.host_ip.to_string() : std::string("0.0.0.0")) + ":" +
                std::to_string(m.host_port) + "/" + proto + " -> " + m.container_ip.to_string() + ":" +
                std::to_string(m.container_port) + " for container " + m.container_id + " in table " + t);
}

std::size_t remove_port_mappings(const std::string& table, const std::string& container_id) {
  check_table(table);
  check_container_id(container_id);
  std::lock_guard lock(g_nft_mu);
  if (!table_exists_locked(table)) return 0;
  std::string cmds;
  std::size_t n = 0;
  for (const auto& r : tagged_rules_locked(table)) {
    if (r.owner != container_id) continue;
    cmds += "delete rule ip " + table + " " + r.chain + " handle " + std::to_string(r.handle) + "\n";
    ++n;
  }
  if (n > 0) run(cmds, "remove port mappings of container " + container_id + " from table ip " + table);
  return n;
}

std::map<std::string, std::size_t> port_mapping_owners(const std::string& table) {
  check_table(table);
  std::lock_guard lock(g_nft_mu);
  std::map<std::string, std::size_t> out;
  if (!table_exists_locked(table)) return out;
  for (const auto& r : tagged_rules_locked(table)) ++out[r.owner];
  return out;
}

}  // namespace bocker::net
