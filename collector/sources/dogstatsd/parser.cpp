#include "collector/sources/dogstatsd/parser.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace outpost::dogstatsd {

namespace {

constexpr size_t kNpos = std::string_view::npos;
// Up to this many tags, duplicates are removed in place keeping the order; above it, by sorting.
constexpr size_t kLinearDedupLimit = 32;

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// Go's strconv.ParseFloat accepts a leading '+'; std::from_chars does not.
std::string_view stripPlus(std::string_view s) {
  if (s.size() >= 2 && s[0] == '+' && s[1] != '-' && s[1] != '+') {
    s.remove_prefix(1);
  }
  return s;
}

// A finite float64 spelled in decimal or exponent form, nothing else.
bool parseDouble(std::string_view s, double& out) {
  s = stripPlus(s);
  if (s.empty()) {
    return false;
  }
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out, std::chars_format::general);
  return ec == std::errc() && ptr == end && std::isfinite(out);
}

bool parseInt64(std::string_view s, int64_t& out) {
  s = stripPlus(s);
  if (s.empty()) {
    return false;
  }
  const char* end = s.data() + s.size();
  auto [ptr, ec] = std::from_chars(s.data(), end, out, 10);
  return ec == std::errc() && ptr == end;
}

// Splits off the next '|'-separated field. `rest` becomes empty after the last one.
std::string_view nextField(std::string_view& rest) {
  size_t bar = rest.find('|');
  std::string_view field = rest.substr(0, bar);
  rest = bar == kNpos ? std::string_view() : rest.substr(bar + 1);
  return field;
}

// Appends `s` to `out` with "\\n" turned into a newline and, if `unescape_m`, "m\\:" into "m:".
void appendUnescaped(std::string_view s, bool unescape_m, std::string& out) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == 'n') {
      out.push_back('\n');
      ++i;
    } else if (unescape_m && s[i] == 'm' && i + 2 < s.size() && s[i + 1] == '\\' &&
               s[i + 2] == ':') {
      out.append("m:");
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
}

bool needsUnescape(std::string_view s, bool unescape_m) {
  return s.find("\\n") != kNpos || (unescape_m && s.find("m\\:") != kNpos);
}

}  // namespace

std::string_view metricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "c";
    case MetricType::kGauge:
      return "g";
    case MetricType::kHistogram:
      return "h";
    case MetricType::kTiming:
      return "ms";
    case MetricType::kDistribution:
      return "d";
    case MetricType::kSet:
      return "s";
  }
  return "?";
}

std::string_view parseErrorName(ParseError error) {
  switch (error) {
    case ParseError::kNoType:
      return "no_type";
    case ParseError::kNoValue:
      return "no_value";
    case ParseError::kEmptyName:
      return "empty_name";
    case ParseError::kUnknownType:
      return "unknown_type";
    case ParseError::kBadValue:
      return "bad_value";
    case ParseError::kSetMultiValue:
      return "set_multi_value";
    case ParseError::kBadSampleRate:
      return "bad_sample_rate";
    case ParseError::kBadTimestamp:
      return "bad_timestamp";
    case ParseError::kEventTooShort:
      return "event_too_short";
    case ParseError::kEventHeader:
      return "event_header";
    case ParseError::kEventTitleLength:
      return "event_title_length";
    case ParseError::kEventTextLength:
      return "event_text_length";
    case ParseError::kServiceCheckTooShort:
      return "service_check_too_short";
    case ParseError::kServiceCheckEmptyName:
      return "service_check_empty_name";
    case ParseError::kServiceCheckBadStatus:
      return "service_check_bad_status";
    case ParseError::kMissingEol:
      return "missing_eol";
    case ParseError::kCount:
      break;
  }
  return "unknown";
}

Parser::Parser(ParserOptions options) : options_(options) {
  tags_.reserve(64);
  values_.reserve(64);
  scratch_.reserve(1024);
}

uint64_t Parser::errors() const {
  uint64_t total = 0;
  for (uint64_t n : error_counts_) {
    total += n;
  }
  return total;
}

size_t Parser::parse(std::string_view datagram, Handler& handler) {
  size_t accepted = 0;
  size_t pos = 0;
  while (pos < datagram.size()) {
    size_t newline = datagram.find('\n', pos);
    bool terminated = newline != kNpos;
    if (!terminated) {
      newline = datagram.size();
    }
    std::string_view line = datagram.substr(pos, newline - pos);
    pos = newline + 1;
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    if (line.empty()) {
      continue;
    }
    if (!terminated && options_.eol_required) {
      reject(ParseError::kMissingEol, line, handler);
      break;
    }
    if (parseLine(line, handler)) {
      ++accepted;
    }
  }
  return accepted;
}

bool Parser::parseLine(std::string_view line, Handler& handler) {
  if (startsWith(line, "_e{")) {
    return parseEvent(line, handler);
  }
  if (startsWith(line, "_sc")) {
    return parseServiceCheck(line, handler);
  }
  return parseMetric(line, handler);
}

bool Parser::reject(ParseError error, std::string_view line, Handler& handler) {
  ++error_counts_[static_cast<size_t>(error)];
  handler.onError(error, line);
  return false;
}

void Parser::applyTags(std::string_view raw, Metadata& meta) {
  tags_.clear();
  size_t start = 0;
  while (start <= raw.size()) {
    size_t comma = raw.find(',', start);
    if (comma == kNpos) {
      comma = raw.size();
    }
    std::string_view tag = raw.substr(start, comma - start);
    start = comma + 1;
    if (tag.empty()) {
      continue;
    }
    if (startsWith(tag, "host:")) {
      meta.host = tag.substr(5);
      meta.has_host = true;
      continue;
    }
    if (startsWith(tag, "dd.internal.")) {
      std::string_view key = tag.substr(12);
      if (startsWith(key, "entity_id:")) {
        meta.entity_id = key.substr(10);
        continue;
      }
      if (startsWith(key, "card:")) {
        if (meta.cardinality.empty()) {
          meta.cardinality = key.substr(5);
        }
        continue;
      }
      if (startsWith(key, "jmx_check_name:")) {
        meta.jmx_check_name = key.substr(15);
        continue;
      }
    }
    tags_.push_back(tag);
  }
  if (tags_.size() <= kLinearDedupLimit) {
    size_t kept = 0;
    for (size_t i = 0; i < tags_.size(); ++i) {
      bool seen = false;
      for (size_t j = 0; j < kept; ++j) {
        if (tags_[j] == tags_[i]) {
          seen = true;
          break;
        }
      }
      if (!seen) {
        tags_[kept++] = tags_[i];
      }
    }
    tags_.resize(kept);
  } else {
    std::sort(tags_.begin(), tags_.end());
    tags_.erase(std::unique(tags_.begin(), tags_.end()), tags_.end());
  }
  meta.tags = std::span<const std::string_view>(tags_.data(), tags_.size());
}

void Parser::applyLocalData(std::string_view raw, Metadata& meta) {
  meta.local_data = raw;
  size_t start = 0;
  while (start <= raw.size()) {
    size_t comma = raw.find(',', start);
    if (comma == kNpos) {
      comma = raw.size();
    }
    std::string_view item = raw.substr(start, comma - start);
    start = comma + 1;
    if (startsWith(item, "ci-")) {
      meta.container_id = item.substr(3);
    } else if (startsWith(item, "cid-")) {
      meta.container_id = item.substr(4);
    } else if (startsWith(item, "in-")) {
      meta.cgroup_inode = item.substr(3);
    } else if (!item.empty() && meta.container_id.empty()) {
      meta.container_id = item;  // older clients: a bare container ID
    }
  }
}

bool Parser::parseMetric(std::string_view line, Handler& handler) {
  std::string_view rest = line;
  if (rest.find('|') == kNpos) {
    return reject(ParseError::kNoType, line, handler);
  }
  std::string_view name_values = nextField(rest);
  size_t colon = name_values.find(':');
  if (colon == kNpos) {
    return reject(ParseError::kNoValue, line, handler);
  }
  Sample sample;
  sample.name = name_values.substr(0, colon);
  std::string_view raw_values = name_values.substr(colon + 1);
  if (sample.name.empty()) {
    return reject(ParseError::kEmptyName, line, handler);
  }
  if (raw_values.empty()) {
    return reject(ParseError::kNoValue, line, handler);
  }

  std::string_view type = nextField(rest);
  if (type == "c") {
    sample.type = MetricType::kCounter;
  } else if (type == "g") {
    sample.type = MetricType::kGauge;
  } else if (type == "h") {
    sample.type = MetricType::kHistogram;
  } else if (type == "d") {
    sample.type = MetricType::kDistribution;
  } else if (type == "ms") {
    sample.type = MetricType::kTiming;
  } else if (type == "s") {
    sample.type = MetricType::kSet;
  } else {
    return reject(ParseError::kUnknownType, line, handler);
  }

  // Values: a set keeps its raw string; a single value avoids the list.
  bool multi = raw_values.find(':') != kNpos;
  if (sample.type == MetricType::kSet) {
    if (multi) {
      return reject(ParseError::kSetMultiValue, line, handler);
    }
    sample.set_value = raw_values;
  } else if (!multi) {
    if (!parseDouble(raw_values, sample.value)) {
      return reject(ParseError::kBadValue, line, handler);
    }
  } else {
    values_.clear();
    std::string_view values = raw_values;
    while (!values.empty()) {
      size_t sep = values.find(':');
      std::string_view raw = values.substr(0, sep);
      values = sep == kNpos ? std::string_view() : values.substr(sep + 1);
      if (raw.empty()) {
        continue;
      }
      double value = 0;
      if (!parseDouble(raw, value)) {
        return reject(ParseError::kBadValue, line, handler);
      }
      values_.push_back(value);
    }
    if (values_.empty()) {
      return reject(ParseError::kNoValue, line, handler);
    }
  }

  std::string_view raw_tags;
  while (!rest.empty()) {
    std::string_view field = nextField(rest);
    if (field.empty()) {
      continue;
    }
    switch (field[0]) {
      case '#':
        raw_tags = field.substr(1);
        break;
      case '@':
        if (!parseDouble(field.substr(1), sample.sample_rate) || sample.sample_rate <= 0 ||
            sample.sample_rate > 1) {
          return reject(ParseError::kBadSampleRate, line, handler);
        }
        break;
      case 'T':
        if (!parseInt64(field.substr(1), sample.timestamp) || sample.timestamp < 1) {
          return reject(ParseError::kBadTimestamp, line, handler);
        }
        break;
      case 'c':
        if (startsWith(field, "c:")) {
          applyLocalData(field.substr(2), sample);
        } else if (startsWith(field, "card:")) {
          sample.cardinality = field.substr(5);
        }
        break;
      case 'e':
        if (startsWith(field, "e:")) {
          sample.external_data = field.substr(2);
        }
        break;
      default:
        break;  // unknown fields are ignored
    }
  }
  applyTags(raw_tags, sample);

  ++metric_messages_;
  if (sample.type == MetricType::kSet || !multi) {
    ++samples_;
    handler.onSample(sample);
  } else {
    for (double value : values_) {
      sample.value = value;
      ++samples_;
      handler.onSample(sample);
    }
  }
  return true;
}

bool Parser::parseEvent(std::string_view line, Handler& handler) {
  if (line.size() < 7) {
    return reject(ParseError::kEventTooShort, line, handler);
  }
  size_t colon = line.find(':');
  if (colon == kNpos) {
    return reject(ParseError::kEventHeader, line, handler);
  }
  std::string_view sizes = line.substr(3, colon - 3);  // "N,M}"
  if (sizes.empty() || sizes.back() != '}') {
    return reject(ParseError::kEventHeader, line, handler);
  }
  sizes.remove_suffix(1);
  size_t comma = sizes.find(',');
  int64_t title_len = 0;
  int64_t text_len = 0;
  if (comma == kNpos || !parseInt64(sizes.substr(0, comma), title_len) ||
      !parseInt64(sizes.substr(comma + 1), text_len) || title_len < 0 || text_len < 0) {
    return reject(ParseError::kEventHeader, line, handler);
  }
  std::string_view body = line.substr(colon + 1);
  if (title_len == 0 || static_cast<uint64_t>(title_len) >= body.size() ||
      body[static_cast<size_t>(title_len)] != '|') {
    return reject(ParseError::kEventTitleLength, line, handler);
  }
  Event event;
  std::string_view title = body.substr(0, static_cast<size_t>(title_len));
  body.remove_prefix(static_cast<size_t>(title_len) + 1);
  if (static_cast<uint64_t>(text_len) > body.size()) {
    return reject(ParseError::kEventTextLength, line, handler);
  }
  std::string_view text = body.substr(0, static_cast<size_t>(text_len));
  std::string_view rest = body.substr(static_cast<size_t>(text_len));
  if (!rest.empty()) {
    if (rest[0] != '|') {
      return reject(ParseError::kEventTextLength, line, handler);
    }
    rest.remove_prefix(1);
  }

  std::string_view raw_tags;
  std::string_view h_field;
  while (!rest.empty()) {
    std::string_view field = nextField(rest);
    if (field.empty()) {
      continue;
    }
    if (field[0] == '#') {
      raw_tags = field.substr(1);
    } else if (startsWith(field, "d:")) {
      if (!parseInt64(field.substr(2), event.timestamp)) {
        event.timestamp = 0;  // invalid optional values are ignored
      }
    } else if (startsWith(field, "h:")) {
      h_field = field.substr(2);
    } else if (startsWith(field, "k:")) {
      event.aggregation_key = field.substr(2);
    } else if (startsWith(field, "p:")) {
      std::string_view p = field.substr(2);
      if (p == "normal") {
        event.priority = EventPriority::kNormal;
      } else if (p == "low") {
        event.priority = EventPriority::kLow;
      }
    } else if (startsWith(field, "s:")) {
      event.source_type_name = field.substr(2);
    } else if (startsWith(field, "t:")) {
      std::string_view t = field.substr(2);
      if (t == "error") {
        event.alert_type = AlertType::kError;
      } else if (t == "warning") {
        event.alert_type = AlertType::kWarning;
      } else if (t == "info") {
        event.alert_type = AlertType::kInfo;
      } else if (t == "success") {
        event.alert_type = AlertType::kSuccess;
      }
    } else if (startsWith(field, "c:")) {
      applyLocalData(field.substr(2), event);
    } else if (startsWith(field, "e:")) {
      event.external_data = field.substr(2);
    } else if (startsWith(field, "card:")) {
      event.cardinality = field.substr(5);
    }
  }
  applyTags(raw_tags, event);
  if (!h_field.empty()) {
    event.host = h_field;
    event.has_host = true;
  }

  bool title_escaped = needsUnescape(title, false);
  bool text_escaped = needsUnescape(text, false);
  if (title_escaped || text_escaped) {
    scratch_.clear();
    scratch_.reserve(title.size() + text.size());  // no reallocation below: views stay valid
    if (title_escaped) {
      appendUnescaped(title, false, scratch_);
      title = std::string_view(scratch_.data(), scratch_.size());
    }
    if (text_escaped) {
      size_t start = scratch_.size();
      appendUnescaped(text, false, scratch_);
      text = std::string_view(scratch_.data() + start, scratch_.size() - start);
    }
  }
  event.title = title;
  event.text = text;

  ++events_;
  handler.onEvent(event);
  return true;
}

bool Parser::parseServiceCheck(std::string_view line, Handler& handler) {
  if (line.size() < 4 || line[3] != '|') {
    return reject(ParseError::kServiceCheckTooShort, line, handler);
  }
  std::string_view rest = line.substr(4);
  if (rest.find('|') == kNpos) {
    return reject(ParseError::kServiceCheckTooShort, line, handler);
  }
  ServiceCheck check;
  check.name = nextField(rest);
  if (check.name.empty()) {
    return reject(ParseError::kServiceCheckEmptyName, line, handler);
  }
  int64_t status = -1;
  if (!parseInt64(nextField(rest), status) || status < 0 || status > 3) {
    return reject(ParseError::kServiceCheckBadStatus, line, handler);
  }
  check.status = static_cast<uint8_t>(status);

  std::string_view raw_tags;
  std::string_view h_field;
  while (!rest.empty()) {
    std::string_view field = nextField(rest);
    if (field.empty()) {
      continue;
    }
    if (field[0] == '#') {
      raw_tags = field.substr(1);
    } else if (startsWith(field, "d:")) {
      if (!parseInt64(field.substr(2), check.timestamp)) {
        check.timestamp = 0;
      }
    } else if (startsWith(field, "h:")) {
      h_field = field.substr(2);
    } else if (startsWith(field, "m:")) {
      check.message = field.substr(2);
    } else if (startsWith(field, "c:")) {
      applyLocalData(field.substr(2), check);
    } else if (startsWith(field, "e:")) {
      check.external_data = field.substr(2);
    } else if (startsWith(field, "card:")) {
      check.cardinality = field.substr(5);
    }
  }
  applyTags(raw_tags, check);
  if (!h_field.empty()) {
    check.host = h_field;
    check.has_host = true;
  }
  if (needsUnescape(check.message, true)) {
    scratch_.clear();
    appendUnescaped(check.message, true, scratch_);
    check.message = scratch_;
  }

  ++service_checks_;
  handler.onServiceCheck(check);
  return true;
}

}  // namespace outpost::dogstatsd
