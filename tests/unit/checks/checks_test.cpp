#include <gtest/gtest.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "checks/check.h"
#include "checks/host_metadata.h"
#include "core/config_schema.h"

// The host checks against fixture /proc trees with known values (procfs_path), two runs where
// a check reports rates.
namespace outpost::checks {
namespace {

namespace fs = std::filesystem;

class FixtureProc {
 public:
  FixtureProc() {
    char tmpl[] = "/tmp/outpost-checks-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    paths_.proc = dir_ + "/proc";
    fs::create_directories(paths_.proc);
  }
  ~FixtureProc() { fs::remove_all(dir_); }
  void write(const std::string& rel, const std::string& text) {
    const fs::path p = fs::path(paths_.proc) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  void remove(const std::string& rel) { fs::remove(fs::path(paths_.proc) / rel); }
  HostPaths& paths() { return paths_; }

 private:
  std::string dir_;
  HostPaths paths_;
};

// One run of `check` at time `t`; the series by name + device + sorted tags.
struct Result {
  std::map<std::string, double> values;
  std::map<std::string, SeriesType> types;
  std::optional<std::string> error;
};

std::string keyOf(const Serie& s) {
  std::string k = s.name;
  if (!s.device.empty()) {
    k += "|device:" + s.device;
  }
  for (const auto& t : s.tags) {
    k += "|" + t;
  }
  return k;
}

Result runOnce(Check& check, Sender& sender, double t) {
  Result r;
  sender.setTime(t);
  bool ok = true;
  try {
    check.run(sender);
  } catch (const CheckError& e) {
    r.error = e.what();
    ok = false;
  }
  auto out = sender.commit(t, "host-a", {}, ok);
  for (const auto& s : out.series) {
    EXPECT_EQ(s.host, "host-a");
    EXPECT_EQ(s.points.size(), 1u);
    EXPECT_EQ(s.points[0].first, static_cast<int64_t>(t));
    EXPECT_TRUE(r.values.emplace(keyOf(s), s.points[0].second).second) << keyOf(s);
    r.types[keyOf(s)] = s.type;
  }
  return r;
}

std::unique_ptr<Check> make(const std::string& name, const HostPaths& paths,
                            const std::string& instance_yaml = "{}") {
  auto c = makeCheck(name, paths);
  EXPECT_NE(c, nullptr) << name;
  c->configure(YAML::Node(), YAML::Load(instance_yaml));
  return c;
}

const char* kStat1 =
    "cpu  1000 100 500 8000 200 50 50 100 40 10\n"
    "cpu0 500 50 250 4000 100 25 25 50 20 5\n"
    "cpu1 500 50 250 4000 100 25 25 50 20 5\n"
    "intr 12345 0 0\n"
    "ctxt 50000\n"
    "btime 1700000000\n";
// +300 user, +100 nice, +200 system, +1000 idle, +100 iowait, +50 irq, +50 softirq, +200 steal,
// +20 guest: total +2000.
const char* kStat2 =
    "cpu  1300 200 700 9000 300 100 100 300 60 10\n"
    "cpu0 650 100 350 4500 150 50 50 150 30 5\n"
    "cpu1 650 100 350 4500 150 50 50 150 30 5\n"
    "ctxt 53000\n";

TEST(ChecksTest, CpuPercentagesOverTwoRuns) {
  FixtureProc p;
  p.write("stat", kStat1);
  auto c = make("cpu", p.paths());
  Sender s;
  Result first = runOnce(*c, s, 1000);
  ASSERT_FALSE(first.error) << *first.error;
  EXPECT_EQ(first.values.size(), 1u);  // num_cores only: no percentages, no count yet
  EXPECT_EQ(first.values["system.cpu.num_cores"], 2);

  p.write("stat", kStat2);
  Result second = runOnce(*c, s, 1015);
  ASSERT_FALSE(second.error) << *second.error;
  EXPECT_DOUBLE_EQ(second.values["system.cpu.user"], 400.0 / 2000 * 100);
  EXPECT_DOUBLE_EQ(second.values["system.cpu.system"], 300.0 / 2000 * 100);
  EXPECT_DOUBLE_EQ(second.values["system.cpu.interrupt"], 100.0 / 2000 * 100);
  EXPECT_DOUBLE_EQ(second.values["system.cpu.iowait"], 100.0 / 2000 * 100);
  EXPECT_DOUBLE_EQ(second.values["system.cpu.idle"], 1000.0 / 2000 * 100);
  EXPECT_DOUBLE_EQ(second.values["system.cpu.stolen"], 200.0 / 2000 * 100);
  EXPECT_DOUBLE_EQ(second.values["system.cpu.guest"], 20.0 / 2000 * 100);
  EXPECT_EQ(second.values["system.cpu.context_switches"], 3000);
  EXPECT_EQ(second.types["system.cpu.context_switches"], SeriesType::kCount);
  EXPECT_EQ(second.types["system.cpu.user"], SeriesType::kGauge);
}

TEST(ChecksTest, LoadMemoryUptimeFileHandles) {
  FixtureProc p;
  p.write("stat", kStat1);
  p.write("loadavg", "0.50 1.00 2.00 3/250 12345\n");
  p.write("uptime", "12345.67 20000.00\n");
  p.write("sys/fs/file-nr", "4096\t96\t100000\n");
  p.write("meminfo",
          "MemTotal:        8388608 kB\n"
          "MemFree:         1048576 kB\n"
          "MemAvailable:    4194304 kB\n"
          "Buffers:          102400 kB\n"
          "Cached:          2097152 kB\n"
          "SwapCached:         1024 kB\n"
          "Shmem:             51200 kB\n"
          "Slab:             204800 kB\n"
          "SReclaimable:     102400 kB\n"
          "PageTables:        10240 kB\n"
          "CommitLimit:     6291456 kB\n"
          "Committed_AS:    3145728 kB\n"
          "SwapTotal:       2097152 kB\n"
          "SwapFree:        1572864 kB\n"
          "HugePages_Total:       0\n");
  Sender s1, s2, s3, s4;
  auto load = runOnce(*make("load", p.paths()), s1, 10);
  EXPECT_DOUBLE_EQ(load.values["system.load.1"], 0.5);
  EXPECT_DOUBLE_EQ(load.values["system.load.15"], 2.0);
  EXPECT_DOUBLE_EQ(load.values["system.load.norm.5"], 0.5);  // 2 CPUs
  auto mem = runOnce(*make("memory", p.paths()), s2, 10);
  ASSERT_FALSE(mem.error) << *mem.error;
  EXPECT_DOUBLE_EQ(mem.values["system.mem.total"], 8192);
  EXPECT_DOUBLE_EQ(mem.values["system.mem.free"], 1024);
  EXPECT_DOUBLE_EQ(mem.values["system.mem.used"], 7168);
  EXPECT_DOUBLE_EQ(mem.values["system.mem.usable"], 4096);
  EXPECT_DOUBLE_EQ(mem.values["system.mem.cached"], 2148);  // Cached + SReclaimable
  EXPECT_DOUBLE_EQ(mem.values["system.mem.buffered"], 100);
  EXPECT_DOUBLE_EQ(mem.values["system.mem.pct_usable"], 0.5);
  EXPECT_DOUBLE_EQ(mem.values["system.mem.committed_as"], 3072);
  EXPECT_DOUBLE_EQ(mem.values["system.swap.total"], 2048);
  EXPECT_DOUBLE_EQ(mem.values["system.swap.used"], 512);
  EXPECT_DOUBLE_EQ(mem.values["system.swap.pct_free"], 0.75);
  auto up = runOnce(*make("uptime", p.paths()), s3, 10);
  EXPECT_DOUBLE_EQ(up.values["system.uptime"], 12345.67);
  auto fh = runOnce(*make("file_handle", p.paths()), s4, 10);
  EXPECT_DOUBLE_EQ(fh.values["system.fs.file_handles.allocated"], 4096);
  EXPECT_DOUBLE_EQ(fh.values["system.fs.file_handles.used"], 4000);
  EXPECT_DOUBLE_EQ(fh.values["system.fs.file_handles.in_use"], 0.04);
  EXPECT_DOUBLE_EQ(fh.values["system.fs.file_handles.max"], 100000);

  // Without MemAvailable (old kernels): free + buffers + cached.
  p.write("meminfo", "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 100 kB\nCached: 200 kB\n");
  Sender s5;
  auto old = runOnce(*make("memory", p.paths()), s5, 10);
  EXPECT_DOUBLE_EQ(old.values["system.mem.usable"], 400.0 / 1024);
}

TEST(ChecksTest, MissingOrMalformedFilesAreClearErrors) {
  FixtureProc p;
  Sender s;
  auto r = runOnce(*make("memory", p.paths()), s, 10);
  ASSERT_TRUE(r.error);
  EXPECT_NE(r.error->find("meminfo"), std::string::npos) << *r.error;
  EXPECT_TRUE(r.values.empty());

  p.write("loadavg", "0.5 abc 1\n");
  r = runOnce(*make("load", p.paths()), s, 10);
  ASSERT_TRUE(r.error);
  EXPECT_NE(r.error->find("'abc' is not a number"), std::string::npos) << *r.error;

  p.write("stat", "intr 1\n");
  r = runOnce(*make("cpu", p.paths()), s, 10);
  ASSERT_TRUE(r.error);
  EXPECT_NE(r.error->find("no cpu line"), std::string::npos) << *r.error;

  p.write("meminfo", "MemFree: 10 kB\n");
  r = runOnce(*make("memory", p.paths()), s, 10);
  ASSERT_TRUE(r.error);
  EXPECT_NE(r.error->find("MemTotal"), std::string::npos) << *r.error;

  // Bad instance settings name the key and the line.
  try {
    make("disk", p.paths(), "all_partitions: true\nexcluded_mountpoint_re: '(unclosed'\n");
    ADD_FAILURE() << "no error";
  } catch (const CheckError& e) {
    EXPECT_NE(std::string(e.what()).find("'excluded_mountpoint_re' (line 2)"), std::string::npos)
        << e.what();
  }
  try {
    make("network", p.paths(), "excluded_interfaces: lo\n");
    ADD_FAILURE() << "no error";
  } catch (const CheckError& e) {
    EXPECT_NE(std::string(e.what()).find("'excluded_interfaces' (line 1): a list"),
              std::string::npos)
        << e.what();
  }
}

TEST(ChecksTest, DiskPerDeviceWithExclusions) {
  FixtureProc p;
  p.write("filesystems", "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\n\text4\n\txfs\n");
  p.write("self/mounts",
          "/dev/sda1 / ext4 rw,relatime 0 0\n"
          "proc /proc proc rw 0 0\n"
          "tmpfs /run tmpfs rw 0 0\n"
          "/dev/sdb1 /data\\040disk xfs rw 0 0\n"
          "/dev/sda1 /var/lib/docker/bind ext4 rw 0 0\n"
          "/dev/sdc1 /backup ext4 rw 0 0\n");
  std::vector<std::string> statted;
  p.paths().statvfs = [&](const std::string& path, struct statvfs* st) {
    statted.push_back(path);
    *st = {};
    st->f_frsize = 4096;
    st->f_bsize = 4096;
    st->f_blocks = 1000;  // 4,000 KiB
    st->f_bfree = 300;
    st->f_bavail = 200;  // reserved blocks: free for users < free
    st->f_files = 1000;
    st->f_ffree = 750;
    return path.ends_with("/backup") ? -1 : 0;  // unreachable: skipped
  };
  Sender s;
  auto r = runOnce(*make("disk", p.paths(), "excluded_filesystems: [xfs]\n"), s, 10);
  ASSERT_FALSE(r.error) << *r.error;
  EXPECT_EQ(statted, (std::vector<std::string>{"/", "/backup"}));
  const std::string k = "|device:/dev/sda1|device_name:sda1";
  EXPECT_DOUBLE_EQ(r.values["system.disk.total" + k], 4000);
  EXPECT_DOUBLE_EQ(r.values["system.disk.used" + k], 2800);
  EXPECT_DOUBLE_EQ(r.values["system.disk.free" + k], 800);
  EXPECT_DOUBLE_EQ(r.values["system.disk.in_use" + k], 2800.0 / 3600);
  EXPECT_DOUBLE_EQ(r.values["system.fs.inodes.used" + k], 250);
  EXPECT_DOUBLE_EQ(r.values["system.fs.inodes.in_use" + k], 0.25);
  EXPECT_EQ(r.values.size(), 8u);  // one device: tmpfs, proc, xfs, the bind and sdc1 left out

  // all_partitions takes pseudo filesystems; the mount point regex still excludes.
  statted.clear();
  Sender s2;
  runOnce(*make("disk", p.paths(), "all_partitions: true\nexcluded_mountpoint_re: '/run.*'\n"), s2,
          10);
  EXPECT_EQ(statted, (std::vector<std::string>{"/", "/proc", "/data disk", "/backup"}));
}

TEST(ChecksTest, IoRatesOverTwoRuns) {
  FixtureProc p;
  p.write("diskstats",
          "   8       0 sda 1000 10 8000 500 2000 20 16000 1500 0 1000 2000 0 0 0 0\n"
          "   1       0 ram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
  auto c = make("io", p.paths());
  Sender s;
  auto first = runOnce(*c, s, 100);
  EXPECT_TRUE(first.values.empty());
  // In 10 s: +100 reads (+800 sectors, +200 ms), +300 writes (+2400 sectors, +600 ms),
  // +5000 ms busy, +8000 weighted ms.
  p.write("diskstats",
          "   8       0 sda 1100 15 8800 700 2300 30 18400 2100 2 6000 10000 0 0 0 0\n"
          "   1       0 ram0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
  auto second = runOnce(*c, s, 110);
  const std::string k = "|device:sda";
  EXPECT_DOUBLE_EQ(second.values["system.io.r_s" + k], 10);
  EXPECT_DOUBLE_EQ(second.values["system.io.w_s" + k], 30);
  EXPECT_DOUBLE_EQ(second.values["system.io.rrqm_s" + k], 0.5);
  EXPECT_DOUBLE_EQ(second.values["system.io.rkb_s" + k], 800 * 512 / 1024.0 / 10);
  EXPECT_DOUBLE_EQ(second.values["system.io.wkb_s" + k], 2400 * 512 / 1024.0 / 10);
  EXPECT_DOUBLE_EQ(second.values["system.io.avg_rq_sz" + k], 3200.0 / 400);
  EXPECT_DOUBLE_EQ(second.values["system.io.await" + k], 800.0 / 400);
  EXPECT_DOUBLE_EQ(second.values["system.io.r_await" + k], 2);
  EXPECT_DOUBLE_EQ(second.values["system.io.w_await" + k], 2);
  EXPECT_DOUBLE_EQ(second.values["system.io.util" + k], 50);
  EXPECT_DOUBLE_EQ(second.values["system.io.avg_q_sz" + k], 0.8);
  EXPECT_DOUBLE_EQ(second.values["system.io.svctm" + k], 12.5);
  EXPECT_EQ(second.values.count("system.io.r_s|device:ram0"), 0u);
}

TEST(ChecksTest, NetworkRatesTcpAndConnectionStates) {
  FixtureProc p;
  const std::string header =
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
      "drop fifo colls carrier compressed\n";
  p.write("net/dev", header +
                         "    lo: 5000 50 0 0 0 0 0 0 5000 50 0 0 0 0 0 0\n"
                         "  eth0: 100000 1000 1 2 0 0 0 0 50000 500 3 4 0 0 0 0\n");
  p.write("net/snmp",
          "Ip: Forwarding DefaultTTL\nIp: 1 64\n"
          "Tcp: RtoAlgorithm RtoMin InSegs OutSegs RetransSegs\nTcp: 1 200 1000 900 10\n");
  p.write("net/tcp",
          "  sl  local_address rem_address   st tx_queue rx_queue\n"
          "   0: 00000000:0016 00000000:0000 0A 00000000:00000000\n"
          "   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000\n"
          "   2: 0100007F:1F90 0100007F:D2F2 01 00000000:00000000\n"
          "   3: 0100007F:1F90 0100007F:D2F4 06 00000000:00000000\n"
          "   4: 0100007F:1F90 0100007F:D2F6 08 00000000:00000000\n");
  auto c =
      make("network", p.paths(), "excluded_interfaces: [lo]\ncollect_connection_state: true\n");
  Sender s;
  auto first = runOnce(*c, s, 100);
  ASSERT_FALSE(first.error) << *first.error;
  EXPECT_EQ(first.values["system.net.tcp4.established"], 2);
  EXPECT_EQ(first.values["system.net.tcp4.listening"], 1);
  EXPECT_EQ(first.values["system.net.tcp4.time_wait"], 1);
  EXPECT_EQ(first.values["system.net.tcp4.closing"], 1);
  EXPECT_EQ(first.values.count("system.net.bytes_rcvd|device:eth0"), 0u);  // no rate yet
  p.write("net/dev", header +
                         "    lo: 9000 90 0 0 0 0 0 0 9000 90 0 0 0 0 0 0\n"
                         "  eth0: 300000 3000 1 2 0 0 0 0 150000 1500 3 4 0 0 0 0\n");
  p.write("net/snmp",
          "Tcp: RtoAlgorithm RtoMin InSegs OutSegs RetransSegs\nTcp: 1 200 3000 2900 30\n");
  auto second = runOnce(*c, s, 110);
  EXPECT_DOUBLE_EQ(second.values["system.net.bytes_rcvd|device:eth0"], 20000);
  EXPECT_DOUBLE_EQ(second.values["system.net.bytes_sent|device:eth0"], 10000);
  EXPECT_DOUBLE_EQ(second.values["system.net.packets_in.count|device:eth0"], 200);
  EXPECT_DOUBLE_EQ(second.values["system.net.packets_in.error|device:eth0"], 0);
  EXPECT_DOUBLE_EQ(second.values["system.net.tcp.retrans_segs"], 2);
  EXPECT_DOUBLE_EQ(second.values["system.net.tcp.in_segs"], 200);
  EXPECT_EQ(second.values.count("system.net.bytes_rcvd|device:lo"), 0u);

  // A counter that went backwards (an interface reset) says nothing for that run.
  p.write("net/dev", header + "  eth0: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n");
  auto third = runOnce(*c, s, 120);
  EXPECT_EQ(third.values.count("system.net.bytes_rcvd|device:eth0"), 0u);
}

TEST(ChecksTest, ProcessCountsByState) {
  FixtureProc p;
  p.write("1/stat", "1 (systemd) S 0 1 1 0\n");
  p.write("2/stat", "2 (kthreadd) S 0 0 0 0\n");
  p.write("10/stat", "10 (my (odd) proc) R 1 10 10 0\n");
  p.write("11/stat", "11 (worker) D 1 11 11 0\n");
  p.write("12/stat", "12 (defunct) Z 1 12 12 0\n");
  p.write("13/stat", "13 (kworker/0:1) I 2 0 0 0\n");
  p.write("self/stat", "not a pid directory\n");
  Sender s;
  auto r = runOnce(*make("process", p.paths()), s, 10);
  ASSERT_FALSE(r.error) << *r.error;
  EXPECT_EQ(r.values["system.processes.total"], 6);
  EXPECT_EQ(r.values["system.processes.count|state:sleeping"], 2);
  EXPECT_EQ(r.values["system.processes.count|state:running"], 1);
  EXPECT_EQ(r.values["system.processes.count|state:disk_sleep"], 1);
  EXPECT_EQ(r.values["system.processes.count|state:zombie"], 1);
  EXPECT_EQ(r.values["system.processes.count|state:idle"], 1);
  EXPECT_EQ(r.values["system.processes.count|state:stopped"], 0);
}

TEST(ChecksTest, SenderAddsInstanceTagsAndDropsAFailedRun) {
  Sender s;
  s.gauge("a", 1, {"z:1", "device:sda"});
  s.rate("r", 10);
  auto out = s.commit(100, "h", {"env:prod", "z:1"});
  ASSERT_EQ(out.series.size(), 1u);  // the rate has no previous value
  EXPECT_EQ(out.series[0].device, "sda");
  EXPECT_EQ(out.series[0].tags, (std::vector<std::string>{"env:prod", "z:1"}));
  s.rate("r", 20);
  s.gauge("a", 2);
  out = s.commit(105, "h", {}, /*ok=*/false);
  EXPECT_TRUE(out.series.empty());
  s.rate("r", 40);
  out = s.commit(110, "h", {});
  ASSERT_EQ(out.series.size(), 1u);
  EXPECT_DOUBLE_EQ(out.series[0].points[0].second, 3);  // (40 - 10) / (110 - 100)
}

TEST(ChecksTest, HostFactsFromProc) {
  FixtureProc p;
  p.write("cpuinfo",
          "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Test CPU @ 2.00GHz\n"
          "cpu MHz\t\t: 1999.999\nphysical id\t: 0\ncore id\t\t: 0\n\n"
          "processor\t: 1\nphysical id\t: 0\ncore id\t\t: 0\n\n"
          "processor\t: 2\nphysical id\t: 0\ncore id\t\t: 1\n\n"
          "processor\t: 3\nphysical id\t: 0\ncore id\t\t: 1\n");
  p.write("meminfo", "MemTotal: 8000 kB\nSwapTotal: 100 kB\n");
  const std::string run = p.paths().proc + "/../run";
  fs::create_directories(run);
  const HostFacts f = readHostFacts(p.paths(), run);
  EXPECT_EQ(f.cpu_logical, 4);
  EXPECT_EQ(f.cpu_cores, 2);
  EXPECT_EQ(f.cpu_model, "Test CPU @ 2.00GHz");
  EXPECT_EQ(f.cpu_vendor, "GenuineIntel");
  EXPECT_EQ(f.mem_total_kb, 8000u);
  EXPECT_EQ(f.swap_total_kb, 100u);
  EXPECT_EQ(f.uuid.size(), 36u);
  EXPECT_EQ(readHostFacts(p.paths(), run).uuid, f.uuid);  // stable
  Config c = defaultConfig();  // (a bare Config leaves its fields to the schema)
  c.hostname = "h1";
  c.api_key = "k";
  c.tags = {"a:b"};
  c.host_aliases = {"h1.example"};
  const auto j = nlohmann::json::parse(hostMetadataPayload(c, f));
  EXPECT_EQ(j["internalHostname"], "h1");
  EXPECT_EQ(j["systemStats"]["cpuCores"], 2);
  EXPECT_EQ(j["meta"]["host_aliases"][0], "h1.example");
  EXPECT_EQ(j["host-tags"]["system"][0], "a:b");
  const auto gohai = nlohmann::json::parse(j["gohai"].get<std::string>());
  EXPECT_EQ(gohai["cpu"]["cpu_logical_processors"], "4");
  EXPECT_EQ(gohai["memory"]["total"], "8000kB");
}

TEST(ChecksTest, EveryBuiltinCheckRunsOnThisHost) {
  for (const auto& name : builtinChecks()) {
    auto c = makeCheck(name, HostPaths{});
    ASSERT_NE(c, nullptr) << name;
    Sender s;
    s.setTime(1);
    EXPECT_NO_THROW(c->run(s)) << name;
    s.setTime(2);
    EXPECT_NO_THROW(c->run(s)) << name;
  }
  EXPECT_EQ(makeCheck("nope", HostPaths{}), nullptr);
}

}  // namespace
}  // namespace outpost::checks
