#include "forwarder/encoders/logs_encoder.h"

#include <algorithm>
#include <array>
#include <cassert>
#include <charconv>
#include <cstring>

#include "collector/sources/logs/json_plain.h"
#include "collector/sources/logs/status.h"
#include "forwarder/encoders/json_writer.h"

namespace outpost {

namespace {

constexpr std::string_view kMessageKey = R"({"message":")";
constexpr std::string_view kStatusKey = R"(","status":)";
constexpr std::string_view kTimestampKey = R"(,"timestamp":)";

bool isKnownStatus(std::string_view s) {
  return s == "info" || s == "error" || s == "warning" || s == "debug" || s == "critical" ||
         s == "notice" || s == "alert" || s == "emergency";
}

// Length of the escaped-JSON token at s[i]: an escape sequence, a UTF-8 sequence or one byte.
size_t escapedTokenLength(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c == '\\') {
    return i + 1 < s.size() && s[i + 1] == 'u' ? 6 : 2;
  }
  if (c >= 0xF0) {
    return 4;
  }
  if (c >= 0xE0) {
    return 3;
  }
  if (c >= 0xC0) {
    return 2;
  }
  return 1;
}

}  // namespace

LogsPayloadEncoder::LogsPayloadEncoder(Options options)
    : options_(std::move(options)), hostname_json_(jsonString(options_.hostname)) {}

void LogsPayloadEncoder::begin() {
  if (!out_.empty()) {
    return;
  }
  const size_t want = std::max<size_t>(reserve_hint_ + reserve_hint_ / 4, 4096);
  out_.reserve(std::min(want, options_.max_content_size + 64));
  out_.push_back('[');
}

const std::string& LogsPayloadEncoder::entryTail(
    std::string_view status, int64_t timestamp_ms,
    const std::shared_ptr<const logs::LogOrigin>& origin) {
  // Consecutive lines of one file within a millisecond share all of it: one append per line.
  if (tail_valid_ && timestamp_ms == tail_timestamp_ms_ && status == tail_status_ && cache_valid_ &&
      origin.get() == cached_origin_.get()) {
    return tail_;
  }
  const std::string& suffix = originSuffix(origin);
  tail_.assign(kStatusKey);
  if (isKnownStatus(status)) {
    tail_.push_back('"');
    tail_.append(status);
    tail_.push_back('"');
  } else {
    appendJsonString(tail_, status);
  }
  tail_.append(kTimestampKey);
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof(digits), timestamp_ms);
  (void)ec;  // 24 chars always hold an int64
  tail_.append(digits, static_cast<size_t>(end - digits));
  tail_.append(suffix);
  tail_status_.assign(status);
  tail_timestamp_ms_ = timestamp_ms;
  tail_valid_ = true;
  return tail_;
}

const std::string& LogsPayloadEncoder::originSuffix(
    const std::shared_ptr<const logs::LogOrigin>& origin) {
  if (cache_valid_ && origin.get() == cached_origin_.get()) {
    return cached_suffix_;
  }
  static const logs::LogOrigin kNoOrigin;
  const logs::LogOrigin& o = origin ? *origin : kNoOrigin;
  cached_suffix_.clear();
  cached_suffix_.append(R"(,"hostname":)");
  cached_suffix_.append(hostname_json_);
  cached_suffix_.append(R"(,"service":)");
  appendJsonString(cached_suffix_, o.service);
  cached_suffix_.append(R"(,"ddsource":)");
  appendJsonString(cached_suffix_, o.source);
  cached_suffix_.append(R"(,"ddtags":)");
  appendJsonString(cached_suffix_, o.tags);
  cached_suffix_.push_back('}');
  cached_origin_ = origin;
  cache_valid_ = true;
  return cached_suffix_;
}

bool LogsPayloadEncoder::add(const logs::LogMessage& m) {
  if (entries_ >= options_.max_entries) {
    return false;
  }
  const std::string_view status =
      m.status.empty() ? logs::detectStatus(m.content) : std::string_view(m.status);
  const std::string& tail = entryTail(status, m.timestamp_ms, m.origin);
  const size_t max = options_.max_content_size;
  // A lower bound of the entry's size rejects most misses before escaping anything.
  if (entries_ > 0 &&
      out_.size() + 1 + kMessageKey.size() + m.content.size() + tail.size() + 1 > max) {
    return false;
  }
  begin();
  const size_t mark = out_.size();
  if (entries_ > 0) {
    out_.push_back(',');
  }
  out_.append(kMessageKey);
  const size_t content_start = out_.size();
  if (m.json_plain) {
    assert(logs::isJsonPlain(m.content));
    out_.append(m.content);
  } else {
    appendJsonStringBody(out_, m.content);
  }
  out_.append(tail);
  if (out_.size() + 1 > max) {
    if (entries_ > 0) {
      out_.resize(mark);
      return false;
    }
    cutToFit(content_start, tail.size());
  }
  ++entries_;
  last_timestamp_ms_ = m.timestamp_ms;
  return true;
}

// The only entry is too big: shortens its escaped content, never inside an escape sequence or
// a UTF-8 sequence, until the body fits (or the content is empty).
void LogsPayloadEncoder::cutToFit(size_t content_start, size_t tail_size) {
  const std::string tail = out_.substr(out_.size() - tail_size);
  const size_t content_end = out_.size() - tail_size;
  const size_t excess = out_.size() + 1 - options_.max_content_size;
  const size_t content_len = content_end - content_start;
  const size_t keep = content_len > excess ? content_len - excess : 0;
  const std::string_view content = std::string_view(out_).substr(content_start, content_len);
  size_t cut = 0;
  while (cut < content.size()) {
    const size_t len = escapedTokenLength(content, cut);
    if (cut + len > keep) {
      break;
    }
    cut += len;
  }
  out_.resize(content_start + cut);
  out_.append(tail);
  ++cut_messages_;
}

Payload LogsPayloadEncoder::take() {
  Payload p;
  p.intake = IntakeKind::kLogs;
  p.route = "/api/v2/logs";
  p.content_type = "application/json";
  p.spoolable = false;
  if (entries_ == 0) {
    p.body = "[]";
  } else {
    out_.push_back(']');
    reserve_hint_ = out_.size();
    p.body = std::move(out_);
  }
  p.headers.emplace_back("dd-message-timestamp", std::to_string(last_timestamp_ms_));
  out_ = std::string();
  entries_ = 0;
  return p;
}

}  // namespace outpost
