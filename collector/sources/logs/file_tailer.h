#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "collector/sources/logs/file_identity.h"
#include "collector/sources/logs/line_decoder.h"
#include "collector/sources/logs/log_message.h"
#include "collector/sources/logs/multi_line.h"
#include "collector/sources/logs/processing_rules.h"

namespace outpost::logs {

// What a tailer counts (per file; the status endpoint shows them).
struct TailerStats {
  uint64_t bytes_read = 0;
  uint64_t lines = 0;
  uint64_t dropped_by_rule = 0;
  uint64_t truncated = 0;
  uint64_t truncations_seen = 0;  // copytruncate / shrink detected
  std::string last_error;
};

// One open file being read: pread from the offset → LineDecoder (split, truncate, UTF-8) →
// multi-line → processing rules → LogMessage (with the offset past its last byte) → sink. The
// file descriptor stays open across renames, so a rotated file is finished from the same
// descriptor. No clock inside: callers pass now_ms. Loop thread only.
class FileTailer {
 public:
  struct Options {
    TextEncoding encoding = TextEncoding::kUtf8;
    size_t max_message_size = 256000;
    std::string multi_line_pattern;  // empty: none
    bool auto_multi_line = false;
    int64_t multi_line_timeout_ms = 1000;
    int64_t close_timeout_ms = 60000;  // a partial last line waits this long for its newline
  };
  // The message is the tailer's, reused for the next line: a sink that keeps it moves from it;
  // one that only reads it (the batcher encodes it at once) leaves it.
  using Sink = std::function<void(LogMessage&&)>;

  // Takes ownership of `fd`, positioned logically at `offset`.
  FileTailer(std::string path, int fd, const FileIdentity& identity, uint64_t offset,
             StreamId stream, std::shared_ptr<const LogOrigin> origin,
             std::shared_ptr<const ProcessingRules> rules, const Options& options);
  ~FileTailer();
  FileTailer(const FileTailer&) = delete;
  FileTailer& operator=(const FileTailer&) = delete;

  enum class ReadResult { kData, kEof, kError };
  // Reads at most `max_bytes` from the read offset and hands every finished message to `sink`.
  ReadResult readSome(size_t max_bytes, int64_t now_ms, const Sink& sink);
  // Time-based flushes: a multi-line group idle for its timeout, a partial line idle for
  // close_timeout. Returns true when something is still waiting.
  bool flushIdle(int64_t now_ms, const Sink& sink);
  // The file is finished (rotated away and drained): everything waiting goes out.
  void flushAll(const Sink& sink);

  // The file shrank below what was read, or its first bytes changed (copytruncate, or the path
  // rewritten in place). The caller restarts the tailer at 0 (after finding a copy to finish).
  bool wasTruncated();
  // Drops what waits and starts again at offset 0.
  void restartAtZero();

  // Refreshes the identity's fingerprint once the file has grown past what it covered.
  void refreshIdentity();

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  const FileIdentity& identity() const { return identity_; }
  StreamId stream() const { return stream_; }
  uint64_t readOffset() const { return read_offset_; }
  // The offset past the last message handed to the sink (lines waiting in the decoder or a
  // multi-line group are not included).
  uint64_t emittedOffset() const { return emitted_offset_; }
  uint64_t fileSize() const;
  int64_t lastDataMs() const { return last_data_ms_; }
  const TailerStats& stats() const { return stats_; }
  const std::shared_ptr<const LogOrigin>& origin() const { return origin_; }

 private:
  void restartAt(uint64_t offset);
  void emit(std::string&& content, uint64_t end_offset, bool truncated, int64_t now_ms,
            const Sink& sink);
  void emitMessage(uint64_t end_offset, bool truncated, int64_t now_ms, const Sink& sink);
  void onLine(const DecodedLine& line, int64_t now_ms, const Sink& sink);

  std::string path_;
  int fd_;
  FileIdentity identity_;
  StreamId stream_;
  std::shared_ptr<const LogOrigin> origin_;
  std::shared_ptr<const ProcessingRules> rules_;
  Options options_;
  std::unique_ptr<LineDecoder> decoder_;
  std::unique_ptr<MultiLineAggregator> multi_line_;
  uint64_t read_offset_;
  uint64_t emitted_offset_;
  LogMessage message_;  // reused for every line (see emitMessage)
  int64_t last_data_ms_ = 0;
  uint64_t max_size_seen_ = 0;  // the largest size wasTruncated() saw (a shrink is a truncation)
  TailerStats stats_;
};

}  // namespace outpost::logs
