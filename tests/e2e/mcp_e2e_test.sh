#!/usr/bin/env bash
# End to end, MCP: a real MCP client from outside the project (the npm @modelcontextprotocol/sdk
# Client with its StdioClientTransport) spawns outpost-mcp against a running `outpost run` (local
# mode) that tails a generated log file, receives DogStatsD metrics and an APM trace; it lists
# the tools and calls each with real arguments (the SDK checks every structuredContent against
# the tool's outputSchema), checking the answers against what was fed in.
#
#   mcp_e2e_test.sh OUTPOST_BIN FAKEINTAKE_BIN WORK_DIR OUTPOST_MCP_BIN
#
# Then the MCP Inspector's CLI (`npx @modelcontextprotocol/inspector --cli`) lists the tools and
# calls search_logs.
#
# Needs node and npm and the npm registry: the SDK and the Inspector are installed with `npm ci`
# from tests/e2e/mcp/package-lock.json into WORK_DIR/npm (kept between runs).
set -euo pipefail

E2E_NAME=mcp_e2e
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$1" "$2" "$3"
MCP=$4
[ -x "$MCP" ] || fail "not an executable: $MCP"
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/mcp" && pwd)

e2e_npm_ci "$SRC" @modelcontextprotocol/sdk
[ -f "$NPM_DIR/node_modules/@modelcontextprotocol/inspector/package.json" ] ||
  fail "npm ci did not install @modelcontextprotocol/inspector"

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

node "$SRC/client.js" "$MCP" "$SOCKET" "$DSD_PORT" "$APM_PORT" "$LOG" ||
  fail "the MCP client's checks failed (see above)"

# The MCP Inspector's CLI (as `npx @modelcontextprotocol/inspector --cli` runs it, from the
# packages installed above): tools/list, then search_logs in both orders.
inspector() {
  local out=$1
  shift
  (cd "$NPM_DIR" && timeout 60 npx --no-install @modelcontextprotocol/inspector --cli "$MCP" \
    --socket "$SOCKET" "$@") >"$RUN_DIR/$out.json" 2>"$RUN_DIR/$out.err" ||
    fail "the Inspector CLI failed ($*): $(tail -5 "$RUN_DIR/$out.err")"
}
inspector inspector-tools --method tools/list
inspector inspector-search --method tools/call --tool-name search_logs \
  --tool-arg 'query=ERROR payment' --tool-arg from=-1h
inspector inspector-search-desc --method tools/call --tool-name search_logs \
  --tool-arg 'query=ERROR payment' --tool-arg from=-1h --tool-arg order=desc --tool-arg limit=2
node - "$RUN_DIR" <<'JS' || fail "the Inspector CLI's answers are not what was fed in (see above)"
const fs = require('fs');
const dir = process.argv[2];
const read = (name) => JSON.parse(fs.readFileSync(`${dir}/${name}.json`, 'utf8'));
let failed = 0;
const check = (what, ok) => {
  console.log(`mcp_e2e: inspector: ${ok ? 'ok' : 'FAILED'}: ${what}`);
  if (!ok) failed++;
};
const tools = read('inspector-tools').tools;
const names = tools.map((t) => t.name).sort();
check('tools/list names the 11 tools', JSON.stringify(names) === JSON.stringify([
  'agent_status', 'aggregate_logs', 'get_trace', 'list_checks', 'list_log_sources',
  'list_metrics', 'query_metrics', 'read_search_results', 'search_logs', 'search_traces',
  'tail_logs']));
check('every tool is read-only with a closed input schema', tools.every((t) =>
  t.annotations.readOnlyHint === true && t.inputSchema.additionalProperties === false &&
  t.outputSchema.type === 'object'));
const orders = (r) => r.structuredContent.results.map((h) => Number(/order=(\d+)/.exec(h.line)[1]));
const asc = read('inspector-search');
check('search_logs finds the five errors in order',
  asc.isError === false && JSON.stringify(orders(asc)) === '[1,2,3,4,5]');
check('its text content is the structured content',
  JSON.stringify(JSON.parse(asc.content[0].text)) === JSON.stringify(asc.structuredContent));
const desc = read('inspector-search-desc');
check('search_logs order=desc limit=2 gives the last two, newest first, and a cursor',
  desc.isError === false && JSON.stringify(orders(desc)) === '[5,4]' &&
  typeof desc.structuredContent.next_cursor === 'string');
process.exit(failed === 0 ? 0 : 1);
JS

kill -0 "$OUTPOST_PID" 2>/dev/null || fail "outpost exited during the test"
echo "mcp_e2e: 1 passed, 0 failed"
