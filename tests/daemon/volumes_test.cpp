// Volumes through the real docker CLI (and curl) against a real bockerd: -v binds (rw, ro, a
// missing host dir created), named volumes kept across rm and removed by `volume rm`, rm -v and
// --rm removing anonymous volumes, a volume in use refused, --volumes-from, a mount target that
// is a symlink to /etc staying inside the rootfs, the volume commands, bad specs answered 400
// with nothing created, copy-up of the image's content into a new volume, and mounts kept
// across a daemon restart. Nothing is left mounted.
#include <filesystem>

#include "daemon_fixture.hpp"

namespace bocker::daemon::testing {
namespace {

using ::testing::HasSubstr;

class Volumes : public ::testing::Test {
 protected:
  void SetUp() override {
    BOCKER_REQUIRE_ROOT_AND_STORAGE(Storage::kOverlay2);
    if (!fs::exists(kAlpineTarball)) GTEST_SKIP() << kAlpineTarball << " missing";
    if (!have("docker")) GTEST_SKIP() << "no docker CLI at /usr/local/bin/docker";
    root_ = std::make_unique<TestRoot>(Storage::kOverlay2);
    d_ = std::make_unique<DaemonProcess>(root_->root(), root_->dir() + "/b.sock",
                                         root_->dir() + "/bockerd.log",
                                         std::vector<std::string>{"--storage-driver", "overlay2"});
    std::string err = d_->start();
    ASSERT_EQ(err, "");
    auto imp = run(d_->bocker("import " + kAlpineTarball + " alpine:latest"));
    ASSERT_EQ(imp.status, 0) << imp.out;
    host_ = root_->dir() + "/host";
  }
  void TearDown() override {
    if (d_) {
      run(d_->docker("rm -f -v $(" + d_->docker("ps -aq") + ") >/dev/null 2>&1"));
      run(d_->docker("volume rm -f $(" + d_->docker("volume ls -q") + ") >/dev/null 2>&1"));
      d_->stop();
      EXPECT_EQ(mounts_below(root_->dir()), 0) << "mounts left behind";
    }
    d_.reset();
    root_.reset();
  }
  CmdResult docker(const std::string& args) { return run("timeout 60 env " + d_->docker(args)); }
  static int mounts_below(const std::string& dir) {
    std::string mi = read_file("/proc/self/mountinfo");
    int n = 0;
    for (std::size_t p = mi.find(dir + "/"); p != std::string::npos; p = mi.find(dir + "/", p + 1)) ++n;
    return n;
  }
  std::string volumes_dir() const { return root_->root() + "/volumes"; }
  std::vector<std::string> volume_names() {
    auto r = docker("volume ls -q");
    std::vector<std::string> out;
    std::istringstream in(r.out);
    for (std::string l; std::getline(in, l);) {
      if (!l.empty()) out.push_back(l);
    }
    return out;
  }

  std::unique_ptr<TestRoot> root_;
  std::unique_ptr<DaemonProcess> d_;
  std::string host_;
};

TEST_F(Volumes, BindMountWritesReachTheHostAndReadOnlyRefuses) {
  // The host directory does not exist yet: -v creates it, as Docker does.
  auto w = docker("run --rm --network none -v " + host_ +
                  ":/data alpine sh -c 'echo hello > /data/f; cat /data/f'");
  ASSERT_EQ(w.status, 0) << w.out << d_->log();
  EXPECT_EQ(w.out, "hello\n");
  EXPECT_EQ(read_file(host_ + "/f"), "hello\n");

  auto ro = docker("run --rm --network none -v " + host_ +
                   ":/data:ro alpine sh -c 'cat /data/f; echo x > /data/g'");
  EXPECT_NE(ro.status, 0) << ro.out;
  EXPECT_THAT(ro.out, HasSubstr("hello"));
  EXPECT_THAT(ro.out, HasSubstr("Read-only file system"));
  EXPECT_FALSE(fs::exists(host_ + "/g"));

  // A file bind and a nested bind inside another bind.
  std::ofstream(root_->dir() + "/single") << "one file\n";
  fs::create_directories(root_->dir() + "/inner");
  std::ofstream(root_->dir() + "/inner/i") << "inner\n";
  auto nested =
      docker("run --rm --network none -v " + host_ + ":/data -v " + root_->dir() + "/inner:/data/sub/in -v " +
             root_->dir() + "/single:/etc/single.conf:ro alpine sh -c 'cat /data/sub/in/i /etc/single.conf'");
  EXPECT_EQ(nested.status, 0) << nested.out;
  EXPECT_EQ(nested.out, "inner\none file\n");
  EXPECT_TRUE(fs::is_directory(host_ + "/sub/in")) << "the nested target is created inside the outer bind";
}

TEST_F(Volumes, NamedVolumePersistsAcrossContainersUntilVolumeRm) {
  auto w = docker("run --name writer --network none -v keep:/v alpine sh -c 'echo persisted > /v/f'");
  ASSERT_EQ(w.status, 0) << w.out << d_->log();
  EXPECT_TRUE(fs::exists(volumes_dir() + "/keep/_data/f"));
  auto mounts = docker("inspect --format '{{json .Mounts}}' writer");
  auto mj = nlohmann::json::parse(mounts.out);
  ASSERT_EQ(mj.size(), 1u) << mounts.out;
  EXPECT_EQ(mj[0]["Type"], "volume");
  EXPECT_EQ(mj[0]["Name"], "keep");
  EXPECT_EQ(mj[0]["Destination"], "/v");
  EXPECT_EQ(mj[0]["Source"], volumes_dir() + "/keep/_data");
  EXPECT_EQ(mj[0]["Driver"], "local");
  EXPECT_EQ(mj[0]["RW"], true);

  ASSERT_EQ(docker("rm -v writer").status, 0) << "rm -v keeps named volumes";
  auto r = docker("run --rm --network none -v keep:/v alpine cat /v/f");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "persisted\n");
  EXPECT_EQ(volume_names(), std::vector<std::string>{"keep"});

  auto rm = docker("volume rm keep");
  EXPECT_EQ(rm.status, 0) << rm.out;
  EXPECT_EQ(rm.out, "keep\n");
  EXPECT_TRUE(volume_names().empty());
  EXPECT_FALSE(fs::exists(volumes_dir() + "/keep"));
}

TEST_F(Volumes, VolumeInUseCannotBeRemoved) {
  auto c = docker("create --name user --network none -v busy:/v alpine true");
  ASSERT_EQ(c.status, 0) << c.out;
  std::string id = c.out.substr(0, 64);
  auto rm = docker("volume rm busy");
  EXPECT_NE(rm.status, 0);
  EXPECT_THAT(rm.out, HasSubstr("remove busy: volume is in use - [" + id + "]"));
  auto forced = docker("volume rm -f busy");
  EXPECT_NE(forced.status, 0) << "force does not remove a volume in use";
  auto api = run(d_->curl("DELETE", "/volumes/busy"));
  EXPECT_THAT(api.out, HasSubstr("HTTP 409"));
  EXPECT_TRUE(fs::is_directory(volumes_dir() + "/busy/_data"));
  ASSERT_EQ(docker("rm user").status, 0);
  EXPECT_EQ(docker("volume rm busy").status, 0);
  EXPECT_FALSE(fs::exists(volumes_dir() + "/busy"));
}

TEST_F(Volumes, AnonymousVolumesGoWithRmVAndRunRm) {
  auto c = docker("create --name anon --network none -v /scratch -v named:/n alpine true");
  ASSERT_EQ(c.status, 0) << c.out;
  auto names = volume_names();
  ASSERT_EQ(names.size(), 2u);
  std::string anon = names[0] == "named" ? names[1] : names[0];
  EXPECT_EQ(anon.size(), 64u);
  auto insp = docker("volume inspect --format '{{json .Labels}}' " + anon);
  EXPECT_THAT(insp.out, HasSubstr("com.docker.volume.anonymous"));
  ASSERT_EQ(docker("start -a anon").status, 0);
  ASSERT_EQ(docker("rm -v anon").status, 0);
  EXPECT_EQ(volume_names(), std::vector<std::string>{"named"});
  EXPECT_FALSE(fs::exists(volumes_dir() + "/" + anon));

  // Without -v the anonymous volume stays (and prune removes it).
  ASSERT_EQ(docker("create --name anon2 --network none -v /scratch alpine true").status, 0);
  ASSERT_EQ(docker("rm anon2").status, 0);
  EXPECT_EQ(volume_names().size(), 2u);
  auto prune = docker("volume prune -f");
  EXPECT_EQ(prune.status, 0) << prune.out;
  EXPECT_EQ(volume_names(), std::vector<std::string>{"named"}) << "prune keeps named volumes";

  // --rm removes the anonymous volumes too.
  auto r = docker("run --rm --network none -v /tmpdata alpine sh -c 'echo x > /tmpdata/f'");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(volume_names(), std::vector<std::string>{"named"});
}

TEST_F(Volumes, VolumesFromSharesTheDataContainersMounts) {
  fs::create_directories(host_);
  std::ofstream(host_ + "/h") << "host data\n";
  ASSERT_EQ(docker("create --name data --network none -v shared:/shared -v " + host_ +
                   ":/hostdata -v /anonvol alpine true")
                .status,
            0);
  auto w = docker(
      "run --rm --network none --volumes-from data alpine sh -c 'echo from-data > /shared/f; echo a > "
      "/anonvol/a; cat /hostdata/h'");
  ASSERT_EQ(w.status, 0) << w.out;
  EXPECT_EQ(w.out, "host data\n");
  EXPECT_EQ(read_file(volumes_dir() + "/shared/_data/f"), "from-data\n");
  EXPECT_EQ(volume_names().size(), 2u) << "--rm of the consumer leaves the donor's anonymous volume";

  auto ro = docker(
      "run --rm --network none --volumes-from data:ro alpine sh -c 'cat /shared/f; echo no > /shared/g'");
  EXPECT_NE(ro.status, 0);
  EXPECT_THAT(ro.out, HasSubstr("from-data"));
  EXPECT_THAT(ro.out, HasSubstr("Read-only file system"));
  EXPECT_FALSE(fs::exists(volumes_dir() + "/shared/_data/g"));

  auto missing = docker("run --rm --network none --volumes-from nosuch alpine true");
  EXPECT_NE(missing.status, 0);
  EXPECT_THAT(missing.out, HasSubstr("No such container: nosuch"));
}

TEST_F(Volumes, SymlinkToEtcAsMountTargetStaysInsideTheContainer) {
  // An image whose /mnt/etclink points at /etc.
  std::string tree = root_->dir() + "/evil";
  fs::create_directories(tree);
  ASSERT_EQ(run("tar -xzf " + kAlpineTarball + " -C " + tree).status, 0);
  fs::create_directory_symlink("/etc", tree + "/mnt/etclink");
  ASSERT_EQ(run("tar -czf " + root_->dir() + "/evil.tar.gz -C " + tree + " .").status, 0);
  auto imp = run(d_->bocker("import " + root_->dir() + "/evil.tar.gz evil:latest"));
  ASSERT_EQ(imp.status, 0) << imp.out;

  std::string marker = "bocker-volume-test-" + std::to_string(::getpid());
  fs::create_directories(host_);
  auto r =
      docker("run --rm --network none -v " + host_ + ":/mnt/etclink evil sh -c 'echo contained > /etc/" +
             marker + "; cat /mnt/etclink/" + marker + "; test -e /etc/alpine-release; echo release=$?'");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "contained\nrelease=1\n") << "the bind covers the container's /etc";
  EXPECT_EQ(read_file(host_ + "/" + marker), "contained\n");
  EXPECT_FALSE(fs::exists("/etc/" + marker)) << "the host's /etc was touched";

  // Through an intermediate component: the new directory is made in the rootfs's /etc.
  auto sub = docker("run --rm --network none -v " + host_ + ":/mnt/etclink/" + marker + "-dir evil ls /etc/" +
                    marker + "-dir");
  EXPECT_EQ(sub.status, 0) << sub.out;
  EXPECT_THAT(sub.out, HasSubstr(marker));
  EXPECT_FALSE(fs::exists("/etc/" + marker + "-dir")) << "the mount target was created on the host";
}

TEST_F(Volumes, VolumeCommands) {
  auto c = docker("volume create --label team=a mine");
  EXPECT_EQ(c.status, 0) << c.out;
  EXPECT_EQ(c.out, "mine\n");
  EXPECT_EQ(docker("volume create mine").status, 0) << "create is idempotent";
  auto mp = docker("volume inspect --format '{{.Mountpoint}} {{.Driver}} {{.Scope}} {{.Labels.team}}' mine");
  EXPECT_EQ(mp.out, volumes_dir() + "/mine/_data local local a\n");
  auto ls = docker("volume ls");
  EXPECT_EQ(ls.status, 0);
  EXPECT_THAT(ls.out, HasSubstr("local"));
  EXPECT_THAT(ls.out, HasSubstr("mine"));
  auto filtered = docker("volume ls -q --filter label=team=b");
  EXPECT_EQ(filtered.out, "");
  auto dangling = docker("volume ls -q --filter dangling=true");
  EXPECT_EQ(dangling.out, "mine\n");

  auto bad = docker("volume create 'bad/name'");
  EXPECT_NE(bad.status, 0);
  EXPECT_THAT(bad.out, HasSubstr("includes invalid characters for a local volume name"));
  auto gone = docker("volume inspect nosuch");
  EXPECT_NE(gone.status, 0);
  EXPECT_THAT(gone.out, HasSubstr("no such volume"));
  auto api404 = run(d_->curl("GET", "/volumes/nosuch"));
  EXPECT_THAT(api404.out, HasSubstr("HTTP 404"));
  auto rm = docker("volume rm mine");
  EXPECT_EQ(rm.status, 0) << rm.out;
  EXPECT_NE(docker("volume rm mine").status, 0);
  EXPECT_EQ(docker("volume rm -f mine").status, 0) << "-f ignores a missing volume";
  EXPECT_TRUE(fs::is_empty(volumes_dir()));
}

TEST_F(Volumes, BadMountSpecsAre400AndCreateNothing) {
  auto create = [this](const std::string& hc) {
    return run(d_->curl(
        "POST", "/containers/create",
        "-H 'Content-Type: application/json' -d '{\"Image\":\"alpine\",\"Cmd\":[\"true\"],\"HostConfig\":" +
            hc + "}'"));
  };
  struct Case {
    std::string hc, message;
  };
  std::vector<Case> cases = {
      {"{\"Binds\":[\"/tmp:relative\"]}", "mount path must be absolute"},
      {"{\"Binds\":[\"okvol:/a\",\"bad name:/b\"]}", "includes invalid characters for a local volume name"},
      {"{\"Binds\":[\"okvol:/a\",\"/tmp:/a\"]}", "Duplicate mount point: /a"},
      {"{\"Binds\":[\"okvol:/a:rx\"]}", "invalid mode: rx"},
      {"{\"Binds\":[\"okvol:/\"]}", "destination can't be '/'"},
      {"{\"Binds\":\"okvol:/a\"}", "HostConfig.Binds must be an array"},
      {"{\"Binds\":[\"okvol:/a\"],\"Mounts\":[{\"Type\":\"bind\",\"Source\":\"" + root_->dir() +
           "/nope\",\"Target\":\"/m\"}]}",
       "bind source path does not exist: " + root_->dir() + "/nope"},
      {"{\"Mounts\":[{\"Type\":\"weird\",\"Target\":\"/m\"}]}", "mount type unknown"},
  };
  for (const auto& c : cases) {
    auto r = create(c.hc);
    EXPECT_THAT(r.out, HasSubstr("HTTP 400")) << c.hc;
    EXPECT_THAT(r.out, HasSubstr(c.message)) << c.hc;
  }
  auto from = create("{\"VolumesFrom\":[\"nosuch\"]}");
  EXPECT_THAT(from.out, HasSubstr("HTTP 400")) << "a 404 would make the CLI pull the image";
  EXPECT_THAT(from.out, HasSubstr("No such container: nosuch"));
  EXPECT_TRUE(volume_names().empty()) << "a failed create leaves no volume";
  EXPECT_TRUE(!fs::exists(root_->root() + "/containers") || fs::is_empty(root_->root() + "/containers"));
  EXPECT_FALSE(fs::exists(root_->dir() + "/nope"));
}

TEST_F(Volumes, NewVolumeGetsTheImageContentOnce) {
  auto r = docker("run --rm --network none -v apkvol:/etc/apk alpine cat /etc/apk/arch");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, "x86_64\n");
  EXPECT_TRUE(fs::exists(volumes_dir() + "/apkvol/_data/repositories")) << "copied up from the image";
  auto nocopy = docker("run --rm --network none -v empty:/etc/apk:nocopy alpine ls /etc/apk");
  EXPECT_EQ(nocopy.status, 0) << nocopy.out;
  EXPECT_EQ(nocopy.out, "");
  // Not empty: a second container sees what the first left, not the image's files again.
  ASSERT_EQ(docker("run --rm --network none -v apkvol:/etc/apk alpine rm /etc/apk/arch").status, 0);
  auto again = docker("run --rm --network none -v apkvol:/etc/apk alpine ls /etc/apk");
  EXPECT_EQ(again.out.find("arch"), std::string::npos) << again.out;
}

TEST_F(Volumes, MountsSurviveADaemonRestart) {
  ASSERT_EQ(docker("run --rm --network none -v again:/v alpine sh -c 'echo kept > /v/f'").status, 0);
  ASSERT_EQ(docker("create --name later --network none -v again:/v -v /anon alpine cat /v/f").status, 0);
  d_->stop();
  ASSERT_EQ(d_->start(), "");
  auto r = docker("start -a later");
  EXPECT_EQ(r.status, 0) << r.out << d_->log();
  EXPECT_EQ(r.out, "kept\n");
  EXPECT_NE(docker("volume rm again").status, 0) << "still in use after the restart";
  ASSERT_EQ(docker("rm -v later").status, 0);
  EXPECT_EQ(volume_names(), std::vector<std::string>{"again"});
}

}  // namespace
}  // namespace bocker::daemon::testing
