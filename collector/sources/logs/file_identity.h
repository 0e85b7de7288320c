#pragma once

#include <cstdint>
#include <string>
#include <string_view>

// Which file an open descriptor or a path is. A tailed file is known by its device and inode
// plus a fingerprint of its first bytes: inode numbers are reused as soon as a file is deleted,
// so device and inode alone would take a new file for the old one (and resume at the old
// offset). The fingerprint is over a prefix whose length is remembered, so a file that grew
// since it was identified still matches.
namespace outpost::logs {

// How many leading bytes the fingerprint covers at most.
inline constexpr uint32_t kFingerprintBytes = 1024;

struct FileIdentity {
  uint64_t device = 0;
  uint64_t inode = 0;
  uint64_t fingerprint = 0;      // fingerprintOf() the first fingerprint_len bytes
  uint32_t fingerprint_len = 0;  // min(size, kFingerprintBytes) when it was taken
  bool operator==(const FileIdentity&) const = default;
};

// The fingerprint hash (64-bit FNV-1a; stored in registry.json, so it never changes).
uint64_t fingerprintOf(std::string_view bytes);

// fstat + pread of the first min(size, kFingerprintBytes) bytes of `fd` (its offset is left
// alone). A file that is not regular gets a fingerprint of 0 bytes. false + *error on failure.
bool identify(int fd, FileIdentity* out, std::string* error);
// The same for a path (opened O_RDONLY, following symlinks).
bool identify(const std::string& path, FileIdentity* out, std::string* error);

// Is the open file `fd` the file `known` describes? Device and inode are equal and the first
// known.fingerprint_len bytes hash to known.fingerprint: a file that grew still matches, a
// reused inode with other content does not, nor does a file now shorter than the prefix (it
// was truncated and rewritten). fingerprint_len 0: device and inode only. Errors: false.
bool sameFile(int fd, const FileIdentity& known);
// The same for a path (opened O_RDONLY|O_CLOEXEC, following symlinks). Missing: false.
bool sameFile(const std::string& path, const FileIdentity& known);
// Does `fd` start with the bytes `known` fingerprinted, whatever its inode (a copy made by
// copytruncate)? False when `known` fingerprinted nothing.
bool samePrefix(int fd, const FileIdentity& known);
// Do two open files hold the same first bytes, over the length both have (up to `max_bytes`)?
// A copy of a file that was not truncated yet does (copytruncate between its two steps); a copy
// of what a file held before it was truncated and written again does not. False when either is
// empty or cannot be read.
bool sameLeadingBytes(int a, int b, size_t max_bytes);

// "0123456789abcdef": the fingerprint as 16 lower-case hex digits, and back (false unless
// exactly 16 hex digits, either case).
std::string fingerprintHex(uint64_t fingerprint);
bool parseFingerprintHex(std::string_view hex, uint64_t* out);

}  // namespace outpost::logs
