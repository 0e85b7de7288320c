#include "collector/sources/logs/logs_source.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>

#include "collector/sources/logs/path_glob.h"
#include "core/log.h"
#include "core/version.h"
#include "forwarder/endpoints.h"
#include "forwarder/forwarder.h"

namespace outpost::logs {
namespace {

constexpr size_t kPumpBudget = 2 << 20;   // bytes read per loop turn, over all files
constexpr size_t kReadPerFile = 1 << 20;  // bytes per file per turn (fairness)
// Reads are sized to the batcher's room (a line read is a line pushed; one refused goes through
// the overflow queue, a copy and two moves more): half of it, as a line's JSON entry is about
// twice its bytes, but never less than this.
constexpr size_t kMinRead = 16 << 10;
// How much of a rotated sibling is compared with the file at the path to tell a copy not
// truncated yet from one of what the file held before (identical 64 KiB: the same content).
constexpr size_t kCopyCompareBytes = 64 * 1024;
constexpr size_t kOverflowPause = 20000;  // network inputs pause past this many waiting
constexpr int64_t kHousekeepingMs = 200;
constexpr int64_t kPollMs = 1000;  // EOF poll when inotify says nothing
constexpr int64_t kExpireEveryMs = 300'000;
constexpr uint64_t kRegistryCheckMs = 50;  // how soon acknowledged offsets reach the registry
constexpr int64_t kAckWriteMinMs = 5;      // registry writes on acknowledgement, at most every

std::string dirOf(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

std::string baseOf(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

int64_t wallNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string rotatedKey(const std::string& path, const FileIdentity& id) {
  return fmt::format("file:{}#rotated:{}:{}", path, id.device, id.inode);
}

}  // namespace

LogsSource::Options LogsSource::optionsFrom(const LoadedConfig& loaded,
                                            std::vector<ConfigMessage>& errors) {
  const Config& c = loaded.config;
  Options o;
  o.hostname = c.hostname;
  o.global_tags = c.tags;
  if (!c.env.empty()) {
    o.global_tags.push_back(fmt::format("env:{}", c.env));
  }
  o.run_path = c.run_path;
  std::vector<ConfigMessage> warnings;
  o.sources = parseLogSources(loaded.confd, errors, warnings);
  o.global_rules = parseGlobalRules(c.logs_config.processing_rules, errors);
  for (const auto& w : warnings) {
    LOG_WARN("logs", "{}", w.format());
  }
  o.scan_period_ms = static_cast<int64_t>(c.logs_config.file_scan_period * 1000);
  o.open_files_limit = static_cast<size_t>(c.logs_config.open_files_limit);
  o.close_timeout_ms = c.logs_config.close_timeout * 1000;
  o.max_message_size = static_cast<size_t>(c.logs_config.max_message_size_bytes);
  o.batch_max_size = static_cast<size_t>(c.logs_config.batch_max_size);
  o.batch_max_content_size = static_cast<size_t>(c.logs_config.batch_max_content_size);
  o.batch_wait_ms = static_cast<int64_t>(c.logs_config.batch_wait * 1000);
  o.auto_multi_line = c.logs_config.auto_multi_line_detection;
  o.aggregation_timeout_ms = c.logs_config.aggregation_timeout;
  o.frame_size = static_cast<size_t>(c.logs_config.frame_size);
  // Half the forwarder's per-endpoint budget: then the forwarder never answers "queue full"
  // in normal operation (that would park the batches for a retry timer while the core idles);
  // acknowledgements alone pace the reading.
  o.max_inflight_bytes =
      std::clamp<uint64_t>(static_cast<uint64_t>(c.forwarder_retry_queue_payloads_max_size) / 2,
                           1ull << 20, 32ull << 20);
  return o;
}

LogsSource::LogsSource(uv_loop_t* loop, Telemetry& telemetry, Options options, Forwarder* forwarder)
    : loop_(loop),
      telemetry_(telemetry),
      options_(std::move(options)),
      forwarder_(forwarder),
      registry_(options_.run_path + "/registry.json"),
      lines_(telemetry.counter("outpost.logs.lines", {}, "log lines read (all sources)")),
      bytes_(telemetry.counter("outpost.logs.bytes_read", {}, "bytes read from log files")),
      dropped_by_rule_(telemetry.counter("outpost.logs.dropped", {"reason:rule"},
                                         "log messages dropped by a processing rule")),
      rotations_counter_(
          telemetry.counter("outpost.logs.rotations", {}, "file rotations and truncations seen")),
      local_dropped_(telemetry.counter("outpost.logs.local_dropped", {},
                                       "messages not forwarded: local mode (no API key)")),
      files_gauge_(telemetry.gauge("outpost.logs.files", {}, "log files being tailed")) {}

LogsSource::~LogsSource() = default;

int64_t LogsSource::nowMs() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<const LogOrigin> LogsSource::originFor(const LogSourceConfig& c,
                                                       const std::string& path) {
  auto o = std::make_shared<LogOrigin>();
  o->service = c.service;
  o->source = c.source;
  o->path = path;
  std::vector<std::string> tags = c.tags;
  if (!c.sourcecategory.empty()) {
    tags.push_back(fmt::format("sourcecategory:{}", c.sourcecategory));
  }
  if (!path.empty()) {
    tags.push_back(fmt::format("filename:{}", baseOf(path)));
    tags.push_back(fmt::format("dirname:{}", dirOf(path)));
  }
  tags.insert(tags.end(), options_.global_tags.begin(), options_.global_tags.end());
  for (const auto& t : tags) {
    if (t.empty()) {
      continue;
    }
    if (!o->tags.empty()) {
      o->tags.push_back(',');
    }
    o->tags += t;
  }
  return o;
}

// The global rules, then the source's, compiled; nullptr (the error logged and kept for the
// status) when a pattern does not compile.
std::shared_ptr<const ProcessingRules> LogsSource::compileRules(const LogSourceConfig& c) {
  std::vector<RuleConfig> rules = options_.global_rules;
  rules.insert(rules.end(), c.rules.begin(), c.rules.end());
  std::string error;
  auto compiled = ProcessingRules::compile(rules, &error);
  if (!compiled) {
    errors_.push_back(error);
    LOG_ERROR("logs", "{}:{}: {}", c.file, c.line, error);
    return nullptr;
  }
  return std::make_shared<const ProcessingRules>(std::move(*compiled));
}

void LogsSource::buildSources() {
  for (const auto& c : options_.sources) {
    auto rules = compileRules(c);
    if (!rules) {
      continue;
    }
    FileSource fs;
    fs.config = c;
    fs.rules = std::move(rules);
    fs.tailer_options.encoding = c.encoding;
    fs.tailer_options.max_message_size = options_.max_message_size;
    if (auto p = fs.rules->multiLinePattern()) {
      fs.tailer_options.multi_line_pattern = *p;
    }
    fs.tailer_options.auto_multi_line =
        c.auto_multi_line_detection.value_or(options_.auto_multi_line);
    fs.tailer_options.multi_line_timeout_ms = options_.aggregation_timeout_ms;
    fs.tailer_options.close_timeout_ms = options_.close_timeout_ms;
    file_sources_.push_back(std::move(fs));
  }
}

bool LogsSource::start() {
  std::string error;
  std::error_code ec;
  std::filesystem::create_directories(options_.run_path, ec);
  if (!registry_.load(&error)) {
    LOG_WARN("logs", "registry: {} (starting without saved offsets)", error);
  }
  LogBatcher::Options bo;
  bo.max_entries = options_.batch_max_size;
  bo.max_content_size = options_.batch_max_content_size;
  bo.wait_ms = options_.batch_wait_ms;
  bo.hostname = options_.hostname;
  bo.agent_version = kDatadogAgentCompatVersion;
  bo.max_inflight_bytes = options_.max_inflight_bytes;
  LogBatcher::Submit submit;
  if (forwarder_ != nullptr) {
    // After each acknowledgement the registry is written at once (atomically, synced every
    // registry_flush_ms): a killed process re-sends at most the batch in flight.
    submit = [this](Payload&& p, OnAck ack) {
      return forwarder_->submit(std::move(p), [this, ack = std::move(ack)](const AckResult& r) {
        if (ack) {
          ack(r);
        }
        // At most every few ms: with many files a registry write is not free.
        if (!stopping_ && nowMs() - last_ack_write_ms_ >= kAckWriteMinMs) {
          last_ack_write_ms_ = nowMs();
          writeRegistry();
        }
      });
    };
  } else {
    LOG_INFO("logs", "local mode (no api_key): log lines are read and counted, not forwarded");
    submit = [this](Payload&& p, OnAck ack) {
      (void)p;
      local_dropped_.inc();
      if (ack) {
        AckResult r;
        r.delivered = true;
        ack(r);
      }
      return Forwarder::SubmitResult::kAccepted;
    };
  }
  batcher_ = std::make_unique<LogBatcher>(loop_, telemetry_, tracker_, bo, std::move(submit),
                                          [this] { return nowMs(); });
  batcher_->setOnWritable([this] {
    if (drainOverflow()) {
      schedulePump();
    }
  });
  pump_timer_ = std::make_unique<Timer>(loop_, [this] {
    pump_scheduled_ = false;
    pump();
  });
  scan_timer_ = std::make_unique<Timer>(loop_, [this] { scanFiles(false); });
  housekeeping_timer_ = std::make_unique<Timer>(loop_, [this] { housekeeping(); });
  registry_timer_ = std::make_unique<Timer>(loop_, [this] { writeRegistry(); });
  registry_io_ = std::make_unique<WorkerPool>(loop_, 1, 4, telemetry_);
  buildSources();
  restoreRotated();
  scanFiles(true);
  startInputs();
  scan_timer_->start(static_cast<uint64_t>(std::max<int64_t>(options_.scan_period_ms, 100)),
                     static_cast<uint64_t>(std::max<int64_t>(options_.scan_period_ms, 100)));
  housekeeping_timer_->start(kHousekeepingMs, kHousekeepingMs);
  registry_timer_->start(kRegistryCheckMs, kRegistryCheckMs);
  schedulePump();
  LOG_INFO("logs",
           "started: {} file source(s), {} file(s) tailed, {} network input(s), {} "
           "journal(s)",
           file_sources_.size(), tailed_.size(), network_inputs_.size(), journals_.size());
  return true;
}

void LogsSource::startInputs() {
  for (const auto& c : options_.sources) {
    if (c.type == "tcp" || c.type == "udp") {
      NetworkLogInput::Options no;
      no.protocol =
          c.type == "tcp" ? NetworkLogInput::Protocol::kTcp : NetworkLogInput::Protocol::kUdp;
      no.bind_host = c.bind_host;
      no.port = c.port;
      no.frame_size = options_.frame_size;
      no.name = fmt::format("{}:{}", c.type, c.port);
      auto shared_rules = compileRules(c);
      if (!shared_rules) {
        continue;
      }
      std::string error;
      auto origin = originFor(c, "");
      auto input = std::make_unique<NetworkLogInput>(
          loop_, telemetry_, no,
          [this, origin, shared_rules](std::string_view line, std::string_view) {
            LogMessage m;
            m.timestamp_ms = nowMs();
            m.origin = origin;
            m.content.assign(line);
            if (!shared_rules->empty() && !shared_rules->apply(m.content, false)) {
              dropped_by_rule_.inc();
              return;
            }
            lines_.inc();
            sink(std::move(m));
          });
      if (!input->start(&error)) {
        errors_.push_back(error);
        LOG_ERROR("logs", "{}:{}: {} input: {}", c.file, c.line, c.type, error);
        continue;
      }
      network_inputs_.push_back(std::move(input));
    } else if (c.type == "journald") {
      auto j = std::make_unique<Journal>();
      j->rules = compileRules(c);
      if (!j->rules) {
        continue;
      }
      std::string error;
      j->origin = originFor(c, "");
      j->key = fmt::format("journald:{}", c.path.empty() ? "default" : c.path);
      JournaldInput::Options jo;
      jo.path = c.path;
      jo.include_units = c.include_units;
      jo.exclude_units = c.exclude_units;
      const RegistryEntry* saved = registry_.find(j->key);
      const bool force = c.start_position == StartPosition::kForceBeginning ||
                         c.start_position == StartPosition::kForceEnd;
      if (saved != nullptr && !saved->cursor.empty() && !force) {
        jo.cursor = saved->cursor;
        j->committed_cursor = saved->cursor;
      }
      jo.start_at_beginning = c.start_position == StartPosition::kBeginning ||
                              c.start_position == StartPosition::kForceBeginning;
      j->stream = tracker_.open(j->key, 0);
      Journal* jp = j.get();
      j->input = std::make_unique<JournaldInput>(
          loop_, telemetry_, jo, [this, jp](JournaldInput::Entry&& e) {
            if (!overflow_.empty() || stopping_) {
              return false;  // push back: re-delivered after resume()
            }
            LogMessage m;
            m.timestamp_ms = e.timestamp_us > 0 ? e.timestamp_us / 1000 : nowMs();
            m.origin = jp->origin;
            m.status = e.status;
            m.content = std::move(e.message);
            m.stream = jp->stream;
            m.end_offset = ++jp->seq;
            jp->cursors.emplace_back(jp->seq, std::move(e.cursor));
            lines_.inc();
            if (!jp->rules->empty() && !jp->rules->apply(m.content, false)) {
              dropped_by_rule_.inc();
              m.content.clear();
              m.marker_only = true;
            }
            sink(std::move(m));
            return true;
          });
      if (!j->input->start(&error)) {
        errors_.push_back(error);
        LOG_ERROR("logs", "{}:{}: journald input: {}", c.file, c.line, error);
        continue;
      }
      journals_.push_back(std::move(j));
    }
  }
}

// Entries of files renamed by a rotation that we had not finished: find each by its identity
// among the siblings of its old path and finish it from the saved offset.
void LogsSource::restoreRotated() {
  std::vector<std::pair<std::string, RegistryEntry>> rotated;
  registry_.forEach([&](const std::string& key, const RegistryEntry& e) {
    if (key.starts_with("file:") && key.find("#rotated:") != std::string::npos &&
        e.identity.has_value()) {
      rotated.emplace_back(key, e);
    }
  });
  for (const auto& [key, e] : rotated) {
    // The key names the path the file was tailed under; the entry, where it was last seen.
    const std::string original = key.substr(5, key.find("#rotated:") - 5);
    size_t source = file_sources_.size();
    for (size_t i = 0; i < file_sources_.size(); ++i) {
      if (file_sources_[i].config.type == "file" &&
          ::fnmatch(file_sources_[i].config.path.c_str(), original.c_str(), FNM_PATHNAME) == 0) {
        source = i;
        break;
      }
    }
    std::string found;
    if (source < file_sources_.size()) {
      if (!e.path.empty() && e.path != original && sameFile(e.path, *e.identity)) {
        found = e.path;  // still where we last read it
      } else {
        findCopy(original, *e.identity, e.offset, &found);
      }
    }
    if (!found.empty() && isTailedPath(found)) {
      continue;
    }
    if (!found.empty()) {
      const int fd = ::open(found.c_str(), O_RDONLY | O_CLOEXEC);
      FileIdentity id;
      std::string error;
      if (fd >= 0 && identify(fd, &id, &error)) {
        LOG_INFO("logs", "finishing {} (rotated, not finished before the stop) from offset {}",
                 found, e.offset);
        openTailer(found, fd, id, e.offset, source, key, true);
        continue;
      }
      if (fd >= 0) {
        ::close(fd);
      }
    }
    LOG_WARN("logs", "rotated file {} (offset {}) not found any more: forgotten", e.path, e.offset);
    registry_.erase(key);
  }
}

bool LogsSource::isTailedPath(const std::string& path, bool active_only) const {
  for (const auto& t : tailed_) {
    if (t->tailer && t->tailer->path() == path && !(active_only && t->draining)) {
      return true;
    }
  }
  return false;
}

// Forgets tailers that were closed, and every pointer to them.
void LogsSource::eraseClosed() {
  for (const auto& t : tailed_) {
    if (!t->tailer) {
      std::erase_if(predecessors_, [&](const auto& p) { return p.second == t.get(); });
      for (auto& other : tailed_) {
        if (other->waits_for == t.get()) {
          other->waits_for = nullptr;
        }
      }
    }
  }
  std::erase_if(tailed_, [](const std::unique_ptr<Tailed>& t) { return !t->tailer; });
}

LogsSource::SiblingMark LogsSource::markOf(const struct stat& st) {
  return {static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
          static_cast<int64_t>(st.st_size)};
}

bool LogsSource::knownAtOpen(const Tailed& t, const struct stat& st) {
  const SiblingMark m = markOf(st);
  return std::find(t.siblings_at_open.begin(), t.siblings_at_open.end(), m) !=
         t.siblings_at_open.end();
}

void LogsSource::rememberSiblings(Tailed& t) {
  t.siblings_at_open.clear();
  if (!t.tailer || t.draining || t.tailer->identity().fingerprint_len != 0) {
    return;  // only a file opened empty looks for copies (adoptMissedCopies)
  }
  for (const auto& c : rotatedSiblings(t.tailer->path())) {
    struct stat st {};
    if (!c.compressed && ::stat(c.path.c_str(), &st) == 0) {
      t.siblings_at_open.push_back(markOf(st));
    }
  }
}

// A file whose first bytes are the ones `id` fingerprinted and at least min_size long: the
// path itself (renamed in place is not a copy), or a rotated sibling (renamed or copied).
const std::string* LogsSource::findCopy(const std::string& path, const FileIdentity& id,
                                        uint64_t min_size, std::string* out,
                                        const Tailed* new_since) {
  for (const auto& candidate : rotatedSiblings(path)) {
    if (candidate.compressed) {
      continue;
    }
    const int fd = ::open(candidate.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    FileIdentity cid;
    std::string error;
    struct stat st {};
    const bool ok = identify(fd, &cid, &error) && ::fstat(fd, &st) == 0;
    const bool prefix = ok && samePrefix(fd, id);
    ::close(fd);
    if (!ok || static_cast<uint64_t>(st.st_size) < min_size) {
      continue;
    }
    if (isTailed(cid)) {
      continue;  // a rotation we saw happen
    }
    const bool same_inode = cid.device == id.device && cid.inode == id.inode;
    // Renamed: the same inode (and the same first bytes when we had any); copied: the same
    // first bytes under another inode. A file we had not fingerprinted yet (it was empty when
    // we looked) can only be recognised as a copy written since we opened it.
    const bool fresh_copy = id.fingerprint_len == 0 && new_since != nullptr && min_size > 0 &&
                            !knownAtOpen(*new_since, st);
    if ((same_inode && (id.fingerprint_len == 0 || prefix)) || prefix || fresh_copy) {
      *out = candidate.path;
      return out;
    }
  }
  return nullptr;
}

// A file opened empty (nothing fingerprinted) that now has data: if it was copied and truncated
// before we read it (copytruncate with the writer ahead of us), the copy is a rotated sibling
// written since we opened the file. Such copies are read first, oldest first. Returns the
// file's size when it looked: the caller reads no further until the file is fingerprinted (data
// written after the look could follow a copy the look did not see yet); kNoLimit for a file
// already fingerprinted.
uint64_t LogsSource::adoptMissedCopies(Tailed& t) {
  if (!t.tailer || t.draining || t.tailer->identity().fingerprint_len != 0) {
    return kNoLimit;
  }
  const uint64_t size = t.tailer->fileSize();
  if (size == 0) {
    return 0;
  }
  auto siblings = rotatedSiblings(t.tailer->path());
  std::sort(siblings.begin(), siblings.end(),
            [](const auto& a, const auto& b) { return a.mtime_ns < b.mtime_ns; });
  for (const auto& c : siblings) {
    if (c.compressed) {
      continue;
    }
    const int cfd = ::open(c.path.c_str(), O_RDONLY | O_CLOEXEC);
    FileIdentity cid;
    std::string error;
    struct stat st {};
    // Holding the file's own first bytes, it is a copy not truncated yet (copytruncate between
    // its copy and its truncate): the file is read as it is, and the truncation, once it comes,
    // finds the copy for what is left past our offset.
    if (cfd < 0 || ::fstat(cfd, &st) != 0 || st.st_size == 0 || knownAtOpen(t, st) ||
        !identify(cfd, &cid, &error) || isTailed(cid) ||
        sameLeadingBytes(cfd, t.tailer->fd(), kCopyCompareBytes)) {
      if (cfd >= 0) {
        ::close(cfd);
      }
      continue;
    }
    LOG_INFO("logs", "{}: {} was copied and truncated before it was read; reading the copy first",
             t.tailer->path(), c.path);
    ++rotations_;
    rotations_counter_.inc();
    Tailed* copy =
        openTailer(c.path, cfd, cid, 0, t.source, rotatedKey(t.tailer->path(), cid), true);
    copy->waits_for = t.waits_for;
    t.waits_for = copy;
  }
  return size;
}

bool LogsSource::isTailed(const FileIdentity& id) const {
  for (const auto& t : tailed_) {
    if (t->tailer && t->tailer->identity().device == id.device &&
        t->tailer->identity().inode == id.inode) {
      return true;
    }
  }
  return false;
}

LogsSource::Tailed* LogsSource::openTailer(const std::string& path, int fd, const FileIdentity& id,
                                           uint64_t offset, size_t source, std::string key,
                                           bool draining) {
  auto t = std::make_unique<Tailed>();
  const StreamId stream = tracker_.open(key, offset);
  t->tailer = std::make_unique<FileTailer>(
      path, fd, id, offset, stream, originFor(file_sources_[source].config, path),
      file_sources_[source].rules, file_sources_[source].tailer_options);
  t->source = source;
  t->key = std::move(key);
  t->draining = draining;
  rememberSiblings(*t);
  watchDirectory(dirOf(path));
  tailed_.push_back(std::move(t));
  files_gauge_.set(static_cast<int64_t>(tailed_.size()));
  return tailed_.back().get();
}

LogsSource::Tailed* LogsSource::openFile(const std::string& path, size_t source, bool startup) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::string error = fmt::format("open {}: {}", path, std::strerror(errno));
    if (std::find(errors_.begin(), errors_.end(), error) == errors_.end()) {
      LOG_WARN("logs", "{} (retried at every scan)", error);
      if (errors_.size() < 100) {
        errors_.push_back(std::move(error));
      }
    }
    return nullptr;
  }
  FileIdentity id;
  std::string error;
  struct stat st {};
  if (!identify(fd, &id, &error) || ::fstat(fd, &st) != 0) {
    ::close(fd);
    errors_.push_back(fmt::format("{}: {}", path, error));
    return nullptr;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const StartPosition mode = file_sources_[source].config.start_position;
  const std::string key = fmt::format("file:{}", path);
  uint64_t offset = 0;
  const RegistryEntry* saved = registry_.find(key);
  if (mode == StartPosition::kForceBeginning) {
    offset = 0;
  } else if (mode == StartPosition::kForceEnd) {
    offset = size;
  } else if (saved != nullptr) {
    if (!saved->identity.has_value()) {
      offset = saved->offset <= size ? saved->offset : 0;  // an Agent registry: path only
    } else if (sameFile(fd, *saved->identity)) {
      offset = saved->offset <= size ? saved->offset : 0;
    } else {
      // Rotated while we were stopped: finish the old file first (found by its identity),
      // then this one from its beginning.
      std::string found;
      if (findCopy(path, *saved->identity, saved->offset, &found) != nullptr) {
        const int old_fd = ::open(found.c_str(), O_RDONLY | O_CLOEXEC);
        FileIdentity old_id;
        if (old_fd >= 0 && identify(old_fd, &old_id, &error)) {
          LOG_INFO("logs", "{} was rotated while stopped: finishing {} from offset {}", path, found,
                   saved->offset);
          Tailed* old = openTailer(found, old_fd, old_id, saved->offset, source,
                                   rotatedKey(path, old_id), true);
          ++rotations_;
          rotations_counter_.inc();
          // Later rotations while stopped (siblings written after it) come next, then the
          // file now at the path.
          ::close(fd);
          registry_.erase(key);
          predecessors_[path] = old;
          return openSuccessor(path, source);
        }
        if (old_fd >= 0) {
          ::close(old_fd);
        }
      }
      LOG_WARN("logs",
               "{} was replaced while stopped and the file tailed before (offset {}) "
               "was not found among its rotated siblings: reading the new file from its "
               "beginning",
               path, saved->offset);
      offset = 0;
    }
  } else if (startup && (mode == StartPosition::kEnd)) {
    offset = size;
  } else {
    offset = 0;  // beginning, or a file that appeared after the start
  }
  return openTailer(path, fd, id, offset, source, key, false);
}

void LogsSource::scanFiles(bool startup) {
  if (stopping_) {
    return;
  }
  struct Candidate {
    std::string path;
    int64_t mtime_ns;
    size_t source;
  };
  std::vector<Candidate> candidates;
  std::set<std::string> seen;
  for (size_t i = 0; i < file_sources_.size(); ++i) {
    const auto& c = file_sources_[i].config;
    if (c.type != "file") {
      continue;
    }
    bool truncated = false;
    std::string error;
    auto matches = expandGlob(c.path, c.exclude_paths, 100'000, &truncated, &error);
    if (!error.empty()) {
      LOG_WARN("logs", "{}:{}: path {}: {}", c.file, c.line, c.path, error);
    }
    for (auto& m : matches) {
      if (seen.insert(m.path).second) {
        candidates.push_back(Candidate{std::move(m.path), m.mtime_ns, i});
      }
    }
  }
  // Over the limit: the most recently modified files win.
  not_tailed_.clear();
  if (candidates.size() > options_.open_files_limit) {
    std::sort(candidates.begin(), candidates.end(),
              [](const Candidate& a, const Candidate& b) { return a.mtime_ns > b.mtime_ns; });
    for (size_t i = options_.open_files_limit; i < candidates.size(); ++i) {
      not_tailed_.push_back(candidates[i].path);
    }
    candidates.resize(options_.open_files_limit);
    if (not_tailed_.size() != last_not_tailed_) {
      LOG_WARN("logs",
               "{} file(s) match the log sources but are not tailed: open_files_limit is "
               "{} (the most recently modified are tailed)",
               not_tailed_.size(), options_.open_files_limit);
    }
  }
  last_not_tailed_ = not_tailed_.size();
  std::set<std::string> wanted;
  for (const auto& c : candidates) {
    wanted.insert(c.path);
  }
  // Active tailers: rotation checks; files gone from the set are finished or closed.
  for (size_t i = 0, n = tailed_.size(); i < n; ++i) {
    const auto& t = tailed_[i];
    if (!t->tailer || t->draining) {
      continue;
    }
    checkRotation(*t);
    if (t->tailer && !t->draining && wanted.count(t->tailer->path()) == 0) {
      struct stat st {};
      if (::stat(t->tailer->path().c_str(), &st) != 0) {
        startDraining(*t, "disappeared");  // deleted: finish what it holds
      } else {
        closeTailer(*t);  // pushed out by open_files_limit: the registry keeps its offset
      }
    }
  }
  eraseClosed();
  std::set<std::string> active;
  for (const auto& t : tailed_) {
    if (!t->draining) {
      active.insert(t->tailer->path());
    }
  }
  for (const auto& c : candidates) {
    if (active.count(c.path) == 0) {
      if (predecessors_.count(c.path) != 0) {
        openSuccessor(c.path, c.source);
      } else {
        openFile(c.path, c.source, startup);
      }
    }
  }
  files_gauge_.set(static_cast<int64_t>(tailed_.size()));
  schedulePump();
}

// The file at `t`'s path is gone (renamed away or deleted): `t` is finished from its
// descriptor under a key of its own, and the next file at the path waits for it.
void LogsSource::startDraining(Tailed& t, const char* why) {
  FileTailer& ft = *t.tailer;
  LOG_INFO("logs", "{} {}: finishing the old file from offset {}", ft.path(), why, ft.readOffset());
  ++rotations_;
  rotations_counter_.inc();
  t.draining = true;
  t.eof_seen = false;
  const std::string old_key = t.key;
  t.key = rotatedKey(ft.path(), ft.identity());
  registry_.erase(old_key);
  predecessors_[ft.path()] = &t;
}

// A new file at `path` after its predecessor was rotated away: rotated siblings written after
// the predecessor's last write (rotations that happened before we looked, the writer far
// ahead) are read first, oldest first, then the new file from its beginning.
LogsSource::Tailed* LogsSource::openSuccessor(const std::string& path, size_t source) {
  Tailed* previous = nullptr;
  if (auto it = predecessors_.find(path); it != predecessors_.end()) {
    previous = it->second;
    predecessors_.erase(it);
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (previous != nullptr && previous->tailer) {
    struct stat old_st {};
    if (::fstat(previous->tailer->fd(), &old_st) == 0) {
      const int64_t old_mtime =
          static_cast<int64_t>(old_st.st_mtim.tv_sec) * 1'000'000'000 + old_st.st_mtim.tv_nsec;
      auto siblings = rotatedSiblings(path);
      std::sort(siblings.begin(), siblings.end(),
                [](const auto& a, const auto& b) { return a.mtime_ns < b.mtime_ns; });
      for (const auto& c : siblings) {
        if (c.compressed || c.mtime_ns <= old_mtime) {
          continue;
        }
        const int cfd = ::open(c.path.c_str(), O_RDONLY | O_CLOEXEC);
        FileIdentity cid;
        std::string error;
        // A copy of the new file that was not truncated yet is no missed rotation (see
        // adoptMissedCopies).
        if (cfd < 0 || !identify(cfd, &cid, &error) || isTailed(cid) ||
            (fd >= 0 && sameLeadingBytes(cfd, fd, kCopyCompareBytes))) {
          if (cfd >= 0) {
            ::close(cfd);
          }
          continue;
        }
        LOG_INFO("logs", "{}: {} was rotated before it was read; reading it next", path, c.path);
        Tailed* missed = openTailer(c.path, cfd, cid, 0, source, rotatedKey(path, cid), true);
        missed->waits_for = previous;
        previous = missed;
      }
    }
  }
  FileIdentity nid;
  std::string error;
  if (fd < 0 || !identify(fd, &nid, &error)) {
    if (fd >= 0) {
      ::close(fd);
    }
    return nullptr;
  }
  Tailed* fresh = openTailer(path, fd, nid, 0, source, fmt::format("file:{}", path), false);
  fresh->waits_for = previous;
  return fresh;
}

void LogsSource::checkRotation(Tailed& t) {
  FileTailer& ft = *t.tailer;
  // A shrink first: a file truncated and then renamed still has to be read from 0.
  if (ft.wasTruncated()) {
    handleTruncation(t);
    if (!t.tailer) {
      return;
    }
  }
  struct stat st {};
  if (::stat(t.tailer->path().c_str(), &st) != 0) {
    if (errno == ENOENT) {
      startDraining(t, "disappeared (rotated or deleted)");
    }
    return;
  }
  const FileIdentity& id = t.tailer->identity();
  if (static_cast<uint64_t>(st.st_dev) != id.device ||
      static_cast<uint64_t>(st.st_ino) != id.inode) {
    const std::string path = t.tailer->path();
    startDraining(t, "rotated (renamed away)");
    openSuccessor(path, t.source);
    return;
  }
  t.tailer->refreshIdentity();
}

void LogsSource::handleTruncation(Tailed& t) {
  FileTailer& ft = *t.tailer;
  const FileIdentity id = ft.identity();
  {
    LOG_INFO("logs", "{} truncated (copytruncate) at offset {}", ft.path(), ft.readOffset());
    // copytruncate: what we had not read yet is in the copy; finish it there, then start this
    // file again at 0 under a new stream (offsets restart).
    ++rotations_;
    rotations_counter_.inc();
    std::string found;
    const uint64_t resume = ft.emittedOffset();
    if (findCopy(ft.path(), id, std::max<uint64_t>(resume, 1), &found, &t) != nullptr) {
      const int fd = ::open(found.c_str(), O_RDONLY | O_CLOEXEC);
      FileIdentity cid;
      std::string error;
      if (fd >= 0 && identify(fd, &cid, &error)) {
        Tailed* copy =
            openTailer(found, fd, cid, resume, t.source, rotatedKey(ft.path(), cid), true);
        // The copy comes after whatever this file was waiting for, and before the rest of it.
        copy->waits_for = t.waits_for;
        t.waits_for = copy;
      } else if (fd >= 0) {
        ::close(fd);
      }
    }
    // The old stream's batches still resolve; the file starts over as a new stream.
    closing_.push_back(Closing{ft.stream(), tracker_.key(ft.stream()), "", resume});
    tracker_.close(ft.stream());
    const std::string path = ft.path();
    const int fd = ::dup(ft.fd());
    FileIdentity nid;
    std::string error;
    const size_t source = t.source;
    Tailed* waits = t.waits_for;
    const std::string key = t.key;
    t.tailer.reset();
    if (fd >= 0 && identify(fd, &nid, &error)) {
      const StreamId stream = tracker_.open(key, 0);
      t.tailer = std::make_unique<FileTailer>(
          path, fd, nid, 0, stream, originFor(file_sources_[source].config, path),
          file_sources_[source].rules, file_sources_[source].tailer_options);
      t.waits_for = waits;
      rememberSiblings(t);
    } else if (fd >= 0) {
      ::close(fd);
    }
  }
}

void LogsSource::closeTailer(Tailed& t) {
  if (!t.tailer) {
    return;
  }
  closing_.push_back(Closing{t.tailer->stream(), tracker_.key(t.tailer->stream()),
                             t.draining ? t.key : "", t.tailer->emittedOffset()});
  tracker_.close(t.tailer->stream());
  std::erase_if(predecessors_, [&](const auto& p) { return p.second == &t; });
  for (auto& other : tailed_) {
    if (other->waits_for == &t) {
      other->waits_for = nullptr;
    }
  }
  t.tailer.reset();
}

bool LogsSource::writable() const {
  return overflow_.empty() && !stopping_;
}

void LogsSource::sink(LogMessage&& m) {
  if (m.marker_only) {
    dropped_by_rule_.inc();
  } else if (observer_) {
    observer_(m);
  }
  if (!overflow_.empty() || !batcher_->push(std::move(m))) {
    overflow_.push(std::move(m));
    if (!inputs_paused_ && overflow_.size() > kOverflowPause) {
      inputs_paused_ = true;
      for (auto& in : network_inputs_) {
        in->pause();
      }
    }
  }
}

// Hands waiting messages to the batcher; true when everything went.
bool LogsSource::drainOverflow() {
  while (!overflow_.empty()) {
    if (!batcher_->push(std::move(overflow_.front()))) {
      return false;
    }
    overflow_.pop_front();
  }
  if (inputs_paused_) {
    inputs_paused_ = false;
    for (auto& in : network_inputs_) {
      in->resume();
    }
  }
  for (auto& j : journals_) {
    j->input->resume();
  }
  return true;
}

void LogsSource::schedulePump() {
  if (!pump_scheduled_ && pump_timer_ && !stopping_) {
    pump_scheduled_ = true;
    pump_timer_->start(0);
  }
}

void LogsSource::pump() {
  if (stopping_ || !drainOverflow()) {
    return;
  }
  const int64_t now = nowMs();
  size_t budget = kPumpBudget;
  bool more = false;
  const FileTailer::Sink sink_fn = [this](LogMessage&& m) { sink(std::move(m)); };
  for (size_t i = 0, n = tailed_.size(); i < n; ++i) {
    Tailed& t = *tailed_[i];
    uint64_t limit = kNoLimit;
    if (t.tailer && t.waits_for == nullptr) {
      limit = adoptMissedCopies(t);  // may make it wait for a copy
    }
    if (!t.tailer || t.waits_for != nullptr) {
      continue;
    }
    if (!overflow_.empty()) {
      break;  // the batcher pushes back: its writable callback schedules the next turn
    }
    if (budget == 0) {
      more = true;
      break;
    }
    const uint64_t room = batcher_->room();
    if (room == 0) {
      batcher_->waitForRoom();  // its writable callback schedules the next turn
      break;
    }
    const uint64_t before_lines = t.tailer->stats().lines;
    const uint64_t before_bytes = t.tailer->stats().bytes_read;
    size_t want = std::min(
        {budget, kReadPerFile, static_cast<size_t>(std::max<uint64_t>(room / 2, kMinRead))});
    if (limit != kNoLimit) {
      // Not read yet: only what was there when its siblings were looked at.
      const uint64_t offset = t.tailer->readOffset();
      if (limit <= offset) {
        continue;  // (its next write schedules the next turn)
      }
      want = static_cast<size_t>(std::min<uint64_t>(want, limit - offset));
    }
    const auto r = t.tailer->readSome(want, now, sink_fn);
    const uint64_t read = t.tailer->stats().bytes_read - before_bytes;
    lines_.inc(t.tailer->stats().lines - before_lines);
    bytes_.inc(read);
    budget -= std::min<size_t>(budget, read);
    if (r == FileTailer::ReadResult::kData && read >= want) {
      more = true;  // it may have more
    } else if (t.draining) {
      t.eof_seen = true;  // at its end (for now)
    }
  }
  // Finished predecessors release the files that wait for them.
  for (auto& t : tailed_) {
    if (t->waits_for != nullptr && t->waits_for->eof_seen) {
      t->waits_for = nullptr;
      more = true;
    }
  }
  if (more) {
    schedulePump();
  }
}

void LogsSource::housekeeping() {
  if (stopping_) {
    return;
  }
  const int64_t now = nowMs();
  const FileTailer::Sink sink_fn = [this](LogMessage&& m) { sink(std::move(m)); };
  bool poll = false;
  if (now - last_poll_ms_ >= kPollMs) {
    last_poll_ms_ = now;
    poll = true;
  }
  for (size_t i = 0, n = tailed_.size(); i < n; ++i) {
    const auto& t = tailed_[i];
    if (!t->tailer) {
      continue;
    }
    t->tailer->flushIdle(now, sink_fn);
    // A drained file with nothing new for close_timeout (or whose successor took over and
    // which reached its end) is finished.
    if (t->draining && t->eof_seen && now - t->tailer->lastDataMs() >= options_.close_timeout_ms) {
      t->tailer->flushAll(sink_fn);
      closeTailer(*t);
    }
  }
  eraseClosed();
  files_gauge_.set(static_cast<int64_t>(tailed_.size()));
  if (poll) {
    // Without inotify (or when it overflowed) this is how new data and rotations are seen.
    for (size_t i = 0, n = tailed_.size(); i < n; ++i) {
      Tailed& t = *tailed_[i];
      if (!t.draining && t.tailer) {
        checkRotation(t);
      }
    }
    schedulePump();
  }
}

void LogsSource::watchDirectory(const std::string& dir) {
  if (watchers_.count(dir) != 0) {
    return;
  }
  auto w = std::make_unique<FsWatcher>(
      loop_, [this, dir](const char* name, int events) { onFsEvent(dir, name, events); });
  std::string error;
  if (!w->start(dir, &error)) {
    LOG_DEBUG("logs", "cannot watch {}: {} (polling instead)", dir, error);
    watchers_[dir] = nullptr;
    return;
  }
  watchers_[dir] = std::move(w);
}

void LogsSource::onFsEvent(const std::string& dir, const char* name, int events) {
  if (stopping_) {
    return;
  }
  if ((events & UV_RENAME) != 0) {
    // Created, renamed or deleted: rotation checks for the file of that name now.
    const std::string path = fmt::format("{}/{}", dir == "/" ? "" : dir, name);
    for (size_t i = 0, n = tailed_.size(); i < n; ++i) {
      Tailed& t = *tailed_[i];
      if (t.tailer && !t.draining && t.tailer->path() == path) {
        checkRotation(t);
      }
    }
    // The new file of a path rotated a moment ago has appeared.
    if (auto it = predecessors_.find(path);
        it != predecessors_.end() && !isTailedPath(path, true)) {
      struct stat st {};
      if (::stat(path.c_str(), &st) == 0) {
        openSuccessor(path, it->second->source);
      }
    }
  } else {
    const std::string path = fmt::format("{}/{}", dir == "/" ? "" : dir, name);
    for (size_t i = 0, n = tailed_.size(); i < n; ++i) {
      Tailed& t = *tailed_[i];
      if (t.tailer && !t.draining && t.tailer->path() == path) {
        if (t.tailer->wasTruncated()) {
          checkRotation(t);
        } else {
          adoptMissedCopies(t);
          t.tailer->refreshIdentity();  // cheap until 1 KiB is fingerprinted
        }
        break;
      }
    }
  }
  schedulePump();
}

void LogsSource::writeRegistry() {
  const int64_t now_ns = wallNs();
  for (auto& t : tailed_) {
    if (!t->tailer) {
      continue;
    }
    // Only what moved is rebuilt: with hundreds of files this runs every few milliseconds.
    const uint64_t offset = tracker_.committed(t->tailer->stream());
    const RegistryEntry* old = registry_.find(t->key);
    if (old != nullptr && old->offset == offset && old->identity == t->tailer->identity()) {
      continue;
    }
    RegistryEntry e;
    e.offset = offset;
    e.tailing_mode = std::string(startPositionName(file_sources_[t->source].config.start_position));
    e.last_updated_ns = now_ns;
    e.ingestion_ns = now_ns;
    e.identity = t->tailer->identity();
    e.path = t->tailer->path();
    registry_.set(t->key, std::move(e));
  }
  // Closed streams: once everything they sent is resolved (or the tracker forgot them), a
  // finished rotated file's entry goes.
  std::erase_if(closing_, [&](const Closing& c) {
    const bool known = tracker_.key(c.stream) == c.tracker_key;
    if (known && tracker_.committed(c.stream) < c.final_offset) {
      return false;
    }
    if (!c.key.empty()) {
      registry_.erase(c.key);
    }
    return true;
  });
  tracker_.drainChanges([](const std::string&, uint64_t) {});  // lets closed streams go
  for (auto& j : journals_) {
    const uint64_t seq = tracker_.committed(j->stream);
    while (!j->cursors.empty() && j->cursors.front().first <= seq) {
      j->committed_cursor = std::move(j->cursors.front().second);
      j->cursors.pop_front();
    }
    if (!j->committed_cursor.empty()) {
      const RegistryEntry* old = registry_.find(j->key);
      if (old == nullptr || old->cursor != j->committed_cursor) {
        RegistryEntry e;
        e.cursor = j->committed_cursor;
        e.last_updated_ns = now_ns;
        e.ingestion_ns = now_ns;
        e.tailing_mode = "end";
        registry_.set(j->key, std::move(e));
      }
    }
  }
  const int64_t now = nowMs();
  if (now - last_expire_ms_ >= kExpireEveryMs) {
    last_expire_ms_ = now;
    std::set<std::string> in_use;
    for (const auto& t : tailed_) {
      in_use.insert(t->key);
    }
    registry_.expire(now_ns, options_.registry_ttl_s,
                     [&](const std::string& key) { return in_use.count(key) != 0; });
  }
  if (registry_.dirty()) {
    // Written as soon as offsets move (a killed process re-sends little), synced to disk at
    // most every registry_flush_ms and at stop.
    saveRegistry(stopping_ || now - last_durable_ms_ >= options_.registry_flush_ms);
  }
}

// The file is written on registry_io_, never on the loop: a rename over the old file makes the
// filesystem flush the new one and an fsync waits for the journal, which stalled the loop (and
// the whole pipeline) for up to tens of milliseconds each time. One write at a time; what
// changes meanwhile is written by the next, which takes the newest state.
void LogsSource::saveRegistry(bool durable) {
  if (registry_writing_) {
    registry_again_ = true;
    registry_again_durable_ = registry_again_durable_ || durable;
    return;
  }
  std::string error;
  auto text = std::make_shared<std::string>();
  if (!registry_.snapshot(text.get(), &error)) {
    registryError(error);
    return;
  }
  auto result = std::make_shared<std::string>();  // the error; empty: written
  auto written = std::make_shared<bool>(false);
  const std::string path = registry_.path();
  const bool submitted =
      registry_io_ && registry_io_->submit(
                          [path, text, durable, result, written] {
                            *written = Registry::writeFile(path, *text, durable, result.get());
                          },
                          [this, durable, result, written] {
                            registry_writing_ = false;
                            registryWritten(*written, durable, *result);
                          });
  if (!submitted) {
    *written = Registry::writeFile(path, *text, durable, result.get());
    registryWritten(*written, durable, *result);
    return;
  }
  registry_writing_ = true;
}

void LogsSource::registryWritten(bool ok, bool durable, const std::string& error) {
  if (!ok) {
    registry_.markDirty();
    registryError(error);
  } else {
    registry_synced_ = durable;
    if (durable) {
      last_durable_ms_ = nowMs();
    }
  }
  if (registry_flushed_ && ok && !registry_synced_) {
    registry_.markDirty();  // stopping: the last write must be durable
    registry_again_ = true;
  }
  if (registry_again_) {
    const bool again_durable = registry_again_durable_ || !ok;
    registry_again_ = false;
    registry_again_durable_ = false;
    if (registry_.dirty()) {
      saveRegistry(again_durable || stopping_);
      return;
    }
  }
  if (!registry_writing_ && registry_flushed_) {
    auto cb = std::move(registry_flushed_);
    registry_flushed_ = nullptr;
    cb();
  }
}

void LogsSource::registryError(const std::string& error) {
  const int64_t now = nowMs();
  if (now - last_registry_error_ms_ >= 60'000) {
    last_registry_error_ms_ = now;
    LOG_WARN("logs", "registry: {}", error);
  }
}

void LogsSource::scanNow() {
  scanFiles(false);
}

void LogsSource::stop(std::function<void()> done) {
  stopping_ = true;
  stop_done_ = std::move(done);
  if (scan_timer_) {
    scan_timer_->stop();
    housekeeping_timer_->stop();
    pump_timer_->stop();
  }
  watchers_.clear();
  for (auto& j : journals_) {
    j->input->stop();
  }
  size_t pending_inputs = network_inputs_.size();
  auto after_inputs = [this] {
    if (batcher_) {
      batcher_->stop();  // cuts and submits the open batch
    }
    // Wait (bounded) for the acknowledgements so their offsets reach the registry.
    stop_waited_ms_ = 0;
    stop_timer_ = std::make_unique<Timer>(loop_, [this] {
      stop_waited_ms_ += 50;
      if ((batcher_ && !batcher_->idle()) && stop_waited_ms_ < options_.stop_wait_ms) {
        return;
      }
      stop_timer_->stop();
      finishStop();
    });
    stop_timer_->start(0, 50);
  };
  if (pending_inputs == 0) {
    after_inputs();
    return;
  }
  auto remaining = std::make_shared<size_t>(pending_inputs);
  for (auto& in : network_inputs_) {
    in->stop([remaining, after_inputs] {
      if (--*remaining == 0) {
        after_inputs();
      }
    });
  }
}

void LogsSource::finishStop() {
  if (registry_timer_) {
    registry_timer_->stop();
  }
  // The last write is durable; the stop completes once it (and any write before it) is done.
  registry_flushed_ = [this] { stopDone(); };
  if (!registry_synced_) {
    registry_.markDirty();
  }
  writeRegistry();
  if (!registry_writing_ && registry_flushed_) {
    registry_flushed_ = nullptr;
    stopDone();
  }
}

void LogsSource::stopDone() {
  LOG_INFO("logs", "stopped; registry saved with {} entr{}", registry_.size(),
           registry_.size() == 1 ? "y" : "ies");
  if (stop_done_) {
    auto done = std::move(stop_done_);
    done();
  }
}

LogsSource::Status LogsSource::status() const {
  Status s;
  for (const auto& t : tailed_) {
    if (!t->tailer) {
      continue;
    }
    FileStatus f;
    f.path = t->tailer->path();
    f.source = file_sources_[t->source].config.integration;
    f.draining = t->draining;
    f.offset_read = t->tailer->readOffset();
    f.offset_committed = tracker_.committed(t->tailer->stream());
    f.size = t->tailer->fileSize();
    f.stats = t->tailer->stats();
    s.files.push_back(std::move(f));
  }
  s.not_tailed = not_tailed_;
  s.errors = errors_;
  s.rotations = rotations_;
  return s;
}

void LogsSource::resources(Resources& out) const {
  if (batcher_) {
    out.push_back({.name = "logs.inflight",
                   .unit = "bytes",
                   .used = batcher_->inflightBytes(),
                   .limit = options_.max_inflight_bytes,
                   .key = "forwarder_retry_queue_payloads_max_size",
                   .note = "half of it, 1-32 MiB; past it reading pauses until the intake "
                           "acknowledges (files wait on disk); the batch being cut may pass it",
                   .full_is_normal = true,  // back-pressure: nothing is lost
                   .slack = options_.batch_max_content_size});
  }
  size_t active = 0;
  for (const auto& t : tailed_) {
    active += t->tailer && !t->draining ? 1 : 0;
  }
  out.push_back({.name = "logs.open_files",
                 .unit = "files",
                 .used = active,
                 .limit = options_.open_files_limit,
                 .key = "logs_config.open_files_limit",
                 .note = "past it the most recently modified are tailed, the rest listed",
                 .full_is_normal = true});  // (files left out are a warning of their own)
}

}  // namespace outpost::logs
