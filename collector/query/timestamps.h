#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// Timestamps in log lines, for time-range searches (issue 8): the formats a syslog host's files
// use, recognised at or near the start of a line.
namespace outpost::query {

enum class TimeFormat {
  kNone,
  kIso8601,    // 2026-11-22T09:14:03.123Z, 2026-11-22 09:14:03+01:00, ... (no zone: UTC)
  kSyslog,     // Nov 22 09:14:03 (no year: the year that puts it at most a day ahead of now)
  kAccessLog,  // [22/Nov/2026:09:14:03 +0000] within the first 200 bytes
  kJson,       // {"timestamp": ...} / "time" / "@timestamp" / "ts": RFC 3339 or epoch s/ms
};

const char* timeFormatName(TimeFormat f);

// The time of `line` in unix milliseconds, trying `hint` first then every format; the format
// found goes to *found. nullopt when the line carries none (a continuation line, a banner).
// `now_ms` places year-less syslog stamps.
std::optional<int64_t> lineTime(std::string_view line, TimeFormat hint, int64_t now_ms,
                                TimeFormat* found = nullptr);

// A request's `from`/`to`: RFC 3339, epoch milliseconds (a number or digits), or relative to
// `now_ms`: "now", "-15m", "now-15m", "-2h", "-1d", "-30s". nullopt when unreadable or outside
// the years 0 to 9999 (so a range's span never overflows).
std::optional<int64_t> parseTimeArg(std::string_view s, int64_t now_ms);
// The same for a JSON argument: a string as above, or an integer (epoch milliseconds).
std::optional<int64_t> parseTimeArgJson(const nlohmann::json& v, int64_t now_ms);

// unix ms → "2026-11-22T09:14:03.123Z".
std::string formatUtc(int64_t unix_ms);

}  // namespace outpost::query
