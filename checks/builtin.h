#pragma once

#include <memory>

#include "checks/check.h"

// The factories of the built-in checks, one source file each.
namespace outpost::checks {

std::unique_ptr<Check> makeCpuCheck(const HostPaths& paths);
std::unique_ptr<Check> makeLoadCheck(const HostPaths& paths);
std::unique_ptr<Check> makeMemoryCheck(const HostPaths& paths);
std::unique_ptr<Check> makeUptimeCheck(const HostPaths& paths);
std::unique_ptr<Check> makeFileHandleCheck(const HostPaths& paths);
std::unique_ptr<Check> makeDiskCheck(const HostPaths& paths);
std::unique_ptr<Check> makeIoCheck(const HostPaths& paths);
std::unique_ptr<Check> makeNetworkCheck(const HostPaths& paths);
std::unique_ptr<Check> makeProcessCheck(const HostPaths& paths);

// The number of CPUs as /proc/stat lists them (cpuN lines); at least 1.
int cpuCount(const HostPaths& paths);

}  // namespace outpost::checks
