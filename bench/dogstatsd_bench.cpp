// outpost-bench-dogstatsd: DogStatsD intake throughput and context memory, each figure against a
// reference measured in the same run.
//
//   outpost-bench-dogstatsd [--quick] [--samples N] [--seconds-per-rate S]
//
// 1. In-process, one core: N samples (default 5M) in datagrams of exactly 20 lines (counters 35 %,
//    gauges 25 %, histograms 15 %, distributions 15 %, sets 10 %; 3-5 tags; 10k contexts) through
//    Parser -> Handler -> Aggregator::add, flushing whenever the wall-clock second changes (as the
//    agent's 10 s buckets close). References over the same bytes: a memchr('\n') line count
//    (bytes/s), and the parser alone with an empty handler. Median of 3 runs (1 with --quick).
// 2. Loopback UDP: DogStatsdListeners (udp_ephemeral_port, so_rcvbuf 8 MiB) + parser + aggregator
//    on a libuv loop on the main thread; a load generator on a second thread sends with sendmmsg,
//    paced by a token bucket on CLOCK_MONOTONIC, for S seconds (default 2) per offered rate: 20
//    samples per datagram at 100k/300k/600k/1M samples/s, then 1 sample per datagram at
//    100k/250k/500k datagrams/s. Reference: the same sender against a bare blocking recvmmsg
//    loop (no parsing) on the main thread, run just before each listener run. Loss is 1 -
//    received/offered samples (offered: what the token bucket released; on a busy 2-vCPU machine
//    the sender itself may fall short of the nominal rate, shown as "offer dg/s"); the receiving
//    thread's CPU comes from getrusage(RUSAGE_THREAD); "kern drops" is the listener socket's drop
//    count from /proc/net/udp. The effective SO_RCVBUF and net.core.rmem_max are printed.
// 3. The same over the Unix datagram socket (20 samples per datagram at 100k and 1M samples/s, 1
//    per datagram at 200k/s). The sender is non-blocking, as DogStatsD clients are: a datagram
//    the kernel refuses (EAGAIN: more than net.unix.max_dgram_qlen datagrams queued, printed) is
//    dropped and counted as loss.
// 4. Memory: N distinct gauge contexts (100k, then 1M; 10k/100k with --quick) added to a fresh
//    Aggregator, VmRSS delta from /proc/self/status; reference: the same context keys (name and
//    tags joined) stored in a std::unordered_set<std::string>.
//
// Only loopback addresses and a temporary directory are used. The last line is
// `RESULT key=value ...`.
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "collector/aggregator/aggregator.h"
#include "collector/sources/dogstatsd/dogstatsd_source.h"
#include "collector/sources/dogstatsd/listeners.h"
#include "collector/sources/dogstatsd/parser.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/telemetry.h"

namespace {

namespace dsd = outpost::dogstatsd;
namespace agg = outpost::aggregator;
using Clock = std::chrono::steady_clock;

constexpr size_t kLinesPerDatagram = 20;
constexpr size_t kContexts = 10'000;
constexpr size_t kPoolDatagrams = 4096;
constexpr int kRequestedRcvbuf = 8 << 20;
constexpr int kSendBatch = 32;

double seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "outpost-bench-dogstatsd: %s\n", what.c_str());
  std::exit(1);
}

std::string errnoText() {
  return std::strerror(errno);
}

// ------------------------------------------------------------------------------------------
// Workload

// `count` datagrams of exactly `lines` lines each, drawn uniformly from kContexts contexts.
std::vector<std::string> makeDatagrams(size_t count, size_t lines, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> out;
  out.reserve(count);
  for (size_t d = 0; d < count; ++d) {
    std::string dgram;
    for (size_t l = 0; l < lines; ++l) {
      const size_t c = rng() % kContexts;
      const size_t kind = c % 20;  // 7 c, 5 g, 3 h, 3 d, 2 s
      const char* type = kind < 7 ? "c" : kind < 12 ? "g" : kind < 15 ? "h" : kind < 18 ? "d" : "s";
      std::string value;
      std::string rate;
      switch (type[0]) {
        case 'c':
          value = fmt::format("{}", 1 + rng() % 5);
          break;
        case 'g':
          value = fmt::format("{:.2f}", static_cast<double>(rng() % 100'000) / 100);
          break;
        case 'h':
          value = fmt::format("{:.3f}", static_cast<double>(rng() % 1'000'000) / 1000);
          if (rng() % 4 == 0) {
            rate = "|@0.5";
          }
          break;
        case 'd':
          value = fmt::format("{:.1f}", static_cast<double>(rng() % 50'000) / 10);
          break;
        default:
          value = fmt::format("user-{}", rng() % 1000);
          break;
      }
      std::string tags = fmt::format("env:prod,service:svc-{},pod:web-{}", c % 40, c);
      const size_t extra = c % 3;  // 3, 4 or 5 tags
      if (extra >= 1) {
        tags += fmt::format(",availability-zone:us-east-1{}", static_cast<char>('a' + c % 3));
      }
      if (extra >= 2) {
        tags += fmt::format(",version:1.{}.0", c % 7);
      }
      dgram += fmt::format("outpost.bench.{}.metric_{}:{}|{}{}|#{}\n", type, c % 250, value, type,
                           rate, tags);
    }
    out.push_back(std::move(dgram));
  }
  return out;
}

int64_t unixNow() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return ts.tv_sec;
}

// Parser -> Aggregator, as the agent wires them. beginDatagram() reads the clock and flushes the
// closed buckets whenever the second changes.
class AggregatingHandler : public dsd::Handler {
 public:
  explicit AggregatingHandler(agg::Aggregator& aggregator) : aggregator_(aggregator) {}

  void beginDatagram() {
    const int64_t now = unixNow();
    if (now != now_) {
      now_ = now;
      auto flush = aggregator_.flush(now);
      flushed_series_ += flush.series.size() + flush.sketches.size();
    }
  }

  void onSample(const dsd::Sample& s) override {
    if (!aggregator_.add(dsd::toSampleInput(s), now_)) {
      ++dropped_;
    }
  }
  void onEvent(const dsd::Event& /*event*/) override {}
  void onServiceCheck(const dsd::ServiceCheck& /*check*/) override {}

  uint64_t dropped() const { return dropped_; }
  uint64_t flushedSeries() const { return flushed_series_; }

 private:
  agg::Aggregator& aggregator_;
  int64_t now_ = 0;
  uint64_t dropped_ = 0;
  uint64_t flushed_series_ = 0;
};

class NullHandler : public dsd::Handler {
 public:
  void onSample(const dsd::Sample& s) override { sink_ += s.value; }
  void onEvent(const dsd::Event& /*event*/) override {}
  void onServiceCheck(const dsd::ServiceCheck& /*check*/) override {}
  double sink_ = 0;
};

agg::Aggregator::Options aggregatorOptions(size_t context_limit) {
  agg::Aggregator::Options o;
  o.hostname = "bench-host";
  o.context_limit = context_limit;
  return o;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// ------------------------------------------------------------------------------------------
// 1. In-process parse + aggregate

struct InProcessResult {
  double memchr_bytes_per_s = 0;
  double parse_samples_per_s = 0;
  double parse_bytes_per_s = 0;
  double aggregate_samples_per_s = 0;
  double aggregate_bytes_per_s = 0;
  size_t contexts = 0;
};

InProcessResult benchInProcess(const std::vector<std::string>& pool, uint64_t samples, int runs) {
  const uint64_t datagrams = samples / kLinesPerDatagram;
  uint64_t bytes = 0;
  for (uint64_t i = 0; i < datagrams; ++i) {
    bytes += pool[i % pool.size()].size();
  }
  std::vector<double> ref_s;
  std::vector<double> parse_s;
  std::vector<double> agg_s;
  InProcessResult r;
  for (int run = 0; run < runs; ++run) {
    {
      auto t0 = Clock::now();
      uint64_t lines = 0;
      for (uint64_t i = 0; i < datagrams; ++i) {
        const std::string& d = pool[i % pool.size()];
        const char* p = d.data();
        const char* end = p + d.size();
        while (const void* nl = std::memchr(p, '\n', end - p)) {
          ++lines;
          p = static_cast<const char*>(nl) + 1;
        }
      }
      ref_s.push_back(seconds(t0));
      if (lines != datagrams * kLinesPerDatagram) {
        die(fmt::format("memchr counted {} lines, expected {}", lines,
                        datagrams * kLinesPerDatagram));
      }
    }
    {
      dsd::Parser parser;
      NullHandler handler;
      auto t0 = Clock::now();
      for (uint64_t i = 0; i < datagrams; ++i) {
        parser.parse(pool[i % pool.size()], handler);
      }
      parse_s.push_back(seconds(t0));
      if (parser.samples() != datagrams * kLinesPerDatagram || parser.errors() != 0) {
        die(fmt::format("parser: {} samples, {} errors", parser.samples(), parser.errors()));
      }
    }
    {
      outpost::Telemetry telemetry;
      agg::Aggregator aggregator(aggregatorOptions(kContexts * 2), telemetry);
      dsd::Parser parser;
      AggregatingHandler handler(aggregator);
      auto t0 = Clock::now();
      for (uint64_t i = 0; i < datagrams; ++i) {
        handler.beginDatagram();
        parser.parse(pool[i % pool.size()], handler);
      }
      agg_s.push_back(seconds(t0));
      if (parser.samples() != datagrams * kLinesPerDatagram || handler.dropped() != 0) {
        die(fmt::format("aggregate: {} samples, {} dropped", parser.samples(), handler.dropped()));
      }
      r.contexts = aggregator.contexts();
    }
  }
  const double n = static_cast<double>(datagrams * kLinesPerDatagram);
  r.memchr_bytes_per_s = bytes / median(ref_s);
  r.parse_samples_per_s = n / median(parse_s);
  r.parse_bytes_per_s = bytes / median(parse_s);
  r.aggregate_samples_per_s = n / median(agg_s);
  r.aggregate_bytes_per_s = bytes / median(agg_s);
  return r;
}

// ------------------------------------------------------------------------------------------
// Load generator

struct SendResult {
  uint64_t offered = 0;  // datagrams the token bucket released
  uint64_t sent = 0;     // datagrams the kernel accepted
  double seconds = 0;
};

double monotonicSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Sends pool datagrams on the connected socket `fd` at `rate` datagrams/s for `duration` seconds.
// Token bucket: `rate` tokens per second, capacity 2 ms of tokens (at least one batch); a batch
// takes as many tokens as are available, up to kSendBatch. A datagram the kernel does not accept
// (EAGAIN on a full unixgram queue, ENOBUFS) is dropped, as a DogStatsD client drops it.
SendResult sendLoad(int fd, const std::vector<std::string>& pool, double rate, double duration) {
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  std::array<mmsghdr, kSendBatch> msgs{};
  std::array<iovec, kSendBatch> iovs{};
  const double capacity = std::max<double>(kSendBatch, rate * 0.002);
  double tokens = 0;
  size_t next = 0;
  SendResult r;
  const double start = monotonicSeconds();
  double last = start;
  for (;;) {
    const double now = monotonicSeconds();
    if (now - start >= duration) {
      break;
    }
    tokens = std::min(capacity, tokens + (now - last) * rate);
    last = now;
    if (tokens < 1) {
      const double wait = (1 - tokens) / rate;
      timespec ts{0, static_cast<long>(wait * 1e9)};
      nanosleep(&ts, nullptr);
      continue;
    }
    const int n = static_cast<int>(std::min<double>(tokens, kSendBatch));
    for (int i = 0; i < n; ++i) {
      const std::string& d = pool[next];
      next = (next + 1) % pool.size();
      iovs[i] = iovec{const_cast<char*>(d.data()), d.size()};
      msgs[i] = mmsghdr{};
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    tokens -= n;
    r.offered += n;
    const int sent = ::sendmmsg(fd, msgs.data(), n, MSG_DONTWAIT);
    if (sent > 0) {
      r.sent += sent;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS && errno != EINTR) {
      die(fmt::format("sendmmsg: {}", errnoText()));
    }
  }
  r.seconds = monotonicSeconds() - start;
  return r;
}

// ------------------------------------------------------------------------------------------
// Receivers

enum class Receiver { kBare, kListeners };

struct Target {
  dsd::Transport transport = dsd::Transport::kUdp;
  std::string socket_path;  // unixgram
};

struct RunResult {
  SendResult send;
  uint64_t datagrams = 0;
  uint64_t samples = 0;
  double receiver_cpu = 0;  // seconds of the receiving thread
  int rcvbuf = 0;
  uint64_t kernel_drops = 0;  // UDP listeners only (/proc/net/udp)
};

double threadCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

int connectedSender(const Target& target, uint16_t port) {
  const int fd = ::socket(target.transport == dsd::Transport::kUdp ? AF_INET : AF_UNIX,
                          SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    die(fmt::format("socket: {}", errnoText()));
  }
  int rc = 0;
  if (target.transport == dsd::Transport::kUdp) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  } else {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, target.socket_path.data(), target.socket_path.size());
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  }
  if (rc != 0) {
    die(fmt::format("connect: {}", errnoText()));
  }
  return fd;
}

// The reference: a blocking socket drained with recvmmsg (no parsing) on this thread.
RunResult runBare(const Target& target, const std::vector<std::string>& pool, size_t per_dgram,
                  double rate, double duration) {
  const bool udp = target.transport == dsd::Transport::kUdp;
  const int fd = ::socket(udp ? AF_INET : AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    die(fmt::format("socket: {}", errnoText()));
  }
  const int req = kRequestedRcvbuf;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &req, sizeof(req));
  RunResult r;
  socklen_t len = sizeof(r.rcvbuf);
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &r.rcvbuf, &len);
  timeval tv{0, 100'000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  uint16_t port = 0;
  if (udp) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      die(fmt::format("bind udp: {}", errnoText()));
    }
    socklen_t alen = sizeof(a);
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &alen);
    port = ntohs(a.sin_port);
  } else {
    ::unlink(target.socket_path.c_str());
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path, target.socket_path.data(), target.socket_path.size());
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
      die(fmt::format("bind {}: {}", target.socket_path, errnoText()));
    }
  }
  const int out = connectedSender(target, port);
  std::atomic<bool> done{false};
  std::thread sender([&] {
    r.send = sendLoad(out, pool, rate, duration);
    done.store(true);
  });
  constexpr size_t kBuf = 8192;
  std::vector<char> buffers(kBuf * dsd::kBatchSize);
  std::array<mmsghdr, dsd::kBatchSize> msgs{};
  std::array<iovec, dsd::kBatchSize> iovs{};
  for (int i = 0; i < dsd::kBatchSize; ++i) {
    iovs[i] = iovec{buffers.data() + i * kBuf, kBuf};
  }
  const double cpu0 = threadCpuSeconds();
  for (;;) {
    for (int i = 0; i < dsd::kBatchSize; ++i) {
      msgs[i] = mmsghdr{};
      msgs[i].msg_hdr.msg_iov = &iovs[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = ::recvmmsg(fd, msgs.data(), dsd::kBatchSize, MSG_WAITFORONE, nullptr);
    if (n > 0) {
      r.datagrams += n;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (done.load()) {
        break;  // the sender finished and nothing came for 100 ms
      }
    } else if (errno != EINTR) {
      die(fmt::format("recvmmsg: {}", errnoText()));
    }
  }
  r.receiver_cpu = threadCpuSeconds() - cpu0;
  sender.join();
  ::close(out);
  ::close(fd);
  if (!udp) {
    ::unlink(target.socket_path.c_str());
  }
  r.samples = r.datagrams * per_dgram;
  return r;
}

// The agent's path: DogStatsdListeners + Parser + Aggregator on a libuv loop on this thread.
RunResult runListeners(const Target& target, const std::vector<std::string>& pool, double rate,
                       double duration) {
  RunResult r;
  outpost::Telemetry telemetry;
  agg::Aggregator aggregator(aggregatorOptions(kContexts * 2), telemetry);
  dsd::Parser parser;
  AggregatingHandler handler(aggregator);
  {
    outpost::Loop loop;
    dsd::DogStatsdListeners listeners(loop.get(), telemetry,
                                      [&](std::string_view datagram, const dsd::Origin&) {
                                        ++r.datagrams;
                                        handler.beginDatagram();
                                        parser.parse(datagram, handler);
                                      });
    dsd::ListenerOptions o;
    o.bind_host = "127.0.0.1";
    o.port = 0;
    o.udp_ephemeral_port = target.transport == dsd::Transport::kUdp;
    o.socket_path = target.transport == dsd::Transport::kUds ? target.socket_path : "";
    o.so_rcvbuf = kRequestedRcvbuf;
    o.drops_interval_ms = 0;
    std::string error;
    if (!listeners.start(o, &error)) {
      die(error);
    }
    r.rcvbuf = listeners.udpReceiveBuffer();  // 0 for unixgram: the listener does not expose it
    const int out = connectedSender(target, listeners.udpPort());
    std::atomic<bool> done{false};
    std::thread sender([&] {
      r.send = sendLoad(out, pool, rate, duration);
      done.store(true);
    });
    // Ends the run once the sender has finished and 100 ms passed with nothing received.
    uint64_t seen = 0;
    bool quiet_once = false;
    outpost::Timer check(loop.get(), [&] {
      const bool idle = r.datagrams == seen;
      seen = r.datagrams;
      if (!done.load() || !idle) {
        quiet_once = false;
        return;
      }
      if (!quiet_once) {
        quiet_once = true;
        return;
      }
      if (target.transport == dsd::Transport::kUdp) {
        r.kernel_drops = listeners.readUdpDrops().value_or(0);
      }
      listeners.stop();
      check.stop();
    });
    check.start(50, 50);
    const double cpu0 = threadCpuSeconds();
    loop.run();
    r.receiver_cpu = threadCpuSeconds() - cpu0;
    sender.join();
    ::close(out);
  }
  r.samples = parser.samples();
  if (parser.errors() != 0 || handler.dropped() != 0) {
    die(fmt::format("listener run: {} parse errors, {} aggregator drops", parser.errors(),
                    handler.dropped()));
  }
  return r;
}

struct RatePoint {
  double offered_samples_per_s = 0;
  RunResult bare;
  RunResult listeners;
};

double lossPct(const RunResult& r, size_t per_dgram) {
  const double offered = static_cast<double>(r.send.offered * per_dgram);
  return offered > 0 ? 100.0 * (1 - r.samples / offered) : 0;
}

void printRateHeader(const std::string& title) {
  std::printf("\n%s\n", title.c_str());
  std::printf("%-10s %-10s %10s %10s %10s %11s %10s %7s %7s\n", "offered/s", "receiver",
              "offer dg/s", "sent dg/s", "recv dg/s", "recv smp/s", "kern drops", "loss %",
              "rx CPU%");
}

// offer: datagrams the token bucket released; sent: accepted by sendmmsg; kern drops: the UDP
// socket's drop count (/proc/net/udp, listeners only); loss: 1 - received / offered samples.
void printRun(double offered, const char* who, const RunResult& r, size_t per_dgram) {
  const double s = r.send.seconds;
  const std::string drops = who[0] == 'b' ? "-" : fmt::format("{}", r.kernel_drops);
  std::printf("%-10.0f %-10s %10.0f %10.0f %10.0f %11.0f %10s %7.2f %7.1f\n", offered, who,
              r.send.offered / s, r.send.sent / s, r.datagrams / s, r.samples / s, drops.c_str(),
              lossPct(r, per_dgram), 100 * r.receiver_cpu / s);
}

std::vector<RatePoint> sweep(const Target& target, const std::vector<std::string>& pool,
                             size_t per_dgram, const std::vector<double>& sample_rates,
                             double duration) {
  std::vector<RatePoint> out;
  for (double rate : sample_rates) {
    RatePoint p;
    p.offered_samples_per_s = rate;
    const double dgram_rate = rate / per_dgram;
    p.bare = runBare(target, pool, per_dgram, dgram_rate, duration);
    printRun(rate, "bare", p.bare, per_dgram);
    p.listeners = runListeners(target, pool, dgram_rate, duration);
    printRun(rate, "listeners", p.listeners, per_dgram);
    std::fflush(stdout);
    out.push_back(p);
  }
  return out;
}

// The highest received datagram rate of the runs with < 1 % loss, 0 if none.
double bestUnderOnePct(const std::vector<RatePoint>& points, bool listeners, size_t per_dgram) {
  double best = 0;
  for (const auto& p : points) {
    const RunResult& r = listeners ? p.listeners : p.bare;
    if (lossPct(r, per_dgram) < 1.0) {
      best = std::max(best, r.datagrams / r.send.seconds);
    }
  }
  return best;
}

// ------------------------------------------------------------------------------------------
// 4. Memory

int64_t vmRssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::strtoll(line.c_str() + 6, nullptr, 10);
    }
  }
  return 0;
}

struct MemoryResult {
  size_t contexts = 0;
  double aggregator_mib = 0;
  double reference_mib = 0;
  double add_per_s = 0;
};

MemoryResult benchMemory(size_t n) {
  MemoryResult r;
  constexpr std::string_view kName = "outpost.bench.rss.gauge";
  char pod[32];
  char svc[32];
  {
    malloc_trim(0);
    const int64_t base = vmRssKiB();
    outpost::Telemetry telemetry;
    agg::Aggregator aggregator(aggregatorOptions(n + 1), telemetry);
    std::array<std::string_view, 3> tags{"env:prod", "", ""};
    const int64_t now = unixNow();
    auto t0 = Clock::now();
    for (size_t i = 0; i < n; ++i) {
      const int a = std::snprintf(svc, sizeof(svc), "service:svc-%zu", i % 50);
      const int b = std::snprintf(pod, sizeof(pod), "pod:web-%zu", i);
      tags[1] = std::string_view(svc, a);
      tags[2] = std::string_view(pod, b);
      agg::SampleInput s;
      s.name = kName;
      s.type = agg::MetricType::kGauge;
      s.value = static_cast<double>(i);
      s.tags = tags;
      if (!aggregator.add(s, now)) {
        die("memory: aggregator dropped a context");
      }
    }
    r.add_per_s = n / seconds(t0);
    r.contexts = aggregator.contexts();
    r.aggregator_mib = (vmRssKiB() - base) / 1024.0;
  }
  {
    malloc_trim(0);
    const int64_t base = vmRssKiB();
    std::unordered_set<std::string> keys;
    keys.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      keys.insert(fmt::format("{}|env:prod,pod:web-{},service:svc-{}", kName, i, i % 50));
    }
    r.reference_mib = (vmRssKiB() - base) / 1024.0;
  }
  malloc_trim(0);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  uint64_t samples = 5'000'000;
  double per_rate = 2.0;
  bool samples_set = false;
  bool per_rate_set = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--quick") {
      quick = true;
    } else if (arg == "--samples" && i + 1 < argc) {
      samples = std::strtoull(argv[++i], nullptr, 10);
      samples_set = true;
    } else if (arg == "--seconds-per-rate" && i + 1 < argc) {
      per_rate = std::strtod(argv[++i], nullptr);
      per_rate_set = true;
    } else {
      std::fprintf(stderr,
                   "usage: outpost-bench-dogstatsd [--quick] [--samples N] "
                   "[--seconds-per-rate S]\n");
      return 2;
    }
  }
  if (quick) {
    samples = samples_set ? samples : 200'000;
    per_rate = per_rate_set ? per_rate : 0.3;
  }
  if (samples < kLinesPerDatagram || per_rate <= 0) {
    die("--samples must be >= 20 and --seconds-per-rate > 0");
  }
  outpost::Logger::instance().setLevel(outpost::LogLevel::kError);
  const auto total0 = Clock::now();

  const auto pool = makeDatagrams(kPoolDatagrams, kLinesPerDatagram, 42);
  const auto single_pool = makeDatagrams(kPoolDatagrams * 4, 1, 43);
  size_t pool_bytes = 0;
  for (const auto& d : pool) {
    pool_bytes += d.size();
  }
  std::printf("outpost-bench-dogstatsd: %zu-line datagrams (mean %zu bytes), %zu contexts\n",
              kLinesPerDatagram, pool_bytes / pool.size(), kContexts);

  // 1.
  const int runs = quick ? 1 : 3;
  const InProcessResult ip = benchInProcess(pool, samples, runs);
  std::printf("\n1. In-process, one core: %llu samples, median of %d\n",
              static_cast<unsigned long long>(samples), runs);
  std::printf("%-34s %14s %12s %10s\n", "", "samples/s", "MB/s", "vs memchr");
  std::printf("%-34s %14s %12.0f %10s\n", "memchr('\\n') line count (ref)", "-",
              ip.memchr_bytes_per_s / 1e6, "1.000x");
  std::printf("%-34s %14.0f %12.0f %9.3fx\n", "parser only (empty handler)", ip.parse_samples_per_s,
              ip.parse_bytes_per_s / 1e6, ip.parse_bytes_per_s / ip.memchr_bytes_per_s);
  std::printf("%-34s %14.0f %12.0f %9.3fx   (target >= 3M samples/s; %zu contexts)\n",
              "parser + aggregator", ip.aggregate_samples_per_s, ip.aggregate_bytes_per_s / 1e6,
              ip.aggregate_bytes_per_s / ip.memchr_bytes_per_s, ip.contexts);
  std::fflush(stdout);

  // 2. and 3.
  const auto dir = std::filesystem::temp_directory_path() /
                   fmt::format("outpost-bench-dogstatsd-{}", ::getpid());
  std::filesystem::create_directories(dir);
  const Target udp{dsd::Transport::kUdp, ""};
  const Target uds{dsd::Transport::kUds, (dir / "dsd.sock").string()};

  printRateHeader(fmt::format("2a. UDP loopback, {} samples per datagram, {} s per rate",
                              kLinesPerDatagram, per_rate)
                      .c_str());
  const auto udp_multi =
      sweep(udp, pool, kLinesPerDatagram, {100'000, 300'000, 600'000, 1'000'000}, per_rate);
  printRateHeader(
      fmt::format("2b. UDP loopback, 1 sample per datagram, {} s per rate", per_rate).c_str());
  const auto udp_single = sweep(udp, single_pool, 1, {100'000, 250'000, 500'000}, per_rate);
  printRateHeader(fmt::format("3a. Unix datagram socket, {} samples per datagram, {} s per rate",
                              kLinesPerDatagram, per_rate)
                      .c_str());
  const auto uds_multi = sweep(uds, pool, kLinesPerDatagram, {100'000, 1'000'000}, per_rate);
  printRateHeader(
      fmt::format("3b. Unix datagram socket, 1 sample per datagram, {} s per rate", per_rate)
          .c_str());
  const auto uds_single = sweep(uds, single_pool, 1, {200'000}, per_rate);
  std::filesystem::remove_all(dir);

  const int rcvbuf = udp_multi.front().listeners.rcvbuf;
  int64_t rmem_max = 0;
  {
    std::ifstream in("/proc/sys/net/core/rmem_max");
    in >> rmem_max;
  }
  std::printf(
      "\nSO_RCVBUF: requested %d, kernel reports %d (Linux caps the request at "
      "net.core.rmem_max = %lld, then doubles it)\n",
      kRequestedRcvbuf, rcvbuf, static_cast<long long>(rmem_max));
  const double udp_single_best = bestUnderOnePct(udp_single, true, 1);
  const double udp_single_best_ref = bestUnderOnePct(udp_single, false, 1);
  std::printf(
      "UDP, 1 sample per datagram: highest received rate with < 1%% loss: listeners "
      "%.0f datagrams/s, bare recvmmsg %.0f datagrams/s\n",
      udp_single_best, udp_single_best_ref);
  int64_t qlen = 0;
  {
    std::ifstream in("/proc/sys/net/unix/max_dgram_qlen");
    in >> qlen;
  }
  std::printf(
      "Unix datagram queue: net.unix.max_dgram_qlen = %lld datagrams (SO_RCVBUF does not "
      "raise it); a non-blocking sender drops on EAGAIN beyond it\n",
      static_cast<long long>(qlen));

  // 4.
  const size_t small = quick ? 10'000 : 100'000;
  const size_t large = quick ? 100'000 : 1'000'000;
  std::printf("\n4. Memory, distinct gauge contexts (VmRSS delta)\n");
  std::printf("%-10s %14s %14s %10s %14s %14s\n", "contexts", "aggregator", "ref key set", "ratio",
              "bytes/context", "new ctx/s");
  MemoryResult mem[2];
  int k = 0;
  for (size_t n : {small, large}) {
    mem[k] = benchMemory(n);
    const MemoryResult& m = mem[k++];
    std::printf("%-10zu %10.1f MiB %10.1f MiB %9.2fx %14.0f %14.0f\n", m.contexts, m.aggregator_mib,
                m.reference_mib, m.reference_mib > 0 ? m.aggregator_mib / m.reference_mib : 0,
                m.aggregator_mib * 1048576 / m.contexts, m.add_per_s);
  }
  std::printf("(target: <= 200 MiB at 1M contexts)\n");

  const auto& top = udp_multi.back();
  std::printf("\ntotal %.1f s\n", seconds(total0));
  std::printf(
      "RESULT samples=%llu parse_aggregate_sps=%.0f parse_only_sps=%.0f memchr_mbps=%.0f "
      "parse_aggregate_mbps=%.0f udp_rcvbuf=%d udp20_offered_sps=%.0f udp20_listener_sps=%.0f "
      "udp20_listener_loss_pct=%.2f udp20_bare_sps=%.0f udp20_bare_loss_pct=%.2f "
      "udp1_best_rx_dgps_listener=%.0f udp1_best_rx_dgps_bare=%.0f uds20_listener_sps=%.0f "
      "uds20_listener_loss_pct=%.2f uds20_bare_sps=%.0f rss_mib_%zu=%.1f rss_mib_%zu=%.1f "
      "rss_ref_mib_%zu=%.1f\n",
      static_cast<unsigned long long>(samples), ip.aggregate_samples_per_s, ip.parse_samples_per_s,
      ip.memchr_bytes_per_s / 1e6, ip.aggregate_bytes_per_s / 1e6, rcvbuf,
      top.offered_samples_per_s, top.listeners.samples / top.listeners.send.seconds,
      lossPct(top.listeners, kLinesPerDatagram), top.bare.samples / top.bare.send.seconds,
      lossPct(top.bare, kLinesPerDatagram), udp_single_best, udp_single_best_ref,
      uds_multi.back().listeners.samples / uds_multi.back().listeners.send.seconds,
      lossPct(uds_multi.back().listeners, kLinesPerDatagram),
      uds_multi.back().bare.samples / uds_multi.back().bare.send.seconds, small,
      mem[0].aggregator_mib, large, mem[1].aggregator_mib, large, mem[1].reference_mib);
  return 0;
}
