#include "collector/sources/logs/registry.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/strings.h"

namespace outpost::logs {
namespace {

using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

// A registry of 500 files is tens of kilobytes; anything this large is not one.
constexpr off_t kMaxRegistryBytes = 64 << 20;
constexpr int64_t kNsPerSec = 1'000'000'000;

// Days since 1970-01-01 of a proleptic Gregorian date, and back (Howard Hinnant's algorithms).
int64_t daysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void civilFromDays(int64_t z, int64_t* y, int64_t* m, int64_t* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yoe + era * 400 + (*m <= 2 ? 1 : 0);
}

bool digits(std::string_view s, size_t pos, size_t n, int64_t* out) {
  if (pos + n > s.size()) {
    return false;
  }
  int64_t v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

bool parseDecimalU64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20) {
    return false;
  }
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) {
    return false;
  }
  *out = v;
  return true;
}

bool isTailingMode(std::string_view m) {
  return m == "beginning" || m == "end" || m == "forceBeginning" || m == "forceEnd";
}

// A JSON number as a non-negative integer that fits in uint64 (integers only).
bool jsonU64(const Json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    if (i < 0) {
      return false;
    }
    *out = static_cast<uint64_t>(i);
    return true;
  }
  return false;
}

bool jsonI64(const Json& v, int64_t* out) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return false;
    }
    *out = static_cast<int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    *out = v.get<int64_t>();
    return true;
  }
  return false;
}

const Json* member(const Json& obj, const char* name) {
  const auto it = obj.find(name);
  return it == obj.end() ? nullptr : &*it;
}

std::optional<FileIdentity> parseIdentity(const Json& v) {
  if (!v.is_object()) {
    return std::nullopt;
  }
  FileIdentity id;
  const Json* dev = member(v, "Device");
  const Json* ino = member(v, "Inode");
  const Json* fp = member(v, "Fingerprint");
  const Json* fl = member(v, "FingerprintLength");
  uint64_t len = 0;
  if (dev == nullptr || ino == nullptr || fp == nullptr || fl == nullptr ||
      !jsonU64(*dev, &id.device) || !jsonU64(*ino, &id.inode) || !fp->is_string() ||
      !parseFingerprintHex(fp->get_ref<const std::string&>(), &id.fingerprint) ||
      !jsonU64(*fl, &len) || len > kFingerprintBytes) {
    return std::nullopt;
  }
  id.fingerprint_len = static_cast<uint32_t>(len);
  return id;
}

// One entry of any layout; false when it has nothing to resume from.
bool parseEntry(std::string_view key, const Json& v, RegistryEntry* e) {
  if (!v.is_object()) {
    return false;
  }
  if (const Json* c = member(v, "Cursor"); c != nullptr && c->is_string()) {
    e->cursor = c->get_ref<const std::string&>();
  }
  bool have_offset = false;
  if (const Json* o = member(v, "Offset"); o != nullptr) {
    if (o->is_string()) {
      const std::string& s = o->get_ref<const std::string&>();
      if (parseDecimalU64(s, &e->offset)) {
        have_offset = true;
      } else if (!s.empty() && s.find_first_not_of("0123456789") != std::string::npos &&
                 !startsWith(key, "file:") && !startsWith(key, "/")) {
        // Not a number: the Agent keeps a journald cursor in Offset.
        if (e->cursor.empty()) {
          e->cursor = s;
        }
      } else {
        return false;  // empty, too large for uint64, or not a number for a file
      }
    } else if (jsonU64(*o, &e->offset)) {
      have_offset = true;
    } else {
      return false;  // negative, fractional, bool, ...
    }
  }
  if (!have_offset && e->cursor.empty()) {
    return false;
  }
  for (const char* name : {"LastUpdated", "Timestamp"}) {
    const Json* t = member(v, name);
    if (t != nullptr && t->is_string() &&
        parseRfc3339(t->get_ref<const std::string&>(), &e->last_updated_ns)) {
      break;
    }
  }
  if (const Json* m = member(v, "TailingMode"); m != nullptr && m->is_string()) {
    const std::string& s = m->get_ref<const std::string&>();
    if (isTailingMode(s)) {
      e->tailing_mode = s;
    }
  }
  if (const Json* i = member(v, "IngestionTimestamp"); i != nullptr) {
    jsonI64(*i, &e->ingestion_ns);
  }
  if (const Json* id = member(v, "Identity"); id != nullptr) {
    e->identity = parseIdentity(*id);
  }
  if (const Json* p = member(v, "Path"); p != nullptr && p->is_string()) {
    e->path = p->get_ref<const std::string&>();
  }
  return true;
}

bool writeAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string errnoText() {
  return std::strerror(errno);
}

// Up to `size` bytes from the start of `fd` into *text (fewer at an early end of file). False on
// a read error (errno tells).
bool readUpTo(int fd, size_t size, std::string* text) {
  text->resize(size);
  size_t got = 0;
  while (got < size) {
    const ssize_t n = ::read(fd, text->data() + got, size - got);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      text->resize(got);
      return false;
    }
    if (n == 0) {
      break;
    }
    got += static_cast<size_t>(n);
  }
  text->resize(got);
  return true;
}

}  // namespace

std::string formatRfc3339Micros(int64_t unix_ns) {
  int64_t secs = unix_ns / kNsPerSec;
  int64_t frac = unix_ns % kNsPerSec;
  if (frac < 0) {
    frac += kNsPerSec;
    secs -= 1;
  }
  int64_t days = secs / 86400;
  int64_t sod = secs % 86400;
  if (sod < 0) {
    sod += 86400;
    days -= 1;
  }
  int64_t y, m, d;
  civilFromDays(days, &y, &m, &d);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", y, m, d, sod / 3600,
                     sod / 60 % 60, sod % 60, frac / 1000);
}

bool parseRfc3339(std::string_view s, int64_t* unix_ns) {
  int64_t y, mo, d, h, mi, sec;
  if (!digits(s, 0, 4, &y) || s.size() < 19 || s[4] != '-' || !digits(s, 5, 2, &mo) ||
      s[7] != '-' || !digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
      !digits(s, 11, 2, &h) || s[13] != ':' || !digits(s, 14, 2, &mi) || s[16] != ':' ||
      !digits(s, 17, 2, &sec)) {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
    return false;
  }
  size_t pos = 19;
  int64_t frac = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    size_t n = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 9) {
        frac = frac * 10 + (s[pos] - '0');
      }
      ++n;
      ++pos;
    }
    if (n == 0) {
      return false;
    }
    for (size_t i = n; i < 9; ++i) {
      frac *= 10;
    }
  }
  int64_t offset_s = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int64_t oh, om;
    if (!digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return false;
    }
    offset_s = (oh * 3600 + om * 60) * (s[pos] == '+' ? 1 : -1);
    pos += 6;
  } else {
    return false;
  }
  if (pos != s.size()) {
    return false;
  }
  const int64_t secs = daysFromCivil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  int64_t ns;
  if (__builtin_mul_overflow(secs, kNsPerSec, &ns) || __builtin_add_overflow(ns, frac, &ns)) {
    return false;
  }
  *unix_ns = ns;
  return true;
}

Registry::Registry(std::string path) : path_(std::move(path)) {}

bool Registry::moveAside(const std::string& why, std::string* error) {
  const std::string base =
      fmt::format("{}.corrupt-{}", path_, static_cast<int64_t>(::time(nullptr)));
  std::string target = base;
  struct stat st {};
  for (int i = 1; i < 1000 && ::lstat(target.c_str(), &st) == 0; ++i) {
    target = fmt::format("{}-{}", base, i);
  }
  if (::rename(path_.c_str(), target.c_str()) != 0) {
    *error =
        fmt::format("{}: {}; could not move it aside to {}: {}", path_, why, target, errnoText());
  } else {
    *error = fmt::format("{}: {}; moved aside to {}, starting with an empty registry", path_, why,
                         target);
  }
  return false;
}

bool Registry::load(std::string* error) {
  entries_.clear();
  dirty_ = false;
  skipped_ = 0;
  seq_ = 0;
  const bool ok = loadMain(error);
  loadRecent();
  return ok;
}

// The newest non-durable write, when it is whole (its header's length and hash match) and
// newer than registry.json: what a killed process wrote last. After a power loss it may be
// torn or stale; then registry.json, synced every second, is what counts.
void Registry::loadRecent() {
  const std::string recent = path_ + kRecentSuffix;
  const int fd = ::open(recent.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    return;
  }
  std::string text;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= kMaxRegistryBytes) {
    readUpTo(fd, static_cast<size_t>(st.st_size), &text);  // a short or failed read: not whole
  }
  ::close(fd);
  const size_t eol = text.find('\n');
  if (eol == std::string::npos) {
    return;
  }
  const std::string_view header(text.data(), eol);
  const std::string_view body = std::string_view(text).substr(eol + 1);
  if (header != recentHeader(body)) {
    return;  // torn or stale pages: not a whole write
  }
  Json doc;
  try {
    doc = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  } catch (const std::exception&) {  // bad_alloc
    return;
  }
  std::map<std::string, RegistryEntry, std::less<>> entries;
  size_t skipped = 0;
  uint64_t seq = 0;
  if (!parseDocument(doc, &entries, &skipped, &seq, nullptr) || seq <= seq_) {
    return;
  }
  entries_ = std::move(entries);
  skipped_ = skipped;
  seq_ = seq;
}

std::string Registry::recentHeader(std::string_view body) {
  return fmt::format("outpost-registry {} {}", fingerprintHex(fingerprintOf(body)), body.size());
}

bool Registry::loadMain(std::string* error) {
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) {
      return true;
    }
    if (errno == ENOTDIR) {
      *error = fmt::format("{}: {}", path_, errnoText());
      return false;
    }
    return moveAside(fmt::format("cannot open: {}", errnoText()), error);
  }
  std::string text;
  struct stat st {};
  std::string why;
  if (::fstat(fd, &st) != 0) {
    why = fmt::format("cannot stat: {}", errnoText());
  } else if (!S_ISREG(st.st_mode)) {
    why = "not a regular file";
  } else if (st.st_size > kMaxRegistryBytes) {
    why = fmt::format("too large ({} bytes)", static_cast<int64_t>(st.st_size));
  } else if (!readUpTo(fd, static_cast<size_t>(st.st_size), &text)) {
    why = fmt::format("cannot read: {}", errnoText());
  }
  ::close(fd);
  if (!why.empty()) {
    return moveAside(why, error);
  }

  Json doc;
  try {
    doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  } catch (const std::exception&) {  // bad_alloc; parse errors do not throw
    doc = Json(Json::value_t::discarded);
  }
  std::string why_not;
  if (!parseDocument(doc, &entries_, &skipped_, &seq_, &why_not)) {
    return moveAside(why_not, error);
  }
  return true;
}

bool Registry::parseDocument(const Json& doc,
                             std::map<std::string, RegistryEntry, std::less<>>* out,
                             size_t* skipped, uint64_t* seq, std::string* why_not) {
  if (!doc.is_object()) {
    if (why_not != nullptr) {
      *why_not = doc.is_discarded() ? "not valid JSON" : "not a JSON object";
    }
    return false;
  }
  const Json* reg = member(doc, "Registry");
  if (reg == nullptr || !reg->is_object()) {
    if (why_not != nullptr) {
      *why_not = "no \"Registry\" object";
    }
    return false;
  }
  int64_t version = 0;
  if (const Json* v = member(doc, "Version"); v != nullptr) {
    jsonI64(*v, &version);
  }
  int64_t written = 0;
  if (const Json* v = member(doc, "Seq"); v != nullptr && jsonI64(*v, &written) && written > 0) {
    *seq = static_cast<uint64_t>(written);
  }
  for (const auto& [raw_key, value] : reg->items()) {
    RegistryEntry e;
    if (raw_key.empty() || !parseEntry(raw_key, value, &e)) {
      ++*skipped;
      continue;
    }
    std::string key = raw_key;
    if (version < 2 && key.front() == '/') {
      key = "file:" + key;
    }
    (*out)[std::move(key)] = std::move(e);
  }
  return true;
}

const RegistryEntry* Registry::find(std::string_view key) const {
  const auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

void Registry::set(const std::string& key, RegistryEntry e) {
  entries_[key] = std::move(e);
  dirty_ = true;
}

bool Registry::advance(const std::string& key, RegistryEntry e) {
  const auto it = entries_.find(key);
  if (it != entries_.end() && it->second.ingestion_ns > e.ingestion_ns) {
    return false;
  }
  set(key, std::move(e));
  return true;
}

void Registry::erase(const std::string& key) {
  if (entries_.erase(key) > 0) {
    dirty_ = true;
  }
}

size_t Registry::expire(int64_t now_ns, int64_t ttl_s,
                        const std::function<bool(const std::string&)>& in_use) {
  int64_t ttl_ns;
  if (ttl_s <= 0) {
    ttl_ns = 0;
  } else if (__builtin_mul_overflow(ttl_s, kNsPerSec, &ttl_ns)) {
    ttl_ns = std::numeric_limits<int64_t>::max();
  }
  size_t removed = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    int64_t age;
    if (__builtin_sub_overflow(now_ns, it->second.last_updated_ns, &age)) {
      age = now_ns > it->second.last_updated_ns ? std::numeric_limits<int64_t>::max()
                                                : std::numeric_limits<int64_t>::min();
    }
    if (age > ttl_ns && !(in_use && in_use(it->first))) {
      it = entries_.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  if (removed > 0) {
    dirty_ = true;
  }
  return removed;
}

std::string Registry::serialize() const {
  OrderedJson reg = OrderedJson::object();
  for (const auto& [key, e] : entries_) {
    OrderedJson j = OrderedJson::object();
    j["LastUpdated"] = formatRfc3339Micros(e.last_updated_ns);
    j["Offset"] = std::to_string(e.offset);
    j["TailingMode"] = e.tailing_mode;
    j["IngestionTimestamp"] = e.ingestion_ns;
    if (e.identity) {
      OrderedJson id = OrderedJson::object();
      id["Device"] = e.identity->device;
      id["Inode"] = e.identity->inode;
      id["Fingerprint"] = fingerprintHex(e.identity->fingerprint);
      id["FingerprintLength"] = e.identity->fingerprint_len;
      j["Identity"] = std::move(id);
    }
    if (!e.path.empty()) {
      j["Path"] = e.path;
    }
    if (!e.cursor.empty()) {
      j["Cursor"] = e.cursor;
    }
    reg[key] = std::move(j);
  }
  OrderedJson doc = OrderedJson::object();
  doc["Version"] = 2;
  doc["Registry"] = std::move(reg);
  doc["Seq"] = seq_;  // which of registry.json and its .recent is newer
  // Invalid UTF-8 (a path in another encoding) is replaced with U+FFFD rather than thrown on.
  return doc.dump(-1, ' ', false, nlohmann::detail::error_handler_t::replace);
}

bool Registry::save(std::string* error, bool durable) {
  if (!dirty_) {
    return true;
  }
  std::string text;
  ++seq_;
  try {
    text = serialize();
  } catch (const std::exception& e) {  // bad_alloc
    *error = fmt::format("{}: cannot serialize: {}", path_, e.what());
    return false;
  }
  if (!writeFile(path_, text, durable, error)) {
    return false;  // stays dirty: the next save tries again
  }
  dirty_ = false;
  return true;
}

bool Registry::snapshot(std::string* text, std::string* error) {
  ++seq_;
  try {
    *text = serialize();
  } catch (const std::exception& e) {  // bad_alloc
    *error = fmt::format("{}: cannot serialize: {}", path_, e.what());
    return false;
  }
  dirty_ = false;
  return true;
}

bool Registry::writeFile(const std::string& path, std::string_view text, bool durable,
                         std::string* error) {
  if (!durable) {
    return writeRecent(path + kRecentSuffix, text, error);
  }
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd < 0) {
    *error = fmt::format("{}: {}", tmp, errnoText());
    return false;
  }
  std::string what;
  if (!writeAll(fd, text)) {
    what = fmt::format("write {}: {}", tmp, errnoText());
  } else if (::fsync(fd) != 0) {
    what = fmt::format("fsync {}: {}", tmp, errnoText());
  }
  if (::close(fd) != 0 && what.empty()) {
    what = fmt::format("close {}: {}", tmp, errnoText());
  }
  if (what.empty() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    what = fmt::format("rename {} to {}: {}", tmp, path, errnoText());
  }
  if (!what.empty()) {
    ::unlink(tmp.c_str());
    *error = std::move(what);
    return false;
  }
  // The rename is durable once the directory is synced.
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? std::string(".") : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0 || ::fsync(dfd) != 0) {
    *error = fmt::format("fsync {}: {}", dir, errnoText());
    if (dfd >= 0) {
      ::close(dfd);
    }
    return false;
  }
  ::close(dfd);
  return true;
}

// Written after every acknowledgement, so a killed process re-sends little. A new file renamed
// over the old one each time had ext4 allocate an inode per write (about 6 % of a core busy
// tailing); instead `recent`.tmp is overwritten in place and the two trade places
// (RENAME_EXCHANGE; a rename where the filesystem cannot exchange). Whole for a killed process;
// after a power loss possibly torn, which its header tells (loadRecent falls back to
// registry.json).
bool Registry::writeRecent(const std::string& recent, std::string_view text, std::string* error) {
  static std::atomic<bool> exchange_works{true};
  const std::string tmp = recent + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
  if (fd < 0) {
    *error = fmt::format("{}: {}", tmp, errnoText());
    return false;
  }
  std::string what;
  const std::string header = recentHeader(text) + "\n";
  if (!writeAll(fd, header) || !writeAll(fd, text)) {
    what = fmt::format("write {}: {}", tmp, errnoText());
  } else if (::ftruncate(fd, static_cast<off_t>(header.size() + text.size())) != 0) {
    what = fmt::format("truncate {}: {}", tmp, errnoText());  // an older, longer text's tail
  }
  if (::close(fd) != 0 && what.empty()) {
    what = fmt::format("close {}: {}", tmp, errnoText());
  }
  if (what.empty()) {
    bool exchanged = false;
    if (exchange_works.load(std::memory_order_relaxed)) {
      exchanged =
          ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, recent.c_str(), RENAME_EXCHANGE) == 0;
      if (!exchanged && (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
        exchange_works.store(false, std::memory_order_relaxed);
      }
    }
    if (!exchanged && ::rename(tmp.c_str(), recent.c_str()) != 0) {
      what = fmt::format("rename {} to {}: {}", tmp, recent, errnoText());
    }
  }
  if (!what.empty()) {
    ::unlink(tmp.c_str());
    *error = std::move(what);
    return false;
  }
  return true;
}

}  // namespace outpost::logs
