// RegistryClient against a real docker-registry: manifests, blobs, errors, Range resume through
// a flaky proxy, and parallel downloads on one CurlLoop.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "bocker/registry/client.hpp"
#include "bocker/registry/manifest.hpp"
#include "bocker/runtime/runtime.hpp"
#include "registry_fixture.hpp"

namespace rt = bocker::rt;
using namespace bocker::registry;
using namespace bocker::registry::testing;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

namespace {

ClientOptions plain() {
  ClientOptions o;
  o.insecure = true;
  o.credentials = [](const std::string&) { return std::optional<Credentials>(); };
  o.retry_backoff = 10ms;
  return o;
}

// Hashes and counts what a download delivers.
struct HashSink {
  Sha256 hash;
  std::string data;
  int resets = 0;
  BlobSink sink() {
    return BlobSink{[this](std::span<const std::byte> b) {
                      hash.update(b);
                      data.append(reinterpret_cast<const char*>(b.data()), b.size());
                    },
                    [this] {
                      hash = Sha256();
                      data.clear();
                      ++resets;
                    }};
  }
};

class RegistryClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    BOCKER_REQUIRE_REGISTRY();
    registry_ = std::make_unique<RegistryServer>(dir_);
    image_ = Pusher(registry_->url()).push_image("test/app", "v1", 300 * 1024);
  }
  void TearDown() override {
    if (HasFailure() && registry_) std::cerr << "docker-registry log:\n" << registry_->log();
    registry_.reset();
  }

  TempDir dir_;
  std::unique_ptr<RegistryServer> registry_;
  Pusher::Image image_;
};

TEST_F(RegistryClientTest, ManifestByTagAndByDigest) {
  std::string host = registry_->host();
  auto [by_tag, by_digest, head] = run_with_curl(
      [&](CurlLoop& curl) -> rt::Task<std::tuple<ManifestResponse, ManifestResponse, ManifestInfo>> {
        RegistryClient c(curl, host, plain());
        ManifestResponse a = co_await c.get_manifest("test/app", "v1");
        ManifestResponse b = co_await c.get_manifest("test/app", a.digest);
        ManifestInfo h = co_await c.head_manifest("test/app", "v1");
        co_return std::make_tuple(std::move(a), std::move(b), std::move(h));
      });
  EXPECT_EQ(by_tag.body, image_.manifest);
  EXPECT_EQ(by_tag.digest, image_.manifest_digest) << "Docker-Content-Digest";
  EXPECT_EQ(by_tag.content_type, media::kDockerManifest);
  EXPECT_EQ(by_digest.body, image_.manifest);
  EXPECT_EQ(by_digest.digest, image_.manifest_digest);
  EXPECT_EQ(head.digest, image_.manifest_digest);
  EXPECT_EQ(head.size, static_cast<std::int64_t>(image_.manifest.size()));
  EXPECT_EQ(head.content_type, media::kDockerManifest);
  // The parser of the other half of this module accepts what we fetched.
  auto parsed = parse_manifest(by_tag.body, by_tag.content_type);
  ASSERT_TRUE(std::holds_alternative<Manifest>(parsed));
}

TEST_F(RegistryClientTest, BlobStreamsToSinkWithRightDigest) {
  std::string host = registry_->host();
  HashSink sink;
  BlobResult r = run_with_curl([&](CurlLoop& curl) -> rt::Task<BlobResult> {
    RegistryClient c(curl, host, plain());
    co_return co_await c.get_blob("test/app", image_.layer_digest, sink.sink());
  });
  EXPECT_EQ(r.bytes, static_cast<std::int64_t>(image_.layer.size()));
  EXPECT_EQ(r.retries, 0);
  EXPECT_EQ(sink.hash.finish(), image_.layer_digest);
}

TEST_F(RegistryClientTest, BlobFromOffsetUsesRange) {
  std::string host = registry_->host();
  HashSink sink;
  const std::int64_t offset = 100000;
  BlobResult r = run_with_curl([&](CurlLoop& curl) -> rt::Task<BlobResult> {
    RegistryClient c(curl, host, plain());
    co_return co_await c.get_blob("test/app", image_.layer_digest, sink.sink(), offset);
  });
  EXPECT_EQ(r.bytes, static_cast<std::int64_t>(image_.layer.size()) - offset);
  EXPECT_FALSE(r.restarted);
  EXPECT_TRUE(sink.data == image_.layer.substr(static_cast<std::size_t>(offset))) << "the tail of the blob";
}

TEST_F(RegistryClientTest, PausedSinkHoldsTheTransferUntilResumed) {
  std::string host = registry_->host();
  HashSink hs;
  FlowControl flow;
  BlobSink sink = hs.sink();
  auto write = sink.write;
  int chunks = 0;
  // Pause after every chunk: nothing more may arrive until a consumer resumes.
  sink.write = [&](std::span<const std::byte> b) {
    EXPECT_FALSE(flow.paused()) << "a chunk was delivered while paused";
    write(b);
    ++chunks;
    flow.pause();
  };
  sink.flow = &flow;
  struct Consumer {
    bool done = false;
    int resumes = 0;
  } consumer;
  BlobResult r = run_with_curl([&](CurlLoop& curl) -> rt::Task<BlobResult> {
    RegistryClient c(curl, host, plain());
    rt::TaskScope scope;
    scope.spawn([](FlowControl& f, Consumer& k) -> rt::Task<void> {
      while (!k.done) {
        co_await rt::sleep_for(1ms);
        if (f.paused()) {
          ++k.resumes;
          f.resume();
        }
      }
    }(flow, consumer));
    BlobResult out = co_await c.get_blob("test/app", image_.layer_digest, sink);
    consumer.done = true;
    co_await scope.join();
    co_return out;
  });
  EXPECT_EQ(r.bytes, static_cast<std::int64_t>(image_.layer.size()));
  EXPECT_EQ(hs.hash.finish(), image_.layer_digest);
  EXPECT_GT(flow.pauses(), 0) << "curl was asked to hold data";
  EXPECT_GE(consumer.resumes, chunks - 1);
}

TEST_F(RegistryClientTest, MissingManifestIsNotFoundLikeDocker) {
  std::string host = registry_->host();
  try {
    run_with_curl([&](CurlLoop& curl) -> rt::Task<int> {
      RegistryClient c(curl, host, plain());
      co_await c.get_manifest("test/app", "nosuch");
      co_return 0;
    });
    FAIL() << "no error for a missing tag";
  } catch (const RegistryError& e) {
    EXPECT_EQ(e.kind(), bocker::Error::Kind::kNotFound);
    EXPECT_EQ(e.status(), 404);
    EXPECT_EQ(e.code(), "MANIFEST_UNKNOWN");
    EXPECT_EQ(std::string(e.what()),
              "manifest for " + host + "/test/app:nosuch not found: manifest unknown: manifest unknown");
  }
}

TEST_F(RegistryClientTest, MissingBlobNamesDigestAndRepository) {
  std::string host = registry_->host();
  std::string missing = sha256_digest("not pushed");
  HashSink sink;
  try {
    run_with_curl([&](CurlLoop& curl) -> rt::Task<int> {
      RegistryClient c(curl, host, plain());
      co_await c.get_blob("test/app", missing, sink.sink());
      co_return 0;
    });
    FAIL() << "no error for a missing blob";
  } catch (const RegistryError& e) {
    EXPECT_EQ(e.kind(), bocker::Error::Kind::kNotFound);
    EXPECT_THAT(e.what(), HasSubstr("blob " + missing + " in " + host + "/test/app not found"));
    EXPECT_TRUE(sink.data.empty()) << "an error body never reaches the sink";
  }
}

TEST_F(RegistryClientTest, BadInputIsRejectedBeforeAnyRequest) {
  std::string host = registry_->host();
  run_with_curl([&](CurlLoop& curl) -> rt::Task<int> {
    RegistryClient c(curl, host, plain());
    EXPECT_THROW(co_await c.get_manifest("Test/App", "v1"), bocker::Error);
    EXPECT_THROW(co_await c.get_manifest("test/../x", "v1"), bocker::Error);
    EXPECT_THROW(co_await c.get_manifest("test/app", "v1?x=y"), bocker::Error);
    EXPECT_THROW(co_await c.get_blob("test/app", "sha256:abc", BlobSink{[](auto) {}, {}}), bocker::Error);
    EXPECT_THROW(RegistryClient(curl, "host/with/path"), bocker::Error);
    co_return 0;
  });
}

TEST_F(RegistryClientTest, UnreachableRegistryNamesHostAndCurlError) {
  int port = free_port();
  try {
    run_with_curl([&](CurlLoop& curl) -> rt::Task<int> {
      ClientOptions o = plain();
      o.max_retries = 1;
      RegistryClient c(curl, "127.0.0.1:" + std::to_string(port), o);
      co_await c.get_manifest("test/app", "v1");
      co_return 0;
    });
    FAIL() << "no error for a closed port";
  } catch (const RegistryError& e) {
    EXPECT_THAT(e.what(), HasSubstr("127.0.0.1:" + std::to_string(port) + "/v2/test/app/manifests/v1"));
    EXPECT_THAT(e.what(), HasSubstr("curl error 7"));
  }
}

TEST_F(RegistryClientTest, DroppedConnectionsResumeWithRange) {
  // Cut the first two connections after 64 KiB and 130 KiB of response bytes.
  FlakyProxy proxy(registry_->port(), 64 * 1024, 2);
  HashSink sink;
  BlobResult r = run_with_curl([&](CurlLoop& curl) -> rt::Task<BlobResult> {
    RegistryClient c(curl, "127.0.0.1:" + std::to_string(proxy.port()), plain());
    co_return co_await c.get_blob("test/app", image_.layer_digest, sink.sink());
  });
  EXPECT_EQ(proxy.cut(), 2);
  EXPECT_EQ(r.retries, 2);
  EXPECT_FALSE(r.restarted) << "the registry answers Range with 206";
  EXPECT_EQ(sink.resets, 0);
  EXPECT_EQ(r.bytes, static_cast<std::int64_t>(image_.layer.size()));
  EXPECT_EQ(sink.data.size(), image_.layer.size());
  EXPECT_EQ(sink.hash.finish(), image_.layer_digest);
}

TEST_F(RegistryClientTest, GivesUpAfterMaxRetries) {
  FlakyProxy proxy(registry_->port(), 32 * 1024, 100);
  HashSink sink;
  try {
    run_with_curl([&](CurlLoop& curl) -> rt::Task<int> {
      ClientOptions o = plain();
      o.max_retries = 2;
      RegistryClient c(curl, "127.0.0.1:" + std::to_string(proxy.port()), o);
      co_await c.get_blob("test/app", image_.layer_digest, sink.sink());
      co_return 0;
    });
    FAIL() << "no error after the retries ran out";
  } catch (const RegistryError& e) {
    EXPECT_THAT(e.what(), HasSubstr(image_.layer_digest));
    EXPECT_THAT(e.what(), HasSubstr("curl error"));
    EXPECT_EQ(proxy.cut(), 3);
  }
}

TEST_F(RegistryClientTest, EightParallelDownloadsOnOneLoopThatKeepsTicking) {
  Pusher pusher(registry_->url());
  std::vector<Pusher::Image> images;
  for (unsigned i = 0; i < 8; ++i) {
    images.push_back(pusher.push_image("par/img" + std::to_string(i), "latest", 1024 * 1024, 100 + i));
  }
  std::string host = registry_->host();
  std::vector<HashSink> sinks(8);
  struct Ticks {
    int count = 0;
    std::chrono::steady_clock::duration max_gap{};
    bool done = false;
  } ticks;
  auto results = run_with_curl([&](CurlLoop& curl) -> rt::Task<std::vector<BlobResult>> {
    RegistryClient c(curl, host, plain());
    rt::TaskScope ticker;
    ticker.spawn([](Ticks& t) -> rt::Task<void> {
      auto last = std::chrono::steady_clock::now();
      while (!t.done) {
        co_await rt::sleep_for(2ms);
        auto now = std::chrono::steady_clock::now();
        t.max_gap = std::max(t.max_gap, now - last);
        last = now;
        ++t.count;
      }
    }(ticks));
    std::vector<rt::Task<BlobResult>> downloads;
    for (unsigned i = 0; i < 8; ++i) {
      downloads.push_back(c.get_blob("par/img" + std::to_string(i), images[i].layer_digest, sinks[i].sink()));
    }
    EXPECT_EQ(curl.active_transfers(), 0u);
    auto out = co_await rt::when_all(std::move(downloads));
    ticks.done = true;
    co_await ticker.join();
    co_return out;
  });
  for (unsigned i = 0; i < 8; ++i) {
    EXPECT_EQ(results[i].bytes, 1024 * 1024);
    EXPECT_EQ(sinks[i].hash.finish(), images[i].layer_digest) << "download " << i;
  }
  EXPECT_GT(ticks.count, 0);
  EXPECT_LT(ticks.max_gap, 250ms) << "the loop thread blocked";
}

TEST_F(RegistryClientTest, CancellingTheScopeRemovesTheTransfer) {
  // A server that accepts and never answers.
  int port = 0;
  bocker::Fd silent = listen_loopback(&port);
  std::size_t active_after = 99;
  EXPECT_THROW(run_with_curl([&](CurlLoop& curl) -> rt::Task<int> {
                 RegistryClient c(curl, "127.0.0.1:" + std::to_string(port), plain());
                 try {
                   co_await rt::with_timeout(c.get_manifest("test/app", "v1"), 200ms);
                 } catch (...) {
                   active_after = curl.active_transfers();
                   throw;
                 }
                 co_return 0;
               }),
               bocker::Error);
  EXPECT_EQ(active_after, 0u);
}

}  // namespace
