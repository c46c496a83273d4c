// Content store: blobs by digest, resumable verified ingests, cleanup at open, hostile digests.
#include "bocker/image/content_store.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "bocker/registry/digest.hpp"
#include "bocker/runtime/error.hpp"

namespace bocker::image {
namespace {

namespace fs = std::filesystem;
using registry::sha256_digest;

class ContentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "bocker-content-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    base_ = tmpl;
    root_ = base_ / "root";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(base_, ec);
  }

  // Every path under the test directory with its size: to prove an operation changed nothing.
  std::set<std::string> snapshot() const {
    std::set<std::string> out;
    for (auto& e : fs::recursive_directory_iterator(base_)) {
      out.insert(e.path().string() + (e.is_regular_file() ? ":" + std::to_string(e.file_size()) : "/"));
    }
    return out;
  }
  std::string blob_file(const std::string& digest) const {
    return (root_ / "content/blobs/sha256" / digest.substr(7)).string();
  }
  std::string ingest_file(const std::string& digest) const {
    return (root_ / "content/ingest" / digest.substr(7)).string();
  }

  fs::path base_;
  fs::path root_;
};

std::string payload(std::size_t n, char seed = 'a') {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + (i * 7919) % 251);
  return s;
}

Error::Kind kind_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.kind();
  }
  return static_cast<Error::Kind>(-1);
}

TEST_F(ContentStoreTest, PutReadHasSizeOpenListRemove) {
  ContentStore cs(root_.string());
  std::string data = payload(10000);
  std::string d = cs.put(data);
  EXPECT_EQ(d, sha256_digest(data));
  EXPECT_TRUE(cs.has(d));
  EXPECT_EQ(cs.size(d), 10000);
  EXPECT_EQ(cs.read(d), data);
  EXPECT_EQ(cs.path(d), blob_file(d));
  Fd fd = cs.open(d);
  char buf[4];
  ASSERT_EQ(::pread(fd.get(), buf, 4, 0), 4);
  EXPECT_EQ(std::string(buf, 4), data.substr(0, 4));
  struct stat st {};
  ASSERT_EQ(::stat(blob_file(d).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);

  std::string d2 = cs.put("");
  EXPECT_EQ(cs.put(data), d);  // idempotent
  std::vector<std::string> want = {d, d2};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(cs.list(), want);

  EXPECT_TRUE(cs.remove(d));
  EXPECT_FALSE(cs.remove(d));
  EXPECT_FALSE(cs.has(d));
  EXPECT_EQ(kind_of([&] { cs.read(d); }), Error::Kind::kNotFound);
  EXPECT_EQ(kind_of([&] { cs.size(d); }), Error::Kind::kNotFound);
  EXPECT_EQ(kind_of([&] { cs.open(d); }), Error::Kind::kNotFound);
  EXPECT_EQ(cs.list(), std::vector<std::string>{d2});
}

TEST_F(ContentStoreTest, ReadRefusesBlobsOverTheLimit) {
  ContentStore cs(root_.string());
  std::string d = cs.put(payload(5000));
  EXPECT_EQ(kind_of([&] { cs.read(d, 4999); }), Error::Kind::kInvalid);
  EXPECT_EQ(cs.read(d, 5000).size(), 5000u);
}

TEST_F(ContentStoreTest, IngestInChunksCommits) {
  ContentStore cs(root_.string());
  std::string data = payload(1 << 20);
  std::string d = sha256_digest(data);
  Ingest in = cs.begin(d, static_cast<std::int64_t>(data.size()));
  EXPECT_EQ(in.offset(), 0);
  EXPECT_EQ(in.digest(), d);
  for (std::size_t pos = 0; pos < data.size(); pos += 100003)
    in.write(std::string_view(data).substr(pos, 100003));
  EXPECT_FALSE(cs.has(d));  // not visible before commit
  in.commit();
  EXPECT_TRUE(cs.has(d));
  EXPECT_EQ(cs.read(d, 2 << 20), data);
  EXPECT_FALSE(fs::exists(ingest_file(d)));
  EXPECT_THROW(in.write("more"), Error);
  EXPECT_THROW(in.commit(), Error);
  // A second ingest of a present blob is a conflict, and so is one of unknown size.
  EXPECT_EQ(kind_of([&] { cs.begin(d, -1); }), Error::Kind::kConflict);
}

TEST_F(ContentStoreTest, UnknownSizeIngest) {
  ContentStore cs(root_.string());
  std::string data = payload(777);
  Ingest in = cs.begin(sha256_digest(data), -1);
  in.write(data);
  in.commit();
  EXPECT_EQ(cs.read(sha256_digest(data)), data);
}

TEST_F(ContentStoreTest, DigestMismatchLeavesTheStoreUnchanged) {
  ContentStore cs(root_.string());
  std::string kept = cs.put("existing blob");
  auto before = snapshot();
  std::string data = payload(4096);
  std::string claimed = sha256_digest("something else");
  Ingest in = cs.begin(claimed, 4096);
  in.write(data);
  try {
    in.commit();
    FAIL() << "commit accepted the wrong content";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kInvalid);
    EXPECT_EQ(std::string(e.what()), "digest mismatch for " + claimed + ": got " + sha256_digest(data));
  }
  EXPECT_FALSE(cs.has(claimed));
  EXPECT_EQ(cs.list(), std::vector<std::string>{kept});
  EXPECT_EQ(snapshot(), before);  // the partial ingest was removed too
}

TEST_F(ContentStoreTest, SizeMismatchShortOrLong) {
  ContentStore cs(root_.string());
  auto before = snapshot();
  std::string data = payload(100);
  std::string d = sha256_digest(data);
  {
    Ingest in = cs.begin(d, 101);
    in.write(data);
    try {
      in.commit();
      FAIL();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kInvalid);
      EXPECT_NE(std::string(e.what()).find("size mismatch for " + d + ": got 100 bytes, expected 101"),
                std::string::npos)
          << e.what();
    }
  }
  {
    Ingest in = cs.begin(d, 99);
    EXPECT_EQ(kind_of([&] { in.write(data); }), Error::Kind::kInvalid);
    EXPECT_THROW(in.commit(), Error);  // discarded
  }
  EXPECT_EQ(snapshot(), before);
  EXPECT_FALSE(cs.has(d));
}

TEST_F(ContentStoreTest, InterruptedIngestResumesToTheRightDigest) {
  std::string data = payload(300000, 'q');
  std::string d = sha256_digest(data);
  {
    ContentStore cs(root_.string());
    Ingest in = cs.begin(d, static_cast<std::int64_t>(data.size()));
    in.write(std::string_view(data).substr(0, 123457));
    // Destroyed without commit or abort: the partial file stays for a resume.
  }
  ASSERT_TRUE(fs::exists(ingest_file(d)));
  ContentStore cs(root_.string());  // a restart: a fresh partial ingest survives open
  EXPECT_FALSE(cs.has(d));
  EXPECT_TRUE(cs.list().empty());
  Ingest in = cs.begin(d, static_cast<std::int64_t>(data.size()));
  ASSERT_EQ(in.offset(), 123457);
  in.write(std::string_view(data).substr(static_cast<std::size_t>(in.offset())));
  in.commit();
  EXPECT_EQ(cs.read(d), data);
}

TEST_F(ContentStoreTest, ResumeOfABadPrefixIsCaughtAtCommitAndPutRecovers) {
  ContentStore cs(root_.string());
  std::string data = payload(5000);
  std::string d = sha256_digest(data);
  fs::create_directories(fs::path(ingest_file(d)).parent_path());
  { std::ofstream(ingest_file(d), std::ios::binary) << std::string(1000, 'X'); }  // wrong bytes
  Ingest in = cs.begin(d, 5000);
  EXPECT_EQ(in.offset(), 1000);
  in.write(std::string_view(data).substr(1000));
  EXPECT_EQ(kind_of([&] { in.commit(); }), Error::Kind::kInvalid);
  EXPECT_FALSE(fs::exists(ingest_file(d)));

  { std::ofstream(ingest_file(d), std::ios::binary) << std::string(10, 'Y'); }
  EXPECT_EQ(cs.put(data), d);  // put() retries from scratch
  EXPECT_EQ(cs.read(d), data);
}

TEST_F(ContentStoreTest, PartialLongerThanExpectedRestarts) {
  ContentStore cs(root_.string());
  std::string data = payload(50);
  std::string d = sha256_digest(data);
  { std::ofstream(ingest_file(d), std::ios::binary) << std::string(80, 'Z'); }
  Ingest in = cs.begin(d, 50);
  EXPECT_EQ(in.offset(), 0);
  in.write(data);
  in.commit();
  EXPECT_EQ(cs.read(d), data);
}

TEST_F(ContentStoreTest, AbortRemovesThePartialFile) {
  ContentStore cs(root_.string());
  std::string d = sha256_digest("abc");
  Ingest in = cs.begin(d, 3);
  in.write("ab");
  in.abort();
  in.abort();
  EXPECT_FALSE(fs::exists(ingest_file(d)));
  Ingest again = cs.begin(d, 3);
  EXPECT_EQ(again.offset(), 0);
}

TEST_F(ContentStoreTest, ConcurrentIngestOfTheSameDigestConflicts) {
  ContentStore cs(root_.string());
  std::string d = sha256_digest("abc");
  Ingest first = cs.begin(d, 3);
  EXPECT_EQ(kind_of([&] { cs.begin(d, 3); }), Error::Kind::kConflict);
  Ingest moved = std::move(first);  // the lock moves with it
  EXPECT_EQ(kind_of([&] { cs.begin(d, 3); }), Error::Kind::kConflict);
  moved.write("abc");
  moved.commit();
  EXPECT_EQ(cs.read(d), "abc");
}

TEST_F(ContentStoreTest, OpenCleansTempFilesStaleAndMisnamedIngests) {
  std::string fresh = sha256_digest("fresh"), stale = sha256_digest("stale");
  {
    ContentStore cs(root_.string());
    cs.put("kept");
  }
  auto blobs = root_ / "content/blobs/sha256";
  auto ingest = root_ / "content/ingest";
  { std::ofstream(blobs / ".tmp-1234") << "half a blob"; }
  { std::ofstream(ingest / "not-a-digest") << "junk"; }
  { std::ofstream(ingest_file(fresh)) << "fre"; }
  { std::ofstream(ingest_file(stale)) << "sta"; }
  struct timespec old[2] = {{time(nullptr) - 3 * 24 * 3600, 0}, {time(nullptr) - 3 * 24 * 3600, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, ingest_file(stale).c_str(), old, 0), 0);

  ContentStore cs(root_.string());
  EXPECT_FALSE(fs::exists(blobs / ".tmp-1234"));
  EXPECT_FALSE(fs::exists(ingest / "not-a-digest"));
  EXPECT_FALSE(fs::exists(ingest_file(stale)));
  EXPECT_TRUE(fs::exists(ingest_file(fresh)));
  EXPECT_EQ(cs.list(), std::vector<std::string>{sha256_digest("kept")});
  EXPECT_EQ(cs.begin(fresh, 5).offset(), 3);
}

TEST_F(ContentStoreTest, HostileDigestsAreRejectedBeforeAnyFileIsTouched) {
  ContentStore cs(root_.string());
  cs.put("present");
  auto before = snapshot();
  std::string hex(64, 'a');
  const std::string bad[] = {
      "sha256:../../etc",
      "sha256:../../../../etc/passwd",
      "sha256:" + std::string(62, 'a') + "/x",
      "sha256:" + std::string(64, 'A'),
      "sha256:" + hex.substr(0, 63),
      "sha256:" + hex + "a",
      "sha256:" + hex.substr(0, 63) + "g",
      "sha512:" + hex + hex,
      "SHA256:" + hex,
      hex,
      "",
      "sha256:",
      std::string("sha256:") + std::string(63, 'a') + '\0',
  };
  for (const auto& d : bad) {
    SCOPED_TRACE(d);
    EXPECT_EQ(kind_of([&] { cs.has(d); }), Error::Kind::kInvalid);
    EXPECT_EQ(kind_of([&] { cs.size(d); }), Error::Kind::kInvalid);
    EXPECT_EQ(kind_of([&] { cs.read(d); }), Error::Kind::kInvalid);
    EXPECT_EQ(kind_of([&] { cs.open(d); }), Error::Kind::kInvalid);
    EXPECT_EQ(kind_of([&] { cs.remove(d); }), Error::Kind::kInvalid);
    EXPECT_EQ(kind_of([&] { cs.begin(d, 10); }), Error::Kind::kInvalid);
    EXPECT_EQ(kind_of([&] { cs.path(d); }), Error::Kind::kInvalid);
  }
  EXPECT_EQ(snapshot(), before);
  try {
    cs.has("sha256:../../etc");
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "invalid content digest \"sha256:../../etc\": want 64 hex digits, got 9");
  }
}

}  // namespace
}  // namespace bocker::image
