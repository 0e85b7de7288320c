#include "collector/query/log_ring.h"

#include <algorithm>
#include <cstring>

#include "collector/query/timestamps.h"
#include "collector/sources/logs/status.h"

namespace outpost::query {

LogRing::LogRing(size_t max_bytes)
    : cap_(std::max<size_t>(max_bytes, kMaxLineBytes)), buf_(new char[cap_]) {}

void LogRing::add(const logs::LogMessage& m) {
  if (m.marker_only) {
    return;
  }
  const size_t cap = cap_;
  const size_t length = std::min(m.content.size(), kMaxLineBytes);
  // A line never wraps: when it would cross the end of the buffer it starts at the beginning.
  uint64_t at = head_;
  if (at % cap + length > cap) {
    at += cap - at % cap;
  }
  const uint64_t end = at + length;
  // What starts before end - cap is (partly) overwritten now; entries are in offset order.
  while (!entries_.empty() && entries_.front().offset < end - std::min<uint64_t>(end, cap)) {
    entries_.pop_front();
    ++overwritten_;
  }
  std::memcpy(buf_.get() + at % cap, m.content.data(), length);
  Entry e;
  e.offset = at;
  e.length = static_cast<uint32_t>(length);
  e.cut = length < m.content.size();
  e.timestamp_ms = m.timestamp_ms;
  e.status = m.status.empty() ? std::string_view() : logs::normalizeStatus(m.status);
  e.origin = m.origin;
  entries_.push_back(std::move(e));
  head_ = end;
  ++added_;
}

nlohmann::json LogRing::tail(const TailRequest& r) const {
  std::vector<const Entry*> found;
  for (auto it = entries_.rbegin(); it != entries_.rend() && found.size() < r.lines; ++it) {
    const Entry& e = *it;
    const logs::LogOrigin* o = e.origin.get();
    if (!r.service.empty() && (o == nullptr || o->service != r.service)) {
      continue;
    }
    if (!r.source.empty() && (o == nullptr || o->source != r.source)) {
      continue;
    }
    if (!r.path.empty() && (o == nullptr || o->path.find(r.path) == std::string::npos)) {
      continue;
    }
    const std::string_view line = text(e);
    if (!r.contains.empty() && line.find(r.contains) == std::string_view::npos) {
      continue;
    }
    if (!r.status.empty() && (e.status.empty() ? logs::detectStatus(line) : e.status) != r.status) {
      continue;
    }
    found.push_back(&e);
  }
  nlohmann::json lines = nlohmann::json::array();
  for (auto it = found.rbegin(); it != found.rend(); ++it) {
    const Entry& e = **it;
    const std::string_view line = text(e);
    nlohmann::json j = {
        {"timestamp", formatUtc(e.timestamp_ms)},
        {"status", e.status.empty() ? logs::detectStatus(line) : e.status},
        {"message", line},
    };
    if (e.origin) {
      j["service"] = e.origin->service;
      j["source"] = e.origin->source;
      if (!e.origin->path.empty()) {
        j["path"] = e.origin->path;
      }
    }
    if (e.cut) {
      j["truncated"] = true;
    }
    lines.push_back(std::move(j));
  }
  nlohmann::json out = {{"lines", std::move(lines)},
                        {"matched_all", found.size() < r.lines},
                        {"buffer", statusJson()}};
  if (!entries_.empty()) {
    out["oldest_kept"] = formatUtc(entries_.front().timestamp_ms);
  }
  return out;
}

nlohmann::json LogRing::statusJson() const {
  const uint64_t used = entries_.empty() ? 0 : head_ - entries_.front().offset;
  return {{"lines", entries_.size()},
          {"bytes", used},
          {"max_bytes", cap_},
          {"lines_added", added_},
          {"lines_overwritten", overwritten_}};
}

}  // namespace outpost::query
