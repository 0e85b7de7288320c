#!/usr/bin/env bash
# End to end, APM traces: a real tracer from outside the project (the npm dd-trace package,
# unmodified) sends nested spans with an error span, tags and metrics to a running `outpost run`
# (DD_TRACE_AGENT_URL), which ships AgentPayloads and APM stats to outpost-fakeintake;
# tests/e2e/traces/check.js compares what arrived with what tests/e2e/traces/app.js created
# (ids, parent ids, names, resources, services, meta, metrics, error flags; stats hits, errors,
# durations). The tracer runs with its debug log on; an error it logs against the agent fails
# the test.
#
#   traces_e2e_test.sh OUTPOST_BIN FAKEINTAKE_BIN WORK_DIR
#
# Needs node and npm (./dev installs them) and the npm registry: dd-trace is installed with
# `npm ci` from tests/e2e/traces/package-lock.json into WORK_DIR/npm (kept between runs). Nothing
# leaves the machine: every intake URL points at the fake intake.
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 OUTPOST_BIN FAKEINTAKE_BIN WORK_DIR" >&2
  exit 2
fi
OUTPOST=$1
FAKEINTAKE=$2
WORK=$3
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/traces" && pwd)
HOST=outpost-e2e-host
API_KEY=e2e0123456789abcdef0123456789abcd
NPM_DIR=$WORK/npm
RUN_DIR=$WORK/run

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

fail() {
  echo "traces_e2e: $*" >&2
  for f in "$RUN_DIR/outpost.err" "$RUN_DIR/fakeintake.err" "$RUN_DIR/app.log"; do
    if [ -s "$f" ]; then
      echo "--- last lines of $f" >&2
      tail -n 30 "$f" >&2
    fi
  done
  echo "traces_e2e: 0 passed, 1 failed"
  exit 1
}

for tool in node npm; do
  command -v "$tool" >/dev/null || fail "$tool not found (Debian: apt-get install nodejs npm; ./dev installs them)"
done
[ -x "$OUTPOST" ] || fail "not an executable: $OUTPOST"
[ -x "$FAKEINTAKE" ] || fail "not an executable: $FAKEINTAKE"

# 1. dd-trace, exactly as locked, outside the source tree.
mkdir -p "$NPM_DIR"
if ! cmp -s "$SRC/package-lock.json" "$NPM_DIR/package-lock.json" ||
   [ ! -f "$NPM_DIR/node_modules/dd-trace/package.json" ]; then
  cp "$SRC/package.json" "$SRC/package-lock.json" "$NPM_DIR/"
  echo "traces_e2e: npm ci in $NPM_DIR"
  # No optional dependencies (native addons for profiling, AppSec, ...) and no install scripts.
  (cd "$NPM_DIR" && npm ci --no-audit --no-fund --omit=optional --ignore-scripts) >&2 ||
    fail "npm ci failed"
fi
export NODE_PATH=$NPM_DIR/node_modules
echo "traces_e2e: dd-trace $(node -p 'require("dd-trace/package.json").version')," \
  "node $(node --version)"

# 2. The fake intake, on a port of its own choosing.
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR/conf/conf.d" "$RUN_DIR/state"
"$FAKEINTAKE" --host 127.0.0.1 --port 0 >"$RUN_DIR/fakeintake.out" 2>"$RUN_DIR/fakeintake.err" &
pids+=($!)
INTAKE_PORT=
for _ in $(seq 100); do
  INTAKE_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$RUN_DIR/fakeintake.out")
  [ -n "$INTAKE_PORT" ] && break
  kill -0 "${pids[0]}" 2>/dev/null || fail "outpost-fakeintake exited"
  sleep 0.1
done
[ -n "$INTAKE_PORT" ] || fail "outpost-fakeintake did not print its port within 10 s"
INTAKE=http://127.0.0.1:$INTAKE_PORT
echo "traces_e2e: fake intake at $INTAKE"


# 3. outpost, on a free TCP port (bound and released by node; retried if outpost loses the race).
free_tcp_port() {
  node -e '
    const s = require("net").createServer();
    s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

start_outpost() {
  APM_PORT=$(free_tcp_port)
  cat >"$RUN_DIR/conf/outpost.yaml" <<EOF
api_key: $API_KEY
hostname: $HOST
dd_url: $INTAKE
logs_config:
  logs_dd_url: $INTAKE
apm_config:
  apm_dd_url: $INTAKE
  receiver_port: $APM_PORT
  env: agent-env
run_path: $RUN_DIR/state
log_level: info
use_dogstatsd: false
EOF
  # No DD_* variable of the caller's may change the configuration.
  env $(env | sed -n 's/^\(DD_[A-Za-z0-9_]*\)=.*/-u \1/p') \
    "$OUTPOST" run -c "$RUN_DIR/conf" >"$RUN_DIR/outpost.out" 2>"$RUN_DIR/outpost.err" &
  OUTPOST_PID=$!
  pids+=("$OUTPOST_PID")
  for _ in $(seq 300); do
    if grep -q "ready" "$RUN_DIR/outpost.err"; then
      return 0
    fi
    kill -0 "$OUTPOST_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  fail "outpost did not log \"ready\" within 30 s"
}

started=
for attempt in 1 2 3; do
  if start_outpost; then
    started=1
    break
  fi
  wait "$OUTPOST_PID" 2>/dev/null || true
  echo "traces_e2e: outpost exited at start (attempt $attempt); retrying on another port" >&2
  tail -n 5 "$RUN_DIR/outpost.err" >&2
done
[ -n "$started" ] || fail "outpost did not start"
echo "traces_e2e: outpost (pid $OUTPOST_PID) ready, trace receiver on 127.0.0.1:$APM_PORT"

# 4. The traced app with the tracer's debug log on, and no other DD_* variable of the caller's:
#    once with the default protocol (v0.4) and once with v0.5 (the string-table format).
: >"$RUN_DIR/app.log"
for protocol in 0.4 0.5; do
  env $(env | sed -n 's/^\(DD_[A-Za-z0-9_]*\)=.*/-u \1/p') \
    DD_TRACE_AGENT_URL="http://127.0.0.1:$APM_PORT" DD_TRACE_DEBUG=true \
    DD_TRACE_AGENT_PROTOCOL_VERSION=$protocol \
    DD_REMOTE_CONFIGURATION_ENABLED=false DD_CRASHTRACKING_ENABLED=false \
    node "$SRC/app.js" >>"$RUN_DIR/app.log" 2>&1 || fail "app.js failed (protocol $protocol)"
done
grep -q '"path":"/v0.4/traces"' "$RUN_DIR/app.log" || fail "the tracer sent nothing to /v0.4/traces"
grep -q '"path":"/v0.5/traces"' "$RUN_DIR/app.log" || fail "the tracer sent nothing to /v0.5/traces"
grep '^{"traces"' "$RUN_DIR/app.log" >"$RUN_DIR/created.json" ||
  fail "app.js printed no JSON of the spans it created"

# 5. Stop outpost: a graceful stop flushes the trace buffer and every stats bucket into the
#    forwarder, which spools what it has not sent yet; the next start delivers it.
kill -TERM "$OUTPOST_PID"
status=0
wait "$OUTPOST_PID" || status=$?
[ "$status" -eq 0 ] || fail "outpost exited with status $status at stop"
start_outpost || fail "outpost did not start again"

# 6. What the intake received.
node "$SRC/check.js" "$INTAKE_PORT" "$HOST" "$API_KEY" "$RUN_DIR/created.json" 20 ||
  fail "the fake intake did not receive what the tracer sent (see the checks above)"

# 7. The tracer logged no error against us (its /info, trace, stats and telemetry requests).
grep -inE "error|fail|refused|status code [45]|ECONN" "$RUN_DIR/app.log" |
  grep -v '{"traces"' |
  grep -viE "card declined|error\.(message|type|stack)|_dd\.error|\"error\":|Error: card" \
    >"$RUN_DIR/app-errors.log" || true
if [ -s "$RUN_DIR/app-errors.log" ]; then
  echo "--- the tracer logged:" >&2
  head -n 20 "$RUN_DIR/app-errors.log" >&2
  fail "the tracer's debug log has errors"
fi
echo "traces_e2e: 1 passed, 0 failed"
