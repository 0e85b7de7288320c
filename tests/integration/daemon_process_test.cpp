// Runs the real `outpost` binary as a child process: real signals, a real notify socket, real
// files. Synchronisation is through the notify socket (READY=1 after each step), never sleeps.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>

#include "tests/support/test_support.h"

namespace outpost {
namespace {

using namespace std::chrono_literals;
using testing::NotifySocket;
using testing::Process;
using testing::TempDir;

const std::string kOutpost = OUTPOST_BIN;

std::string baseConfig(const TempDir& dir, const std::string& extra = "") {
  // No DogStatsD on 8125: tests run in parallel.
  return "run_path: " + dir.file("run") +
         "\nlog_level: info\ndogstatsd_port: 0\napm_config: {receiver_port: 0}\n" + extra;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(DaemonProcessTest, NotifiesReadyWatchdogReloadingAndStopping) {
  TempDir dir;
  const std::string file = dir.write("outpost.yaml", baseConfig(dir));
  NotifySocket notify(dir.file("notify.sock"));
  Process p({kOutpost, "run", "-c", dir.path()},
            {{"NOTIFY_SOCKET", notify.path()},
             {"WATCHDOG_USEC", "200000"},
             {"WATCHDOG_PID", std::nullopt},
             {"DD_API_KEY", std::nullopt}},
            dir);

  auto ready = notify.waitFor("READY=1", 5s);
  ASSERT_TRUE(ready) << p.err();
  EXPECT_TRUE(contains(*ready, "STATUS=local mode, forwarding off")) << *ready;
  // WatchdogSec=200ms: pings every 100 ms.
  ASSERT_TRUE(notify.waitFor("WATCHDOG=1", 2s));
  ASSERT_TRUE(notify.waitFor("WATCHDOG=1", 2s));

  // A good reload: RELOADING=1, then READY=1 once applied.
  dir.write("outpost.yaml", baseConfig(dir, "tags: [role:syslog]\n"));
  p.signal(SIGHUP);
  ASSERT_TRUE(notify.waitFor("RELOADING=1", 5s));
  ASSERT_TRUE(notify.waitFor("READY=1", 5s));
  EXPECT_TRUE(contains(p.err(), "configuration reloaded: 1 key changed: tags")) << p.err();

  // A broken reload is rejected and the old configuration kept.
  dir.write("outpost.yaml", baseConfig(dir, "tags: [role:syslog\n"));
  p.signal(SIGHUP);
  ASSERT_TRUE(notify.waitFor("RELOADING=1", 5s));
  ASSERT_TRUE(notify.waitFor("READY=1", 5s));
  EXPECT_TRUE(contains(p.err(), "reload rejected: " + file +
                                    ":6:1: YAML syntax error: end of "
                                    "sequence flow not found"))
      << p.err();
  EXPECT_TRUE(contains(p.err(), "keeping the previous configuration")) << p.err();

  // Fixed again: the daemon is still alive and reloads.
  dir.write("outpost.yaml", baseConfig(dir, "log_level: debug\n"));
  p.signal(SIGHUP);
  ASSERT_TRUE(notify.waitFor("RELOADING=1", 5s));
  ASSERT_TRUE(notify.waitFor("READY=1", 5s));
  EXPECT_TRUE(contains(p.err(), "2 keys changed: tags, log_level")) << p.err();

  p.signal(SIGTERM);
  ASSERT_TRUE(notify.waitFor("STOPPING=1", 5s));
  EXPECT_EQ(p.wait(10s), 0);
  EXPECT_TRUE(contains(p.err(), "drained cleanly")) << p.err();
}

TEST(DaemonProcessTest, SigintStopsGracefullyAndTheApiKeyNeverReachesTheLog) {
  TempDir dir;
  const std::string key = "0123456789abcdef0123456789abcdef";
  dir.write("outpost.yaml", baseConfig(dir, "log_level: trace\n"));
  NotifySocket notify(dir.file("notify.sock"));
  // Every intake on a closed loopback port: the forwarder runs, nothing leaves the machine.
  const std::string nowhere = "http://127.0.0.1:1";
  Process p({kOutpost, "run", "-c", dir.path()},
            {{"NOTIFY_SOCKET", notify.path()},
             {"DD_API_KEY", key},
             {"DD_DD_URL", nowhere},
             {"DD_LOGS_CONFIG_LOGS_DD_URL", nowhere},
             {"DD_APM_DD_URL", nowhere}},
            dir);
  auto ready = notify.waitFor("READY=1", 5s);
  ASSERT_TRUE(ready) << p.err();
  EXPECT_TRUE(contains(*ready, "STATUS=forwarding to datadoghq.com")) << *ready;
  p.signal(SIGINT);
  EXPECT_EQ(p.wait(10s), 0);
  const std::string err = p.err();
  EXPECT_TRUE(contains(err, "forwarding to Datadog (datadoghq.com)")) << err;
  EXPECT_TRUE(contains(err, "endpoint metrics: http://127.0.0.1:1 (primary)")) << err;
  EXPECT_FALSE(contains(err, key));
  EXPECT_FALSE(contains(err, key.substr(key.size() - 8)));
}

TEST(DaemonProcessTest, ConfigurationErrorsStopTheStartBeforeReady) {
  TempDir dir;
  const std::string file =
      dir.write("outpost.yaml", baseConfig(dir, "logs_enabled: maybe\nlog_levle: debug\n"));
  dir.write("conf.d/nginx.d/conf.yaml", "logs:\n  - type: file\n    service: nginx\n");
  NotifySocket notify(dir.file("notify.sock"));
  Process p({kOutpost, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  EXPECT_EQ(p.wait(10s), 1);
  const std::string err = p.err();
  EXPECT_TRUE(contains(err, "| ERROR | (config) | " + file +
                                ":5:15: logs_enabled: expected a boolean (true or false), got "
                                "\"maybe\""))
      << err;
  EXPECT_TRUE(contains(err, "| WARN | (config) | " + file +
                                ":6:1: log_levle: unknown key, ignored (did you mean "
                                "'log_level'?)"))
      << err;
  EXPECT_TRUE(contains(err, "not started: the configuration has 1 error")) << err;
  EXPECT_FALSE(notify.receive(0ms));

  // With outpost.yaml fixed, the conf.d error is reported the same way.
  dir.write("outpost.yaml", baseConfig(dir));
  Process p2({kOutpost, "run", "-c", dir.path()}, {}, dir);
  EXPECT_EQ(p2.wait(10s), 1);
  EXPECT_TRUE(contains(p2.err(), dir.file("conf.d/nginx.d/conf.yaml") +
                                     ":2:5: logs[0].path: missing required key for type: file"))
      << p2.err();
}

TEST(DaemonProcessTest, ASecondDaemonOnTheSameRunPathRefusesToStart) {
  TempDir dir;
  dir.write("outpost.yaml", baseConfig(dir));
  NotifySocket notify(dir.file("notify.sock"));
  Process first({kOutpost, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << first.err();
  Process second({kOutpost, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", std::nullopt}}, dir);
  EXPECT_EQ(second.wait(10s), 1);
  EXPECT_TRUE(contains(second.err(), "another outpost (pid " + std::to_string(first.pid()) +
                                         ") is running with run_path " + dir.file("run")))
      << second.err();
  first.signal(SIGTERM);
  EXPECT_EQ(first.wait(10s), 0);
}

TEST(DaemonProcessTest, ConfigcheckPrintsTheResolvedConfigurationOrTheErrors) {
  TempDir dir;
  const std::string file = dir.write("outpost.yaml", "site: datadoghq.com\nrun_path: state\n");
  dir.write("conf.d/app.d/conf.yaml", "instances:\n  - url: http://x\n    password: pw-secret\n");
  auto r = testing::runCommand({kOutpost, "configcheck", "-c", file},
                               {{"DD_SITE", "datadoghq.eu"}, {"DD_API_KEY", "k-secret-value-1"}});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "site: datadoghq.eu  # env DD_SITE")) << r.out;
  EXPECT_TRUE(contains(r.out, "run_path: " + dir.file("state") + "  # " + file + ":2")) << r.out;
  EXPECT_TRUE(contains(r.out, "# app (" + dir.file("conf.d/app.d/conf.yaml") + "): 1 instance"))
      << r.out;
  EXPECT_FALSE(contains(r.out + r.err, "k-secret-value-1"));
  EXPECT_FALSE(contains(r.out + r.err, "pw-secret"));

  dir.write("outpost.yaml", "logs_enabled: maybe\n");
  auto bad = testing::runCommand({kOutpost, "configcheck", "--config", dir.path()});
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.err, "error: " + file +
                         ":1:15: logs_enabled: expected a boolean (true or false), got \"maybe\"\n"
                         "configuration is invalid: 1 error\n");
  EXPECT_EQ(bad.out, "");
}

TEST(DaemonProcessTest, VersionHelpAndUsageErrors) {
  auto v = testing::runCommand({kOutpost, "version"});
  EXPECT_EQ(v.code, 0);
  EXPECT_TRUE(v.out.starts_with("outpost 0.1.0\ncommit: ")) << v.out;
  for (const char* lib : {"libuv: 1.", "libcurl: ", "zstd: 1.", "yaml-cpp: 0.", "libsystemd: "}) {
    EXPECT_TRUE(contains(v.out, lib)) << lib << "\n" << v.out;
  }
  for (const char* cmd : {"run", "configcheck", "version"}) {
    auto h = testing::runCommand({kOutpost, cmd, "--help"});
    EXPECT_EQ(h.code, 0) << cmd;
    EXPECT_TRUE(h.out.starts_with(std::string("usage: outpost ") + cmd)) << h.out;
  }
  auto top = testing::runCommand({kOutpost, "--help"});
  EXPECT_EQ(top.code, 0);
  EXPECT_TRUE(contains(top.out, "configcheck")) << top.out;
  auto unknown = testing::runCommand({kOutpost, "frobnicate"});
  EXPECT_EQ(unknown.code, 2);
  EXPECT_TRUE(unknown.err.starts_with("outpost: unknown command 'frobnicate'")) << unknown.err;
  auto bad_arg = testing::runCommand({kOutpost, "run", "--bogus"});
  EXPECT_EQ(bad_arg.code, 2);
  EXPECT_EQ(bad_arg.err, "outpost run: unknown argument '--bogus' (see outpost run --help)\n");
  auto no_path = testing::runCommand({kOutpost, "run", "-c"});
  EXPECT_EQ(no_path.code, 2);
  EXPECT_EQ(no_path.err, "outpost run: -c needs a PATH\n");
}

}  // namespace
}  // namespace outpost
