// libFuzzer target for the forwarder's disk spool recovery: any bytes as a segment file and a
// cursor file (as after a crash, a torn write or a damaged disk) must open, and every record must
// be read back or skipped and counted, never a crash, a hang or a sanitizer report. Asserted:
// open() succeeds; front()/pop() yield at most records() payloads, each decoded within its
// record, and then the spool is empty (no endless loop); a payload appended after recovery reads
// back intact after a reopen, behind nothing.
//
// Input layout: byte 0 holds flags (bit 0: write a cursor file, bit 1: fix up the CRCs of the
// records and of the cursor, so that the decoder behind them is reached, bit 2: start the segment
// sequence high), byte 1 the length of the cursor file's bytes (taken from the end of the input);
// the rest is the segment file.

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/log.h"
#include "core/telemetry.h"
#include "forwarder/spool/spool.h"

namespace {

namespace fs = std::filesystem;

void check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

// This process's directory, on tmpfs where there is one (the spool fsyncs, and every iteration
// rewrites the files), removed at exit.
std::string makeTempDir() {
  static std::string root;
  root = std::string(::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") +
         "/outpost-fuzz-spool-XXXXXX";
  check(::mkdtemp(root.data()) != nullptr);
  std::atexit([] {
    std::error_code ec;
    fs::remove_all(root, ec);
  });
  return root;
}

const std::string& spoolDir() {
  static const std::string dir = [] {
    const std::string root = makeTempDir();
    outpost::Logger::instance().setLevel(outpost::LogLevel::kOff);
    return root + "/spool";
  }();
  return dir;
}

void writeFile(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  check(fd >= 0);
  check(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

uint32_t crc(const char* p, size_t n) {
  return static_cast<uint32_t>(crc32_z(0, reinterpret_cast<const Bytef*>(p), n));
}

void putU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    p[i] = static_cast<char>(v >> (8 * i));
  }
}

uint32_t getU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) {
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  }
  return v;
}

// Makes each record header the fuzzer wrote valid: magic, version 1, flags 0, a length that fits
// in the file, and both CRCs right. Bytes that do not start with the magic are left as they are.
void fixRecords(std::string& seg) {
  size_t pos = 0;
  while (pos + 20 <= seg.size()) {
    char* h = seg.data() + pos;
    if (std::memcmp(h, "\xF0SPL", 4) != 0) {
      ++pos;
      continue;
    }
    h[4] = 1;
    h[5] = 0;
    h[6] = 0;
    h[7] = 0;
    const uint32_t length =
        static_cast<uint32_t>(std::min<size_t>(getU32(h + 8), seg.size() - pos - 20));
    putU32(h + 8, length);
    putU32(h + 12, crc(h + 20, length));
    putU32(h + 16, crc(h, 16));
    pos += 20 + length;
  }
}

// Makes a 28-byte cursor valid. Its segment sequence keeps to 32 bits: a forged cursor near 2^64
// makes the next segment's sequence wrap to 0, before the cursor, so what is appended then reads
// as popped at the next open; 2^64 segments cannot happen, and a damaged cursor fails its CRC.
void fixCursor(std::string& cursor) {
  if (cursor.size() == 28) {
    std::memcpy(cursor.data(), "\xF0SPC", 4);
    putU32(cursor.data() + 4, 1);
    putU32(cursor.data() + 12, 0);
    putU32(cursor.data() + 24, crc(cursor.data(), 24));
  }
}

std::unique_ptr<outpost::Spool> open(outpost::Telemetry& telemetry) {
  outpost::Spool::Options o;
  o.dir = spoolDir();
  o.max_bytes = 1 << 20;
  o.max_disk_ratio = 1.0;
  o.segment_bytes = 4096;
  std::string error;
  auto spool = outpost::Spool::open(o, telemetry, &error);
  check(spool != nullptr);
  return spool;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) {
    return 0;
  }
  const uint8_t flags = data[0];
  const size_t cursor_len = std::min<size_t>(data[1], size - 2);
  std::string seg(reinterpret_cast<const char*>(data) + 2, size - 2 - cursor_len);
  std::string cursor(reinterpret_cast<const char*>(data) + size - cursor_len, cursor_len);
  if ((flags & 2) != 0) {
    fixRecords(seg);
    fixCursor(cursor);
  }

  const std::string& dir = spoolDir();
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  const char* seg_name = (flags & 4) != 0 ? "/fffffffffffffff0.seg" : "/0000000000000001.seg";
  writeFile(dir + seg_name, seg);
  if ((flags & 1) != 0) {
    writeFile(dir + "/cursor", cursor);
  }

  outpost::Telemetry telemetry;
  {
    auto spool = open(telemetry);
    const size_t records = spool->records();
    check(spool->bytes() <= seg.size());
    size_t read = 0;
    while (auto p = spool->front()) {
      check(++read <= records);
      check(p->route.size() + p->content_type.size() + p->content_encoding.size() +
                p->body.size() <=
            seg.size());
      spool->pop();
    }
    check(spool->records() == 0);

    outpost::SpooledPayload mine;
    mine.route = "/api/v2/series";
    mine.content_type = "application/x-protobuf";
    mine.content_encoding = "zstd";
    mine.headers = {{"DD-Agent-Payload", "1"}};
    mine.body = "fuzz";
    mine.id = 42;
    check(spool->append(mine) == outpost::Spool::AppendResult::kOk);
  }
  auto spool = open(telemetry);
  auto p = spool->front();
  check(p && p->id == 42 && p->body == "fuzz" && p->headers.size() == 1);
  spool->pop();
  check(!spool->front() && spool->records() == 0);
  return 0;
}
