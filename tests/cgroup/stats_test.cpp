// The stats parsers against sample file contents from real kernels, and mountinfo parsing.
#include <gtest/gtest.h>
#include <unistd.h>

#include "bocker/cgroup/cgroup.hpp"

namespace bocker::cgroup {
namespace {

TEST(ParseStatsV1, SampleFiles) {
  std::uint64_t tick_ns = 1000000000ULL / static_cast<std::uint64_t>(::sysconf(_SC_CLK_TCK));
  std::map<std::string, std::string> files{
      {"cpuacct.usage", "2450000000\n"},
      {"cpuacct.stat", "user 200\nsystem 45\n"},
      {"cpu.stat", "nr_periods 120\nnr_throttled 7\nthrottled_time 350000000\nnr_bursts 0\nburst_time 0\n"},
      {"memory.usage_in_bytes", "52428800\n"},
      {"memory.limit_in_bytes", "9223372036854771712\n"},
      {"memory.stat",
       "cache 1000\nrss 2000\ninactive_file 300\nhierarchical_memory_limit 9223372036854771712\n"
       "total_cache 4194304\ntotal_rss 41943040\ntotal_inactive_file 2097152\ntotal_active_file 1048576\n"},
      {"memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"},
      {"pids.current", "4\n"},
      {"pids.max", "max\n"},
      {"blkio.throttle.io_service_bytes",
       "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\n"
       "8:16 Read 100\n8:16 Write 0\n8:16 Total 100\nTotal 12388\n"},
  };
  Stats s = parse_stats_v1(files);
  EXPECT_EQ(s.cpu_usage_ns, 2450000000u);
  EXPECT_EQ(s.cpu_user_ns, 200 * tick_ns);
  EXPECT_EQ(s.cpu_system_ns, 45 * tick_ns);
  EXPECT_EQ(s.cpu_periods, 120u);
  EXPECT_EQ(s.cpu_throttled_periods, 7u);
  EXPECT_EQ(s.cpu_throttled_ns, 350000000u);
  EXPECT_EQ(s.memory_usage, 52428800u);
  EXPECT_EQ(s.memory_limit, 0u);  // unlimited
  EXPECT_EQ(s.memory_cache, 4194304u);
  EXPECT_EQ(s.memory_rss, 41943040u);
  EXPECT_EQ(s.inactive_file, 2097152u);
  EXPECT_EQ(s.memory_working_set, 52428800u - 2097152u);
  EXPECT_EQ(s.oom_events, 3u);
  EXPECT_EQ(s.pids_current, 4u);
  EXPECT_EQ(s.pids_limit, 0u);
  EXPECT_EQ(s.io_read_bytes, 4196u);
  EXPECT_EQ(s.io_write_bytes, 8192u);
}

TEST(ParseStatsV1, LimitAndNonHierarchicalStat) {
  Stats s = parse_stats_v1({{"memory.limit_in_bytes", "16777216\n"},
                            {"memory.usage_in_bytes", "100\n"},
                            {"memory.stat", "cache 10\nrss 20\ninactive_file 500\n"},
                            {"pids.max", "20\n"}});
  EXPECT_EQ(s.memory_limit, 16777216u);
  EXPECT_EQ(s.memory_cache, 10u);
  EXPECT_EQ(s.memory_rss, 20u);
  EXPECT_EQ(s.memory_working_set, 0u);  // inactive_file > usage never underflows
  EXPECT_EQ(s.pids_limit, 20u);
}

TEST(ParseStatsV1, MissingAndMalformedFilesGiveZeros) {
  EXPECT_EQ(parse_stats_v1({}), Stats{});
  Stats s = parse_stats_v1({{"cpuacct.usage", "garbage"}, {"memory.stat", "rss\ntotal_rss x\n\n"}});
  EXPECT_EQ(s, Stats{});
}

TEST(ParseStatsV2, SampleFiles) {
  std::map<std::string, std::string> files{
      {"cpu.stat",
       "usage_usec 1234567\nuser_usec 1000000\nsystem_usec 234567\nnr_periods 50\nnr_throttled 5\n"
       "throttled_usec 20000\nnr_bursts 0\nburst_usec 0\n"},
      {"memory.current", "73400320\n"},
      {"memory.max", "134217728\n"},
      {"memory.stat",
       "anon 50331648\nfile 20971520\nkernel 1048576\nkernel_stack 65536\nshmem 0\nactive_anon 0\n"
       "inactive_anon 50331648\nactive_file 10485760\ninactive_file 10485760\nunevictable 0\n"},
      {"memory.events", "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n"},
      {"pids.current", "3\n"},
      {"pids.max", "100\n"},
      {"io.stat",
       "8:0 rbytes=1048576 wbytes=2097152 rios=10 wios=20 dbytes=0 dios=0\n"
       "259:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n"},
  };
  Stats s = parse_stats_v2(files);
  EXPECT_EQ(s.cpu_usage_ns, 1234567000u);
  EXPECT_EQ(s.cpu_user_ns, 1000000000u);
  EXPECT_EQ(s.cpu_system_ns, 234567000u);
  EXPECT_EQ(s.cpu_periods, 50u);
  EXPECT_EQ(s.cpu_throttled_periods, 5u);
  EXPECT_EQ(s.cpu_throttled_ns, 20000000u);
  EXPECT_EQ(s.memory_usage, 73400320u);
  EXPECT_EQ(s.memory_limit, 134217728u);
  EXPECT_EQ(s.memory_cache, 20971520u);
  EXPECT_EQ(s.memory_rss, 50331648u);
  EXPECT_EQ(s.inactive_file, 10485760u);
  EXPECT_EQ(s.memory_working_set, 73400320u - 10485760u);
  EXPECT_EQ(s.oom_events, 2u);
  EXPECT_EQ(s.pids_current, 3u);
  EXPECT_EQ(s.pids_limit, 100u);
  EXPECT_EQ(s.io_read_bytes, 1048576u + 4096u);
  EXPECT_EQ(s.io_write_bytes, 2097152u);
}

TEST(ParseStatsV2, MaxMeansUnlimited) {
  Stats s = parse_stats_v2({{"memory.max", "max\n"}, {"pids.max", "max\n"}, {"io.stat", "8:0 rbytes=x\n"}});
  EXPECT_EQ(s.memory_limit, 0u);
  EXPECT_EQ(s.pids_limit, 0u);
  EXPECT_EQ(s.io_read_bytes, 0u);
}

TEST(V1Hierarchies, SeparateAndCoMountedControllers) {
  std::string mountinfo =
      "25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:10 - cgroup cgroup rw,cpu,cpuacct\n"
      "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
      "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
      "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
      "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
      "42 31 0:39 / /sys/fs/cgroup/net\\040cls rw,relatime - cgroup cgroup rw,net_cls\n"
      "43 31 0:32 / /mnt/again rw,relatime - cgroup cgroup rw,memory\n";
  auto h = v1_hierarchies(mountinfo);
  std::map<std::string, std::string> want{{"cpu", "/sys/fs/cgroup/cpu,cpuacct"},
                                          {"cpuacct", "/sys/fs/cgroup/cpu,cpuacct"},
                                          {"memory", "/sys/fs/cgroup/memory"},
                                          {"pids", "/sys/fs/cgroup/pids"},
                                          {"net_cls", "/sys/fs/cgroup/net cls"}};
  EXPECT_EQ(h, want);
}

}  // namespace
}  // namespace bocker::cgroup
