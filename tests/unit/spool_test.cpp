#include "forwarder/spool/spool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "tests/support/test_support.h"

namespace outpost {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using Result = Spool::AppendResult;

constexpr const char* kName = "test";

// Deterministic pseudo-random bytes (splitmix64), so any record can be rebuilt for comparison.
std::string bytesFor(uint64_t seed, size_t n) {
  std::string out(n, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    if (i % 8 == 0) {
      x += 0x9E3779B97F4A7C15ull;
      uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      x = z ^ (z >> 31);
    }
    out[i] = static_cast<char>(x >> (8 * (i % 8)));
  }
  return out;
}

SpooledPayload makePayload(uint64_t i, size_t body_size) {
  SpooledPayload p;
  p.route = i % 2 == 0 ? "/api/v2/series" : "/api/v2/logs";
  p.content_type = "application/x-protobuf";
  p.content_encoding = i % 3 == 0 ? "" : "zstd";
  if (i % 4 != 0) {
    p.headers = {{"DD-EVP-ORIGIN", "outpost"}, {"X-Spool-Seq", std::to_string(i)}};
  }
  p.body = bytesFor(i, body_size);
  p.created_unix_ms = 1700000000000 + static_cast<int64_t>(i);
  p.attempts = static_cast<uint32_t>(i % 7);
  p.id = i;
  return p;
}

::testing::AssertionResult same(const SpooledPayload& a, const SpooledPayload& b) {
  if (a.id != b.id) {
    return ::testing::AssertionFailure() << "id " << a.id << " != " << b.id;
  }
  if (a.route != b.route || a.content_type != b.content_type ||
      a.content_encoding != b.content_encoding || a.headers != b.headers ||
      a.created_unix_ms != b.created_unix_ms || a.attempts != b.attempts) {
    return ::testing::AssertionFailure() << "metadata of record " << a.id << " differs";
  }
  if (a.body != b.body) {
    return ::testing::AssertionFailure() << "body of record " << a.id << " differs ("
                                         << a.body.size() << " vs " << b.body.size() << " bytes)";
  }
  return ::testing::AssertionSuccess();
}

Spool::Options optionsFor(const std::string& dir, uint64_t segment_bytes = 1 << 20) {
  Spool::Options o;
  o.dir = dir;
  o.max_bytes = 64ull << 20;
  o.max_disk_ratio = 1.0;  // never "full" unless a test asks
  o.segment_bytes = segment_bytes;
  o.name = kName;
  return o;
}

std::unique_ptr<Spool> openOk(const Spool::Options& o, Telemetry& t) {
  std::string error;
  auto spool = Spool::open(o, t, &error);
  EXPECT_TRUE(spool) << error;
  return spool;
}

int64_t recordsCounter(const Telemetry& t, const std::string& outcome) {
  return t.valueOf("outpost.spool.records",
                   {std::string("endpoint:") + kName, "outcome:" + outcome});
}
int64_t droppedCounter(const Telemetry& t, const std::string& reason) {
  return t.valueOf("outpost.spool.dropped", {std::string("endpoint:") + kName, "reason:" + reason});
}

std::vector<std::string> segmentFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".seg") {
      out.push_back(e.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t segmentBytesOnDisk(const std::string& dir) {
  uint64_t n = 0;
  for (const auto& f : segmentFiles(dir)) {
    n += fs::file_size(f);
  }
  return n;
}

void flipByte(const std::string& path, uint64_t offset) {
  const int fd = ::open(path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << path;
  char c = 0;
  ASSERT_EQ(::pread(fd, &c, 1, static_cast<off_t>(offset)), 1);
  c = static_cast<char>(c ^ 0x5A);
  ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(offset)), 1);
  ::close(fd);
}

// Drains the spool; fails if more than `limit` records come out (no infinite loop).
std::vector<SpooledPayload> drain(Spool& spool, size_t limit = 100000) {
  std::vector<SpooledPayload> out;
  while (auto p = spool.front()) {
    out.push_back(std::move(*p));
    spool.pop();
    if (out.size() > limit) {
      ADD_FAILURE() << "more than " << limit << " records drained";
      break;
    }
  }
  return out;
}

size_t sizeFor(uint64_t i) {
  return 100 + (i * 977) % 5000;
}

TEST(SpoolTest, AppendFrontPopKeepOrderAcrossSegments) {
  TempDir dir;
  Telemetry t;
  const auto o = optionsFor(dir.file("spool"), 16 << 10);
  auto spool = openOk(o, t);
  ASSERT_TRUE(spool);
  EXPECT_FALSE(spool->front());
  EXPECT_EQ(spool->records(), 0u);
  for (uint64_t i = 0; i < 60; ++i) {
    ASSERT_EQ(spool->append(makePayload(i, sizeFor(i))), Result::kOk) << i;
  }
  EXPECT_EQ(spool->records(), 60u);
  EXPECT_GE(spool->files(), 4u);
  EXPECT_EQ(spool->files(), segmentFiles(o.dir).size());
  EXPECT_EQ(spool->bytes(), segmentBytesOnDisk(o.dir));
  EXPECT_EQ(t.valueOf("outpost.spool.bytes", {"endpoint:test"}),
            static_cast<int64_t>(spool->bytes()));
  EXPECT_EQ(t.valueOf("outpost.spool.files", {"endpoint:test"}),
            static_cast<int64_t>(spool->files()));
  for (uint64_t i = 0; i < 60; ++i) {
    auto p = spool->front();
    ASSERT_TRUE(p) << i;
    EXPECT_TRUE(same(*p, makePayload(i, sizeFor(i))));
    auto again = spool->front();  // front() without pop() returns the same record
    ASSERT_TRUE(again);
    EXPECT_EQ(again->id, i);
    spool->pop();
    EXPECT_EQ(spool->records(), 59 - i);
  }
  EXPECT_FALSE(spool->front());
  EXPECT_EQ(spool->files(), 0u);
  EXPECT_EQ(spool->bytes(), 0u);
  EXPECT_TRUE(segmentFiles(o.dir).empty()) << "consumed segments are deleted";
  EXPECT_EQ(recordsCounter(t, "appended"), 60);
  EXPECT_EQ(recordsCounter(t, "popped"), 60);
  EXPECT_EQ(recordsCounter(t, "corrupt"), 0);
  EXPECT_EQ(recordsCounter(t, "torn"), 0);
  EXPECT_EQ(t.valueOf("outpost.spool.bytes", {"endpoint:test"}), 0);
}

TEST(SpoolTest, PopWithoutFrontDoesNothing) {
  TempDir dir;
  Telemetry t;
  auto spool = openOk(optionsFor(dir.file("spool")), t);
  ASSERT_TRUE(spool);
  spool->pop();  // empty: nothing to do
  ASSERT_EQ(spool->append(makePayload(1, 10)), Result::kOk);
  ASSERT_EQ(spool->append(makePayload(2, 10)), Result::kOk);
  spool->pop();  // no front() yet
  EXPECT_EQ(spool->records(), 2u);
  ASSERT_TRUE(spool->front());
  spool->pop();
  spool->pop();  // second pop for one front(): nothing
  EXPECT_EQ(spool->records(), 1u);
  auto p = spool->front();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->id, 2u);
}

TEST(SpoolTest, ReopenRecoversEverythingInOrderWithIdenticalBytes) {
  TempDir dir;
  const auto o = optionsFor(dir.file("spool"), 32 << 10);
  std::vector<SpooledPayload> sent;
  for (uint64_t i = 0; i < 40; ++i) {
    sent.push_back(makePayload(i, sizeFor(i)));
  }
  sent[5].body.clear();        // empty body
  sent[6] = SpooledPayload{};  // every field empty or zero
  sent[6].id = 6;
  sent[7].body = std::string("\0\0\xF0SPL\0\xff", 8);  // NULs and the record magic itself
  sent[8].created_unix_ms = -1;
  sent[8].attempts = UINT32_MAX;
  sent[8].id = 8;
  {
    Telemetry t;
    auto spool = openOk(o, t);
    ASSERT_TRUE(spool);
    for (const auto& p : sent) {
      ASSERT_EQ(spool->append(p), Result::kOk);
    }
  }
  Telemetry t;
  auto spool = openOk(o, t);
  ASSERT_TRUE(spool);
  EXPECT_EQ(spool->records(), 40u);
  EXPECT_GT(spool->files(), 1u);
  const auto got = drain(*spool);
  ASSERT_EQ(got.size(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_TRUE(same(got[i], sent[i]));
  }
  EXPECT_EQ(recordsCounter(t, "corrupt"), 0);
  EXPECT_EQ(recordsCounter(t, "torn"), 0);
}

TEST(SpoolTest, PoppedRecordsAreNotResentAfterARestart) {
  TempDir dir;
  const auto o = optionsFor(dir.file("spool"), 16 << 10);
  size_t files_before = 0;
  {
    Telemetry t;
    auto spool = openOk(o, t);
    ASSERT_TRUE(spool);
    for (uint64_t i = 0; i < 30; ++i) {
      ASSERT_EQ(spool->append(makePayload(i, sizeFor(i))), Result::kOk);
    }
    files_before = spool->files();
    for (uint64_t i = 0; i < 12; ++i) {
      auto p = spool->front();
      ASSERT_TRUE(p);
      ASSERT_EQ(p->id, i);
      spool->pop();
    }
    EXPECT_LT(spool->files(), files_before) << "a fully popped segment is deleted";
  }
  {
    Telemetry t;
    auto spool = openOk(o, t);
    ASSERT_TRUE(spool);
    EXPECT_EQ(spool->records(), 18u);
    for (uint64_t i = 12; i < 20; ++i) {
      auto p = spool->front();
      ASSERT_TRUE(p);
      EXPECT_TRUE(same(*p, makePayload(i, sizeFor(i))));
      spool->pop();
    }
  }
  {
    Telemetry t;
    auto spool = openOk(o, t);
    ASSERT_TRUE(spool);
    EXPECT_EQ(spool->records(), 10u);
    const auto rest = drain(*spool);
    ASSERT_EQ(rest.size(), 10u);
    EXPECT_EQ(rest.front().id, 20u);
    EXPECT_EQ(rest.back().id, 29u);
  }
  {
    // Drained: nothing comes back, nothing is left on disk; new appends go on after.
    Telemetry t;
    auto spool = openOk(o, t);
    ASSERT_TRUE(spool);
    EXPECT_EQ(spool->records(), 0u);
    EXPECT_EQ(spool->files(), 0u);
    EXPECT_TRUE(segmentFiles(o.dir).empty());
    for (uint64_t i = 100; i < 105; ++i) {
      ASSERT_EQ(spool->append(makePayload(i, 3000)), Result::kOk);
    }
  }
  Telemetry t;
  auto spool = openOk(o, t);
  ASSERT_TRUE(spool);
  const auto got = drain(*spool);
  ASSERT_EQ(got.size(), 5u);
  for (uint64_t i = 0; i < 5; ++i) {
    EXPECT_TRUE(same(got[i], makePayload(100 + i, 3000)));
  }
}

// Appends `n` records to a fresh single-segment spool; returns each record's offset in the file.
std::vector<uint64_t> writeOneSegment(const Spool::Options& o, uint64_t n, size_t body) {
  Telemetry t;
  auto spool = openOk(o, t);
  std::vector<uint64_t> offsets;
  if (!spool) {
    return offsets;
  }
  for (uint64_t i = 0; i < n; ++i) {
    offsets.push_back(spool->bytes());
    EXPECT_EQ(spool->append(makePayload(i, body)), Result::kOk);
  }
  offsets.push_back(spool->bytes());  // end of the last record
  EXPECT_EQ(spool->files(), 1u);
  return offsets;
}

TEST(SpoolTest, TornTailIsCutAndCountedEarlierRecordsIntact) {
  // Keep this many bytes of the last record: a partial header, exactly the header, part of the
  // payload, all but one byte.
  for (const uint64_t keep : {1ull, 5ull, 20ull, 400ull, 0ull /* all but one byte */}) {
    SCOPED_TRACE("keep " + std::to_string(keep));
    TempDir dir;
    const auto o = optionsFor(dir.file("spool"));
    const auto offsets = writeOneSegment(o, 10, 1000);
    ASSERT_EQ(offsets.size(), 11u);
    const auto files = segmentFiles(o.dir);
    ASSERT_EQ(files.size(), 1u);
    const uint64_t cut = keep == 0 ? offsets[10] - 1 : offsets[9] + keep;
    ASSERT_EQ(::truncate(files[0].c_str(), static_cast<off_t>(cut)), 0);
    {
      Telemetry t;
      auto spool = openOk(o, t);
      ASSERT_TRUE(spool);
      EXPECT_EQ(spool->records(), 9u);
      EXPECT_EQ(recordsCounter(t, "torn"), 1);
      EXPECT_EQ(recordsCounter(t, "corrupt"), 0);
      EXPECT_EQ(fs::file_size(files[0]), offsets[9]) << "the partial record is cut away";
      ASSERT_EQ(spool->append(makePayload(10, 1000)), Result::kOk);
    }
    Telemetry t;
    auto spool = openOk(o, t);
    ASSERT_TRUE(spool);
    const auto got = drain(*spool);
    ASSERT_EQ(got.size(), 10u);
    for (uint64_t i = 0; i < 10; ++i) {
      const uint64_t id = i < 9 ? i : 10;
      EXPECT_TRUE(same(got[i], makePayload(id, 1000)));
    }
    EXPECT_EQ(recordsCounter(t, "torn"), 0) << "the cut file reads clean afterwards";
  }
}

TEST(SpoolTest, DamagedRecordsAreSkippedAndCountedTheRestDelivered) {
  TempDir dir;
  const auto o = optionsFor(dir.file("spool"));
  const auto offsets = writeOneSegment(o, 12, 1000);
  ASSERT_EQ(offsets.size(), 13u);
  const std::string file = segmentFiles(o.dir).at(0);
  flipByte(file, offsets[2] + 1);                 // record 2: magic
  flipByte(file, offsets[4] + 9);                 // record 4: length field
  flipByte(file, (offsets[6] + offsets[7]) / 2);  // record 6: payload (CRC mismatch)
  flipByte(file, offsets[7] - 1);                 // record 6 again: its last byte
  flipByte(file, offsets[11] + 300);              // record 11, the last: payload
  Telemetry t;
  auto spool = openOk(o, t);
  ASSERT_TRUE(spool);
  EXPECT_EQ(recordsCounter(t, "corrupt"), 4);
  EXPECT_EQ(recordsCounter(t, "torn"), 0);
  const std::vector<uint64_t> expected{0, 1, 3, 5, 7, 8, 9, 10};
  EXPECT_EQ(spool->records(), expected.size());
  const auto got = drain(*spool);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_TRUE(same(got[i], makePayload(expected[i], 1000)));
  }
}

TEST(SpoolTest, DamageInAnOlderSegmentSkipsOnlyTheDamagedRecord) {
  TempDir dir;
  const auto o = optionsFor(dir.file("spool"), 8 << 10);
  {
    Telemetry t;
    auto spool = openOk(o, t);
    ASSERT_TRUE(spool);
    for (uint64_t i = 0; i < 20; ++i) {
      ASSERT_EQ(spool->append(makePayload(i, 2000)), Result::kOk);
    }
  }
  const auto files = segmentFiles(o.dir);
  ASSERT_GE(files.size(), 3u);
  flipByte(files[1], 1);  // the first record of the second segment: its magic
  Telemetry t;
  auto spool = openOk(o, t);
  ASSERT_TRUE(spool);
  EXPECT_EQ(recordsCounter(t, "corrupt"), 1);
  EXPECT_EQ(spool->records(), 19u);
  const auto got = drain(*spool);
  ASSERT_EQ(got.size(), 19u);
  uint64_t prev = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(same(got[i], makePayload(got[i].id, 2000)));
    if (i > 0) {
      EXPECT_GT(got[i].id, prev);
    }
    prev = got[i].id;
  }
}

// An independent CRC-32 (IEEE, as zlib computes it), to build records by hand from the format
// documented in spool.h.
uint32_t crc32(const std::string& s) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : s) {
    c ^= b;
    for (int k = 0; k < 8; ++k) {
      c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
  }
  return ~c;
}

std::string le32(uint32_t v) {
  std::string s(4, '\0');
  for (int i = 0; i < 4; ++i) {
    s[i] = static_cast<char>(v >> (8 * i));
  }
  return s;
}

std::string handMadeHeader(uint32_t length, uint32_t payload_crc) {
  std::string h = std::string("\xF0SPL\x01\x00\x00\x00", 8) + le32(length) + le32(payload_crc);
  return h + le32(crc32(h));
}

std::string handMadeRecord(const std::string& payload) {
  return handMadeHeader(static_cast<uint32_t>(payload.size()), crc32(payload)) + payload;
}

TEST(SpoolTest, HugeLengthsOnDiskAreBoundedNotAllocated) {
  TempDir dir;
  const auto o = optionsFor(dir.file("spool"));
  const auto offsets = writeOneSegment(o, 3, 500);
  const std::string good = testing::readFile(segmentFiles(o.dir).at(0));
  ASSERT_EQ(good.size(), offsets[3]);
  const std::string record0 = good.substr(0, offsets[1]);
  // Our encoder's output, as a check that the hand-made format matches the documented one.
  EXPECT_EQ(handMadeRecord(record0.substr(20)), record0);

  // A header with a valid CRC but a 4 GiB length, then a good record; then a record whose CRC is
  // right but whose route claims 4 GiB.
  std::string bad_inner(8 + 8 + 4, '\0');
  bad_inner += le32(0xFFFFFFFFu);
  bad_inner += "tiny";
  const std::string second = handMadeHeader(0xFFFFFFF0u, 0) + record0 + handMadeRecord(bad_inner);
  dir.write("spool/0000000000000005.seg", second);
  Telemetry t;
  auto spool = openOk(o, t);
  ASSERT_TRUE(spool);
  EXPECT_EQ(recordsCounter(t, "corrupt"), 1);  // the huge header (the inner one checks later)
  const auto got = drain(*spool);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_TRUE(same(got[0], makePayload(0, 500)));
  EXPECT_TRUE(same(got[1], makePayload(1, 500)));
  EXPECT_TRUE(same(got[2], makePayload(2, 500)));
  EXPECT_TRUE(same(got[3], makePayload(0, 500)));
  EXPECT_EQ(recordsCounter(t, "corrupt"), 2) << "the record that does not decode is counted";
  EXPECT_EQ(spool->records(), 0u);
}

TEST(SpoolTest, GarbageFilesDoNotCrashTheSpool) {
  TempDir dir;
  const auto o = optionsFor(dir.file("spool"));
  std::mt19937_64 rng(42);
  auto randomBytes = [&rng](size_t n) {
    std::string s(n, '\0');
    for (auto& c : s) {
      c = static_cast<char>(rng());
    }
    return s;
  };
  std::string magic_spam;
  for (int i = 0; i < 20000; ++i) {
    magic_spam += std::string("\xF0SPL", 4);
  }
  dir.write("spool/0000000000000001.seg", randomBytes(64 << 10));
  dir.write("spool/0000000000000002.seg", magic_spam);
  dir.write("spool/0000000000000003.seg", "");
  dir.write("spool/0000000000000004.seg", randomBytes(7));
  dir.write("spool/0000000000000005.seg", magic_spam.substr(0, 18));
  dir.write("spool/zzzzzzzzzzzzzzzz.seg", randomBytes(100));
  dir.write("spool/notes.txt", "not ours");
  dir.write("spool/cursor", randomBytes(28));
  fs::create_directories(dir.file("spool/0000000000000009.seg"));  // a directory
  {
    Telemetry t;
    auto spool = openOk(o, t);
    ASSERT_TRUE(spool);
    EXPECT_EQ(spool->records(), 0u);
    EXPECT_FALSE(spool->front());
    EXPECT_GE(recordsCounter(t, "corrupt"), 2);
    EXPECT_EQ(t.valueOf("outpost.spool.cursor_corrupt", {"endpoint:test"}), 1);
    EXPECT_EQ(spool->files(), 0u);
    EXPECT_FALSE(fs::exists(dir.file("spool/0000000000000001.seg"))) << "nothing to keep";
    EXPECT_TRUE(fs::exists(dir.file("spool/notes.txt"))) << "files not ours are left alone";
    ASSERT_EQ(spool->append(makePayload(1, 100)), Result::kOk);
  }
  Telemetry t;
  auto spool = openOk(o, t);
  ASSERT_TRUE(spool);
  const auto got = drain(*spool);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(same(got[0], makePayload(1, 100)));
}

TEST(SpoolTest, MutatedSegmentsNeverCrashAndOnlyYieldIntactRecords) {
  TempDir base;
  const auto o = optionsFor(base.file("spool"), 8 << 10);
  {
    Telemetry t;
    auto spool = openOk(o, t);
    ASSERT_TRUE(spool);
    for (uint64_t i = 0; i < 15; ++i) {
      ASSERT_EQ(spool->append(makePayload(i, sizeFor(i) / 2)), Result::kOk);
    }
  }
  std::vector<std::pair<std::string, std::string>> originals;
  for (const auto& f : segmentFiles(o.dir)) {
    originals.emplace_back(fs::path(f).filename().string(), testing::readFile(f));
  }
  ASSERT_GE(originals.size(), 2u);
  std::mt19937_64 rng(7);
  for (int iter = 0; iter < 150; ++iter) {
    SCOPED_TRACE("iteration " + std::to_string(iter));
    TempDir dir;
    for (auto [name, data] : originals) {
      const int kind = static_cast<int>(rng() % 5);
      if (kind == 1 && !data.empty()) {  // flip some bytes
        for (int k = 0, n = 1 + static_cast<int>(rng() % 8); k < n; ++k) {
          data[rng() % data.size()] ^= static_cast<char>(1 + rng() % 255);
        }
      } else if (kind == 2) {  // truncate anywhere
        data.resize(rng() % (data.size() + 1));
      } else if (kind == 3) {  // insert garbage anywhere
        std::string junk(rng() % 300, '\0');
        for (auto& c : junk) {
          c = static_cast<char>(rng());
        }
        data.insert(rng() % (data.size() + 1), junk);
      } else if (kind == 4 && !data.empty()) {  // zero a range, as a lost block reads back
        const size_t at = rng() % data.size();
        const size_t n = std::min<size_t>(data.size() - at, rng() % 4096);
        std::fill_n(data.begin() + static_cast<std::ptrdiff_t>(at), n, '\0');
      }
      dir.write("spool/" + name, data);
    }
    Telemetry t;
    auto spool = openOk(optionsFor(dir.file("spool"), 8 << 10), t);
    ASSERT_TRUE(spool);
    const size_t expected = spool->records();
    const auto got = drain(*spool, 15);
    EXPECT_LE(got.size(), expected);
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_LT(got[i].id, 15u);
      EXPECT_TRUE(same(got[i], makePayload(got[i].id, sizeFor(got[i].id) / 2)));
      if (i > 0) {
        EXPECT_GT(got[i].id, got[i - 1].id);
      }
    }
  }
}

TEST(SpoolTest, CorruptCursorIsIgnoredAndCounted) {
  TempDir dir;
  const auto o = optionsFor(dir.file("spool"));
  {
    Telemetry t;
    auto spool = openOk(o, t);
    ASSERT_TRUE(spool);
    for (uint64_t i = 0; i < 10; ++i) {
      ASSERT_EQ(spool->append(makePayload(i, 500)), Result::kOk);
    }
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(spool->front());
      spool->pop();
    }
  }
  for (const std::string damage : {"flip", "empty", "short"}) {
    SCOPED_TRACE(damage);
    const std::string cursor = dir.file("spool/cursor");
    if (damage == "flip") {
      flipByte(cursor, 10);
    } else if (damage == "empty") {
      dir.write("spool/cursor", "");
    } else {
      dir.write("spool/cursor", "\xF0SPC");
    }
    Telemetry t;
    auto spool = openOk(o, t);
    ASSERT_TRUE(spool);
    EXPECT_EQ(t.valueOf("outpost.spool.cursor_corrupt", {"endpoint:test"}), 1);
    EXPECT_EQ(spool->records(), 10u) << "read again from the oldest record";
    auto p = spool->front();
    ASSERT_TRUE(p);
    EXPECT_EQ(p->id, 0u);
  }
  {
    Telemetry t;
    auto spool = openOk(o, t);  // the cursor was rewritten clean
    ASSERT_TRUE(spool);
    EXPECT_EQ(t.valueOf("outpost.spool.cursor_corrupt", {"endpoint:test"}), 0);
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(spool->front());
      spool->pop();
    }
  }
  Telemetry t;
  auto spool = openOk(o, t);
  ASSERT_TRUE(spool);
  EXPECT_EQ(spool->records(), 7u);
  auto p = spool->front();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->id, 3u);
}

TEST(SpoolTest, OverMaxBytesTheOldestAreDroppedAndCounted) {
  TempDir dir;
  auto o = optionsFor(dir.file("spool"), 1 << 20);
  o.max_bytes = 64 << 10;  // segments are lowered to 16 KiB
  Telemetry t;
  auto spool = openOk(o, t);
  ASSERT_TRUE(spool);
  for (uint64_t i = 0; i < 200; ++i) {
    ASSERT_EQ(spool->append(makePayload(i, 2000)), Result::kOk);
    ASSERT_LE(spool->bytes(), o.max_bytes);
    ASSERT_LE(segmentBytesOnDisk(o.dir), o.max_bytes);
  }
  EXPECT_GE(spool->files(), 3u);
  const size_t kept = spool->records();
  EXPECT_GT(kept, 15u);
  EXPECT_EQ(droppedCounter(t, "full"), static_cast<int64_t>(200 - kept));
  const auto got = drain(*spool);
  ASSERT_EQ(got.size(), kept);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_TRUE(same(got[i], makePayload(200 - kept + i, 2000))) << "the newest are kept, in order";
  }
}

TEST(SpoolTest, DroppingTheSegmentFrontReadFromMakesPopANoOp) {
  TempDir dir;
  auto o = optionsFor(dir.file("spool"));
  o.max_bytes = 64 << 10;
  Telemetry t;
  auto spool = openOk(o, t);
  ASSERT_TRUE(spool);
  ASSERT_EQ(spool->append(makePayload(0, 5000)), Result::kOk);
  auto p = spool->front();
  ASSERT_TRUE(p);
  uint64_t i = 1;
  while (droppedCounter(t, "full") <= 0 && i < 100) {
    ASSERT_EQ(spool->append(makePayload(i++, 5000)), Result::kOk);
  }
  ASSERT_GT(droppedCounter(t, "full"), 0);
  const size_t before = spool->records();
  spool->pop();  // record 0 is gone already; nothing else may be removed
  EXPECT_EQ(spool->records(), before);
  auto next = spool->front();
  ASSERT_TRUE(next);
  EXPECT_GT(next->id, 0u);
  EXPECT_EQ(recordsCounter(t, "popped"), 0);
}

TEST(SpoolTest, APayloadOverHalfTheSpoolIsRefusedAndCounted) {
  TempDir dir;
  auto o = optionsFor(dir.file("spool"));
  o.max_bytes = 64 << 10;
  Telemetry t;
  auto spool = openOk(o, t);
  ASSERT_TRUE(spool);
  EXPECT_EQ(spool->append(makePayload(1, 33 << 10)), Result::kTooLarge);
  EXPECT_EQ(droppedCounter(t, "too_large"), 1);
  EXPECT_EQ(spool->records(), 0u);
  EXPECT_TRUE(segmentFiles(o.dir).empty());
  EXPECT_EQ(spool->append(makePayload(2, 20 << 10)), Result::kOk);
  EXPECT_EQ(spool->records(), 1u);
}

TEST(SpoolTest, AFullDiskRefusesAppendsAndCounts) {
  TempDir dir;
  auto o = optionsFor(dir.file("spool"));
  o.max_disk_ratio = 0.0;  // any used space counts as full
  Telemetry t;
  auto spool = openOk(o, t);
  ASSERT_TRUE(spool);
  EXPECT_EQ(spool->append(makePayload(1, 100)), Result::kDiskFull);
  EXPECT_EQ(spool->append(makePayload(2, 100)), Result::kDiskFull);
  EXPECT_EQ(droppedCounter(t, "disk_full"), 2);
  EXPECT_EQ(spool->records(), 0u);
  EXPECT_EQ(spool->files(), 0u);
  EXPECT_TRUE(segmentFiles(o.dir).empty());
  EXPECT_EQ(recordsCounter(t, "appended"), 0);
}

TEST(SpoolTest, AnUnusableDirectoryFailsWithAnErrorNamingIt) {
  TempDir dir;
  dir.write("plain-file", "x");
  Telemetry t;
  std::string error;
  auto o = optionsFor(dir.file("plain-file/spool"));
  EXPECT_FALSE(Spool::open(o, t, &error));
  EXPECT_NE(error.find(o.dir), std::string::npos) << error;
  EXPECT_NE(error.find("Not a directory"), std::string::npos) << error;

  o.dir = "";
  EXPECT_FALSE(Spool::open(o, t, &error));
  EXPECT_FALSE(error.empty());
}

TEST(SpoolTest, AnUnwritableDirectoryFailsWithAnErrorNamingIt) {
  // Permissions do not stop root, so the check runs in a child that drops to nobody if needed.
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0755), 0);
  fs::create_directories(dir.file("ro"));
  ASSERT_EQ(::chmod(dir.file("ro").c_str(), 0555), 0);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) {
      ::_exit(3);
    }
    std::string report;
    for (const std::string sub : {"ro", "ro/spool"}) {
      Telemetry t;
      std::string error;
      if (Spool::open(optionsFor(dir.file(sub)), t, &error)) {
        ::_exit(4);
      }
      report += error + "\n";
    }
    const bool ok =
        ::write(fds[1], report.data(), report.size()) == static_cast<ssize_t>(report.size());
    ::_exit(ok ? 0 : 5);
  }
  ::close(fds[1]);
  std::string report;
  char buf[512];
  ssize_t n = 0;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) {
    report.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0) << "4: open() succeeded on an unwritable directory";
  const auto nl = report.find('\n');
  ASSERT_NE(nl, std::string::npos) << report;
  const std::string existing = report.substr(0, nl);
  const std::string missing = report.substr(nl + 1);
  EXPECT_NE(existing.find(dir.file("ro")), std::string::npos) << existing;
  EXPECT_NE(existing.find("Permission denied"), std::string::npos) << existing;
  EXPECT_NE(missing.find(dir.file("ro/spool")), std::string::npos) << missing;
  EXPECT_NE(missing.find("Permission denied"), std::string::npos) << missing;
}

TEST(SpoolTest, OneSpoolPerDirectory) {
  TempDir dir;
  Telemetry t;
  const auto o = optionsFor(dir.file("spool"));
  auto first = openOk(o, t);
  ASSERT_TRUE(first);
  std::string error;
  EXPECT_FALSE(Spool::open(o, t, &error));
  EXPECT_NE(error.find("in use"), std::string::npos) << error;
  EXPECT_NE(error.find(o.dir), std::string::npos) << error;
  first.reset();
  EXPECT_TRUE(openOk(o, t));
}

TEST(SpoolTest, FlushKeepsEverythingReadable) {
  TempDir dir;
  const auto o = optionsFor(dir.file("spool"), 8 << 10);
  {
    Telemetry t;
    auto spool = openOk(o, t);
    ASSERT_TRUE(spool);
    for (uint64_t i = 0; i < 10; ++i) {
      ASSERT_EQ(spool->append(makePayload(i, 1500)), Result::kOk);
      spool->flush();
    }
    ASSERT_TRUE(spool->front());
    spool->pop();
    spool->flush();
    EXPECT_EQ(spool->bytes(), segmentBytesOnDisk(o.dir));
  }
  Telemetry t;
  auto spool = openOk(o, t);
  ASSERT_TRUE(spool);
  EXPECT_EQ(spool->records(), 9u);
  EXPECT_EQ(spool->bytes(), segmentBytesOnDisk(o.dir));
  EXPECT_EQ(t.valueOf("outpost.spool.bytes", {"endpoint:test"}),
            static_cast<int64_t>(spool->bytes()));
  EXPECT_EQ(t.valueOf("outpost.spool.files", {"endpoint:test"}),
            static_cast<int64_t>(spool->files()));
}

TEST(SpoolTest, AFailedWriteLeavesTheFileValid) {
  // RLIMIT_FSIZE makes write(2) fail (EFBIG) part-way through a record, like ENOSPC would; the
  // limit is set in a child so the test process keeps its own.
  TempDir dir;
  const auto o = optionsFor(dir.file("spool"), 1 << 20);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    ::signal(SIGXFSZ, SIG_IGN);
    Telemetry t;
    std::string error;
    auto spool = Spool::open(o, t, &error);  // before the limit: the lock and cursor files
    if (!spool) {
      ::_exit(2);
    }
    const rlimit limit{300 << 10, 300 << 10};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) {
      ::_exit(3);
    }
    uint32_t ok = 0;
    Result r = Result::kOk;
    while ((r = spool->append(makePayload(ok, 50 << 10))) == Result::kOk && ok < 100) {
      ++ok;
    }
    if (r != Result::kIoError || spool->records() != ok ||
        t.valueOf("outpost.spool.dropped", {"endpoint:test", "reason:io_error"}) != 1) {
      ::_exit(4);
    }
    if (spool->bytes() != segmentBytesOnDisk(o.dir)) {
      ::_exit(5);  // the partial record was not cut away
    }
    if (spool->append(makePayload(ok, 1000)) != Result::kOk) {  // still fits under the limit
      ::_exit(6);
    }
    ::_exit(::write(fds[1], &ok, sizeof ok) == static_cast<ssize_t>(sizeof ok) ? 0 : 7);
  }
  ::close(fds[1]);
  uint32_t ok = 0;
  const ssize_t n = ::read(fds[0], &ok, sizeof ok);
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  ASSERT_EQ(n, static_cast<ssize_t>(sizeof ok));
  EXPECT_GE(ok, 4u);

  Telemetry t;
  auto spool = openOk(o, t);
  ASSERT_TRUE(spool);
  EXPECT_EQ(recordsCounter(t, "torn"), 0);
  EXPECT_EQ(recordsCounter(t, "corrupt"), 0);
  const auto got = drain(*spool);
  ASSERT_EQ(got.size(), ok + 1);
  for (uint32_t i = 0; i < ok; ++i) {
    EXPECT_TRUE(same(got[i], makePayload(i, 50 << 10)));
  }
  EXPECT_TRUE(same(got[ok], makePayload(ok, 1000)));
}

size_t killSizeFor(uint64_t i) {
  return 1024 + (i * 7919) % (192 << 10);
}

TEST(SpoolTest, KillDashNineWhileAppendingKeepsEveryConfirmedRecord) {
  constexpr uint32_t kConfirmed = 300;
  constexpr uint32_t kCap = 3000;  // the child stops there if it is not killed first
  TempDir dir;
  const auto o = optionsFor(dir.file("spool"), 1 << 20);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    Telemetry t;
    std::string error;
    auto spool = Spool::open(o, t, &error);
    if (!spool) {
      ::_exit(2);
    }
    for (uint32_t i = 0; i < kCap; ++i) {
      if (spool->append(makePayload(i, killSizeFor(i))) != Result::kOk) {
        ::_exit(3);
      }
      if (::write(fds[1], &i, sizeof i) != static_cast<ssize_t>(sizeof i)) {
        ::_exit(4);
      }
    }
    for (;;) {
      ::pause();
    }
  }
  ::close(fds[1]);
  uint32_t confirmed = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (confirmed < kConfirmed) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd pfd{fds[0], POLLIN, 0};
    if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) {
      break;
    }
    uint32_t i = 0;
    if (::read(fds[0], &i, sizeof i) != static_cast<ssize_t>(sizeof i)) {
      break;  // the child died
    }
    confirmed = i + 1;
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ::close(fds[0]);
  ASSERT_EQ(confirmed, kConfirmed) << "child status " << status;
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);

  Telemetry t;
  auto spool = openOk(o, t);
  ASSERT_TRUE(spool);
  EXPECT_GE(spool->records(), kConfirmed);
  EXPECT_EQ(recordsCounter(t, "corrupt"), 0);
  EXPECT_LE(recordsCounter(t, "torn"), 1);
  const auto got = drain(*spool, kCap);
  ASSERT_GE(got.size(), kConfirmed);
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(same(got[i], makePayload(i, killSizeFor(i))));
  }
}

TEST(SpoolTest, KillDashNineWhilePoppingNeverResendsAConfirmedPop) {
  constexpr uint32_t kRecords = 4000;  // more than the child can pop before the kill lands
  constexpr uint32_t kConfirmed = 150;
  TempDir dir;
  const auto o = optionsFor(dir.file("spool"), 64 << 10);
  {
    Telemetry t;
    auto spool = openOk(o, t);
    ASSERT_TRUE(spool);
    for (uint32_t i = 0; i < kRecords; ++i) {
      ASSERT_EQ(spool->append(makePayload(i, 200)), Result::kOk);
    }
  }
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    Telemetry t;
    std::string error;
    auto spool = Spool::open(o, t, &error);
    if (!spool) {
      ::_exit(2);
    }
    while (auto p = spool->front()) {
      spool->pop();
      const uint32_t id = static_cast<uint32_t>(p->id);
      if (::write(fds[1], &id, sizeof id) != static_cast<ssize_t>(sizeof id)) {
        ::_exit(4);
      }
    }
    for (;;) {
      ::pause();
    }
  }
  ::close(fds[1]);
  uint32_t confirmed = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (confirmed < kConfirmed) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd pfd{fds[0], POLLIN, 0};
    if (left.count() <= 0 || ::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) {
      break;
    }
    uint32_t id = 0;
    if (::read(fds[0], &id, sizeof id) != static_cast<ssize_t>(sizeof id)) {
      break;
    }
    confirmed = id + 1;
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ::close(fds[0]);
  ASSERT_EQ(confirmed, kConfirmed);

  Telemetry t;
  auto spool = openOk(o, t);
  ASSERT_TRUE(spool);
  EXPECT_EQ(t.valueOf("outpost.spool.cursor_corrupt", {"endpoint:test"}), 0)
      << "the cursor is replaced atomically";
  EXPECT_EQ(recordsCounter(t, "corrupt"), 0);
  const auto got = drain(*spool, kRecords);
  ASSERT_FALSE(got.empty());
  EXPECT_GE(got.front().id, kConfirmed) << "a pop confirmed before the kill came back";
  std::printf("killed after %u confirmed pops; %zu records left, from id %llu\n", confirmed,
              got.size(), static_cast<unsigned long long>(got.front().id));
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_TRUE(same(got[i], makePayload(got.front().id + i, 200)));
  }
  EXPECT_EQ(got.back().id, kRecords - 1);
}

TEST(SpoolTest, PopsArePersistedEvenIfTheSpareCursorFileIsRemoved) {
  TempDir dir;
  const auto o = optionsFor(dir.file("spool"));
  {
    Telemetry t;
    auto spool = openOk(o, t);
    ASSERT_TRUE(spool);
    for (uint64_t i = 0; i < 5; ++i) {
      ASSERT_EQ(spool->append(makePayload(i, 100)), Result::kOk);
    }
    ASSERT_TRUE(spool->front());
    spool->pop();
    ASSERT_TRUE(fs::remove(dir.file("spool/cursor.tmp")));
    ASSERT_TRUE(spool->front());
    spool->pop();  // the exchange fails: written with a plain rename instead
    ASSERT_TRUE(spool->front());
    spool->pop();
  }
  Telemetry t;
  auto spool = openOk(o, t);
  ASSERT_TRUE(spool);
  EXPECT_EQ(spool->records(), 2u);
  auto p = spool->front();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->id, 3u);
  EXPECT_EQ(t.valueOf("outpost.spool.cursor_corrupt", {"endpoint:test"}), 0);
}

}  // namespace
}  // namespace outpost
