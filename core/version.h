#pragma once

#include <string>

namespace outpost {

// `outpost version`: version, git commit, build type and the versions of the linked libraries.
std::string versionReport();
// "0.1.0" — also sent as DD-Agent-Version / in the User-Agent by the forwarder.
const char* versionString();

}  // namespace outpost
