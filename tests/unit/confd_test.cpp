#include "core/confd.h"

#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace outpost {
namespace {

using testing::TempDir;

struct Confd {
  std::vector<ConfdEntry> entries;
  std::vector<ConfigMessage> errors;
  std::vector<ConfigMessage> warnings;
};

Confd load(const TempDir& dir) {
  Confd c;
  loadConfd(dir.path(), false, c.entries, c.errors, c.warnings);
  return c;
}

TEST(ConfdTest, ReadsTheDatadogLayout) {
  TempDir dir;
  dir.write("cpu.d/conf.yaml.default", "init_config:\ninstances:\n  - {}\n");
  dir.write("disk.d/conf.yaml.default", "instances:\n  - use_mount: false\n");
  dir.write("disk.d/conf.yaml", "instances:\n  - use_mount: true\n  -\n");
  dir.write("nginx.d/conf.yaml",
            "logs:\n  - type: file\n    path: /var/log/nginx/*.log\n    service: nginx\n"
            "  - type: udp\n    port: 10514\n");
  dir.write("nginx.d/extra.yml", "logs:\n  - type: journald\n");
  dir.write("nginx.d/conf.yaml.example", "this: is not read\n");
  dir.write("flat.yaml", "instances:\n  - a: 1\n");
  dir.write("README.md", "not yaml\n");
  const Confd c = load(dir);
  ASSERT_TRUE(c.errors.empty());
  ASSERT_EQ(c.entries.size(), 5u);
  EXPECT_EQ(c.entries[0].name, "cpu");  // .default used: no other YAML in cpu.d
  EXPECT_EQ(c.entries[0].instances.size(), 1u);
  EXPECT_EQ(c.entries[1].name, "disk");  // conf.yaml wins over conf.yaml.default
  EXPECT_EQ(c.entries[1].file, dir.file("disk.d/conf.yaml"));
  ASSERT_EQ(c.entries[1].instances.size(), 2u);
  EXPECT_TRUE(c.entries[1].instances[0]["use_mount"].as<bool>());
  EXPECT_TRUE(c.entries[1].instances[1].IsMap());  // `-` alone is an empty instance
  EXPECT_EQ(c.entries[2].name, "flat");
  EXPECT_EQ(c.entries[3].name, "nginx");
  ASSERT_EQ(c.entries[3].logs.size(), 2u);
  EXPECT_EQ(c.entries[3].logs[0].type, "file");
  EXPECT_EQ(c.entries[3].logs[0].raw["service"].as<std::string>(), "nginx");
  EXPECT_EQ(c.entries[3].logs[1].type, "udp");
  EXPECT_EQ(c.entries[4].file, dir.file("nginx.d/extra.yml"));
  EXPECT_TRUE(c.warnings.empty());
}

struct ConfdErrorCase {
  const char* name;
  const char* yaml;
  const char* expected;  // after "<file>:"
};

void PrintTo(const ConfdErrorCase& c, std::ostream* os) {
  *os << c.name;
}

class ConfdErrorTest : public ::testing::TestWithParam<ConfdErrorCase> {};

TEST_P(ConfdErrorTest, NamesFileLineColumnAndKey) {
  TempDir dir;
  const std::string file = dir.write("app.d/conf.yaml", GetParam().yaml);
  const Confd c = load(dir);
  ASSERT_EQ(c.errors.size(), 1u);
  EXPECT_EQ(c.errors[0].format(), file + ":" + GetParam().expected);
  EXPECT_TRUE(c.entries.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Classes, ConfdErrorTest,
    ::testing::Values(
        ConfdErrorCase{"SyntaxError", "instances:\n  - a: [1\n",
                       "3:1: YAML syntax error: end of sequence flow not found"},
        ConfdErrorCase{"NeitherInstancesNorLogs", "init_config:\n  x: 1\n",
                       "1:1: instances: missing required key: a configuration needs 'instances' "
                       "(a check) or 'logs' (log sources)"},
        ConfdErrorCase{"InstancesNotAList", "instances: 3\n",
                       "1:12: instances: expected a list of instances"},
        ConfdErrorCase{"InstanceNotAMapping", "instances:\n  - 3\n",
                       "2:5: instances[0]: expected a mapping"},
        ConfdErrorCase{"LogWithoutType", "logs:\n  - path: /var/log/x.log\n",
                       "2:5: logs[0].type: missing required key (one of: file, tcp, udp, "
                       "journald)"},
        ConfdErrorCase{"LogUnknownType", "logs:\n  - type: windows_event\n",
                       "2:11: logs[0].type: \"windows_event\" is not one of: file, tcp, udp, "
                       "journald"},
        ConfdErrorCase{"FileWithoutPath", "logs:\n  - type: file\n    service: x\n",
                       "2:5: logs[0].path: missing required key for type: file"},
        ConfdErrorCase{"TcpWithoutPort", "logs:\n  - type: file\n    path: /a\n  - type: tcp\n",
                       "4:5: logs[1].port: missing required key for type: tcp"},
        ConfdErrorCase{"BadPort", "logs:\n  - type: udp\n    port: 70000\n",
                       "3:11: logs[0].port: expected a port between 1 and 65535"},
        ConfdErrorCase{"ServiceNotAString",
                       "logs:\n  - type: file\n    path: /a\n    service: [a, b]\n",
                       "4:14: logs[0].service: expected a string"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ConfdTest, UnknownTopLevelKeysAndEmptyFilesWarn) {
  TempDir dir;
  const std::string a =
      dir.write("a.d/conf.yaml", "instance:\n  - x: 1\nlogs:\n  - type: journald\n");
  const std::string b = dir.write("b.d/conf.yaml", "");
  const Confd c = load(dir);
  ASSERT_TRUE(c.errors.empty());
  ASSERT_EQ(c.warnings.size(), 2u);
  EXPECT_EQ(c.warnings[0].format(),
            a + ":1:1: instance: unknown key, ignored (did you mean 'instances'?)");
  EXPECT_EQ(c.warnings[1].format(), b + ": empty file, ignored");
  EXPECT_EQ(c.entries.size(), 1u);
}

TEST(ConfdTest, MissingDirectoryWarnsOnlyWhenConfigured) {
  Confd c;
  loadConfd("/nonexistent/conf.d", true, c.entries, c.errors, c.warnings);
  EXPECT_TRUE(c.warnings.empty());
  loadConfd("/nonexistent/conf.d", false, c.entries, c.errors, c.warnings);
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_EQ(c.warnings[0].format(),
            "/nonexistent/conf.d: confd_path: not a directory: no checks or log sources are "
            "configured");
}

}  // namespace
}  // namespace outpost
