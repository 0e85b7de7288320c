#pragma once

// `type: journald` log source (wire-formats.md §3.6) through libsystemd's sd-journal.
//
// Pipeline: sd_journal (filters, seek) → batches of max_entries_per_turn entries → OnEntry; then
// wait on sd_journal_get_fd() under a uv_poll (plus sd_journal_get_timeout() as a timer) and
// sd_journal_process() for new entries.
//
// - Where to start: after `cursor` when set (the entry the cursor names is skipped; if it is gone,
//   reading goes on from the next one there is); else from the first entry (start_at_beginning)
//   or only entries written after start().
// - include_units become sd-journal matches on _SYSTEMD_UNIT (any of them). exclude_units are
//   skipped here (sd-journal has no negative match) and counted in outpost.logs.journald.excluded.
// - Reading never blocks the loop for more than one batch: after max_entries_per_turn entries it
//   yields and continues on the next loop iteration.
// - Back-pressure: OnEntry returns false to stop reading; the entry it was given is kept and
//   handed again first after resume().
//
// Telemetry, tagged input:<name>: outpost.logs.journald.entries (handed on), .bytes (MESSAGE
// bytes), .excluded, .read_errors.
//
// Loop thread only. sd_journal objects are not fork-safe: do not use one in a forked child.

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/loop.h"
#include "core/telemetry.h"

// From <systemd/sd-journal.h>, not included here: it pulls in <syslog.h>, whose LOG_INFO and
// LOG_DEBUG clash with core/log.h.
struct sd_journal;

namespace outpost::logs {

class JournaldInput {
 public:
  struct Options {
    // Empty: the local system journal; a directory (sd_journal_open_directory) or a .journal file
    // (sd_journal_open_files).
    std::string path;
    // _SYSTEMD_UNIT filters (include: only these; exclude: all but these).
    std::vector<std::string> include_units, exclude_units;
    // Resume just after this cursor (from the registry); empty: start_at_beginning decides.
    std::string cursor;
    bool start_at_beginning = false;     // false: only new entries (seek tail)
    size_t max_entries_per_turn = 1000;  // yield to the loop between batches
    std::string name = "journald";       // telemetry tag input:<name> and logs
  };
  struct Entry {
    std::string message;       // MESSAGE
    std::string status;        // from PRIORITY ("emergency" ... "debug"); "" when absent
    std::string unit;          // _SYSTEMD_UNIT
    std::string identifier;    // SYSLOG_IDENTIFIER
    std::string hostname;      // _HOSTNAME
    int64_t timestamp_us = 0;  // __REALTIME_TIMESTAMP
    std::string cursor;
    // 1, 2, 3, ... in the order this input handed entries on since start(): a monotonic offset
    // for the OffsetTracker (the registry keeps `cursor`). A re-delivered entry keeps its number.
    uint64_t sequence = 0;
  };
  // Return false to push back: reading stops until resume() is called (the entry passed is kept
  // and re-delivered first, so a callback returning false must not move from it). The callback
  // may call stop(), but must not destroy the input.
  using OnEntry = std::function<bool(Entry&&)>;

  JournaldInput(uv_loop_t* loop, Telemetry& telemetry, Options options, OnEntry on_entry);
  ~JournaldInput();  // stop()
  JournaldInput(const JournaldInput&) = delete;
  JournaldInput& operator=(const JournaldInput&) = delete;

  // Opens the journal, applies filters and the start position, and schedules the first batch
  // (entries are handed on from the loop, never inside this call). No journal available → false
  // with an error naming the path.
  bool start(std::string* error);
  // Reading goes on after a push-back (from the loop, not inside this call).
  void resume();
  // Closes the journal and every handle; idempotent.
  void stop();

  bool paused() const { return paused_; }
  // True once every entry there is has been handed on and the input waits for new ones (tests,
  // status).
  bool caughtUp() const { return caught_up_; }

  // "emergency", "alert", "critical", "error", "warning", "notice", "info", "debug" for PRIORITY
  // 0..7; "" for anything else.
  static std::string_view statusFromPriority(std::string_view priority);

  struct Poll;
  struct Idle;

 private:
  // Reads at most one batch; schedules the next batch or waits for the journal to change.
  void readBatch();
  void scheduleBatch();
  void onJournalChanged();
  void armTimeout();
  // Reads the entry at the current position. False: a field could not be read (counted).
  bool readEntry(Entry* entry);

  uv_loop_t* loop_;
  Telemetry& telemetry_;
  Options options_;
  OnEntry on_entry_;
  std::unordered_set<std::string> exclude_;

  sd_journal* journal_ = nullptr;
  Poll* poll_ = nullptr;                  // freed by its close callback
  Idle* idle_ = nullptr;                  // the next batch on the next loop iteration
  std::unique_ptr<Timer> timeout_timer_;  // sd_journal_get_timeout()
  std::unique_ptr<Entry> held_;           // pushed back, handed again first
  bool paused_ = false;
  bool caught_up_ = false;
  bool reading_ = false;  // inside readBatch (on_entry may call stop/resume)
  bool check_cursor_ = false;
  uint64_t sequence_ = 0;  // the first entry read may be the one options_.cursor names

  Counter* entries_ = nullptr;
  Counter* bytes_ = nullptr;
  Counter* excluded_ = nullptr;
  Counter* read_errors_ = nullptr;
};

}  // namespace outpost::logs
