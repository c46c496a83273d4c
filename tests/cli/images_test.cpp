// The image commands against the in-test fake daemon: pull, images, rmi, tag, image inspect,
// import and init (streamed, chunked request bodies), plus the table/time/size formatting.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <sstream>

#include "bocker/cli/command.hpp"
#include "bocker/cli/image_format.hpp"
#include "bocker/image/tar.hpp"
#include "fake_server.hpp"

namespace bocker::cli {
namespace {

using ::testing::ElementsAre;
using testing::FakeRequest;
using testing::FakeServer;
using ::testing::HasSubstr;
using testing::http_response;
using ::testing::StartsWith;
using testing::TempDir;

struct Outcome {
  int rc;
  std::string out;
  std::string err;
};

Outcome run_cli(std::vector<std::string> argv) {
  std::ostringstream out, err;
  Env e = Env::from_map({{"BOCKER_NO_AUTOSTART", "1"}});
  int rc = run(argv, out, err, e);
  return {rc, out.str(), err.str()};
}

using Route = std::function<std::string(const FakeRequest&, int fd)>;

// Answers /_ping for API 1.47 and hands everything else to `route`.
FakeServer::Handler with_ping(Route route) {
  return [route](const FakeRequest& r, int fd) {
    if (r.path == "/_ping") return http_response(200, "OK", {"Api-Version: 1.47"}, "text/plain");
    return route(r, fd);
  };
}

std::string lines(std::initializer_list<std::string> ls) {
  std::string s;
  for (const auto& l : ls) s += l + "\r\n";
  return s;
}

// Reads a chunked request body: `have` is what the server read past the head, the rest comes from
// `fd`. Sets `complete` when the terminating zero chunk arrived.
std::string read_chunked(std::string have, int fd, bool& complete) {
  complete = false;
  std::string out;
  std::size_t pos = 0;
  auto fill = [&](std::size_t want) {
    char tmp[65536];
    while (have.size() < want) {
      ssize_t n = ::recv(fd, tmp, sizeof(tmp), 0);
      if (n <= 0) return false;
      have.append(tmp, static_cast<std::size_t>(n));
    }
    return true;
  };
  for (;;) {
    std::size_t eol;
    while ((eol = have.find("\r\n", pos)) == std::string::npos) {
      if (!fill(have.size() + 1)) return out;
    }
    std::size_t size = std::stoul(have.substr(pos, eol - pos), nullptr, 16);
    pos = eol + 2;
    if (size == 0) {
      complete = fill(pos + 2);
      return out;
    }
    if (!fill(pos + size + 2)) return out;
    out.append(have, pos, size);
    pos += size + 2;
  }
}

// Collects the entries of a tar stream: name -> (type, data).
struct CollectSink : image::TarSink {
  std::map<std::string, std::pair<char, std::string>> entries;
  std::string current;
  void on_entry(const image::TarHeader& h) override {
    current = h.name;
    entries[current] = {h.type, ""};
  }
  void on_data(std::span<const std::byte> c) override {
    entries[current].second.append(reinterpret_cast<const char*>(c.data()), c.size());
  }
  void on_entry_end() override {}
};

void write_file(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary);
  f << data;
  ASSERT_TRUE(f.good()) << path;
}

const std::string kId = "sha256:" + std::string(64, 'e');

// ---------------------------------------------------------------- formatting

TEST(ImageFormat, HumanDuration) {
  EXPECT_EQ(human_duration(-5), "Less than a second");
  EXPECT_EQ(human_duration(0), "Less than a second");
  EXPECT_EQ(human_duration(1), "1 second");
  EXPECT_EQ(human_duration(59), "59 seconds");
  EXPECT_EQ(human_duration(60), "About a minute");
  EXPECT_EQ(human_duration(119), "About a minute");
  EXPECT_EQ(human_duration(120), "2 minutes");
  EXPECT_EQ(human_duration(3599), "59 minutes");
  EXPECT_EQ(human_duration(3600), "About an hour");
  EXPECT_EQ(human_duration(5399), "About an hour");
  EXPECT_EQ(human_duration(5400), "2 hours");
  EXPECT_EQ(human_duration(47 * 3600), "47 hours");
  EXPECT_EQ(human_duration(48 * 3600), "2 days");
  EXPECT_EQ(human_duration(13 * 86400), "13 days");
  EXPECT_EQ(human_duration(14 * 86400), "2 weeks");
  EXPECT_EQ(human_duration(59 * 86400), "8 weeks");
  EXPECT_EQ(human_duration(60 * 86400), "2 months");
  EXPECT_EQ(human_duration(729 * 86400), "24 months");
  EXPECT_EQ(human_duration(730 * 86400), "2 years");
}

TEST(ImageFormat, SizesAndIds) {
  EXPECT_EQ(image_size(0), "0B");
  EXPECT_EQ(image_size(999), "999B");
  EXPECT_EQ(image_size(7800000), "7.8MB");
  EXPECT_EQ(image_size(5593000), "5.59MB");
  EXPECT_EQ(image_size(123456789), "123MB");
  EXPECT_EQ(image_size(999999), "1MB");
  EXPECT_EQ(image_size(1234567890), "1.23GB");
  EXPECT_EQ(short_image_id("sha256:0123456789abcdef"), "0123456789ab");
  EXPECT_EQ(short_image_id("0123456789abcdef"), "0123456789ab");
  EXPECT_EQ(image_path("localhost:5000/a/b:1@sha256:x"), "localhost:5000/a/b:1@sha256:x");
  EXPECT_EQ(image_path("a b?c#"), "a%20b%3Fc%23");
}

TEST(ImageFormat, ApiReference) {
  auto a = api_reference("alpine");
  EXPECT_EQ(a.name, "docker.io/library/alpine");
  EXPECT_EQ(a.tag, "latest");
  EXPECT_EQ(a.canonical, "docker.io/library/alpine:latest");
  std::string digest = "sha256:" + std::string(64, 'a');
  auto d = api_reference("user/app@" + digest);
  EXPECT_EQ(d.name, "docker.io/user/app");
  EXPECT_EQ(d.tag, digest);
  EXPECT_EQ(d.canonical, "docker.io/user/app@" + digest);
  auto l = api_reference("localhost:5000/x:v2");
  EXPECT_EQ(l.name, "localhost:5000/x");
  EXPECT_EQ(l.tag, "v2");
  EXPECT_THROW(api_reference("Alpine"), Error);
  EXPECT_THROW(api_reference("alpine:bad:tag"), Error);
}

constexpr std::int64_t kNow = 1700000000;

nlohmann::json image_list() {
  return nlohmann::json::parse(R"([
    {"Id":"sha256:1111111111112222222222222222222222222222222222222222222222222222","Created":)" +
                               std::to_string(kNow - 7200) + R"(,"Size":7800000,
     "RepoTags":["alpine:latest","alpine:3.19"],"RepoDigests":["alpine@sha256:dddd"]},
    {"Id":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","Created":)" +
                               std::to_string(kNow - 21 * 86400) + R"(,"Size":123456789,
     "RepoTags":[],"RepoDigests":[]},
    {"Id":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","Created":)" +
                               std::to_string(kNow - 300) + R"(,"Size":4261000,
     "RepoTags":["docker.io/library/busybox:latest","localhost:5000/tools/busybox:v1"]}
  ])");
}

TEST(ImageList, TableNewestFirstWithDockerWidths) {
  EXPECT_EQ(format_image_list(image_list(), {}, kNow),
            "REPOSITORY                     TAG       IMAGE ID       CREATED         SIZE\n"
            "busybox                        latest    cccccccccccc   5 minutes ago   4.26MB\n"
            "localhost:5000/tools/busybox   v1        cccccccccccc   5 minutes ago   4.26MB\n"
            "alpine                         latest    111111111111   2 hours ago     7.8MB\n"
            "alpine                         3.19      111111111111   2 hours ago     7.8MB\n"
            "<none>                         <none>    bbbbbbbbbbbb   3 weeks ago     123MB\n");
  EXPECT_EQ(format_image_list(nlohmann::json::array(), {}, kNow),
            "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n");
}

TEST(ImageList, DigestsColumnAndFilter) {
  EXPECT_EQ(format_image_list(image_list(), {.digests = true, .reference = "alpine:lat*"}, kNow),
            "REPOSITORY   TAG       DIGEST        IMAGE ID       CREATED       SIZE\n"
            "alpine       latest    sha256:dddd   111111111111   2 hours ago   7.8MB\n");
  std::string busy = format_image_list(image_list(), {.quiet = true, .reference = "*busybox"}, kNow);
  EXPECT_EQ(busy, "cccccccccccc\n");
  EXPECT_EQ(format_image_list(image_list(), {.quiet = true, .reference = "nothing"}, kNow), "");
}

TEST(ImageList, QuietListsEachImageOnce) {
  EXPECT_EQ(format_image_list(image_list(), {.quiet = true}, kNow),
            "cccccccccccc\n111111111111\nbbbbbbbbbbbb\n");
  std::string full = format_image_list(image_list(), {.quiet = true, .no_trunc = true}, kNow);
  EXPECT_THAT(full, StartsWith("sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\n"));
}

TEST(ImageList, Formats) {
  std::string json = format_image_list(image_list(), {.format = "{{json .}}"}, kNow);
  std::istringstream in(json);
  std::string first;
  std::getline(in, first);
  auto j = nlohmann::json::parse(first);
  EXPECT_EQ(j["Repository"], "busybox");
  EXPECT_EQ(j["Tag"], "latest");
  EXPECT_EQ(j["ID"], "cccccccccccc");
  EXPECT_EQ(j["CreatedSince"], "5 minutes ago");
  EXPECT_EQ(j["CreatedAt"], "2023-11-14 22:08:20 +0000 UTC");
  EXPECT_EQ(j["Size"], "4.26MB");
  EXPECT_EQ(std::count(json.begin(), json.end(), '\n'), 5);
  EXPECT_EQ(
      format_image_list(image_list(), {.format = "{{.Repository}}:{{.Tag}}", .reference = "alpine"}, kNow),
      "alpine:latest\nalpine:3.19\n");
  EXPECT_THROW(format_image_list(image_list(), {.format = "{{range .}}"}, kNow), UsageError);
}

// ---------------------------------------------------------------- pull

const std::string kPullBody = lines(
    {R"({"status":"Pulling from library/alpine","id":"3.19"})",
     R"({"status":"Pulling fs layer","progressDetail":{},"id":"c6a83fedfae6"})",
     R"({"status":"Downloading","progressDetail":{"current":100000,"total":3400000},"id":"c6a83fedfae6"})",
     R"({"status":"Downloading","progressDetail":{"current":200000,"total":3400000},"id":"c6a83fedfae6"})",
     R"({"status":"Download complete","progressDetail":{},"id":"c6a83fedfae6"})",
     R"({"status":"Pull complete","progressDetail":{},"id":"c6a83fedfae6"})",
     R"({"status":"Digest: sha256:abcd"})",
     R"({"status":"Status: Downloaded newer image for alpine:3.19"})"});

TEST(Pull, PlainProgressAndCanonicalName) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock",
                 with_ping([](const FakeRequest&, int) { return http_response(200, kPullBody); }));
  Outcome o = run_cli({"-H", srv.uri(), "pull", "alpine:3.19"});
  EXPECT_EQ(o.rc, 0) << o.err;
  EXPECT_EQ(o.out,
            "3.19: Pulling from library/alpine\n"
            "c6a83fedfae6: Pulling fs layer\n"
            "c6a83fedfae6: Downloading 100kB/3.4MB\n"
            "c6a83fedfae6: Download complete\n"
            "c6a83fedfae6: Pull complete\n"
            "Digest: sha256:abcd\n"
            "Status: Downloaded newer image for alpine:3.19\n"
            "docker.io/library/alpine:3.19\n");
  EXPECT_EQ(o.err, "");
  auto req = srv.requests().back();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/v1.47/images/create?fromImage=docker.io%2Flibrary%2Falpine&tag=3.19");
}

TEST(Pull, ArgumentForms) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock",
                 with_ping([](const FakeRequest&, int) { return http_response(200, kPullBody); }));
  std::string digest = "sha256:" + std::string(64, '0');
  struct Case {
    std::vector<std::string> args;
    std::string path;
    std::string last_line;
  } cases[] = {
      {{"pull", "alpine"},
       "fromImage=docker.io%2Flibrary%2Falpine&tag=latest",
       "docker.io/library/alpine:latest"},
      {{"pull", "alpine", "3.19"},
       "fromImage=docker.io%2Flibrary%2Falpine&tag=3.19",
       "docker.io/library/alpine:3.19"},
      {{"pull", "me/app", digest},
       "fromImage=docker.io%2Fme%2Fapp&tag=sha256%3A" + std::string(64, '0'),
       "docker.io/me/app@" + digest},
      {{"pull", "--platform", "linux/arm64", "quay.io/x/y:1"},
       "fromImage=quay.io%2Fx%2Fy&tag=1&platform=linux%2Farm64",
       "quay.io/x/y:1"},
      {{"image", "pull", "-q", "alpine"}, "fromImage=docker.io%2Flibrary%2Falpine&tag=latest", ""},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv = {"-H", srv.uri()};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    Outcome o = run_cli(argv);
    EXPECT_EQ(o.rc, 0) << o.err;
    EXPECT_EQ(srv.requests().back().path, "/v1.47/images/create?" + c.path);
    if (!c.last_line.empty()) {
      EXPECT_THAT(o.out, ::testing::EndsWith("\n" + c.last_line + "\n"));
    }
  }
  // -q prints nothing but the name.
  Outcome q = run_cli({"-H", srv.uri(), "pull", "-q", "alpine"});
  EXPECT_EQ(q.out, "docker.io/library/alpine:latest\n");
}

TEST(Pull, UsageAndReferenceErrorsNeedNoDaemon) {
  Outcome none = run_cli({"-H", "unix:///nonexistent/d.sock", "pull"});
  EXPECT_EQ(none.rc, kExitUsage);
  EXPECT_THAT(none.err, StartsWith("bocker: 'bocker pull' requires at least 1 argument"));
  Outcome three = run_cli({"-H", "unix:///nonexistent/d.sock", "pull", "a", "b", "c"});
  EXPECT_EQ(three.rc, kExitUsage);
  EXPECT_THAT(three.err, StartsWith("bocker: 'bocker pull' accepts at most 2 arguments"));
  Outcome bad = run_cli({"-H", "unix:///nonexistent/d.sock", "pull", "Alpine"});
  EXPECT_EQ(bad.rc, 1);
  EXPECT_THAT(bad.err, HasSubstr("invalid reference format"));
  Outcome flag = run_cli({"-H", "unix:///nonexistent/d.sock", "pull", "--all", "x"});
  EXPECT_EQ(flag.rc, kExitUsage);
}

TEST(Pull, ErrorInStreamGoesToStderrExit1) {
  TempDir dir;
  FakeServer srv(
      dir.path() + "/d.sock", with_ping([](const FakeRequest&, int) {
        return http_response(
            200,
            lines({R"({"status":"Pulling from library/alpine","id":"nope"})",
                   R"({"errorDetail":{"message":"manifest for alpine:nope not found: manifest unknown"},)"
                   R"("error":"manifest for alpine:nope not found: manifest unknown"})"}));
      }));
  Outcome o = run_cli({"-H", srv.uri(), "pull", "alpine:nope"});
  EXPECT_EQ(o.rc, 1);
  EXPECT_EQ(o.out, "nope: Pulling from library/alpine\n");
  EXPECT_EQ(o.err, "manifest for alpine:nope not found: manifest unknown\n");
}

TEST(Pull, ErrorStatusIsDaemonError) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", with_ping([](const FakeRequest&, int) {
                   return http_response(404, R"({"message":"pull access denied for nope"})");
                 }));
  Outcome o = run_cli({"-H", srv.uri(), "pull", "nope"});
  EXPECT_EQ(o.rc, 1);
  EXPECT_EQ(o.err, "Error response from daemon: pull access denied for nope\n");
}

// ---------------------------------------------------------------- images, rmi, tag, inspect

TEST(Images, ListsFromDaemonAndPassesAll) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", with_ping([](const FakeRequest& r, int) {
                   if (r.path.starts_with("/v1.47/images/json"))
                     return http_response(200, image_list().dump());
                   return http_response(404, R"({"message":"page not found"})");
                 }));
  Outcome o = run_cli({"-H", srv.uri(), "images"});
  EXPECT_EQ(o.rc, 0) << o.err;
  EXPECT_THAT(o.out, StartsWith("REPOSITORY                     TAG       IMAGE ID       CREATED"));
  EXPECT_THAT(o.out, HasSubstr("\nalpine                         3.19      111111111111   "));
  EXPECT_EQ(srv.requests().back().path, "/v1.47/images/json");
  Outcome q = run_cli({"-H", srv.uri(), "image", "ls", "-aq", "alpine"});
  EXPECT_EQ(q.rc, 0) << q.err;
  EXPECT_EQ(q.out, "111111111111\n");
  EXPECT_EQ(srv.requests().back().path, "/v1.47/images/json?all=1");
  Outcome list = run_cli({"-H", srv.uri(), "image", "list", "--format", "{{.ID}}", "busybox"});
  EXPECT_EQ(list.out, "cccccccccccc\n");
  Outcome two = run_cli({"-H", srv.uri(), "images", "a", "b"});
  EXPECT_EQ(two.rc, kExitUsage);
}

TEST(Rmi, PrintsResultsAndContinuesAfterFailure) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", with_ping([](const FakeRequest& r, int) {
                   if (r.path.starts_with("/v1.47/images/nope")) {
                     return http_response(404, R"({"message":"No such image: nope:latest"})");
                   }
                   return http_response(200,
                                        R"([{"Untagged":"alpine:latest"},{"Deleted":")" + kId + R"("}])");
                 }));
  Outcome o = run_cli({"-H", srv.uri(), "rmi", "-f", "nope", "alpine", "--no-prune"});
  EXPECT_EQ(o.rc, 1);
  EXPECT_EQ(o.out, "Untagged: alpine:latest\nDeleted: " + kId + "\n");
  EXPECT_EQ(o.err, "Error response from daemon: No such image: nope:latest\n");
  auto reqs = srv.requests();
  ASSERT_EQ(reqs.size(), 2u);  // no /_ping first: the answers settle the API version
  EXPECT_EQ(reqs[0].method, "DELETE");
  EXPECT_EQ(reqs[0].path, "/v1.47/images/nope?force=1&noprune=1");
  EXPECT_EQ(reqs[1].path, "/v1.47/images/alpine?force=1&noprune=1");

  Outcome ok = run_cli({"-H", srv.uri(), "image", "rm", "alpine", "localhost:5000/a/b:1"});
  EXPECT_EQ(ok.rc, 0) << ok.err;
  EXPECT_EQ(srv.requests().back().path, "/v1.47/images/localhost:5000/a/b:1");
  Outcome none = run_cli({"-H", srv.uri(), "rmi"});
  EXPECT_EQ(none.rc, kExitUsage);
}

TEST(Tag, SendsNormalizedRepoAndTag) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", with_ping([](const FakeRequest& r, int) {
                   if (r.path.starts_with("/v1.47/images/ghost/")) {
                     return http_response(404, R"({"message":"No such image: ghost:latest"})");
                   }
                   return http_response(201, "");
                 }));
  Outcome o = run_cli({"-H", srv.uri(), "tag", "alpine:3.19", "myimg:v1"});
  EXPECT_EQ(o.rc, 0) << o.err;
  EXPECT_EQ(o.out, "");
  auto req = srv.requests().back();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/v1.47/images/alpine:3.19/tag?repo=docker.io%2Flibrary%2Fmyimg&tag=v1");
  Outcome g = run_cli({"-H", srv.uri(), "image", "tag", "ghost", "x"});
  EXPECT_EQ(g.rc, 1);
  EXPECT_EQ(g.err, "Error response from daemon: No such image: ghost:latest\n");
  EXPECT_EQ(srv.requests().back().path, "/v1.47/images/ghost/tag?repo=docker.io%2Flibrary%2Fx&tag=latest");
  Outcome one = run_cli({"-H", srv.uri(), "tag", "x"});
  EXPECT_EQ(one.rc, kExitUsage);
  Outcome digest = run_cli({"-H", srv.uri(), "tag", "x", "y@sha256:" + std::string(64, 'a')});
  EXPECT_EQ(digest.rc, 1);
  EXPECT_THAT(digest.err, HasSubstr("digest"));
}

TEST(ImageInspect, JsonArrayIndent4AndMissingImages) {
  TempDir dir;
  FakeServer srv(dir.path() + "/d.sock", with_ping([](const FakeRequest& r, int) {
                   if (r.path == "/v1.47/images/alpine/json") {
                     return http_response(200,
                                          R"({"Id":"sha256:1111","RepoTags":["alpine:latest"],"Size":5})");
                   }
                   return http_response(404, R"({"message":"No such image: ghost:latest"})");
                 }));
  Outcome o = run_cli({"-H", srv.uri(), "image", "inspect", "alpine", "ghost"});
  EXPECT_EQ(o.rc, 1);
  EXPECT_EQ(o.out,
            "[\n"
            "    {\n"
            "        \"Id\": \"sha256:1111\",\n"
            "        \"RepoTags\": [\n"
            "            \"alpine:latest\"\n"
            "        ],\n"
            "        \"Size\": 5\n"
            "    }\n"
            "]\n");
  EXPECT_EQ(o.err, "Error response from daemon: No such image: ghost:latest\n");
  Outcome f = run_cli({"-H", srv.uri(), "image", "inspect", "-f", "{{.Id}} {{json .RepoTags}}", "alpine"});
  EXPECT_EQ(f.rc, 0) << f.err;
  EXPECT_EQ(f.out, "sha256:1111 [\"alpine:latest\"]\n");
  Outcome none = run_cli({"-H", srv.uri(), "image", "inspect", "ghost"});
  EXPECT_EQ(none.out, "[]\n");
  EXPECT_EQ(none.rc, 1);
}

// ---------------------------------------------------------------- import and init

// A daemon whose import route reads the chunked tarball, keeps it, and answers with an id.
struct ImportDaemon {
  std::mutex mu;
  std::string body;
  bool complete = false;
  FakeRequest request;
  std::string answer = lines({R"({"status":"Importing","progressDetail":{"current":1},"id":"x"})",
                              R"({"status":")" + kId + R"("})"});

  FakeServer::Handler handler() {
    return with_ping([this](const FakeRequest& r, int fd) {
      bool done = false;
      std::string b = read_chunked(r.body, fd, done);
      std::lock_guard lk(mu);
      request = r;
      body = std::move(b);
      complete = done;
      if (!done) return http_response(400, R"({"message":"unexpected EOF"})");
      return http_response(200, answer);
    });
  }
  std::map<std::string, std::pair<char, std::string>> entries() {
    std::lock_guard lk(mu);
    CollectSink sink;
    image::TarReader reader(sink);
    reader.feed(std::as_bytes(std::span(body.data(), body.size())));
    reader.finish();
    return sink.entries;
  }
};

TEST(Init, StreamsTheDirectoryAsATarball) {
  TempDir dir;
  std::string root = dir.path() + "/tree";
  ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((root + "/sub").c_str(), 0755), 0);
  write_file(root + "/hello.txt", "hello\n");
  write_file(root + "/.hidden", "dot");
  std::string big(6 << 20, '\0');  // bigger than the client's queue: exercises back-pressure
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 23);
  write_file(root + "/sub/big.bin", big);
  ASSERT_EQ(::symlink("hello.txt", (root + "/link").c_str()), 0);

  ImportDaemon d;
  FakeServer srv(dir.path() + "/d.sock", d.handler());
  Outcome o = run_cli({"-H", srv.uri(), "init", root, "myimg:v1"});
  EXPECT_EQ(o.rc, 0) << o.err;
  EXPECT_EQ(o.out, kId + "\n");
  EXPECT_TRUE(d.complete);
  EXPECT_EQ(d.request.method, "POST");
  EXPECT_THAT(d.request.path,
              StartsWith("/v1.47/images/create?fromSrc=-&repo=docker.io%2Flibrary%2Fmyimg&tag=v1"));
  EXPECT_EQ(d.request.headers["transfer-encoding"], "chunked");
  EXPECT_EQ(d.request.headers["content-type"], "application/x-tar");
  auto entries = d.entries();
  std::vector<std::string> names;
  for (const auto& [name, e] : entries) names.push_back(name);
  EXPECT_THAT(names, ElementsAre(".hidden", "hello.txt", "link", "sub/", "sub/big.bin"));
  EXPECT_EQ(entries[".hidden"].second, "dot");
  EXPECT_EQ(entries["hello.txt"].second, "hello\n");
  EXPECT_EQ(entries["link"].first, image::tar_type::kSymlink);
  EXPECT_EQ(entries["sub/"].first, image::tar_type::kDirectory);
  EXPECT_TRUE(entries["sub/big.bin"].second == big) << "big file differs";
}

TEST(Init, WithoutNameMakesAnUntaggedImage) {
  TempDir dir;
  std::string root = dir.path() + "/tree";
  ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
  write_file(root + "/a", "1");
  ImportDaemon d;
  FakeServer srv(dir.path() + "/d.sock", d.handler());
  Outcome o = run_cli({"-H", srv.uri(), "init", root});
  EXPECT_EQ(o.rc, 0) << o.err;
  EXPECT_EQ(o.out, kId + "\n");
  EXPECT_THAT(d.request.path, ::testing::Not(HasSubstr("repo=")));
  EXPECT_EQ(d.entries().size(), 1u);
}

TEST(Init, MissingDirectoryChangesNothing) {
  TempDir dir;
  ImportDaemon d;
  FakeServer srv(dir.path() + "/d.sock", d.handler());
  Outcome o = run_cli({"-H", srv.uri(), "init", dir.path() + "/nope", "x"});
  EXPECT_EQ(o.rc, 1);
  EXPECT_EQ(o.err, "bocker: open directory " + dir.path() + "/nope: No such file or directory\n");
  EXPECT_TRUE(srv.requests().empty());
  Outcome file = run_cli({"-H", srv.uri(), "init", "/etc/hostname"});
  EXPECT_EQ(file.rc, 1);
  EXPECT_THAT(file.err, HasSubstr("Not a directory"));
}

TEST(Init, UnreadableFileAbortsTheUpload) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files regardless of their mode";
  TempDir dir;
  std::string root = dir.path() + "/tree";
  ASSERT_EQ(::mkdir(root.c_str(), 0755), 0);
  write_file(root + "/secret", "x");
  ASSERT_EQ(::chmod((root + "/secret").c_str(), 0), 0);
  ImportDaemon d;
  FakeServer srv(dir.path() + "/d.sock", d.handler());
  Outcome o = run_cli({"-H", srv.uri(), "init", root, "x"});
  EXPECT_EQ(o.rc, 1);
  EXPECT_THAT(o.err, HasSubstr("secret"));
  EXPECT_EQ(o.out, "");
}

TEST(Import, StreamsAFileWithChangesAndMessage) {
  TempDir dir;
  std::string tar;
  {
    image::TarWriter w([&tar](std::span<const std::byte> b) {
      tar.append(reinterpret_cast<const char*>(b.data()), b.size());
    });
    image::TarHeader h{.name = "etc/motd", .mode = 0644, .size = 3};
    w.write_header(h);
    w.write_data(std::as_bytes(std::span("hi\n", 3)));
    w.end_entry();
    w.close();
  }
  std::string file = dir.path() + "/rootfs.tar";
  write_file(file, tar);
  ImportDaemon d;
  FakeServer srv(dir.path() + "/d.sock", d.handler());
  Outcome o = run_cli({"-H", srv.uri(), "import", "-c", "CMD [\"/bin/sh\"]", "--change", "ENV A=1", "-m",
                       "first", file, "quay.io/me/base:1"});
  EXPECT_EQ(o.rc, 0) << o.err;
  EXPECT_EQ(o.out, kId + "\n");
  EXPECT_TRUE(d.body == tar);
  EXPECT_EQ(d.request.path,
            "/v1.47/images/create?fromSrc=-&repo=quay.io%2Fme%2Fbase&tag=1&message=first"
            "&changes=CMD%20%5B%22%2Fbin%2Fsh%22%5D&changes=ENV%20A%3D1");
  auto entries = d.entries();
  EXPECT_EQ(entries["etc/motd"].second, "hi\n");

  Outcome sub = run_cli({"-H", srv.uri(), "image", "import", file});
  EXPECT_EQ(sub.rc, 0) << sub.err;
  EXPECT_EQ(d.request.path, "/v1.47/images/create?fromSrc=-");
}

TEST(Import, MissingFileAndStreamError) {
  TempDir dir;
  ImportDaemon d;
  d.answer = lines(
      {R"({"errorDetail":{"message":"archive/tar: invalid tar header"},"error":"archive/tar: invalid tar header"})"});
  FakeServer srv(dir.path() + "/d.sock", d.handler());
  Outcome missing = run_cli({"-H", srv.uri(), "import", dir.path() + "/none.tar"});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_EQ(missing.err, "bocker: open " + dir.path() + "/none.tar: No such file or directory\n");
  EXPECT_TRUE(srv.requests().empty());

  std::string file = dir.path() + "/junk.tar";
  write_file(file, "not a tarball");
  Outcome bad = run_cli({"-H", srv.uri(), "import", file, "x"});
  EXPECT_EQ(bad.rc, 1);
  EXPECT_EQ(bad.out, "");
  EXPECT_EQ(bad.err, "archive/tar: invalid tar header\n");
  EXPECT_EQ(d.body, "not a tarball");
}

TEST(Client, BodySourceErrorAbortsAndIsRethrown) {
  TempDir dir;
  ImportDaemon d;
  FakeServer srv(dir.path() + "/d.sock", d.handler());
  Client c(parse_host(srv.uri()));
  int calls = 0;
  Request req{.method = "POST",
              .path = "/images/create?fromSrc=-",
              .body_source = [&calls](char* buf, std::size_t max) -> std::size_t {
                if (++calls == 1) {
                  std::size_t n = std::min<std::size_t>(max, 4);
                  std::memcpy(buf, "part", n);
                  return n;
                }
                throw SystemError(EIO, "read", "/some/file");
              }};
  try {
    c.send(req);
    FAIL() << "no exception";
  } catch (const SystemError& e) {
    EXPECT_EQ(e.code().value(), EIO);
    EXPECT_THAT(e.what(), HasSubstr("read /some/file"));
  }
  // The daemon saw the body end without its final chunk.
  for (int i = 0; i < 100 && srv.requests().size() < 2; ++i) ::usleep(10000);
  std::lock_guard lk(d.mu);
  EXPECT_FALSE(d.complete);
}

}  // namespace
}  // namespace bocker::cli
