// Limits parsing and validation: docker's units, ranges and the bocker CLI's environment defaults.
#include "bocker/cgroup/limits.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "bocker/runtime/error.hpp"

namespace bocker::cgroup {
namespace {

using ::testing::HasSubstr;

// Runs fn, expects Error(kInvalid) and returns its message.
template <typename Fn>
std::string invalid_message(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kInvalid) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no Error thrown";
  return {};
}

TEST(ParseMemory, DockerUnitsAre1024Based) {
  EXPECT_EQ(parse_memory("6291456"), 6291456);
  EXPECT_EQ(parse_memory("100k"), 100 * 1024);
  EXPECT_EQ(parse_memory("512m"), 512LL * 1024 * 1024);
  EXPECT_EQ(parse_memory("512M"), 512LL * 1024 * 1024);
  EXPECT_EQ(parse_memory("1g"), 1LL << 30);
  EXPECT_EQ(parse_memory("2t"), 2LL << 40);
  EXPECT_EQ(parse_memory("1p"), 1LL << 50);
  EXPECT_EQ(parse_memory("10b"), 10);
  EXPECT_EQ(parse_memory("10"), 10);
  EXPECT_EQ(parse_memory("0"), 0);
}

TEST(ParseMemory, AcceptsSuffixVariantsAndDecimals) {
  EXPECT_EQ(parse_memory("512MB"), 512LL << 20);
  EXPECT_EQ(parse_memory("512mb"), 512LL << 20);
  EXPECT_EQ(parse_memory("1GiB"), 1LL << 30);
  EXPECT_EQ(parse_memory("1 g"), 1LL << 30);
  EXPECT_EQ(parse_memory("1 "), 1);  // go-units accepts the lone space too
  EXPECT_EQ(parse_memory("1.5g"), (3LL << 30) / 2);
  EXPECT_EQ(parse_memory("0.5k"), 512);
}

TEST(ParseMemory, RejectsBadInputNamingTheValue) {
  for (const char* bad : {"", "abc", "-1", "12x", "1.g", ".5g", "1gg", "m", "1.2.3g", " 1g"}) {
    std::string msg = invalid_message([&] { parse_memory(bad); });
    EXPECT_THAT(msg, HasSubstr(std::string("\"") + bad + "\"")) << bad;
  }
}

TEST(ParseMemory, RejectsOverflow) {
  invalid_message([] { parse_memory("9223372036854775808"); });
  invalid_message([] { parse_memory("8589934592g"); });  // 2^33 GiB = 2^63 bytes
  EXPECT_EQ(parse_memory("9223372036854775807"), 9223372036854775807LL);
}

TEST(CpusToQuota, MultipliesByTheDefaultPeriod) {
  EXPECT_EQ(cpus_to_quota(1), 100000);
  EXPECT_EQ(cpus_to_quota(1.5), 150000);
  EXPECT_EQ(cpus_to_quota(0.01), 1000);
  EXPECT_EQ(cpus_to_quota(0.333), 33300);
  EXPECT_THAT(invalid_message([] { cpus_to_quota(0.001); }), HasSubstr("0.01"));
  invalid_message([] { cpus_to_quota(-1); });
  invalid_message([] { cpus_to_quota(1e300); });
}

TEST(SharesToWeight, KernelFormula) {
  EXPECT_EQ(shares_to_weight(2), 1);
  EXPECT_EQ(shares_to_weight(262144), 10000);
  EXPECT_EQ(shares_to_weight(1024), 39);  // 1 + (1022 * 9999) / 262142
  EXPECT_EQ(shares_to_weight(512), 1 + (510 * 9999) / 262142);
  EXPECT_EQ(shares_to_weight(1), 1);            // clamped like the kernel
  EXPECT_EQ(shares_to_weight(1000000), 10000);  // clamped
}

TEST(Validate, AcceptsDefaultsAndDockerRanges) {
  EXPECT_NO_THROW(validate(Limits{}));
  Limits l;
  l.memory_bytes = kMinMemoryBytes;
  l.memory_swap = -1;
  l.cpu_shares = 1;  // clamped later, like docker
  l.cpu_quota_us = 1000;
  l.cpu_period_us = 1000000;
  l.pids_limit = -1;
  EXPECT_NO_THROW(validate(l));
}

TEST(Validate, MemoryBelowSixMegabytes) {
  Limits l;
  l.memory_bytes = kMinMemoryBytes - 1;
  EXPECT_THAT(invalid_message([&] { validate(l); }), HasSubstr("Minimum memory limit allowed is 6MB"));
}

TEST(Validate, RejectsOutOfRangeFields) {
  auto check = [](Limits l, const char* expect) {
    EXPECT_THAT(invalid_message([&] { validate(l); }), HasSubstr(expect));
  };
  check({.memory_bytes = -5}, "memory limit -5");
  check({.memory_bytes = 64 << 20, .memory_swap = 32 << 20}, "memoryswap limit should be larger");
  check({.memory_swap = 64 << 20}, "always set the Memory limit");
  check({.memory_swap = -2}, "swap");
  check({.cpu_shares = -1}, "cpu shares");
  check({.cpu_quota_us = 999}, "quota");
  check({.cpu_quota_us = -2}, "quota");
  check({.cpu_period_us = 999}, "period");
  check({.cpu_period_us = 1000001}, "period");
  check({.pids_limit = -2}, "pids");
}

TEST(BockerEnvDefaults, DefaultsWhenUnset) {
  Limits l = bocker_env_defaults({});
  EXPECT_EQ(l.cpu_shares, 512);
  EXPECT_EQ(l.memory_bytes, 512000000);
  EXPECT_EQ(l.memory_swap, 0);
  EXPECT_EQ(l.pids_limit, 0);
}

TEST(BockerEnvDefaults, ReadsTheVariables) {
  Limits l =
      bocker_env_defaults({{"BOCKER_CPU_SHARE", "1024"}, {"BOCKER_MEM_LIMIT", "64"}, {"HOME", "/root"}});
  EXPECT_EQ(l.cpu_shares, 1024);
  EXPECT_EQ(l.memory_bytes, 64000000);
  EXPECT_NO_THROW(validate(l));
  EXPECT_EQ(bocker_env_defaults({{"BOCKER_MEM_LIMIT", "0"}}).memory_bytes, 0);  // no limit
}

TEST(BockerEnvDefaults, RejectsNonNumbersNamingTheVariable) {
  EXPECT_THAT(invalid_message([] {
                bocker_env_defaults({{"BOCKER_MEM_LIMIT", "512m"}});
              }),
              HasSubstr("BOCKER_MEM_LIMIT=\"512m\""));
  EXPECT_THAT(invalid_message([] {
                bocker_env_defaults({{"BOCKER_CPU_SHARE", "-3"}});
              }),
              HasSubstr("BOCKER_CPU_SHARE"));
  invalid_message([] { bocker_env_defaults({{"BOCKER_MEM_LIMIT", "99999999999999999"}}); });
}

}  // namespace
}  // namespace bocker::cgroup
