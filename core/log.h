#pragma once

#include <fmt/format.h>
#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace outpost {

// Levels and names as the Datadog Agent's `log_level` accepts them.
enum class LogLevel : int { kTrace = 0, kDebug, kInfo, kWarn, kError, kCritical, kOff };

std::optional<LogLevel> parseLogLevel(std::string_view name);  // case-insensitive
std::string_view logLevelName(LogLevel level);

// Process-wide leveled logger writing one line per message to a file descriptor (stderr by
// default). Thread-safe: each line is a single write(2). When stderr is connected to journald
// (JOURNAL_STREAM matches), lines carry a `<N>` syslog priority prefix instead of a timestamp.
class Logger {
 public:
  static Logger& instance();

  void setLevel(LogLevel level) { level_.store(static_cast<int>(level)); }
  LogLevel level() const { return static_cast<LogLevel>(level_.load()); }
  bool enabled(LogLevel level) const { return static_cast<int>(level) >= level_.load(); }

  // Redirects output (tests). The fd is not owned.
  void setFd(int fd);
  void setJournalFormat(bool on) { journal_ = on; }

  void write(LogLevel level, std::string_view component, std::string_view message);

 private:
  Logger();
  std::atomic<int> level_{static_cast<int>(LogLevel::kInfo)};
  std::atomic<int> fd_{2};
  bool journal_ = false;
};

template <class... Args>
void logAt(LogLevel level, std::string_view component, fmt::format_string<Args...> format,
           Args&&... args) {
  Logger& logger = Logger::instance();
  if (!logger.enabled(level)) {
    return;
  }
  logger.write(level, component, fmt::format(format, std::forward<Args>(args)...));
}

#define OUTPOST_LOG(level, component, ...) ::outpost::logAt(level, component, __VA_ARGS__)
#define LOG_TRACE(component, ...) OUTPOST_LOG(::outpost::LogLevel::kTrace, component, __VA_ARGS__)
#define LOG_DEBUG(component, ...) OUTPOST_LOG(::outpost::LogLevel::kDebug, component, __VA_ARGS__)
#define LOG_INFO(component, ...) OUTPOST_LOG(::outpost::LogLevel::kInfo, component, __VA_ARGS__)
#define LOG_WARN(component, ...) OUTPOST_LOG(::outpost::LogLevel::kWarn, component, __VA_ARGS__)
#define LOG_ERROR(component, ...) OUTPOST_LOG(::outpost::LogLevel::kError, component, __VA_ARGS__)

}  // namespace outpost
