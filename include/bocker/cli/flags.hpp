// Command-line flags in the docker/pflag dialect: -x, -xyz, -e VAL, -eVAL, -e=VAL, --long,
// --long=VAL, --long VAL, --bool=false, repeated list flags, and "--" to end the flags.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bocker/runtime/error.hpp"

namespace bocker::cli {

// A mistake in how the command was invoked. The CLI prints it with a usage hint, exit 125.
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& msg) : Error(Kind::kInvalid, msg) {}
};

struct FlagSpec {
  enum class Type { kBool, kString, kInt, kList };
  char short_name = 0;    // 0: long form only
  std::string long_name;  // without "--"; required, the key for ParsedFlags lookups
  Type type = Type::kBool;
  std::string help;
  std::string default_value;  // shown as "(default X)" in help; ParsedFlags getters take their own
  std::string value_name;     // shown in help after the name; defaults by type ("string", "int", "list")
  bool hidden = false;

  // "-f, --format" or "    --rm": the name as help and errors show it.
  std::string display_name() const;
};

// The flags found on a command line, by long name, in the order given.
class ParsedFlags {
 public:
  // True when the flag appeared at least once.
  bool has(std::string_view long_name) const { return values_.contains(std::string(long_name)); }
  // The last value of a bool flag; false when absent.
  bool get_bool(std::string_view long_name) const;
  // The last value of a string or int flag; `fallback` when absent.
  std::string get_string(std::string_view long_name, std::string fallback = {}) const;
  long get_int(std::string_view long_name, long fallback = 0) const;
  // Every value of a (list) flag, in order.
  std::vector<std::string> get_list(std::string_view long_name) const;

  void add(const std::string& long_name, std::string value) {
    values_[long_name].push_back(std::move(value));
  }

 private:
  std::map<std::string, std::vector<std::string>, std::less<>> values_;
};

struct ParsedArgs {
  ParsedFlags flags;
  std::vector<std::string> args;  // positional arguments
};

// Parses `argv` (no program or command name) against `specs`. With `interspersed`, flags may
// appear between positionals; without it, the first positional ends the flags (so `run IMAGE
// cmd -x` leaves `-x` to cmd). Throws UsageError ("unknown flag: --x", "flag needs an
// argument: 'e' in -e", "invalid argument ...").
ParsedArgs parse_flags(const std::vector<FlagSpec>& specs, std::span<const std::string> argv,
                       bool interspersed = true);

// The "Options:" block: one line per visible flag, help text aligned.
std::string format_flags(const std::vector<FlagSpec>& specs);

}  // namespace bocker::cli
