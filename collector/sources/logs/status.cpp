#include "collector/sources/logs/status.h"

#include <array>
#include <cstddef>
#include <utility>

namespace outpost::logs {

namespace {

constexpr std::string_view kInfo = "info";

constexpr std::array<std::string_view, 8> kSeverities = {
    "emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"};

constexpr std::pair<std::string_view, std::string_view> kNames[] = {
    {"emerg", "emergency"}, {"emergency", "emergency"}, {"panic", "emergency"},
    {"alert", "alert"},     {"crit", "critical"},       {"critical", "critical"},
    {"fatal", "critical"},  {"err", "error"},           {"error", "error"},
    {"warn", "warning"},    {"warning", "warning"},     {"notice", "notice"},
    {"info", "info"},       {"information", "info"},    {"informational", "info"},
    {"debug", "debug"},     {"trace", "debug"},
};

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// "<PRI>" at the start of `s`: PRI is 1-3 digits without a leading zero (except "0"), at most
// 191. -1 when there is none.
int syslogPri(std::string_view s) {
  if (s.size() < 3 || s[0] != '<') {
    return -1;
  }
  int pri = 0;
  size_t i = 1;
  for (; i < s.size() && i <= 4; ++i) {
    const char c = s[i];
    if (c == '>') {
      break;
    }
    if (c < '0' || c > '9') {
      return -1;
    }
    if (i > 1 && pri == 0) {
      return -1;  // a leading zero
    }
    pri = pri * 10 + (c - '0');
  }
  if (i == 1 || i >= s.size() || s[i] != '>' || pri > 191) {
    return -1;
  }
  return pri;
}

// A forgiving scanner over one JSON object's top level. Any malformation makes it stop.
class TopLevelScanner {
 public:
  explicit TopLevelScanner(std::string_view s) : s_(s) {}

  // Calls f(key, string_value) for each top-level member whose value is a string (raw, escapes
  // left as they are); f returns true to stop. Returns when the object ends or is malformed.
  template <class F>
  void forEachStringMember(F&& f) {
    skipSpace();
    if (!eat('{')) {
      return;
    }
    skipSpace();
    if (eat('}')) {
      return;
    }
    while (true) {
      skipSpace();
      std::string_view key;
      if (!string(&key)) {
        return;
      }
      skipSpace();
      if (!eat(':')) {
        return;
      }
      skipSpace();
      if (i_ < s_.size() && s_[i_] == '"') {
        std::string_view value;
        if (!string(&value)) {
          return;
        }
        if (f(key, value)) {
          return;
        }
      } else if (!skipValue()) {
        return;
      }
      skipSpace();
      if (eat(',')) {
        continue;
      }
      return;  // '}' or malformed: done either way
    }
  }

 private:
  void skipSpace() {
    while (i_ < s_.size() && isSpace(s_[i_])) {
      ++i_;
    }
  }
  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool string(std::string_view* out) {
    if (!eat('"')) {
      return false;
    }
    const size_t start = i_;
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '\\') {
        i_ += 2;
        continue;
      }
      if (c == '"') {
        *out = s_.substr(start, i_ - start);
        ++i_;
        return true;
      }
      ++i_;
    }
    return false;
  }
  // Skips a number, literal, object or array.
  bool skipValue() {
    if (i_ >= s_.size()) {
      return false;
    }
    const char c = s_[i_];
    if (c != '{' && c != '[') {
      while (i_ < s_.size() && s_[i_] != ',' && s_[i_] != '}' && s_[i_] != ']' &&
             !isSpace(s_[i_])) {
        ++i_;
      }
      return true;
    }
    size_t depth = 0;
    while (i_ < s_.size()) {
      const char d = s_[i_];
      if (d == '"') {
        std::string_view ignored;
        if (!string(&ignored)) {
          return false;
        }
        continue;
      }
      if (d == '{' || d == '[') {
        ++depth;
      } else if (d == '}' || d == ']') {
        --depth;
        if (depth == 0) {
          ++i_;
          return true;
        }
      }
      ++i_;
    }
    return false;
  }

  std::string_view s_;
  size_t i_ = 0;
};

std::string_view fromJson(std::string_view content) {
  // Preference: status, then level, then severity.
  std::string_view found[3];
  TopLevelScanner scanner(content);
  scanner.forEachStringMember([&](std::string_view key, std::string_view value) {
    int slot = key == "status" ? 0 : key == "level" ? 1 : key == "severity" ? 2 : -1;
    if (slot < 0 || !found[slot].empty()) {
      return false;
    }
    found[slot] = normalizeStatus(value);
    return slot == 0 && !found[0].empty();
  });
  for (std::string_view f : found) {
    if (!f.empty()) {
      return f;
    }
  }
  return kInfo;
}

}  // namespace

std::string_view normalizeStatus(std::string_view value) {
  char lower[16];
  if (value.empty() || value.size() > sizeof(lower)) {
    return {};
  }
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    lower[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  }
  const std::string_view v(lower, value.size());
  for (const auto& [name, status] : kNames) {
    if (v == name) {
      return status;
    }
  }
  return {};
}

std::string_view detectStatus(std::string_view content) {
  if (content.empty()) {
    return kInfo;
  }
  if (content[0] == '<') {
    const int pri = syslogPri(content);
    return pri < 0 ? kInfo : kSeverities[static_cast<size_t>(pri % 8)];
  }
  size_t i = 0;
  while (i < content.size() && i < 16 && isSpace(content[i])) {
    ++i;
  }
  if (i < content.size() && content[i] == '{') {
    return fromJson(content.substr(i));
  }
  return kInfo;
}

}  // namespace outpost::logs
