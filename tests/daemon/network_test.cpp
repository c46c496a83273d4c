// Container networking against a real bockerd, as root, on a bridge and nftables table of the
// test's own (bkd<pid>, 10.203.<n>.0/24, table bocker_bkd<pid>; both deleted in TearDown): two
// containers reach each other and the host over the bridge, --network none has only lo (up),
// --network host sees the host's links, rm leaves no veth and frees the address, -p to
// 127.0.0.1 answered through the userland proxy (TCP) and relay (UDP, a flow per client), -P
// picks an ephemeral port, a taken port is "already allocated" and leaves nothing, and a daemon
// killed with -9 sweeps at its next start.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <atomic>
#include <regex>

#include "daemon_fixture.hpp"

namespace bocker::daemon::testing {
namespace {

using nlohmann::json;

// A TCP socket listening on ip:port (port 0: any); returns the fd and sets *port.
int listen_on(const std::string& ip, std::uint16_t* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(*port);
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

// A free loopback port (bound and released at once).
std::uint16_t free_port() {
  std::uint16_t p = 0;
  int fd = listen_on("127.0.0.1", &p);
  if (fd >= 0) ::close(fd);
  return p;
}

// A UDP socket on 127.0.0.1 (any port) that sends `msg` to 127.0.0.1:port until a datagram
// comes back (the server in the container takes a moment to start) and returns it with the
// port it came from; "" when nothing came within ~10 s.
struct UdpClient {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ~UdpClient() {
    if (fd >= 0) ::close(fd);
  }
  std::string ask(std::uint16_t port, const std::string& msg, std::uint16_t* from_port) {
    timeval tv{0, 200000};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < 50; ++i) {
      ::sendto(fd, msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
      char buf[65536];
      sockaddr_in from{};
      socklen_t len = sizeof from;
      ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n > 0) {
        *from_port = ntohs(from.sin_port);
        return std::string(buf, static_cast<std::size_t>(n));
      }
    }
    return "";
  }
};

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  return s;
}

class Network : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (bridge, veth, nftables, namespaces)";
    if (!fs::exists(kAlpineTarball)) GTEST_SKIP() << kAlpineTarball << " missing";
    for (const char* tool : {"docker", "ip", "nft", "curl"}) {
      if (!have(tool)) GTEST_SKIP() << tool << " missing";
    }
    bridge_ = "bkd" + std::to_string(::getpid() % 1000000);
    table_ = "bocker_" + bridge_;
    third_ = 1 + ::getpid() % 250;
    subnet_ = "10.203." + std::to_string(third_) + ".0/24";
    gateway_ = "10.203." + std::to_string(third_) + ".1";
    root_ = std::make_unique<TestRoot>(Storage::kOverlay2);
    d_ = std::make_unique<DaemonProcess>(
        root_->root(), root_->dir() + "/b.sock", root_->dir() + "/bockerd.log",
        std::vector<std::string>{"--storage-driver", "overlay2", "--bridge", bridge_, "--bridge-subnet",
                                 subnet_, "--nft-table", table_});
    ASSERT_EQ(d_->start(), "");
    auto imp = run(d_->bocker("import " + kAlpineTarball + " alpine:latest"));
    ASSERT_EQ(imp.status, 0) << imp.out;
  }
  void TearDown() override {
    if (HasFailure() && d_) std::cout << "bockerd log:\n" << d_->log();
    if (d_ && d_->running()) {
      run(d_->docker("rm -f $(" + d_->docker("ps -aq") + ") >/dev/null 2>&1"));
      d_->stop();
    }
    d_.reset();
    if (!bridge_.empty()) {
      // Any veth still on our bridge, then the bridge and the table.
      auto links =
          run("ip -o link show master " + bridge_ + " 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1");
      std::istringstream in(links.out);
      for (std::string l; std::getline(in, l);) {
        if (l.rfind("bk", 0) == 0) run("ip link del " + l);
      }
      run("ip link del " + bridge_ + " 2>/dev/null");
      run("nft delete table ip " + table_ + " 2>/dev/null");
      ::unlink(("/run/bocker/network-" + bridge_ + ".lock").c_str());  // the daemon's per-bridge lock
    }
    root_.reset();
  }

  CmdResult docker(const std::string& args) { return run("timeout 60 env " + d_->docker(args)); }
  json inspect(const std::string& id) {
    auto r = run(d_->curl("GET", "/containers/" + id + "/json"));
    auto pos = r.out.rfind("\nHTTP ");
    return json::parse(r.out.substr(0, pos), nullptr, false);
  }
  std::string ipam_state() { return read_file(root_->root() + "/network/" + bridge_ + "/ipam.json"); }
  bool link_exists(const std::string& name) {
    return run("ip link show " + name + " >/dev/null 2>&1").status == 0;
  }
  std::string nft_table() { return run("nft list table ip " + table_).out; }
  // curl until it answers (the server in the container takes a moment to start).
  std::string curl_until(const std::string& url) {
    CmdResult r;
    for (int i = 0; i < 50; ++i) {
      r = run("curl -s --max-time 2 " + url);
      if (r.status == 0 && !r.out.empty()) return r.out;
      std::this_thread::sleep_for(100ms);
    }
    return "curl failed: " + r.out;
  }
  // A tiny HTTP server in the container (alpine's busybox has nc but no httpd): nc -lk runs
  // this handler per connection; it serves /www/<path> (index.html for /).
  std::string run_httpd(const std::string& flags, const std::string& text) {
    static const std::string handler_b64 =
        "IyEvYmluL3NoCnJlYWQgLXIgbSBwIHYKcD0ke3AlJVw/"
        "Kn0KWyAiJHAiID0gLyBdICYmIHA9L2luZGV4Lmh0bWwKZj0vd3d3JHAKd2hpbGUg"
        "cmVhZCAtciBsOyBkbyBsPSQocHJpbnRmICVzICIkbCIgfCB0ciAtZCAnXHInKTsgWyAteiAiJGwiIF0gJiYgYnJlYWs7IGRvbmUK"
        "cHJpbnRm"
        "ICdIVFRQLzEuMCAyMDAgT0tcclxuQ29udGVudC1MZW5ndGg6ICVzXHJcbkNvbm5lY3Rpb246IGNsb3NlXHJcblxyXG4nICIkKHdj"
        "IC1jIDwg"
        "IiRmIikiCmNhdCAiJGYiCg==";
    auto r =
        docker("run -d " + flags + " alpine sh -c 'mkdir -p /www && echo " + text +
               " > /www/index.html && head -c 3000000 /dev/urandom > /www/big && md5sum /www/big && echo " +
               handler_b64 + " | base64 -d > /h.sh && chmod +x /h.sh && exec nc -lk -p 80 -e /h.sh'");
    EXPECT_EQ(r.status, 0) << r.out;
    return trim(r.out);
  }

  std::string bridge_, table_, subnet_, gateway_;
  int third_ = 0;
  std::unique_ptr<TestRoot> root_;
  std::unique_ptr<DaemonProcess> d_;
};

TEST_F(Network, InspectShowsBridgeEndpoint) {
  auto r = docker("run -d alpine sh -c 'ip -o -4 addr show eth0; ip route; cat /etc/hosts; exec sleep 60'");
  ASSERT_EQ(r.status, 0) << r.out;
  std::string id = trim(r.out);
  json j = inspect(id);
  ASSERT_FALSE(j.is_discarded());
  const json& ns = j["NetworkSettings"];
  std::string ip = ns.value("IPAddress", "");
  EXPECT_EQ(ip.rfind("10.203." + std::to_string(third_) + ".", 0), 0U) << ns.dump();
  EXPECT_EQ(ns.value("IPPrefixLen", 0), 24);
  EXPECT_EQ(ns.value("Gateway", ""), gateway_);
  EXPECT_EQ(ns["Networks"]["bridge"].value("IPAddress", ""), ip);
  EXPECT_EQ(ns["Networks"]["bridge"].value("NetworkID", "").size(), 64U);
  EXPECT_EQ(ns.value("MacAddress", "").rfind("02:42:0a:cb:", 0), 0U) << ns.dump();
  // Inside: eth0 with that address and a default route via the gateway; /etc/hosts names it.
  auto logs = docker("logs " + id);
  EXPECT_NE(logs.out.find(ip + "/24"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("default via " + gateway_), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find(ip + "\t" + id.substr(0, 12)), std::string::npos) << logs.out;
  // The host end is on our bridge.
  auto master = run("ip -o link show master " + bridge_);
  EXPECT_NE(master.out.find("bk" + id.substr(0, 11)), std::string::npos) << master.out;
}

TEST_F(Network, TwoContainersReachEachOtherAndTheHost) {
  std::string server = run_httpd("", "hello-from-server");
  std::string ip = inspect(server)["NetworkSettings"].value("IPAddress", "");
  ASSERT_FALSE(ip.empty());
  auto r = docker("run --rm alpine sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- -T 2 http://" + ip +
                  "/ && exit 0; sleep 0.3; done; exit 1'");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("hello-from-server"), std::string::npos) << r.out;

  // The host, on the gateway address.
  std::uint16_t port = 0;
  int lfd = listen_on(gateway_, &port);
  ASSERT_GE(lfd, 0) << "listen on " << gateway_;
  std::thread host_server([lfd] {
    int c = ::accept(lfd, nullptr, nullptr);
    if (c < 0) return;
    char buf[1024];
    (void)::read(c, buf, sizeof buf);
    std::string resp = "HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nfrom-host\n";
    (void)::write(c, resp.data(), resp.size());
    ::close(c);
  });
  auto h = docker("run --rm alpine wget -qO- -T 5 http://" + gateway_ + ":" + std::to_string(port) + "/");
  ::shutdown(lfd, SHUT_RDWR);
  host_server.join();
  ::close(lfd);
  EXPECT_EQ(h.status, 0) << h.out;
  EXPECT_NE(h.out.find("from-host"), std::string::npos) << h.out;
}

TEST_F(Network, NoneHasOnlyLoopbackUp) {
  auto r = docker("run --rm --network none alpine ip -o link");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("lo:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("UP"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("eth0"), std::string::npos) << r.out;
  std::istringstream in(r.out);
  int lines = 0;
  for (std::string l; std::getline(in, l);) lines += l.empty() ? 0 : 1;
  EXPECT_EQ(lines, 1) << r.out;
  auto ping = docker("run --rm --network none alpine wget -qO- -T 1 http://127.0.0.1:1/");
  EXPECT_NE(ping.out.find("refused"), std::string::npos) << "lo must be up: " << ping.out;
}

TEST_F(Network, HostSeesTheHostsInterfaces) {
  auto r = docker("run --rm --network host alpine ip -o link");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find(bridge_), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("eth0"), std::string::npos) << r.out;
  auto j = docker("run -d --network host alpine sleep 30");
  ASSERT_EQ(j.status, 0) << j.out;
  EXPECT_EQ(inspect(trim(j.out))["NetworkSettings"].value("IPAddress", "x"), "");
}

TEST_F(Network, RmLeavesNoVethAndReleasesTheAddress) {
  auto r = docker("run -d alpine sleep 60");
  ASSERT_EQ(r.status, 0) << r.out;
  std::string id = trim(r.out);
  std::string veth = "bk" + id.substr(0, 11);
  EXPECT_TRUE(link_exists(veth));
  EXPECT_NE(ipam_state().find(id), std::string::npos) << ipam_state();
  auto rm = docker("rm -f " + id);
  ASSERT_EQ(rm.status, 0) << rm.out;
  EXPECT_FALSE(link_exists(veth));
  EXPECT_EQ(ipam_state().find(id), std::string::npos) << ipam_state();
  // A stopped container keeps no address either.
  auto s = docker("run -d alpine sleep 60");
  std::string id2 = trim(s.out);
  ASSERT_EQ(docker("stop -t 1 " + id2).status, 0);
  EXPECT_FALSE(link_exists("bk" + id2.substr(0, 11)));
  EXPECT_EQ(ipam_state().find(id2), std::string::npos) << ipam_state();
  auto stopped = inspect(id2)["NetworkSettings"];
  EXPECT_EQ(stopped.value("IPAddress", "x"), "");
}

TEST_F(Network, PublishToLoopbackIsAnsweredThroughTheProxy) {
  std::uint16_t port = free_port();
  std::string ps = std::to_string(port);
  std::string id = run_httpd("-p 127.0.0.1:" + ps + ":80", "published-hello");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(curl_until("http://127.0.0.1:" + ps + "/"), "published-hello\n");
  json ports = inspect(id)["NetworkSettings"]["Ports"];
  EXPECT_EQ(ports, json::parse(R"({"80/tcp":[{"HostIp":"127.0.0.1","HostPort":")" + ps + R"("}]})"));
  auto dp = docker("port " + id);
  EXPECT_NE(dp.out.find("80/tcp -> 127.0.0.1:" + ps), std::string::npos) << dp.out;
  auto list = run(d_->curl("GET", "/containers/json"));
  EXPECT_NE(list.out.find("\"PublicPort\":" + ps), std::string::npos) << list.out;
  EXPECT_NE(nft_table().find("bocker:" + id), std::string::npos) << nft_table();
  // A larger body through the splice proxy, byte for byte.
  auto inside = docker("logs " + id);
  auto outside = run("curl -s --max-time 10 http://127.0.0.1:" + ps + "/big | md5sum");
  ASSERT_GE(inside.out.size(), 32U) << inside.out;
  EXPECT_EQ(outside.out.substr(0, 32), inside.out.substr(0, 32)) << outside.out << inside.out;
  // Stop: rules and the listener go.
  ASSERT_EQ(docker("stop -t 1 " + id).status, 0);
  EXPECT_EQ(nft_table().find("bocker:" + id), std::string::npos) << nft_table();
  std::uint16_t again = port;
  int fd = listen_on("127.0.0.1", &again);
  EXPECT_GE(fd, 0) << "port " << port << " still held after stop";
  if (fd >= 0) ::close(fd);
}

TEST_F(Network, UdpPublishedToLoopbackIsRelayedPerClient) {
  std::uint16_t port = free_port();
  std::string ps = std::to_string(port);
  // Two busybox `nc -u -l` bound to the same port (SO_REUSEADDR): each connects to the first
  // peer it hears from and echoes it, so two clients need two relay flows to both be answered.
  auto r = docker("run -d -p 127.0.0.1:" + ps + ":53/udp alpine sh -c 'nc -u -l -p 53 -e cat & exec nc -u -l -p 53 -e cat'");
  ASSERT_EQ(r.status, 0) << r.out;
  std::string id = trim(r.out);
  UdpClient a, b;
  ASSERT_GE(a.fd, 0);
  ASSERT_GE(b.fd, 0);
  std::uint16_t from = 0;
  EXPECT_EQ(a.ask(port, "from a 1\n", &from), "from a 1\n");
  EXPECT_EQ(from, port) << "replies come from the published port";
  from = 0;
  EXPECT_EQ(b.ask(port, "from b 1\n", &from), "from b 1\n");
  EXPECT_EQ(from, port);
  std::string big(1200, 'x');
  EXPECT_EQ(a.ask(port, big + "\n", &from), big + "\n");
  EXPECT_EQ(b.ask(port, "from b 2\n", &from), "from b 2\n");
  json ports = inspect(id)["NetworkSettings"]["Ports"];
  EXPECT_EQ(ports, json::parse(R"({"53/udp":[{"HostIp":"127.0.0.1","HostPort":")" + ps + R"("}]})"));
  // Stop: the relay, its flows and the held port go.
  ASSERT_EQ(docker("stop -t 1 " + id).status, 0);
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(port);
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof at), 0) << "udp port " << port << " still held after stop";
  ::close(fd);
}

TEST_F(Network, PublishAllGetsAnEphemeralPort) {
  std::string id = run_httpd("-P --expose 80", "ephemeral-hello");
  ASSERT_FALSE(id.empty());
  json ports = inspect(id)["NetworkSettings"]["Ports"];
  ASSERT_TRUE(ports["80/tcp"].is_array()) << ports.dump();
  int p = std::stoi(ports["80/tcp"][0].value("HostPort", "0"));
  EXPECT_GE(p, 32768);
  EXPECT_LE(p, 60999);
  EXPECT_EQ(ports["80/tcp"][0].value("HostIp", ""), "0.0.0.0");
  EXPECT_EQ(curl_until("http://127.0.0.1:" + std::to_string(p) + "/"), "ephemeral-hello\n");
}

TEST_F(Network, TakenPortIsAlreadyAllocatedAndLeavesNothing) {
  std::uint16_t port = 0;
  int fd = listen_on("127.0.0.1", &port);
  ASSERT_GE(fd, 0);
  std::string ps = std::to_string(port);
  auto r = docker("run -d --name taken -p 127.0.0.1:" + ps + ":80 alpine sleep 60");
  ::close(fd);
  EXPECT_NE(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("Bind for 127.0.0.1:" + ps + " failed: port is already allocated"), std::string::npos)
      << r.out;
  std::string id = trim(docker("inspect -f '{{.Id}}' taken").out);
  ASSERT_EQ(id.size(), 64U) << id;
  EXPECT_FALSE(link_exists("bk" + id.substr(0, 11)));
  EXPECT_EQ(ipam_state().find(id), std::string::npos) << ipam_state();
  EXPECT_EQ(nft_table().find("bocker:" + id), std::string::npos) << nft_table();
  EXPECT_NE(docker("inspect -f '{{.State.Status}}' taken").out.find("exited"), std::string::npos);

  // Held by another container: the second start fails the same way, the first keeps working.
  std::uint16_t p2 = free_port();
  std::string first = run_httpd("-p 127.0.0.1:" + std::to_string(p2) + ":80", "first");
  auto second = docker("run -d -p 127.0.0.1:" + std::to_string(p2) + ":80 alpine sleep 60");
  EXPECT_NE(second.status, 0);
  EXPECT_NE(second.out.find("port is already allocated"), std::string::npos) << second.out;
  EXPECT_EQ(curl_until("http://127.0.0.1:" + std::to_string(p2) + "/"), "first\n");
}

TEST_F(Network, BadPortBindingsAreRejectedAtCreate) {
  auto r = run(d_->curl(
      "POST", "/containers/create",
      "-H 'Content-Type: application/json' -d '{\"Image\":\"alpine\",\"HostConfig\":{\"PortBindings\":"
      "{\"80/sctp\":[{\"HostPort\":\"1\"}]}}}'"));
  EXPECT_NE(r.out.find("HTTP 400"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("80/sctp"), std::string::npos) << r.out;
  auto r2 = run(d_->curl(
      "POST", "/containers/create",
      "-H 'Content-Type: application/json' -d '{\"Image\":\"alpine\",\"HostConfig\":{\"PortBindings\":"
      "{\"80/tcp\":[{\"HostPort\":\"70000\"}]}}}'"));
  EXPECT_NE(r2.out.find("HTTP 400"), std::string::npos) << r2.out;
  EXPECT_EQ(trim(docker("ps -aq").out), "");
}

TEST_F(Network, Kill9ThenRestartSweepsWhatDeadContainersLeft) {
  std::uint16_t port = free_port();
  auto r = docker("run -d -p 127.0.0.1:" + std::to_string(port) + ":80 alpine sleep 600");
  ASSERT_EQ(r.status, 0) << r.out;
  std::string id = trim(r.out);
  int pid = inspect(id)["State"].value("Pid", 0);
  ASSERT_GT(pid, 0);
  d_->kill9();
  // The container dies while the daemon is down; a veth of an unknown container is left too.
  ::kill(pid, SIGKILL);
  std::string stray = "bkdeadbeef000";
  ASSERT_EQ(run("ip link add " + stray + " type veth peer name bkpeer" + std::to_string(::getpid() % 100000) +
                " && ip link set " + stray + " master " + bridge_)
                .status,
            0);
  for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(50ms);
  ASSERT_EQ(d_->start(), "");
  // The socket listens before the daemon has swept; the first answer comes after it.
  auto ping = run(d_->curl("GET", "/_ping"));
  ASSERT_NE(ping.out.find("HTTP 200"), std::string::npos) << ping.out;
  EXPECT_FALSE(link_exists(stray));
  EXPECT_FALSE(link_exists("bk" + id.substr(0, 11)));
  EXPECT_EQ(nft_table().find("bocker:" + id), std::string::npos) << nft_table();
  EXPECT_EQ(ipam_state().find(id), std::string::npos) << ipam_state();
  EXPECT_NE(docker("inspect -f '{{.State.Status}}' " + id).out.find("exited"), std::string::npos);
  // And the network works for new containers.
  auto again = docker("run --rm alpine ip -o -4 addr show eth0");
  EXPECT_EQ(again.status, 0) << again.out;
}

TEST_F(Network, Kill9KeepsARunningContainersAddressAndPublishedPort) {
  std::uint16_t port = free_port();
  std::string ps = std::to_string(port);
  std::string id = run_httpd("-p 127.0.0.1:" + ps + ":80", "survives");
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(curl_until("http://127.0.0.1:" + ps + "/"), "survives\n");
  std::string ip = inspect(id)["NetworkSettings"].value("IPAddress", "");
  ASSERT_FALSE(ip.empty());
  d_->kill9();
  ASSERT_EQ(d_->start(), "");
  auto ping = run(d_->curl("GET", "/_ping"));
  ASSERT_NE(ping.out.find("HTTP 200"), std::string::npos) << ping.out;
  json j = inspect(id);
  if (j["State"].value("Status", "") != "running")
    GTEST_SKIP() << "live restore did not re-adopt the container";
  EXPECT_EQ(j["NetworkSettings"].value("IPAddress", ""), ip);
  EXPECT_TRUE(link_exists("bk" + id.substr(0, 11)));
  EXPECT_NE(ipam_state().find(id), std::string::npos) << ipam_state();
  EXPECT_EQ(curl_until("http://127.0.0.1:" + ps + "/"), "survives\n");
  // Its stop still cleans up.
  ASSERT_EQ(docker("stop -t 1 " + id).status, 0);
  EXPECT_EQ(nft_table().find("bocker:" + id), std::string::npos) << nft_table();
  EXPECT_EQ(ipam_state().find(id), std::string::npos) << ipam_state();
}

}  // namespace
}  // namespace bocker::daemon::testing
