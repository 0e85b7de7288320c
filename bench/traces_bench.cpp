// outpost-bench-traces: the APM pipeline's speed, beside references measured in the same run.
//
//   outpost-bench-traces [--quick] [--stages] [--outpost PATH]
//
// 1. In process, one thread: realistic tracer requests (traces of 5 spans: a web root, a SQL
//    child, a cache and two custom spans; 10 meta tags and 3 metrics each; 10 traces per request)
//    as v0.4 and v0.5 bodies. Spans/s for decode alone, for the whole pipeline without
//    compression (decode + normalize + obfuscate + stats + sample + AgentPayload encode), and
//    with the intake's gzip (level 1) on every AgentPayload. References on the same bodies:
//    msgpack-cxx's unpack (decode to a generic object tree), and zlib deflate level 1 on the
//    AgentPayload bytes. Every round (10,000 spans) times each of them in turn; the best round
//    and the median round are reported (on a noisy machine, other work only slows a round).
// 2. Over loopback HTTP against a real `outpost run` (local mode): 5,000 requests/s of 50-span
//    v0.4 payloads on 4 keep-alive connections for a few seconds; the daemon's CPU use (utime +
//    stime over wall time, in cores) and the rate achieved; then as many requests/s as 4
//    connections get answered; then the daemon's peak RSS.
// --stages adds the in-process rate with each pipeline stage added in turn.
// The last line is `RESULT key=value ...`. Only loopback and a temporary directory are used.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <msgpack.hpp>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "collector/sources/traces/decoder.h"
#include "collector/sources/traces/pipeline.h"
#include "core/allocator.h"
#include "forwarder/compression.h"
#include "tests/support/trace_bodies.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "outpost-bench-traces: %s\n", what.c_str());
  std::exit(1);
}

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One realistic trace of 5 spans.
std::vector<outpost::testing::TraceSpan> makeTrace(std::mt19937_64& rng, uint64_t n) {
  const uint64_t trace = rng() | 1;
  const int64_t start = nowNs() - 1'000'000'000;
  const std::string user = std::to_string(rng() % 100000);
  auto meta = [&](std::vector<std::pair<std::string, std::string>> extra) {
    std::vector<std::pair<std::string, std::string>> m = {
        {"env", "prod"},        {"version", "4.2.1"},
        {"language", "python"}, {"runtime-id", "2f7c9a1e-55d0-4b8e-9d4f-6a0e8e1c7b3d"},
        {"_dd.p.dm", "-1"},     {"_dd.p.tid", "66a1b2c300000000"},
        {"component", "flask"},
    };
    for (auto& e : extra) {
      m.push_back(std::move(e));
    }
    while (m.size() < 10) {
      m.emplace_back("custom.tag" + std::to_string(m.size()), "value-" + user);
    }
    return m;
  };
  const uint64_t root = rng();
  std::vector<outpost::testing::TraceSpan> t;
  t.push_back({"checkout",
               "flask.request",
               "POST /api/v1/orders/<id>",
               "web",
               trace,
               root,
               0,
               start,
               48'000'000 + static_cast<int64_t>(rng() % 1'000'000),
               n % 50 == 0 ? 1 : 0,
               meta({{"http.method", "POST"},
                     {"http.status_code", n % 50 == 0 ? "500" : "200"},
                     {"http.url", "https://shop.example.com/api/v1/orders/" + user}}),
               {{"_sampling_priority_v1", n % 3 == 0 ? 2.0 : 1.0},
                {"_dd.top_level", 1},
                {"process_id", 4242}}});
  t.push_back({"checkout-db",
               "postgres.query",
               "SELECT o.id, o.total FROM orders o WHERE o.user_id = " + user +
                   " AND o.status = 'open' ORDER BY o.created_at DESC LIMIT 20",
               "sql",
               trace,
               rng(),
               root,
               start + 2'000'000,
               12'000'000,
               0,
               meta({{"db.system", "postgresql"}, {"db.name", "shop"}, {"out.host", "db-1"}}),
               {{"db.row_count", 20}, {"_dd.measured", 1}, {"network.destination.port", 5432}}});
  t.push_back({"checkout",
               "redis.command",
               "GET",
               "redis",
               trace,
               rng(),
               root,
               start + 15'000'000,
               800'000,
               0,
               meta({{"redis.raw_command", "GET session:" + user}}),
               {{"redis.args_length", 2}, {"_dd.measured", 1}, {"out.port", 6379}}});
  t.push_back({"checkout",
               "orders.validate",
               "orders.validate",
               "custom",
               trace,
               rng(),
               root,
               start + 17'000'000,
               3'000'000,
               0,
               meta({}),
               {{"items", 3}, {"amount", 129.5}, {"retries", 0}}});
  t.push_back({"checkout",
               "payments.charge",
               "payments.charge",
               "http",
               trace,
               rng(),
               root,
               start + 21'000'000,
               25'000'000,
               0,
               meta({{"span.kind", "client"}}),
               {{"attempt", 1}, {"amount", 129.5}, {"currency.code", 978}}});
  return t;
}

// `requests` bodies of 10 traces (50 spans) each.
std::vector<std::string> makeBodies(size_t requests, bool v05) {
  std::mt19937_64 rng(11);
  std::vector<std::string> bodies;
  uint64_t n = 0;
  for (size_t r = 0; r < requests; ++r) {
    std::vector<outpost::testing::Trace> traces;
    for (int t = 0; t < 10; ++t) {
      traces.push_back(makeTrace(rng, n++));
    }
    bodies.push_back(v05 ? outpost::testing::v05Body(traces) : outpost::testing::v04Body(traces));
  }
  return bodies;
}

// A rate from rounds timed one by one: the fastest round (this machine's noise only ever slows
// a round down) and the median round.
struct Rate {
  double best = 0;
  double median = 0;
};

Rate rateOf(std::vector<double> round_seconds, double per_round) {
  std::sort(round_seconds.begin(), round_seconds.end());
  return {per_round / round_seconds.front(), per_round / round_seconds[round_seconds.size() / 2]};
}

struct Rates {
  Rate decode;      // spans/s
  Rate pipeline;    // spans/s, no compression
  Rate compressed;  // spans/s, with gzip level 1 of every AgentPayload
  Rate ref_unpack;  // spans/s, msgpack-cxx unpack
  double ref_deflate_mbps = 0;
  double payload_bytes_per_span = 0;
};

outpost::traces::TracePipeline::Options pipelineOptions() {
  outpost::traces::TracePipeline::Options o;
  o.hostname = "bench-host";
  o.agent_version = "7.60.0";
  return o;
}

// Each round times, one after the other, decode alone, the pipeline, the pipeline with gzip and
// msgpack-cxx's unpack over all the bodies, so that the machine's slow moments fall on all four.
Rates inProcess(const std::vector<std::string>& bodies, bool v05, int rounds) {
  using namespace outpost::traces;
  const auto version = v05 ? TraceApiVersion::kV05 : TraceApiVersion::kV04;
  const double spans_per_round = 50.0 * static_cast<double>(bodies.size());
  Rates r;
  std::unique_ptr<TracePipeline> pipelines[2];
  std::string error;
  for (auto& p : pipelines) {
    p = std::make_unique<TracePipeline>(pipelineOptions());
    if (!p->init(&error)) {
      die(error);
    }
  }
  uint64_t payload_bytes = 0;  // of the uncompressed pipeline's AgentPayloads
  auto runPipeline = [&](int compress) {
    TracePipeline& pipeline = *pipelines[compress];
    auto flush = [&] {
      std::string body = pipeline.buffer().take();
      if (compress == 0) {
        payload_bytes += body.size();
      } else {
        std::string out;
        if (!outpost::compress(outpost::Encoding::kGzip, 1, body, out, &error)) {
          die(error);
        }
      }
    };
    for (const auto& b : bodies) {
      auto dp = std::make_unique<DecodedPayload>();
      dp->body = b;
      if (!decodeTraces(version, "application/msgpack", *dp, &error)) {
        die("decode: " + error);
      }
      pipeline.process(*dp, {}, nowNs());
      if (pipeline.buffer().bytes() >= outpost::traces::kAgentPayloadFlushBytes) {
        flush();
      }
    }
  };
  std::vector<double> decode_s, pipeline_s, compressed_s, unpack_s;
  size_t objects = 0;
  for (int round = 0; round < rounds; ++round) {
    auto t0 = Clock::now();
    for (const auto& b : bodies) {
      auto dp = std::make_unique<DecodedPayload>();
      dp->body = b;
      if (!decodeTraces(version, "application/msgpack", *dp, &error)) {
        die("decode: " + error);
      }
    }
    decode_s.push_back(seconds(t0));
    for (int compress = 0; compress < 2; ++compress) {
      t0 = Clock::now();
      runPipeline(compress);
      (compress == 0 ? pipeline_s : compressed_s).push_back(seconds(t0));
    }
    t0 = Clock::now();
    for (const auto& b : bodies) {
      msgpack::object_handle h = msgpack::unpack(b.data(), b.size());
      objects += h.get().type;
    }
    unpack_s.push_back(seconds(t0));
  }
  payload_bytes += pipelines[0]->buffer().take().size();
  if (objects == 12345) {
    std::printf(" ");
  }
  r.decode = rateOf(decode_s, spans_per_round);
  r.pipeline = rateOf(pipeline_s, spans_per_round);
  r.compressed = rateOf(compressed_s, spans_per_round);
  r.ref_unpack = rateOf(unpack_s, spans_per_round);
  r.payload_bytes_per_span =
      static_cast<double>(payload_bytes) / (spans_per_round * static_cast<double>(rounds));
  {
    // zlib level 1 over an AgentPayload of these spans (the reference for the compressed run).
    TracePipeline::Options o;
    TracePipeline pipeline(o);
    std::string error;
    pipeline.init(&error);
    for (const auto& b : bodies) {
      auto dp = std::make_unique<DecodedPayload>();
      dp->body = b;
      decodeTraces(version, "application/msgpack", *dp, &error);
      pipeline.process(*dp, {}, nowNs());
    }
    const std::string payload = pipeline.buffer().take();
    std::vector<unsigned char> out(compressBound(static_cast<uLong>(payload.size())));
    const auto t0 = Clock::now();
    int reps = 0;
    while (seconds(t0) < 1.0) {
      uLongf len = static_cast<uLongf>(out.size());
      compress2(out.data(), &len, reinterpret_cast<const Bytef*>(payload.data()),
                static_cast<uLong>(payload.size()), 1);
      ++reps;
    }
    r.ref_deflate_mbps = static_cast<double>(payload.size()) * reps / 1e6 / seconds(t0);
  }
  return r;
}

// Spans/s of the v0.4 pipeline without compression, nothing else measured.
[[gnu::noinline]] double pipelineRate(const std::vector<std::string>& bodies, bool v05,
                                      int rounds) {
  using namespace outpost::traces;
  TracePipeline pipeline(pipelineOptions());
  std::string error;
  if (!pipeline.init(&error)) {
    die(error);
  }
  const auto t0 = Clock::now();
  for (int round = 0; round < rounds; ++round) {
    for (const auto& b : bodies) {
      auto dp = std::make_unique<DecodedPayload>();
      dp->body = b;
      if (!decodeTraces(v05 ? TraceApiVersion::kV05 : TraceApiVersion::kV04, "application/msgpack",
                        *dp, &error)) {
        die("decode: " + error);
      }
      pipeline.process(*dp, {}, nowNs());
      if (pipeline.buffer().bytes() >= outpost::traces::kAgentPayloadFlushBytes) {
        pipeline.buffer().take();
      }
    }
  }
  pipeline.buffer().take();
  return 50.0 * static_cast<double>(bodies.size()) * rounds / seconds(t0);
}

// Spans/s with each stage added in turn (decode; + normalize; + obfuscate; + stats; + sample;
// + AgentPayload encode), all chunks kept: where the pipeline's time goes.
void stages(const std::vector<std::string>& bodies, int rounds) {
  using namespace outpost::traces;
  static const char* kNames[] = {"decode",  "+ normalize", "+ obfuscate",
                                 "+ stats", "+ sample",    "+ encode"};
  std::printf("\nPer stage, v0.4, one thread (spans/s with the stages so far):\n");
  for (int stage = 0; stage <= 5; ++stage) {
    Obfuscator obfuscator({});
    Concentrator concentrator({});
    Sampler sampler({});
    AgentPayloadBuffer buffer({});
    const auto t0 = Clock::now();
    for (int round = 0; round < rounds; ++round) {
      for (const auto& b : bodies) {
        auto dp = std::make_unique<DecodedPayload>();
        dp->body = b;
        std::string error;
        decodeTraces(TraceApiVersion::kV04, "application/msgpack", *dp, &error);
        const int64_t now = nowNs();
        NormalizeCounts counts;
        if (stage >= 1) {
          normalizePayload(*dp, {now, false}, counts);
        }
        for (auto& chunk : dp->payload.chunks) {
          if (stage >= 2) {
            for (auto& span : chunk.spans) {
              obfuscator.obfuscateSpan(span, dp->arena);
            }
          }
          if (stage >= 3) {
            concentrator.add(dp->payload, chunk, now);
          }
          if (stage >= 4) {
            sampler.sample(chunk, "prod", now);
          }
          if (stage >= 5) {
            buffer.add(dp->payload, chunk);
            if (buffer.bytes() >= outpost::traces::kAgentPayloadFlushBytes) {
              buffer.take();
            }
          }
        }
      }
    }
    std::printf("  %-14s %10.0f\n", kNames[stage],
                50.0 * static_cast<double>(bodies.size()) * rounds / seconds(t0));
  }
}

// --- HTTP against a real daemon -------------------------------------------------------------

struct Daemon {
  pid_t pid = -1;
};

Daemon spawnOutpost(const std::string& outpost, const std::string& dir) {
  Daemon d;
  d.pid = ::fork();
  if (d.pid == 0) {
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

int64_t statusKiB(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) {
      return std::strtoll(line.c_str() + std::strlen(field), nullptr, 10);
    }
  }
  return 0;
}

double cpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  std::vector<std::string> fields;
  size_t at = close + 2;
  while (at < stat.size()) {
    const size_t sp = stat.find(' ', at);
    fields.push_back(stat.substr(at, sp - at));
    if (sp == std::string::npos) {
      break;
    }
    at = sp + 1;
  }
  // utime and stime are fields 14 and 15 (1-based); fields[] starts at field 3.
  const double ticks = std::stod(fields.at(11)) + std::stod(fields.at(12));
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

int connectTo(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// Sends one request and reads one response on a keep-alive connection; false on failure.
bool roundTrip(int fd, const std::string& request, std::string& buf) {
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      return false;
    }
    sent += static_cast<size_t>(n);
  }
  buf.clear();
  char tmp[16384];
  for (;;) {
    const size_t head = buf.find("\r\n\r\n");
    if (head != std::string::npos) {
      const size_t cl = buf.find("Content-Length: ");
      const size_t len =
          cl == std::string::npos ? 0 : std::strtoull(buf.c_str() + cl + 16, nullptr, 10);
      if (buf.size() >= head + 4 + len) {
        return buf.compare(9, 3, "200") == 0;
      }
    }
    const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) {
      return false;
    }
    buf.append(tmp, static_cast<size_t>(n));
  }
}

struct Load {
  double achieved = 0;  // requests/s
  double cores = 0;     // daemon CPU use
  uint64_t failed = 0;
};

// 4 connections; `rate` requests/s in total (0: as fast as they are answered).
Load drive(pid_t pid, int port, const std::vector<std::string>& bodies, double rate,
           double duration_s) {
  constexpr int kConnections = 4;
  std::vector<std::string> requests;
  for (const auto& b : bodies) {
    requests.push_back(
        "PUT /v0.4/traces HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/msgpack\r\n"
        "Datadog-Meta-Lang: python\r\nX-Datadog-Trace-Count: 10\r\nContent-Length: " +
        std::to_string(b.size()) + "\r\n\r\n" + b);
  }
  std::atomic<uint64_t> done{0};
  std::atomic<uint64_t> failed{0};
  const double cpu0 = cpuSeconds(pid);
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < kConnections; ++c) {
    threads.emplace_back([&, c] {
      const int fd = connectTo(port);
      if (fd < 0) {
        failed += 1;
        return;
      }
      std::string buf;
      const double per_conn = rate / kConnections;
      uint64_t i = static_cast<uint64_t>(c);
      uint64_t sent = 0;
      while (seconds(t0) < duration_s) {
        if (rate > 0) {
          const double due = static_cast<double>(sent) / per_conn;
          const double now = seconds(t0);
          if (now < due) {
            std::this_thread::sleep_for(std::chrono::duration<double>(due - now));
          }
        }
        if (!roundTrip(fd, requests[i % requests.size()], buf)) {
          failed += 1;
          break;
        }
        i += kConnections;
        ++sent;
        done += 1;
      }
      ::close(fd);
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  Load l;
  const double wall = seconds(t0);
  l.achieved = static_cast<double>(done.load()) / wall;
  l.cores = (cpuSeconds(pid) - cpu0) / wall;
  l.failed = failed.load();
  return l;
}

int freeTcpPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

int main(int argc, char** argv) {
  outpost::keepPayloadBuffersInTheHeap();  // as `outpost run` does: 1 MB AgentPayloads stay in the
                                           // heap
  bool quick = false;
  bool by_stage = false;
  bool pipeline_only = false;
  int rounds_arg = 0;
  std::string outpost = (fs::path(argv[0]).parent_path() / "outpost").string();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      quick = true;
    } else if (a == "--stages") {
      by_stage = true;
    } else if (a == "--pipeline-only") {
      pipeline_only = true;
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds_arg = std::atoi(argv[++i]);
    } else if (a == "--outpost" && i + 1 < argc) {
      outpost = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: outpost-bench-traces [--quick] [--stages] [--pipeline-only] "
                   "[--rounds N] [--outpost PATH]\n");
      return 2;
    }
  }
  const size_t requests = 200;  // 10,000 spans per round
  const int rounds = rounds_arg > 0 ? rounds_arg : quick ? 5 : 30;
  const auto v04 = makeBodies(requests, false);
  const auto v05 = makeBodies(requests, true);
  if (pipeline_only) {
    // Only the pipelines without compression: for profilers (perf, callgrind).
    std::printf("v0.4 pipeline: %.0f spans/s\n", pipelineRate(v04, false, rounds));
    std::printf("v0.5 pipeline: %.0f spans/s\n", pipelineRate(v05, true, rounds));
    return 0;
  }
  size_t v04_bytes = 0;
  for (const auto& b : v04) {
    v04_bytes += b.size();
  }
  std::printf(
      "outpost-bench-traces: %zu requests of 10 traces x 5 spans (%.0f bytes/span in v0.4)"
      ", %d rounds\n\n",
      requests, static_cast<double>(v04_bytes) / (requests * 50.0), rounds);
  std::printf("1. In process, one thread (spans/s; the best of %d rounds, then the median round)\n",
              rounds);
  std::printf("%-13s %12s %12s %14s %14s %10s %10s\n", "body", "decode", "pipeline", "+gzip -1",
              "msgpack-cxx", "pipe/ref", "gzip/ref");
  Rates r04 = inProcess(v04, false, rounds);
  Rates r05 = inProcess(v05, true, rounds);
  for (const auto& [name, r] : {std::pair<const char*, Rates&>{"v0.4", r04}, {"v0.5", r05}}) {
    for (const bool best : {true, false}) {
      auto pick = [&](const Rate& rate) { return best ? rate.best : rate.median; };
      // The compressed run's reference: the unpack rate with the deflate time of its payload
      // added.
      const double deflate_s_per_span = r.payload_bytes_per_span / (r.ref_deflate_mbps * 1e6);
      const double ref_gz = 1.0 / (1.0 / pick(r.ref_unpack) + deflate_s_per_span);
      std::printf("%-4s %-8s %12.0f %12.0f %14.0f %14.0f %9.2fx %9.2fx\n", name,
                  best ? "best" : "median", pick(r.decode), pick(r.pipeline), pick(r.compressed),
                  pick(r.ref_unpack), pick(r.pipeline) / pick(r.ref_unpack),
                  pick(r.compressed) / ref_gz);
    }
  }
  std::printf(
      "(pipeline = decode + normalize + obfuscate + stats + sample + AgentPayload encode;\n"
      " AgentPayload %.0f bytes/span; zlib -1 on it: %.0f MB/s; targets >= 1 M spans/s "
      "without compression, >= 300 k with)\n",
      r04.payload_bytes_per_span, r04.ref_deflate_mbps);

  if (by_stage) {
    stages(v04, rounds);
  }

  // 2. HTTP against a real daemon.
  char tmpl[] = "/tmp/outpost-bench-traces-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    die("mkdtemp");
  }
  const std::string dir = tmpl;
  const int port = freeTcpPort();
  std::ofstream(dir + "/outpost.yaml") << "hostname: bench-host\nuse_dogstatsd: false\n"
                                       << "log_level: warn\nrun_path: " << dir << "/run\n"
                                       << "apm_config:\n  receiver_port: " << port << "\n";
  Daemon d = spawnOutpost(outpost, dir);
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    const int fd = connectTo(port);
    if (fd >= 0) {
      ::close(fd);
      up = true;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  if (!up) {
    die("outpost did not listen on port " + std::to_string(port) + " (see " + dir +
        "/outpost.err)");
  }
  const double duration = quick ? 2.0 : 5.0;
  const Load steady = drive(d.pid, port, v04, 5000, duration);
  const Load max = drive(d.pid, port, v04, 0, duration);
  const int64_t rss = statusKiB(d.pid, "VmHWM:");
  ::kill(d.pid, SIGTERM);
  int status = 0;
  ::waitpid(d.pid, &status, 0);
  fs::remove_all(dir);
  std::printf("\n2. HTTP over loopback to `outpost run`, 50-span v0.4 requests, 4 connections\n");
  std::printf(
      "   offered 5,000 req/s: %.0f req/s answered, outpost used %.2f cores (target < 1)"
      ", %llu failed\n",
      steady.achieved, steady.cores, static_cast<unsigned long long>(steady.failed));
  std::printf("   as fast as answered: %.0f req/s (%.0f spans/s), outpost used %.2f cores\n",
              max.achieved, max.achieved * 50, max.cores);
  std::printf("   peak RSS of outpost: %.1f MiB\n", static_cast<double>(rss) / 1024.0);
  std::printf(
      "\nRESULT v04_decode=%.0f v04_pipeline=%.0f v04_gzip=%.0f v04_ref_unpack=%.0f "
      "v05_decode=%.0f v05_pipeline=%.0f v05_gzip=%.0f v05_ref_unpack=%.0f "
      "v04_pipeline_median=%.0f v04_ref_unpack_median=%.0f v05_pipeline_median=%.0f "
      "v05_ref_unpack_median=%.0f "
      "http_5k_cores=%.3f http_5k_achieved=%.0f http_max_rps=%.0f rss_mib=%.1f\n",
      r04.decode.best, r04.pipeline.best, r04.compressed.best, r04.ref_unpack.best, r05.decode.best,
      r05.pipeline.best, r05.compressed.best, r05.ref_unpack.best, r04.pipeline.median,
      r04.ref_unpack.median, r05.pipeline.median, r05.ref_unpack.median, steady.cores,
      steady.achieved, max.achieved, static_cast<double>(rss) / 1024.0);
  return 0;
}
