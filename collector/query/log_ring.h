#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "collector/sources/logs/log_message.h"

// The recent logs the query socket answers /v1/logs/tail from (issue 8): every message the logs
// pipeline processed (after the processing rules, forwarded or not), its bytes in one ring of
// `max_bytes` and a header per message; the oldest are overwritten. Lines longer than
// kMaxLineBytes keep their first kMaxLineBytes. No allocation per message once the header
// queue has grown. Loop thread only (the pipeline writes it, the query service reads it there).
namespace outpost::query {

struct TailRequest {
  std::string service;
  std::string source;
  std::string path;      // a substring of the file path
  std::string status;    // "error", "warning", ... (a message's detected status)
  std::string contains;  // a substring of the line
  size_t lines = 50;
};

class LogRing {
 public:
  static constexpr size_t kMaxLineBytes = 16 * 1024;

  explicit LogRing(size_t max_bytes);

  void add(const logs::LogMessage& m);

  // {"lines": [{"timestamp", "service", "source", "path", "status", "message", "truncated"}...]
  // oldest first, the newest `lines` that match; "matched_all" (fewer matched than asked),
  // "oldest_kept" (the time of the oldest line still in the ring), "buffer": {bytes, lines}}.
  nlohmann::json tail(const TailRequest& r) const;
  nlohmann::json statusJson() const;

 private:
  struct Entry {
    uint64_t offset = 0;  // virtual: grows forever
    uint64_t pos = 0;     // where its bytes are in buf_
    uint32_t length = 0;
    bool cut = false;
    int64_t timestamp_ms = 0;
    std::string_view status;  // a static string, or empty: detected when asked
    uint32_t origin = 0;      // into origins_
  };
  // The origins the kept lines came from, held once each rather than by a shared_ptr per line
  // (whose atomic count changes were the ring's main cost at a million lines a second). A slot
  // is given back once no kept line is newer than its last one.
  struct OriginSlot {
    std::shared_ptr<const logs::LogOrigin> ptr;
    uint64_t last_offset = 0;  // the newest line's virtual offset
    bool used = false;
  };
  const logs::LogOrigin* origin(const Entry& e) const { return origins_[e.origin].ptr.get(); }
  uint32_t originId(const std::shared_ptr<const logs::LogOrigin>& o, uint64_t at);
  std::string_view text(const Entry& e) const { return {buf_.get() + e.pos, e.length}; }
  // The i-th entry kept, oldest first.
  const Entry& entry(size_t i) const { return ents_[(first_ + i) & (ents_.size() - 1)]; }
  void popOldest();

  size_t cap_;
  std::unique_ptr<char[]> buf_;  // not initialised: pages are touched as lines arrive
  // The headers: a circular array (power-of-two size, doubled as needed up to max_entries_),
  // count_ of them from first_. A header costs ~64 bytes however short its line, so their
  // number is bounded too (a flood of empty lines must not grow it without end).
  std::vector<Entry> ents_;
  size_t first_ = 0;
  size_t count_ = 0;
  size_t max_entries_;
  uint64_t head_ = 0;  // virtual offset of the next byte
  uint64_t pos_ = 0;   // head_'s place in buf_ (head_ % cap_, kept without dividing)
  uint64_t added_ = 0;
  uint64_t overwritten_ = 0;
  std::vector<OriginSlot> origins_;
  std::unordered_map<const logs::LogOrigin*, uint32_t> origin_ids_;
  std::vector<uint32_t> free_origins_;
  const logs::LogOrigin* last_origin_ = nullptr;
  uint32_t last_origin_id_ = 0;
  bool have_last_origin_ = false;
  size_t next_origin_sweep_ = 64;
};

}  // namespace outpost::query
