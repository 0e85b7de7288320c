#include "collector/sources/logs/file_identity.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace outpost::logs {
namespace {

// Reads up to `len` bytes at offset 0 into `buf`; the count read (short at EOF), -1 on error.
ssize_t readPrefix(int fd, char* buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    const ssize_t n = ::pread(fd, buf + got, len - got, static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return -1;
    }
    if (n == 0) {
      break;
    }
    got += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(got);
}

int openForIdentity(const std::string& path) {
  // O_NONBLOCK: opening a fifo must not hang the caller.
  return ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
}

}  // namespace

uint64_t fingerprintOf(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

bool identify(int fd, FileIdentity* out, std::string* error) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    *error = fmt::format("fstat: {}", std::strerror(errno));
    return false;
  }
  FileIdentity id;
  id.device = static_cast<uint64_t>(st.st_dev);
  id.inode = static_cast<uint64_t>(st.st_ino);
  if (S_ISREG(st.st_mode) && st.st_size > 0) {
    char buf[kFingerprintBytes];
    const size_t want =
        st.st_size < static_cast<off_t>(kFingerprintBytes) ? st.st_size : kFingerprintBytes;
    const ssize_t got = readPrefix(fd, buf, want);
    if (got < 0) {
      *error = fmt::format("read: {}", std::strerror(errno));
      return false;
    }
    id.fingerprint_len = static_cast<uint32_t>(got);
    id.fingerprint = fingerprintOf(std::string_view(buf, static_cast<size_t>(got)));
  } else {
    id.fingerprint = fingerprintOf({});
  }
  *out = id;
  return true;
}

bool identify(const std::string& path, FileIdentity* out, std::string* error) {
  const int fd = openForIdentity(path);
  if (fd < 0) {
    *error = fmt::format("open {}: {}", path, std::strerror(errno));
    return false;
  }
  const bool ok = identify(fd, out, error);
  ::close(fd);
  return ok;
}

bool sameFile(int fd, const FileIdentity& known) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return false;
  }
  if (static_cast<uint64_t>(st.st_dev) != known.device ||
      static_cast<uint64_t>(st.st_ino) != known.inode) {
    return false;
  }
  if (known.fingerprint_len == 0) {
    return true;
  }
  if (known.fingerprint_len > kFingerprintBytes) {
    return false;  // not a fingerprint we took
  }
  char buf[kFingerprintBytes];
  const ssize_t got = readPrefix(fd, buf, known.fingerprint_len);
  if (got != static_cast<ssize_t>(known.fingerprint_len)) {
    return false;
  }
  return fingerprintOf(std::string_view(buf, known.fingerprint_len)) == known.fingerprint;
}

bool samePrefix(int fd, const FileIdentity& known) {
  if (known.fingerprint_len == 0 || known.fingerprint_len > kFingerprintBytes) {
    return false;
  }
  char buf[kFingerprintBytes];
  const ssize_t got = readPrefix(fd, buf, known.fingerprint_len);
  if (got != static_cast<ssize_t>(known.fingerprint_len)) {
    return false;
  }
  return fingerprintOf(std::string_view(buf, known.fingerprint_len)) == known.fingerprint;
}

bool sameLeadingBytes(int a, int b, size_t max_bytes) {
  struct stat sa {};
  struct stat sb {};
  if (::fstat(a, &sa) != 0 || ::fstat(b, &sb) != 0 || sa.st_size <= 0 || sb.st_size <= 0) {
    return false;
  }
  const uint64_t common = std::min<uint64_t>(
      {static_cast<uint64_t>(sa.st_size), static_cast<uint64_t>(sb.st_size), max_bytes});
  constexpr size_t kChunk = 16 * 1024;
  char ba[kChunk];
  char bb[kChunk];
  for (uint64_t off = 0; off < common;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, common - off));
    const ssize_t na = ::pread(a, ba, want, static_cast<off_t>(off));
    const ssize_t nb = ::pread(b, bb, want, static_cast<off_t>(off));
    if (na <= 0 || nb <= 0) {
      return false;  // an error, or shorter than it was a moment ago
    }
    const size_t n = static_cast<size_t>(std::min(na, nb));
    if (std::memcmp(ba, bb, n) != 0) {
      return false;
    }
    off += n;
  }
  return true;
}

bool sameFile(const std::string& path, const FileIdentity& known) {
  const int fd = openForIdentity(path);
  if (fd < 0) {
    return false;
  }
  const bool same = sameFile(fd, known);
  ::close(fd);
  return same;
}

std::string fingerprintHex(uint64_t fingerprint) {
  return fmt::format("{:016x}", fingerprint);
}

bool parseFingerprintHex(std::string_view hex, uint64_t* out) {
  if (hex.size() != 16) {
    return false;
  }
  uint64_t v = 0;
  for (const char c : hex) {
    int d;
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
  *out = v;
  return true;
}

}  // namespace outpost::logs
