#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
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
    uint64_t offset = 0;  // virtual: grows forever; the byte is buf_[offset % buf_.size()]
    uint32_t length = 0;
    bool cut = false;
    int64_t timestamp_ms = 0;
    std::string_view status;  // a static string, or empty: detected when asked
    std::shared_ptr<const logs::LogOrigin> origin;
  };
  std::string_view text(const Entry& e) const { return {buf_.get() + e.offset % cap_, e.length}; }

  size_t cap_;
  std::unique_ptr<char[]> buf_;  // not initialised: pages are touched as lines arrive
  std::deque<Entry> entries_;
  uint64_t head_ = 0;  // virtual offset of the next byte
  uint64_t added_ = 0;
  uint64_t overwritten_ = 0;
};

}  // namespace outpost::query
