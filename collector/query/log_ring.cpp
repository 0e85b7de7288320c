#include "collector/query/log_ring.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "collector/query/timestamps.h"
#include "collector/sources/logs/status.h"

namespace outpost::query {

LogRing::LogRing(size_t max_bytes)
    : cap_(std::max<size_t>(max_bytes, kMaxLineBytes)),
      buf_(new char[cap_]),
      max_entries_(std::bit_ceil(std::max<size_t>(1024, cap_ / 32))) {}

uint32_t LogRing::originId(const std::shared_ptr<const logs::LogOrigin>& o, uint64_t at) {
  if (have_last_origin_ && o.get() == last_origin_) {
    origins_[last_origin_id_].last_offset = at;
    return last_origin_id_;
  }
  uint32_t id;
  if (const auto it = origin_ids_.find(o.get()); it != origin_ids_.end()) {
    id = it->second;
  } else {
    if (free_origins_.empty() && origins_.size() >= next_origin_sweep_) {
      // Give back the slots no kept line refers to (they are all older than the oldest line).
      const uint64_t oldest = count_ > 0 ? entry(0).offset : head_;
      for (uint32_t i = 0; i < origins_.size(); ++i) {
        OriginSlot& slot = origins_[i];
        if (slot.used && slot.last_offset < oldest) {
          origin_ids_.erase(slot.ptr.get());
          slot.ptr.reset();
          slot.used = false;
          free_origins_.push_back(i);
        }
      }
      next_origin_sweep_ = std::max<size_t>(64, 2 * (origins_.size() - free_origins_.size()));
      have_last_origin_ = false;  // it may have been given back
    }
    if (free_origins_.empty()) {
      id = static_cast<uint32_t>(origins_.size());
      origins_.emplace_back();
    } else {
      id = free_origins_.back();
      free_origins_.pop_back();
    }
    origins_[id].ptr = o;
    origins_[id].used = true;
    origin_ids_.emplace(o.get(), id);
  }
  origins_[id].last_offset = at;
  last_origin_ = o.get();
  last_origin_id_ = id;
  have_last_origin_ = true;
  return id;
}

void LogRing::popOldest() {
  first_ = (first_ + 1) & (ents_.size() - 1);
  --count_;
  ++overwritten_;
}

void LogRing::add(const logs::LogMessage& m) {
  if (m.marker_only) {
    return;
  }
  const size_t cap = cap_;
  const size_t length = std::min(m.content.size(), kMaxLineBytes);
  // A line never wraps: when it would cross the end of the buffer it starts at the beginning.
  uint64_t at = head_;
  uint64_t pos = pos_;
  if (pos + length > cap) {
    at += cap - pos;
    pos = 0;
  }
  const uint64_t end = at + length;
  // What starts before end - cap is (partly) overwritten now; entries are in offset order.
  const uint64_t keep_from = end - std::min<uint64_t>(end, cap);
  while (count_ > 0 && ents_[first_].offset < keep_from) {
    popOldest();
  }
  if (count_ == ents_.size()) {
    if (ents_.size() < max_entries_) {
      // Double, unrolling the circle so that the oldest is first again.
      std::vector<Entry> grown(std::max<size_t>(64, ents_.size() * 2));
      for (size_t i = 0; i < count_; ++i) {
        grown[i] = std::move(ents_[(first_ + i) & (ents_.size() - 1)]);
      }
      ents_ = std::move(grown);
      first_ = 0;
    } else {
      popOldest();
    }
  }
  std::memcpy(buf_.get() + pos, m.content.data(), length);
  Entry& e = ents_[(first_ + count_) & (ents_.size() - 1)];
  ++count_;
  e.offset = at;
  e.pos = pos;
  e.length = static_cast<uint32_t>(length);
  e.cut = length < m.content.size();
  e.timestamp_ms = m.timestamp_ms;
  e.status = m.status.empty() ? std::string_view() : logs::normalizeStatus(m.status);
  e.origin = originId(m.origin, at);
  head_ = end;
  pos_ = pos + length;
  ++added_;
}

nlohmann::json LogRing::tail(const TailRequest& r) const {
  std::vector<const Entry*> found;
  for (size_t i = count_; i-- > 0 && found.size() < r.lines;) {
    const Entry& e = entry(i);
    const logs::LogOrigin* o = origin(e);
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
    if (const logs::LogOrigin* o = origin(e)) {
      j["service"] = o->service;
      j["source"] = o->source;
      if (!o->path.empty()) {
        j["path"] = o->path;
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
  if (count_ > 0) {
    out["oldest_kept"] = formatUtc(entry(0).timestamp_ms);
  }
  return out;
}

nlohmann::json LogRing::statusJson() const {
  const uint64_t used = count_ == 0 ? 0 : head_ - entry(0).offset;
  return {{"lines", count_},
          {"bytes", used},
          {"max_bytes", cap_},
          {"lines_added", added_},
          {"lines_overwritten", overwritten_}};
}

}  // namespace outpost::query
