#!/usr/bin/env bash
# Checks the systemd integration files in systemd/ with systemd's own tools:
#   1. outpost.service        systemd-analyze verify (on a copy whose ExecStart= names the
#                             binary under test: verify fails when that binary is missing)
#   2. outpost.sysusers.conf  systemd-sysusers --dry-run against this host, and, when run as
#                             root, a real run into a throw-away --root to check the result
#   3. outpost.tmpfiles.conf  field check, and, when run as root, systemd-tmpfiles --create
#                             into the same throw-away --root to check modes and owners
#                             (systemd 252 has no tmpfiles --dry-run; newer ones use it)
# It never changes the system: no users are created, nothing is written outside a mktemp dir.
#
# usage: systemd_verify.sh PATH/TO/outpost
# Exit status: 0 all passed, 1 something failed, 2 bad usage, 77 skipped (no systemd tools).
# OUTPOST_SYSTEMD_DIR overrides where the files are read from (default: <repo>/systemd).

set -u -o pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 PATH/TO/outpost" >&2
  exit 2
fi
bin=$(readlink -f -- "$1") || bin=""
if [[ -z $bin || ! -f $bin || ! -x $bin ]]; then
  echo "systemd_verify: '$1' is not an executable file" >&2
  exit 2
fi
if [[ $bin =~ [[:space:]] ]]; then
  echo "systemd_verify: the binary path must not contain whitespace: '$bin'" >&2
  exit 2
fi

script_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
src=${OUTPOST_SYSTEMD_DIR:-$script_dir/../../systemd}
src=$(cd -- "$src" && pwd) || exit 2
unit_src=$src/outpost.service
sysusers_src=$src/outpost.sysusers.conf
tmpfiles_src=$src/outpost.tmpfiles.conf

if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "systemd_verify: SKIP: systemd-analyze not found"
  exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/outpost-systemd-verify.XXXXXX") || exit 1
trap 'rm -rf -- "$tmp"' EXIT
root=$tmp/root  # throw-away filesystem root for sysusers/tmpfiles
mkdir -p "$root/etc"

# Debug-level logging would mention our unit in harmless messages; pin the level the
# checks below were written against.
export SYSTEMD_LOG_LEVEL=info SYSTEMD_LOG_COLOR=0 SYSTEMD_PAGER=cat

passed=0
failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
indent() { sed 's/^/    /'; }
is_root() { [[ $(id -u) -eq 0 ]]; }

# --- 1. outpost.service -----------------------------------------------------------------
check_unit() {
  echo "-- outpost.service: systemd-analyze verify ($(systemd-analyze --version | head -n1))"
  if [[ ! -f $unit_src ]]; then
    fail "outpost.service: $unit_src not found"
    return
  fi
  if ! grep -q '^ExecStart=/usr/bin/outpost ' "$unit_src"; then
    fail "outpost.service: no 'ExecStart=/usr/bin/outpost ...' line to point at the test binary"
    return
  fi
  # Only our unit in this directory: verify adds the unit's directory to the search path.
  local unit_dir=$tmp/unit
  local unit=$unit_dir/outpost.service
  mkdir -p "$unit_dir"
  # '%' starts a unit specifier in ExecStart=; ENVIRON avoids awk's escape processing.
  BIN=${bin//%/%%} awk '
    /^ExecStart=\/usr\/bin\/outpost / { sub(/^ExecStart=\/usr\/bin\/outpost/, ""); $0 = "ExecStart=" ENVIRON["BIN"] $0 }
    { print }' "$unit_src" >"$unit"
  if grep -q '/usr/bin/outpost' "$unit"; then
    fail "outpost.service: /usr/bin/outpost still present after substitution"
    return
  fi
  echo "    unit copy: $unit"
  echo "    $(grep '^ExecStart=' "$unit")"

  # --recursive-errors=no: the exit status reflects our unit only, not broken units it
  # pulls in (multi-user.target, network-online.target, ...). --man=no: do not require
  # man pages named by Documentation= to be installed on the build host.
  local out rc
  out=$(cd "$tmp" && systemd-analyze verify --man=no --recursive-errors=no "$unit" 2>&1)
  rc=$?
  # Warnings about our unit are prefixed with its path (parse errors) or its name
  # (semantic errors) and do not change the exit status, so they count as failures too.
  local ours others
  ours=$(grep -F -e 'outpost.service' -e "$unit_dir" <<<"$out")
  others=$(grep -v -F -e 'outpost.service' -e "$unit_dir" <<<"$out" | grep -v '^[[:space:]]*$')
  if [[ -n $others ]]; then
    echo "    ignored (not about outpost.service):"
    indent <<<"$others"
  fi
  if [[ $rc -ne 0 || -n $ours ]]; then
    fail "outpost.service: systemd-analyze verify exit status $rc, output:"
    indent <<<"$out"
    return
  fi
  pass "outpost.service: systemd-analyze verify clean (exit 0, nothing about the unit)"
}

# --- 2. outpost.sysusers.conf -----------------------------------------------------------
check_sysusers() {
  echo "-- outpost.sysusers.conf: systemd-sysusers"
  if [[ ! -f $sysusers_src ]]; then
    fail "outpost.sysusers.conf: $sysusers_src not found"
    return
  fi
  if ! command -v systemd-sysusers >/dev/null 2>&1; then
    fail "outpost.sysusers.conf: systemd-sysusers not found"
    return
  fi
  local out rc problems=0
  if systemd-sysusers --help 2>&1 | grep -q -- '--dry-run'; then
    # Parses the file and plans the changes against this host's user database.
    out=$(systemd-sysusers --dry-run "$sysusers_src" 2>&1)
    rc=$?
    echo "    systemd-sysusers --dry-run (against this host), exit $rc:"
    [[ -n $out ]] && indent <<<"$out"
    if [[ $rc -ne 0 ]] || grep -qF "$sysusers_src" <<<"$out"; then
      problems=1
    fi
  else
    echo "    systemd-sysusers has no --dry-run: skipped"
  fi

  # A real run into a throw-away root with only root and adm, then read back the result.
  if is_root; then
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
    printf 'root:x:0:\nadm:x:4:\n' >"$root/etc/group"
    out=$(systemd-sysusers --root="$root" "$sysusers_src" 2>&1)
    rc=$?
    echo "    systemd-sysusers --root=<tmp> (fresh root with root and adm), exit $rc:"
    [[ -n $out ]] && indent <<<"$out"
    if [[ $rc -ne 0 ]] || grep -qF "$sysusers_src" <<<"$out"; then
      problems=1
    fi
    local pw gr adm uid gid home shell
    pw=$(grep '^outpost:' "$root/etc/passwd")
    gr=$(grep '^outpost:' "$root/etc/group")
    adm=$(grep '^adm:' "$root/etc/group")
    echo "    result: passwd '$pw'; group '$gr'; '$adm'"
    IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
    if [[ -z $pw || -z $gr ]]; then
      echo "    user or group outpost not created"
      problems=1
    else
      [[ $uid -lt 1000 ]] || { echo "    uid $uid is not a system uid"; problems=1; }
      [[ $gid == "$(cut -d: -f3 <<<"$gr")" ]] || { echo "    primary group is not outpost"; problems=1; }
      [[ $home == /var/lib/outpost ]] || { echo "    home is '$home', want /var/lib/outpost"; problems=1; }
      [[ $shell == */nologin ]] || { echo "    shell is '$shell', want nologin"; problems=1; }
    fi
    [[ ,$(cut -d: -f4 <<<"$adm"), == *,outpost,* ]] || { echo "    outpost is not a member of adm"; problems=1; }
  else
    echo "    not root: skipped the run into a throw-away root (it needs chown)"
  fi

  if [[ $problems -ne 0 ]]; then
    fail "outpost.sysusers.conf: see above"
  else
    pass "outpost.sysusers.conf: accepted by systemd-sysusers"
  fi
}

# --- 3. outpost.tmpfiles.conf -----------------------------------------------------------
check_tmpfiles() {
  echo "-- outpost.tmpfiles.conf: fields, then systemd-tmpfiles"
  if [[ ! -f $tmpfiles_src ]]; then
    fail "outpost.tmpfiles.conf: $tmpfiles_src not found"
    return
  fi
  local problems=0 n=0 line lineno=0 type path mode user group age extra
  local -A want=([/var/lib/outpost]=1 [/run/outpost]=1)
  while IFS= read -r line || [[ -n $line ]]; do
    lineno=$((lineno + 1))
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    n=$((n + 1))
    read -r type path mode user group age extra <<<"$line"
    local where="    line $lineno: '$line':"
    if [[ -z $age || -n $extra ]]; then
      echo "$where want 6 fields (type path mode user group age)"; problems=1; continue
    fi
    [[ $type == d ]] || { echo "$where type '$type', want d"; problems=1; }
    [[ $path == /* ]] || { echo "$where path not absolute"; problems=1; }
    [[ $mode =~ ^0?[0-7]{3}$ ]] || { echo "$where mode '$mode' not octal"; problems=1; }
    if [[ -n ${want[$path]:-} ]]; then
      unset "want[$path]"
      [[ $mode == 0750 && $user == outpost && $group == outpost && $age == - ]] ||
        { echo "$where want '0750 outpost outpost -'"; problems=1; }
    fi
  done <"$tmpfiles_src"
  if [[ ${#want[@]} -ne 0 ]]; then
    echo "    no line for: ${!want[*]}"
    problems=1
  fi
  echo "    $n entries checked field by field"

  if ! command -v systemd-tmpfiles >/dev/null 2>&1; then
    echo "    systemd-tmpfiles not found: field check only"
  elif is_root; then
    # The throw-away root holds the outpost user that check 2 created; without it (check 2
    # failed early) give it one so this check stands on its own.
    if ! grep -q '^outpost:' "$root/etc/passwd" 2>/dev/null; then
      printf 'root:x:0:0:root:/root:/bin/sh\noutpost:x:999:999::/var/lib/outpost:/usr/sbin/nologin\n' >"$root/etc/passwd"
      printf 'root:x:0:\nadm:x:4:outpost\noutpost:x:999:\n' >"$root/etc/group"
    fi
    local out rc
    out=$(systemd-tmpfiles --root="$root" --create "$tmpfiles_src" 2>&1)
    rc=$?
    echo "    systemd-tmpfiles --root=<tmp> --create, exit $rc:"
    [[ -n $out ]] && indent <<<"$out"
    if [[ $rc -ne 0 || -n $out ]]; then
      problems=1
    fi
    local uid gid d st
    uid=$(grep '^outpost:' "$root/etc/passwd" | cut -d: -f3)
    gid=$(grep '^outpost:' "$root/etc/group" | cut -d: -f3)
    for d in /var/lib/outpost /run/outpost; do
      st=$(stat -c '%F %a %u %g' "$root$d" 2>/dev/null)
      echo "    $d: ${st:-missing}"
      [[ $st == "directory 750 $uid $gid" ]] || { echo "    want: directory 750 $uid $gid"; problems=1; }
    done
  elif systemd-tmpfiles --help 2>&1 | grep -q -- '--dry-run'; then
    printf 'root:x:0:0:root:/root:/bin/sh\noutpost:x:999:999::/var/lib/outpost:/usr/sbin/nologin\n' >"$root/etc/passwd"
    printf 'root:x:0:\noutpost:x:999:\n' >"$root/etc/group"
    local out rc
    out=$(systemd-tmpfiles --dry-run --root="$root" --create "$tmpfiles_src" 2>&1)
    rc=$?
    echo "    systemd-tmpfiles --dry-run --root=<tmp> --create, exit $rc:"
    [[ -n $out ]] && indent <<<"$out"
    [[ $rc -eq 0 ]] && ! grep -qF "$tmpfiles_src" <<<"$out" || problems=1
  else
    echo "    not root and systemd-tmpfiles has no --dry-run: field check only"
  fi

  if [[ $problems -ne 0 ]]; then
    fail "outpost.tmpfiles.conf: see above"
  else
    pass "outpost.tmpfiles.conf: well formed and accepted by systemd-tmpfiles"
  fi
}

check_unit
check_sysusers
check_tmpfiles
echo "systemd_verify: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
