#include "bocker/cli/progress.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

namespace bocker::cli {
namespace {

const char* kPullStream[] = {
    R"({"status":"Pulling from library/alpine","id":"latest"})",
    R"({"status":"Pulling fs layer","progressDetail":{},"id":"aaaaaaaaaaaa"})",
    R"({"status":"Pulling fs layer","progressDetail":{},"id":"bbbbbbbbbbbb"})",
    R"({"status":"Downloading","progressDetail":{"current":1000000,"total":10000000},"id":"aaaaaaaaaaaa"})",
    R"({"status":"Downloading","progressDetail":{"current":1500000,"total":10000000},"id":"aaaaaaaaaaaa"})",
    R"({"status":"Downloading","progressDetail":{"current":2000000,"total":10000000},"id":"aaaaaaaaaaaa"})",
    R"({"status":"Downloading","progressDetail":{"current":2900000,"total":10000000},"id":"aaaaaaaaaaaa"})",
    R"({"status":"Downloading","progressDetail":{"current":10000000,"total":10000000},"id":"aaaaaaaaaaaa"})",
    R"({"status":"Download complete","progressDetail":{},"id":"aaaaaaaaaaaa"})",
    R"({"status":"Download complete","progressDetail":{},"id":"aaaaaaaaaaaa"})",
    R"({"status":"Extracting","progressDetail":{"current":4000000,"total":10000000},"id":"aaaaaaaaaaaa"})",
    R"({"status":"Pull complete","progressDetail":{},"id":"aaaaaaaaaaaa"})",
    R"({"status":"Already exists","progressDetail":{},"id":"bbbbbbbbbbbb"})",
    R"({"status":"Digest: sha256:0123456789abcdef"})",
    R"({"status":"Status: Downloaded newer image for alpine:latest"})",
};

std::string render(bool tty, std::span<const char* const> lines) {
  std::ostringstream out;
  ProgressRenderer r(out, tty);
  for (const char* l : lines) EXPECT_TRUE(r.add_line(l)) << l;
  EXPECT_FALSE(r.failed());
  return out.str();
}

TEST(ProgressBar, Layout) {
  EXPECT_EQ(progress_bar(0, 0), "");
  EXPECT_EQ(progress_bar(500, 0), "    500B");
  EXPECT_EQ(progress_bar(50, 100),
            "[" + std::string(25, '=') + ">" + std::string(25, ' ') + "]      50B/100B");
  EXPECT_EQ(progress_bar(12300000, 45600000),
            "[" + std::string(13, '=') + ">" + std::string(37, ' ') + "]   12.3MB/45.6MB");
  EXPECT_EQ(progress_bar(100, 100), "[" + std::string(50, '=') + ">]     100B/100B");
  // More than the total: no total shown, the bar stays full.
  EXPECT_EQ(progress_bar(200, 100), "[" + std::string(50, '=') + ">]     200B");
}

TEST(Progress, PlainLinesOnePerStatusChange) {
  std::string out = render(false, kPullStream);
  EXPECT_EQ(out,
            "latest: Pulling from library/alpine\n"
            "aaaaaaaaaaaa: Pulling fs layer\n"
            "bbbbbbbbbbbb: Pulling fs layer\n"
            "aaaaaaaaaaaa: Downloading 1MB/10MB\n"
            "aaaaaaaaaaaa: Downloading 2MB/10MB\n"   // 1.5MB skipped: less than 10% more
            "aaaaaaaaaaaa: Downloading 10MB/10MB\n"  // 2.9MB skipped too; the end always shows
            "aaaaaaaaaaaa: Download complete\n"      // once, though sent twice
            "aaaaaaaaaaaa: Extracting 4MB/10MB\n"
            "aaaaaaaaaaaa: Pull complete\n"
            "bbbbbbbbbbbb: Already exists\n"
            "Digest: sha256:0123456789abcdef\n"
            "Status: Downloaded newer image for alpine:latest\n");
}

TEST(Progress, TerminalRedrawsLayerLinesInPlace) {
  const char* lines[] = {kPullStream[0], kPullStream[1],  kPullStream[2],
                         kPullStream[3], kPullStream[12], kPullStream[13]};
  std::string out = render(true, lines);
  std::string bar = "[=====>" + std::string(45, ' ') + "]      1MB/10MB";
  EXPECT_EQ(out,
            "latest: Pulling from library/alpine\n"
            // a new layer takes a new line: newline, up one, erase, draw, down one
            "\n\x1b[1A\x1b[2K\raaaaaaaaaaaa: Pulling fs layer \r\x1b[1B"
            "\n\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Pulling fs layer \r\x1b[1B"
            // the first layer is two lines up now
            "\x1b[2A\x1b[2K\raaaaaaaaaaaa: Downloading " +
                bar +
                "\r\x1b[2B"
                "\x1b[1A\x1b[2K\rbbbbbbbbbbbb: Already exists \r\x1b[1B"
                "Digest: sha256:0123456789abcdef\n");
}

TEST(Progress, TerminalStartsAFreshBlockAfterOtherOutput) {
  const char* lines[] = {kPullStream[1], R"({"status":"something else"})", kPullStream[8]};
  std::string out = render(true, lines);
  EXPECT_EQ(out,
            "\n\x1b[1A\x1b[2K\raaaaaaaaaaaa: Pulling fs layer \r\x1b[1B"
            "something else\n"
            "\n\x1b[1A\x1b[2K\raaaaaaaaaaaa: Download complete \r\x1b[1B");
}

TEST(Progress, ErrorIsRecordedNotPrintedAndStopsRendering) {
  std::ostringstream out;
  ProgressRenderer r(out, false);
  EXPECT_TRUE(r.add_line(kPullStream[0]));
  EXPECT_FALSE(r.add_line(
      R"({"errorDetail":{"message":"manifest for alpine:nope not found"},"error":"manifest for alpine:nope not found"})"));
  EXPECT_TRUE(r.failed());
  EXPECT_EQ(r.error(), "manifest for alpine:nope not found");
  EXPECT_FALSE(r.add_line(kPullStream[13]));
  EXPECT_EQ(out.str(), "latest: Pulling from library/alpine\n");
}

TEST(Progress, ErrorWithoutDetail) {
  std::ostringstream out;
  ProgressRenderer r(out, true);
  EXPECT_FALSE(r.add(nlohmann::json{{"error", "boom"}}));
  EXPECT_EQ(r.error(), "boom");
  EXPECT_EQ(out.str(), "");
}

TEST(Progress, StreamTextAndNonJsonAndLastStatus) {
  std::ostringstream out;
  ProgressRenderer r(out, false);
  EXPECT_TRUE(r.add_line("not json at all\r\n"));
  EXPECT_TRUE(r.add_line(""));
  EXPECT_TRUE(r.add_line(R"({"stream":"Step 1/2\n"})"));
  EXPECT_TRUE(r.add_line(R"({"status":"sha256:feed"})"));
  EXPECT_EQ(out.str(), "not json at all\nStep 1/2\nsha256:feed\n");
  EXPECT_EQ(r.last_status(), "sha256:feed");
}

TEST(Progress, IsTerminalOnlyForStdout) {
  std::ostringstream s;
  EXPECT_FALSE(is_terminal(s));
}

}  // namespace
}  // namespace bocker::cli
