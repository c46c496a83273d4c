#include "bocker/cli/flags.hpp"

#include <algorithm>
#include <charconv>

namespace bocker::cli {
namespace {

const FlagSpec* find_long(const std::vector<FlagSpec>& specs, std::string_view name) {
  for (const auto& s : specs) {
    if (s.long_name == name) return &s;
  }
  return nullptr;
}

const FlagSpec* find_short(const std::vector<FlagSpec>& specs, char c) {
  for (const auto& s : specs) {
    if (s.short_name != 0 && s.short_name == c) return &s;
  }
  return nullptr;
}

std::string quoted_name(const FlagSpec& s) {
  return s.short_name != 0 ? "-" + std::string(1, s.short_name) + ", --" + s.long_name : "--" + s.long_name;
}

bool parse_bool(std::string_view v, bool& out) {
  static constexpr std::string_view kTrue[] = {"1", "t", "T", "true", "TRUE", "True"};
  static constexpr std::string_view kFalse[] = {"0", "f", "F", "false", "FALSE", "False"};
  if (std::find(std::begin(kTrue), std::end(kTrue), v) != std::end(kTrue)) return out = true, true;
  if (std::find(std::begin(kFalse), std::end(kFalse), v) != std::end(kFalse)) return out = false, true;
  return false;
}

bool parse_long(std::string_view v, long& out) {
  if (v.empty()) return false;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc() && p == v.data() + v.size();
}

// Stores `value` for `spec`, checking it fits the flag's type.
void store(ParsedFlags& flags, const FlagSpec& spec, std::string value) {
  if (spec.type == FlagSpec::Type::kBool) {
    bool b = false;
    if (!parse_bool(value, b)) {
      throw UsageError("invalid argument \"" + value + "\" for \"" + quoted_name(spec) +
                       "\" flag: not a boolean (want true or false)");
    }
    value = b ? "true" : "false";
  } else if (spec.type == FlagSpec::Type::kInt) {
    long n = 0;
    if (!parse_long(value, n)) {
      throw UsageError("invalid argument \"" + value + "\" for \"" + quoted_name(spec) +
                       "\" flag: not an integer");
    }
  }
  flags.add(spec.long_name, std::move(value));
}

}  // namespace

std::string FlagSpec::display_name() const {
  std::string s = short_name != 0 ? "-" + std::string(1, short_name) + ", " : "    ";
  return s + "--" + long_name;
}

bool ParsedFlags::get_bool(std::string_view long_name) const {
  auto it = values_.find(long_name);
  return it != values_.end() && !it->second.empty() && it->second.back() == "true";
}

std::string ParsedFlags::get_string(std::string_view long_name, std::string fallback) const {
  auto it = values_.find(long_name);
  if (it == values_.end() || it->second.empty()) return fallback;
  return it->second.back();
}

long ParsedFlags::get_int(std::string_view long_name, long fallback) const {
  auto it = values_.find(long_name);
  if (it == values_.end() || it->second.empty()) return fallback;
  long n = fallback;
  parse_long(it->second.back(), n);  // validated when parsed
  return n;
}

std::vector<std::string> ParsedFlags::get_list(std::string_view long_name) const {
  auto it = values_.find(long_name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

ParsedArgs parse_flags(const std::vector<FlagSpec>& specs, std::span<const std::string> argv,
                       bool interspersed) {
  ParsedArgs out;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--") {
      out.args.insert(out.args.end(), argv.begin() + static_cast<long>(i) + 1, argv.end());
      break;
    }
    if (a.size() < 2 || a[0] != '-') {  // a positional ("-" alone counts as one)
      out.args.push_back(a);
      if (!interspersed) {
        out.args.insert(out.args.end(), argv.begin() + static_cast<long>(i) + 1, argv.end());
        break;
      }
      continue;
    }
    if (a[1] == '-') {  // --long, --long=value, --long value
      std::string_view body = std::string_view(a).substr(2);
      auto eq = body.find('=');
      std::string name(body.substr(0, eq));
      const FlagSpec* spec = find_long(specs, name);
      if (spec == nullptr) throw UsageError("unknown flag: --" + name);
      if (eq != std::string_view::npos) {
        store(out.flags, *spec, std::string(body.substr(eq + 1)));
      } else if (spec->type == FlagSpec::Type::kBool) {
        store(out.flags, *spec, "true");
      } else if (i + 1 < argv.size()) {
        store(out.flags, *spec, argv[++i]);
      } else {
        throw UsageError("flag needs an argument: --" + name);
      }
      continue;
    }
    // -x, -xyz (bools), -e VAL, -eVAL, -e=VAL, -ite VAL
    for (size_t j = 1; j < a.size(); ++j) {
      const FlagSpec* spec = find_short(specs, a[j]);
      if (spec == nullptr) {
        throw UsageError(std::string("unknown shorthand flag: '") + a[j] + "' in " + a);
      }
      std::string_view rest = std::string_view(a).substr(j + 1);
      if (spec->type == FlagSpec::Type::kBool) {
        if (!rest.empty() && rest.front() == '=') {
          store(out.flags, *spec, std::string(rest.substr(1)));
          break;
        }
        store(out.flags, *spec, "true");
        continue;
      }
      if (!rest.empty()) {
        if (rest.front() == '=') rest.remove_prefix(1);
        store(out.flags, *spec, std::string(rest));
      } else if (i + 1 < argv.size()) {
        store(out.flags, *spec, argv[++i]);
      } else {
        throw UsageError(std::string("flag needs an argument: '") + a[j] + "' in " + a);
      }
      break;
    }
  }
  return out;
}

std::string format_flags(const std::vector<FlagSpec>& specs) {
  std::vector<std::pair<std::string, const FlagSpec*>> rows;
  size_t width = 0;
  for (const auto& s : specs) {
    if (s.hidden) continue;
    std::string left = "  " + s.display_name();
    std::string value = s.value_name;
    if (value.empty()) {
      if (s.type == FlagSpec::Type::kString) value = "string";
      if (s.type == FlagSpec::Type::kInt) value = "int";
      if (s.type == FlagSpec::Type::kList) value = "list";
    }
    if (!value.empty()) left += " " + value;
    width = std::max(width, left.size());
    rows.emplace_back(std::move(left), &s);
  }
  std::string out;
  for (const auto& [left, spec] : rows) {
    out += left + std::string(width - left.size() + 3, ' ') + spec->help;
    if (!spec->default_value.empty()) out += " (default " + spec->default_value + ")";
    out += '\n';
  }
  return out;
}

}  // namespace bocker::cli
