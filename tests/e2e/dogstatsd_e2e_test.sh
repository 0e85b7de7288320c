#!/usr/bin/env bash
# End to end, DogStatsD: a real client from outside the project (the npm hot-shots package) sends
# every metric type, an event and a service check to a running `outpost run`, which flushes them
# to outpost-fakeintake; tests/e2e/dogstatsd/check.js checks the decoded series, sketches, check
# run and event (names, values, types, intervals, tags, host).
#
#   dogstatsd_e2e_test.sh OUTPOST_BIN FAKEINTAKE_BIN WORK_DIR
#
# Needs node and npm (Debian: nodejs npm, in ./dev's PACKAGES) and the npm registry: hot-shots
# is installed with `npm ci` from tests/e2e/dogstatsd/package-lock.json into WORK_DIR/npm (kept
# there between runs; reinstalled when the lock file changes). Nothing leaves the machine:
# every intake URL points at the fake intake.
set -euo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 OUTPOST_BIN FAKEINTAKE_BIN WORK_DIR" >&2
  exit 2
fi
OUTPOST=$1
FAKEINTAKE=$2
WORK=$3
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/dogstatsd" && pwd)
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
  echo "dogstatsd_e2e: $*" >&2
  for f in "$RUN_DIR/outpost.err" "$RUN_DIR/fakeintake.err"; do
    if [ -s "$f" ]; then
      echo "--- last lines of $f" >&2
      tail -n 30 "$f" >&2
    fi
  done
  echo "dogstatsd_e2e: 0 passed, 1 failed"
  exit 1
}

for tool in node npm; do
  command -v "$tool" >/dev/null || fail "$tool not found (Debian: apt-get install nodejs npm; ./dev installs them)"
done
[ -x "$OUTPOST" ] || fail "not an executable: $OUTPOST"
[ -x "$FAKEINTAKE" ] || fail "not an executable: $FAKEINTAKE"

# 1. hot-shots, exactly as locked, outside the source tree.
mkdir -p "$NPM_DIR"
if ! cmp -s "$SRC/package-lock.json" "$NPM_DIR/package-lock.json" ||
   [ ! -f "$NPM_DIR/node_modules/hot-shots/package.json" ]; then
  cp "$SRC/package.json" "$SRC/package-lock.json" "$NPM_DIR/"
  echo "dogstatsd_e2e: npm ci in $NPM_DIR"
  # No optional dependencies (unix-dgram, a native addon for UDS) and no install scripts: UDP only.
  (cd "$NPM_DIR" && npm ci --no-audit --no-fund --omit=optional --ignore-scripts) >&2 ||
    fail "npm ci failed"
fi
export NODE_PATH=$NPM_DIR/node_modules
echo "dogstatsd_e2e: hot-shots $(node -p 'require("hot-shots/package.json").version')," \
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
echo "dogstatsd_e2e: fake intake at $INTAKE"

# 3. outpost, on a free UDP port (bound and released by node; retried if outpost loses the race).
free_udp_port() {
  node -e '
    const s = require("dgram").createSocket("udp4");
    s.bind(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

start_outpost() {
  DSD_PORT=$(free_udp_port)
  cat >"$RUN_DIR/conf/outpost.yaml" <<EOF
api_key: $API_KEY
hostname: $HOST
dd_url: $INTAKE
logs_config:
  logs_dd_url: $INTAKE
apm_config:
  apm_dd_url: $INTAKE
  receiver_port: 0
run_path: $RUN_DIR/state
log_level: info
use_dogstatsd: true
dogstatsd_port: $DSD_PORT
dogstatsd_tags:
  - e2e_extra:yes
# Outpost's own key: flush every 2 s instead of 15 (older builds warn and use 15).
dogstatsd_flush_interval: 2
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
  echo "dogstatsd_e2e: outpost exited at start (attempt $attempt); retrying on another port" >&2
  tail -n 5 "$RUN_DIR/outpost.err" >&2
done
[ -n "$started" ] || fail "outpost did not start"
echo "dogstatsd_e2e: outpost (pid $OUTPOST_PID) ready, DogStatsD on 127.0.0.1:$DSD_PORT/udp"

# Is it listening? /proc/net/udp lists bound sockets with the port in hex.
hex_port=$(printf '%04X' "$DSD_PORT")
grep -q "^ *[0-9]*: [0-9A-F]*:$hex_port " /proc/net/udp /proc/net/udp6 2>/dev/null ||
  fail "nothing listens on UDP port $DSD_PORT: is dogstatsd wired into outpost run?"

# 4. The client: hot-shots, plain UDP, with no DD_* variable to switch on its Datadog mode.
env $(env | sed -n 's/^\(DD_[A-Za-z0-9_]*\)=.*/-u \1/p') node "$SRC/send.js" "$DSD_PORT" ||
  fail "send.js failed"

# 5. What the intake received: polls up to 45 s (the default flush interval is 15 s, buckets 10 s).
if node "$SRC/check.js" "$INTAKE_PORT" "$HOST" "$API_KEY" 45; then
  kill -0 "$OUTPOST_PID" 2>/dev/null || fail "outpost exited during the test"
  echo "dogstatsd_e2e: 1 passed, 0 failed"
else
  fail "the fake intake did not receive what was sent (see the checks above)"
fi
