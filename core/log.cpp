#include "core/log.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <string>

#include "core/strings.h"

namespace outpost {
namespace {

constexpr std::string_view kNames[] = {"trace", "debug",    "info", "warn",
                                       "error", "critical", "off"};
constexpr std::string_view kUpperNames[] = {"TRACE", "DEBUG",    "INFO", "WARN",
                                            "ERROR", "CRITICAL", "OFF"};
// syslog priorities for journald's `<N>` prefix (sd-daemon.h).
constexpr int kSyslogPriority[] = {7, 7, 6, 4, 3, 2, 2};

// True when stderr is the journal stream systemd gave us (JOURNAL_STREAM=dev:inode).
bool stderrIsJournal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (stream == nullptr) {
    return false;
  }
  struct stat st {};
  if (fstat(2, &st) != 0) {
    return false;
  }
  unsigned long long dev = 0;
  unsigned long long ino = 0;
  if (std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2) {
    return false;
  }
  return st.st_dev == dev && st.st_ino == ino;
}

}  // namespace

std::optional<LogLevel> parseLogLevel(std::string_view name) {
  const std::string lower = toLower(name);
  for (size_t i = 0; i < std::size(kNames); ++i) {
    if (lower == kNames[i]) {
      return static_cast<LogLevel>(i);
    }
  }
  if (lower == "warning") {
    return LogLevel::kWarn;
  }
  return std::nullopt;
}

std::string_view logLevelName(LogLevel level) {
  return kNames[static_cast<int>(level)];
}

Logger& Logger::instance() {
  static Logger logger;
  return logger;
}

Logger::Logger() : journal_(stderrIsJournal()) {}

void Logger::setFd(int fd) {
  fd_.store(fd);
}

void Logger::write(LogLevel level, std::string_view component, std::string_view message) {
  const int index = static_cast<int>(level);
  std::string line;
  line.reserve(message.size() + 64);
  if (journal_) {
    line += fmt::format("<{}>{} | ({}) | ", kSyslogPriority[index], kUpperNames[index], component);
  } else {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    tm utc{};
    gmtime_r(&now.tv_sec, &utc);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &utc);
    line += fmt::format("{}.{:03d} UTC | OUTPOST | {} | ({}) | ", stamp, now.tv_nsec / 1000000,
                        kUpperNames[index], component);
  }
  // One message is one line: embedded newlines would split it in journald and in greps.
  for (char c : message) {
    if (c == '\n') {
      line += "\\n";
    } else {
      line += c;
    }
  }
  line += '\n';
  const int fd = fd_.load();
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(fd, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;  // Nowhere to report a failing log sink; drop the line.
    }
    off += static_cast<size_t>(n);
  }
}

}  // namespace outpost
