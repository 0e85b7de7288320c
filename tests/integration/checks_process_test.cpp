// The host checks through a real `outpost run`: the shipped conf.d defaults (with a 2 s interval
// so that two runs fit in a test) send every system metric to the fake intake, with the host
// and the check status service checks; a failing check does not stop the others; a broken
// check setting is a configuration error with file, line and key.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/fakeintake/fake_intake.h"
#include "tests/support/test_support.h"

namespace outpost {
namespace {

using namespace std::chrono_literals;
using fakeintake::FakeIntakeThread;
using testing::NotifySocket;
using testing::Process;
using testing::TempDir;
namespace fs = std::filesystem;

std::string config(const FakeIntakeThread& intake, const TempDir& dir, const std::string& extra) {
  return "api_key: 0123456789abcdef0123456789abcdef\n"
         "hostname: checks-test-host\n"
         "tags: [role:test]\n"
         "use_dogstatsd: false\n"
         "dd_url: " +
         intake.url() + "\napm_config:\n  enabled: false\nrun_path: " + dir.file("run") +
         "\nconfd_path: " + dir.file("conf.d") + "\n" + extra;
}

// The shipped default of `check`, with min_collection_interval set in its init_config.
void copyDefault(const TempDir& dir, const std::string& check, int interval) {
  std::ifstream in(std::string(OUTPOST_SOURCE_DIR) + "/conf.d/" + check + ".d/conf.yaml.default");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  const std::string marker = "init_config:\n";
  const size_t at = text.find(marker);
  ASSERT_NE(at, std::string::npos) << check;
  text.insert(at + marker.size(), "  min_collection_interval: " + std::to_string(interval) + "\n");
  fs::create_directories(dir.file("conf.d/" + check + ".d"));
  std::ofstream(dir.file("conf.d/" + check + ".d/conf.yaml")) << text;
}

// metric name → the first series of that name.
std::map<std::string, nlohmann::json> seriesByName(FakeIntakeThread& intake) {
  std::map<std::string, nlohmann::json> out;
  for (const auto& p : intake.store().acceptedPayloads("/api/v2/series")) {
    EXPECT_TRUE(p.valid);
    for (const auto& s : p.decoded["series"]) {
      out.emplace(s["metric"].get<std::string>(), s);
    }
  }
  return out;
}

std::vector<nlohmann::json> serviceChecks(FakeIntakeThread& intake) {
  std::vector<nlohmann::json> out;
  for (const auto& p : intake.store().acceptedPayloads("/api/v1/check_run")) {
    EXPECT_TRUE(p.valid);
    for (const auto& c : p.decoded) {
      out.push_back(c);
    }
  }
  return out;
}

TEST(ChecksProcessTest, TheDefaultChecksSendEverySystemMetric) {
  FakeIntakeThread intake;
  ASSERT_TRUE(intake.start());
  TempDir dir;
  for (const char* c :
       {"cpu", "load", "memory", "uptime", "file_handle", "disk", "io", "network", "process"}) {
    copyDefault(dir, c, 2);
  }
  dir.write("outpost.yaml", config(intake, dir, "host_aliases: [alias-1, alias-2]\n"));
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();

  // Gauges from the first run, rates and percentages from the second: within two intervals
  // (plus the forwarder's way out).
  const std::vector<std::string> expected = {
      "system.cpu.user",
      "system.cpu.system",
      "system.cpu.idle",
      "system.cpu.iowait",
      "system.cpu.stolen",
      "system.cpu.num_cores",
      "system.cpu.context_switches",
      "system.load.1",
      "system.load.norm.15",
      "system.mem.total",
      "system.mem.used",
      "system.mem.usable",
      "system.mem.pct_usable",
      "system.swap.total",
      "system.uptime",
      "system.fs.file_handles.in_use",
      "system.disk.total",
      "system.disk.in_use",
      "system.fs.inodes.in_use",
      "system.processes.total",
      "system.processes.count",
  };
  std::map<std::string, nlohmann::json> series;
  const auto deadline = std::chrono::steady_clock::now() + 8s;
  while (std::chrono::steady_clock::now() < deadline) {
    series = seriesByName(intake);
    bool all = true;
    for (const auto& name : expected) {
      all = all && series.count(name) != 0;
    }
    if (all) {
      break;
    }
    std::this_thread::sleep_for(100ms);  // polling another process's output
  }
  for (const auto& name : expected) {
    ASSERT_TRUE(series.count(name)) << name << " not received\n" << p.err();
    const auto& s = series[name];
    EXPECT_EQ(s["resources"][0]["type"], "host") << name;
    EXPECT_EQ(s["resources"][0]["name"], "checks-test-host") << name;
    EXPECT_NE(std::find(s["tags"].begin(), s["tags"].end(), "role:test"), s["tags"].end()) << name;
  }
  EXPECT_EQ(series["system.cpu.context_switches"]["type"], "COUNT");
  EXPECT_EQ(series["system.cpu.user"]["type"], "GAUGE");
  EXPECT_GT(series["system.mem.total"]["points"][0]["value"].get<double>(), 1);
  // Per-device metrics carry their device as a resource.
  bool disk_device = false;
  for (const auto& r : series["system.disk.total"]["resources"]) {
    disk_device = disk_device || r["type"] == "device";
  }
  EXPECT_TRUE(disk_device) << series["system.disk.total"].dump();

  std::set<std::string> ok_checks;
  for (const auto& c : serviceChecks(intake)) {
    if (c["check"] == "datadog.agent.check_status" && c["status"] == 0) {
      EXPECT_EQ(c["host_name"], "checks-test-host");
      for (const auto& t : c["tags"]) {
        if (t.get<std::string>().rfind("check:", 0) == 0) {
          ok_checks.insert(t.get<std::string>().substr(6));
        }
      }
    }
  }
  EXPECT_EQ(ok_checks, (std::set<std::string>{"cpu", "load", "memory", "uptime", "file_handle",
                                              "disk", "io", "network", "process"}));

  // The host metadata, 3 s after the start, checked field by field by the fake intake.
  const auto meta = intake.waitForPayloads("/intake/", 1, 8s);
  ASSERT_FALSE(meta.empty()) << p.err();
  EXPECT_TRUE(meta[0].valid) << meta[0].decoded.dump();
  const auto& m = meta[0].decoded;
  EXPECT_EQ(m["internalHostname"], "checks-test-host");
  EXPECT_EQ(m["apiKey"], "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(m["os"], "linux");
  EXPECT_EQ(m["host-tags"]["system"], (nlohmann::json{"role:test"}));
  EXPECT_EQ(m["meta"]["host_aliases"], (nlohmann::json{"alias-1", "alias-2"}));
  EXPECT_EQ(m["meta"]["hostname"], "checks-test-host");
  EXPECT_GE(m["systemStats"]["cpuCores"].get<int>(), 1);
  EXPECT_EQ(m["uuid"].get<std::string>().size(), 36u);
  const auto gohai = nlohmann::json::parse(m["gohai"].get<std::string>());
  EXPECT_FALSE(gohai["platform"]["kernel_release"].get<std::string>().empty());
  EXPECT_NE(gohai["memory"]["total"].get<std::string>().find("kB"), std::string::npos);
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (!seriesByName(intake).count("datadog.agent.running") &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);  // polling another process's output
  }
  EXPECT_TRUE(seriesByName(intake).count("datadog.agent.running"));
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
}

TEST(ChecksProcessTest, AFailingCheckDoesNotStopTheOthers) {
  FakeIntakeThread intake;
  ASSERT_TRUE(intake.start());
  TempDir dir;
  // A procfs with a load average and CPU counters but no meminfo.
  dir.write("proc/loadavg", "0.25 0.50 1.00 1/100 999\n");
  dir.write("proc/stat", "cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 10 0 10 100 0 0 0 0 0 0\n");
  for (const char* c : {"load", "memory"}) {
    copyDefault(dir, c, 1);
  }
  dir.write("outpost.yaml", config(intake, dir, "procfs_path: " + dir.file("proc") + "\n"));
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();
  std::optional<nlohmann::json> memory_status;
  std::map<std::string, nlohmann::json> series;
  const auto deadline = std::chrono::steady_clock::now() + 8s;
  while (std::chrono::steady_clock::now() < deadline) {
    series = seriesByName(intake);
    for (const auto& c : serviceChecks(intake)) {
      if (c["check"] == "outpost.check.status" &&
          std::find(c["tags"].begin(), c["tags"].end(), "check:memory") != c["tags"].end()) {
        memory_status = c;
      }
    }
    if (memory_status && series.count("system.load.norm.1")) {
      break;
    }
    std::this_thread::sleep_for(100ms);  // polling another process's output
  }
  ASSERT_TRUE(memory_status) << p.err();
  EXPECT_EQ((*memory_status)["status"], 2);
  EXPECT_NE((*memory_status)["message"].get<std::string>().find("meminfo"), std::string::npos)
      << memory_status->dump();
  ASSERT_TRUE(series.count("system.load.norm.1")) << p.err();
  EXPECT_DOUBLE_EQ(series["system.load.norm.1"]["points"][0]["value"].get<double>(), 0.25);
  EXPECT_EQ(series.count("system.mem.total"), 0u);
  EXPECT_NE(p.err().find("memory"), std::string::npos);
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
}

// A run that blocks (here: reading a FIFO nobody writes to) is reported as timed out after its
// interval; once it returns, the check runs again.
TEST(ChecksProcessTest, ARunThatHangsIsReportedAsTimedOut) {
  FakeIntakeThread intake;
  ASSERT_TRUE(intake.start());
  TempDir dir;
  fs::create_directories(dir.file("proc"));
  ASSERT_EQ(::mkfifo(dir.file("proc/loadavg").c_str(), 0600), 0);
  dir.write("proc/stat", "cpu  10 0 10 100 0 0 0 0 0 0\ncpu0 10 0 10 100 0 0 0 0 0 0\n");
  copyDefault(dir, "load", 1);
  dir.write("outpost.yaml", config(intake, dir, "procfs_path: " + dir.file("proc") + "\n"));
  NotifySocket notify(dir.file("notify.sock"));
  Process p({OUTPOST_BIN, "run", "-c", dir.path()}, {{"NOTIFY_SOCKET", notify.path()}}, dir);
  ASSERT_TRUE(notify.waitFor("READY=1", 5s)) << p.err();
  std::optional<nlohmann::json> timed_out;
  const auto deadline = std::chrono::steady_clock::now() + 8s;
  while (!timed_out && std::chrono::steady_clock::now() < deadline) {
    for (const auto& c : serviceChecks(intake)) {
      if (c["check"] == "datadog.agent.check_status" && c["status"] == 2) {
        timed_out = c;
      }
    }
    std::this_thread::sleep_for(100ms);  // polling another process's output
  }
  ASSERT_TRUE(timed_out) << p.err();
  EXPECT_NE((*timed_out)["message"].get<std::string>().find("timed out"), std::string::npos)
      << timed_out->dump();
  EXPECT_NE(p.err().find("timed out"), std::string::npos);
  // Let the stuck read return (a writer opens and closes the FIFO: end of file).
  const int fd = ::open(dir.file("proc/loadavg").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ::close(fd);
  ::unlink(dir.file("proc/loadavg").c_str());
  dir.write("proc/loadavg", "0.10 0.20 0.30 1/10 5\n");
  const auto until = std::chrono::steady_clock::now() + 8s;
  while (!seriesByName(intake).count("system.load.1") && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);  // polling another process's output
  }
  EXPECT_TRUE(seriesByName(intake).count("system.load.1")) << p.err();
  p.signal(SIGTERM);
  EXPECT_EQ(p.wait(10s), 0) << p.err();
}

TEST(ChecksProcessTest, ABrokenCheckSettingIsAConfigurationError) {
  TempDir dir;
  dir.write("outpost.yaml", "hostname: h\nconfd_path: " + dir.file("conf.d") + "\n");
  dir.write("conf.d/disk.d/conf.yaml",
            "init_config:\n"
            "instances:\n"
            "  - all_partitions: true\n"
            "    excluded_mountpoint_re: '(unclosed'\n");
  Process check({OUTPOST_BIN, "configcheck", "-c", dir.path()}, {}, dir);
  EXPECT_EQ(check.wait(10s), 1);
  const std::string err = check.err();
  EXPECT_NE(err.find(dir.file("conf.d/disk.d/conf.yaml")), std::string::npos) << err;
  EXPECT_NE(err.find("disk.instances[0]"), std::string::npos) << err;
  EXPECT_NE(err.find("'excluded_mountpoint_re' (line 4)"), std::string::npos) << err;

  dir.write("conf.d/disk.d/conf.yaml", "instances:\n  - min_collection_interval: -3\n");
  Process check2({OUTPOST_BIN, "configcheck", "-c", dir.path()}, {}, dir);
  EXPECT_EQ(check2.wait(10s), 1);
  EXPECT_NE(check2.err().find("disk.instances[0].min_collection_interval"), std::string::npos)
      << check2.err();

  // `outpost check` runs one check and prints it.
  dir.write("conf.d/disk.d/conf.yaml", "instances:\n  - {}\n");
  Process one({OUTPOST_BIN, "check", "uptime", "-c", dir.path(), "--json"}, {}, dir);
  EXPECT_EQ(one.wait(10s), 0) << one.err();
  const auto j = nlohmann::json::parse(one.out());
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["check"], "uptime");
  EXPECT_EQ(j[0]["series"][0]["metric"], "system.uptime");
  EXPECT_GT(j[0]["series"][0]["points"][0][1].get<double>(), 0);
}

}  // namespace
}  // namespace outpost
