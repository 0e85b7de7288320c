#include "collector/query/timestamps.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace outpost::query {

namespace {

constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// Days since 1970-01-01 of a civil date (proleptic Gregorian).
int64_t daysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool digits(std::string_view s, size_t at, size_t n, int* out) {
  if (at + n > s.size()) {
    return false;
  }
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[at + i];
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

int monthOf(std::string_view s, size_t at) {
  if (at + 3 > s.size()) {
    return 0;
  }
  for (int m = 0; m < 12; ++m) {
    if (s.compare(at, 3, kMonths[m]) == 0) {
      return m + 1;
    }
  }
  return 0;
}

std::optional<int64_t> civilMs(int y, int mo, int d, int h, int mi, int sec, int ms,
                               int offset_min) {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
    return std::nullopt;
  }
  const int64_t days = daysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return ((days * 24 + h) * 60 + mi - offset_min) * 60000LL + sec * 1000LL + ms;
}

// YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|±HH[:]MM] at s[at].
std::optional<int64_t> iso(std::string_view s, size_t at) {
  int y, mo, d, h, mi, sec;
  if (!digits(s, at, 4, &y) || s.size() < at + 19 || s[at + 4] != '-' ||
      !digits(s, at + 5, 2, &mo) || s[at + 7] != '-' || !digits(s, at + 8, 2, &d) ||
      (s[at + 10] != 'T' && s[at + 10] != ' ') || !digits(s, at + 11, 2, &h) || s[at + 13] != ':' ||
      !digits(s, at + 14, 2, &mi) || s[at + 16] != ':' || !digits(s, at + 17, 2, &sec)) {
    return std::nullopt;
  }
  size_t i = at + 19;
  int ms = 0;
  if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
    ++i;
    int scale = 100;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      ms += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
  }
  int offset = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh = 0, om = 0;
    const size_t mpos = i + 3 < s.size() && s[i + 3] == ':' ? i + 4 : i + 3;
    if (digits(s, i + 1, 2, &oh) && digits(s, mpos, 2, &om)) {
      offset = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
    }
  }
  return civilMs(y, mo, d, h, mi, sec, ms, offset);
}

// "Nov 22 09:14:03" (day space-padded or not) at s[at].
std::optional<int64_t> syslog(std::string_view s, size_t at, int64_t now_ms) {
  const int mo = monthOf(s, at);
  if (mo == 0 || at + 15 > s.size() || s[at + 3] != ' ') {
    return std::nullopt;
  }
  size_t i = at + 4;
  if (s[i] == ' ') {
    ++i;
  }
  int d = 0;
  size_t dl = 0;
  while (dl < 2 && i + dl < s.size() && std::isdigit(static_cast<unsigned char>(s[i + dl]))) {
    d = d * 10 + (s[i + dl] - '0');
    ++dl;
  }
  i += dl;
  int h, mi, sec;
  if (dl == 0 || i + 9 > s.size() || s[i] != ' ' || !digits(s, i + 1, 2, &h) || s[i + 3] != ':' ||
      !digits(s, i + 4, 2, &mi) || s[i + 6] != ':' || !digits(s, i + 7, 2, &sec)) {
    return std::nullopt;
  }
  const std::time_t now_s = static_cast<std::time_t>(now_ms / 1000);
  std::tm utc{};
  ::gmtime_r(&now_s, &utc);
  int year = utc.tm_year + 1900;
  auto t = civilMs(year, mo, d, h, mi, sec, 0, 0);
  if (t && *t > now_ms + 86400000LL) {
    t = civilMs(year - 1, mo, d, h, mi, sec, 0, 0);  // December's lines read in January
  }
  return t;
}

// "[22/Nov/2026:09:14:03 +0000]" somewhere in the first 200 bytes.
std::optional<int64_t> accessLog(std::string_view s) {
  const size_t limit = std::min<size_t>(s.size(), 200);
  for (size_t b = s.find('['); b != std::string_view::npos && b < limit; b = s.find('[', b + 1)) {
    int d, y, h, mi, sec;
    const int mo = monthOf(s, b + 4);
    if (digits(s, b + 1, 2, &d) && s.size() > b + 27 && s[b + 3] == '/' && mo != 0 &&
        s[b + 7] == '/' && digits(s, b + 8, 4, &y) && s[b + 12] == ':' &&
        digits(s, b + 13, 2, &h) && digits(s, b + 16, 2, &mi) && digits(s, b + 19, 2, &sec)) {
      int oh = 0, om = 0;
      int offset = 0;
      if ((s[b + 22] == '+' || s[b + 22] == '-') && digits(s, b + 23, 2, &oh) &&
          digits(s, b + 25, 2, &om)) {
        offset = (oh * 60 + om) * (s[b + 22] == '-' ? -1 : 1);
      }
      return civilMs(y, mo, d, h, mi, sec, 0, offset);
    }
  }
  return std::nullopt;
}

// A JSON line's "timestamp" / "@timestamp" / "time" / "ts": an RFC 3339 string or a number
// (seconds or milliseconds since the epoch).
std::optional<int64_t> jsonTime(std::string_view s) {
  if (s.empty() || s[0] != '{') {
    return std::nullopt;
  }
  for (const char* key : {"\"timestamp\"", "\"@timestamp\"", "\"time\"", "\"ts\""}) {
    size_t k = s.find(key);
    if (k == std::string_view::npos) {
      continue;
    }
    size_t i = k + std::strlen(key);
    while (i < s.size() && (s[i] == ' ' || s[i] == ':')) {
      ++i;
    }
    if (i < s.size() && s[i] == '"') {
      if (auto t = iso(s, i + 1)) {
        return t;
      }
      continue;
    }
    char* end = nullptr;
    const std::string num(s.substr(i, 24));
    const double v = std::strtod(num.c_str(), &end);
    if (end != num.c_str() && v > 0) {
      return static_cast<int64_t>(v > 1e11 ? v : v * 1000);
    }
  }
  return std::nullopt;
}

std::optional<int64_t> tryFormat(std::string_view line, TimeFormat f, int64_t now_ms) {
  switch (f) {
    case TimeFormat::kIso8601:
      return iso(line, 0);
    case TimeFormat::kSyslog:
      return syslog(line, 0, now_ms);
    case TimeFormat::kAccessLog:
      return accessLog(line);
    case TimeFormat::kJson:
      return jsonTime(line);
    case TimeFormat::kNone:
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

const char* timeFormatName(TimeFormat f) {
  switch (f) {
    case TimeFormat::kIso8601:
      return "iso8601";
    case TimeFormat::kSyslog:
      return "syslog";
    case TimeFormat::kAccessLog:
      return "access_log";
    case TimeFormat::kJson:
      return "json";
    case TimeFormat::kNone:
      return "none";
  }
  return "none";
}

std::optional<int64_t> lineTime(std::string_view line, TimeFormat hint, int64_t now_ms,
                                TimeFormat* found) {
  if (hint != TimeFormat::kNone) {
    if (auto t = tryFormat(line, hint, now_ms)) {
      if (found != nullptr) {
        *found = hint;
      }
      return t;
    }
  }
  for (TimeFormat f :
       {TimeFormat::kIso8601, TimeFormat::kSyslog, TimeFormat::kJson, TimeFormat::kAccessLog}) {
    if (f == hint) {
      continue;
    }
    if (auto t = tryFormat(line, f, now_ms)) {
      if (found != nullptr) {
        *found = f;
      }
      return t;
    }
  }
  return std::nullopt;
}

namespace {

// A request's times lie between years 0 and 9999, so that subtracting two of them (a range's
// span) never overflows.
constexpr int64_t kMinTimeArgMs = -62'167'219'200'000;  // 0000-01-01T00:00:00Z
constexpr int64_t kMaxTimeArgMs = 253'402'300'799'999;  // 9999-12-31T23:59:59.999Z

std::optional<int64_t> inTimeArgRange(std::optional<int64_t> t) {
  if (t && (*t < kMinTimeArgMs || *t > kMaxTimeArgMs)) {
    return std::nullopt;
  }
  return t;
}

std::optional<int64_t> parseTimeArgUnbounded(std::string_view s, int64_t now_ms) {
  if (s.empty()) {
    return std::nullopt;
  }
  if (s == "now") {
    return now_ms;
  }
  std::string_view rel = s;
  if (rel.rfind("now", 0) == 0) {
    rel.remove_prefix(3);
  }
  if (rel.size() >= 3 && rel[0] == '-') {
    const char unit = rel.back();
    const std::string n(rel.substr(1, rel.size() - 2));
    char* end = nullptr;
    const long long v = std::strtoll(n.c_str(), &end, 10);
    const int64_t scale = unit == 's'   ? 1000
                          : unit == 'm' ? 60000
                          : unit == 'h' ? 3600000
                          : unit == 'd' ? 86400000
                                        : 0;
    int64_t ago = 0;
    int64_t t = 0;
    if (scale != 0 && end == n.c_str() + n.size() && v >= 0 &&
        !__builtin_mul_overflow(v, scale, &ago) && !__builtin_sub_overflow(now_ms, ago, &t)) {
      return t;
    }
    return std::nullopt;
  }
  if (std::isdigit(static_cast<unsigned char>(s[0])) &&
      s.find_first_not_of("0123456789") == std::string_view::npos) {
    return std::strtoll(std::string(s).c_str(), nullptr, 10);
  }
  if (auto t = iso(s, 0)) {
    return t;
  }
  return std::nullopt;
}

}  // namespace

std::optional<int64_t> parseTimeArg(std::string_view s, int64_t now_ms) {
  return inTimeArgRange(parseTimeArgUnbounded(s, now_ms));
}

std::string formatUtc(int64_t unix_ms) {
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(unix_ms % 1000));
  return buf;
}

std::optional<int64_t> parseTimeArgJson(const nlohmann::json& v, int64_t now_ms) {
  if (v.is_number_integer()) {
    if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(kMaxTimeArgMs)) {
      return std::nullopt;
    }
    return inTimeArgRange(v.get<int64_t>());
  }
  if (v.is_string()) {
    return parseTimeArg(std::string_view(v.get_ref<const std::string&>()), now_ms);
  }
  return std::nullopt;
}

}  // namespace outpost::query
