#pragma once

namespace outpost {

// `outpost COMMAND [options]`: run, configcheck, version. Returns the process exit code.
int cliMain(int argc, char** argv);

}  // namespace outpost
