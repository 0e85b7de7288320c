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

E2E_NAME=traces_e2e
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
E2E_LOGS=("$RUN_DIR/app.log")
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/traces" && pwd)

# 1. dd-trace, exactly as locked (no native addons for profiling, AppSec, ...).
e2e_npm_ci "$SRC" dd-trace

# 2. The fake intake.
e2e_start_fakeintake

# 3. outpost, on a free TCP port (bound and released by node; retried if outpost loses the race).
free_tcp_port() {
  node -e '
    const s = require("net").createServer();
    s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

write_config() {
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
}

e2e_start_with_retries write_config
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
e2e_start_with_retries write_config

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
