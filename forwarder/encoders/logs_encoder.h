#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "collector/sources/logs/log_message.h"
#include "forwarder/encoders/json_writer.h"  // appendJsonStringBody
#include "forwarder/forwarder.h"

// Logs → POST /api/v2/logs (wire-formats.md §3.2–3.5), Content-Type application/json. The body
// is one JSON array of log objects, no newlines, fields in this order:
//   [{"message":"..","status":"info","timestamp":<int64 ms>,"hostname":"..","service":"..",
//     "ddsource":"..","ddtags":"a:b,c:d"},...]
// Invalid UTF-8 in any string is replaced with U+FFFD (as appendJsonString does).
//
// Intake limits (§3.4, public docs), per request:
//   - 1000 entries                        (batch_max_size; more is answered 413)
//   - 5,000,000 bytes uncompressed         (batch_max_content_size; also the largest event)
//   - 1 MB per log (the intake truncates larger ones itself and still answers 2xx)
//   - timestamps up to 18 h in the past
// The encoder keeps both request limits (Options); a single message larger than the content
// limit is cut to fit rather than dropped. Logs payloads are never spooled (spoolable = false):
// a failing intake pushes back on the tailers instead, which re-read from the registry.
//
// Headers: the encoder adds dd-message-timestamp (the last message's ms). The forwarder adds
// the ones every logs request carries at send time (DD-API-KEY, Content-Encoding, User-Agent,
// DD-PROTOCOL: agent-json, DD-EVP-ORIGIN: agent, DD-EVP-ORIGIN-VERSION and
// dd-current-timestamp), so they are not repeated here.

namespace outpost {

inline constexpr size_t kLogsMaxEntries = 1000;
inline constexpr size_t kLogsMaxContentBytes = 5'000'000;

// Builds one /api/v2/logs request body incrementally. Loop thread of its owner only.
class LogsPayloadEncoder {
 public:
  struct Options {
    std::string hostname;
    size_t max_entries = kLogsMaxEntries;
    size_t max_content_size = kLogsMaxContentBytes;
    std::string agent_version;  // informational; the forwarder sends DD-EVP-ORIGIN-VERSION
  };

  explicit LogsPayloadEncoder(Options options);

  // Appends one message (status: m.status, else detectStatus(m.content)). False, with nothing
  // appended, when it would pass max_entries or max_content_size: take() the batch first. A
  // message too big on its own for an empty encoder is appended anyway, its content cut to fit
  // (cutMessages() counts those), so add() on an empty encoder always succeeds.
  bool add(const logs::LogMessage& m);

  size_t entries() const { return entries_; }
  // Size of the body take() would return now (0 when empty).
  size_t bytes() const { return entries_ == 0 ? 0 : out_.size() + 1; }
  bool empty() const { return entries_ == 0; }
  // Messages whose content was cut to fit max_content_size, since construction.
  uint64_t cutMessages() const { return cut_messages_; }

  // The request: intake kLogs, route "/api/v2/logs", content type application/json,
  // header dd-message-timestamp, spoolable = false, no split (logs batches are already within
  // the intake's limits). The encoder is empty afterwards.
  Payload take();

 private:
  void begin();
  const std::string& originSuffix(const std::shared_ptr<const logs::LogOrigin>& origin);
  // Everything after an entry's message: ","status":..,"timestamp":..,"hostname":..}.
  const std::string& entryTail(std::string_view status, int64_t timestamp_ms,
                               const std::shared_ptr<const logs::LogOrigin>& origin);
  void cutToFit(size_t content_start, size_t tail_size);

  Options options_;
  std::string out_;
  size_t entries_ = 0;
  int64_t last_timestamp_ms_ = 0;
  size_t reserve_hint_ = 64 * 1024;
  uint64_t cut_messages_ = 0;
  // The escaped ,"hostname":..,"ddtags":..} tail for the last origin seen; the shared_ptr
  // keeps the origin alive so its address cannot be reused by another one meanwhile.
  std::shared_ptr<const logs::LogOrigin> cached_origin_;
  bool cache_valid_ = false;
  std::string cached_suffix_;
  // The last entry's tail (entryTail) and what it was made of.
  bool tail_valid_ = false;
  int64_t tail_timestamp_ms_ = 0;
  std::string tail_status_;
  std::string tail_;
  std::string hostname_json_;
};

}  // namespace outpost
