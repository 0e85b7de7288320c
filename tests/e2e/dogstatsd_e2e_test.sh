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

E2E_NAME=dogstatsd_e2e
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_init "$@"
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/dogstatsd" && pwd)

# 1. hot-shots, exactly as locked (no unix-dgram addon: UDP only).
e2e_npm_ci "$SRC" hot-shots

# 2. The fake intake.
e2e_start_fakeintake

# 3. outpost, on a free UDP port (bound and released by node; retried if outpost loses the race).
free_udp_port() {
  node -e '
    const s = require("dgram").createSocket("udp4");
    s.bind(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

write_config() {
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
}

e2e_start_with_retries write_config
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
