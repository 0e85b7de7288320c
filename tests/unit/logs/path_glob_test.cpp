#include "collector/sources/logs/path_glob.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/support/test_support.h"

namespace outpost::logs {
namespace {

using outpost::testing::TempDir;

std::vector<std::string> paths(const std::vector<GlobMatch>& matches) {
  std::vector<std::string> out;
  for (const GlobMatch& m : matches) {
    out.push_back(m.path);
  }
  return out;
}

std::vector<std::string> glob(const std::string& pattern,
                              const std::vector<std::string>& exclude = {}, size_t max = 0,
                              bool* truncated_out = nullptr) {
  bool truncated = true;
  std::string error;
  auto out = paths(expandGlob(pattern, exclude, max, &truncated, &error));
  EXPECT_EQ(error, "");
  if (truncated_out != nullptr) {
    *truncated_out = truncated;
  } else {
    EXPECT_FALSE(truncated);
  }
  return out;
}

void setMtime(const std::string& path, int64_t sec) {
  const timespec times[2] = {{sec, 0}, {sec, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

TEST(PathGlob, HasWildcard) {
  EXPECT_FALSE(hasWildcard("/var/log/app.log"));
  EXPECT_TRUE(hasWildcard("/var/log/*.log"));
  EXPECT_TRUE(hasWildcard("/var/log/app?.log"));
  EXPECT_TRUE(hasWildcard("/var/log/app[12].log"));
  EXPECT_TRUE(hasWildcard("/var/*/app.log"));
}

TEST(PathGlob, LiteralPath) {
  TempDir dir;
  const std::string p = dir.write("app.log", "12345");
  bool truncated = true;
  std::string error;
  const auto m = expandGlob(p, {}, 0, &truncated, &error);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].path, p);
  EXPECT_EQ(m[0].size, 5u);
  EXPECT_GT(m[0].mtime_ns, 0);
  EXPECT_FALSE(truncated);
  EXPECT_EQ(glob(dir.file("missing.log")), std::vector<std::string>{});
  EXPECT_EQ(glob(dir.path()), std::vector<std::string>{});  // a directory is no match
  // Doubled slashes are collapsed.
  EXPECT_EQ(glob(dir.path() + "//app.log"), std::vector<std::string>{p});
}

TEST(PathGlob, WildcardsInSeveralComponents) {
  TempDir dir;
  dir.write("svc-a/logs/app.log", "");
  dir.write("svc-a/logs/app.txt", "");
  dir.write("svc-b/logs/app.log", "");
  dir.write("svc-b/other/app.log", "");
  dir.write("web/logs/app.log", "");
  dir.write("svc-c/logs/sub/app.log", "");
  const auto got = glob(dir.path() + "/svc-*/logs/*.log");
  EXPECT_EQ(got, (std::vector<std::string>{dir.file("svc-a/logs/app.log"),
                                           dir.file("svc-b/logs/app.log")}));
  EXPECT_EQ(
      glob(dir.path() + "/*/*/app.log"),
      (std::vector<std::string>{dir.file("svc-a/logs/app.log"), dir.file("svc-b/logs/app.log"),
                                dir.file("svc-b/other/app.log"), dir.file("web/logs/app.log")}));
  // A wildcard never crosses '/'.
  EXPECT_EQ(glob(dir.path() + "/svc-c/*/app.log"), std::vector<std::string>{});
}

TEST(PathGlob, QuestionMarkAndBrackets) {
  TempDir dir;
  for (const char* n : {"a1.log", "a2.log", "a3.log", "a10.log", "b1.log", "c1.log"}) {
    dir.write(n, "");
  }
  EXPECT_EQ(glob(dir.path() + "/a?.log"),
            (std::vector<std::string>{dir.file("a1.log"), dir.file("a2.log"), dir.file("a3.log")}));
  EXPECT_EQ(glob(dir.path() + "/[ab]1.log"),
            (std::vector<std::string>{dir.file("a1.log"), dir.file("b1.log")}));
  EXPECT_EQ(glob(dir.path() + "/a[!12].log"), std::vector<std::string>{dir.file("a3.log")});
  EXPECT_EQ(glob(dir.path() + "/a[1-2].log"),
            (std::vector<std::string>{dir.file("a1.log"), dir.file("a2.log")}));
}

TEST(PathGlob, Excludes) {
  TempDir dir;
  dir.write("a/app.log", "");
  dir.write("a/debug.log", "");
  dir.write("b/app.log", "");
  dir.write("b/app.log.1", "");
  const auto got = glob(dir.path() + "/*/*", {dir.path() + "/*/debug.log", dir.path() + "/b/*.1"});
  EXPECT_EQ(got, (std::vector<std::string>{dir.file("a/app.log"), dir.file("b/app.log")}));
  // FNM_PATHNAME: '*' in an exclude does not cross directories.
  EXPECT_EQ(glob(dir.path() + "/*/app.log", {dir.path() + "/*"}),
            (std::vector<std::string>{dir.file("a/app.log"), dir.file("b/app.log")}));
}

TEST(PathGlob, Symlinks) {
  TempDir dir;
  const std::string target = dir.write("real/target.log", "data");
  dir.write("logs/plain.log", "");
  ASSERT_EQ(::symlink(target.c_str(), dir.file("logs/link.log").c_str()), 0);
  ASSERT_EQ(::symlink(dir.file("nowhere").c_str(), dir.file("logs/dangling.log").c_str()), 0);
  ASSERT_EQ(::symlink(dir.file("real").c_str(), dir.file("logs/dirlink.log").c_str()), 0);
  ASSERT_EQ(::symlink(dir.file("real").c_str(), dir.file("linked-dir").c_str()), 0);
  bool truncated = true;
  std::string error;
  const auto m = expandGlob(dir.path() + "/logs/*.log", {}, 0, &truncated, &error);
  // The link to a file matches under its own name with the target's size; a dangling link and
  // a link to a directory do not.
  ASSERT_EQ(paths(m),
            (std::vector<std::string>{dir.file("logs/link.log"), dir.file("logs/plain.log")}));
  EXPECT_EQ(m[0].size, 4u);
  // A symlinked directory is walked through.
  EXPECT_EQ(glob(dir.path() + "/linked-*/*.log"),
            std::vector<std::string>{dir.file("linked-dir/target.log")});
}

TEST(PathGlob, HiddenFiles) {
  TempDir dir;
  dir.write("logs/.hidden.log", "");
  dir.write("logs/shown.log", "");
  dir.write(".cache/x.log", "");
  EXPECT_EQ(glob(dir.path() + "/logs/*"), std::vector<std::string>{dir.file("logs/shown.log")});
  EXPECT_EQ(glob(dir.path() + "/logs/?hidden.log"), std::vector<std::string>{});
  EXPECT_EQ(glob(dir.path() + "/logs/.*"), std::vector<std::string>{dir.file("logs/.hidden.log")});
  EXPECT_EQ(glob(dir.path() + "/*/x.log"), std::vector<std::string>{});
  EXPECT_EQ(glob(dir.path() + "/.c*/x.log"), std::vector<std::string>{dir.file(".cache/x.log")});
  // A literal hidden component needs no wildcard.
  EXPECT_EQ(glob(dir.path() + "/.cache/*.log"), std::vector<std::string>{dir.file(".cache/x.log")});
}

TEST(PathGlob, MaxResultsKeepsTheFirstByPath) {
  TempDir dir;
  // "a-b/x" sorts before "a/x" ('-' < '/'): the walk must agree with a full-path sort.
  dir.write("a/x.log", "");
  dir.write("a-b/x.log", "");
  dir.write("a0/x.log", "");
  dir.write("b/x.log", "");
  EXPECT_EQ(glob(dir.path() + "/*/x.log"),
            (std::vector<std::string>{dir.file("a-b/x.log"), dir.file("a/x.log"),
                                      dir.file("a0/x.log"), dir.file("b/x.log")}));
  bool truncated = false;
  EXPECT_EQ(glob(dir.path() + "/*/x.log", {}, 2, &truncated),
            (std::vector<std::string>{dir.file("a-b/x.log"), dir.file("a/x.log")}));
  EXPECT_TRUE(truncated);
  EXPECT_EQ(glob(dir.path() + "/*/x.log", {}, 4, &truncated).size(), 4u);
  EXPECT_FALSE(truncated);
  // Excluded paths do not count.
  EXPECT_EQ(glob(dir.path() + "/*/x.log", {dir.path() + "/a-b/*"}, 2, &truncated),
            (std::vector<std::string>{dir.file("a/x.log"), dir.file("a0/x.log")}));
  EXPECT_TRUE(truncated);
}

TEST(PathGlob, InvalidPatterns) {
  for (const std::string& bad : {std::string(""), std::string("relative/*.log"),
                                 std::string("*.log"), std::string("/var/log/a\0b", 12)}) {
    bool truncated = true;
    std::string error;
    EXPECT_TRUE(expandGlob(bad, {}, 0, &truncated, &error).empty());
    EXPECT_NE(error, "") << bad;
    EXPECT_FALSE(truncated);
  }
  // Odd but valid: no match, no error.
  EXPECT_EQ(glob("/"), std::vector<std::string>{});
  EXPECT_EQ(glob("/nonexistent-dir-outpost/*/[/x"), std::vector<std::string>{});
}

TEST(PathGlob, UnreadableDirectoryIsNoMatch) {
  TempDir dir;
  dir.write("locked/app.log", "");
  dir.write("open/app.log", "");
  ASSERT_EQ(::chmod(dir.file("locked").c_str(), 0), 0);
  const auto got = glob(dir.path() + "/*/*.log");
  ::chmod(dir.file("locked").c_str(), 0755);
  if (::geteuid() == 0) {
    EXPECT_EQ(got.size(), 2u);  // root reads it anyway
  } else {
    EXPECT_EQ(got, std::vector<std::string>{dir.file("open/app.log")});
  }
}

TEST(PathGlob, TenThousandFiles) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("many"));
  for (int i = 0; i < 10'000; ++i) {
    const std::string p = dir.file(fmt::format("many/f{:05}.log", i));
    FILE* f = std::fopen(p.c_str(), "w");
    ASSERT_NE(f, nullptr);
    std::fclose(f);
  }
  dir.write("many/skip.txt", "");
  const auto got = glob(dir.path() + "/m*/*.log");
  ASSERT_EQ(got.size(), 10'000u);
  EXPECT_EQ(got.front(), dir.file("many/f00000.log"));
  EXPECT_EQ(got.back(), dir.file("many/f09999.log"));
  bool truncated = false;
  const auto first = glob(dir.path() + "/many/*.log", {}, 500, &truncated);
  ASSERT_EQ(first.size(), 500u);
  EXPECT_TRUE(truncated);
  EXPECT_EQ(first.back(), dir.file("many/f00499.log"));
}

TEST(PathGlob, RotatedSiblingsNewestFirst) {
  TempDir dir;
  const std::string log = dir.write("app.log", "current");
  dir.write("app.log.1", "");
  dir.write("app.log.2.gz", "");
  dir.write("app.log-20240101", "");
  dir.write("app.log_old", "");
  dir.write("app.logx", "");  // not a suffix after a separator
  dir.write("other.log.1", "");
  std::filesystem::create_directories(dir.file("app.log.d"));
  setMtime(dir.file("app.log.1"), 1'700'000'300);
  setMtime(dir.file("app.log.2.gz"), 1'700'000'100);
  setMtime(dir.file("app.log-20240101"), 1'700'000'200);
  setMtime(dir.file("app.log_old"), 1'700'000'100);
  const auto got = rotatedSiblings(log);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].path, dir.file("app.log.1"));
  EXPECT_EQ(got[0].mtime_ns, 1'700'000'300'000'000'000);
  EXPECT_FALSE(got[0].compressed);
  EXPECT_EQ(got[1].path, dir.file("app.log-20240101"));
  EXPECT_EQ(got[2].path, dir.file("app.log.2.gz"));  // equal mtimes: by name
  EXPECT_TRUE(got[2].compressed);
  EXPECT_EQ(got[3].path, dir.file("app.log_old"));
  EXPECT_FALSE(got[3].compressed);
  EXPECT_TRUE(rotatedSiblings(dir.file("missing-dir/app.log")).empty());
}

TEST(PathGlob, FindRenamed) {
  TempDir dir;
  const std::string log = dir.write("app.log", "the first lines\n");
  FileIdentity id;
  std::string error;
  ASSERT_TRUE(identify(log, &id, &error)) << error;
  dir.write("app.log.2", "older\n");
  ASSERT_EQ(std::rename(log.c_str(), dir.file("app.log.1").c_str()), 0);
  dir.write("app.log", "a new file\n");
  EXPECT_EQ(findRenamed(log, id), dir.file("app.log.1"));
  ASSERT_EQ(::unlink(dir.file("app.log.1").c_str()), 0);
  EXPECT_EQ(findRenamed(log, id), std::nullopt);
}

}  // namespace
}  // namespace outpost::logs
