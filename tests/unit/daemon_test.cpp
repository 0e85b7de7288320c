#include "collector/daemon.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>

#include "tests/support/test_support.h"

namespace outpost {
namespace {

using testing::TempDir;

LoadedConfig configIn(const TempDir& dir, const std::string& extra = "") {
  dir.write("outpost.yaml", "run_path: " + dir.file("run") + "\nlog_level: warn\n" + extra);
  ConfigResult r = loadConfig(dir.path(), [](const std::string&) { return std::nullopt; });
  EXPECT_TRUE(r.loaded);
  return *r.loaded;
}

// A component that, when asked to stop, hands `jobs` pieces of work to the worker pool and writes
// its state file once they are all done: what a source with queued data does.
class BusyComponent : public Component {
 public:
  BusyComponent(Daemon& daemon, int jobs, std::string state_file)
      : daemon_(daemon), jobs_(jobs), state_file_(std::move(state_file)) {}
  std::string_view name() const override { return "busy"; }
  bool start() override {
    // Load while running: the pool is busy when the stop request arrives.
    for (int i = 0; i < jobs_ / 2; ++i) {
      daemon_.workers().submit([this] { spin(); }, [this] { onJobDone(); });
    }
    stop_timer_ = std::make_unique<Timer>(daemon_.loop(), [this] { daemon_.requestStop(); });
    stop_timer_->start(1);
    return true;
  }
  void stop(std::function<void()> done) override {
    stop_timer_.reset();
    done_ = std::move(done);
    for (int i = jobs_ / 2; i < jobs_; ++i) {
      daemon_.workers().submit([this] { spin(); }, [this] { onJobDone(); });
    }
  }
  int completed() const { return completed_; }

 private:
  // The state is written after the last queued job, like a registry after the last batch.
  void onJobDone() {
    if (++completed_ == jobs_ && done_) {
      std::ofstream(state_file_) << completed_ << "\n";
      done_();
    }
  }
  void spin() {
    volatile unsigned x = 0;
    for (unsigned k = 0; k < 50000; ++k) {
      x = x + k;
    }
  }
  Daemon& daemon_;
  int jobs_;
  std::string state_file_;
  int completed_ = 0;
  std::unique_ptr<Timer> stop_timer_;
  std::function<void()> done_;
};

TEST(DaemonTest, GracefulStopUnderLoadDrainsEveryJobAndWritesState) {
  TempDir dir;
  Daemon daemon(configIn(dir), dir.path());
  auto busy = std::make_unique<BusyComponent>(daemon, 400, dir.file("state"));
  BusyComponent* raw = busy.get();
  daemon.addComponent(std::move(busy));
  EXPECT_EQ(daemon.run(), 0);
  EXPECT_EQ(raw->completed(), 400);
  EXPECT_EQ(testing::readFile(dir.file("state")), "400\n");
  EXPECT_EQ(daemon.telemetry().valueOf("outpost.worker_pool.jobs", {"outcome:abandoned"}), 0);
  // The pid file (the run_path lock) holds our pid.
  EXPECT_EQ(testing::readFile(dir.file("run/outpost.pid")), std::to_string(getpid()) + "\n");
}

// Never finishes stopping.
class StuckComponent : public Component {
 public:
  explicit StuckComponent(Daemon& daemon, int stop_requests)
      : daemon_(daemon), stop_requests_(stop_requests) {}
  std::string_view name() const override { return "stuck"; }
  bool start() override {
    timer_ = std::make_unique<Timer>(daemon_.loop(), [this] {
      for (int i = 0; i < stop_requests_; ++i) {
        daemon_.requestStop();
      }
    });
    timer_->start(1);
    // A handle that stays open: the loop would never end on its own.
    keepalive_ = std::make_unique<Timer>(daemon_.loop(), [] {});
    keepalive_->start(100000, 100000);
    return true;
  }
  void stop(std::function<void()> done) override { done_ = std::move(done); }

 private:
  Daemon& daemon_;
  int stop_requests_;
  std::unique_ptr<Timer> timer_;
  std::unique_ptr<Timer> keepalive_;
  std::function<void()> done_;
};

TEST(DaemonTest, AStuckComponentIsAbandonedAtShutdownTimeout) {
  TempDir dir;
  Daemon daemon(configIn(dir, "shutdown_timeout: 1\n"), dir.path());
  daemon.addComponent(std::make_unique<StuckComponent>(daemon, 1));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(daemon.run(), 0);
  // It ended because of the deadline, not sooner; and it did end.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));
}

TEST(DaemonTest, ASecondStopRequestExitsAtOnceWithFailure) {
  TempDir dir;
  Daemon daemon(configIn(dir, "shutdown_timeout: 3600\n"), dir.path());
  daemon.addComponent(std::make_unique<StuckComponent>(daemon, 2));
  EXPECT_EQ(daemon.run(), 1);
}

TEST(DaemonTest, ReloadAppliesAGoodConfigurationAndCounts) {
  TempDir dir;
  Daemon daemon(configIn(dir), dir.path());
  // Stop only after the reload is applied: reload -> reconfigure -> stop.
  class Probe : public Component {
   public:
    Probe(Daemon& d, TempDir& t) : d_(d), t_(t) {}
    std::string_view name() const override { return "probe"; }
    bool start() override {
      timer_ = std::make_unique<Timer>(d_.loop(), [this] {
        t_.write("outpost.yaml", "run_path: " + t_.file("run") + "\nlog_level: error\n");
        d_.requestReload();
      });
      timer_->start(1);
      return true;
    }
    void stop(std::function<void()> done) override { done(); }
    void reconfigure(const LoadedConfig& c) override {
      level = c.config.log_level;
      d_.requestStop();
    }
    std::string level;

   private:
    Daemon& d_;
    TempDir& t_;
    std::unique_ptr<Timer> timer_;
  };
  auto probe = std::make_unique<Probe>(daemon, dir);
  Probe* raw = probe.get();
  daemon.addComponent(std::move(probe));
  EXPECT_EQ(daemon.run(), 0);
  EXPECT_EQ(raw->level, "error");
  EXPECT_EQ(daemon.config().config.log_level, "error");
  EXPECT_EQ(daemon.telemetry().valueOf("outpost.config.reloads", {"outcome:ok"}), 1);
}

TEST(DaemonTest, RunPathIsLockedAgainstASecondDaemon) {
  TempDir dir;
  LoadedConfig config = configIn(dir);
  // Hold the lock as another daemon would.
  std::filesystem::create_directories(dir.file("run"));
  const int fd = ::open(dir.file("run/outpost.pid").c_str(), O_RDWR | O_CREAT, 0640);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "4242\n", 5), 5);
  ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
  // flock locks belong to the open file description: a second open() in this process conflicts.
  Daemon daemon(std::move(config), dir.path());
  EXPECT_EQ(daemon.run(), 1);
  ::close(fd);
}

}  // namespace
}  // namespace outpost
