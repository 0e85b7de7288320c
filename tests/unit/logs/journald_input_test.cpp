#include "collector/sources/logs/journald_input.h"

#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/loop.h"
#include "core/telemetry.h"
#include "tests/support/test_support.h"

// Test journals are written by systemd-journal-remote from the journal export format (KEY=value
// lines, a blank line after each entry), the way a remote host's entries would arrive.

namespace outpost::logs {
namespace {

using Entry = JournaldInput::Entry;

constexpr const char* kJournalRemote = "/lib/systemd/systemd-journal-remote";
constexpr const char* kBootId = "0123456789abcdef0123456789abcdef";
constexpr int64_t kBaseUs = 1'700'000'000'000'000;

struct TestEntry {
  std::string message;
  std::string unit;      // "" : no _SYSTEMD_UNIT
  std::string priority;  // "" : no PRIORITY
  std::string identifier = "app";
};

// Entry i gets __REALTIME_TIMESTAMP kBaseUs + i and a monotonic time of i ms; appending later
// entries keeps both increasing.
std::string exportFormat(const std::vector<TestEntry>& entries, int first_index) {
  std::string out;
  for (size_t k = 0; k < entries.size(); ++k) {
    const TestEntry& e = entries[k];
    const int64_t i = first_index + static_cast<int64_t>(k);
    out += fmt::format("__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID={}\n",
                       kBaseUs + i, 1000 + i * 1000, kBootId);
    out += fmt::format("MESSAGE={}\n_HOSTNAME=testhost\nSYSLOG_IDENTIFIER={}\n", e.message,
                       e.identifier);
    if (!e.unit.empty()) {
      out += fmt::format("_SYSTEMD_UNIT={}\n", e.unit);
    }
    if (!e.priority.empty()) {
      out += fmt::format("PRIORITY={}\n", e.priority);
    }
    out += "\n";
  }
  return out;
}

bool journalToolAvailable() {
  return ::access(kJournalRemote, X_OK) == 0;
}

class JournaldInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!journalToolAvailable()) {
      GTEST_SKIP() << kJournalRemote << " not installed (package systemd-journal-remote)";
    }
    journal_ = dir_.file("test.journal");
    ASSERT_TRUE(append(journal_, initial(), 0));
  }

  ~JournaldInputTest() override {
    if (input_) {
      input_->stop();
      input_.reset();
    }
  }

  static std::vector<TestEntry> initial() {
    return {
        {"a starts", "a.service", "6"}, {"b fails", "b.service", "3"},
        {"a debug", "a.service", "7"},  {"kernel says", "", "5", "kernel"},
        {"c panics", "c.service", "0"}, {"b no priority", "b.service", ""},
    };
  }

  // Writes `entries` to the journal file `path` (creating or appending to it).
  bool append(const std::string& path, const std::vector<TestEntry>& entries, int first_index) {
    std::string input =
        dir_.write(fmt::format("export-{}.txt", first_index), exportFormat(entries, first_index));
    auto r = testing::runCommand({kJournalRemote, "-o", path, input});
    EXPECT_EQ(r.code, 0) << r.out << r.err;
    return r.code == 0;
  }

  void startInput(JournaldInput::Options options) {
    input_ = std::make_unique<JournaldInput>(loop_.get(), telemetry_, std::move(options),
                                             [this](Entry&& e) {
                                               if (accept_ && !accept_(e)) {
                                                 return false;
                                               }
                                               got_.push_back(std::move(e));
                                               return true;
                                             });
    std::string error;
    ASSERT_TRUE(input_->start(&error)) << error;
  }

  JournaldInput::Options fromFile(bool beginning = true) {
    JournaldInput::Options o;
    o.path = journal_;
    o.start_at_beginning = beginning;
    o.name = "test";
    return o;
  }

  bool runUntil(const std::function<bool()>& done) {
    bool timed_out = false;
    Timer check(loop_.get(), [&] {
      if (done()) {
        loop_.stop();
      }
    });
    Timer deadline(loop_.get(), [&] {
      timed_out = true;
      loop_.stop();
    });
    check.start(0, 1);
    deadline.start(5000);
    loop_.run();
    return !timed_out && done();
  }

  std::vector<std::string> messages() const {
    std::vector<std::string> out;
    for (const Entry& e : got_) {
      out.push_back(e.message);
    }
    return out;
  }

  int64_t counter(std::string_view name) { return telemetry_.valueOf(name, {"input:test"}); }

  testing::TempDir dir_;
  std::string journal_;
  Loop loop_;
  Telemetry telemetry_;
  std::unique_ptr<JournaldInput> input_;
  std::vector<Entry> got_;
  std::function<bool(const Entry&)> accept_;
};

TEST_F(JournaldInputTest, ReadsEveryEntryFromTheBeginning) {
  startInput(fromFile());
  ASSERT_TRUE(runUntil([&] { return input_->caughtUp(); }));
  ASSERT_EQ(messages(), (std::vector<std::string>{"a starts", "b fails", "a debug", "kernel says",
                                                  "c panics", "b no priority"}));
  EXPECT_EQ(got_[0].status, "info");
  EXPECT_EQ(got_[1].status, "error");
  EXPECT_EQ(got_[2].status, "debug");
  EXPECT_EQ(got_[3].status, "notice");
  EXPECT_EQ(got_[4].status, "emergency");
  EXPECT_EQ(got_[5].status, "");
  EXPECT_EQ(got_[0].unit, "a.service");
  EXPECT_EQ(got_[3].unit, "");
  EXPECT_EQ(got_[3].identifier, "kernel");
  EXPECT_EQ(got_[0].identifier, "app");
  EXPECT_EQ(got_[0].hostname, "testhost");
  for (size_t i = 0; i < got_.size(); ++i) {
    EXPECT_EQ(got_[i].timestamp_us, kBaseUs + static_cast<int64_t>(i));
    EXPECT_FALSE(got_[i].cursor.empty());
    EXPECT_EQ(got_[i].sequence, i + 1);
    if (i > 0) {
      EXPECT_NE(got_[i].cursor, got_[i - 1].cursor);
    }
  }
  EXPECT_EQ(counter("outpost.logs.journald.entries"), 6);
  EXPECT_EQ(counter("outpost.logs.journald.bytes"), 8 + 7 + 7 + 11 + 8 + 13);
}

TEST_F(JournaldInputTest, IncludeUnitsKeepsOnlyThose) {
  auto o = fromFile();
  o.include_units = {"a.service", "c.service"};
  startInput(o);
  ASSERT_TRUE(runUntil([&] { return input_->caughtUp(); }));
  EXPECT_EQ(messages(), (std::vector<std::string>{"a starts", "a debug", "c panics"}));
}

TEST_F(JournaldInputTest, ExcludeUnitsSkipsThose) {
  auto o = fromFile();
  o.exclude_units = {"b.service"};
  startInput(o);
  ASSERT_TRUE(runUntil([&] { return input_->caughtUp(); }));
  EXPECT_EQ(messages(),
            (std::vector<std::string>{"a starts", "a debug", "kernel says", "c panics"}));
  EXPECT_EQ(counter("outpost.logs.journald.excluded"), 2);
}

TEST_F(JournaldInputTest, ResumesRightAfterTheCursor) {
  startInput(fromFile());
  ASSERT_TRUE(runUntil([&] { return input_->caughtUp(); }));
  ASSERT_EQ(got_.size(), 6u);
  const std::string cursor = got_[2].cursor;
  input_->stop();
  got_.clear();

  auto o = fromFile(/*beginning=*/false);  // the cursor wins over start_at_beginning
  o.cursor = cursor;
  startInput(o);
  ASSERT_TRUE(runUntil([&] { return input_->caughtUp(); }));
  EXPECT_EQ(messages(), (std::vector<std::string>{"kernel says", "c panics", "b no priority"}));

  // A cursor after the last entry: nothing.
  const std::string last = got_.back().cursor;
  input_->stop();
  got_.clear();
  o.cursor = last;
  startInput(o);
  ASSERT_TRUE(runUntil([&] { return input_->caughtUp(); }));
  EXPECT_TRUE(got_.empty());
}

TEST_F(JournaldInputTest, UnusableCursorFallsBackToTheStartPosition) {
  auto o = fromFile(/*beginning=*/true);
  o.cursor = "not a cursor";
  startInput(o);
  ASSERT_TRUE(runUntil([&] { return input_->caughtUp(); }));
  EXPECT_EQ(got_.size(), 6u);
}

TEST_F(JournaldInputTest, TailSkipsOldEntriesAndFollowsNewOnes) {
  startInput(fromFile(/*beginning=*/false));
  ASSERT_TRUE(runUntil([&] { return input_->caughtUp(); }));
  EXPECT_TRUE(got_.empty());

  ASSERT_TRUE(append(journal_, {{"new one", "a.service", "4"}, {"new two", "d.service", "2"}}, 6));
  ASSERT_TRUE(runUntil([&] { return got_.size() == 2; })) << got_.size();
  EXPECT_EQ(messages(), (std::vector<std::string>{"new one", "new two"}));
  EXPECT_EQ(got_[0].status, "warning");
  EXPECT_EQ(got_[1].status, "critical");
  EXPECT_EQ(got_[1].unit, "d.service");
}

TEST_F(JournaldInputTest, DirectoryFollowsAppendsAndNewFiles) {
  auto o = fromFile();
  o.path = dir_.path();
  o.include_units = {"a.service"};
  startInput(o);
  ASSERT_TRUE(runUntil([&] { return got_.size() == 2 && input_->caughtUp(); }));

  ASSERT_TRUE(append(journal_, {{"appended", "a.service", "6"}, {"other", "b.service", "6"}}, 6));
  ASSERT_TRUE(runUntil([&] { return got_.size() == 3; }));
  ASSERT_TRUE(append(dir_.file("second.journal"), {{"second file", "a.service", "6"}}, 8));
  ASSERT_TRUE(runUntil([&] { return got_.size() == 4; }));
  EXPECT_EQ(messages(),
            (std::vector<std::string>{"a starts", "a debug", "appended", "second file"}));
}

TEST_F(JournaldInputTest, ReadsInBatchesAndYieldsToTheLoop) {
  auto o = fromFile();
  o.max_entries_per_turn = 2;
  startInput(o);
  uv_run(loop_.get(), UV_RUN_NOWAIT);
  EXPECT_EQ(got_.size(), 2u);
  uv_run(loop_.get(), UV_RUN_NOWAIT);
  EXPECT_EQ(got_.size(), 4u);
  ASSERT_TRUE(runUntil([&] { return input_->caughtUp(); }));
  EXPECT_EQ(got_.size(), 6u);
}

TEST_F(JournaldInputTest, PushBackRedeliversTheRefusedEntryAfterResume) {
  int refusals = 0;
  accept_ = [&](const Entry& e) {
    if (e.message == "kernel says" && refusals == 0) {
      ++refusals;
      return false;
    }
    return true;
  };
  startInput(fromFile());
  ASSERT_TRUE(runUntil([&] { return input_->paused(); }));
  for (int i = 0; i < 5; ++i) {
    uv_run(loop_.get(), UV_RUN_NOWAIT);
  }
  EXPECT_EQ(messages(), (std::vector<std::string>{"a starts", "b fails", "a debug"}));
  EXPECT_FALSE(input_->caughtUp());

  input_->resume();
  ASSERT_TRUE(runUntil([&] { return input_->caughtUp(); }));
  EXPECT_EQ(messages(), (std::vector<std::string>{"a starts", "b fails", "a debug", "kernel says",
                                                  "c panics", "b no priority"}));
  EXPECT_EQ(refusals, 1);
  for (size_t i = 0; i < got_.size(); ++i) {
    EXPECT_EQ(got_[i].sequence, i + 1);
  }
  EXPECT_EQ(counter("outpost.logs.journald.entries"), 6);
}

TEST_F(JournaldInputTest, StopFromTheCallback) {
  accept_ = [&](const Entry&) {
    input_->stop();
    return true;
  };
  startInput(fromFile());
  ASSERT_TRUE(runUntil([&] { return got_.size() == 1; }));
  for (int i = 0; i < 5; ++i) {
    uv_run(loop_.get(), UV_RUN_NOWAIT);
  }
  EXPECT_EQ(got_.size(), 1u);
}

TEST(JournaldInputErrors, MissingJournalIsAClearError) {
  Loop loop;
  Telemetry telemetry;
  JournaldInput::Options o;
  o.path = "/nonexistent/dir/x.journal";
  JournaldInput input(loop.get(), telemetry, o, [](Entry&&) { return true; });
  std::string error;
  EXPECT_FALSE(input.start(&error));
  EXPECT_NE(error.find("/nonexistent/dir/x.journal"), std::string::npos) << error;
  EXPECT_FALSE(input.caughtUp());
}

TEST(JournaldInputErrors, GarbageFileIsAnErrorOrEmpty) {
  testing::TempDir dir;
  std::string path = dir.write("bad.journal", std::string(4096, '\x5a'));
  Loop loop;
  Telemetry telemetry;
  JournaldInput::Options o;
  o.path = path;
  o.start_at_beginning = true;
  size_t n = 0;
  JournaldInput input(loop.get(), telemetry, o, [&](Entry&&) {
    ++n;
    return true;
  });
  std::string error;
  if (input.start(&error)) {
    // libsystemd skips a file it cannot parse and opens an empty set: nothing to read.
    for (int i = 0; i < 100 && !input.caughtUp(); ++i) {
      uv_run(loop.get(), UV_RUN_NOWAIT);
    }
    EXPECT_TRUE(input.caughtUp());
    EXPECT_EQ(n, 0u);
    input.stop();
  } else {
    EXPECT_NE(error.find(path), std::string::npos) << error;
  }
}

TEST(JournaldInputErrors, NoSystemJournalWithoutJournald) {
  bool have_journal = false;
  for (const char* d : {"/run/log/journal", "/var/log/journal"}) {
    auto r = testing::runCommand({"/bin/sh", "-c",
                                  fmt::format("find {} -name '*.journal*' "
                                              "2>/dev/null | head -1",
                                              d)});
    have_journal = have_journal || !r.out.empty();
  }
  if (have_journal) {
    GTEST_SKIP() << "this machine has a system journal";
  }
  Loop loop;
  Telemetry telemetry;
  JournaldInput input(loop.get(), telemetry, {}, [](Entry&&) { return true; });
  std::string error;
  EXPECT_FALSE(input.start(&error));
  EXPECT_NE(error.find("no system journal"), std::string::npos) << error;
}

TEST(JournaldStatus, FromPriority) {
  EXPECT_EQ(JournaldInput::statusFromPriority("0"), "emergency");
  EXPECT_EQ(JournaldInput::statusFromPriority("1"), "alert");
  EXPECT_EQ(JournaldInput::statusFromPriority("2"), "critical");
  EXPECT_EQ(JournaldInput::statusFromPriority("3"), "error");
  EXPECT_EQ(JournaldInput::statusFromPriority("4"), "warning");
  EXPECT_EQ(JournaldInput::statusFromPriority("5"), "notice");
  EXPECT_EQ(JournaldInput::statusFromPriority("6"), "info");
  EXPECT_EQ(JournaldInput::statusFromPriority("7"), "debug");
  EXPECT_EQ(JournaldInput::statusFromPriority(""), "");
  EXPECT_EQ(JournaldInput::statusFromPriority("8"), "");
  EXPECT_EQ(JournaldInput::statusFromPriority("10"), "");
  EXPECT_EQ(JournaldInput::statusFromPriority("x"), "");
}

}  // namespace
}  // namespace outpost::logs
