// outpost-chaos [--quick] [--only NAME[,NAME...]] [--kills N] [--outage-seconds S]
//               [--soak-seconds S]
//
// The chaos suite (issue 10): a real `outpost run` under load from every source it has (a log
// file written and rotated, DogStatsD over UDP, APM traces over HTTP) shipping to the project's
// fake intake, while faults are injected. Each scenario is bounded in time and stays on
// loopback; each prints its figures, and the suite ends with a table: scenario, load, faults,
// sent vs delivered, duplicates, peak RSS, verdict. Exit status 1 when a verdict failed.
//
//   kill9       kill -9 at random moments, restarted each time (50, --quick 5): no log line
//               lost, duplicates within one batch per kill, the spool readable after each.
//   faults      the intake answers 429 (Retry-After), 500, 503 and 413 at random for 60 s
//               (--quick 20): every log line delivered or counted as dropped by the intake.
//   outage      the intake answers 503 to everything for 600 s (--quick 45): memory within the
//               in-memory budget, the spool within its cap, logs paused (not dropped) and all
//               delivered after recovery, metrics beyond the cap counted as dropped.
//   disk-full   the spool on a 1 MiB tmpfs during an outage (root only): ENOSPC is a counted
//               drop, the agent keeps answering, what was spooled is delivered after.
//   slowloris   300 connections dribbling headers to 8126 and 100 to the query socket, plus
//               oversized bodies and headers: the agent answers others within 2 s, refuses
//               the oversized (413/431), RSS bounded.
//   udp-flood   DogStatsD datagrams as fast as two threads can send for 10 s: drops counted
//               (kernel and agent), the agent answers within 2 s, RSS bounded.
//   many-files  100,000 files under one wildcard: the newest open_files_limit (500) tailed,
//               the rest listed, RSS bounded, the agent answers.
//   clock-jump  the agent's wall clock jumps +1 h, -2 h and back (libfaketime) under load:
//               it keeps flushing metrics and delivers every log line.
//   soak        (only when named: --only soak) an hour of steady mixed load with searches:
//               RSS flat, every line delivered.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "collector/query/query_client.h"
#include "tests/fakeintake/fake_intake.h"
#include "tests/support/test_support.h"
#include "tests/support/trace_bodies.h"

namespace outpost {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using fakeintake::FakeIntakeThread;
using fakeintake::Fault;
using testing::NotifySocket;
using testing::Process;
using testing::TempDir;

std::string g_outpost;
bool g_quick = false;

double secondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double rssMib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return static_cast<double>(std::strtoll(line.c_str() + 6, nullptr, 10)) / 1024.0;
    }
  }
  return 0;
}

int64_t peakRssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::strtoll(line.c_str() + 6, nullptr, 10);
    }
  }
  return 0;
}

// --- the load --------------------------------------------------------------------------------

// Appends numbered lines ("chaos seq=0000000042 ...", ~120 bytes) to a file at `rate` lines/s,
// renaming it away every `rotate_every` lines; stop() returns how many it wrote.
class LogWriter {
 public:
  LogWriter(std::string path, int rate, long rotate_every)
      : path_(std::move(path)), rate_(rate), rotate_every_(rotate_every) {}
  ~LogWriter() { stop(); }
  void start() {
    thread_ = std::thread([this] { run(); });
  }
  long stop() {
    stop_ = true;
    if (thread_.joinable()) {
      thread_.join();
    }
    return written_;
  }
  long written() const { return written_; }

 private:
  void run() {
    std::ofstream out(path_, std::ios::app);
    int rotation = 0;
    auto t0 = Clock::now();
    while (!stop_) {
      const long due = static_cast<long>(secondsSince(t0) * rate_);
      std::string chunk;
      while (written_ < due && chunk.size() < (1 << 20)) {
        char line[160];
        const int n = std::snprintf(line, sizeof line,
                                    "2026-12-07T06:00:00Z chaos-host app[42]: chaos seq=%010ld "
                                    "user=u%04ld path=/api/items/%ld status=200\n",
                                    written_.load(), written_ % 9973, written_ % 100003);
        chunk.append(line, static_cast<size_t>(n));
        ++written_;
        if (rotate_every_ > 0 && written_ % rotate_every_ == 0) {
          out << chunk;
          out.close();
          chunk.clear();
          fs::rename(path_, path_ + "." + std::to_string(++rotation));
          out.open(path_, std::ios::app);
        }
      }
      out << chunk;
      out.flush();
      std::this_thread::sleep_for(10ms);
    }
  }
  std::string path_;
  int rate_;
  long rotate_every_;
  std::atomic<long> written_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// DogStatsD counters (chaos.count, +1 each) at `rate` samples/s and a v0.4 trace every 100 ms.
class MetricTraceLoad {
 public:
  MetricTraceLoad(int dsd_port, int apm_port, int rate)
      : dsd_port_(dsd_port), apm_port_(apm_port), rate_(rate) {}
  ~MetricTraceLoad() { stop(); }
  void start() {
    thread_ = std::thread([this] { run(); });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  long samples() const { return samples_; }
  long traces() const { return traces_; }

 private:
  void run() {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const sockaddr_in to = testing::loopbackAddress(dsd_port_);
    const auto t0 = Clock::now();
    auto next_trace = t0;
    while (!stop_) {
      const long due = static_cast<long>(secondsSince(t0) * rate_);
      while (samples_ < due) {
        static const char kSample[] = "chaos.count:1|c|#scenario:chaos";
        ::sendto(fd, kSample, sizeof kSample - 1, 0, reinterpret_cast<const sockaddr*>(&to),
                 sizeof to);
        ++samples_;
      }
      if (apm_port_ > 0 && Clock::now() >= next_trace) {
        next_trace += 100ms;
        sendTrace();
      }
      std::this_thread::sleep_for(5ms);
    }
    ::close(fd);
  }
  void sendTrace() {
    const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    const uint64_t id = 1000 + static_cast<uint64_t>(traces_);
    testing::TraceSpan root{
        "chaos-web", "http.request", "GET /items", "web", id, id * 2,
        0,           now_ns,         2'000'000,    0,     {}, {{"_sampling_priority_v1", 2}}};
    const std::string body = testing::v04Body({{root}});
    const std::string req =
        "PUT /v0.4/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\n"
        "X-Datadog-Trace-Count: 1\r\nConnection: close\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    if (testing::exchange(testing::connectTcp(apm_port_), req, 2).rfind("HTTP/1.1 200", 0) == 0) {
      ++traces_;
    }
  }
  int dsd_port_, apm_port_, rate_;
  std::atomic<long> samples_{0}, traces_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// --- what arrived ----------------------------------------------------------------------------

// Pulls the intake's payloads as they come: log line sequence numbers (each seen how often),
// the sum of chaos.count, spans. take() keeps the intake's memory flat over long runs.
class Delivered {
 public:
  explicit Delivered(FakeIntakeThread& intake) : intake_(intake) {}
  void poll() {
    for (auto& p : intake_.store().take()) {
      if (!p.accepted() || !p.valid) {
        continue;
      }
      if (p.route == "/api/v2/logs") {
        for (const auto& item : p.decoded) {
          const std::string m = item.value("message", "");
          const size_t at = m.find("seq=");
          if (at != std::string::npos) {
            ++seen_[std::strtol(m.c_str() + at + 4, nullptr, 10)];
          }
        }
      } else if (p.route == "/api/v2/series") {
        for (const auto& s : p.decoded.value("series", nlohmann::json::array())) {
          if (s.value("metric", "") == "chaos.count") {
            // A count goes out as a rate over its interval (proto3 JSON: int64 as a string).
            double interval = 1;
            if (s.contains("interval")) {
              const auto& i = s["interval"];
              interval = i.is_string()   ? std::atof(i.get<std::string>().c_str())
                         : i.is_number() ? i.get<double>()
                                         : 1;
            }
            for (const auto& pt : s.value("points", nlohmann::json::array())) {
              count_sum_ += pt.value("value", 0.0) * std::max(1.0, interval);
            }
          }
        }
      } else if (p.route == "/api/v0.2/traces") {
        ++trace_payloads_;
      }
    }
  }
  // Lines 0..written-1: how many never arrived, how many arrived more than once (extra copies).
  std::pair<long, long> lines(long written) const {
    long missing = 0, dups = 0;
    for (long s = 0; s < written; ++s) {
      const auto it = seen_.find(s);
      missing += it == seen_.end() ? 1 : 0;
      dups += it != seen_.end() && it->second > 1 ? it->second - 1 : 0;
    }
    return {missing, dups};
  }
  long unique() const { return static_cast<long>(seen_.size()); }
  bool allLines(long written) {
    poll();
    return lines(written).first == 0;
  }
  double countSum() const { return count_sum_; }
  long tracePayloads() const { return trace_payloads_; }

 private:
  FakeIntakeThread& intake_;
  std::map<long, int> seen_;
  double count_sum_ = 0;
  long trace_payloads_ = 0;
};

// --- the agent -------------------------------------------------------------------------------

struct Setup {
  TempDir dir;
  int dsd_port = testing::freeUdpPort();
  int apm_port = testing::freeTcpPort();
  std::string log = dir.file("logs/app.log");
  std::string socket = dir.file("run/query.sock");
  Setup() { fs::create_directories(dir.file("logs")); }
  void write(const std::string& intake_url, const std::string& extra = "",
             const std::string& log_glob = "") {
    dir.write("outpost.yaml",
              "api_key: 0123456789abcdef0123456789abcdef\nhostname: chaos-host\n"
              "log_level: info\ndd_url: " +
                  intake_url + "\nlogs_enabled: true\nlogs_config:\n  logs_dd_url: " + intake_url +
                  "\n  batch_wait: 0.2\nuse_dogstatsd: true\ndogstatsd_port: " +
                  std::to_string(dsd_port) +
                  "\ndogstatsd_flush_interval: 1\napm_config:\n  receiver_port: " +
                  std::to_string(apm_port) + "\n  apm_dd_url: " + intake_url +
                  "\nrun_path: " + dir.file("run") + "\nquery_socket: " + socket + "\n" + extra);
    dir.write("conf.d/app.d/conf.yaml",
              "logs:\n  - type: file\n    path: " + (log_glob.empty() ? log : log_glob) +
                  "\n    service: chaos\n    source: chaos\n    start_position: beginning\n");
  }
};

class Agent {
 public:
  Agent(const Setup& s, std::map<std::string, std::optional<std::string>> env = {})
      : setup_(s),
        notify_(std::make_unique<NotifySocket>(
            s.dir.file("notify-" + std::to_string(++n_) + ".sock"))) {
    env["NOTIFY_SOCKET"] = notify_->path();
    proc_ = std::make_unique<Process>(
        std::vector<std::string>{g_outpost, "run", "-c", s.dir.path()}, env, s.dir);
  }
  bool ready(std::chrono::milliseconds timeout = 20s) {
    return notify_->waitFor("READY=1", timeout).has_value();
  }
  pid_t pid() const { return proc_->pid(); }
  int64_t peakKiB() const { return peakRssKiB(proc_->pid()); }
  void kill9() {
    proc_->signal(SIGKILL);
    proc_->wait(10s);
  }
  int stop() {
    proc_->signal(SIGTERM);
    return proc_->wait(30s).value_or(-1);
  }
  bool alive() const { return ::kill(proc_->pid(), 0) == 0; }
  std::string err() const { return proc_->err(); }
  // /v1/status answered within `limit`; its JSON (null when not).
  nlohmann::json status(double* latency_s = nullptr) const {
    const auto t0 = Clock::now();
    const auto r = query::queryGet(setup_.socket, "/v1/status");
    if (latency_s != nullptr) {
      *latency_s = secondsSince(t0);
    }
    return r.status == 200 ? nlohmann::json::parse(r.body, nullptr, false) : nlohmann::json();
  }

 private:
  const Setup& setup_;
  std::unique_ptr<NotifySocket> notify_;
  std::unique_ptr<Process> proc_;
  static inline int n_ = 0;
};

// The sum of the status's telemetry counters whose name starts with `prefix`.
double telemetry(const nlohmann::json& status, const std::string& prefix) {
  double sum = 0;
  if (status.is_object() && status.contains("telemetry")) {
    for (const auto& [k, v] : status["telemetry"].items()) {
      if (k.rfind(prefix, 0) == 0 && v.is_number()) {
        sum += v.get<double>();
      }
    }
  }
  return sum;
}

// The fullest each bounded resource of the status's "resources" section has been, over the
// status documents sampled.
struct ResourcePeaks {
  struct Peak {
    uint64_t used = 0, limit = 0, slack = 0;
    std::string unit;
  };
  std::map<std::string, Peak> peaks;
  size_t samples = 0;

  void sample(const nlohmann::json& status) {
    if (!status.is_object() || !status.contains("resources")) {
      return;
    }
    ++samples;
    for (const auto& r : status["resources"]) {
      Peak& p = peaks[r.value("name", std::string())];
      p.used = std::max(p.used, r.value("used", uint64_t{0}));
      p.limit = r.value("limit", uint64_t{0});
      p.slack = std::max(p.slack, r.value("slack", uint64_t{0}));
      p.unit = r.value("unit", std::string());
    }
  }
  // Every resource seen within its limit (plus the slack it declares: the last item a limit
  // checked at admission let in), in every sample.
  bool within() const {
    return samples > 0 && std::all_of(peaks.begin(), peaks.end(), [](const auto& kv) {
             return kv.second.used <= kv.second.limit + kv.second.slack;
           });
  }
  // "name 12 % (used/limit unit), ..." for the `n` fullest.
  std::string fullest(size_t n) const {
    std::vector<std::pair<double, std::string>> v;
    for (const auto& [name, p] : peaks) {
      const double ratio =
          p.limit > 0 ? static_cast<double>(p.used) / static_cast<double>(p.limit) : 0;
      char b[256];
      if (p.unit == "bytes") {
        std::snprintf(b, sizeof b, "%s %.0f %% (%.1f of %.1f MiB)", name.c_str(), ratio * 100,
                      static_cast<double>(p.used) / 1048576.0,
                      static_cast<double>(p.limit) / 1048576.0);
      } else {
        std::snprintf(b, sizeof b, "%s %.0f %% (%llu of %llu %s)", name.c_str(), ratio * 100,
                      static_cast<unsigned long long>(p.used),
                      static_cast<unsigned long long>(p.limit), p.unit.c_str());
      }
      v.emplace_back(ratio, b);
    }
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::string out;
    for (size_t i = 0; i < v.size() && i < n; ++i) {
      out += (i ? ", " : "") + v[i].second;
    }
    return out;
  }
};

// --- the table -------------------------------------------------------------------------------

struct Row {
  std::string scenario, load, faults, sent, delivered, duplicates;
  double peak_rss_mib = 0;
  bool pass = false;
  std::string notes;
};

void print(const Row& r) {
  std::printf(
      "  -> %s: %s | load: %s | faults: %s | sent %s, delivered %s, duplicates %s | "
      "peak RSS %.1f MiB | %s\n",
      r.scenario.c_str(), r.pass ? "PASS" : "FAIL", r.load.c_str(), r.faults.c_str(),
      r.sent.c_str(), r.delivered.c_str(), r.duplicates.c_str(), r.peak_rss_mib, r.notes.c_str());
  std::fflush(stdout);
}

std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.0f", v);
  return b;
}

// False (with the reason in the row, printed) when the agent did not come up.
bool started(Agent& a, Row& row, std::chrono::milliseconds timeout = 20s) {
  if (a.ready(timeout)) {
    return true;
  }
  row.notes = "did not start: " + a.err();
  print(row);
  return false;
}

bool waitFor(const std::function<bool()>& pred, std::chrono::seconds timeout) {
  const auto t0 = Clock::now();
  while (Clock::now() - t0 < timeout) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(200ms);
  }
  return pred();
}

// --- scenarios -------------------------------------------------------------------------------

Row kill9(int kills) {
  Row row{"kill9"};
  FakeIntakeThread intake;
  intake.start();
  Setup s;
  s.write(intake.url());
  LogWriter writer(s.log, 20000, 200000);
  MetricTraceLoad load(s.dsd_port, s.apm_port, 2000);
  Delivered got(intake);
  writer.start();
  load.start();
  std::mt19937_64 rng(42);
  int64_t peak = 0;
  int corrupt = 0;
  for (int k = 0; k < kills; ++k) {
    Agent a(s);
    if (!a.ready()) {
      row.notes = "did not start after kill " + std::to_string(k) + ": " + a.err();
      print(row);
      return row;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200 + rng() % 1300));
    peak = std::max(peak, a.peakKiB());
    a.kill9();
    got.poll();
    const std::string err = a.err();
    corrupt += err.find("corrupt") != std::string::npos ? 1 : 0;
  }
  const long written = writer.stop();
  load.stop();
  Agent last(s);
  const bool up = last.ready();
  const bool all = up && waitFor([&] { return got.allLines(written); }, 180s);
  peak = std::max(peak, last.peakKiB());
  std::this_thread::sleep_for(2s);  // the last metrics flush
  const int rc = last.stop();
  got.poll();
  const auto [missing, dups] = got.lines(written);
  row.load = num(20000) + " lines/s (rotated every 200k), 2k samples/s, 10 traces/s";
  row.faults = std::to_string(kills) + " x kill -9";
  row.sent = num(static_cast<double>(written)) + " lines";
  row.delivered = num(static_cast<double>(written - missing)) + " lines (missing " +
                  std::to_string(missing) + ")";
  row.duplicates = std::to_string(dups) + " (" + num(static_cast<double>(dups) / kills) +
                   "/kill; a batch is <= 1000)";
  row.peak_rss_mib = static_cast<double>(peak) / 1024.0;
  row.pass = up && all && missing == 0 && dups <= 1000L * kills && rc == 0 && corrupt == 0;
  row.notes = "metrics: " + num(static_cast<double>(load.samples())) + " sent, " +
              num(got.countSum()) +
              " counted at the intake (aggregates in memory at a kill are lost, as designed); "
              "spool errors after restarts: " +
              std::to_string(corrupt);
  print(row);
  return row;
}

Row faults(int seconds) {
  Row row{"faults"};
  FakeIntakeThread intake;
  intake.start();
  Setup s;
  s.write(intake.url(), "forwarder_backoff_max: 2\n");
  LogWriter writer(s.log, 10000, 0);
  MetricTraceLoad load(s.dsd_port, s.apm_port, 2000);
  Delivered got(intake);
  Agent a(s);
  if (!started(a, row)) {
    return row;
  }
  writer.start();
  load.start();
  std::mt19937_64 rng(7);
  const char* routes[] = {"/api/v2/series", "/api/v2/logs", "/api/v0.2/traces",
                          "/api/beta/sketches"};
  long injected = 0;
  std::map<int, long> by_status;
  const auto t0 = Clock::now();
  while (secondsSince(t0) < seconds) {
    Fault f;
    const int pick = static_cast<int>(rng() % 4);
    f.status = pick == 0 ? 429 : pick == 1 ? 500 : pick == 2 ? 503 : 413;
    if (f.status == 429) {
      f.retry_after = "1";
    }
    f.count = 1 + static_cast<int>(rng() % 3);
    intake.addFault(routes[rng() % 4], f);
    injected += f.count;
    by_status[f.status] += f.count;
    got.poll();
    std::this_thread::sleep_for(250ms);
  }
  const long written = writer.stop();
  load.stop();
  intake.store().clearFaults();
  // Everything delivered, or counted as refused by the intake (the 413s).
  double dropped = 0;
  const bool settled = waitFor(
      [&] {
        got.poll();
        dropped = telemetry(a.status(), "outpost.logs.dropped_by_intake");
        return got.lines(written).first <= static_cast<long>(dropped);
      },
      120s);
  const auto [missing, dups] = got.lines(written);
  row.peak_rss_mib = static_cast<double>(a.peakKiB()) / 1024.0;
  const auto st = a.status();
  const double fwd_dropped = telemetry(st, "outpost.forwarder.dropped");
  const int rc = a.stop();
  row.load = "10k lines/s, 2k samples/s, 10 traces/s for " + std::to_string(seconds) + " s";
  row.faults = std::to_string(injected) + " answers: 429 x" + std::to_string(by_status[429]) +
               ", 500 x" + std::to_string(by_status[500]) + ", 503 x" +
               std::to_string(by_status[503]) + ", 413 x" + std::to_string(by_status[413]);
  row.sent = num(static_cast<double>(written)) + " lines";
  row.delivered = num(static_cast<double>(written - missing)) + " lines + " + num(dropped) +
                  " counted as refused (413)";
  row.duplicates = std::to_string(dups);
  row.pass = settled && missing == static_cast<long>(dropped) && dups == 0 && rc == 0;
  row.notes = "payloads the forwarder counted as dropped: " + num(fwd_dropped) +
              "; metrics: " + num(static_cast<double>(load.samples())) + " sent, " +
              num(got.countSum()) + " at the intake";
  print(row);
  return row;
}

// Spool usage on disk.
uint64_t duBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) {
      total += e.file_size(ec);
    }
  }
  return total;
}

Row outage(int seconds, bool disk_full) {
  Row row{disk_full ? "disk-full" : "outage"};
  std::string tmpfs;
  Setup s;
  if (disk_full) {
    tmpfs = s.dir.file("spool");
    fs::create_directories(tmpfs);
    if (::geteuid() != 0 || ::mount("tmpfs", tmpfs.c_str(), "tmpfs", 0, "size=1m") != 0) {
      row.notes = "skipped: needs root to mount a 1 MiB tmpfs";
      row.pass = true;
      print(row);
      return row;
    }
  }
  FakeIntakeThread intake;
  intake.start();
  const uint64_t budget = disk_full ? 256u << 10 : 8u << 20;
  const uint64_t cap = 64u << 20;
  s.write(intake.url(),
          "forwarder_retry_queue_payloads_max_size: " + std::to_string(budget) +
              "\nforwarder_storage_max_size_in_bytes: " + std::to_string(cap) +
              "\nforwarder_backoff_max: 5\n" +
              (disk_full ? "forwarder_storage_path: " + tmpfs + "\n" : std::string()));
  LogWriter writer(s.log, 10000, 500000);
  // Many distinct contexts so that metric payloads are big enough to reach the spool.
  MetricTraceLoad load(s.dsd_port, s.apm_port, 2000);
  Delivered got(intake);
  Agent a(s);
  if (!started(a, row)) {
    return row;
  }
  writer.start();
  load.start();
  // 20,000 gauge contexts a second from a pool of 100,000: a 10 s bucket holds all of them,
  // so each flush is ~100,000 series (a few MB), enough to reach the spool.
  std::atomic<bool> stop_ctx{false};
  std::thread contexts([&] {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const sockaddr_in to = testing::loopbackAddress(s.dsd_port);
    int base = 0;
    while (!stop_ctx) {
      base = (base + 20000) % 100000;
      for (int i = base; i < base + 20000 && !stop_ctx; ++i) {
        const std::string d = "chaos.gauge:" + std::to_string(i) + "|g|#ctx:" + std::to_string(i);
        ::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to);
        if (i % 500 == 0) {
          std::this_thread::sleep_for(20ms);
        }
      }
    }
    ::close(fd);
  });
  // Steady state first, 30 s (three buckets of 100,000 series built, compressed and sent):
  // its peak RSS is the reference.
  double rss_before = 0;
  for (int i = 0; i < 60; ++i) {
    std::this_thread::sleep_for(500ms);
    rss_before = std::max(rss_before, rssMib(a.pid()));
  }
  // The query socket's stores (metrics, traces, search cache and results) keep filling towards
  // their own caps whatever the intake does: their growth is allowed on top of the budget.
  auto stores = [](const nlohmann::json& st) {
    double b = 0;
    if (st.is_object()) {
      for (const char* k : {"metric_store", "trace_store"}) {
        if (st.contains(k)) {
          b += st[k].value("bytes", 0.0);
        }
      }
      if (st.contains("searches")) {
        b += st["searches"]["cache"].value("bytes", 0.0) +
             st["searches"]["result_store"].value("bytes", 0.0);
      }
    }
    return b / 1048576.0;
  };
  const double stores_before = stores(a.status());
  for (const char* r :
       {"/api/v2/series", "/api/v2/logs", "/api/v0.2/traces", "/api/beta/sketches",
        "/api/v0.2/stats", "/api/v1/check_run", "/api/v2/host_metadata", "/api/v1/validate"}) {
    Fault f;
    f.status = 503;
    f.count = 0;  // every request until cleared
    intake.addFault(r, f);
  }
  const auto t_outage = Clock::now();
  uint64_t spool_peak = 0;
  double worst_latency = 0;
  double rss_peak = 0;
  ResourcePeaks resources;
  while (secondsSince(t_outage) < seconds) {
    std::this_thread::sleep_for(1s);
    spool_peak = std::max(spool_peak, duBytes(disk_full ? tmpfs : s.dir.file("run")));
    double lat = 0;
    resources.sample(a.status(&lat));
    worst_latency = std::max(worst_latency, lat);
    rss_peak = std::max(rss_peak, rssMib(a.pid()));
    got.poll();  // (accepted payloads counted, the refused ones let go)
    if (!a.alive()) {
      break;
    }
  }
  const auto st_outage = a.status();
  const double stores_growth = std::max(0.0, stores(st_outage) - stores_before);
  stop_ctx = true;
  contexts.join();
  const long written = writer.stop();
  load.stop();
  intake.store().clearFaults();
  const auto t_recover = Clock::now();
  const bool all = waitFor([&] { return got.allLines(written); }, 600s);
  const double recovery_s = secondsSince(t_recover);
  std::this_thread::sleep_for(3s);
  got.poll();
  const auto st = a.status();
  const double dropped = telemetry(st, "outpost.forwarder.dropped");
  const auto [missing, dups] = got.lines(written);
  const int rc = a.stop();
  if (disk_full) {
    ::umount2(tmpfs.c_str(), MNT_DETACH);
  }
  row.load = "10k lines/s, 2k samples/s + 100k gauge contexts, 10 traces/s";
  row.faults = std::string("intake 503 for ") + std::to_string(seconds) + " s" +
               (disk_full ? ", spool on a 1 MiB tmpfs" : "");
  row.sent = num(static_cast<double>(written)) + " lines";
  row.delivered = num(static_cast<double>(written - missing)) + " lines after " + num(recovery_s) +
                  " s of recovery";
  row.duplicates = std::to_string(dups);
  row.peak_rss_mib = rss_peak;
  const double budget_mib = static_cast<double>(budget) / 1048576.0;
  // The outage may cost the in-memory budget and some slack (payloads being built), no more.
  const bool rss_ok = rss_peak <= rss_before + budget_mib + stores_growth + 16;
  const bool spool_ok = spool_peak <= (disk_full ? (1u << 20) : cap + (1u << 20));
  row.pass = all && missing == 0 && rss_ok && spool_ok && worst_latency < 2.0 && rc == 0 &&
             (!disk_full || dropped > 0) && resources.within();
  char budget_text[32];
  std::snprintf(budget_text, sizeof budget_text, "%.2f", budget_mib);
  row.notes =
      std::string(rss_ok ? "" : "RSS OVER BUDGET; ") + (spool_ok ? "" : "SPOOL OVER CAP; ") +
      "spool peak " + num(static_cast<double>(spool_peak) / 1024.0) + " KiB (cap " +
      num(static_cast<double>(disk_full ? 1u << 20 : cap) / 1024.0) + "), peak RSS " +
      num(rss_before) + " MiB before the outage, memory budget " + budget_text +
      " MiB, query stores grew " + num(stores_growth) + " MiB, payloads counted as dropped " +
      num(dropped) + ", status answered within " + std::to_string(worst_latency) +
      " s, logs backpressure events " +
      num(telemetry(st_outage, "outpost.logs.backpressure_events")) + "; status resources " +
      (resources.within() ? "within" : "OVER") + " their limits, fullest: " + resources.fullest(3);
  print(row);
  return row;
}

// Sends `head` (+ `body_bytes` of zeros) and returns the status line's code (0: none).
int answerCode(int fd, const std::string& head, size_t body_bytes) {
  if (fd < 0) {
    return 0;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
  std::string zeros(64 << 10, '0');
  for (size_t sent = 0; sent < body_bytes; sent += zeros.size()) {
    if (::send(fd, zeros.data(), zeros.size(), MSG_NOSIGNAL) < 0) {
      break;  // refused early: the answer is waiting
    }
  }
  char buf[256] = {0};
  const ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
  ::close(fd);
  return n > 12 && std::strncmp(buf, "HTTP/1.1 ", 9) == 0 ? std::atoi(buf + 9) : 0;
}

Row slowloris() {
  Row row{"slowloris"};
  FakeIntakeThread intake;
  intake.start();
  Setup s;
  s.write(intake.url(), "apm_config:\n  receiver_timeout: 5\n");
  // (apm_config appears twice otherwise: write it whole.)
  s.dir.write(
      "outpost.yaml",
      "api_key: 0123456789abcdef0123456789abcdef\nhostname: chaos-host\ndd_url: " + intake.url() +
          "\nlogs_enabled: false\ndogstatsd_port: " + std::to_string(s.dsd_port) +
          "\napm_config:\n  receiver_port: " + std::to_string(s.apm_port) + "\n  apm_dd_url: " +
          intake.url() + "\n  receiver_timeout: 5\nrun_path: " + s.dir.file("run") +
          "\nquery_socket: " + s.socket + "\n");
  Agent a(s);
  if (!started(a, row)) {
    return row;
  }
  std::vector<int> fds;
  for (int i = 0; i < 300; ++i) {
    fds.push_back(testing::connectTcp(s.apm_port));
  }
  for (int i = 0; i < 100; ++i) {
    fds.push_back(testing::connectUnix(s.socket));
  }
  const std::string start = "PUT /v0.4/traces HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  for (int fd : fds) {
    if (fd >= 0) {
      (void)::send(fd, start.data(), start.size(), MSG_NOSIGNAL);
    }
  }
  double worst = 0;
  int trace_ok = 0, trace_tries = 0;
  const auto t0 = Clock::now();
  while (secondsSince(t0) < 15) {
    for (int fd : fds) {
      if (fd >= 0) {
        (void)::send(fd, "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      }
    }
    double lat = 0;
    a.status(&lat);
    worst = std::max(worst, lat);
    const auto t1 = Clock::now();
    ++trace_tries;
    const int code =
        answerCode(testing::connectTcp(s.apm_port),
                   "PUT /v0.4/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\n"
                   "Content-Length: 1\r\nConnection: close\r\n\r\n\x90",
                   0);
    worst = std::max(worst, secondsSince(t1));
    trace_ok += code == 200 ? 1 : 0;
    std::this_thread::sleep_for(1s);
  }
  for (int fd : fds) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
  // Oversized: a declared 200 MB body, a streamed 40 MB chunked body, 100 KiB of headers.
  const int big = answerCode(testing::connectTcp(s.apm_port),
                             "PUT /v0.4/traces HTTP/1.1\r\nHost: x\r\nContent-Type: "
                             "application/msgpack\r\nContent-Length: 200000000\r\n\r\n",
                             0);
  std::string chunked_head =
      "PUT /v0.4/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/msgpack\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  const int chunked = [&] {
    const int fd = testing::connectTcp(s.apm_port);
    std::string chunk = "10000\r\n" + std::string(0x10000, 'x') + "\r\n";
    std::string all = chunked_head;
    for (int i = 0; i < 640; ++i) {
      all += chunk;
    }
    return answerCode(fd, all, 0);
  }();
  const int headers = answerCode(
      testing::connectTcp(s.apm_port),
      "GET /info HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100 << 10, 'h') + "\r\n\r\n", 0);
  const int query_big = answerCode(testing::connectUnix(s.socket),
                                   "POST /v1/logs/search HTTP/1.1\r\nHost: x\r\nContent-Length: "
                                   "100000000\r\n\r\n",
                                   0);
  double lat = 0;
  const auto st = a.status(&lat);
  worst = std::max(worst, lat);
  row.peak_rss_mib = static_cast<double>(a.peakKiB()) / 1024.0;
  const double timeouts = telemetry(st, "outpost.http.errors{reason:header_timeout");
  const double refused = telemetry(st, "outpost.http.errors{reason:too_many_connections");
  const int rc = a.stop();
  row.load = "a trace request and a status request a second for 15 s";
  row.faults =
      "300 slow connections on 8126, 100 on the query socket; 200 MB declared, 40 MB "
      "chunked, 100 KiB of headers, 100 MB to the query socket";
  row.sent = std::to_string(trace_tries) + " trace requests";
  row.delivered = std::to_string(trace_ok) + " answered 200";
  row.duplicates = "-";
  row.pass = worst < 2.0 && trace_ok == trace_tries && (big == 413) && (chunked == 413) &&
             (headers == 431 || headers == 400) && (query_big == 413) && row.peak_rss_mib < 256 &&
             rc == 0;
  row.notes = "slowest answer " + std::to_string(worst) + " s; oversized answered " +
              std::to_string(big) + "/" + std::to_string(chunked) + "/" + std::to_string(headers) +
              "/" + std::to_string(query_big) + "; header timeouts " + num(timeouts) +
              ", connections refused over the limit " + num(refused);
  print(row);
  return row;
}

long procNetUdpDrops(int port) {
  std::ifstream in("/proc/net/udp");
  std::string line;
  char hex[8];
  std::snprintf(hex, sizeof hex, "%04X", port);
  long drops = 0;
  while (std::getline(in, line)) {
    if (line.find(std::string(":") + hex + " ") != std::string::npos &&
        line.find("0100007F:" + std::string(hex)) != std::string::npos) {
      std::istringstream ss(line);
      std::string f;
      std::vector<std::string> fields;
      while (ss >> f) {
        fields.push_back(f);
      }
      if (!fields.empty()) {
        drops += std::strtol(fields.back().c_str(), nullptr, 10);
      }
    }
  }
  return drops;
}

Row udpFlood() {
  Row row{"udp-flood"};
  FakeIntakeThread intake;
  intake.start();
  Setup s;
  s.write(intake.url());
  Agent a(s);
  if (!started(a, row)) {
    return row;
  }
  std::atomic<bool> stop{false};
  std::atomic<long> sent{0};
  std::vector<std::thread> senders;
  for (int t = 0; t < 2; ++t) {
    senders.emplace_back([&, t] {
      const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      const sockaddr_in to = testing::loopbackAddress(s.dsd_port);
      std::string d;
      for (int i = 0; i < 20; ++i) {
        d += "flood.metric" + std::to_string(t) + ":1|c|#i:" + std::to_string(i) + "\n";
      }
      d.pop_back();
      while (!stop) {
        if (::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<const sockaddr*>(&to), sizeof to) >
            0) {
          ++sent;
        }
      }
      ::close(fd);
    });
  }
  double worst = 0;
  int answered = 0, asked = 0;
  const auto t0 = Clock::now();
  while (secondsSince(t0) < 10) {
    std::this_thread::sleep_for(500ms);
    double lat = 0;
    ++asked;
    answered += a.status(&lat).is_object() ? 1 : 0;
    worst = std::max(worst, lat);
  }
  stop = true;
  for (auto& t : senders) {
    t.join();
  }
  std::this_thread::sleep_for(2s);
  const auto st = a.status();
  const double received = telemetry(st, "outpost.dogstatsd.packets");
  const long kernel_drops = procNetUdpDrops(s.dsd_port);
  row.peak_rss_mib = static_cast<double>(a.peakKiB()) / 1024.0;
  const int rc = a.stop();
  row.load = "-";
  row.faults = "2 threads sending 20-sample datagrams as fast as they can for 10 s";
  row.sent =
      num(static_cast<double>(sent)) + " datagrams (" + num(static_cast<double>(sent) / 10) + "/s)";
  row.delivered = num(received) + " received";
  row.duplicates = "-";
  const double accounted = received + static_cast<double>(kernel_drops);
  row.pass = answered == asked && worst < 2.0 && row.peak_rss_mib < 256 && rc == 0 &&
             accounted >= 0.99 * static_cast<double>(sent.load());
  row.notes = "kernel drops " + std::to_string(kernel_drops) + " (/proc/net/udp); received + " +
              "dropped = " + num(100 * accounted / std::max<double>(1, sent.load())) +
              " % of sent; status answered " + std::to_string(answered) + "/" +
              std::to_string(asked) + ", slowest " + std::to_string(worst) + " s";
  print(row);
  return row;
}

Row manyFiles(int files) {
  Row row{"many-files"};
  FakeIntakeThread intake;
  intake.start();
  Setup s;
  const std::string dir = s.dir.file("many");
  fs::create_directories(dir);
  for (int i = 0; i < files; ++i) {
    std::ofstream(dir + "/f" + std::to_string(i) + ".log")
        << "2026-12-07T06:00:00Z chaos file " << i << " seq=" << i << "\n";
  }
  s.write(intake.url(), "", dir + "/*.log");
  Delivered got(intake);
  const auto t0 = Clock::now();
  Agent a(s);
  const bool up = a.ready(120s);
  const double start_s = secondsSince(t0);
  // The newest 500 files are tailed: their lines arrive.
  const bool lines = up && waitFor(
                               [&] {
                                 got.poll();
                                 return got.unique() >= 500;
                               },
                               120s);
  double lat = 0;
  const auto st = a.status(&lat);
  row.peak_rss_mib = static_cast<double>(a.peakKiB()) / 1024.0;
  size_t not_tailed = 0;
  if (st.is_object() && st.contains("logs")) {
    const auto& l = st["logs"];
    if (l.contains("not_tailed_count")) {
      not_tailed = l["not_tailed_count"].get<size_t>();
    } else if (l.contains("not_tailed") && l["not_tailed"].is_array()) {
      not_tailed = l["not_tailed"].size();
    }
  }
  const int rc = a.stop();
  row.load = std::to_string(files) + " files of one line under one wildcard";
  row.faults = "-";
  row.sent = std::to_string(files) + " lines";
  row.delivered = std::to_string(got.unique()) + " lines (open_files_limit 500)";
  row.duplicates = std::to_string(got.lines(files).second);
  row.pass = up && lines && got.unique() >= 500 && row.peak_rss_mib < 256 && lat < 2.0 && rc == 0;
  row.notes = "ready after " + std::to_string(start_s) + " s; status answered in " +
              std::to_string(lat) + " s; files listed as not tailed: " + std::to_string(not_tailed);
  print(row);
  return row;
}

Row clockJump() {
  Row row{"clock-jump"};
  const char* lib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
  if (!fs::exists(lib)) {
    row.notes = "skipped: libfaketime is not installed (apt install libfaketime)";
    row.pass = true;
    print(row);
    return row;
  }
  FakeIntakeThread intake;
  intake.start();
  Setup s;
  s.write(intake.url());
  const std::string offset_file = s.dir.file("faketime");
  std::ofstream(offset_file) << "+0\n";
  LogWriter writer(s.log, 5000, 0);
  MetricTraceLoad load(s.dsd_port, s.apm_port, 1000);
  Delivered got(intake);
  Agent a(s, {{"LD_PRELOAD", std::string(lib)},
              {"FAKETIME_TIMESTAMP_FILE", offset_file},
              {"FAKETIME_NO_CACHE", "1"},
              {"FAKETIME_DONT_FAKE_MONOTONIC", "1"}});
  if (!started(a, row)) {
    return row;
  }
  writer.start();
  load.start();
  std::vector<std::string> flushes;
  for (const char* jump : {"+3600", "-3600", "+0"}) {
    std::this_thread::sleep_for(4s);
    std::ofstream(offset_file) << jump << "\n";
    // Metrics keep arriving after the jump.
    const double before = got.countSum();
    const bool flushed = waitFor(
        [&] {
          got.poll();
          return got.countSum() > before;
        },
        20s);
    flushes.push_back(std::string(jump) + (flushed ? " ok" : " NO FLUSH"));
  }
  const long written = writer.stop();
  load.stop();
  const bool all = waitFor([&] { return got.allLines(written); }, 60s);
  const auto [missing, dups] = got.lines(written);
  row.peak_rss_mib = static_cast<double>(a.peakKiB()) / 1024.0;
  const bool alive = a.alive();
  const int rc = a.stop();
  row.load = "5k lines/s, 1k samples/s, 10 traces/s";
  row.faults = "wall clock +1 h, then -1 h (2 h back), then back to true time";
  row.sent = num(static_cast<double>(written)) + " lines";
  row.delivered = num(static_cast<double>(written - missing)) + " lines";
  row.duplicates = std::to_string(dups);
  bool every_flush = true;
  std::string f;
  for (const auto& x : flushes) {
    every_flush = every_flush && x.find("NO FLUSH") == std::string::npos;
    f += (f.empty() ? "" : ", ") + x;
  }
  row.pass = alive && all && missing == 0 && dups == 0 && every_flush && rc == 0;
  row.notes = "metric flushes after each jump: " + f;
  print(row);
  return row;
}

// Not a fault: steady mixed load for `seconds` (the 1-hour soak: --only soak --soak-seconds
// 3600), RSS sampled every 10 s. Flat means the last quarter's mean is within 10 % (or 8 MiB)
// of the second quarter's (the first quarter is warm-up: buffers and stores filling).
Row soak(int seconds) {
  Row row{"soak"};
  FakeIntakeThread intake;
  intake.start();
  Setup s;
  // The trace store is made small enough to fill during the warm-up quarter (at this load the
  // default 32 MiB takes over an hour): the stores grow to their limits and then hold, so RSS
  // after the warm-up says whether anything else grows.
  s.write(intake.url(), "query:\n  traces_max_bytes: 4194304\n");
  LogWriter writer(s.log, 5000, 300000);
  MetricTraceLoad load(s.dsd_port, s.apm_port, 5000);
  Delivered got(intake);
  Agent a(s);
  if (!started(a, row)) {
    return row;
  }
  writer.start();
  load.start();
  std::vector<double> rss;
  ResourcePeaks resources;
  const auto t0 = Clock::now();
  while (secondsSince(t0) < seconds && a.alive()) {
    std::this_thread::sleep_for(10s);
    rss.push_back(rssMib(a.pid()));
    resources.sample(a.status());
    got.poll();
    // Searches and tails too, as an agent would ask.
    query::queryPost(s.socket, "/v1/logs/search", R"({"query":"seq=00000","limit":20})");
    query::queryPost(s.socket, "/v1/logs/tail", R"({"lines":50})");
    if (rss.size() % 30 == 0) {
      std::printf("  soak: %.0f s, RSS %.1f MiB\n", secondsSince(t0), rss.back());
      std::fflush(stdout);
    }
  }
  const long written = writer.stop();
  load.stop();
  const bool all = waitFor([&] { return got.allLines(written); }, 120s);
  const auto [missing, dups] = got.lines(written);
  const int rc = a.stop();
  auto mean = [&](size_t from, size_t to) {
    double sum = 0;
    for (size_t i = from; i < to; ++i) {
      sum += rss[i];
    }
    return to > from ? sum / static_cast<double>(to - from) : 0;
  };
  const size_t q = rss.size() / 4;
  const double second_q = mean(q, 2 * q);
  const double last_q = mean(3 * q, rss.size());
  const bool flat = q > 0 && last_q <= std::max(second_q * 1.10, second_q + 8);
  row.load = "5k lines/s, 5k samples/s, 10 traces/s, a search and a tail every 10 s";
  row.faults = "- (" + std::to_string(seconds) + " s)";
  row.sent = num(static_cast<double>(written)) + " lines";
  row.delivered = num(static_cast<double>(written - missing)) + " lines";
  row.duplicates = std::to_string(dups);
  row.peak_rss_mib = rss.empty() ? 0 : *std::max_element(rss.begin(), rss.end());
  row.pass = all && missing == 0 && flat && rc == 0 && resources.within();
  char b[200];
  std::snprintf(b, sizeof b, "RSS mean %.1f MiB in the 2nd quarter, %.1f MiB in the last (%s)",
                second_q, last_q, flat ? "flat" : "GROWING");
  row.notes = std::string(b) + "; status resources " + (resources.within() ? "within" : "OVER") +
              " their limits in every sample, fullest: " + resources.fullest(4);
  print(row);
  return row;
}

}  // namespace
}  // namespace outpost

int main(int argc, char** argv) {
  using namespace outpost;
  g_outpost = (fs::path(argv[0]).parent_path() / "outpost").string();
  std::set<std::string> only;
  int kills = 50;
  int outage_seconds = 600;
  int soak_seconds = 3600;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      g_quick = true;
      kills = 5;
      outage_seconds = 45;
    } else if (a == "--only" && i + 1 < argc) {
      std::stringstream ss(argv[++i]);
      std::string n;
      while (std::getline(ss, n, ',')) {
        only.insert(n);
      }
    } else if (a == "--kills" && i + 1 < argc) {
      kills = std::atoi(argv[++i]);
    } else if (a == "--soak-seconds" && i + 1 < argc) {
      soak_seconds = std::atoi(argv[++i]);
    } else if (a == "--outage-seconds" && i + 1 < argc) {
      outage_seconds = std::atoi(argv[++i]);
    } else if (a == "--outpost" && i + 1 < argc) {
      g_outpost = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: outpost-chaos [--quick] [--only NAME,...] [--kills N] "
                   "[--outage-seconds S] [--soak-seconds S] [--outpost PATH]\n"
                   "scenarios: kill9 faults outage disk-full slowloris udp-flood many-files "
                   "clock-jump; soak (1 hour, only when named)\n");
      return 2;
    }
  }
  ::signal(SIGPIPE, SIG_IGN);
  const std::vector<std::pair<std::string, std::function<Row()>>> scenarios = {
      {"kill9", [&] { return kill9(kills); }},
      {"faults", [&] { return faults(g_quick ? 20 : 60); }},
      {"outage", [&] { return outage(outage_seconds, false); }},
      {"disk-full", [&] { return outage(g_quick ? 30 : 60, true); }},
      {"slowloris", [&] { return slowloris(); }},
      {"udp-flood", [&] { return udpFlood(); }},
      {"many-files", [&] { return manyFiles(g_quick ? 20000 : 100000); }},
      {"clock-jump", [&] { return clockJump(); }},
      {"soak", [&] { return soak(soak_seconds); }},
  };
  std::vector<Row> rows;
  for (const auto& [name, run] : scenarios) {
    if (only.empty() ? name == "soak" : !only.count(name)) {
      continue;  // (the soak runs only when named)
    }
    std::printf("== %s\n", name.c_str());
    std::fflush(stdout);
    const auto t0 = Clock::now();
    rows.push_back(run());
    rows.back().notes += "; took " + std::to_string(static_cast<int>(secondsSince(t0))) + " s";
  }
  std::printf(
      "\n| scenario | load | faults injected | sent | delivered | duplicates | peak RSS | "
      "verdict | notes |\n|---|---|---|---|---|---|---|---|---|\n");
  bool ok = true;
  for (const auto& r : rows) {
    std::printf("| %s | %s | %s | %s | %s | %s | %.1f MiB | %s | %s |\n", r.scenario.c_str(),
                r.load.c_str(), r.faults.c_str(), r.sent.c_str(), r.delivered.c_str(),
                r.duplicates.c_str(), r.peak_rss_mib, r.pass ? "pass" : "**FAIL**",
                r.notes.c_str());
    ok = ok && r.pass;
  }
  return ok ? 0 : 1;
}
