# Shared by the end-to-end tests (sourced, not run): a real client from outside the project
# against a running `outpost run` and outpost-fakeintake, all on loopback.
#
#   E2E_NAME=traces_e2e; source lib.sh; e2e_init OUTPOST_BIN FAKEINTAKE_BIN WORK_DIR
#
# Globals after e2e_init: OUTPOST, FAKEINTAKE, WORK, NPM_DIR, RUN_DIR (fresh), HOST, API_KEY;
# after e2e_start_fakeintake: INTAKE_PORT, INTAKE; after e2e_launch_outpost: OUTPOST_PID.
# E2E_LOGS lists the files fail() prints the end of.

HOST=outpost-e2e-host
API_KEY=e2e0123456789abcdef0123456789abcd
pids=()
E2E_LOGS=()

e2e_cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}

fail() {
  echo "$E2E_NAME: $*" >&2
  local f
  for f in "$RUN_DIR/outpost.err" "$RUN_DIR/fakeintake.err" "${E2E_LOGS[@]}"; do
    if [ -s "$f" ]; then
      echo "--- last lines of $f" >&2
      tail -n 30 "$f" >&2
    fi
  done
  echo "$E2E_NAME: 0 passed, 1 failed"
  exit 1
}

e2e_init() {
  if [ $# -ne 3 ]; then
    echo "usage: $0 OUTPOST_BIN FAKEINTAKE_BIN WORK_DIR" >&2
    exit 2
  fi
  OUTPOST=$1
  FAKEINTAKE=$2
  WORK=$3
  NPM_DIR=$WORK/npm
  RUN_DIR=$WORK/run
  trap e2e_cleanup EXIT
  local tool
  for tool in node npm; do
    command -v "$tool" >/dev/null ||
      fail "$tool not found (Debian: apt-get install nodejs npm; ./dev installs them)"
  done
  [ -x "$OUTPOST" ] || fail "not an executable: $OUTPOST"
  [ -x "$FAKEINTAKE" ] || fail "not an executable: $FAKEINTAKE"
  rm -rf "$RUN_DIR"
  mkdir -p "$RUN_DIR/conf/conf.d" "$RUN_DIR/state"
}

# e2e_npm_ci SRC_DIR PACKAGE: installs SRC_DIR's package-lock.json exactly, outside the source
# tree (kept between runs; reinstalled when the lock file changes), without optional
# dependencies (native addons) or install scripts; exports NODE_PATH.
e2e_npm_ci() {
  local src=$1 package=$2
  mkdir -p "$NPM_DIR"
  if ! cmp -s "$src/package-lock.json" "$NPM_DIR/package-lock.json" ||
     [ ! -f "$NPM_DIR/node_modules/$package/package.json" ]; then
    cp "$src/package.json" "$src/package-lock.json" "$NPM_DIR/"
    echo "$E2E_NAME: npm ci in $NPM_DIR"
    (cd "$NPM_DIR" && npm ci --no-audit --no-fund --omit=optional --ignore-scripts) >&2 ||
      fail "npm ci failed"
  fi
  export NODE_PATH=$NPM_DIR/node_modules
  echo "$E2E_NAME: $package $(node -p "require(\"$package/package.json\").version")," \
    "node $(node --version)"
}

# The fake intake, on a port of its own choosing. The output files are created before the
# process starts: a background job opens its redirections after the fork, so a first read could
# otherwise find no file (set -e then ends the test).
e2e_start_fakeintake() {
  : >"$RUN_DIR/fakeintake.out"
  : >"$RUN_DIR/fakeintake.err"
  "$FAKEINTAKE" --host 127.0.0.1 --port 0 >"$RUN_DIR/fakeintake.out" 2>"$RUN_DIR/fakeintake.err" &
  local pid=$!
  pids+=("$pid")
  INTAKE_PORT=
  for _ in $(seq 100); do
    INTAKE_PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
      "$RUN_DIR/fakeintake.out")
    [ -n "$INTAKE_PORT" ] && break
    kill -0 "$pid" 2>/dev/null || fail "outpost-fakeintake exited"
    sleep 0.1
  done
  [ -n "$INTAKE_PORT" ] || fail "outpost-fakeintake did not print its port within 10 s"
  INTAKE=http://127.0.0.1:$INTAKE_PORT
  echo "$E2E_NAME: fake intake at $INTAKE"
}

# Starts `outpost run` on $RUN_DIR/conf (written by the caller) with no DD_* variable of the
# caller's, and waits for "ready". Returns 1 if it exits first (a port lost to a race).
e2e_launch_outpost() {
  : >"$RUN_DIR/outpost.out"
  : >"$RUN_DIR/outpost.err"
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

# e2e_start_with_retries WRITE_CONFIG_FUNCTION: picks ports and starts outpost, up to 3 times.
e2e_start_with_retries() {
  local attempt
  for attempt in 1 2 3; do
    "$1"
    if e2e_launch_outpost; then
      return 0
    fi
    wait "$OUTPOST_PID" 2>/dev/null || true
    echo "$E2E_NAME: outpost exited at start (attempt $attempt); retrying on another port" >&2
    tail -n 5 "$RUN_DIR/outpost.err" >&2
  done
  fail "outpost did not start"
}
