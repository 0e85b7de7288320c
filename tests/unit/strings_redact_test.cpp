#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include "core/hash.h"
#include "core/log.h"
#include "core/redact.h"
#include "core/strings.h"

namespace outpost {
namespace {

// hashBytes128 reads the last 1-7 bytes by overlapping loads: every byte of every length still
// changes both lanes, the value depends on the bytes only (not where they are), and a string and
// its prefixes differ.
TEST(HashTest, EveryByteOfEveryShortLengthCounts) {
  std::string bytes;
  for (int i = 0; i < 48; ++i) {
    bytes.push_back(static_cast<char>(i * 37 + 11));
  }
  for (size_t n = 0; n <= 40; ++n) {
    const std::string s = bytes.substr(0, n);
    const Hash128 h = hashBytes128(s);
    const std::string elsewhere = "xyz" + s;
    EXPECT_EQ(hashBytes128(std::string_view(elsewhere).substr(3)), h) << n;
    if (n > 0) {
      EXPECT_NE(hashBytes128(std::string_view(s).substr(0, n - 1)), h) << n;
    }
    for (size_t at = 0; at < n; ++at) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string t = s;
        t[at] = static_cast<char>(t[at] ^ (1 << bit));
        const Hash128 g = hashBytes128(t);
        EXPECT_NE(g.lo, h.lo) << n << " " << at << " " << bit;
        EXPECT_NE(g.hi, h.hi) << n << " " << at << " " << bit;
      }
    }
  }
}

TEST(StringsTest, SplitFieldsIgnoresRunsOfWhitespace) {
  EXPECT_EQ(splitFields("  a:b \t c:d\n"), (std::vector<std::string>{"a:b", "c:d"}));
  EXPECT_TRUE(splitFields("   ").empty());
}

TEST(StringsTest, EditDistance) {
  EXPECT_EQ(editDistance("log_level", "log_levle"), 2u);
  EXPECT_EQ(editDistance("", "abc"), 3u);
  EXPECT_EQ(editDistance("same", "same"), 0u);
}

TEST(StringsTest, EscapeBytesMakesUntrustedBytesSafeToLog) {
  EXPECT_EQ(escapeBytes(std::string("a\nb\x01\xff\\", 6)), "a\\x0ab\\x01\\xff\\\\");
  EXPECT_EQ(escapeBytes("abcdef", 3), "abc...");
}

TEST(RedactTest, SecretKeyNames) {
  for (const char* k : {"api_key", "APP_KEY", "db_key", "password", "db_password", "passwd",
                        "client_secret", "auth_token"}) {
    EXPECT_TRUE(isSecretKeyName(k)) << k;
  }
  for (const char* k : {"url", "host", "key_prefix", "service", "monkey"}) {
    EXPECT_FALSE(isSecretKeyName(k)) << k;
  }
}

TEST(RedactTest, UrlsKeepUserButNotPassword) {
  EXPECT_EQ(redactUrl("http://user:pw@proxy:3128"), "http://user:********@proxy:3128");
  EXPECT_EQ(redactUrl("https://token@host/path"), "https://********@host/path");
  EXPECT_EQ(redactUrl("http://proxy:3128"), "http://proxy:3128");
}

TEST(RedactTest, NodesAreRedactedDeeply) {
  YAML::Node n = YAML::Load("{a: {password: x, list: [{api_key: y, ok: z}]}, token: t}");
  YAML::Node r = redactNode(n);
  EXPECT_EQ(r["a"]["password"].as<std::string>(), "********");
  EXPECT_EQ(r["a"]["list"][0]["api_key"].as<std::string>(), "********");
  EXPECT_EQ(r["a"]["list"][0]["ok"].as<std::string>(), "z");
  EXPECT_EQ(r["token"].as<std::string>(), "********");
  EXPECT_EQ(n["a"]["password"].as<std::string>(), "x");  // the original is untouched
}

TEST(LogTest, LevelsParseCaseInsensitively) {
  EXPECT_EQ(parseLogLevel("DEBUG"), LogLevel::kDebug);
  EXPECT_EQ(parseLogLevel("warning"), LogLevel::kWarn);
  EXPECT_EQ(parseLogLevel("loud"), std::nullopt);
  EXPECT_EQ(logLevelName(LogLevel::kCritical), "critical");
}

}  // namespace
}  // namespace outpost

namespace outpost {
namespace {

// Captures what the process-wide logger writes, restoring stderr afterwards.
class LogCapture {
 public:
  LogCapture() {
    EXPECT_EQ(::pipe(fds_), 0);
    Logger::instance().setFd(fds_[1]);
  }
  ~LogCapture() {
    Logger::instance().setFd(2);
    Logger::instance().setJournalFormat(false);
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  std::string read() {
    char buf[4096];
    const ssize_t n = ::read(fds_[0], buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

 private:
  int fds_[2];
};

TEST(LogTest, OneMessageIsOneLineWithLevelAndComponent) {
  LogCapture capture;
  Logger::instance().setLevel(LogLevel::kInfo);
  LOG_DEBUG("test", "hidden {}", 1);
  LOG_WARN("test", "two\nlines {}", 2);
  const std::string line = capture.read();
  EXPECT_TRUE(line.ends_with(" UTC | OUTPOST | WARN | (test) | two\\nlines 2\n")) << line;
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
}

TEST(LogTest, JournaldLinesCarryTheSyslogPriority) {
  LogCapture capture;
  Logger::instance().setLevel(LogLevel::kInfo);
  Logger::instance().setJournalFormat(true);
  LOG_ERROR("test", "broken");
  EXPECT_EQ(capture.read(), "<3>ERROR | (test) | broken\n");
}

}  // namespace
}  // namespace outpost
