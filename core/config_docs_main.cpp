// outpost-config-docs markdown|example: prints the configuration reference or the example
// outpost.yaml, both generated from the schema table.
#include <cstdio>
#include <cstring>

#include "core/config_render.h"

int main(int argc, char** argv) {
  if (argc == 2 && std::strcmp(argv[1], "markdown") == 0) {
    std::fputs(outpost::renderConfigReference().c_str(), stdout);
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "example") == 0) {
    std::fputs(outpost::renderExampleConfig().c_str(), stdout);
    return 0;
  }
  std::fputs("usage: outpost-config-docs markdown|example\n", stderr);
  return 2;
}
