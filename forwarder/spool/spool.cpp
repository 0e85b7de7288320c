#include "forwarder/spool/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <string_view>
#include <system_error>

#include "core/log.h"

namespace outpost {
namespace {

constexpr std::string_view kComponent = "spool";

// Record header: magic, u16 version, u16 flags, u32 payload length, u32 payload CRC, u32 header
// CRC (over the 16 bytes before it). The header CRC makes the length trustworthy, so a damaged
// length is never mistaken for a torn tail (which would truncate the good records after it).
constexpr char kMagic[4] = {'\xF0', 'S', 'P', 'L'};
constexpr uint16_t kFormatVersion = 1;
constexpr size_t kHeaderBytes = 20;
// Hard bound on one record's payload, checked on write and on read (whatever max_bytes is), so a
// damaged length can never make us allocate or read more than this.
constexpr uint64_t kMaxPayloadBytes = 256ull << 20;

// Cursor file: magic, u32 version, u64 segment sequence, u64 offset, u32 CRC of the 24 bytes.
constexpr char kCursorMagic[4] = {'\xF0', 'S', 'P', 'C'};
constexpr size_t kCursorBytes = 28;
constexpr const char* kCursorName = "cursor";
constexpr const char* kCursorTmpName = "cursor.tmp";
constexpr const char* kLockName = "lock";

constexpr size_t kScanWindow = 1 << 20;  // read-ahead while scanning segments at open()
constexpr uint64_t kMinSegmentBytes = 4096;
constexpr uint64_t kWritebackBytes = 1 << 20;  // start writeback every this many bytes
constexpr size_t kKeepReadBuffer = 4 << 20;    // front()'s read buffer is kept up to this size

uint32_t crc32Of(uint32_t crc, const void* data, size_t n) {
  return static_cast<uint32_t>(crc32_z(crc, static_cast<const Bytef*>(data), n));
}

void putU16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v);
  p[1] = static_cast<char>(v >> 8);
}
void putU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    p[i] = static_cast<char>(v >> (8 * i));
  }
}
void putU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    p[i] = static_cast<char>(v >> (8 * i));
  }
}
uint16_t getU16(const char* p) {
  return static_cast<uint16_t>(static_cast<unsigned char>(p[0]) |
                               (static_cast<unsigned char>(p[1]) << 8));
}
uint32_t getU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) {
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  }
  return v;
}
uint64_t getU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) {
    v = (v << 8) | static_cast<unsigned char>(p[i]);
  }
  return v;
}

void appendU32(std::string& out, uint32_t v) {
  char b[4];
  putU32(b, v);
  out.append(b, 4);
}
void appendU64(std::string& out, uint64_t v) {
  char b[8];
  putU64(b, v);
  out.append(b, 8);
}
void appendString(std::string& out, std::string_view s) {
  appendU32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

// Everything of the payload but the body's bytes (which are written straight from the caller's
// string), ending with the body's length prefix.
std::string encodeMeta(const SpooledPayload& p) {
  std::string out;
  size_t n =
      8 + 8 + 4 + 12 + p.route.size() + p.content_type.size() + p.content_encoding.size() + 4 + 4;
  for (const auto& [k, v] : p.headers) {
    n += 8 + k.size() + v.size();
  }
  out.reserve(n);
  appendU64(out, p.id);
  appendU64(out, static_cast<uint64_t>(p.created_unix_ms));
  appendU32(out, p.attempts);
  appendString(out, p.route);
  appendString(out, p.content_type);
  appendString(out, p.content_encoding);
  appendU32(out, static_cast<uint32_t>(p.headers.size()));
  for (const auto& [k, v] : p.headers) {
    appendString(out, k);
    appendString(out, v);
  }
  appendU32(out, static_cast<uint32_t>(p.body.size()));
  return out;
}

// Bounds-checked reader over one record's payload: every length is checked against the bytes
// that are left, so a damaged length fails the decode instead of allocating.
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view data) : data_(data) {}
  bool u32(uint32_t* v) {
    if (data_.size() < 4) {
      return false;
    }
    *v = getU32(data_.data());
    data_.remove_prefix(4);
    return true;
  }
  bool u64(uint64_t* v) {
    if (data_.size() < 8) {
      return false;
    }
    *v = getU64(data_.data());
    data_.remove_prefix(8);
    return true;
  }
  bool str(std::string* s) {
    uint32_t n = 0;
    if (!u32(&n) || n > data_.size()) {
      return false;
    }
    s->assign(data_.data(), n);
    data_.remove_prefix(n);
    return true;
  }
  size_t left() const { return data_.size(); }

 private:
  std::string_view data_;
};

bool decodePayload(std::string_view data, SpooledPayload* p) {
  PayloadReader r(data);
  uint64_t created = 0;
  uint32_t headers = 0;
  if (!r.u64(&p->id) || !r.u64(&created) || !r.u32(&p->attempts) || !r.str(&p->route) ||
      !r.str(&p->content_type) || !r.str(&p->content_encoding) || !r.u32(&headers)) {
    return false;
  }
  p->created_unix_ms = static_cast<int64_t>(created);
  if (headers > r.left() / 8) {  // each header takes at least two length prefixes
    return false;
  }
  p->headers.resize(headers);
  for (auto& [k, v] : p->headers) {
    if (!r.str(&k) || !r.str(&v)) {
      return false;
    }
  }
  return r.str(&p->body) && r.left() == 0;
}

struct Header {
  uint32_t length = 0;
  uint32_t crc = 0;
};

// Validates a record header (magic, version, header CRC, length bound).
bool parseHeader(const char* p, Header* h) {
  if (std::memcmp(p, kMagic, sizeof kMagic) != 0 || getU16(p + 4) != kFormatVersion ||
      getU16(p + 6) != 0 || getU32(p + 16) != crc32Of(0, p, 16)) {
    return false;
  }
  h->length = getU32(p + 8);
  h->crc = getU32(p + 12);
  return h->length <= kMaxPayloadBytes;
}

void makeHeader(char* p, uint32_t length, uint32_t crc) {
  std::memcpy(p, kMagic, sizeof kMagic);
  putU16(p + 4, kFormatVersion);
  putU16(p + 6, 0);
  putU32(p + 8, length);
  putU32(p + 12, crc);
  putU32(p + 16, crc32Of(0, p, 16));
}

std::string segmentName(uint64_t seq) {
  return fmt::format("{:016x}.seg", seq);
}

// "<16 hex digits>.seg" -> sequence.
bool parseSegmentName(std::string_view name, uint64_t* seq) {
  if (name.size() != 20 || name.substr(16) != ".seg") {
    return false;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < 16; ++i) {
    const char c = name[i];
    int d = 0;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *seq = v;
  return true;
}

// Reads exactly n bytes at off (short only at end of file). -1 on error.
ssize_t preadFull(int fd, char* buf, size_t n, uint64_t off) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, buf + done, n - done, static_cast<off_t>(off + done));
    if (r < 0) {
      if (errno == EINTR) {
        continue;
      }
      return -1;
    }
    if (r == 0) {
      break;
    }
    done += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(done);
}

// Writes every iovec at off, looping over short writes. false (errno set) on error.
bool pwritevFull(int fd, iovec* iov, int count, uint64_t off) {
  while (count > 0) {
    const ssize_t w = ::pwritev(fd, iov, count, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    if (w == 0) {
      errno = EIO;
      return false;
    }
    off += static_cast<uint64_t>(w);
    size_t left = static_cast<size_t>(w);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return true;
}

bool writeFull(int fd, const char* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

void closeFd(int& fd) {
  if (fd >= 0) {
    ::close(fd);
    fd = -1;
  }
}

// Sequential read-ahead over one segment for the open() scan.
class ScanReader {
 public:
  ScanReader(int fd, uint64_t size) : fd_(fd), size_(size), buf_(kScanWindow, '\0') {}

  // Pointer to [off, off + n), n <= kScanWindow and off + n <= size; nullptr on a read error.
  const char* get(uint64_t off, size_t n) {
    assert(n <= kScanWindow && off + n <= size_);
    if (off >= buf_off_ && off + n <= buf_off_ + buf_len_) {
      return buf_.data() + (off - buf_off_);
    }
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kScanWindow, size_ - off));
    const ssize_t r = preadFull(fd_, buf_.data(), want, off);
    if (r < 0 || static_cast<size_t>(r) < n) {
      buf_len_ = 0;
      return nullptr;
    }
    buf_off_ = off;
    buf_len_ = static_cast<size_t>(r);
    return buf_.data();
  }

 private:
  int fd_;
  uint64_t size_;
  std::string buf_;
  uint64_t buf_off_ = 0;
  size_t buf_len_ = 0;
};

struct Cursor {
  uint64_t seq = 0;
  uint64_t offset = 0;
};

}  // namespace

struct Spool::Impl {
  struct Segment {
    uint64_t seq = 0;
    uint64_t size = 0;              // bytes in the file
    std::vector<uint64_t> offsets;  // start of each intact record
    size_t next = 0;                // index of the first record not popped
    size_t unpopped() const { return offsets.size() - next; }
  };

  // What a scan of one segment found.
  struct ScanResult {
    Segment segment;
    uint64_t valid_end = 0;  // end of the last intact record
    bool read_error = false;
  };

  Impl(Options o, Telemetry& t)
      : options_(std::move(o)),
        appended_(t.counter("outpost.spool.records", tags("outcome:appended"),
                            "records appended to the disk spool")),
        popped_(t.counter("outpost.spool.records", tags("outcome:popped"),
                          "records popped from the disk spool (handed back for sending)")),
        corrupt_(t.counter("outpost.spool.records", tags("outcome:corrupt"),
                           "damaged spool regions skipped (bad magic, header or CRC)")),
        torn_(t.counter("outpost.spool.records", tags("outcome:torn"),
                        "partial records cut from a segment's end (crash mid-write)")),
        dropped_full_(t.counter("outpost.spool.dropped", tags("reason:full"),
                                "spooled records deleted to stay under max_bytes")),
        dropped_too_large_(t.counter("outpost.spool.dropped", tags("reason:too_large"),
                                     "payloads refused: larger than half the spool")),
        dropped_disk_full_(t.counter("outpost.spool.dropped", tags("reason:disk_full"),
                                     "payloads refused: disk fuller than max_disk_ratio")),
        dropped_io_error_(t.counter("outpost.spool.dropped", tags("reason:io_error"),
                                    "payloads not spooled because a write failed")),
        cursor_corrupt_(t.counter("outpost.spool.cursor_corrupt", tags(),
                                  "unreadable cursor files ignored (reading restarts at the "
                                  "oldest record)")),
        bytes_gauge_(t.gauge("outpost.spool.bytes", tags(), "bytes of spool segment files")),
        files_gauge_(t.gauge("outpost.spool.files", tags(), "spool segment files")) {
    segment_limit_ =
        std::max(kMinSegmentBytes, std::min(options_.segment_bytes, options_.max_bytes / 4));
  }

  ~Impl() {
    finishWriteSegment();
    if (dir_fd_ >= 0) {
      if (cursor_dirty_) {
        writeCursor(true);
      }
      ::fsync(dir_fd_);
    }
    closeFd(read_fd_);
    closeFd(cursor_live_fd_);
    closeFd(cursor_tmp_fd_);
    closeFd(dir_fd_);
    closeFd(lock_fd_);  // releases the flock
  }

  std::vector<std::string> tags(std::string_view extra = {}) const {
    std::vector<std::string> t{"endpoint:" + options_.name};
    if (!extra.empty()) {
      t.emplace_back(extra);
    }
    return t;
  }

  std::string path(std::string_view name) const { return options_.dir + "/" + std::string(name); }

  void updateGauges() {
    bytes_gauge_.set(static_cast<int64_t>(bytes_));
    files_gauge_.set(static_cast<int64_t>(segments_.size()));
  }

  bool openDir(std::string* error);
  void recover();
  ScanResult scanSegment(int fd, uint64_t seq, uint64_t size);
  uint64_t resync(ScanReader& reader, uint64_t from, uint64_t size);
  std::optional<Cursor> readCursor();
  void writeCursor(bool durable);
  void openCursorFiles();

  bool diskFull();
  void makeRoom(uint64_t record_bytes);
  bool startSegment();
  void finishWriteSegment();
  void removeFrontSegment();
  bool openReadFd(uint64_t seq);
  bool readRecord(uint64_t offset, SpooledPayload* out, uint64_t* end);

  AppendResult append(const SpooledPayload& payload);
  std::optional<SpooledPayload> front();
  void pop();
  void flush();

  Options options_;
  uint64_t segment_limit_ = 0;
  std::deque<Segment> segments_;
  int dir_fd_ = -1;
  int lock_fd_ = -1;
  int write_fd_ = -1;            // open on segments.back() while it takes appends
  int read_fd_ = -1;             // open on the segment with sequence read_seq
  uint64_t writeback_from_ = 0;  // writeback of the write segment was started up to here
  int cursor_live_fd_ = -1;      // the inode named `cursor`
  int cursor_tmp_fd_ = -1;       // the inode named `cursor.tmp`, overwritten then exchanged
  std::string read_buf_;         // reused by front(), so reads land in memory already mapped
  uint64_t read_seq_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t bytes_ = 0;
  size_t records_ = 0;

  Cursor cursor_;  // last position written to the cursor file (or to be written)
  bool cursor_dirty_ = false;

  // The record front() returned, for pop().
  bool front_valid_ = false;
  uint64_t front_seq_ = 0;
  uint64_t front_end_ = 0;

  bool write_failing_ = false;  // log a failure once, not per append
  bool disk_full_ = false;
  std::chrono::steady_clock::time_point last_drop_log_{};
  size_t unlogged_drop_files_ = 0;
  size_t unlogged_drop_records_ = 0;

  Counter& appended_;
  Counter& popped_;
  Counter& corrupt_;
  Counter& torn_;
  Counter& dropped_full_;
  Counter& dropped_too_large_;
  Counter& dropped_disk_full_;
  Counter& dropped_io_error_;
  Counter& cursor_corrupt_;
  Gauge& bytes_gauge_;
  Gauge& files_gauge_;
};

bool Spool::Impl::openDir(std::string* error) {
  const std::string& dir = options_.dir;
  if (dir.empty()) {
    *error = "spool directory is not set";
    return false;
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    *error = fmt::format("cannot create spool directory {}: {}", dir, ec.message());
    return false;
  }
  dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd_ < 0) {
    *error = fmt::format("cannot open spool directory {}: {}", dir, std::strerror(errno));
    return false;
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    *error = fmt::format("spool directory {} is not writable: {}", dir, std::strerror(errno));
    return false;
  }
  lock_fd_ = ::openat(dir_fd_, kLockName, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) {
    *error = fmt::format("spool directory {} is not writable: cannot create {}: {}", dir,
                         path(kLockName), std::strerror(errno));
    return false;
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    *error = errno == EWOULDBLOCK
                 ? fmt::format("spool directory {} is in use by another spool ({} is locked)", dir,
                               path(kLockName))
                 : fmt::format("cannot lock {}: {}", path(kLockName), std::strerror(errno));
    return false;
  }
  return true;
}

std::optional<Cursor> Spool::Impl::readCursor() {
  const int fd = ::openat(dir_fd_, kCursorName, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) {
      LOG_WARN(kComponent, "cannot read {}: {}; reading from the oldest record", path(kCursorName),
               std::strerror(errno));
      cursor_corrupt_.inc();
    }
    return std::nullopt;
  }
  char buf[kCursorBytes + 1];
  const ssize_t n = preadFull(fd, buf, sizeof buf, 0);
  ::close(fd);
  if (n != static_cast<ssize_t>(kCursorBytes) ||
      std::memcmp(buf, kCursorMagic, sizeof kCursorMagic) != 0 || getU32(buf + 4) != 1 ||
      getU32(buf + 24) != crc32Of(0, buf, 24)) {
    LOG_WARN(kComponent, "{} is damaged; ignoring it and reading from the oldest record",
             path(kCursorName));
    cursor_corrupt_.inc();
    return std::nullopt;
  }
  return Cursor{getU64(buf + 8), getU64(buf + 16)};
}

void Spool::Impl::writeCursor(bool durable) {
  char buf[kCursorBytes];
  std::memcpy(buf, kCursorMagic, sizeof kCursorMagic);
  putU32(buf + 4, 1);
  putU64(buf + 8, cursor_.seq);
  putU64(buf + 16, cursor_.offset);
  putU32(buf + 24, crc32Of(0, buf, 24));

  // Fast path: overwrite the spare file in place, then swap the two names atomically. Unlike a
  // rename over `cursor`, no inode is freed, which on some filesystems (ext4 mounted with
  // `discard`) costs a synchronous discard, about a millisecond per pop.
  if (cursor_tmp_fd_ >= 0) {
    if (::pwrite(cursor_tmp_fd_, buf, sizeof buf, 0) == static_cast<ssize_t>(sizeof buf) &&
        (!durable || ::fdatasync(cursor_tmp_fd_) == 0) &&
        ::renameat2(dir_fd_, kCursorTmpName, dir_fd_, kCursorName, RENAME_EXCHANGE) == 0) {
      std::swap(cursor_tmp_fd_, cursor_live_fd_);
      cursor_dirty_ = !durable;  // flush() makes a non-durable write durable
      return;
    }
    // Not supported here (or the files were tampered with): plain temp file + rename from now on.
    LOG_DEBUG(kComponent, "{}: cursor exchange failed ({}); using rename", options_.dir,
              std::strerror(errno));
    closeFd(cursor_tmp_fd_);
    closeFd(cursor_live_fd_);
  }

  const char* step = "create";
  int fd = ::openat(dir_fd_, kCursorTmpName, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0;
  if (ok) {
    step = "write";
    ok = writeFull(fd, buf, sizeof buf) && (!durable || ::fsync(fd) == 0);
  }
  const int err = errno;
  closeFd(fd);
  if (ok) {
    step = "rename";
    ok = ::renameat(dir_fd_, kCursorTmpName, dir_fd_, kCursorName) == 0;
  }
  if (!ok) {
    LOG_WARN(kComponent, "cannot {} {}: {}", step, path(kCursorName),
             std::strerror(step[0] == 'r' ? errno : err));
    cursor_dirty_ = true;  // retried on the next pop, flush() or close
    return;
  }
  cursor_dirty_ = !durable;
}

// Opens `cursor` and a spare `cursor.tmp` (both kCursorBytes long) for writeCursor()'s exchange.
void Spool::Impl::openCursorFiles() {
  cursor_live_fd_ = ::openat(dir_fd_, kCursorName, O_RDWR | O_CLOEXEC);
  cursor_tmp_fd_ = ::openat(dir_fd_, kCursorTmpName, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  struct stat st {};
  if (cursor_live_fd_ < 0 || cursor_tmp_fd_ < 0 || ::fstat(cursor_tmp_fd_, &st) != 0 ||
      (st.st_size != static_cast<off_t>(kCursorBytes) &&
       ::ftruncate(cursor_tmp_fd_, static_cast<off_t>(kCursorBytes)) != 0)) {
    closeFd(cursor_live_fd_);
    closeFd(cursor_tmp_fd_);
  }
}

// Position of the next valid record header after a damaged one, or `size` when none is left.
uint64_t Spool::Impl::resync(ScanReader& reader, uint64_t from, uint64_t size) {
  uint64_t pos = from;
  while (pos + sizeof kMagic <= size) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kScanWindow, size - pos));
    const char* p = reader.get(pos, n);
    if (p == nullptr) {
      return size;
    }
    const void* hit = ::memmem(p, n, kMagic, sizeof kMagic);
    if (hit == nullptr) {
      // The magic may straddle the window's end: look again from its last 3 bytes.
      if (pos + n >= size) {
        return size;
      }
      pos += n - (sizeof kMagic - 1);
      continue;
    }
    const uint64_t at = pos + static_cast<uint64_t>(static_cast<const char*>(hit) - p);
    if (at + kHeaderBytes > size) {
      return size;  // a magic too close to the end to hold a header
    }
    Header h;
    const char* hp = reader.get(at, kHeaderBytes);
    if (hp == nullptr) {
      return size;
    }
    if (parseHeader(hp, &h)) {
      return at;
    }
    pos = at + 1;
  }
  return size;
}

Spool::Impl::ScanResult Spool::Impl::scanSegment(int fd, uint64_t seq, uint64_t size) {
  ScanResult result;
  result.segment.seq = seq;
  result.segment.size = size;
  ScanReader reader(fd, size);
  uint64_t pos = 0;
  while (pos < size) {
    if (size - pos < kHeaderBytes) {
      torn_.inc();
      break;
    }
    const char* hp = reader.get(pos, kHeaderBytes);
    if (hp == nullptr) {
      result.read_error = true;
      break;
    }
    Header h;
    if (!parseHeader(hp, &h)) {
      const uint64_t next = resync(reader, pos + 1, size);
      corrupt_.inc();
      LOG_WARN(kComponent, "{}: damaged data at offset {} ({} bytes skipped)",
               path(segmentName(seq)), pos, next - pos);
      pos = next;
      continue;
    }
    const uint64_t payload = pos + kHeaderBytes;
    if (h.length > size - payload) {
      torn_.inc();  // the record runs past the end of the file: cut short by a crash
      break;
    }
    uint32_t crc = 0;
    bool read_ok = true;
    for (uint64_t done = 0; done < h.length;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kScanWindow, h.length - done));
      const char* p = reader.get(payload + done, n);
      if (p == nullptr) {
        read_ok = false;
        break;
      }
      crc = crc32Of(crc, p, n);
      done += n;
    }
    if (!read_ok) {
      result.read_error = true;
      break;
    }
    const uint64_t end = payload + h.length;
    if (crc != h.crc) {
      // The header (and so the length) is intact: skip exactly this record.
      corrupt_.inc();
      LOG_WARN(kComponent, "{}: record at offset {} fails its CRC; skipped", path(segmentName(seq)),
               pos);
      pos = end;
      continue;
    }
    result.segment.offsets.push_back(pos);
    pos = end;
    result.valid_end = end;
  }
  return result;
}

void Spool::Impl::recover() {
  std::optional<Cursor> saved = readCursor();

  std::vector<uint64_t> seqs;
  const int list_fd = ::dup(dir_fd_);
  DIR* d = list_fd >= 0 ? ::fdopendir(list_fd) : nullptr;
  if (d == nullptr) {
    LOG_ERROR(kComponent, "cannot list {}: {}", options_.dir, std::strerror(errno));
    if (list_fd >= 0) {
      ::close(list_fd);
    }
  } else {
    ::rewinddir(d);
    while (const dirent* e = ::readdir(d)) {
      uint64_t seq = 0;
      if (parseSegmentName(e->d_name, &seq)) {
        seqs.push_back(seq);
      }
    }
    ::closedir(d);
  }
  std::sort(seqs.begin(), seqs.end());

  uint64_t max_seq = saved ? saved->seq : 0;
  size_t damaged_before = static_cast<size_t>(corrupt_.value() + torn_.value());
  for (size_t i = 0; i < seqs.size(); ++i) {
    const uint64_t seq = seqs[i];
    const bool last = i + 1 == seqs.size();
    max_seq = std::max(max_seq, seq);
    const std::string name = segmentName(seq);
    int fd = ::openat(dir_fd_, name.c_str(), (last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      LOG_ERROR(kComponent, "cannot read {}: {}; leaving it out", path(name),
                fd < 0 ? std::strerror(errno) : "not a regular file");
      closeFd(fd);
      continue;
    }
    ScanResult scan = scanSegment(fd, seq, static_cast<uint64_t>(st.st_size));
    Segment& seg = scan.segment;
    bool appendable = last && !scan.read_error;
    if (scan.read_error) {
      LOG_ERROR(kComponent, "read error in {}: {}; keeping the {} records before it", path(name),
                std::strerror(errno), seg.offsets.size());
    } else if (last && scan.valid_end < seg.size) {
      // Whatever follows the last intact record of the newest segment (a record torn by a crash,
      // or damage) is cut off so appends continue from a clean end.
      if (::ftruncate(fd, static_cast<off_t>(scan.valid_end)) == 0) {
        LOG_WARN(kComponent, "{}: cut {} unreadable bytes from the end", path(name),
                 seg.size - scan.valid_end);
        seg.size = scan.valid_end;
      } else {
        LOG_WARN(kComponent, "cannot truncate {}: {}", path(name), std::strerror(errno));
        appendable = false;
      }
    }
    closeFd(fd);

    // Apply the cursor: everything before it was popped in an earlier run.
    if (saved) {
      if (seq < saved->seq) {
        seg.next = seg.offsets.size();
      } else if (seq == saved->seq) {
        seg.next = static_cast<size_t>(
            std::lower_bound(seg.offsets.begin(), seg.offsets.end(), saved->offset) -
            seg.offsets.begin());
      }
    }
    if (seg.unpopped() == 0) {
      ::unlinkat(dir_fd_, name.c_str(), 0);
      continue;
    }
    segments_.push_back(std::move(seg));
    if (last && appendable) {
      write_fd_ = ::openat(dir_fd_, name.c_str(), O_WRONLY | O_CLOEXEC);
      writeback_from_ = segments_.back().size;
    }
  }
  next_seq_ = max_seq + 1;
  for (const Segment& s : segments_) {
    bytes_ += s.size;
    records_ += s.unpopped();
  }
  if (!saved) {
    cursor_ = Cursor{};  // nothing popped: before every segment
    writeCursor(false);
  } else {
    cursor_ = *saved;
  }
  openCursorFiles();
  updateGauges();
  const size_t damaged = static_cast<size_t>(corrupt_.value() + torn_.value()) - damaged_before;
  if (records_ > 0 || damaged > 0) {
    LOG_INFO(kComponent, "{}: {} records to resend in {} files ({} bytes); {} damaged regions",
             options_.dir, records_, segments_.size(), bytes_, damaged);
  }
}

bool Spool::Impl::diskFull() {
  struct statvfs st {};
  if (::statvfs(options_.dir.c_str(), &st) != 0 || st.f_blocks == 0) {
    return false;
  }
  const double used = 1.0 - static_cast<double>(st.f_bavail) / static_cast<double>(st.f_blocks);
  return used > options_.max_disk_ratio;
}

void Spool::Impl::removeFrontSegment() {
  Segment& s = segments_.front();
  if (read_fd_ >= 0 && read_seq_ == s.seq) {
    closeFd(read_fd_);
  }
  if (segments_.size() == 1) {
    closeFd(write_fd_);  // the front is also the segment being written
  }
  if (front_valid_ && front_seq_ == s.seq) {
    front_valid_ = false;
  }
  const std::string name = segmentName(s.seq);
  if (::unlinkat(dir_fd_, name.c_str(), 0) != 0 && errno != ENOENT) {
    LOG_WARN(kComponent, "cannot delete {}: {}", path(name), std::strerror(errno));
  }
  bytes_ -= s.size;
  records_ -= s.unpopped();
  segments_.pop_front();
  updateGauges();
}

void Spool::Impl::makeRoom(uint64_t record_bytes) {
  while (!segments_.empty() && bytes_ + record_bytes > options_.max_bytes) {
    const size_t lost = segments_.front().unpopped();
    dropped_full_.inc(lost);
    removeFrontSegment();
    // One warning per minute at most while the spool stays full; the counter has every drop.
    unlogged_drop_files_ += 1;
    unlogged_drop_records_ += lost;
    const auto now = std::chrono::steady_clock::now();
    if (last_drop_log_ == std::chrono::steady_clock::time_point{} ||
        now - last_drop_log_ >= std::chrono::minutes(1)) {
      LOG_WARN(kComponent,
               "{} is over max_bytes ({}): dropped the oldest {} files ({} records) to make room",
               options_.dir, options_.max_bytes, unlogged_drop_files_, unlogged_drop_records_);
      last_drop_log_ = now;
      unlogged_drop_files_ = 0;
      unlogged_drop_records_ = 0;
    }
  }
}

bool Spool::Impl::startSegment() {
  for (int attempt = 0; attempt < 16; ++attempt) {
    const uint64_t seq = next_seq_++;
    const std::string name = segmentName(seq);
    const int fd = ::openat(dir_fd_, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      write_fd_ = fd;
      writeback_from_ = 0;
      Segment s;
      s.seq = seq;
      segments_.push_back(std::move(s));
      updateGauges();
      return true;
    }
    if (errno != EEXIST) {
      if (!write_failing_) {
        LOG_WARN(kComponent, "cannot create {}: {}", path(name), std::strerror(errno));
      }
      return false;
    }
  }
  return false;
}

void Spool::Impl::finishWriteSegment() {
  if (write_fd_ < 0) {
    return;
  }
  if (::fsync(write_fd_) != 0) {
    LOG_WARN(kComponent, "fsync of {} failed: {}", path(segmentName(segments_.back().seq)),
             std::strerror(errno));
  }
  closeFd(write_fd_);
}

Spool::AppendResult Spool::Impl::append(const SpooledPayload& payload) {
  const uint64_t fixed = 8 + 8 + 4 + 12 + 4 + 4;
  uint64_t estimate = fixed + payload.route.size() + payload.content_type.size() +
                      payload.content_encoding.size() + payload.body.size();
  for (const auto& [k, v] : payload.headers) {
    estimate += 8 + k.size() + v.size();
  }
  if (estimate > kMaxPayloadBytes || kHeaderBytes + estimate > options_.max_bytes / 2) {
    dropped_too_large_.inc();
    LOG_WARN(kComponent, "{}: payload of {} bytes is too large to spool (limit {})", options_.dir,
             estimate, std::min<uint64_t>(kMaxPayloadBytes, options_.max_bytes / 2));
    return AppendResult::kTooLarge;
  }
  if (diskFull()) {
    if (!disk_full_) {
      LOG_WARN(kComponent, "{}: disk fuller than max_disk_ratio {}; refusing to spool",
               options_.dir, options_.max_disk_ratio);
    }
    disk_full_ = true;
    dropped_disk_full_.inc();
    return AppendResult::kDiskFull;
  }
  disk_full_ = false;

  std::string meta = encodeMeta(payload);
  const uint64_t length = meta.size() + payload.body.size();
  assert(length == estimate);
  const uint64_t record_bytes = kHeaderBytes + length;
  makeRoom(record_bytes);
  if (write_fd_ >= 0 && segments_.back().size > 0 &&
      segments_.back().size + record_bytes > segment_limit_) {
    finishWriteSegment();
  }
  if (write_fd_ < 0 && !startSegment()) {
    write_failing_ = true;
    dropped_io_error_.inc();
    return AppendResult::kIoError;
  }
  Segment& seg = segments_.back();

  uint32_t crc = crc32Of(0, meta.data(), meta.size());
  crc = crc32Of(crc, payload.body.data(), payload.body.size());
  char header[kHeaderBytes];
  makeHeader(header, static_cast<uint32_t>(length), crc);
  iovec iov[3] = {{header, kHeaderBytes},
                  {meta.data(), meta.size()},
                  {const_cast<char*>(payload.body.data()), payload.body.size()}};
  if (!pwritevFull(write_fd_, iov, 3, seg.size)) {
    const int err = errno;
    if (!write_failing_) {
      LOG_WARN(kComponent, "write to {} failed: {}", path(segmentName(seg.seq)),
               std::strerror(err));
    }
    write_failing_ = true;
    dropped_io_error_.inc();
    // Cut the partial record so the file stays a clean run of records.
    if (::ftruncate(write_fd_, static_cast<off_t>(seg.size)) != 0) {
      // Leave the file as is (the next open() skips the partial record) and write elsewhere.
      LOG_WARN(kComponent, "cannot truncate {}: {}", path(segmentName(seg.seq)),
               std::strerror(errno));
      closeFd(write_fd_);
      struct stat st {};
      if (::fstatat(dir_fd_, segmentName(seg.seq).c_str(), &st, 0) == 0 &&
          static_cast<uint64_t>(st.st_size) > seg.size) {
        bytes_ += static_cast<uint64_t>(st.st_size) - seg.size;
        seg.size = static_cast<uint64_t>(st.st_size);
        updateGauges();
      }
    }
    return AppendResult::kIoError;
  }
  write_failing_ = false;
  seg.offsets.push_back(seg.size);
  seg.size += record_bytes;
  // Start writeback of what was appended so far without waiting for it, so the fsync when the
  // segment is finished has little left to do and the disk works while we append.
  if (seg.size - writeback_from_ >= kWritebackBytes) {
    ::sync_file_range(write_fd_, static_cast<off_t>(writeback_from_),
                      static_cast<off_t>(seg.size - writeback_from_), SYNC_FILE_RANGE_WRITE);
    writeback_from_ = seg.size;
  }
  bytes_ += record_bytes;
  ++records_;
  appended_.inc();
  updateGauges();
  return AppendResult::kOk;
}

bool Spool::Impl::openReadFd(uint64_t seq) {
  if (read_fd_ >= 0 && read_seq_ == seq) {
    return true;
  }
  closeFd(read_fd_);
  read_fd_ = ::openat(dir_fd_, segmentName(seq).c_str(), O_RDONLY | O_CLOEXEC);
  if (read_fd_ < 0) {
    return false;
  }
  read_seq_ = seq;
  return true;
}

// Reads and checks the record at `offset` of the front segment.
bool Spool::Impl::readRecord(uint64_t offset, SpooledPayload* out, uint64_t* end) {
  const Segment& s = segments_.front();
  char hp[kHeaderBytes];
  Header h;
  if (preadFull(read_fd_, hp, kHeaderBytes, offset) != static_cast<ssize_t>(kHeaderBytes) ||
      !parseHeader(hp, &h) || offset + kHeaderBytes + h.length > s.size) {
    return false;
  }
  // Records up to kKeepReadBuffer reuse one buffer; a rare bigger one gets its own.
  std::string big;
  std::string& buf = h.length <= kKeepReadBuffer ? read_buf_ : big;
  if (buf.size() < h.length) {
    buf.resize(h.length);
  }
  if (preadFull(read_fd_, buf.data(), h.length, offset + kHeaderBytes) !=
          static_cast<ssize_t>(h.length) ||
      crc32Of(0, buf.data(), h.length) != h.crc) {
    return false;
  }
  *end = offset + kHeaderBytes + h.length;
  return decodePayload(std::string_view(buf.data(), h.length), out);
}

std::optional<SpooledPayload> Spool::Impl::front() {
  front_valid_ = false;
  while (!segments_.empty()) {
    Segment& s = segments_.front();
    if (s.unpopped() == 0) {
      removeFrontSegment();
      continue;
    }
    if (!openReadFd(s.seq)) {
      LOG_ERROR(kComponent, "cannot open {}: {}; its {} records are lost", path(segmentName(s.seq)),
                std::strerror(errno), s.unpopped());
      corrupt_.inc(s.unpopped());
      removeFrontSegment();
      continue;
    }
    SpooledPayload p;
    uint64_t end = 0;
    const uint64_t offset = s.offsets[s.next];
    if (readRecord(offset, &p, &end)) {
      front_valid_ = true;
      front_seq_ = s.seq;
      front_end_ = end;
      return p;
    }
    // Intact at open() or append(), unreadable now: the file changed under us.
    LOG_WARN(kComponent, "{}: record at offset {} no longer reads back or decodes; skipped",
             path(segmentName(s.seq)), offset);
    corrupt_.inc();
    ++s.next;
    --records_;
    cursor_ = Cursor{s.seq, s.next < s.offsets.size() ? s.offsets[s.next] : s.size};
    writeCursor(false);
  }
  return std::nullopt;
}

void Spool::Impl::pop() {
  if (!front_valid_) {
    return;
  }
  front_valid_ = false;
  Segment& s = segments_.front();
  assert(s.seq == front_seq_);
  ++s.next;
  --records_;
  popped_.inc();
  cursor_ = Cursor{s.seq, front_end_};
  writeCursor(false);
  if (s.unpopped() == 0) {
    removeFrontSegment();
  }
}

void Spool::Impl::flush() {
  if (write_fd_ >= 0 && ::fsync(write_fd_) != 0) {
    LOG_WARN(kComponent, "fsync of {} failed: {}", path(segmentName(segments_.back().seq)),
             std::strerror(errno));
  }
  if (cursor_dirty_) {
    writeCursor(true);
  }
  if (::fsync(dir_fd_) != 0) {
    LOG_WARN(kComponent, "fsync of {} failed: {}", options_.dir, std::strerror(errno));
  }
}

Spool::Spool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Spool::~Spool() = default;

std::unique_ptr<Spool> Spool::open(Options options, Telemetry& telemetry, std::string* error) {
  auto impl = std::make_unique<Impl>(std::move(options), telemetry);
  std::string ignored;
  if (!impl->openDir(error != nullptr ? error : &ignored)) {
    return nullptr;
  }
  impl->recover();
  return std::unique_ptr<Spool>(new Spool(std::move(impl)));
}

Spool::AppendResult Spool::append(const SpooledPayload& payload) {
  return impl_->append(payload);
}

std::optional<SpooledPayload> Spool::front() {
  return impl_->front();
}

void Spool::pop() {
  impl_->pop();
}

uint64_t Spool::bytes() const {
  return impl_->bytes_;
}

size_t Spool::files() const {
  return impl_->segments_.size();
}

size_t Spool::records() const {
  return impl_->records_;
}

void Spool::flush() {
  impl_->flush();
}

}  // namespace outpost
