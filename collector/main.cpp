#include "collector/cli.h"

int main(int argc, char** argv) {
  return outpost::cliMain(argc, argv);
}
