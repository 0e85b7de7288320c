#include "collector/sources/logs/file_identity.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace outpost::logs {
namespace {

using outpost::testing::TempDir;

FileIdentity idOf(const std::string& path) {
  FileIdentity id;
  std::string error;
  EXPECT_TRUE(identify(path, &id, &error)) << error;
  return id;
}

void append(const std::string& path, const std::string& data) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
  ::close(fd);
}

TEST(FileIdentity, FingerprintsThePrefix) {
  TempDir dir;
  const std::string path = dir.write("a.log", "hello\n");
  const FileIdentity id = idOf(path);
  EXPECT_NE(id.inode, 0u);
  EXPECT_EQ(id.fingerprint_len, 6u);
  EXPECT_EQ(id.fingerprint, fingerprintOf("hello\n"));
  // FNV-1a 64 of "a": the hash is part of the on-disk format and must never change.
  EXPECT_EQ(fingerprintOf("a"), 0xaf63dc4c8601ec8cULL);
  EXPECT_EQ(fingerprintOf(""), 0xcbf29ce484222325ULL);
}

TEST(FileIdentity, CapsAtKFingerprintBytes) {
  TempDir dir;
  const std::string content(5000, 'x');
  const std::string path = dir.write("big.log", content);
  const FileIdentity id = idOf(path);
  EXPECT_EQ(id.fingerprint_len, kFingerprintBytes);
  EXPECT_EQ(id.fingerprint, fingerprintOf(std::string_view(content).substr(0, kFingerprintBytes)));
}

TEST(FileIdentity, SameFileAfterAppend) {
  TempDir dir;
  const std::string path = dir.write("a.log", "first line\n");
  const FileIdentity id = idOf(path);
  append(path, std::string(3000, 'y'));
  EXPECT_TRUE(sameFile(path, id));
  // The new identity covers more bytes but describes the same file.
  const FileIdentity grown = idOf(path);
  EXPECT_EQ(grown.fingerprint_len, kFingerprintBytes);
  EXPECT_TRUE(sameFile(path, grown));
}

TEST(FileIdentity, SameFileAfterRenameAndThroughDescriptor) {
  TempDir dir;
  const std::string path = dir.write("a.log", "content\n");
  const FileIdentity id = idOf(path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(std::rename(path.c_str(), dir.file("a.log.1").c_str()), 0);
  EXPECT_TRUE(sameFile(dir.file("a.log.1"), id));
  EXPECT_FALSE(sameFile(path, id));  // gone
  EXPECT_TRUE(sameFile(fd, id));
  // identify() through the descriptor does not move its offset.
  char c;
  FileIdentity via_fd;
  std::string error;
  ASSERT_TRUE(identify(fd, &via_fd, &error)) << error;
  EXPECT_EQ(via_fd, id);
  ASSERT_EQ(::read(fd, &c, 1), 1);
  EXPECT_EQ(c, 'c');
  // A new file at the old path is another file.
  dir.write("a.log", "content\n");
  EXPECT_FALSE(sameFile(path, id));
  ::close(fd);
}

TEST(FileIdentity, ReusedInodeWithOtherContentDiffers) {
  TempDir dir;
  const std::string path = dir.write("a.log", "new file, same inode\n");
  const FileIdentity now = idOf(path);
  // What the registry recorded for the deleted file whose inode the new one got.
  FileIdentity recorded = now;
  recorded.fingerprint = fingerprintOf("old content of the ol");
  recorded.fingerprint_len = 21;
  EXPECT_FALSE(sameFile(path, recorded));
  // The same recorded prefix length with the right bytes matches.
  recorded.fingerprint = fingerprintOf("new file, same inode\n");
  EXPECT_TRUE(sameFile(path, recorded));
  // Another device or inode never matches.
  FileIdentity other = now;
  other.inode += 1;
  EXPECT_FALSE(sameFile(path, other));
  other = now;
  other.device += 1;
  EXPECT_FALSE(sameFile(path, other));
}

TEST(FileIdentity, DeleteAndRecreateDiffers) {
  TempDir dir;
  const std::string path = dir.write("a.log", "one\n");
  const FileIdentity id = idOf(path);
  ASSERT_EQ(::unlink(path.c_str()), 0);
  dir.write("a.log", "two\n");
  // Whether or not the file system reused the inode, the identity tells them apart.
  EXPECT_FALSE(sameFile(path, id));
}

TEST(FileIdentity, CopyTruncate) {
  TempDir dir;
  const std::string path = dir.write("a.log", "line one\nline two\n");
  const FileIdentity before = idOf(path);
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  const FileIdentity after = idOf(path);
  EXPECT_EQ(after.fingerprint_len, 0u);
  EXPECT_EQ(after.fingerprint, fingerprintOf(""));
  EXPECT_EQ(after.inode, before.inode);
  // Shorter than the recorded prefix: not the file we knew.
  EXPECT_FALSE(sameFile(path, before));
  // An identity of 0 bytes checks device and inode only.
  EXPECT_TRUE(sameFile(path, after));
  append(path, "rewritten\n");
  EXPECT_TRUE(sameFile(path, after));
  EXPECT_FALSE(sameFile(path, before));
}

// copytruncate between its steps: the copy holds the file's own bytes. After the truncation and
// new lines, or when a byte differs past the first chunk, it does not.
TEST(FileIdentity, SameLeadingBytesTellsACopyNotTruncatedYet) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 3000; ++i) {
    text += "line " + std::to_string(i) + " of the log\n";  // about 60 KiB
  }
  const std::string path = dir.write("a.log", text);
  const std::string copy = dir.write("a.log.1", text);
  const int f = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  const int c = ::open(copy.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(f, 0);
  ASSERT_GE(c, 0);
  EXPECT_TRUE(sameLeadingBytes(c, f, 64 * 1024));
  append(path, "written after the copy\n");  // the file grew: still the copy's bytes first
  EXPECT_TRUE(sameLeadingBytes(c, f, 64 * 1024));
  // A difference past the first 16 KiB chunk, inside the compared length, and past it.
  std::string other = text;
  other[40'000] = '#';
  const std::string changed = dir.write("b.log", other);
  const int b = ::open(changed.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(b, 0);
  EXPECT_FALSE(sameLeadingBytes(b, c, 64 * 1024));
  EXPECT_TRUE(sameLeadingBytes(b, c, 40'000));
  // Truncated, then new lines: other first bytes.
  ASSERT_EQ(::truncate(path.c_str(), 0), 0);
  EXPECT_FALSE(sameLeadingBytes(c, f, 64 * 1024));  // empty
  append(path, "a new first line\n");
  EXPECT_FALSE(sameLeadingBytes(c, f, 64 * 1024));
  ::close(b);
  ::close(c);
  ::close(f);
}

TEST(FileIdentity, Errors) {
  TempDir dir;
  FileIdentity id;
  std::string error;
  EXPECT_FALSE(identify(dir.file("missing"), &id, &error));
  EXPECT_NE(error.find("missing"), std::string::npos);
  EXPECT_FALSE(identify(-1, &id, &error));
  EXPECT_FALSE(sameFile(-1, id));
  EXPECT_FALSE(sameFile(dir.file("missing"), id));
  // A directory is identified by device and inode.
  ASSERT_TRUE(identify(dir.path(), &id, &error)) << error;
  EXPECT_EQ(id.fingerprint_len, 0u);
  EXPECT_TRUE(sameFile(dir.path(), id));
}

TEST(FileIdentity, Hex) {
  EXPECT_EQ(fingerprintHex(0x0123456789abcdefULL), "0123456789abcdef");
  EXPECT_EQ(fingerprintHex(0), "0000000000000000");
  uint64_t v = 0;
  EXPECT_TRUE(parseFingerprintHex("0123456789ABCDEF", &v));
  EXPECT_EQ(v, 0x0123456789abcdefULL);
  EXPECT_TRUE(parseFingerprintHex("ffffffffffffffff", &v));
  EXPECT_EQ(v, ~0ULL);
  for (const char* bad : {"", "123", "0123456789abcdef0", "0123456789abcdeg", "-123456789abcdef"}) {
    EXPECT_FALSE(parseFingerprintHex(bad, &v)) << bad;
  }
}

}  // namespace
}  // namespace outpost::logs
