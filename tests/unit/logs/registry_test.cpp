#include "collector/sources/logs/registry.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <filesystem>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace outpost::logs {
namespace {

namespace fs = std::filesystem;
using outpost::testing::readFile;
using outpost::testing::TempDir;

constexpr int64_t kNs = 1'000'000'000;

RegistryEntry fileEntry(uint64_t offset, int64_t updated_ns) {
  RegistryEntry e;
  e.offset = offset;
  e.tailing_mode = "end";
  e.last_updated_ns = updated_ns;
  e.ingestion_ns = updated_ns / 2;
  return e;
}

// The files in `dir` whose name starts with `prefix`.
std::set<std::string> filesStartingWith(const std::string& dir, const std::string& prefix) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0) {
      out.insert(name);
    }
  }
  return out;
}

TEST(Rfc3339, FormatAndParse) {
  EXPECT_EQ(formatRfc3339Micros(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(formatRfc3339Micros(1714564800123456789), "2024-05-01T12:00:00.123456Z");
  EXPECT_EQ(formatRfc3339Micros(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(formatRfc3339Micros(951782400 * kNs), "2000-02-29T00:00:00.000000Z");
  int64_t ns = 0;
  ASSERT_TRUE(parseRfc3339("2024-05-01T12:00:00.123456Z", &ns));
  EXPECT_EQ(ns, 1714564800123456000);
  ASSERT_TRUE(parseRfc3339("2024-05-01T12:00:00Z", &ns));
  EXPECT_EQ(ns, 1714564800 * kNs);
  // Go writes local time with an offset and nanoseconds.
  ASSERT_TRUE(parseRfc3339("2024-05-01T14:00:00.123456789+02:00", &ns));
  EXPECT_EQ(ns, 1714564800123456789);
  ASSERT_TRUE(parseRfc3339("2024-05-01T07:30:00.5-04:30", &ns));
  EXPECT_EQ(ns, 1714564800 * kNs + 500'000'000);
  ASSERT_TRUE(parseRfc3339("2024-05-01T12:00:00.1234567891234Z", &ns));
  EXPECT_EQ(ns, 1714564800123456789);
  for (const char* bad :
       {"", "2024", "2024-05-01", "2024-05-01 12:00:00Z", "2024-05-01T12:00:00",
        "2024-13-01T12:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T12:00:00.Z",
        "2024-05-01T12:00:00Zjunk", "2024-05-01T12:00:00+0200", "9999-12-31T23:59:59Z",
        "0000-01-01T00:00:00Z", "2024-05-01T12:00:00+02:0", "x024-05-01T12:00:00Z"}) {
    EXPECT_FALSE(parseRfc3339(bad, &ns)) << bad;
  }
}

TEST(Registry, MissingFileIsEmpty) {
  TempDir dir;
  Registry reg(dir.file("registry.json"));
  std::string error;
  EXPECT_TRUE(reg.load(&error)) << error;
  EXPECT_EQ(reg.size(), 0u);
  EXPECT_FALSE(reg.dirty());
  EXPECT_TRUE(reg.save(&error));  // nothing to write
  EXPECT_FALSE(fs::exists(dir.file("registry.json")));
}

TEST(Registry, RoundTrip) {
  TempDir dir;
  const std::string path = dir.file("registry.json");
  const int64_t t = 1714564800123456000;
  RegistryEntry file = fileEntry(123456, t);
  file.identity = FileIdentity{2049, 987654321, 0xfedcba9876543210ULL, 1024};
  file.path = "/var/log/app.log";
  RegistryEntry journal;
  journal.cursor = "s=abc;i=1f;b=0123;m=99;t=5;x=77";
  journal.offset = 42;
  journal.tailing_mode = "beginning";
  journal.last_updated_ns = t + 1000;
  journal.ingestion_ns = -7;
  {
    Registry reg(path);
    std::string error;
    ASSERT_TRUE(reg.load(&error));
    reg.set("file:/var/log/app.log", file);
    reg.set("journald:default", journal);
    reg.set("file:/var/log/big.log", fileEntry(UINT64_MAX, t));
    EXPECT_TRUE(reg.dirty());
    ASSERT_TRUE(reg.save(&error)) << error;
    EXPECT_FALSE(reg.dirty());
  }
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  const std::string text = readFile(path);
  EXPECT_NE(text.find(R"("Version":2)"), std::string::npos);
  EXPECT_NE(text.find(R"("Offset":"123456")"), std::string::npos);
  EXPECT_NE(text.find(R"("Offset":"18446744073709551615")"), std::string::npos);
  EXPECT_NE(text.find(R"("LastUpdated":"2024-05-01T12:00:00.123456Z")"), std::string::npos);
  EXPECT_NE(text.find(R"("Fingerprint":"fedcba9876543210")"), std::string::npos);
  // Empty Path/Cursor/Identity are omitted.
  EXPECT_EQ(text.find(R"("Cursor":"")"), std::string::npos);

  Registry back(path);
  std::string error;
  ASSERT_TRUE(back.load(&error)) << error;
  EXPECT_EQ(back.skippedOnLoad(), 0u);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(*back.find("file:/var/log/app.log"), file);
  EXPECT_EQ(*back.find("journald:default"), journal);
  EXPECT_EQ(back.find("file:/var/log/big.log")->offset, UINT64_MAX);
  EXPECT_EQ(back.find("file:/nope"), nullptr);
  EXPECT_FALSE(back.dirty());
  std::vector<std::string> keys;
  back.forEach([&](const std::string& k, const RegistryEntry&) { keys.push_back(k); });
  EXPECT_EQ(keys, (std::vector<std::string>{"file:/var/log/app.log", "file:/var/log/big.log",
                                            "journald:default"}));
  // Stored with microseconds.
  RegistryEntry fine = fileEntry(1, t + 789);
  back.set("file:/x", fine);
  ASSERT_TRUE(back.save(&error)) << error;
  Registry again(path);
  ASSERT_TRUE(again.load(&error));
  EXPECT_EQ(again.find("file:/x")->last_updated_ns, t);
}

TEST(Registry, ReadsAHandWrittenAgentRegistry) {
  TempDir dir;
  // As the Datadog Agent writes it: Go's time.Time with a zone offset, the offset as a string,
  // a journald cursor in Offset, fields we do not know.
  dir.write("registry.json", R"({"Version":2,"Registry":{
    "file:/var/log/nginx/access.log":{"LastUpdated":"2024-05-01T14:00:00.123456789+02:00",
      "Offset":"8812","TailingMode":"end","IngestionTimestamp":1714564800123456789},
    "file:/var/log/syslog":{"LastUpdated":"2024-05-01T12:00:00Z","Offset":"0",
      "TailingMode":"beginning","IngestionTimestamp":0,"Unknown":[1,2,{}]},
    "journald:default":{"LastUpdated":"2024-05-01T12:00:00.5Z",
      "Offset":"s=6c2c;i=4a1;b=0b1e;m=1a2b;t=5f;x=9a","TailingMode":"end",
      "IngestionTimestamp":1714564800500000000},
    "docker:0123abcd":{"LastUpdated":"2024-05-01T12:00:00Z","Offset":"2024-05-01T11:59:00.000000001Z",
      "TailingMode":"end","IngestionTimestamp":1}}})");
  Registry reg(dir.file("registry.json"));
  std::string error;
  ASSERT_TRUE(reg.load(&error)) << error;
  ASSERT_EQ(reg.size(), 4u);
  const RegistryEntry* a = reg.find("file:/var/log/nginx/access.log");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->offset, 8812u);
  EXPECT_EQ(a->tailing_mode, "end");
  EXPECT_EQ(a->last_updated_ns, 1714564800123456789);
  EXPECT_EQ(a->ingestion_ns, 1714564800123456789);
  EXPECT_FALSE(a->identity.has_value());
  EXPECT_EQ(a->cursor, "");
  EXPECT_EQ(reg.find("file:/var/log/syslog")->tailing_mode, "beginning");
  const RegistryEntry* j = reg.find("journald:default");
  ASSERT_NE(j, nullptr);
  EXPECT_EQ(j->cursor, "s=6c2c;i=4a1;b=0b1e;m=1a2b;t=5f;x=9a");
  EXPECT_EQ(j->offset, 0u);
  EXPECT_EQ(reg.find("docker:0123abcd")->cursor, "2024-05-01T11:59:00.000000001Z");
}

TEST(Registry, ReadsOlderLayouts) {
  TempDir dir;
  // Version 0/1 style: bare paths as keys, numeric offsets, Timestamp instead of LastUpdated.
  dir.write("registry.json", R"({"Version":0,"Registry":{
    "/var/log/old.log":{"Path":"/var/log/old.log","Timestamp":"2020-01-01T00:00:00Z","Offset":77},
    "/var/log/v1.log":{"LastUpdated":"2020-01-01T00:00:01Z","Offset":"78"}}})");
  Registry reg(dir.file("registry.json"));
  std::string error;
  ASSERT_TRUE(reg.load(&error)) << error;
  ASSERT_EQ(reg.size(), 2u);
  const RegistryEntry* e = reg.find("file:/var/log/old.log");
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->offset, 77u);
  EXPECT_EQ(e->last_updated_ns, 1577836800 * kNs);
  EXPECT_EQ(e->path, "/var/log/old.log");
  EXPECT_EQ(reg.find("file:/var/log/v1.log")->offset, 78u);
  // No Version at all is taken as an old layout too.
  dir.write("registry.json", R"({"Registry":{"/a.log":{"Offset":"5"}}})");
  ASSERT_TRUE(reg.load(&error)) << error;
  EXPECT_EQ(reg.find("file:/a.log")->offset, 5u);
}

TEST(Registry, BadEntriesAreSkippedNotFatal) {
  TempDir dir;
  dir.write("registry.json", R"({"Version":2,"Registry":{
    "file:/ok":{"Offset":"10","LastUpdated":"garbage","TailingMode":"sideways",
                "IngestionTimestamp":"soon","Identity":{"Device":-1,"Inode":2}},
    "file:/huge-string":{"Offset":"99999999999999999999999"},
    "file:/huge-number":{"Offset":99999999999999999999999},
    "file:/negative":{"Offset":-5},
    "file:/fraction":{"Offset":1.5},
    "file:/bool":{"Offset":true},
    "file:/notnumber":{"Offset":"12abc"},
    "file:/empty":{"Offset":""},
    "file:/none":{"LastUpdated":"2024-05-01T12:00:00Z"},
    "file:/array":[1,2,3],
    "file:/null":null,
    "":{"Offset":"1"},
    "file:/bigts":{"Offset":"3","IngestionTimestamp":1e300,"LastUpdated":"2999-01-01T00:00:00Z"},
    "file:/badid":{"Offset":"4","Identity":{"Device":1,"Inode":2,"Fingerprint":"xyz",
                                             "FingerprintLength":5}},
    "file:/longid":{"Offset":"4","Identity":{"Device":1,"Inode":2,
                    "Fingerprint":"0000000000000001","FingerprintLength":4096}}}})");
  Registry reg(dir.file("registry.json"));
  std::string error;
  ASSERT_TRUE(reg.load(&error)) << error;
  std::set<std::string> keys;
  reg.forEach([&](const std::string& k, const RegistryEntry&) { keys.insert(k); });
  EXPECT_EQ(keys,
            (std::set<std::string>{"file:/ok", "file:/bigts", "file:/badid", "file:/longid"}));
  EXPECT_EQ(reg.skippedOnLoad(), 11u);
  const RegistryEntry* ok = reg.find("file:/ok");
  EXPECT_EQ(ok->offset, 10u);
  EXPECT_EQ(ok->last_updated_ns, 0);
  EXPECT_EQ(ok->tailing_mode, "");
  EXPECT_EQ(ok->ingestion_ns, 0);
  EXPECT_FALSE(ok->identity.has_value());
  EXPECT_EQ(reg.find("file:/bigts")->ingestion_ns, 0);
  EXPECT_EQ(reg.find("file:/bigts")->last_updated_ns, 0);  // past the int64 ns range
  EXPECT_FALSE(reg.find("file:/badid")->identity.has_value());
  EXPECT_FALSE(reg.find("file:/longid")->identity.has_value());
  EXPECT_FALSE(fs::exists(dir.file("registry.json.corrupt")));
}

TEST(Registry, GarbageIsMovedAside) {
  const std::vector<std::string> garbage = {
      "",
      "{",
      R"({"Version":2,"Registry":{"file:/a":{"Offset":"1")",  // truncated
      "null",
      "[]",
      "42",
      R"("Registry")",
      R"({"Version":2})",
      R"({"Version":2,"Registry":[]})",
      R"({"Version":2,"Registry":"file:/a"})",
      std::string("\0\0\0\xff\xfe garbage", 14),
      R"({"Version":2,"Registry":{}} trailing)",
      std::string(200'000, '[') + std::string(200'000, ']'),
      std::string(200'000, '['),
      R"({"Version":2,"Registry":{"file:/a":{"Offset":"1"}})",
      "\xef\xbb\xbf{\"Registry\":{\"\xff\xfe\":{\"Offset\":\"1\"}}}",
  };
  for (const std::string& bytes : garbage) {
    TempDir dir;
    dir.write("registry.json", bytes);
    Registry reg(dir.file("registry.json"));
    reg.set("file:/stale", fileEntry(1, 1));
    std::string error;
    EXPECT_FALSE(reg.load(&error)) << bytes.substr(0, 60);
    EXPECT_NE(error.find("moved aside"), std::string::npos) << error;
    EXPECT_EQ(reg.size(), 0u);
    EXPECT_FALSE(fs::exists(dir.file("registry.json")));
    const auto aside = filesStartingWith(dir.path(), "registry.json.corrupt-");
    ASSERT_EQ(aside.size(), 1u);
    EXPECT_EQ(readFile(dir.file(*aside.begin())), bytes);
    // The next save writes a fresh registry.
    reg.set("file:/a", fileEntry(9, 1));
    ASSERT_TRUE(reg.save(&error)) << error;
    Registry back(dir.file("registry.json"));
    ASSERT_TRUE(back.load(&error)) << error;
    EXPECT_EQ(back.find("file:/a")->offset, 9u);
  }
}

TEST(Registry, DirectoryWhereTheFileShouldBe) {
  TempDir dir;
  fs::create_directories(dir.file("registry.json/inside"));
  Registry reg(dir.file("registry.json"));
  std::string error;
  EXPECT_FALSE(reg.load(&error));
  EXPECT_NE(error.find("not a regular file"), std::string::npos) << error;
  EXPECT_TRUE(fs::is_regular_file(dir.file("registry.json")) == false);
  EXPECT_EQ(filesStartingWith(dir.path(), "registry.json.corrupt-").size(), 1u);
  reg.set("file:/a", fileEntry(3, 1));
  ASSERT_TRUE(reg.save(&error)) << error;
  ASSERT_TRUE(reg.load(&error)) << error;
  EXPECT_EQ(reg.find("file:/a")->offset, 3u);
}

TEST(Registry, TwoCorruptionsKeepBothCopies) {
  TempDir dir;
  Registry reg(dir.file("registry.json"));
  std::string error;
  dir.write("registry.json", "first");
  EXPECT_FALSE(reg.load(&error));
  dir.write("registry.json", "second");
  EXPECT_FALSE(reg.load(&error));
  const auto aside = filesStartingWith(dir.path(), "registry.json.corrupt-");
  ASSERT_EQ(aside.size(), 2u);
  std::set<std::string> contents;
  for (const std::string& name : aside) {
    contents.insert(readFile(dir.file(name)));
  }
  EXPECT_EQ(contents, (std::set<std::string>{"first", "second"}));
}

TEST(Registry, LeftoverTmpFromACrashIsIgnored) {
  TempDir dir;
  const std::string path = dir.file("registry.json");
  {
    Registry reg(path);
    reg.set("file:/a", fileEntry(100, 1));
    std::string error;
    ASSERT_TRUE(reg.save(&error)) << error;
  }
  // A crash between writing the temporary file and renaming it.
  dir.write("registry.json.tmp", R"({"Version":2,"Registry":{"file:/a":{"Offset":"1)");
  Registry reg(path);
  std::string error;
  ASSERT_TRUE(reg.load(&error)) << error;
  EXPECT_EQ(reg.find("file:/a")->offset, 100u);
  reg.set("file:/a", fileEntry(200, 2));
  ASSERT_TRUE(reg.save(&error)) << error;
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  Registry back(path);
  ASSERT_TRUE(back.load(&error)) << error;
  EXPECT_EQ(back.find("file:/a")->offset, 200u);
}

// Saves between the syncs (after every acknowledgement) go to registry.json.recent: two files
// that trade places instead of a new inode per write, no tail of a longer text left behind. A
// load takes the recent file when it is whole and newer than registry.json, and registry.json
// (the last durable save) when the recent one is torn, cut or older.
TEST(Registry, RecentSavesBetweenSyncsAndTheNewestWholeOneWins) {
  TempDir dir;
  const std::string path = dir.file("registry.json");
  const std::string recent = path + Registry::kRecentSuffix;
  const std::string kLong = "file:/a-much-longer-key-that-makes-the-text-longer";
  Registry reg(path);
  std::string error;
  auto offsetAfterLoad = [&] {
    Registry back(path);
    std::string e;
    EXPECT_TRUE(back.load(&e)) << e;
    const RegistryEntry* a = back.find("file:/a");
    return a == nullptr ? uint64_t{999} : a->offset;
  };
  reg.set("file:/a", fileEntry(1, 1));
  ASSERT_TRUE(reg.save(&error, true)) << error;
  std::set<ino_t> inodes;
  for (uint64_t i = 2; i < 8; ++i) {
    reg.set("file:/a", fileEntry(i, 1));
    if (i % 2 == 0) {
      reg.set(kLong, fileEntry(7, 2));
    } else {
      reg.erase(kLong);
    }
    ASSERT_TRUE(reg.save(&error, false)) << error;
    struct stat st {};
    ASSERT_EQ(::stat(recent.c_str(), &st), 0);
    inodes.insert(st.st_ino);
    EXPECT_EQ(offsetAfterLoad(), i);
    Registry back(path);
    ASSERT_TRUE(back.load(&error)) << error;
    EXPECT_EQ(back.find(kLong) != nullptr, i % 2 == 0);
  }
  EXPECT_EQ(inodes.size(), 2u);  // ext4 and tmpfs exchange
  Registry durable_only(path + ".copy");
  fs::copy_file(path, path + ".copy");
  ASSERT_TRUE(durable_only.load(&error)) << error;
  EXPECT_EQ(durable_only.find("file:/a")->offset, 1u);  // registry.json itself is the synced one

  // Torn (a byte of another write) or cut: not whole, registry.json counts.
  const std::string whole = readFile(recent);
  std::string torn = whole;
  torn[torn.size() / 2] ^= 0x20;
  dir.write("registry.json.recent", torn);
  EXPECT_EQ(offsetAfterLoad(), 1u);
  dir.write("registry.json.recent", whole.substr(0, whole.size() / 2));
  EXPECT_EQ(offsetAfterLoad(), 1u);
  dir.write("registry.json.recent", whole);
  EXPECT_EQ(offsetAfterLoad(), 7u);

  // A durable save is newer than every recent one before it.
  reg.set("file:/a", fileEntry(9, 1));
  ASSERT_TRUE(reg.save(&error, true)) << error;
  EXPECT_EQ(offsetAfterLoad(), 9u);
  dir.write("registry.json.recent", whole);  // an older recent file (Seq below registry.json's)
  EXPECT_EQ(offsetAfterLoad(), 9u);

  // registry.json missing (never synced yet): the recent file alone.
  reg.set("file:/a", fileEntry(10, 1));
  ASSERT_TRUE(reg.save(&error, false)) << error;
  fs::remove(path);
  EXPECT_EQ(offsetAfterLoad(), 10u);
}

TEST(Registry, FailedSaveLeavesTheOldFile) {
  TempDir dir;
  const std::string path = dir.file("registry.json");
  Registry reg(path);
  reg.set("file:/a", fileEntry(100, 1));
  std::string error;
  ASSERT_TRUE(reg.save(&error)) << error;
  const std::string before = readFile(path);

  // The temporary file cannot be created.
  fs::create_directories(path + ".tmp/x");
  reg.set("file:/a", fileEntry(200, 2));
  EXPECT_FALSE(reg.save(&error));
  EXPECT_NE(error.find("registry.json.tmp"), std::string::npos) << error;
  EXPECT_TRUE(reg.dirty());
  EXPECT_EQ(readFile(path), before);
  fs::remove_all(path + ".tmp");

  // The disk fills up mid-write (a file size limit stands in for ENOSPC).
  for (int i = 0; i < 200; ++i) {
    reg.set("file:/var/log/many/" + std::to_string(i), fileEntry(i, 3));
  }
  struct rlimit old_limit {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old_limit;
  small.rlim_cur = 512;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const bool saved = reg.save(&error);
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::signal(SIGXFSZ, old_handler);
  EXPECT_FALSE(saved);
  EXPECT_NE(error.find("write"), std::string::npos) << error;
  EXPECT_EQ(readFile(path), before);
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  EXPECT_TRUE(reg.dirty());

  // Once there is room again, the save goes through.
  ASSERT_TRUE(reg.save(&error)) << error;
  Registry back(path);
  ASSERT_TRUE(back.load(&error)) << error;
  EXPECT_EQ(back.size(), 201u);
  EXPECT_EQ(back.find("file:/a")->offset, 200u);

  // A missing directory is an error, not a crash.
  Registry nowhere(dir.file("no/such/dir/registry.json"));
  EXPECT_TRUE(nowhere.load(&error));
  nowhere.set("file:/a", fileEntry(1, 1));
  EXPECT_FALSE(nowhere.save(&error));
}

TEST(Registry, AdvanceNeverGoesBack) {
  TempDir dir;
  Registry reg(dir.file("registry.json"));
  RegistryEntry newer = fileEntry(500, 10);
  newer.ingestion_ns = 2000;
  RegistryEntry older = fileEntry(300, 11);
  older.ingestion_ns = 1000;
  EXPECT_TRUE(reg.advance("file:/a", newer));
  EXPECT_FALSE(reg.advance("file:/a", older));
  EXPECT_EQ(reg.find("file:/a")->offset, 500u);
  RegistryEntry same = fileEntry(600, 12);
  same.ingestion_ns = 2000;
  EXPECT_TRUE(reg.advance("file:/a", same));
  EXPECT_EQ(reg.find("file:/a")->offset, 600u);
  // set() is unconditional (a new tailer after rotation starts over).
  reg.set("file:/a", older);
  EXPECT_EQ(reg.find("file:/a")->offset, 300u);
}

TEST(Registry, Expire) {
  TempDir dir;
  Registry reg(dir.file("registry.json"));
  const int64_t now = 1'800'000'000 * kNs;
  const int64_t ttl = 23 * 3600;
  reg.set("file:/fresh", fileEntry(1, now - 3600 * kNs));
  reg.set("file:/edge", fileEntry(1, now - ttl * kNs));
  reg.set("file:/old", fileEntry(1, now - (ttl + 1) * kNs));
  reg.set("file:/old-in-use", fileEntry(1, now - (ttl + 1) * kNs));
  reg.set("file:/ancient", fileEntry(1, INT64_MIN));
  reg.set("file:/future", fileEntry(1, INT64_MAX));
  std::string error;
  ASSERT_TRUE(reg.save(&error));
  EXPECT_EQ(reg.expire(now, ttl, [](const std::string& k) { return k == "file:/old-in-use"; }), 2u);
  EXPECT_TRUE(reg.dirty());
  std::set<std::string> keys;
  reg.forEach([&](const std::string& k, const RegistryEntry&) { keys.insert(k); });
  EXPECT_EQ(keys, (std::set<std::string>{"file:/edge", "file:/fresh", "file:/future",
                                         "file:/old-in-use"}));
  // No in_use function: nothing is in use. A huge ttl keeps everything.
  EXPECT_EQ(reg.expire(now, INT64_MAX, nullptr), 0u);
  EXPECT_EQ(reg.expire(now, ttl, nullptr), 1u);
  ASSERT_TRUE(reg.save(&error));
  EXPECT_EQ(reg.expire(now, ttl, nullptr), 0u);
  EXPECT_FALSE(reg.dirty());
}

TEST(Registry, NonUtf8KeysDoNotBreakTheFile) {
  TempDir dir;
  Registry reg(dir.file("registry.json"));
  reg.set("file:/var/log/caf\xe9.log", fileEntry(7, 1));
  reg.set("file:/ok", fileEntry(8, 1));
  std::string error;
  ASSERT_TRUE(reg.save(&error)) << error;
  Registry back(dir.file("registry.json"));
  ASSERT_TRUE(back.load(&error)) << error;
  EXPECT_EQ(back.size(), 2u);
  EXPECT_EQ(back.find("file:/ok")->offset, 8u);
  EXPECT_EQ(back.find("file:/var/log/caf\xef\xbf\xbd.log")->offset, 7u);
}

TEST(Registry, EraseMarksDirty) {
  TempDir dir;
  Registry reg(dir.file("registry.json"));
  reg.set("file:/a", fileEntry(1, 1));
  std::string error;
  ASSERT_TRUE(reg.save(&error));
  reg.erase("file:/missing");
  EXPECT_FALSE(reg.dirty());
  reg.erase("file:/a");
  EXPECT_TRUE(reg.dirty());
  ASSERT_TRUE(reg.save(&error));
  ASSERT_TRUE(reg.load(&error));
  EXPECT_EQ(reg.size(), 0u);
}

}  // namespace
}  // namespace outpost::logs
