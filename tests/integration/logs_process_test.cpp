// The logs pipeline through a real `outpost run`: real files (rotated by rename and by
// copytruncate, written while outpost is killed with SIGKILL and restarted), tcp/udp inputs and a
// journal file, to the fake intake, which decodes and checks every request. Lines carry a
// writer-assigned sequence number so the test can count what is missing and what is repeated.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/fakeintake/fake_intake.h"
#include "tests/support/test_support.h"

namespace outpost {
namespace {

using namespace std::chrono_literals;
using fakeintake::FakeIntakeThread;
using testing::NotifySocket;
using testing::Process;
using testing::sendUdp;
using testing::TempDir;

constexpr const char* kApiKey = "0123456789abcdef0123456789abcdef";

// Everything the intake received on /api/v2/logs, read as it arrives.
class Received {
 public:
  explicit Received(FakeIntakeThread& intake) : intake_(intake) {}

  // Pulls new payloads; returns how many messages were added.
  size_t poll() {
    size_t added = 0;
    for (auto& p : intake_.store().take("/api/v2/logs")) {
      ++requests_;
      if (!p.valid) {
        invalid_.push_back(fmt(p));
        continue;
      }
      if (!p.accepted()) {
        continue;
      }
      for (const auto& item : p.decoded) {
        Message m;
        m.message = item.value("message", "");
        m.status = item.value("status", "");
        m.service = item.value("service", "");
        m.source = item.value("ddsource", "");
        m.tags = item.value("ddtags", "");
        m.hostname = item.value("hostname", "");
        messages_.push_back(std::move(m));
        ++added;
      }
    }
    return added;
  }

  // Polls until `pred` holds or `timeout` passes.
  template <class Pred>
  bool waitUntil(Pred pred, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      poll();
      if (pred()) {
        return true;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return false;
      }
      std::this_thread::sleep_for(50ms);  // polling another process's output
    }
  }

  struct Message {
    std::string message, status, service, source, tags, hostname;
  };
  const std::vector<Message>& messages() const { return messages_; }
  const std::vector<std::string>& invalid() const { return invalid_; }
  size_t requests() const { return requests_; }

 private:
  static std::string fmt(const fakeintake::Payload& p) {
    std::string s = p.route + ":";
    for (const auto& e : p.errors) {
      s += " " + e;
    }
    return s;
  }
  FakeIntakeThread& intake_;
  std::vector<Message> messages_;
  std::vector<std::string> invalid_;
  size_t requests_ = 0;
};

// "a-b c-d": the ranges of [0, n) missing from `seqs` (for failure messages).
std::string missingRanges(const std::vector<long>& seqs, long n) {
  std::vector<char> seen(static_cast<size_t>(n), 0);
  for (long s : seqs) {
    if (s >= 0 && s < n) {
      seen[static_cast<size_t>(s)] = 1;
    }
  }
  std::string out;
  for (long i = 0; i < n;) {
    if (seen[static_cast<size_t>(i)] != 0) {
      ++i;
      continue;
    }
    long j = i;
    while (j < n && seen[static_cast<size_t>(j)] == 0) {
      ++j;
    }
    out += std::to_string(i) + "-" + std::to_string(j - 1) + " ";
    i = j;
  }
  return out;
}

// The "(logs)" lines of every daemon run in `dir` (for failure messages).
// Where the received order breaks: "a..b" runs of consecutive ids, so a block read twice or out
// of order shows where it came from.
std::string orderBreaks(const std::vector<long>& seqs) {
  std::string out;
  size_t start = 0;
  for (size_t i = 1; i <= seqs.size(); ++i) {
    if (i == seqs.size() || seqs[i] != seqs[i - 1] + 1) {
      out += std::to_string(seqs[start]) + ".." + std::to_string(seqs[i - 1]) + " ";
      start = i;
    }
  }
  return out;
}

std::string logsLines(const TempDir& dir) {
  std::string out;
  for (int n = 0; n < 1000; ++n) {
    std::string name = "proc";
    name += std::to_string(n);
    name += ".err";
    const std::string path = dir.file(name);
    if (!std::filesystem::exists(path)) {
      continue;
    }
    std::istringstream in(testing::readFile(path));
    std::string line;
    while (std::getline(in, line)) {
      if (line.find("(logs)") != std::string::npos) {
        out += '[';
        out += std::to_string(n);
        out += "] ";
        out += line;
        out += '\n';
      }
    }
  }
  return out;
}

// Sequence numbers of lines "seq=<n> ..." in the messages, in arrival order.
std::vector<long> sequences(const std::vector<Received::Message>& messages) {
  std::vector<long> out;
  for (const auto& m : messages) {
    long n = 0;
    if (std::sscanf(m.message.c_str(), "seq=%ld", &n) == 1) {
      out.push_back(n);
    }
  }
  return out;
}

// How many different sequence numbers arrived.
long distinctSequences(const std::vector<Received::Message>& messages) {
  const auto seqs = sequences(messages);
  return static_cast<long>(std::set<long>(seqs.begin(), seqs.end()).size());
}

std::string baseConfig(const TempDir& dir, const FakeIntakeThread& intake,
                       const std::string& extra = "") {
  return "api_key: " + std::string(kApiKey) +
         "\n"
         "hostname: logs-test-host\n"
         "dd_url: " +
         intake.url() +
         "\n"
         "logs_enabled: true\n"
         "logs_config:\n"
         "  logs_dd_url: " +
         intake.url() +
         "\n"
         "  batch_wait: 0.2\n"
         "  file_scan_period: 0.5\n"
         "  close_timeout: 2\n" +
         extra + "run_path: " + dir.file("run") +
         "\n"
         "dogstatsd_port: 0\n"
         "apm_config:\n  receiver_port: 0\n";
}

class Daemon {
 public:
  explicit Daemon(const TempDir& dir) : dir_(dir) {}
  bool start() {
    notify_ = std::make_unique<NotifySocket>(dir_.file(fmtName("notify", ++starts_)));
    process_ = std::make_unique<Process>(
        std::vector<std::string>{OUTPOST_BIN, "run", "-c", dir_.path()},
        std::map<std::string, std::optional<std::string>>{{"NOTIFY_SOCKET", notify_->path()}},
        dir_);
    return notify_->waitFor("READY=1", 10s).has_value();
  }
  void kill9() {
    process_->signal(SIGKILL);
    process_->wait(5s);
  }
  std::optional<int> stop() {
    process_->signal(SIGTERM);
    return process_->wait(15s);
  }
  std::string err() const { return process_ ? process_->err() : ""; }

 private:
  static std::string fmtName(const char* base, int n) {
    return std::string(base) + std::to_string(n) + ".sock";
  }
  const TempDir& dir_;
  std::unique_ptr<NotifySocket> notify_;
  std::unique_ptr<Process> process_;
  int starts_ = 0;
};

// Appends lines "seq=<n> <padding>" to a file, and rotates it as logrotate does.
class Writer {
 public:
  explicit Writer(std::string path) : path_(std::move(path)) { open(); }
  ~Writer() { ::close(fd_); }
  void write(long from, long to) {
    std::string buf;
    for (long n = from; n < to; ++n) {
      appendLine(n, &buf);
      if (buf.size() > 64 * 1024) {
        flush(buf);
      }
    }
    flush(buf);
  }
  static void appendLine(long n, std::string* out) {
    *out += "seq=" + std::to_string(n) + " the quick brown fox jumps over the lazy dog\n";
  }
  // rename(path, path.N) and a new file at path (create rotation).
  void renameRotate() {
    ::close(fd_);
    const std::string to = path_ + "." + std::to_string(++rotations_);
    std::filesystem::rename(path_, to);
    open();
  }
  // cp path path.ctN; truncate path (copytruncate rotation); the writer keeps its descriptor.
  void copyTruncate() {
    const std::string to = path_ + ".ct" + std::to_string(++rotations_);
    std::filesystem::copy_file(path_, to);
    truncate();
  }
  void truncate() { ASSERT_EQ(::ftruncate(fd_, 0), 0); }

 private:
  void open() {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ASSERT_GE(fd_, 0);
  }
  void flush(std::string& buf) {
    size_t off = 0;
    while (off < buf.size()) {
      const ssize_t n = ::write(fd_, buf.data() + off, buf.size() - off);
      ASSERT_GT(n, 0);
      off += static_cast<size_t>(n);
    }
    buf.clear();
  }
  std::string path_;
  int fd_ = -1;
  int rotations_ = 0;
};

void writeSource(const TempDir& dir, const std::string& yaml) {
  dir.write("conf.d/app.d/conf.yaml", yaml);
}

// (a) A million lines (about 100,000 lines/s) while the file is rotated by rename every 50,000
// lines and by copytruncate every 70,000: every line arrives, each once, in order.
TEST(LogsProcessTest, AMillionLinesThroughRenameAndCopytruncateRotations) {
  FakeIntakeThread intake;
  ASSERT_TRUE(intake.start());
  TempDir dir;
  std::filesystem::create_directories(dir.file("logs"));
  dir.write("outpost.yaml", baseConfig(dir, intake));
  writeSource(dir, "logs:\n  - type: file\n    path: " + dir.file("logs/app.log") +
                       "\n    service: app\n    source: test\n    start_position: beginning\n");
  Writer w(dir.file("logs/app.log"));
  Daemon d(dir);
  ASSERT_TRUE(d.start()) << d.err();
  Received got(intake);
  // The Release run writes the million; under ASan (several times slower end to end) 300,000
  // lines still go through 10 rotations of each kind.
#if defined(__SANITIZE_ADDRESS__)
  constexpr long kLines = 300'000;
#else
  constexpr long kLines = 1'000'000;
#endif
  constexpr long kStep = 10'000;
  for (long n = 0; n < kLines; n += kStep) {
    w.write(n, n + kStep);
    if ((n + kStep) % 50'000 == 0) {
      w.renameRotate();
    } else if ((n + kStep) % 70'000 == 0) {
      w.copyTruncate();
    }
    got.poll();
    // A busy writer (about 100,000 lines/s, 5 MB/s, a rotation every half second), not an
    // unbounded burst: a writer many rotations ahead of any reader can rotate a file away before
    // a byte of it was read, and then no reader can tell its pieces apart.
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(got.waitUntil([&] { return got.messages().size() >= kLines; }, 120s))
      << got.messages().size() << " of " << kLines << "; missing "
      << missingRanges(sequences(got.messages()), kLines) << "\n"
      << logsLines(dir);
  std::this_thread::sleep_for(500ms);
  got.poll();
  EXPECT_TRUE(got.invalid().empty()) << got.invalid().front();
  const auto seqs = sequences(got.messages());
  std::vector<int> seen(kLines, 0);
  long out_of_order = 0;
  long last = -1;
  for (long s : seqs) {
    ASSERT_GE(s, 0);
    ASSERT_LT(s, kLines);
    ++seen[static_cast<size_t>(s)];
    out_of_order += s < last ? 1 : 0;
    last = s;
  }
  long missing = 0;
  long duplicated = 0;
  for (int c : seen) {
    missing += c == 0 ? 1 : 0;
    duplicated += c > 1 ? c - 1 : 0;
  }
  EXPECT_EQ(missing, 0) << missingRanges(seqs, kLines) << "\n" << logsLines(dir);
  EXPECT_EQ(duplicated, 0) << orderBreaks(seqs) << "\n" << logsLines(dir);
  EXPECT_EQ(out_of_order, 0) << orderBreaks(seqs);
  const auto& m = got.messages().front();
  EXPECT_EQ(m.service, "app");
  EXPECT_EQ(m.source, "test");
  EXPECT_EQ(m.hostname, "logs-test-host");
  EXPECT_NE(m.tags.find("filename:app.log"), std::string::npos) << m.tags;
  EXPECT_EQ(d.stop(), 0) << d.err();
}

// (b) SIGKILL at 20 random moments while writing and rotating, restarting each time: no line
// missing, duplicates at most one batch (1000 lines) per kill.
TEST(LogsProcessTest, KillNineTwentyTimesLosesNothing) {
  FakeIntakeThread intake;
  ASSERT_TRUE(intake.start());
  TempDir dir;
  std::filesystem::create_directories(dir.file("logs"));
  dir.write("outpost.yaml", baseConfig(dir, intake));
  writeSource(dir, "logs:\n  - type: file\n    path: " + dir.file("logs/app.log") +
                       "\n    service: app\n    start_position: beginning\n");
  Writer w(dir.file("logs/app.log"));
  Daemon d(dir);
  ASSERT_TRUE(d.start()) << d.err();
  Received got(intake);
  std::mt19937 rng(42);
  long n = 0;
  constexpr int kKills = 20;
  for (int k = 0; k < kKills; ++k) {
    const long burst = 2000 + static_cast<long>(rng() % 8000);
    w.write(n, n + burst);
    n += burst;
    if (k % 5 == 2) {
      w.renameRotate();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 300));
    d.kill9();
    if (k % 7 == 3) {
      w.write(n, n + 500);  // written while outpost is down
      n += 500;
    }
    ASSERT_TRUE(d.start()) << d.err();
  }
  w.write(n, n + 1000);
  n += 1000;
  // (Counting the distinct lines is O(lines): only once there are enough lines at all.)
  ASSERT_TRUE(got.waitUntil(
      [&] {
        return static_cast<long>(got.messages().size()) >= n &&
               distinctSequences(got.messages()) >= n;
      },
      60s))
      << "missing " << missingRanges(sequences(got.messages()), n) << "\n"
      << logsLines(dir);
  const auto seqs = sequences(got.messages());
  std::map<long, int> count;
  for (long s : seqs) {
    ++count[s];
  }
  long duplicated = 0;
  for (long s = 0; s < n; ++s) {
    EXPECT_EQ(count.count(s), 1u) << "line " << s << " missing";
    if (count.count(s) == 0) {
      break;
    }
    duplicated += count[s] - 1;
  }
  EXPECT_LE(duplicated, kKills * 1000) << duplicated << " duplicates over " << kKills << " kills";
  std::printf("[ figures  ] %ld lines, %d kills, %ld duplicates\n", n, kKills, duplicated);
  EXPECT_EQ(d.stop(), 0) << d.err();
}

// (c) The intake down for a minute, then back: nothing lost; tailing paused meanwhile.
TEST(LogsProcessTest, AnIntakeOutageOfAMinuteLosesNothing) {
  FakeIntakeThread intake;
  ASSERT_TRUE(intake.start());
  TempDir dir;
  std::filesystem::create_directories(dir.file("logs"));
  dir.write("outpost.yaml", baseConfig(dir, intake));
  writeSource(dir, "logs:\n  - type: file\n    path: " + dir.file("logs/*.log") +
                       "\n    service: app\n    start_position: beginning\n");
  Writer w(dir.file("logs/app.log"));
  Daemon d(dir);
  ASSERT_TRUE(d.start()) << d.err();
  Received got(intake);
  w.write(0, 1000);
  ASSERT_TRUE(got.waitUntil([&] { return got.messages().size() >= 1000; }, 20s)) << d.err();
  fakeintake::Fault down;
  down.status = 503;
  down.count = 0;  // every request until cleared
  intake.addFault("/api/v2/logs", down);
  long n = 1000;
  const auto until = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < until) {
    w.write(n, n + 2000);
    n += 2000;
    std::this_thread::sleep_for(500ms);
  }
  intake.store().clearFaults();
  ASSERT_TRUE(got.waitUntil(
      [&] {
        return static_cast<long>(got.messages().size()) >= n &&
               distinctSequences(got.messages()) >= n;
      },
      180s))
      << d.err();
  EXPECT_EQ(d.stop(), 0) << d.err();
}

// (d) 10,000 files under a wildcard with open_files_limit 500: the 500 most recently modified
// are tailed.
TEST(LogsProcessTest, TenThousandFilesUnderAWildcardWithALimit) {
  FakeIntakeThread intake;
  ASSERT_TRUE(intake.start());
  TempDir dir;
  std::filesystem::create_directories(dir.file("many"));
  for (int i = 0; i < 10'000; ++i) {
    const std::string path = dir.file("many/f" + std::to_string(i) + ".log");
    std::ofstream(path) << "seq=" << i << " from file " << i << "\n";
    // Older files first: f9999 is the newest.
    struct timespec times[2] = {{1'700'000'000 + i, 0}, {1'700'000'000 + i, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  }
  dir.write("outpost.yaml", baseConfig(dir, intake, "  open_files_limit: 500\n"));
  writeSource(dir, "logs:\n  - type: file\n    path: " + dir.file("many/*.log") +
                       "\n    service: many\n    start_position: beginning\n");
  Daemon d(dir);
  ASSERT_TRUE(d.start()) << d.err();
  Received got(intake);
  ASSERT_TRUE(got.waitUntil([&] { return got.messages().size() >= 500; }, 30s)) << d.err();
  std::this_thread::sleep_for(1500ms);  // a few more scans: still no more than 500
  got.poll();
  const auto seqs = sequences(got.messages());
  EXPECT_EQ(seqs.size(), 500u);
  for (long s : seqs) {
    EXPECT_GE(s, 9500) << "an older file was tailed";
  }
  EXPECT_EQ(d.stop(), 0) << d.err();
}

// (e) Lines of 0 bytes, 10 MB, binary, invalid UTF-8, and a UTF-16 file.
TEST(LogsProcessTest, OddLinesAndEncodings) {
  FakeIntakeThread intake;
  ASSERT_TRUE(intake.start());
  TempDir dir;
  std::filesystem::create_directories(dir.file("logs"));
  dir.write("outpost.yaml", baseConfig(dir, intake, "  max_message_size_bytes: 256000\n"));
  writeSource(dir,
              "logs:\n"
              "  - type: file\n    path: " +
                  dir.file("logs/odd.log") +
                  "\n    service: odd\n    start_position: beginning\n"
                  "  - type: file\n    path: " +
                  dir.file("logs/wide.log") +
                  "\n    service: wide\n    encoding: utf-16-le\n"
                  "    start_position: beginning\n");
  std::string odd = "first\n\n";                             // an empty line
  odd += std::string(10 * 1024 * 1024, 'x') + "\n";          // 10 MB
  odd += std::string("bin\x01\x02\x7f\x00zero", 11) + "\n";  // control bytes and a NUL
  odd += "bad \xff\xfe utf8 \xc3\x28 end\n";
  odd += "last\n";
  dir.write("logs/odd.log", odd);
  std::string wide;
  for (char16_t c : std::u16string(u"wide line \u00e9\u4e16\n")) {
    wide.push_back(static_cast<char>(c & 0xff));
    wide.push_back(static_cast<char>(c >> 8));
  }
  dir.write("logs/wide.log", wide);
  Daemon d(dir);
  ASSERT_TRUE(d.start()) << d.err();
  Received got(intake);
  auto has = [&](const std::string& service, const std::string& text) {
    for (const auto& m : got.messages()) {
      if (m.service == service && m.message == text) {
        return true;
      }
    }
    return false;
  };
  ASSERT_TRUE(got.waitUntil(
      [&] { return has("odd", "last") && has("wide", "wide line \u00e9\u4e16"); }, 30s))
      << d.err();
  EXPECT_TRUE(got.invalid().empty());
  EXPECT_TRUE(has("odd", "first"));
  EXPECT_TRUE(has("odd", ""));
  size_t pieces = 0;
  size_t x_bytes = 0;
  for (const auto& m : got.messages()) {
    if (m.service == "odd" && m.message.find("xxxx") != std::string::npos) {
      ++pieces;
      EXPECT_NE(m.message.find("...TRUNCATED..."), std::string::npos);
      x_bytes += static_cast<size_t>(std::count(m.message.begin(), m.message.end(), 'x'));
      EXPECT_LE(m.message.size(), 256000u + 2 * std::string("...TRUNCATED...").size());
    }
  }
  EXPECT_EQ(x_bytes, 10u * 1024 * 1024);  // every byte, in pieces
  EXPECT_GE(pieces, 41u);
  bool bad_seen = false;
  for (const auto& m : got.messages()) {
    bad_seen = bad_seen || m.message.starts_with("bad ");
  }
  EXPECT_TRUE(bad_seen);  // the intake checked it is valid UTF-8 JSON
  EXPECT_EQ(d.stop(), 0) << d.err();
}

// (f) Every processing rule type, on a file source.
TEST(LogsProcessTest, ProcessingRules) {
  FakeIntakeThread intake;
  ASSERT_TRUE(intake.start());
  TempDir dir;
  std::filesystem::create_directories(dir.file("logs"));
  // A global rule (logs_config.processing_rules) runs before the source's own.
  dir.write("outpost.yaml", baseConfig(dir, intake,
                                       "  processing_rules:\n"
                                       "    - type: exclude_at_match\n"
                                       "      name: global_noise\n"
                                       "      pattern: debug noise\n"));
  writeSource(dir,
              "logs:\n"
              "  - type: file\n    path: " +
                  dir.file("logs/rules.log") +
                  "\n    service: rules\n    start_position: beginning\n"
                  "    log_processing_rules:\n"
                  "      - type: multi_line\n        name: stack\n"
                  "        pattern: '\\d{4}-\\d{2}-\\d{2}'\n"
                  "      - type: exclude_at_match\n        name: no_health\n"
                  "        pattern: healthcheck\n"
                  "      - type: include_at_match\n        name: only_app\n"
                  "        pattern: app\n"
                  "      - type: mask_sequences\n        name: cards\n"
                  "        pattern: 'card=(\\d{4})\\d{8}(\\d{4})'\n"
                  "        replace_placeholder: 'card=${1}********${2}'\n"
                  // A replacement JSON must escape: masked lines are escaped again.
                  "      - type: mask_sequences\n        name: tokens\n"
                  "        pattern: 'token=\\S+'\n"
                  "        replace_placeholder: 'token=\"[masked]\\\\\"'\n");
  dir.write("logs/rules.log",
            "2024-01-01 app started\n"
            "2024-01-01 app healthcheck ok\n"
            "2024-01-01 app debug noise\n"
            "2024-01-01 db connected\n"
            "2024-01-01 app paid card=1234567812345678\n"
            "2024-01-01 app login token=abc123\n"
            "2024-01-01 app failed\n"
            "  at frame one\n"
            "  at frame two\n"
            "2024-01-01 app last\n");
  Daemon d(dir);
  ASSERT_TRUE(d.start()) << d.err();
  Received got(intake);
  ASSERT_TRUE(got.waitUntil(
      [&] {
        for (const auto& m : got.messages()) {
          if (m.message == "2024-01-01 app last") {
            return true;
          }
        }
        return false;
      },
      30s))
      << d.err();
  std::vector<std::string> texts;
  for (const auto& m : got.messages()) {
    texts.push_back(m.message);
  }
  EXPECT_EQ(texts, (std::vector<std::string>{
                       "2024-01-01 app started",
                       "2024-01-01 app paid card=1234********5678",
                       "2024-01-01 app login token=\"[masked]\\\\\"",
                       "2024-01-01 app failed\n  at frame one\n  at frame two",
                       "2024-01-01 app last",
                   }));
  EXPECT_EQ(d.stop(), 0) << d.err();
}

void sendTcp(int port, const std::string& data) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ::close(fd);
}

// (g) tcp and udp inputs, and journald from a journal file written by systemd-journal-remote.
TEST(LogsProcessTest, TcpUdpAndJournaldSources) {
  FakeIntakeThread intake;
  ASSERT_TRUE(intake.start());
  TempDir dir;
  const int tcp_port = testing::freeTcpPort();
  const int udp_port = testing::freeUdpPort();
  // A journal file with two units.
  std::filesystem::create_directories(dir.file("journal"));
  std::string export_format;
  for (int i = 0; i < 3; ++i) {
    for (const char* unit : {"web.service", "cron.service"}) {
      export_format += "__REALTIME_TIMESTAMP=" + std::to_string(1'700'000'000'000'000LL + i) +
                       "\n__MONOTONIC_TIMESTAMP=" + std::to_string(1000 + i) +
                       "\n_BOOT_ID=0123456789abcdef0123456789abcdef\n"
                       "_SYSTEMD_UNIT=" +
                       unit + "\nSYSLOG_IDENTIFIER=" + unit + "\nPRIORITY=3\nMESSAGE=journal " +
                       unit + " " + std::to_string(i) + "\n\n";
    }
  }
  dir.write("export.txt", export_format);
  const auto r =
      testing::runCommand({"/bin/sh", "-c",
                           "/lib/systemd/systemd-journal-remote -o " +
                               dir.file("journal/test.journal") + " - < " + dir.file("export.txt")},
                          {}, 20s);
  ASSERT_EQ(r.code, 0) << r.err;
  dir.write("outpost.yaml", baseConfig(dir, intake));
  writeSource(dir,
              "logs:\n"
              "  - type: tcp\n    port: " +
                  std::to_string(tcp_port) +
                  "\n    service: tcp-in\n"
                  "  - type: udp\n    port: " +
                  std::to_string(udp_port) +
                  "\n    service: udp-in\n"
                  "  - type: journald\n    path: " +
                  dir.file("journal") +
                  "\n    include_units: [web.service]\n    service: journal\n"
                  "    start_position: beginning\n");
  Daemon d(dir);
  ASSERT_TRUE(d.start()) << d.err();
  Received got(intake);
  sendTcp(tcp_port, "tcp one\ntcp two\r\ntcp three");
  sendUdp(udp_port, "udp one\nudp two\n");
  auto count = [&](const std::string& service) {
    size_t n = 0;
    for (const auto& m : got.messages()) {
      n += m.service == service ? 1 : 0;
    }
    return n;
  };
  ASSERT_TRUE(got.waitUntil(
      [&] { return count("tcp-in") >= 3 && count("udp-in") >= 2 && count("journal") >= 3; }, 30s))
      << d.err();
  for (const auto& m : got.messages()) {
    if (m.service == "journal") {
      EXPECT_NE(m.message.find("web.service"), std::string::npos) << m.message;
      EXPECT_EQ(m.status, "error");
    }
  }
  EXPECT_EQ(count("tcp-in"), 3u);
  EXPECT_EQ(count("udp-in"), 2u);
  EXPECT_EQ(count("journal"), 3u);
  EXPECT_EQ(d.stop(), 0) << d.err();
}

// A rotation while outpost is stopped: the registry's identity finds the renamed file, which is
// finished from its saved offset before the new file is read from its beginning.
TEST(LogsProcessTest, ARotationWhileStoppedIsFinishedFirst) {
  FakeIntakeThread intake;
  ASSERT_TRUE(intake.start());
  TempDir dir;
  std::filesystem::create_directories(dir.file("logs"));
  dir.write("outpost.yaml", baseConfig(dir, intake));
  writeSource(dir, "logs:\n  - type: file\n    path: " + dir.file("logs/app.log") +
                       "\n    service: app\n    start_position: beginning\n");
  Writer w(dir.file("logs/app.log"));
  w.write(0, 5000);
  Daemon d(dir);
  ASSERT_TRUE(d.start()) << d.err();
  Received got(intake);
  ASSERT_TRUE(got.waitUntil([&] { return got.messages().size() >= 5000; }, 20s)) << d.err();
  ASSERT_EQ(d.stop(), 0) << d.err();
  w.write(5000, 7000);  // into the old file while stopped
  w.renameRotate();
  w.write(7000, 9000);  // the new file
  ASSERT_TRUE(d.start()) << d.err();
  ASSERT_TRUE(got.waitUntil([&] { return got.messages().size() >= 9000; }, 20s))
      << got.messages().size() << "\n"
      << d.err();
  const auto seqs = sequences(got.messages());
  ASSERT_EQ(seqs.size(), 9000u);
  for (long i = 0; i < 9000; ++i) {
    ASSERT_EQ(seqs[static_cast<size_t>(i)], i) << [&] {
      std::string around;
      for (long j = std::max(0L, i - 3); j < std::min(9000L, i + 1003);
           j += (j < i + 3 ? 1 : 250)) {
        around += std::to_string(seqs[static_cast<size_t>(j)]) + " ";
      }
      return around;
    }() << "\n" << d.err();
  }
  EXPECT_EQ(d.stop(), 0) << d.err();
}

// The rotation cases below: logs/app.log tailed from its beginning (the writer creates it empty).
void configureAppLog(const TempDir& dir, const FakeIntakeThread& intake) {
  std::filesystem::create_directories(dir.file("logs"));
  dir.write("outpost.yaml", baseConfig(dir, intake));
  writeSource(dir, "logs:\n  - type: file\n    path: " + dir.file("logs/app.log") +
                       "\n    service: app\n    start_position: beginning\n");
}

// Lines from..to-1 as the Writer writes them.
std::string seqText(long from, long to) {
  std::string text;
  for (long n = from; n < to; ++n) {
    Writer::appendLine(n, &text);
  }
  return text;
}

// Waits for n lines, leaves several batch_waits for a line read twice to arrive, then expects
// lines 0..n-1, each once, in order.
void expectEachOnceInOrder(Received& got, long n, const TempDir& dir, Daemon& d) {
  ASSERT_TRUE(got.waitUntil([&] { return got.messages().size() >= static_cast<size_t>(n); }, 20s))
      << got.messages().size() << " of " << n << " lines arrived; "
      << orderBreaks(sequences(got.messages())) << "\n"
      << logsLines(dir) << "\n"
      << d.err();
  std::this_thread::sleep_for(1500ms);
  got.poll();
  const auto seqs = sequences(got.messages());
  std::vector<long> want(static_cast<size_t>(n));
  std::iota(want.begin(), want.end(), 0L);
  EXPECT_EQ(seqs, want) << orderBreaks(seqs) << "\n" << logsLines(dir);
}

// A fake intake and a directory configured to tail logs/app.log from its beginning, for the
// rotation races below; each test writes its files and starts the daemon itself.
struct AppLogTest : ::testing::Test {
  void SetUp() override {
    ASSERT_TRUE(intake.start());
    configureAppLog(dir, intake);
  }
  FakeIntakeThread intake;
  TempDir dir;
};

// copytruncate is two steps: a copy that appears before the truncation must not be taken for a
// rotation we missed. A file opened empty, then a newer sibling with the file's own first bytes
// and the file written: the sibling is a copy of it not yet truncated (the rotator between its
// copy and its truncate), so the lines come once from the file; after the truncation the copy
// has nothing left past what was read, and the file starts over.
TEST_F(AppLogTest, ACopyBeforeItsTruncationIsNotReadTwice) {
  Writer w(dir.file("logs/app.log"));  // empty when the daemon opens it
  Daemon d(dir);
  ASSERT_TRUE(d.start()) << d.err();
  Received got(intake);
  // The copy appears whole (renamed in), then the same lines go into the file.
  dir.write("staged", seqText(0, 2000));
  std::filesystem::rename(dir.file("staged"), dir.file("logs/app.log.1"));
  w.write(0, 2000);
  expectEachOnceInOrder(got, 2000, dir, d);
  w.truncate();
  w.write(2000, 3000);
  expectEachOnceInOrder(got, 3000, dir, d);
  EXPECT_EQ(d.stop(), 0) << d.err();
}

// The other side of the same check: a file opened empty, then a newer sibling and other lines in
// the file (copied and truncated before a byte was read): the copy's lines come first.
TEST_F(AppLogTest, ACopyTruncatedBeforeItWasReadIsReadFirst) {
  Writer w(dir.file("logs/app.log"));
  Daemon d(dir);
  ASSERT_TRUE(d.start()) << d.err();
  Received got(intake);
  dir.write("staged", seqText(0, 2000));
  std::filesystem::rename(dir.file("staged"), dir.file("logs/app.log.1"));
  w.write(2000, 3000);
  expectEachOnceInOrder(got, 3000, dir, d);
  EXPECT_EQ(d.stop(), 0) << d.err();
}

// A rotated sibling that was there before the file was opened (empty) is never taken for a copy
// of it, whatever its timestamp says: file times come from the kernel's coarse or fine clock,
// and a copy made just before the open could look a few ms newer than the open (the million-line
// rotation test saw a whole copy sent twice about one run in two). Here the old file's mtime is
// a minute ahead.
TEST_F(AppLogTest, ASiblingThereBeforeTheOpenIsNoMissedCopyWhateverItsTime) {
  Writer w(dir.file("logs/app.log"));
  dir.write("logs/app.log.1", seqText(5000, 6000));
  std::filesystem::last_write_time(dir.file("logs/app.log.1"),
                                   std::filesystem::file_time_type::clock::now() + 60s);
  Daemon d(dir);
  ASSERT_TRUE(d.start()) << d.err();
  Received got(intake);
  w.write(0, 1000);
  expectEachOnceInOrder(got, 1000, dir, d);
  EXPECT_EQ(d.stop(), 0) << d.err();
}

// The same at a rename seen late: the new file and a copy of it (not truncated yet) are both
// there when the rename is noticed. The copy is no rotation missed before it: the new file's
// lines come once.
TEST_F(AppLogTest, ACopyOfTheNewFileAtARenameIsNotReadTwice) {
  Writer w(dir.file("logs/app.log"));
  w.write(0, 1000);
  Daemon d(dir);
  ASSERT_TRUE(d.start()) << d.err();
  Received got(intake);
  ASSERT_TRUE(got.waitUntil([&] { return got.messages().size() >= 1000; }, 20s)) << d.err();
  dir.write("staged-new", seqText(1000, 3000));
  dir.write("staged-copy", seqText(1000, 3000));
  // Three renames in a row: the reader most likely sees them all at once.
  std::filesystem::rename(dir.file("logs/app.log"), dir.file("logs/app.log.1"));
  std::filesystem::rename(dir.file("staged-new"), dir.file("logs/app.log"));
  std::filesystem::rename(dir.file("staged-copy"), dir.file("logs/app.log.2"));
  expectEachOnceInOrder(got, 3000, dir, d);
  EXPECT_EQ(d.stop(), 0) << d.err();
}

// A broken log source (a bad regex) is a configuration error naming the file, the line and the
// rule, both in `configcheck` and at `run` (which does not start).
TEST(LogsProcessTest, ABadRuleIsAConfigurationErrorWithFileLineAndRule) {
  TempDir dir;
  dir.write("outpost.yaml", "logs_enabled: true\nrun_path: " + dir.file("run") + "\n");
  const std::string conf = dir.write("conf.d/bad.d/conf.yaml",
                                     "logs:\n"
                                     "  - type: file\n"
                                     "    path: /var/log/x.log\n"
                                     "    log_processing_rules:\n"
                                     "      - type: exclude_at_match\n"
                                     "        name: broken\n"
                                     "        pattern: 'a(b'\n");
  const auto check = testing::runCommand({OUTPOST_BIN, "configcheck", "-c", dir.path()});
  EXPECT_EQ(check.code, 1);
  EXPECT_NE(check.err.find(conf + ":7"), std::string::npos) << check.err;
  EXPECT_NE(check.err.find("pattern"), std::string::npos) << check.err;
  EXPECT_NE(check.err.find("broken"), std::string::npos) << check.err;
  const auto run = testing::runCommand({OUTPOST_BIN, "run", "-c", dir.path()}, {}, 10s);
  EXPECT_EQ(run.code, 1);
  EXPECT_NE(run.err.find(conf + ":7"), std::string::npos) << run.err;

  // A global rule (logs_config.processing_rules in outpost.yaml) the same way.
  std::filesystem::remove_all(dir.file("conf.d"));
  const std::string main = dir.write("outpost.yaml",
                                     "logs_enabled: true\n"
                                     "logs_config:\n"
                                     "  processing_rules:\n"
                                     "    - type: mask_sequences\n"
                                     "      name: global_broken\n"
                                     "      replace_placeholder: x\n"
                                     "      pattern: '(x'\n"
                                     "run_path: " +
                                         dir.file("run") + "\n");
  const auto global = testing::runCommand({OUTPOST_BIN, "configcheck", "-c", dir.path()});
  EXPECT_EQ(global.code, 1);
  EXPECT_NE(global.err.find(main + ":7"), std::string::npos) << global.err;
  EXPECT_NE(global.err.find("logs_config.processing_rules[0].pattern"), std::string::npos)
      << global.err;
  EXPECT_NE(global.err.find("global_broken"), std::string::npos) << global.err;
}

}  // namespace
}  // namespace outpost
