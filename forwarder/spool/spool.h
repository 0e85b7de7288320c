#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/telemetry.h"

namespace outpost {

// A payload as the forwarder keeps it for a later retry: the request ready to send except for
// the API key and host, which are resolved from the configuration at send time (no secret is
// ever written to disk).
struct SpooledPayload {
  std::string route;                                         // "/api/v2/series"
  std::string content_type;                                  // "application/x-protobuf"
  std::string content_encoding;                              // "zstd", "gzip", "deflate" or ""
  std::vector<std::pair<std::string, std::string>> headers;  // extra, per-intake headers
  std::string body;                                          // compressed bytes, as sent
  int64_t created_unix_ms = 0;
  uint32_t attempts = 0;
  uint64_t id = 0;  // caller-chosen identifier, kept as is
};

// A bounded, crash-safe FIFO of payloads on disk for one endpoint: segment files under one
// directory. Records carry a CRC32; a torn or corrupt record (e.g. after kill -9 mid-write, or
// a damaged file) is skipped and counted, never a crash. What was appended survives a restart
// (open() recovers every intact record in order). Over max_bytes the oldest segments are dropped
// and counted; when the disk is fuller than max_disk_ratio, append() refuses and counts.
//
// Blocking file I/O: call it from a worker thread, never the loop. Not thread-safe: one caller
// at a time. One Spool per directory: open() takes an exclusive flock on `<dir>/lock` and fails
// while another Spool (in this or another process) holds it.
//
// On disk (all integers little-endian):
//   <dir>/<16 hex digits>.seg  segment files, in sequence order; each is a run of records:
//       magic "\xF0SPL", u16 format version (1), u16 flags (0), u32 payload length,
//       u32 CRC-32 of the payload, u32 CRC-32 of the 16 header bytes before it; then the payload:
//       u64 id, i64 created_unix_ms, u32 attempts, route, content_type, content_encoding,
//       u32 header count and each name, value; body (each string: u32 length, bytes).
//   <dir>/cursor  read position (segment sequence + offset of the first record not popped) with
//       a CRC, replaced atomically on every pop(): the new value is written to <dir>/cursor.tmp,
//       then the two names are swapped with renameat2(RENAME_EXCHANGE) (a plain rename where
//       that is not supported). A damaged cursor is ignored: reading restarts at the oldest record.
//   <dir>/lock    the flock above.
// A segment is fsynced when it is finished (roll, close); flush() also fsyncs the directory and
// the cursor. Segments are at most max(segment_bytes, one record), and segment_bytes is lowered
// to max_bytes/4 when larger, so that dropping the oldest segment never empties a full spool.
// A payload whose record is over max_bytes/2 (or 256 MiB) is refused.
//
// Telemetry, tagged endpoint:<name>: counters outpost.spool.records
// (outcome:appended|popped|corrupt|torn), outpost.spool.dropped
// (reason:full|too_large|disk_full|io_error; `full` counts records deleted with the oldest
// segments) and outpost.spool.cursor_corrupt; gauges outpost.spool.bytes, outpost.spool.files.
class Spool {
 public:
  struct Options {
    std::string dir;                      // created if missing
    uint64_t max_bytes = 512ull << 20;    // total size of all segment files
    double max_disk_ratio = 0.8;          // refuse appends when statvfs(dir) is fuller
    uint64_t segment_bytes = 8ull << 20;  // roll to a new segment file past this
    std::string name = "default";         // telemetry tag endpoint:<name>
  };

  // Opens (and recovers) the spool in options.dir. nullptr and *error on failure.
  static std::unique_ptr<Spool> open(Options options, Telemetry& telemetry, std::string* error);
  ~Spool();

  enum class AppendResult { kOk, kDiskFull, kIoError, kTooLarge };
  AppendResult append(const SpooledPayload& payload);

  // The oldest intact record not yet popped, or nullopt when empty.
  std::optional<SpooledPayload> front();
  // Removes the record front() returned. A segment file is deleted once all its records are
  // popped; the read position is persisted so a restart does not resend popped records. Does
  // nothing if front() was not called since the last pop(), or if that record has been dropped
  // (max_bytes) by an append() in between.
  void pop();

  uint64_t bytes() const;  // on disk
  size_t files() const;
  size_t records() const;  // intact records not yet popped

  // fsync the segment being written (the forwarder calls it on an interval and at shutdown).
  void flush();

  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

 private:
  struct Impl;
  explicit Spool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace outpost
