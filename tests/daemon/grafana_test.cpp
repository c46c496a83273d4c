// The Grafana dashboard (grafana/dashboards/bocker.json) and its provisioning files: structure
// (Grafana isn't installable here, so the JSON is checked against what Grafana's current schema
// needs), and every panel query run through a real Prometheus that scrapes a real bockerd with
// containers under CPU and memory load and a pulled image. A query that errors fails; a query with
// no series fails (the pull panels are skipped, with a message, when docker-registry is missing).
// The containers run on a bridge of the test's own: their network series are for a non-lo interface.
// With BOCKER_GRAFANA_DUMP=<file>, the panels' range data is written there for grafana/render_png.py.
#include <cstdlib>
#include <set>
#include <sstream>

#include "daemon_fixture.hpp"

namespace bocker::daemon::testing {
namespace {

using nlohmann::json;
using registry::testing::free_port;
using registry::testing::Pusher;
using registry::testing::RegistryServer;
using registry::testing::TempDir;

const std::string kGrafanaDir = std::string(BOCKER_SOURCE_DIR) + "/grafana";

json load_dashboard() { return json::parse(read_file(kGrafanaDir + "/dashboards/bocker.json")); }

struct PanelQuery {
  std::string panel, unit, legend, expr;
};

// Every target of every panel, rows' nested panels included.
void collect_queries(const json& panels, std::vector<PanelQuery>& out) {
  for (const auto& p : panels) {
    if (p.contains("panels")) collect_queries(p["panels"], out);
    if (!p.contains("targets")) continue;
    std::string unit = p["fieldConfig"]["defaults"].value("unit", "short");
    for (const auto& t : p["targets"])
      out.push_back({p["title"], unit, t.value("legendFormat", ""), t["expr"]});
  }
}

// Grafana's variables as a dashboard with "All" selected would expand them.
std::string substitute(std::string expr) {
  const std::vector<std::pair<std::string, std::string>> vars = {
      {"$__rate_interval", "1m"}, {"$__interval", "15s"}, {"$__range", "5m"}, {"${container}", ".*"},
      {"$container", ".*"},       {"${image}", ".*"},     {"$image", ".*"}};
  for (const auto& [from, to] : vars) {
    for (auto p = expr.find(from); p != std::string::npos; p = expr.find(from, p + to.size())) {
      expr.replace(p, from.size(), to);
    }
  }
  return expr;
}

// The metric names a PromQL expression uses (identifiers followed by '{' or '[' or ')' that start
// with bocker_ or container_), without histogram suffixes.
std::set<std::string> metric_names(const std::string& expr) {
  std::set<std::string> out;
  for (std::size_t i = 0; i < expr.size();) {
    if (expr.compare(i, 7, "bocker_") == 0 || expr.compare(i, 10, "container_") == 0) {
      std::size_t j = i;
      while (j < expr.size() && (std::isalnum(static_cast<unsigned char>(expr[j])) || expr[j] == '_')) ++j;
      std::string name = expr.substr(i, j - i);
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        if (name.ends_with(suffix) && name.find("_seconds") != std::string::npos) {
          name.resize(name.size() - std::strlen(suffix));
        }
      }
      out.insert(name);
      i = j;
    } else {
      ++i;
    }
  }
  return out;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

TEST(GrafanaDashboard, JsonHasTheCurrentSchemaVariablesAndPanels) {
  json d = load_dashboard();
  EXPECT_GE(d.value("schemaVersion", 0), 36) << "Grafana 9+ schema";
  EXPECT_FALSE(d.value("uid", "").empty());
  EXPECT_FALSE(d.value("title", "").empty());
  EXPECT_FALSE(d.contains("id") && !d["id"].is_null())
      << "provisioned dashboards must not carry a database id";
  std::map<std::string, json> vars;
  for (const auto& v : d["templating"]["list"]) vars[v["name"]] = v;
  ASSERT_TRUE(vars.count("datasource"));
  EXPECT_EQ(vars["datasource"]["type"], "datasource");
  EXPECT_EQ(vars["datasource"]["query"], "prometheus");
  for (const char* name : {"container", "image"}) {
    ASSERT_TRUE(vars.count(name)) << name;
    EXPECT_EQ(vars[name]["type"], "query");
    EXPECT_EQ(vars[name]["datasource"]["uid"], "${datasource}");
    EXPECT_EQ(vars[name]["definition"].get<std::string>().rfind("label_values(", 0), 0u) << vars[name];
    EXPECT_TRUE(vars[name]["includeAll"].get<bool>());
    EXPECT_EQ(vars[name]["allValue"], ".*");
  }

  std::set<int> ids;
  std::set<std::string> titles;
  int grid_cells = 0;
  for (const auto& p : d["panels"]) {
    ASSERT_TRUE(p.contains("id") && p.contains("type") && p.contains("gridPos")) << p;
    EXPECT_TRUE(ids.insert(p["id"].get<int>()).second) << "duplicate panel id " << p["id"];
    const auto& g = p["gridPos"];
    EXPECT_GE(g["x"].get<int>(), 0);
    EXPECT_LE(g["x"].get<int>() + g["w"].get<int>(), 24) << p["title"];
    grid_cells += g["w"].get<int>() * g["h"].get<int>();
    if (p["type"] == "row") continue;
    titles.insert(p["title"]);
    EXPECT_EQ(p["datasource"]["type"], "prometheus") << p["title"];
    EXPECT_EQ(p["datasource"]["uid"], "${datasource}") << p["title"];
    ASSERT_FALSE(p["targets"].empty()) << p["title"];
    std::set<std::string> refs;
    for (const auto& t : p["targets"]) {
      EXPECT_FALSE(t.value("expr", "").empty()) << p["title"];
      EXPECT_TRUE(refs.insert(t["refId"]).second) << p["title"];
    }
  }
  EXPECT_GT(grid_cells, 0);
  for (const char* want : {"Containers by state", "CPU", "Memory vs limit", "Network", "Filesystem I/O",
                           "Restarts", "OOM kills", "Image pull duration", "Pulled bytes",
                           "Container start latency", "API request latency (p90)", "Event-loop lag"}) {
    EXPECT_TRUE(titles.count(want)) << "no panel " << want;
  }
  // Container panels follow the template variables.
  std::vector<PanelQuery> qs;
  collect_queries(d["panels"], qs);
  for (const auto& q : qs) {
    bool per_container = false;
    for (const auto& name : metric_names(q.expr)) {
      per_container = per_container || name.starts_with("container_") || name == "bocker_container_state" ||
                      name == "bocker_container_restarts_total";
    }
    if (per_container) {
      EXPECT_NE(q.expr.find("name=~\"$container\""), std::string::npos) << q.expr;
      EXPECT_NE(q.expr.find("image=~\"$image\""), std::string::npos) << q.expr;
    }
  }
}

TEST(GrafanaDashboard, ProvisioningFilesPointAtPrometheusAndTheDashboardsFolder) {
  std::string ds = read_file(kGrafanaDir + "/provisioning/datasources/prometheus.yaml");
  EXPECT_NE(ds.find("apiVersion: 1"), std::string::npos);
  EXPECT_NE(ds.find("type: prometheus"), std::string::npos);
  EXPECT_NE(ds.find("url: http://"), std::string::npos);
  std::string db = read_file(kGrafanaDir + "/provisioning/dashboards/bocker.yaml");
  EXPECT_NE(db.find("apiVersion: 1"), std::string::npos);
  EXPECT_NE(db.find("type: file"), std::string::npos);
  EXPECT_NE(db.find("path: "), std::string::npos);
  EXPECT_TRUE(fs::exists(kGrafanaDir + "/dashboards/bocker.json"));
  if (have("python3")) {  // the YAML parses (python3-yaml when present)
    auto r = run("python3 -c 'import yaml,sys; [yaml.safe_load(open(f)) for f in sys.argv[1:]]' " +
                 kGrafanaDir + "/provisioning/datasources/prometheus.yaml " + kGrafanaDir +
                 "/provisioning/dashboards/bocker.yaml");
    if (r.out.find("No module named") == std::string::npos) {
      EXPECT_EQ(r.status, 0) << r.out;
    }
  }
}

// A real prometheus scraping `target` every second; stopped (SIGTERM, then SIGKILL) by pid.
class PrometheusServer {
 public:
  PrometheusServer(const TempDir& dir, const std::string& target) : port_(free_port()) {
    std::string cfg = dir.file("prometheus.yml");
    registry::testing::write_text(cfg,
                                  "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                                  "scrape_configs:\n  - job_name: bockerd\n    static_configs:\n"
                                  "      - targets: ['" +
                                      target + "']\n");
    std::string log = dir.file("prometheus.log");
    std::vector<std::string> args = {
        "prometheus", "--config.file=" + cfg, "--storage.tsdb.path=" + dir.file("tsdb"),
        "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"};
    pid_ = ::fork();
    if (pid_ < 0) throw SystemError(errno, "fork", "prometheus");
    if (pid_ == 0) {
      ::setpgid(0, 0);
      FILE* f = std::freopen(log.c_str(), "a", stderr);
      (void)f;
      ::dup2(2, 1);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execvp("prometheus", argv.data());
      ::_exit(127);
    }
    log_ = log;
  }
  ~PrometheusServer() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
      std::this_thread::sleep_for(25ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  PrometheusServer(const PrometheusServer&) = delete;
  PrometheusServer& operator=(const PrometheusServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string log() const { return read_file(log_); }
  // GET /api/v1/<what> with the query parameters; the parsed body, or null when curl failed.
  json api(const std::string& what, const std::vector<std::pair<std::string, std::string>>& params) const {
    std::string cmd = "curl -s -G --max-time 20 " + url() + "/api/v1/" + what;
    for (const auto& [k, v] : params) cmd += " --data-urlencode " + shell_quote(k + "=" + v);
    auto r = run(cmd);
    if (r.status != 0) return nullptr;
    return json::parse(r.out, nullptr, false);
  }

 private:
  int port_;
  pid_t pid_ = -1;
  std::string log_;
};

class GrafanaPrometheus : public ::testing::Test {
 protected:
  void SetUp() override {
    BOCKER_REQUIRE_ROOT_AND_STORAGE(Storage::kOverlay2);
    if (!have("prometheus")) GTEST_SKIP() << "prometheus is not installed (apt-get install prometheus)";
    if (!fs::exists(kAlpineTarball)) GTEST_SKIP() << kAlpineTarball << " missing";
    root_ = std::make_unique<TestRoot>(Storage::kOverlay2);
    metrics_port_ = free_port();
    // A bridge and nftables table of the test's own (deleted in TearDown): the containers get a
    // veth, so the network panel has an interface besides lo.
    bridge_ = "bkg" + std::to_string(::getpid() % 1000000);
    table_ = "bocker_" + bridge_;
    d_ = std::make_unique<DaemonProcess>(
        root_->root(), root_->dir() + "/b.sock", root_->dir() + "/bockerd.log",
        std::vector<std::string>{
            "--storage-driver", root_->driver(), "--metrics-addr",
            "127.0.0.1:" + std::to_string(metrics_port_), "--bridge", bridge_, "--bridge-subnet",
            "10.205." + std::to_string(1 + ::getpid() % 250) + ".0/24", "--nft-table", table_});
    ASSERT_EQ(d_->start(), "");
    auto imp = run(d_->bocker("import " + kAlpineTarball + " alpine:latest"));
    ASSERT_EQ(imp.status, 0) << imp.out;
  }
  void TearDown() override {
    if (HasFailure() && d_) std::cerr << "bockerd log:\n" << d_->log();
    prom_.reset();
    if (d_) {
      run(d_->docker("rm -f $(" + d_->docker("ps -aq") + ") >/dev/null 2>&1"));
      d_->stop();
    }
    d_.reset();
    if (!bridge_.empty()) {
      auto links =
          run("ip -o link show master " + bridge_ + " 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1");
      std::istringstream in(links.out);
      for (std::string l; std::getline(in, l);) {
        if (l.rfind("bk", 0) == 0) run("ip link del " + l);
      }
      run("ip link del " + bridge_ + " 2>/dev/null");
      run("nft delete table ip " + table_ + " 2>/dev/null");
    }
    registry_.reset();
    root_.reset();
  }

  std::string metrics_text() const {
    return run("curl -s --max-time 10 http://127.0.0.1:" + std::to_string(metrics_port_) + "/metrics").out;
  }

  TempDir dir_;
  std::unique_ptr<TestRoot> root_;
  std::unique_ptr<DaemonProcess> d_;
  std::unique_ptr<RegistryServer> registry_;
  std::unique_ptr<PrometheusServer> prom_;
  int metrics_port_ = 0;
  std::string bridge_, table_;
};

TEST_F(GrafanaPrometheus, EveryPanelQueryReturnsSeries) {
  if (!have("docker")) GTEST_SKIP() << "no docker CLI to run the load containers";
  // Prometheus first: the starts and the pull below then fall inside its rate() windows.
  auto start = std::chrono::system_clock::now();
  prom_ = std::make_unique<PrometheusServer>(dir_, "127.0.0.1:" + std::to_string(metrics_port_));
  bool up = false;
  for (int i = 0; i < 120 && !up; ++i) {
    std::this_thread::sleep_for(500ms);
    json r = prom_->api("query", {{"query", "up{job=\"bockerd\"} == 1"}});
    up = r.is_object() && r.value("status", "") == "success" && !r["data"]["result"].empty();
  }
  ASSERT_TRUE(up) << "prometheus never scraped bockerd; prometheus log:\n" << prom_->log();

  // Containers under CPU and memory load (48 MiB in its /dev/shm tmpfs, charged to its cgroup,
  // freed and filled again), one writing logs.
  for (const std::string& args :
       {std::string("--name cpu-load -m 256m alpine sh -c 'while :; do :; done'"),
        std::string("--name mem-load -m 128m alpine sh -c "
                    "'while :; do head -c 48m /dev/zero > /dev/shm/fill; sleep 4; rm /dev/shm/fill; "
                    "sleep 2; done'"),
        std::string(
            "--name logger -m 64m alpine sh -c 'while :; do echo tick; echo tock >&2; sleep 0.2; done'")}) {
    auto r = run("timeout 60 env " + d_->docker("run -d " + args));
    ASSERT_EQ(r.status, 0) << r.out;
  }
  // A pull from a local registry, for the pull panels.
  bool pulled = ::access(registry::testing::kRegistryBinary, X_OK) == 0;
  if (pulled) {
    registry_ = std::make_unique<RegistryServer>(dir_);
    Pusher pusher(registry_->url());
    // Two pulls, scrapes apart: the registry's series exist before the second one ends, so its
    // rates show in the pull panels.
    for (const char* repo : {"metrics/pulled", "metrics/pulled-again"}) {
      ImageSpec spec;
      spec.layers = {layer_tar(small_tree(repo))};
      push_image(pusher, repo, "v1", spec);
      auto r = run(d_->bocker("pull " + registry_->host() + "/" + repo + ":v1"));
      EXPECT_EQ(r.status, 0) << r.out;
      std::this_thread::sleep_for(2500ms);
    }
  } else {
    std::cout << "docker-registry missing: no pull, the pull panels are not checked\n";
  }

  // bockerd's exposition is promtool-clean.
  std::string exposition = metrics_text();
  ASSERT_NE(exposition.find("bocker_build_info"), std::string::npos) << exposition;
  registry::testing::write_text(dir_.file("metrics.txt"), exposition);
  auto check = run("promtool check metrics < " + dir_.file("metrics.txt"));
  EXPECT_EQ(check.status, 0) << check.out;
  EXPECT_EQ(check.out, "");
  // The containers are on the test's bridge: each has series for an interface besides lo (the
  // collector leaves lo out).
  for (const char* name : {"cpu-load", "mem-load", "logger"}) {
    std::string series = "container_network_receive_bytes_total{id=\"";
    bool found = false;
    for (auto p = exposition.find(series); p != std::string::npos && !found;
         p = exposition.find(series, p + 1)) {
      std::string line = exposition.substr(p, exposition.find('\n', p) - p);
      found = line.find("name=\"" + std::string(name) + "\"") != std::string::npos &&
              line.find("interface=\"") != std::string::npos &&
              line.find("interface=\"lo\"") == std::string::npos;
    }
    EXPECT_TRUE(found) << name << " has no network series for a non-lo interface:\n" << exposition;
  }

  // Long enough for rate() windows to hold several samples.
  const char* secs_env = std::getenv("BOCKER_GRAFANA_SECONDS");
  int secs = secs_env != nullptr ? std::atoi(secs_env) : 12;
  std::this_thread::sleep_for(std::chrono::seconds(std::max(secs, 5)));
  exposition = metrics_text();

  std::vector<PanelQuery> qs;
  collect_queries(load_dashboard()["panels"], qs);
  ASSERT_GE(qs.size(), 15u);
  auto end = std::chrono::system_clock::now();
  auto unix_s = [](auto t) {
    return std::to_string(std::chrono::duration<double>(t.time_since_epoch()).count());
  };
  json dump = {{"start", unix_s(start)}, {"end", unix_s(end)}, {"panels", json::array()}};
  int checked = 0;
  for (const auto& q : qs) {
    std::string expr = substitute(q.expr);
    if (!pulled && expr.find("bocker_image_pull_") != std::string::npos) continue;
    json r = prom_->api("query", {{"query", expr}});
    ASSERT_TRUE(r.is_object()) << "no answer for " << expr;
    ASSERT_EQ(r.value("status", ""), "success") << q.panel << ": " << expr << "\n" << r.dump();
    if (r["data"]["result"].empty()) {
      std::vector<std::string> missing;
      for (const auto& name : metric_names(expr)) {
        if (exposition.find("\n" + name + "{") == std::string::npos &&
            exposition.find("\n" + name + "_bucket{") == std::string::npos &&
            exposition.find("\n" + name + " ") == std::string::npos) {
          missing.push_back(name);
        }
      }
      // Every metric the dashboard uses is exported now (the container collector and the engine
      // metrics are wired): an empty answer is a failure, saying which metric bockerd lacks.
      ADD_FAILURE() << "panel '" << q.panel << "': no series for " << expr
                    << (missing.empty() ? std::string() : " (bockerd exports no " + missing.front() + ")");
    } else {
      ++checked;
    }
    if (std::getenv("BOCKER_GRAFANA_DUMP") != nullptr) {
      json rr = prom_->api("query_range",
                           {{"query", expr}, {"start", unix_s(start)}, {"end", unix_s(end)}, {"step", "1"}});
      dump["panels"].push_back({{"panel", q.panel},
                                {"unit", q.unit},
                                {"legend", q.legend},
                                {"expr", expr},
                                {"result", rr.is_object() ? rr["data"]["result"] : json::array()}});
    }
  }
  std::cout << checked << " of " << qs.size() << " panel queries returned series\n";
  EXPECT_GT(checked, 0);
  if (const char* path = std::getenv("BOCKER_GRAFANA_DUMP")) {
    registry::testing::write_text(path, dump.dump(1));
    std::cout << "panel data written to " << path << "\n";
  }
}

}  // namespace
}  // namespace bocker::daemon::testing
