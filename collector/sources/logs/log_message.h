#pragma once

#include <cstdint>
#include <memory>
#include <string>

// The types every stage of the logs pipeline shares (docs/architecture.md, "Logs"):
//
//   sources (file tailers, tcp/udp inputs, journald)
//     → LineDecoder (split, truncate, encodings, UTF-8)  → ProcessingRules / multi-line
//     → LogBatcher (JSON array batches, forwarder)        → OffsetTracker (acked offsets)
//     → Registry (registry.json, every second)
namespace outpost::logs {

// What is fixed for every message of one source (one tailed file, one tcp/udp listener, one
// journal): shared by pointer so a message costs no copy of it.
struct LogOrigin {
  std::string service;
  std::string source;  // sent as ddsource
  // Comma-joined tags as sent in ddtags: the source's tags, sourcecategory:, filename: and
  // dirname: for files, then the global tags. Never empty-separated (no ",," or trailing ",").
  std::string tags;
  std::string path;  // the file, for file sources
};

// Identifies one stream of offsets in the OffsetTracker (a tailed file, a journal). 0: the
// message needs no acknowledgement (tcp and udp inputs).
using StreamId = uint32_t;

// One log message on its way from a source to the intake.
struct LogMessage {
  std::string content;       // valid UTF-8, after the processing rules
  std::string status;        // "emergency" ... "debug"; empty: detected by the encoder, else "info"
  int64_t timestamp_ms = 0;  // when it was read (the Agent's ingestion time)
  std::shared_ptr<const LogOrigin> origin;
  StreamId stream = 0;
  // The position in the stream just past this message's last byte (a file offset, a journal
  // sequence number): committed to the registry once the intake acknowledged it and
  // everything before it.
  uint64_t end_offset = 0;
  // Only an offset: the message was dropped (exclude/include rule) and is never sent, but the
  // offset past it still has to reach the registry in order.
  bool marker_only = false;
  bool truncated = false;  // one piece of a line longer than max_message_size_bytes
  // The content is JSON-plain (json_plain.h: ASCII, no '"', '\\' or control characters), so
  // the encoder copies it as it is. Set from the file decoder's check; false (the encoder
  // looks at every byte) unless its producer knows. Who changes `content` must keep it true.
  bool json_plain = false;
};

}  // namespace outpost::logs
