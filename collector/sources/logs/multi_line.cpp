#include "collector/sources/logs/multi_line.h"

#include <re2/re2.h>

#include <algorithm>
#include <array>

namespace outpost::logs {
namespace {

bool digits(std::string_view s, size_t pos, size_t n) {
  if (s.size() < pos + n) {
    return false;
  }
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
  }
  return true;
}

bool charAt(std::string_view s, size_t pos, char c) {
  return pos < s.size() && s[pos] == c;
}

bool oneOf(std::string_view s, size_t pos, const std::array<std::string_view, 12>& words) {
  if (s.size() < pos + 3) {
    return false;
  }
  const std::string_view w = s.substr(pos, 3);
  for (std::string_view m : words) {
    if (!m.empty() && w == m) {
      return true;
    }
  }
  return false;
}

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
constexpr std::array<std::string_view, 12> kDays = {"Mon", "Tue", "Wed", "Thu",
                                                    "Fri", "Sat", "Sun"};

// HH:MM:SS at pos.
bool clock(std::string_view s, size_t pos) {
  return digits(s, pos, 2) && charAt(s, pos + 2, ':') && digits(s, pos + 3, 2) &&
         charAt(s, pos + 5, ':') && digits(s, pos + 6, 2);
}

// "Jan  2 15:04:05" / "Jan 02 15:04:05" at pos.
bool syslogDate(std::string_view s, size_t pos) {
  if (!oneOf(s, pos, kMonths) || !charAt(s, pos + 3, ' ')) {
    return false;
  }
  size_t i = pos + 4;
  if (charAt(s, i, ' ') && digits(s, i + 1, 1)) {
    i += 2;
  } else if (digits(s, i, 2)) {
    i += 2;
  } else if (digits(s, i, 1)) {
    i += 1;
  } else {
    return false;
  }
  return charAt(s, i, ' ') && clock(s, i + 1);
}

bool timestampAt(std::string_view s, size_t i) {
  // 2006-01-02T15:04 / 2006-01-02 15:04 (ISO 8601, RFC 3339)
  if (digits(s, i, 4) && charAt(s, i + 4, '-') && digits(s, i + 5, 2) && charAt(s, i + 7, '-') &&
      digits(s, i + 8, 2) && (charAt(s, i + 10, 'T') || charAt(s, i + 10, ' ')) &&
      digits(s, i + 11, 2)) {
    return true;
  }
  // 2006/01/02 15:04:05
  if (digits(s, i, 4) && charAt(s, i + 4, '/') && digits(s, i + 5, 2) && charAt(s, i + 7, '/') &&
      digits(s, i + 8, 2) && (charAt(s, i + 10, ' ') || charAt(s, i + 10, 'T'))) {
    return true;
  }
  // 02/Jan/2006:15:04:05 (common log format) and 02-Jan-2006 15:04:05
  if (digits(s, i, 2) && (charAt(s, i + 2, '/') || charAt(s, i + 2, '-')) &&
      oneOf(s, i + 3, kMonths) && charAt(s, i + 6, s[i + 2]) && digits(s, i + 7, 4) &&
      (charAt(s, i + 11, ':') || charAt(s, i + 11, ' ')) && digits(s, i + 12, 2)) {
    return true;
  }
  if (syslogDate(s, i) || clock(s, i)) {
    return true;
  }
  // glog: I0102 15:04:05.000000
  if (i < s.size() && (s[i] == 'I' || s[i] == 'W' || s[i] == 'E' || s[i] == 'F') &&
      digits(s, i + 1, 4) && charAt(s, i + 5, ' ') && clock(s, i + 6)) {
    return true;
  }
  // Mon Jan  2 15:04:05 (ANSI C) and Mon, 02 Jan 2006 15:04:05 (RFC 1123)
  if (oneOf(s, i, kDays)) {
    size_t j = i + 3;
    if (charAt(s, j, ',')) {
      ++j;
    }
    if (!charAt(s, j, ' ')) {
      return false;
    }
    ++j;
    if (syslogDate(s, j)) {
      return true;
    }
    return digits(s, j, 2) && charAt(s, j + 2, ' ') && oneOf(s, j + 3, kMonths) &&
           charAt(s, j + 6, ' ') && digits(s, j + 7, 4);
  }
  return false;
}

bool looksLikeContinuation(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  const char c = s[0];
  return c == ' ' || c == '\t' || c == '}' || c == ']' || s.starts_with("at ") ||
         s.starts_with("Caused by") || s.starts_with("...");
}

}  // namespace

bool startsWithTimestamp(std::string_view s) {
  size_t i = 0;
  // RFC 5424: "<165>1 2003-10-11T22:14:15.003Z ..."; RFC 3164: "<34>Oct 11 22:14:15 ..."
  if (charAt(s, 0, '<')) {
    size_t j = 1;
    while (j < s.size() && j <= 4 && s[j] >= '0' && s[j] <= '9') {
      ++j;
    }
    if (j == 1 || !charAt(s, j, '>')) {
      return false;
    }
    i = j + 1;
    if (digits(s, i, 1) && charAt(s, i + 1, ' ')) {
      i += 2;
    }
  } else if (charAt(s, 0, '[')) {
    i = 1;
  }
  return timestampAt(s, i);
}

MultiLineAggregator::MultiLineAggregator(Options o) : options_(std::move(o)) {
  options_.max_message_size = std::max<size_t>(options_.max_message_size, 1);
  if (!options_.pattern.empty()) {
    RE2::Options ro;
    ro.set_log_errors(false);
    auto re = std::make_unique<RE2>(options_.pattern, ro);
    if (re->ok()) {
      re_ = std::move(re);
    } else {
      error_ = re->error();
    }
  }
}

MultiLineAggregator::~MultiLineAggregator() = default;
MultiLineAggregator::MultiLineAggregator(MultiLineAggregator&&) noexcept = default;
MultiLineAggregator& MultiLineAggregator::operator=(MultiLineAggregator&&) noexcept = default;

MultiLineAggregator::Kind MultiLineAggregator::classify(std::string_view content) const {
  if (re_) {
    return re_->Match(content, 0, content.size(), RE2::ANCHOR_START, nullptr, 0)
               ? Kind::kStart
               : Kind::kContinuation;
  }
  if (!content.empty() && content[0] == '{') {
    return Kind::kAlone;
  }
  if (startsWithTimestamp(content)) {
    return Kind::kStart;
  }
  return looksLikeContinuation(content) ? Kind::kContinuation : Kind::kOther;
}

void MultiLineAggregator::pushTo(const DecodedLine& line, int64_t now_ms, Sink emit) {
  last_push_ms_ = now_ms;
  if (line.truncated || !aggregates()) {
    flushTo(emit);
    emit(Message{std::string(line.content), line.end_offset, line.truncated});
    return;
  }
  switch (classify(line.content)) {
    case Kind::kAlone:
      flushTo(emit);
      emit(Message{std::string(line.content), line.end_offset, false});
      return;
    case Kind::kStart:
      flushTo(emit);
      start(line.content, line, true, emit);
      return;
    case Kind::kContinuation:
      if (pending_) {
        append(line.content, true, line, emit);
      } else {
        start(line.content, line, false, emit);
      }
      return;
    case Kind::kOther:
      if (pending_ && grouped_) {
        append(line.content, true, line, emit);
      } else {
        flushTo(emit);
        start(line.content, line, false, emit);
      }
      return;
  }
}

void MultiLineAggregator::start(std::string_view content, const DecodedLine& line, bool grouped,
                                Sink& emit) {
  buffer_.clear();
  marker_len_ = 0;
  truncated_ = false;
  pending_ = true;
  grouped_ = grouped;
  append(content, false, line, emit);
}

void MultiLineAggregator::append(std::string_view piece, bool separator, const DecodedLine& line,
                                 Sink& emit) {
  end_offset_ = line.end_offset;
  const size_t max = options_.max_message_size;
  while (true) {
    const size_t used = buffer_.size() - marker_len_;
    if (used + (separator ? 1 : 0) + piece.size() <= max) {
      if (separator) {
        buffer_.push_back('\n');
      }
      buffer_.append(piece);
      return;
    }
    // Too long: fill this message up to the max, cut it, and go on in a new one.
    size_t room = max - used;
    if (separator && room > 0) {
      buffer_.push_back('\n');
      --room;
    }
    separator = false;
    const size_t cut = utf8CutLength(piece, room);
    buffer_.append(piece.substr(0, cut));
    piece.remove_prefix(cut);
    buffer_.append(kTruncatedMarker);
    emit(Message{std::move(buffer_), end_offset_, true});
    buffer_.assign(kTruncatedMarker);
    marker_len_ = kTruncatedMarker.size();
    truncated_ = true;
  }
}

void MultiLineAggregator::flushTo(Sink emit) {
  if (!pending_) {
    return;
  }
  pending_ = false;
  grouped_ = false;
  emit(Message{std::move(buffer_), end_offset_, truncated_});
  buffer_.clear();
  marker_len_ = 0;
  truncated_ = false;
}

}  // namespace outpost::logs
