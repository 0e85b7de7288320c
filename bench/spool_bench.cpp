// outpost-bench-spool: throughput of the forwarder's disk spool (forwarder/spool) against a plain
// write(2) of the same bytes to a file in the same directory.
//
//   outpost-bench-spool [--mib N] [--kib K]   (defaults: 512 MiB of 256 KiB payloads)
//
// Appends N MiB of K KiB payloads to a spool in a fresh temporary directory (under $TMPDIR or
// /tmp) and reports MB/s (10^6 bytes of payload body per second), then reads everything back
// (front + pop) and reports MB/s. The reference writes the same bodies with write(2) to one file:
// that goes to the page cache only, while the spool fsyncs each finished 8 MiB segment as it does
// in the agent, so on most machines it runs at the disk's speed; a second reference, "raw
// write(2) + fsync every 8 MiB", shows what that costs on this disk.
// The last line is `RESULT spool_append_mbps=... raw_write_mbps=... ratio=... spool_read_mbps=...`.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "core/log.h"
#include "core/telemetry.h"
#include "forwarder/spool/spool.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kSyncEvery = 8 << 20;

double seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

double mbps(uint64_t bytes, double secs) {
  return secs > 0 ? bytes / secs / 1e6 : 0;
}

// write(2) of `count` bodies to `path`; fsync every `sync_every` bytes when non-zero.
double rawWrite(const std::string& path, const std::string& body, uint64_t count,
                uint64_t sync_every) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::fprintf(stderr, "cannot create %s: %s\n", path.c_str(), std::strerror(errno));
    std::exit(1);
  }
  const auto t0 = Clock::now();
  uint64_t since_sync = 0;
  for (uint64_t i = 0; i < count; ++i) {
    size_t done = 0;
    while (done < body.size()) {
      const ssize_t w = ::write(fd, body.data() + done, body.size() - done);
      if (w < 0) {
        std::fprintf(stderr, "write %s: %s\n", path.c_str(), std::strerror(errno));
        std::exit(1);
      }
      done += static_cast<size_t>(w);
    }
    since_sync += body.size();
    if (sync_every != 0 && since_sync >= sync_every) {
      ::fsync(fd);
      since_sync = 0;
    }
  }
  const double secs = seconds(t0);
  ::close(fd);
  ::unlink(path.c_str());
  return secs;
}

void report(std::string_view what, uint64_t bytes, double secs, const std::string& extra) {
  std::printf("%-34s %8.0f MB/s (%.2f s%s)\n", std::string(what).c_str(), mbps(bytes, secs), secs,
              extra.c_str());
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--mib N] [--kib K]   (N MiB of K KiB payloads; default 512, 256)\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t mib = 512;
  uint64_t kib = 256;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    uint64_t* target = arg == "--mib" ? &mib : arg == "--kib" ? &kib : nullptr;
    if (target == nullptr || i + 1 >= argc) {
      return usage(argv[0]);
    }
    char* end = nullptr;
    *target = std::strtoull(argv[++i], &end, 10);
    if (end == nullptr || *end != '\0' || *target == 0) {
      return usage(argv[0]);
    }
  }
  const size_t payload_bytes = static_cast<size_t>(kib) << 10;
  outpost::Logger::instance().setLevel(outpost::LogLevel::kWarn);

  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/outpost-bench-spool-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::fprintf(stderr, "mkdtemp %s: %s\n", tmpl.c_str(), std::strerror(errno));
    return 1;
  }
  const std::string dir = tmpl;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir};

  const uint64_t count = mib * (1 << 20) / payload_bytes;
  const uint64_t total = count * payload_bytes;
  if (count == 0) {
    return usage(argv[0]);
  }
  std::mt19937_64 rng(1);
  outpost::SpooledPayload payload;
  payload.route = "/api/v2/series";
  payload.content_type = "application/x-protobuf";
  payload.content_encoding = "zstd";
  payload.headers = {{"DD-EVP-ORIGIN", "outpost"}};
  payload.body.resize(payload_bytes);
  for (auto& c : payload.body) {
    c = static_cast<char>(rng());
  }
  std::printf("spool bench: %llu payloads of %zu KiB (%llu MiB) in %s\n",
              static_cast<unsigned long long>(count), payload_bytes >> 10,
              static_cast<unsigned long long>(mib), dir.c_str());

  // Reference first, while the disk is quiet: the same bodies with write(2), no fsync.
  ::sync();
  const double raw_secs = rawWrite(dir + "/raw", payload.body, count, 0);
  report("raw write(2)", total, raw_secs, "");

  // Spool: append, then read back.
  outpost::Telemetry telemetry;
  outpost::Spool::Options options;
  options.dir = dir + "/spool";
  options.max_bytes = total * 2 + (64ull << 20);  // nothing is dropped
  options.max_disk_ratio = 0.99;
  options.name = "bench";
  std::string error;
  auto spool = outpost::Spool::open(options, telemetry, &error);
  if (!spool) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  ::sync();
  auto t0 = Clock::now();
  for (uint64_t i = 0; i < count; ++i) {
    payload.id = i;
    if (spool->append(payload) != outpost::Spool::AppendResult::kOk) {
      std::fprintf(stderr, "append %llu failed\n", static_cast<unsigned long long>(i));
      return 1;
    }
  }
  const double append_secs = seconds(t0);
  spool->flush();
  const double append_flush_secs = seconds(t0);
  report("spool append", total, append_secs,
         fmt::format("; {:.0f} MB/s with the final flush; {} files", mbps(total, append_flush_secs),
                     spool->files()));

  t0 = Clock::now();
  uint64_t read = 0;
  uint64_t expected_id = 0;
  while (auto p = spool->front()) {
    if (p->id != expected_id || p->body.size() != payload_bytes) {
      std::fprintf(stderr, "read back record %llu, expected %llu\n",
                   static_cast<unsigned long long>(p->id),
                   static_cast<unsigned long long>(expected_id));
      return 1;
    }
    read += p->body.size();
    ++expected_id;
    spool->pop();
  }
  const double read_secs = seconds(t0);
  if (read != total) {
    std::fprintf(stderr, "read back %llu bytes of %llu\n", static_cast<unsigned long long>(read),
                 static_cast<unsigned long long>(total));
    return 1;
  }
  report("spool read (front + pop)", total, read_secs, "");
  spool.reset();

  // What the spool's fsync of each finished segment costs on this disk.
  ::sync();
  const double raw_sync_secs = rawWrite(dir + "/raw-sync", payload.body, count, kSyncEvery);
  report("raw write(2) + fsync every 8 MiB", total, raw_sync_secs,
         fmt::format("; spool append / this = {:.2f}",
                     mbps(total, append_secs) / mbps(total, raw_sync_secs)));

  const double append = mbps(total, append_secs);
  const double raw = mbps(total, raw_secs);
  std::printf("RESULT spool_append_mbps=%.0f raw_write_mbps=%.0f ratio=%.2f spool_read_mbps=%.0f\n",
              append, raw, raw > 0 ? append / raw : 0, mbps(total, read_secs));
  return 0;
}
