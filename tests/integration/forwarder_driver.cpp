// outpost-forwarder-driver -c CONFIG --count N [--seed-base S]
//
// The real daemon (Daemon + Forwarder, configured from CONFIG like `outpost run`) with one test
// source that submits N deterministic series payloads (tests/integration/forwarder_fixtures.h)
// at start. Every 20 ms it prints the forwarder's state on stdout:
//   status queued=Q queued_bytes=B spool_records=R delivered=D corrupt=C torn=T
// Tests kill -9 it and start it again to check what survives on disk.
#include <cstdio>
#include <cstring>
#include <string>

#include "collector/daemon.h"
#include "core/log.h"
#include "forwarder/forwarder.h"
#include "tests/integration/forwarder_fixtures.h"

namespace outpost {
namespace {

class DriverSource : public Component {
 public:
  DriverSource(Daemon& daemon, Forwarder& forwarder, int count, uint64_t seed_base)
      : daemon_(daemon), forwarder_(forwarder), count_(count), seed_base_(seed_base) {}
  std::string_view name() const override { return "driver"; }
  bool start() override {
    for (int i = 0; i < count_; ++i) {
      forwarder_.submit(testing::seriesPayload(seed_base_ + static_cast<uint64_t>(i)));
    }
    timer_ = std::make_unique<Timer>(daemon_.loop(), [this] { report(); });
    timer_->start(0, 20);
    return true;
  }
  void stop(std::function<void()> done) override {
    timer_.reset();
    done();
  }

 private:
  void report() {
    const auto s = forwarder_.status()[0];
    const Telemetry& t = daemon_.telemetry();
    std::printf(
        "status queued=%zu queued_bytes=%llu spool_records=%zu delivered=%llu corrupt=%lld "
        "torn=%lld\n",
        s.queued, static_cast<unsigned long long>(s.queued_bytes), s.spool_records,
        static_cast<unsigned long long>(s.delivered),
        static_cast<long long>(
            t.valueOf("outpost.spool.records", {"endpoint:metrics", "outcome:corrupt"})),
        static_cast<long long>(
            t.valueOf("outpost.spool.records", {"endpoint:metrics", "outcome:torn"})));
    std::fflush(stdout);
  }
  Daemon& daemon_;
  Forwarder& forwarder_;
  int count_;
  uint64_t seed_base_;
  std::unique_ptr<Timer> timer_;
};

}  // namespace
}  // namespace outpost

int main(int argc, char** argv) {
  std::string config;
  int count = 0;
  uint64_t seed_base = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "-c") == 0) {
      config = argv[i + 1];
    } else if (std::strcmp(argv[i], "--count") == 0) {
      count = std::atoi(argv[i + 1]);
    } else if (std::strcmp(argv[i], "--seed-base") == 0) {
      seed_base = std::strtoull(argv[i + 1], nullptr, 10);
    }
  }
  auto result = outpost::loadConfig(config);
  if (!result.loaded) {
    for (const auto& e : result.errors) {
      std::fprintf(stderr, "error: %s\n", e.format().c_str());
    }
    return 1;
  }
  outpost::Daemon daemon(std::move(*result.loaded), config);
  auto forwarder =
      std::make_unique<outpost::Forwarder>(daemon.loop(), daemon.workers(), daemon.telemetry(),
                                           outpost::Forwarder::optionsFrom(daemon.config().config));
  outpost::Forwarder& ref = *forwarder;
  daemon.addComponent(std::move(forwarder));
  daemon.addComponent(std::make_unique<outpost::DriverSource>(daemon, ref, count, seed_base));
  return daemon.run();
}
