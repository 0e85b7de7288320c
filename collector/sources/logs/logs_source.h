#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "collector/sources/logs/batcher.h"
#include "collector/sources/logs/file_tailer.h"
#include "collector/sources/logs/journald_input.h"
#include "collector/sources/logs/message_queue.h"
#include "collector/sources/logs/network_input.h"
#include "collector/sources/logs/offset_tracker.h"
#include "collector/sources/logs/registry.h"
#include "collector/sources/logs/source_config.h"
#include "core/component.h"
#include "core/config.h"
#include "core/loop.h"
#include "core/telemetry.h"
#include "core/worker_pool.h"

namespace outpost {
class Forwarder;
}

namespace outpost::logs {

// The logs pipeline of the daemon, end to end:
//   file tailers (globs, rotation, registry offsets) / tcp / udp / journald
//     → decoder, multi-line, processing rules → LogBatcher → Forwarder (or local: counted)
//     → acknowledgements → OffsetTracker → Registry (run_path/registry.json, every second)
// Reading stops while the batcher pushes back, so nothing is read faster than it is delivered.
// Loop thread only.
class LogsSource : public Component {
 public:
  struct Options {
    std::string hostname;
    std::vector<std::string> global_tags;  // tags + env:
    std::string run_path;
    std::vector<LogSourceConfig> sources;
    std::vector<RuleConfig> global_rules;
    int64_t scan_period_ms = 10000;
    size_t open_files_limit = 500;
    int64_t close_timeout_ms = 60000;
    size_t max_message_size = 256000;
    bool auto_multi_line = false;
    int64_t aggregation_timeout_ms = 1000;
    size_t frame_size = 9000;
    size_t batch_max_size = 1000;
    size_t batch_max_content_size = 5'000'000;
    int64_t batch_wait_ms = 5000;
    uint64_t max_inflight_bytes = 32ull << 20;
    int64_t registry_flush_ms = 1000;
    int64_t registry_ttl_s = 23 * 3600;
    int64_t stop_wait_ms = 3000;  // at stop, how long acknowledgements are awaited
  };
  // The options from a loaded configuration; log sources that do not validate become errors.
  static Options optionsFrom(const LoadedConfig& config, std::vector<ConfigMessage>& errors);

  LogsSource(uv_loop_t* loop, Telemetry& telemetry, Options options, Forwarder* forwarder);
  ~LogsSource() override;

  std::string_view name() const override { return "logs"; }
  bool start() override;
  void stop(std::function<void()> done) override;

  // Shown every message the pipeline processed (after the processing rules, before batching),
  // forwarded or not: the query socket's recent-logs ring. Loop thread.
  void setMessageObserver(std::function<void(const LogMessage&)> observer) {
    observer_ = std::move(observer);
  }

  struct FileStatus {
    std::string path;
    std::string source;  // the conf.d integration
    bool draining = false;
    uint64_t offset_read = 0;
    uint64_t offset_committed = 0;
    uint64_t size = 0;
    TailerStats stats;
  };
  struct Status {
    std::vector<FileStatus> files;
    std::vector<std::string> not_tailed;  // over open_files_limit
    std::vector<std::string> errors;
    uint64_t rotations = 0;
  };
  Status status() const;
  // Bytes read and not yet acknowledged by the intake against max_inflight_bytes; files tailed
  // against open_files_limit.
  void resources(Resources& out) const override;

  // Test hook: run a scan now.
  void scanNow();

 private:
  struct FileSource {
    LogSourceConfig config;
    std::shared_ptr<const ProcessingRules> rules;
    FileTailer::Options tailer_options;
  };
  // A rotated sibling as it was when a file was opened (empty: before a byte of it was read).
  struct SiblingMark {
    uint64_t device = 0;
    uint64_t inode = 0;
    int64_t mtime_ns = 0;
    int64_t size = 0;
    bool operator==(const SiblingMark&) const = default;
  };
  struct Tailed {
    std::unique_ptr<FileTailer> tailer;
    size_t source = 0;
    std::string key;              // registry key
    bool draining = false;        // rotated away or deleted: finish and close
    bool eof_seen = false;        // reached the end at least once since it started draining
    Tailed* waits_for = nullptr;  // the rotated predecessor to finish first
    // The rotated siblings there were when the file was opened empty (or restarted after a
    // copytruncate): none of them can be a copy of what it holds now. A sibling that is not
    // among them (or changed since) was written after: the copy of data this file lost before
    // it was read. Set comparison, not timestamps: file times come from the kernel's coarse or
    // fine clock, and a copy made just before the open can look a few ms newer than it.
    std::vector<SiblingMark> siblings_at_open;
  };
  struct Closing {
    StreamId stream;
    std::string tracker_key;  // the stream's key in the tracker (to notice it was forgotten)
    std::string key;          // registry entry to erase when done (empty: none)
    uint64_t final_offset;
  };

  void buildSources();
  std::shared_ptr<const ProcessingRules> compileRules(const LogSourceConfig& c);
  void restoreRotated();
  void scanFiles(bool startup);
  Tailed* openFile(const std::string& path, size_t source, bool startup);
  Tailed* openTailer(const std::string& path, int fd, const FileIdentity& id, uint64_t offset,
                     size_t source, std::string key, bool draining);
  void checkRotation(Tailed& t);
  void handleTruncation(Tailed& t);
  void startDraining(Tailed& t, const char* why);
  Tailed* openSuccessor(const std::string& path, size_t source);
  // new_since: a file not fingerprinted yet may match a copy not among new_since's
  // siblings_at_open (one made since it was opened).
  const std::string* findCopy(const std::string& path, const FileIdentity& id, uint64_t min_size,
                              std::string* out, const Tailed* new_since = nullptr);
  // Fills t.siblings_at_open when t's file is empty (not fingerprinted) and not draining.
  void rememberSiblings(Tailed& t);
  static SiblingMark markOf(const struct stat& st);
  static bool knownAtOpen(const Tailed& t, const struct stat& st);
  void closeTailer(Tailed& t);
  bool isTailed(const FileIdentity& id) const;
  bool isTailedPath(const std::string& path, bool active_only = false) const;
  void eraseClosed();
  static constexpr uint64_t kNoLimit = ~uint64_t{0};
  uint64_t adoptMissedCopies(Tailed& t);
  void pump();
  void schedulePump();
  void housekeeping();
  void sink(LogMessage&& m);
  bool drainOverflow();
  bool writable() const;
  void writeRegistry();
  void watchDirectory(const std::string& dir);
  void onFsEvent(const std::string& dir, const char* name, int events);
  std::shared_ptr<const LogOrigin> originFor(const LogSourceConfig& c, const std::string& path);
  void startInputs();
  int64_t nowMs() const;
  void finishStop();
  void stopDone();
  void saveRegistry(bool durable);
  void registryWritten(bool ok, bool durable, const std::string& error);
  void registryError(const std::string& error);

  uv_loop_t* loop_;
  Telemetry& telemetry_;
  Options options_;
  Forwarder* forwarder_;
  std::function<void(const LogMessage&)> observer_;
  Registry registry_;
  OffsetTracker tracker_;
  std::unique_ptr<LogBatcher> batcher_;
  std::vector<FileSource> file_sources_;
  std::vector<std::unique_ptr<Tailed>> tailed_;
  std::vector<Closing> closing_;
  std::map<std::string, Tailed*> predecessors_;  // path → its rotated file still being finished
  std::map<std::string, std::unique_ptr<FsWatcher>> watchers_;  // by directory
  std::vector<std::unique_ptr<NetworkLogInput>> network_inputs_;
  struct Journal {
    std::unique_ptr<JournaldInput> input;
    std::shared_ptr<const LogOrigin> origin;
    std::shared_ptr<const ProcessingRules> rules;
    StreamId stream = 0;
    std::string key;
    uint64_t seq = 0;
    std::deque<std::pair<uint64_t, std::string>> cursors;  // (seq, cursor) not yet committed
    std::string committed_cursor;
  };
  std::vector<std::unique_ptr<Journal>> journals_;
  MessageQueue overflow_;
  std::unique_ptr<Timer> pump_timer_;
  std::unique_ptr<Timer> scan_timer_;
  std::unique_ptr<Timer> housekeeping_timer_;
  std::unique_ptr<Timer> registry_timer_;
  std::unique_ptr<Timer> stop_timer_;
  bool pump_scheduled_ = false;
  bool stopping_ = false;
  bool inputs_paused_ = false;
  std::function<void()> stop_done_;
  std::vector<std::string> not_tailed_;
  size_t last_not_tailed_ = 0;
  std::vector<std::string> errors_;
  uint64_t rotations_ = 0;
  int64_t last_expire_ms_ = 0;
  int64_t last_poll_ms_ = 0;
  int64_t last_durable_ms_ = 0;
  int64_t last_ack_write_ms_ = 0;
  int64_t last_registry_error_ms_ = 0;
  int64_t stop_waited_ms_ = 0;
  Counter& lines_;
  Counter& bytes_;
  Counter& dropped_by_rule_;
  Counter& rotations_counter_;
  Counter& local_dropped_;
  Gauge& files_gauge_;
  // Registry writes (registry.json) happen here, off the loop; declared last so that it is
  // joined before anything its callbacks touch goes away.
  bool registry_writing_ = false;
  bool registry_again_ = false;  // changed while a write was running: write again after it
  bool registry_again_durable_ = false;
  bool registry_synced_ = true;  // the last write was durable (else stop syncs once more)
  std::function<void()> registry_flushed_;  // at stop: once the last write is done
  std::unique_ptr<WorkerPool> registry_io_;
};

}  // namespace outpost::logs
