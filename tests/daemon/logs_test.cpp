// Log capture and `logs` against a real bockerd (root, Alpine): size-based rotation (max-size,
// max-file) with --tail across files, both streams with timestamps, invalid log options (400,
// nothing created), log driver "none", a 100 MB write captured byte for byte, a record cut by a
// crash dropped at reopen, and no io_uring io-wq thread left behind by capture (it would wake an
// idle daemon every 5 s).
#include "daemon_fixture.hpp"

namespace bocker::daemon::testing {
namespace {

using nlohmann::json;

class Logs : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (namespaces, cgroups, overlay2)";
    if (!fs::exists(kAlpineTarball)) GTEST_SKIP() << kAlpineTarball << " missing";
    root_ = std::make_unique<TestRoot>(Storage::kOverlay2);
    d_ = std::make_unique<DaemonProcess>(root_->root(), root_->dir() + "/b.sock", root_->dir() + "/bockerd.log",
                                         std::vector<std::string>{"--storage-driver", "overlay2"});
    ASSERT_EQ(d_->start(), "");
    auto imp = run(d_->bocker("import " + kAlpineTarball + " alpine:latest"));
    ASSERT_EQ(imp.status, 0) << imp.out;
  }
  void TearDown() override {
    if (d_) {
      run(d_->bocker("rm -f $(" + d_->bocker("ps -aq") + ") >/dev/null 2>&1"));
      d_->stop();
    }
    d_.reset();
    root_.reset();
  }
  // POST /containers/create with `body`; returns the id ("" and a failure when it is not 201).
  std::string create(const json& body, const std::string& name) {
    std::string file = root_->dir() + "/body.json";
    json b = body;
    b["HostConfig"]["NetworkMode"] = "none";  // these tests don't need a network
    { std::ofstream(file) << b.dump(); }
    auto r = run(d_->curl("POST", "/containers/create?name=" + name,
                          "-H 'Content-Type: application/json' --data-binary @" + file));
    if (r.out.find("HTTP 201") == std::string::npos) {
      ADD_FAILURE() << r.out;
      return "";
    }
    return json::parse(r.out.substr(0, r.out.rfind('\n')))["Id"];
  }
  CmdResult create_raw(const json& body) {
    std::string file = root_->dir() + "/body.json";
    { std::ofstream(file) << body.dump(); }
    return run(d_->curl("POST", "/containers/create", "-H 'Content-Type: application/json' --data-binary @" + file));
  }
  void run_to_end(const std::string& name) {
    auto st = run("timeout 60 env " + d_->bocker("start " + name));
    ASSERT_EQ(st.status, 0) << st.out;
    auto w = run("timeout 120 env " + d_->bocker("wait " + name));
    ASSERT_EQ(w.out, "0\n") << w.out;
  }

  std::unique_ptr<TestRoot> root_;
  std::unique_ptr<DaemonProcess> d_;
};

TEST_F(Logs, RotationKeepsMaxFileFilesOfMaxSizeAndTailReadsTheEnd) {
  // seq 1 450000: 3,088,895 bytes.
  json body = {{"Image", "alpine"},
               {"Cmd", {"seq", "1", "450000"}},
               {"HostConfig", {{"LogConfig", {{"Type", "json-file"}, {"Config", {{"max-size", "1m"}, {"max-file", "2"}}}}}}}};
  std::string id = create(body, "rot");
  ASSERT_FALSE(id.empty());
  run_to_end("rot");
  std::string dir = root_->root() + "/containers/" + id;
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string n = e.path().filename();
    if (n.rfind("container.log", 0) != 0) continue;
    ++files;
    EXPECT_LE(fs::file_size(e.path()), 1024U * 1024U) << n;
  }
  EXPECT_EQ(files, 2);
  EXPECT_TRUE(fs::exists(dir + "/container.log.1"));
  auto tail = run(d_->bocker("logs --tail 5 rot"));
  EXPECT_EQ(tail.out, "449996\n449997\n449998\n449999\n450000\n");
  // Everything kept reads back in order, from some line on to the last, across both files (the
  // oldest file may start inside a line: rotation cuts at max-size, not at a newline).
  auto all = run("(" + d_->bocker("logs rot") + " 2>/dev/null)");
  std::istringstream in(all.out.substr(all.out.find('\n') + 1));
  long first = -1, prev = -1, count = 0;
  for (long n; in >> n; prev = n, ++count) {
    if (first < 0) first = n;
    if (prev >= 0 && n != prev + 1) {
      ADD_FAILURE() << "gap after " << prev << ": " << n;
      break;
    }
  }
  EXPECT_EQ(prev, 450000);
  EXPECT_GT(count, 100000) << "about 2 MiB of lines are kept";
  EXPECT_LT(count, 450000) << "the oldest file was dropped";
  // A tail longer than the newest file reaches into the older one.
  long in_newest = 0;
  {
    std::ifstream f(dir + "/container.log", std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(f)), {});
    in_newest = std::count(s.begin(), s.end(), '\n');
  }
  auto big = run("(" + d_->bocker("logs --tail " + std::to_string(in_newest + 10) + " rot") + " | head -1)");
  EXPECT_EQ(std::stol(big.out), 450000 - in_newest - 9) << big.out;
}

TEST_F(Logs, BothStreamsWithTimestampsSinceAndTail) {
  json body = {{"Image", "alpine"},
               {"Cmd", {"sh", "-c", "for i in 1 2 3; do echo out $i; sleep 0.05; echo err $i >&2; sleep 0.05; done; printf partial"}}};
  ASSERT_FALSE(create(body, "both").empty());
  run_to_end("both");
  auto out = run("(" + d_->bocker("logs both") + " 2>/dev/null)");
  EXPECT_EQ(out.out, "out 1\nout 2\nout 3\npartial");
  auto err = run("(" + d_->bocker("logs both") + " 2>&1 >/dev/null)");
  EXPECT_EQ(err.out, "err 1\nerr 2\nerr 3\n");
  auto ts = run("(" + d_->bocker("logs -t both") + " 2>/dev/null)");
  EXPECT_THAT(ts.out, ::testing::MatchesRegex("([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]+\\.[0-9]{9}Z out [0-9]\n){3}"
                                              "[0-9]{4}-[0-9-]+T[0-9:.]+Z partial"));
  // The last two lines of either stream, the unterminated last one included.
  auto tail = run("(" + d_->bocker("logs --tail 2 both") + " 2>&1)");
  EXPECT_EQ(tail.out.size(), std::string("err 3\npartial").size()) << tail.out;
  auto tail_out = run("(" + d_->bocker("logs --tail 2 both") + " 2>/dev/null)");
  EXPECT_EQ(tail_out.out, "partial");
  auto future = run("(" + d_->bocker("logs --since 4102444800 both") + " 2>&1)");  // 2100-01-01
  EXPECT_EQ(future.out, "");
}

TEST_F(Logs, InvalidLogOptionsAre400AndCreateNothing) {
  auto before = listing(root_->root() + "/containers");
  for (const json& lc : {json{{"Type", "syslog"}},
                         json{{"Type", "json-file"}, {"Config", {{"max-size", "ten"}}}},
                         json{{"Type", "json-file"}, {"Config", {{"max-size", "-1m"}}}},
                         json{{"Type", "json-file"}, {"Config", {{"max-size", "1m"}, {"max-file", "0"}}}},
                         json{{"Type", "json-file"}, {"Config", {{"max-file", "3"}}}},
                         json{{"Type", "local"}, {"Config", {{"colour", "blue"}}}},
                         json{{"Type", 5}}}) {
    auto r = create_raw({{"Image", "alpine"}, {"Cmd", {"true"}}, {"HostConfig", {{"LogConfig", lc}}}});
    EXPECT_NE(r.out.find("HTTP 400"), std::string::npos) << lc.dump() << ": " << r.out;
    EXPECT_NE(r.out.find("\"message\""), std::string::npos) << r.out;
  }
  EXPECT_EQ(listing(root_->root() + "/containers"), before);
  EXPECT_EQ(run(d_->bocker("ps -aq")).out, "");
}

TEST_F(Logs, DriverNoneWritesNothingAndLogsSaysSo) {
  json body = {{"Image", "alpine"}, {"Cmd", {"echo", "hidden"}}, {"HostConfig", {{"LogConfig", {{"Type", "none"}}}}}};
  std::string id = create(body, "quiet");
  ASSERT_FALSE(id.empty());
  run_to_end("quiet");
  EXPECT_FALSE(fs::exists(root_->root() + "/containers/" + id + "/container.log"));
  auto r = run(d_->curl("GET", "/containers/quiet/logs?stdout=1"));
  EXPECT_NE(r.out.find("does not support reading"), std::string::npos) << r.out;
}

TEST_F(Logs, HundredMegabytesAreCapturedByteForByte) {
  // 100,000,000 bytes of 50-byte lines.
  json body = {{"Image", "alpine"},
               {"Cmd", {"sh", "-c", "yes 0123456789012345678901234567890123456789012345678 | head -c 100000000"}}};
  ASSERT_FALSE(create(body, "big").empty());
  auto t0 = std::chrono::steady_clock::now();
  run_to_end("big");
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "100 MB captured in " << secs << " s (" << 100 / secs << " MB/s)\n";
  auto wc = run("(" + d_->bocker("logs big") + " 2>/dev/null | wc -c)");
  EXPECT_EQ(wc.out, "100000000\n");
  auto lines = run("(" + d_->bocker("logs big") + " 2>/dev/null | uniq -c)");
  EXPECT_EQ(lines.out, "2000000 0123456789012345678901234567890123456789012345678\n") << "no line torn or lost";
  auto tail = run(d_->bocker("logs --tail 1 big"));
  EXPECT_EQ(tail.out, "0123456789012345678901234567890123456789012345678\n");
}

TEST_F(Logs, FollowCrossesRotations) {
  json body = {{"Image", "alpine"},
               {"Cmd", {"sh", "-c", "sleep 1; seq 1 200000; sleep 0.5; echo done"}},
               {"HostConfig", {{"LogConfig", {{"Type", "json-file"}, {"Config", {{"max-size", "64k"}, {"max-file", "3"}}}}}}}};
  ASSERT_FALSE(create(body, "fol").empty());
  ASSERT_EQ(run("timeout 60 env " + d_->bocker("start fol")).status, 0);
  // -f from the start, while the writer rotates through many 64 KiB files.
  auto f = run("(timeout 60 env " + d_->bocker("logs -f fol") + " 2>/dev/null | tail -2)");
  EXPECT_EQ(f.out, "200000\ndone\n");
}

TEST_F(Logs, ARecordCutByACrashIsDroppedWhenTheDaemonReopensTheLog) {
  json body = {{"Image", "alpine"}, {"Cmd", {"echo", "one"}}};
  std::string id = create(body, "cut");
  ASSERT_FALSE(id.empty());
  run_to_end("cut");
  d_->stop();
  const std::string log = root_->root() + "/containers/" + id + "/container.log";
  std::string whole;
  {
    std::ifstream f(log, std::ios::binary);
    whole.assign(std::istreambuf_iterator<char>(f), {});
  }
  // One record: header, "one\n", an 8-byte trailer. A daemon killed while writing the next
  // one leaves its header and part of its data.
  ASSERT_GT(whole.size(), 12U);
  const std::size_t header = whole.size() - 4 - 8;
  {
    std::ofstream f(log, std::ios::binary | std::ios::app);
    f << whole.substr(0, header) << "o";
  }
  ASSERT_EQ(d_->start(), "");
  run_to_end("cut");
  EXPECT_EQ(fs::file_size(log), 2 * whole.size()) << "the cut record is gone, the new one follows the first";
  auto out = run("(" + d_->bocker("logs cut") + " 2>&1)");
  EXPECT_EQ(out.out, "one\none\n");
  EXPECT_NE(read_file(root_->dir() + "/bockerd.log").find("after the last whole log record"), std::string::npos);
}

TEST_F(Logs, CaptureAndLogsLeaveNoIoUringWorkerThread) {
  // An io_uring op the kernel cannot complete without blocking (a READ of a named FIFO, a
  // buffered WRITEV to a log file) is handed to an io-wq thread `iou-wrk-PID`, and the kernel
  // keeps the last one alive, waking it every 5 s: with it an idle daemon is never idle. Drive
  // every capture path (both streams, a container exiting with output still queued, stdin, a
  // follow, a read of the file) and check that no such thread was ever needed.
  json body = {{"Image", "alpine"},
               {"Cmd", {"sh", "-c", "seq 1 20000; echo err >&2; sleep 0.3; seq 1 3 >&2"}}};
  ASSERT_FALSE(create(body, "idle").empty());
  run_to_end("idle");
  EXPECT_EQ(run("(" + d_->bocker("logs idle") + " 2>/dev/null | tail -1)").out, "20000\n");
  EXPECT_EQ(run("(" + d_->bocker("logs -f idle") + " 2>&1 >/dev/null)").out, "err\n1\n2\n3\n");
  auto in = run("(echo through-stdin | timeout 60 env " + d_->bocker("run -i --rm --network none alpine cat") + ")");
  EXPECT_EQ(in.out, "through-stdin\n");
  std::vector<std::string> workers;
  for (const auto& t : fs::directory_iterator("/proc/" + std::to_string(d_->pid()) + "/task")) {
    std::ifstream f(t.path() / "comm");
    std::string comm;
    std::getline(f, comm);
    if (comm.rfind("iou-wrk", 0) == 0) workers.push_back(t.path().filename().string() + " " + comm);
  }
  EXPECT_TRUE(workers.empty()) << "io-wq threads in bockerd: " << ::testing::PrintToString(workers);
}

}  // namespace
}  // namespace bocker::daemon::testing
