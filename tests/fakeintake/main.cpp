// outpost-fakeintake: the fake Datadog intake as a program, for people and scripts.
//
//   outpost-fakeintake [--host H] [--port N] [--invalid-api-key K]... [--read-rate BPS]
//                      [--max-decompressed-bytes N] [--no-intake-limits] [--log-level L]
//
// Prints `listening on HOST:PORT` on stdout once it accepts connections (port 0, the default,
// picks a free port), then serves until SIGTERM or SIGINT. Read payloads back with
// `curl 'http://HOST:PORT/fakeintake/payloads?endpoint=/api/v2/series'`.

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "core/log.h"
#include "core/loop.h"
#include "tests/fakeintake/fake_intake.h"

namespace {

constexpr std::string_view kUsage =
    "usage: outpost-fakeintake [--host H] [--port N] [--invalid-api-key K]... "
    "[--read-rate BYTES_PER_SECOND]\n"
    "                          [--max-decompressed-bytes N] [--no-intake-limits] "
    "[--log-level LEVEL]\n"
    "A fake Datadog intake: records every payload, serves them at GET /fakeintake/payloads.\n"
    "Defaults: --host 127.0.0.1 --port 0 (a free port, printed as `listening on HOST:PORT`).\n";

bool parseNumber(const char* s, uint64_t* out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
    return false;
  }
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using outpost::fakeintake::FakeIntake;
  std::string host = "127.0.0.1";
  uint64_t port = 0;
  uint64_t read_rate = 0;
  FakeIntake::Options options;

  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "outpost-fakeintake: %s needs a value\n%s", argv[i], kUsage.data());
        std::exit(2);
      }
      return argv[++i];
    };
    auto number = [&](const char* s) {
      uint64_t v = 0;
      if (!parseNumber(s, &v)) {
        std::fprintf(stderr, "outpost-fakeintake: %s: not a number: %s\n", argv[i - 1], s);
        std::exit(2);
      }
      return v;
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage.data(), stdout);
      return 0;
    } else if (arg == "--host") {
      host = value();
    } else if (arg == "--port") {
      port = number(value());
      if (port > 65535) {
        std::fprintf(stderr, "outpost-fakeintake: --port: out of range: %llu\n",
                     static_cast<unsigned long long>(port));
        return 2;
      }
    } else if (arg == "--invalid-api-key") {
      options.validation.invalid_api_keys.insert(value());
    } else if (arg == "--read-rate") {
      read_rate = number(value());
    } else if (arg == "--max-decompressed-bytes") {
      options.validation.max_decompressed_bytes = number(value());
    } else if (arg == "--no-intake-limits") {
      options.validation.enforce_intake_limits = false;
    } else if (arg == "--log-level") {
      const char* name = value();
      auto level = outpost::parseLogLevel(name);
      if (!level) {
        std::fprintf(stderr, "outpost-fakeintake: unknown log level: %s\n", name);
        return 2;
      }
      outpost::Logger::instance().setLevel(*level);
    } else {
      std::fprintf(stderr, "outpost-fakeintake: unknown argument: %s\n%s", argv[i], kUsage.data());
      return 2;
    }
  }

  outpost::Loop loop;
  int status = 0;
  {
    FakeIntake intake(loop.get(), options);
    std::string error;
    if (!intake.listen(host, static_cast<int>(port), &error)) {
      std::fprintf(stderr, "outpost-fakeintake: %s\n", error.c_str());
      return 1;
    }
    if (read_rate > 0) {
      intake.setReadRateLimit(read_rate);
    }
    bool ipv6 = host.find(':') != std::string::npos;
    std::printf("listening on %s%s%s:%d\n", ipv6 ? "[" : "", host.c_str(), ipv6 ? "]" : "",
                intake.port());
    std::fflush(stdout);

    std::unique_ptr<outpost::SignalWatcher> sigterm;
    std::unique_ptr<outpost::SignalWatcher> sigint;
    outpost::Timer hard_stop(loop.get(), [&loop] { loop.stop(); });
    bool stopping = false;
    auto onSignal = [&](int signum) {
      if (stopping) {  // a second signal: leave at once
        status = 1;
        loop.stop();
        return;
      }
      stopping = true;
      LOG_INFO("fakeintake", "signal {}: stopping", signum);
      hard_stop.start(5000);
      hard_stop.unref();
      intake.shutdown([&] {
        sigterm.reset();
        sigint.reset();
      });
    };
    sigterm = std::make_unique<outpost::SignalWatcher>(loop.get(), SIGTERM, onSignal);
    sigint = std::make_unique<outpost::SignalWatcher>(loop.get(), SIGINT, onSignal);
    loop.run();
  }
  return status;
}
