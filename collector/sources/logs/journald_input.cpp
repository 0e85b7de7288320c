#include "collector/sources/logs/journald_input.h"

#include <dirent.h>
#include <sys/stat.h>
#include <systemd/sd-journal.h>
#include <time.h>

// <syslog.h> (through sd-journal.h) defines these as priorities; core/log.h wants them as macros.
#undef LOG_INFO
#undef LOG_DEBUG

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/log.h"

namespace outpost::logs {

namespace {

constexpr std::string_view kComponent = "logs";
constexpr uint64_t kFallbackPollMs = 1000;  // when sd_journal_get_fd() fails (no inotify)

std::string errnoText(int negative_errno) {
  return std::strerror(negative_errno < 0 ? -negative_errno : negative_errno);
}

// The value of `field` in the current entry ("" when absent). False on a read error other than
// "no such field".
bool getField(sd_journal* j, const char* field, std::string* out) {
  const void* data = nullptr;
  size_t len = 0;
  int r = sd_journal_get_data(j, field, &data, &len);
  if (r == -ENOENT) {
    out->clear();
    return true;
  }
  if (r < 0) {
    return false;
  }
  const size_t prefix = std::strlen(field) + 1;  // "FIELD="
  if (len < prefix) {
    out->clear();
    return true;
  }
  out->assign(static_cast<const char*>(data) + prefix, len - prefix);
  return true;
}

uint64_t monotonicNowUs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000 + static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

}  // namespace

struct JournaldInput::Poll {
  uv_poll_t handle;  // first
  JournaldInput* owner = nullptr;
};

// An idle handle runs once per loop iteration, after I/O, so a long backlog is read one batch per
// iteration (a 0 ms timer restarted from its own callback would run again before any I/O).
struct JournaldInput::Idle {
  uv_idle_t handle;  // first
  JournaldInput* owner = nullptr;
};

namespace {

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// True if `dir` or one of its subdirectories (the machine-id folder) holds a journal file.
bool hasJournalFiles(const std::string& dir, int depth = 1) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    return false;
  }
  bool found = false;
  while (dirent* e = ::readdir(d)) {
    std::string_view name = e->d_name;
    if (name == "." || name == "..") {
      continue;
    }
    if (endsWith(name, ".journal") || endsWith(name, ".journal~")) {
      found = true;
      break;
    }
    if (depth > 0 && hasJournalFiles(dir + "/" + std::string(name), depth - 1)) {
      found = true;
      break;
    }
  }
  ::closedir(d);
  return found;
}

}  // namespace

std::string_view JournaldInput::statusFromPriority(std::string_view priority) {
  static constexpr std::array<std::string_view, 8> kNames = {
      "emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"};
  if (priority.size() != 1 || priority[0] < '0' || priority[0] > '7') {
    return "";
  }
  return kNames[static_cast<size_t>(priority[0] - '0')];
}

JournaldInput::JournaldInput(uv_loop_t* loop, Telemetry& telemetry, Options options,
                             OnEntry on_entry)
    : loop_(loop),
      telemetry_(telemetry),
      options_(std::move(options)),
      on_entry_(std::move(on_entry)),
      exclude_(options_.exclude_units.begin(), options_.exclude_units.end()) {}

JournaldInput::~JournaldInput() {
  stop();
}

bool JournaldInput::start(std::string* error) {
  const std::string& name = options_.name;
  if (journal_ != nullptr) {
    *error = fmt::format("journald input {}: already started", name);
    return false;
  }
  sd_journal* j = nullptr;
  int r = 0;
  std::string what;
  if (options_.path.empty()) {
    if (!hasJournalFiles("/run/log/journal") && !hasJournalFiles("/var/log/journal")) {
      *error = fmt::format(
          "journald input {}: no system journal (no journal files in /run/log/journal or "
          "/var/log/journal; is systemd-journald running? set `path` to read another journal)",
          name);
      return false;
    }
    what = "the system journal";
    r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY);
  } else {
    struct stat st {};
    if (::stat(options_.path.c_str(), &st) != 0) {
      *error = fmt::format("journald input {}: cannot open journal {}: {}", name, options_.path,
                           errnoText(errno));
      return false;
    }
    what = options_.path;
    if (S_ISDIR(st.st_mode)) {
      r = sd_journal_open_directory(&j, options_.path.c_str(), 0);
    } else {
      const char* files[] = {options_.path.c_str(), nullptr};
      r = sd_journal_open_files(&j, files, 0);
    }
  }
  if (r < 0) {
    *error = fmt::format("journald input {}: cannot open {}: {}", name, what, errnoText(r));
    return false;
  }
  journal_ = j;
  sequence_ = 0;
  sd_journal_set_data_threshold(j, 0);  // whole fields; the decoder truncates later

  for (const std::string& unit : options_.include_units) {
    std::string match = fmt::format("_SYSTEMD_UNIT={}", unit);
    r = sd_journal_add_match(j, match.data(), match.size());
    if (r < 0) {
      *error = fmt::format("journald input {}: bad include_units entry '{}': {}", name, unit,
                           errnoText(r));
      stop();
      return false;
    }
  }

  // Watch before seeking, so nothing written in between is missed.
  int fd = sd_journal_get_fd(j);

  bool positioned = false;
  if (!options_.cursor.empty()) {
    r = sd_journal_seek_cursor(j, options_.cursor.c_str());
    if (r < 0) {
      LOG_WARN(kComponent, "journald input {}: saved cursor unusable ({}); starting at the {}",
               name, errnoText(r), options_.start_at_beginning ? "beginning" : "end");
    } else {
      positioned = true;
      check_cursor_ = true;
    }
  }
  if (!positioned) {
    if (options_.start_at_beginning) {
      r = sd_journal_seek_head(j);
    } else {
      r = sd_journal_seek_tail(j);
      if (r >= 0) {
        // Step onto the last entry, so that next() returns only what comes after it.
        r = sd_journal_previous(j);
      }
    }
    if (r < 0) {
      *error = fmt::format("journald input {}: cannot seek in {}: {}", name, what, errnoText(r));
      stop();
      return false;
    }
  }

  std::vector<std::string> tags{fmt::format("input:{}", name)};
  entries_ = &telemetry_.counter("outpost.logs.journald.entries", tags,
                                 "Journal entries handed to the logs pipeline");
  bytes_ = &telemetry_.counter("outpost.logs.journald.bytes", tags,
                               "MESSAGE bytes of journal entries handed on");
  excluded_ = &telemetry_.counter("outpost.logs.journald.excluded", tags,
                                  "Journal entries skipped by exclude_units");
  read_errors_ =
      &telemetry_.counter("outpost.logs.journald.read_errors", tags, "Journal read errors");

  idle_ = new Idle();
  idle_->owner = this;
  uv_idle_init(loop_, &idle_->handle);
  idle_->handle.data = idle_;
  timeout_timer_ = std::make_unique<Timer>(loop_, [this] { onJournalChanged(); });
  if (fd >= 0) {
    auto* poll = new Poll();
    poll->owner = this;
    r = uv_poll_init(loop_, &poll->handle, fd);
    if (r != 0) {
      delete poll;
      fd = -1;
      LOG_WARN(kComponent, "journald input {}: cannot watch the journal: {}", name, uv_strerror(r));
    } else {
      poll->handle.data = poll;
      poll_ = poll;
      uv_poll_start(&poll->handle, UV_READABLE, [](uv_poll_t* h, int status, int) {
        auto* p = static_cast<Poll*>(h->data);
        if (p->owner == nullptr) {
          return;
        }
        if (status < 0) {
          p->owner->read_errors_->inc();
          LOG_WARN(kComponent, "journald input {}: poll: {}", p->owner->options_.name,
                   uv_strerror(status));
        }
        p->owner->onJournalChanged();
      });
    }
  } else {
    LOG_WARN(kComponent, "journald input {}: no journal change notification ({}); polling", name,
             errnoText(fd));
  }
  if (fd < 0) {
    timeout_timer_->start(kFallbackPollMs, kFallbackPollMs);
  } else {
    armTimeout();
  }
  scheduleBatch();
  LOG_INFO(kComponent, "journald input {}: reading {}", name, what);
  return true;
}

void JournaldInput::armTimeout() {
  if (journal_ == nullptr || poll_ == nullptr || !timeout_timer_) {
    return;
  }
  uint64_t until = 0;
  if (sd_journal_get_timeout(journal_, &until) < 0 || until == UINT64_MAX) {
    timeout_timer_->stop();
    return;
  }
  uint64_t now = monotonicNowUs();
  timeout_timer_->start(until > now ? (until - now + 999) / 1000 : 0);
}

void JournaldInput::onJournalChanged() {
  if (journal_ == nullptr) {
    return;
  }
  int r = sd_journal_process(journal_);
  if (r < 0) {
    read_errors_->inc();
    LOG_WARN(kComponent, "journald input {}: sd_journal_process: {}", options_.name, errnoText(r));
  }
  if (!paused_ && !reading_) {
    readBatch();
  }
  armTimeout();
}

bool JournaldInput::readEntry(Entry* e) {
  std::string priority;
  if (!getField(journal_, "MESSAGE", &e->message) || !getField(journal_, "PRIORITY", &priority) ||
      !getField(journal_, "_SYSTEMD_UNIT", &e->unit) ||
      !getField(journal_, "SYSLOG_IDENTIFIER", &e->identifier) ||
      !getField(journal_, "_HOSTNAME", &e->hostname)) {
    return false;
  }
  e->status = std::string(statusFromPriority(priority));
  uint64_t usec = 0;
  if (sd_journal_get_realtime_usec(journal_, &usec) >= 0) {
    e->timestamp_us = static_cast<int64_t>(usec);
  }
  char* cursor = nullptr;
  if (sd_journal_get_cursor(journal_, &cursor) < 0 || cursor == nullptr) {
    return false;
  }
  e->cursor = cursor;
  std::free(cursor);
  return true;
}

void JournaldInput::readBatch() {
  if (journal_ == nullptr || paused_ || reading_) {
    return;
  }
  reading_ = true;
  caught_up_ = false;
  size_t n = 0;
  const size_t max = options_.max_entries_per_turn > 0 ? options_.max_entries_per_turn : 1;
  if (held_) {
    std::unique_ptr<Entry> entry = std::move(held_);
    const size_t len = entry->message.size();
    if (!on_entry_(std::move(*entry))) {
      if (journal_ != nullptr) {
        paused_ = true;
        held_ = std::move(entry);
      }
      reading_ = false;
      return;
    }
    entries_->inc();
    bytes_->inc(len);
    ++n;
  }
  while (n < max && journal_ != nullptr && !paused_) {
    int r = sd_journal_next(journal_);
    if (r < 0) {
      read_errors_->inc();
      LOG_WARN(kComponent, "journald input {}: sd_journal_next: {}", options_.name, errnoText(r));
      break;  // try again when the journal changes
    }
    if (r == 0) {
      caught_up_ = true;
      break;
    }
    if (check_cursor_) {
      check_cursor_ = false;
      if (sd_journal_test_cursor(journal_, options_.cursor.c_str()) > 0) {
        continue;  // the entry the cursor names was handed on before
      }
    }
    ++n;
    Entry entry;
    if (!readEntry(&entry)) {
      read_errors_->inc();
      continue;
    }
    if (!exclude_.empty() && exclude_.count(entry.unit) > 0) {
      excluded_->inc();
      continue;
    }
    entry.sequence = ++sequence_;
    const size_t len = entry.message.size();
    if (!on_entry_(std::move(entry))) {
      if (journal_ != nullptr) {
        paused_ = true;
        held_ = std::make_unique<Entry>(std::move(entry));
      }
      break;
    }
    entries_->inc();
    bytes_->inc(len);
  }
  reading_ = false;
  if (journal_ != nullptr && !paused_ && !caught_up_ && n >= max) {
    scheduleBatch();  // more to read: yield to the loop first
  }
}

void JournaldInput::scheduleBatch() {
  if (idle_ == nullptr) {
    return;
  }
  uv_idle_start(&idle_->handle, [](uv_idle_t* h) {
    uv_idle_stop(h);
    auto* idle = static_cast<Idle*>(h->data);
    if (idle->owner != nullptr) {
      idle->owner->readBatch();
    }
  });
}

void JournaldInput::resume() {
  if (!paused_ || journal_ == nullptr) {
    paused_ = false;
    return;
  }
  paused_ = false;
  scheduleBatch();
}

void JournaldInput::stop() {
  timeout_timer_.reset();
  if (idle_ != nullptr) {
    idle_->owner = nullptr;
    uv_idle_stop(&idle_->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&idle_->handle),
             [](uv_handle_t* h) { delete static_cast<Idle*>(h->data); });
    idle_ = nullptr;
  }
  if (poll_ != nullptr) {
    poll_->owner = nullptr;
    uv_poll_stop(&poll_->handle);
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_->handle),
             [](uv_handle_t* h) { delete static_cast<Poll*>(h->data); });
    poll_ = nullptr;
  }
  if (journal_ != nullptr) {
    sd_journal_close(journal_);
    journal_ = nullptr;
  }
  held_.reset();
  paused_ = false;
  caught_up_ = false;
  check_cursor_ = false;
}

}  // namespace outpost::logs
