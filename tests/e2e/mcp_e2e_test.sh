#!/usr/bin/env bash
# End to end, MCP: a real MCP client from outside the project (the npm @modelcontextprotocol/sdk
# Client with its StdioClientTransport) spawns outpost-mcp against a running `outpost run` (local
# mode) that tails a generated log file, receives DogStatsD metrics and an APM trace; it lists
# the tools and calls each with real arguments (the SDK checks every structuredContent against
# the tool's outputSchema), checking the answers against what was fed in.
#
#   mcp_e2e_test.sh OUTPOST_BIN FAKEINTAKE_BIN WORK_DIR OUTPOST_MCP_BIN
#
# Needs node and npm and the npm registry: the SDK is installed with `npm ci` from
# tests/e2e/mcp/package-lock.json into WORK_DIR/npm (kept between runs).
set -euo pipefail

E2E_NAME=mcp_e2e
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$1" "$2" "$3"
MCP=$4
[ -x "$MCP" ] || fail "not an executable: $MCP"
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/mcp" && pwd)

e2e_npm_ci "$SRC" @modelcontextprotocol/sdk

free_port() {
  node -e '
    const kind = process.argv[1];
    const done = (p) => { console.log(p); process.exit(0); };
    if (kind === "udp") {
      const s = require("dgram").createSocket("udp4");
      s.bind(0, "127.0.0.1", () => { const p = s.address().port; s.close(); done(p); });
    } else {
      const s = require("net").createServer();
      s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => done(p)); });
    }' "$1"
}

# The log file: five payment errors between other lines, stamped a minute ago.
LOG=$RUN_DIR/app.log
stamp=$(date -u -d '-1 min' +%Y-%m-%dT%H:%M:%SZ)
: >"$LOG"
for i in 1 2 3 4 5; do
  echo "$stamp web-1 shop[42]: request ok n=$i" >>"$LOG"
  echo "$stamp web-1 shop[42]: ERROR payment failed order=$i" >>"$LOG"
done

write_config() {
  DSD_PORT=$(free_port udp)
  APM_PORT=$(free_port tcp)
  mkdir -p "$RUN_DIR/conf/conf.d/shop.d"
  printf 'logs:\n  - type: file\n    path: %s\n    service: shop\n    source: shop\n    start_position: beginning\n' \
    "$LOG" >"$RUN_DIR/conf/conf.d/shop.d/conf.yaml"
  printf 'hostname: %s\nrun_path: %s\nlog_level: info\nlogs_enabled: true\nuse_dogstatsd: true\ndogstatsd_port: %s\ndogstatsd_flush_interval: 2\napm_config:\n  receiver_port: %s\n' \
    "$HOST" "$RUN_DIR/state" "$DSD_PORT" "$APM_PORT" >"$RUN_DIR/conf/outpost.yaml"
}

e2e_start_with_retries write_config
SOCKET=$RUN_DIR/state/query.sock
echo "mcp_e2e: outpost (pid $OUTPOST_PID) ready: DogStatsD $DSD_PORT/udp, APM $APM_PORT, $SOCKET"

if node "$SRC/client.js" "$MCP" "$SOCKET" "$DSD_PORT" "$APM_PORT" "$LOG"; then
  kill -0 "$OUTPOST_PID" 2>/dev/null || fail "outpost exited during the test"
  echo "mcp_e2e: 1 passed, 0 failed"
else
  fail "the MCP client's checks failed (see above)"
fi
