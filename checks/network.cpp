#include <re2/re2.h>

#include <map>
#include <set>

#include "checks/builtin.h"

// system.net.* per interface from <proc>/net/dev, as per-second rates since the previous run:
// bytes_rcvd, bytes_sent, packets_in.count, packets_in.error, packets_in.drop,
// packets_out.count, packets_out.error, packets_out.drop (tag device:<interface>). TCP from
// <proc>/net/snmp: system.net.tcp.retrans_segs, in_segs, out_segs (rates). With
// collect_connection_state: connections by state from <proc>/net/tcp and tcp6 as
// system.net.tcp4|tcp6.established, opening, closing, listening, time_wait (gauges). Instance
// keys: excluded_interfaces, excluded_interface_re, collect_connection_state.
namespace outpost::checks {
namespace {

class NetworkCheck : public Check {
 public:
  explicit NetworkCheck(HostPaths paths) : paths_(std::move(paths)) {}

  void configure(const YAML::Node&, const YAML::Node& instance) override {
    for (auto& i : stringListSetting(instance, "excluded_interfaces")) {
      excluded_.insert(std::move(i));
    }
    if (auto re = regexSetting(instance, "excluded_interface_re"); !re.empty()) {
      exclude_re_ = std::make_unique<RE2>(re, RE2::Quiet);
    }
    connection_state_ = boolSetting(instance, "collect_connection_state", false);
  }

  void run(Sender& sender) override {
    interfaces(sender);
    tcpCounters(sender);
    if (connection_state_) {
      connections(sender, "tcp", "system.net.tcp4.");
      connections(sender, "tcp6", "system.net.tcp6.");
    }
  }

 private:
  void interfaces(Sender& sender) {
    const std::string path = paths_.proc + "/net/dev";
    const std::string text = readFile(path);
    static constexpr struct {
      size_t field;
      const char* name;
    } kMetrics[] = {
        {0, "system.net.bytes_rcvd"},         {1, "system.net.packets_in.count"},
        {2, "system.net.packets_in.error"},   {3, "system.net.packets_in.drop"},
        {8, "system.net.bytes_sent"},         {9, "system.net.packets_out.count"},
        {10, "system.net.packets_out.error"}, {11, "system.net.packets_out.drop"},
    };
    for (std::string_view line : splitLines(text)) {
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        continue;  // the two header lines
      }
      const auto name_fields = splitFields(line.substr(0, colon));
      if (name_fields.size() != 1) {
        continue;
      }
      const std::string name(name_fields[0]);
      if (excluded_.count(name) || (exclude_re_ && RE2::FullMatch(name, *exclude_re_))) {
        continue;
      }
      const auto f = splitFields(line.substr(colon + 1));
      if (f.size() < 16) {
        throw CheckError(path + ": interface " + name + " has " + std::to_string(f.size()) +
                         " counters, 16 expected");
      }
      for (const auto& m : kMetrics) {
        sender.rate(m.name, static_cast<double>(parseU64(f[m.field], path + " " + name)),
                    {"device:" + name});
      }
    }
  }

  void tcpCounters(Sender& sender) {
    const std::string path = paths_.proc + "/net/snmp";
    std::string text;
    try {
      text = readFile(path);
    } catch (const CheckError&) {
      return;  // no IPv4 stack statistics (a container without them): nothing to say
    }
    const auto lines = splitLines(text);
    for (size_t i = 0; i + 1 < lines.size(); ++i) {
      if (lines[i].rfind("Tcp:", 0) != 0 || lines[i + 1].rfind("Tcp:", 0) != 0) {
        continue;
      }
      const auto names = splitFields(lines[i].substr(4));
      const auto values = splitFields(lines[i + 1].substr(4));
      for (size_t k = 0; k < names.size() && k < values.size(); ++k) {
        const char* metric = names[k] == "RetransSegs" ? "system.net.tcp.retrans_segs"
                             : names[k] == "InSegs"    ? "system.net.tcp.in_segs"
                             : names[k] == "OutSegs"   ? "system.net.tcp.out_segs"
                                                       : nullptr;
        if (metric != nullptr) {
          sender.rate(metric, static_cast<double>(parseU64(values[k], path + " Tcp")));
        }
      }
      return;
    }
  }

  void connections(Sender& sender, const char* file, const std::string& prefix) {
    std::string text;
    try {
      text = readFile(paths_.proc + "/net/" + file);
    } catch (const CheckError&) {
      return;  // no such protocol here
    }
    std::map<std::string, int> counts = {
        {"established", 0}, {"opening", 0}, {"closing", 0}, {"listening", 0}, {"time_wait", 0}};
    bool header = true;
    for (std::string_view line : splitLines(text)) {
      if (header) {
        header = false;
        continue;
      }
      const auto f = splitFields(line);
      if (f.size() < 4) {
        continue;
      }
      const std::string_view st = f[3];
      if (st == "01") {
        ++counts["established"];
      } else if (st == "02" || st == "03") {
        ++counts["opening"];
      } else if (st == "04" || st == "05" || st == "08" || st == "09" || st == "0B") {
        ++counts["closing"];
      } else if (st == "0A") {
        ++counts["listening"];
      } else if (st == "06") {
        ++counts["time_wait"];
      }
    }
    for (const auto& [state, n] : counts) {
      sender.gauge(prefix + state, n);
    }
  }

  HostPaths paths_;
  std::set<std::string> excluded_;
  std::unique_ptr<RE2> exclude_re_;
  bool connection_state_ = false;
};

}  // namespace

std::unique_ptr<Check> makeNetworkCheck(const HostPaths& paths) {
  return std::make_unique<NetworkCheck>(paths);
}

}  // namespace outpost::checks
