// outpost-bench-logs: the logs pipeline end to end (tail → split → JSON → zstd → HTTP) through a
// real `outpost run`, each figure beside references measured on the same file in the same run.
//
//   outpost-bench-logs [--quick] [--mib N] [--outpost PATH] [--plain-only | --rules-only]
//
// 1. One file of N MiB (default 1024; 128 with --quick) of realistic ~200-byte syslog lines,
//    tailed from the beginning by `outpost run` pinned to ONE core (sched_setaffinity before exec:
//    reading, encoding and the forwarder's zstd all share it), shipped to an in-process sink that
//    decompresses every request and counts the log entries. Time: from the daemon's start until
//    the sink has counted every line. References on the same file: `cat FILE > /dev/null` and
//    `zstd -1 -c FILE > /dev/null` (one thread), both with the file in the page cache; and the
//    payload reference: zstd level 1 alone over the JSON bodies the sink received (up to
//    512 MiB of them, one frame per payload as the forwarder makes them), timed in this process
//    and scaled to the file bytes they carry: what compressing the intake's format costs.
// 2. The same with 3 processing rules (exclude_at_match, mask_sequences, include_at_match).
// 3. 100 files written concurrently by 100 writer threads while outpost tails them (outpost not
//    pinned): lines/s until all arrived.
// 4. Idle latency: one line written to a quiet file until it reaches the sink (default
//    batch_wait 5 s; target <= batch_wait + 100 ms).
// 5. RSS while tailing 500 busy files (500 files appended to continuously for a few seconds):
//    the daemon's peak RSS (VmHWM). Target <= 64 MiB.
// The last line is `RESULT key=value ...`. Only loopback and a temporary directory are used.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/http_server.h"
#include "core/loop.h"
#include "core/telemetry.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "outpost-bench-logs: %s\n", what.c_str());
  std::exit(1);
}

// The intake stand-in: decompresses each /api/v2/logs body and counts its entries.
class LogsSink {
 public:
  LogsSink() {
    thread_ = std::thread([this] { serve(); });
    while (port_ == 0) {
      std::this_thread::yield();
    }
  }
  ~LogsSink() {
    stop_.load()->send();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  uint64_t entries() const { return entries_; }
  uint64_t requests() const { return requests_; }
  uint64_t compressedBytes() const { return compressed_; }
  uint64_t rawBytes() const { return raw_; }
  int64_t lastEntryNs() const { return last_ns_; }
  // The first body containing `needle` arrived at (steady ns), or 0.
  void watchFor(std::string needle) {
    std::lock_guard<std::mutex> lock(mu_);
    needle_ = std::move(needle);
    found_ns_ = 0;
  }
  int64_t foundNs() const { return found_ns_; }
  // Keeps the bodies as they arrived (compressed: cheap to copy while the clock runs) until
  // their decompressed size reaches `max_bytes`, for the payload reference.
  void keepBodies(size_t max_bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    keep_max_ = max_bytes;
  }
  // The kept bodies, decompressed.
  std::vector<std::string> takeBodies() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& b : bodies_) {
      out.push_back(decompress(b));
    }
    bodies_.clear();
    return out;
  }

 private:
  static std::string decompress(std::string_view body) {
    std::string plain;
    ZSTD_DCtx* dctx = ZSTD_createDCtx();
    std::vector<char> out(1 << 20);
    ZSTD_inBuffer in{body.data(), body.size(), 0};
    while (in.pos < in.size) {
      ZSTD_outBuffer o{out.data(), out.size(), 0};
      const size_t rc = ZSTD_decompressStream(dctx, &o, &in);
      if (ZSTD_isError(rc)) {
        break;
      }
      plain.append(out.data(), o.pos);
    }
    ZSTD_freeDCtx(dctx);
    return plain;
  }
  // Decompresses into a buffer kept between requests (the forwarder's frames carry their size):
  // the sink must stay much faster than the pipeline it measures.
  std::string_view decompressFast(std::string_view body) {
    const unsigned long long size = ZSTD_getFrameContentSize(body.data(), body.size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > (64u << 20)) {
      plain_ = decompress(body);
      return plain_;
    }
    if (plain_.size() < size) {
      plain_.resize(size);
    }
    if (dctx_ == nullptr) {
      dctx_ = ZSTD_createDCtx();
    }
    const size_t n = ZSTD_decompressDCtx(dctx_, plain_.data(), size, body.data(), body.size());
    return ZSTD_isError(n) ? std::string_view() : std::string_view(plain_.data(), n);
  }
  void count(const outpost::HttpRequest& req) {
    std::string_view body = req.body;
    const bool zstd = req.header("content-encoding") == "zstd";
    if (zstd) {
      body = decompressFast(body);
    }
    uint64_t n = 0;
    static constexpr std::string_view kEntry = "{\"message\":";
    for (const char* p = body.data(); p != nullptr;) {
      p = static_cast<const char*>(::memmem(p, static_cast<size_t>(body.data() + body.size() - p),
                                            kEntry.data(), kEntry.size()));
      if (p != nullptr) {
        ++n;
        p += kEntry.size();
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!needle_.empty() && found_ns_ == 0 && body.find(needle_) != std::string_view::npos) {
        found_ns_ = Clock::now().time_since_epoch().count();
      }
      if (zstd && kept_ + body.size() <= keep_max_) {
        kept_ += body.size();
        bodies_.emplace_back(req.body);
      }
    }
    raw_ += body.size();
    compressed_ += req.body.size();
    entries_ += n;
    ++requests_;
    last_ns_ = Clock::now().time_since_epoch().count();
  }
  void serve() {
    outpost::Loop loop;
    outpost::Telemetry telemetry;
    outpost::HttpServer::Options options;
    options.name = "logs-sink";
    options.max_body_bytes = 64 << 20;
    outpost::HttpServer server(
        loop.get(), options,
        [this](outpost::HttpRequest& req, outpost::HttpServer::Respond respond) {
          // Accepted first, then counted, as the intake answers 202 before it processes.
          respond(outpost::HttpResponse::json(202, "{}"));
          if (req.path == "/api/v2/logs") {
            count(req);
          }
        },
        telemetry);
    std::string error;
    if (!server.listenTcp("127.0.0.1", 0, &error)) {
      die("sink: " + error);
    }
    outpost::Async stop(loop.get(), [&] {
      server.shutdown([] {});
      loop.stop();
    });
    stop_ = &stop;
    port_ = server.port();
    loop.run();
  }
  std::thread thread_;
  std::atomic<int> port_{0};
  std::atomic<outpost::Async*> stop_{nullptr};
  std::atomic<uint64_t> entries_{0}, requests_{0}, compressed_{0}, raw_{0};
  std::atomic<int64_t> last_ns_{0};
  std::mutex mu_;
  std::string needle_;
  std::atomic<int64_t> found_ns_{0};
  size_t keep_max_ = 0;
  size_t kept_ = 0;
  std::vector<std::string> bodies_;
  std::string plain_;  // the sink thread's decompression buffer
  ZSTD_DCtx* dctx_ = nullptr;
};

// Realistic syslog lines, ~200 bytes: RFC 3164 header, a program, a pid and a varied message.
std::string syslogLine(std::mt19937_64& rng, uint64_t i) {
  static const char* kPrograms[] = {"sshd", "nginx",      "kernel",        "systemd",
                                    "cron", "app-server", "postfix/smtpd", "dockerd"};
  static const char* kLevels[] = {"INFO", "INFO", "INFO", "WARN", "DEBUG", "ERROR"};
  char buf[512];
  const int sec = static_cast<int>(i / 2000 % 60);
  const int n = std::snprintf(
      buf, sizeof buf,
      "Nov 22 06:%02d:%02d web-%02d %s[%u]: %s request id=%016llx user=u%04u src=10.%u.%u.%u "
      "path=/api/v1/items/%u status=%u bytes=%u duration_ms=%u password=hunter%u agent=curl/7.88.1",
      static_cast<int>(i / 120000 % 60), sec, static_cast<int>(rng() % 16), kPrograms[rng() % 8],
      static_cast<unsigned>(1000 + rng() % 30000), kLevels[rng() % 6],
      static_cast<unsigned long long>(rng()), static_cast<unsigned>(rng() % 10000),
      static_cast<unsigned>(rng() % 256), static_cast<unsigned>(rng() % 256),
      static_cast<unsigned>(rng() % 256), static_cast<unsigned>(rng() % 100000),
      static_cast<unsigned>(200 + rng() % 4 * 100), static_cast<unsigned>(rng() % 65536),
      static_cast<unsigned>(rng() % 2000), static_cast<unsigned>(rng() % 100));
  return std::string(buf, static_cast<size_t>(n)) + "\n";
}

// Writes `mib` MiB of lines; returns (lines, lines containing "DEBUG").
std::pair<uint64_t, uint64_t> writeFile(const std::string& path, uint64_t mib) {
  std::mt19937_64 rng(7);
  std::ofstream out(path, std::ios::binary);
  const uint64_t target = mib << 20;
  uint64_t bytes = 0;
  uint64_t lines = 0;
  uint64_t debug = 0;
  std::string chunk;
  while (bytes < target) {
    std::string l = syslogLine(rng, lines);
    debug += l.find("DEBUG") != std::string::npos ? 1 : 0;
    bytes += l.size();
    chunk += l;
    ++lines;
    if (chunk.size() > (1 << 20)) {
      out << chunk;
      chunk.clear();
    }
  }
  out << chunk;
  return {lines, debug};
}

double timeCommand(const std::string& cmd) {
  const auto t0 = Clock::now();
  if (std::system(cmd.c_str()) != 0) {
    die("failed: " + cmd);
  }
  return seconds(t0);
}

struct Daemon {
  pid_t pid = -1;
};

Daemon spawnOutpost(const std::string& outpost, const std::string& dir, int cpu) {
  Daemon d;
  d.pid = ::fork();
  if (d.pid == 0) {
    if (cpu >= 0) {
      cpu_set_t set;
      CPU_ZERO(&set);
      CPU_SET(cpu, &set);
      ::sched_setaffinity(0, sizeof set, &set);
    }
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    const std::string log = dir + "/outpost.err";
    const int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(err, 2);
    ::execl(outpost.c_str(), outpost.c_str(), "run", "-c", dir.c_str(), nullptr);
    ::_exit(127);
  }
  return d;
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

// CPU seconds (user + system) the process used so far, from /proc/PID/stat.
double cpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) {
    return 0;
  }
  std::istringstream fields(text.substr(close + 2));
  std::string f;
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {  // field 3 is the state
    if (i == 14) {
      utime = std::strtoull(f.c_str(), nullptr, 10);
    } else if (i == 15) {
      stime = std::strtoull(f.c_str(), nullptr, 10);
    }
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

void stopOutpost(Daemon& d) {
  ::kill(d.pid, SIGTERM);
  int status = 0;
  ::waitpid(d.pid, &status, 0);
}

void writeConfig(const std::string& dir, const std::string& sink_url, const std::string& sources,
                 const std::string& extra = "") {
  fs::create_directories(dir + "/conf.d/bench.d");
  std::ofstream(dir + "/outpost.yaml") << "api_key: 0123456789abcdef0123456789abcdef\n"
                                       << "hostname: bench-host\n"
                                       << "dd_url: " << sink_url << "\n"
                                       << "logs_enabled: true\n"
                                       << "use_dogstatsd: false\n"
                                       << "apm_config:\n  enabled: false\n"
                                       << "logs_config:\n  logs_dd_url: " << sink_url << "\n"
                                       << extra << "run_path: " << dir << "/run\n";
  std::ofstream(dir + "/conf.d/bench.d/conf.yaml") << "logs:\n" << sources;
}

bool waitEntries(const LogsSink& sink, uint64_t n, double timeout_s) {
  const auto t0 = Clock::now();
  while (sink.entries() < n) {
    if (seconds(t0) > timeout_s) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

struct E2E {
  double seconds = 0;
  double mb_per_s = 0;
  double lines_per_s = 0;
  int64_t peak_rss_kib = 0;
  double cpu_seconds = 0;  // the daemon's, start to the last line counted
  double compression = 0;
  std::vector<std::string> bodies;  // decompressed payloads, when asked for
};

// The payload reference: zstd level 1 over the bodies the intake received, one frame per
// payload as the forwarder compresses them, on this one thread (best of 3). Returns the file
// bytes those bodies carry per second (entries x the file's mean line size).
double payloadZstdMbps(const std::vector<std::string>& bodies, double bytes_per_line) {
  uint64_t entries = 0;
  for (const auto& b : bodies) {
    for (size_t at = b.find("{\"message\":"); at != std::string::npos;
         at = b.find("{\"message\":", at + 11)) {
      ++entries;
    }
  }
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  std::vector<char> out(ZSTD_compressBound(8 << 20));
  double best = 1e9;
  for (int rep = 0; rep < 3; ++rep) {
    const auto t0 = Clock::now();
    for (const auto& b : bodies) {
      ZSTD_compressCCtx(cctx, out.data(), out.size(), b.data(), b.size(), 1);
    }
    best = std::min(best, seconds(t0));
  }
  ZSTD_freeCCtx(cctx);
  return static_cast<double>(entries) * bytes_per_line / 1e6 / best;
}

E2E runFile(const std::string& outpost, const std::string& root, const std::string& file,
            uint64_t file_bytes, uint64_t expect, const std::string& rules, const char* name,
            size_t keep_bodies = 0) {
  LogsSink sink;
  sink.keepBodies(keep_bodies);
  const std::string dir = root + "/" + name;
  fs::create_directories(dir);
  writeConfig(dir, sink.url(),
              "  - type: file\n    path: " + file +
                  "\n    service: bench\n    source: syslog\n    start_position: beginning\n" +
                  rules,
              "  batch_wait: 0.1\n");
  const auto t0 = Clock::now();
  Daemon d = spawnOutpost(outpost, dir, 0);
  if (!waitEntries(sink, expect, 600)) {
    stopOutpost(d);
    die(std::string(name) + ": the sink counted " + std::to_string(sink.entries()) + " of " +
        std::to_string(expect) + " lines (see " + dir + "/outpost.err)");
  }
  E2E r;
  r.seconds = seconds(t0);
  r.peak_rss_kib = peakRssKiB(d.pid);
  r.cpu_seconds = cpuSeconds(d.pid);
  stopOutpost(d);
  r.mb_per_s = static_cast<double>(file_bytes) / 1e6 / r.seconds;
  r.lines_per_s = static_cast<double>(expect) / r.seconds;
  r.compression =
      static_cast<double>(sink.rawBytes()) / std::max<uint64_t>(1, sink.compressedBytes());
  r.bodies = sink.takeBodies();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  bool plain_only = false;  // the references and the plain run only (comparing two builds)
  bool rules_only = false;  // the references and the run with rules only
  uint64_t mib = 1024;
  std::string outpost = (fs::path(argv[0]).parent_path() / "outpost").string();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
      mib = 128;
    } else if (a == "--mib" && i + 1 < argc) {
      mib = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--outpost" && i + 1 < argc) {
      outpost = argv[++i];
    } else if (a == "--plain-only") {
      plain_only = true;
    } else if (a == "--rules-only") {
      rules_only = true;
    } else {
      std::fprintf(stderr,
                   "usage: outpost-bench-logs [--quick] [--mib N] [--outpost PATH] "
                   "[--plain-only | --rules-only]\n");
      return 2;
    }
  }
  char tmpl[] = "/tmp/outpost-bench-logs-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    die("mkdtemp");
  }
  const std::string root = tmpl;
  const std::string file = root + "/syslog";
  const auto [lines, debug_lines] = writeFile(file, mib);
  const uint64_t file_bytes = fs::file_size(file);
  std::printf("outpost-bench-logs: %s, %.0f MiB, %llu lines (%.0f bytes/line)\n", file.c_str(),
              file_bytes / 1048576.0, static_cast<unsigned long long>(lines),
              static_cast<double>(file_bytes) / lines);

  // References, page cache warm.
  timeCommand("cat " + file + " > /dev/null");
  const double cat_s = timeCommand("cat " + file + " > /dev/null");
  const double zstd_s = timeCommand("zstd -q -1 -T1 -c " + file + " > /dev/null");
  const double cat_mbps = file_bytes / 1e6 / cat_s;
  const double zstd_mbps = file_bytes / 1e6 / zstd_s;

  const std::string rules =
      "    log_processing_rules:\n"
      "      - type: exclude_at_match\n        name: no_debug\n        pattern: ' DEBUG '\n"
      "      - type: mask_sequences\n        name: passwords\n"
      "        pattern: 'password=\\S+'\n        replace_placeholder: 'password=[masked]'\n"
      "      - type: include_at_match\n        name: requests\n        pattern: 'request id='\n";
  if (rules_only) {
    const E2E ruled = runFile(outpost, root, file, file_bytes, lines - debug_lines, rules, "rules");
    std::printf("RESULT zstd_mbps=%.0f rules_mbps=%.0f rules_vs_zstd=%.3f rules_cpu_busy=%.2f\n",
                zstd_mbps, ruled.mb_per_s, ruled.mb_per_s / zstd_mbps,
                ruled.cpu_seconds / ruled.seconds);
    fs::remove_all(root);
    return 0;
  }

  // The plain run keeps up to 512 MiB of the payloads it delivered for the payload reference.
  const E2E plain = runFile(outpost, root, file, file_bytes, lines, "", "plain", 512u << 20);
  const double payload_mbps =
      payloadZstdMbps(plain.bodies, static_cast<double>(file_bytes) / static_cast<double>(lines));
  if (plain_only) {
    std::printf(
        "RESULT zstd_mbps=%.0f payload_zstd_mbps=%.0f e2e_mbps=%.0f e2e_vs_zstd=%.3f "
        "e2e_vs_payload=%.3f e2e_cpu_busy=%.2f\n",
        zstd_mbps, payload_mbps, plain.mb_per_s, plain.mb_per_s / zstd_mbps,
        plain.mb_per_s / payload_mbps, plain.cpu_seconds / plain.seconds);
    fs::remove_all(root);
    return 0;
  }
  const E2E ruled = runFile(outpost, root, file, file_bytes, lines - debug_lines, rules, "rules");

  std::printf("\n1-2. One file, outpost pinned to one core, end to end to the sink\n");
  std::printf("%-40s %8s %10s %9s %12s %9s %10s\n", "", "MB/s", "lines/s", "vs zstd", "vs payload",
              "vs cat", "peak RSS");
  std::printf("%-40s %8.0f %10s %9s %12s %8.3fx %10s\n", "cat FILE > /dev/null (ref)", cat_mbps,
              "-", "-", "-", 1.0, "-");
  std::printf("%-40s %8.0f %10s %8.3fx %12s %8.3fx %10s\n", "zstd -1 -T1 FILE (ref)", zstd_mbps,
              "-", 1.0, "-", zstd_mbps / cat_mbps, "-");
  std::printf("%-40s %8.0f %10s %8.3fx %11.3fx %8.3fx %10s\n",
              "zstd -1 on the intake payloads (ref)", payload_mbps, "-", payload_mbps / zstd_mbps,
              1.0, payload_mbps / cat_mbps, "-");
  std::printf("%-40s %8.0f %10.0f %8.3fx %11.3fx %8.3fx %6.1f MiB\n", "tail+split+JSON+zstd+HTTP",
              plain.mb_per_s, plain.lines_per_s, plain.mb_per_s / zstd_mbps,
              plain.mb_per_s / payload_mbps, plain.mb_per_s / cat_mbps,
              plain.peak_rss_kib / 1024.0);
  std::printf("%-40s %8.0f %10.0f %8.3fx %11.3fx %8.3fx %6.1f MiB\n",
              "the same with 3 processing rules", ruled.mb_per_s, ruled.lines_per_s,
              ruled.mb_per_s / zstd_mbps, ruled.mb_per_s / payload_mbps, ruled.mb_per_s / cat_mbps,
              ruled.peak_rss_kib / 1024.0);
  std::printf(
      "(MB/s are of the log file. \"payload\": zstd -1 alone over the JSON bodies the\n"
      " intake received, one frame each, in this process: the cost of compression alone.\n"
      " Targets as issued: >= 0.8x zstd plain, >= 0.6x with rules.)\n");
  std::printf("(compression on the wire: %.1fx)\n", plain.compression);

  // 3. 100 files written concurrently.
  double many_lps = 0;
  double many_mbps = 0;
  {
    LogsSink sink;
    const std::string dir = root + "/many";
    fs::create_directories(dir + "/files");
    writeConfig(dir, sink.url(),
                "  - type: file\n    path: " + dir +
                    "/files/*.log\n    service: many\n    start_position: beginning\n",
                "  batch_wait: 0.5\n");
    Daemon d = spawnOutpost(outpost, dir, -1);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const uint64_t per_file = quick ? 5000 : 20000;
    const auto t0 = Clock::now();
    std::vector<std::thread> writers;
    std::atomic<uint64_t> written_bytes{0};
    for (int f = 0; f < 100; ++f) {
      writers.emplace_back([&, f] {
        std::mt19937_64 rng(static_cast<uint64_t>(f));
        std::ofstream out(dir + "/files/f" + std::to_string(f) + ".log", std::ios::binary);
        std::string chunk;
        for (uint64_t i = 0; i < per_file; ++i) {
          chunk += syslogLine(rng, i);
          if (chunk.size() > 64 * 1024) {
            out << chunk << std::flush;
            written_bytes += chunk.size();
            chunk.clear();
          }
        }
        out << chunk << std::flush;
        written_bytes += chunk.size();
      });
    }
    for (auto& w : writers) {
      w.join();
    }
    if (!waitEntries(sink, per_file * 100, 600)) {
      die("100 files: the sink counted " + std::to_string(sink.entries()) + " lines");
    }
    const double s = seconds(t0);
    stopOutpost(d);
    many_lps = per_file * 100 / s;
    many_mbps = written_bytes / 1e6 / s;
    std::printf(
        "\n3. 100 files written concurrently (%llu lines each): %.0f lines/s, %.0f MB/s "
        "(writers included)\n",
        static_cast<unsigned long long>(per_file), many_lps, many_mbps);
  }

  // 4. Idle latency (default batch_wait 5 s).
  double latency_ms = 0;
  {
    LogsSink sink;
    const std::string dir = root + "/latency";
    fs::create_directories(dir);
    const std::string quiet = dir + "/quiet.log";
    std::ofstream(quiet) << "started\n";
    writeConfig(dir, sink.url(), "  - type: file\n    path: " + quiet + "\n    service: quiet\n");
    Daemon d = spawnOutpost(outpost, dir, -1);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    sink.watchFor("the-needle-line");
    const auto t0 = Clock::now();
    std::ofstream(quiet, std::ios::app) << "the-needle-line\n" << std::flush;
    while (sink.foundNs() == 0 && seconds(t0) < 30) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    latency_ms = (sink.foundNs() - t0.time_since_epoch().count()) / 1e6;
    stopOutpost(d);
    std::printf(
        "\n4. Idle latency, line written to line at the sink: %.0f ms (batch_wait 5000 ms; "
        "target <= 5100 ms)\n",
        latency_ms);
  }

  // 5. RSS with 500 busy files.
  int64_t rss500 = 0;
  {
    LogsSink sink;
    const std::string dir = root + "/rss";
    fs::create_directories(dir + "/files");
    std::vector<int> fds;
    for (int f = 0; f < 500; ++f) {
      fds.push_back(::open((dir + "/files/b" + std::to_string(f) + ".log").c_str(),
                           O_WRONLY | O_CREAT | O_APPEND, 0644));
    }
    writeConfig(dir, sink.url(),
                "  - type: file\n    path: " + dir +
                    "/files/*.log\n    service: busy\n    start_position: beginning\n",
                "  batch_wait: 1\n");
    Daemon d = spawnOutpost(outpost, dir, -1);
    std::mt19937_64 rng(3);
    const auto t0 = Clock::now();
    uint64_t written = 0;
    const double run_s = quick ? 3 : 8;
    while (seconds(t0) < run_s) {
      for (int f = 0; f < 500; ++f) {
        std::string chunk;
        for (int i = 0; i < 20; ++i) {
          chunk += syslogLine(rng, written++);
        }
        if (::write(fds[static_cast<size_t>(f)], chunk.data(), chunk.size()) < 0) {
          die("write");
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    waitEntries(sink, written, 60);
    rss500 = peakRssKiB(d.pid);
    stopOutpost(d);
    for (int fd : fds) {
      ::close(fd);
    }
    std::printf(
        "\n5. 500 busy files (%llu lines in %.0f s): peak RSS %.1f MiB (target <= 64 MiB); "
        "%llu of %llu lines delivered\n",
        static_cast<unsigned long long>(written), run_s, rss500 / 1024.0,
        static_cast<unsigned long long>(sink.entries()), static_cast<unsigned long long>(written));
  }
  fs::remove_all(root);
  std::printf(
      "\nRESULT file_mib=%.0f cat_mbps=%.0f zstd_mbps=%.0f payload_zstd_mbps=%.0f e2e_mbps=%.0f "
      "e2e_vs_zstd=%.3f e2e_vs_payload=%.3f "
      "e2e_lines_per_s=%.0f rules_mbps=%.0f rules_vs_zstd=%.3f e2e_rss_mib=%.1f "
      "many_lines_per_s=%.0f idle_latency_ms=%.0f rss500_mib=%.1f\n",
      file_bytes / 1048576.0, cat_mbps, zstd_mbps, payload_mbps, plain.mb_per_s,
      plain.mb_per_s / zstd_mbps, plain.mb_per_s / payload_mbps, plain.lines_per_s, ruled.mb_per_s,
      ruled.mb_per_s / zstd_mbps, plain.peak_rss_kib / 1024.0, many_lps, latency_ms,
      rss500 / 1024.0);
  return 0;
}
