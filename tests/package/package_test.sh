#!/usr/bin/env bash
# The Debian package, built by CPack and installed for real with dpkg into a fresh root: this
# machine's own / under an overlay (writes go to a scratch directory, the machine is not
# touched), entered with chroot, a tmpfs /run (no systemd running there, as in an image being
# built) and its own network namespace. Checks the package's control data, then:
#   install  files in FHS places, the outpost user (system, nologin, in adm), /var/lib/outpost,
#            outpost.yaml readable by the service's group only, the unit enabled and not
#            started, `systemd-analyze verify` and its security score, `outpost configcheck`
#            and `outpost run` as the outpost user answering `outpost status` on its socket;
#   upgrade  an edited outpost.yaml kept (the new one beside it as .dpkg-dist), an
#            administrator's disable kept;
#   remove   binaries gone, configuration kept;  purge: configuration and state gone, the
#            user kept.
#
#   package_test.sh BUILD_DIR WORK_DIR        (as root: it mounts and chroots)
set -euo pipefail

BUILD=$(cd "$1" && pwd)
WORK=$2
# The highest exposure `systemd-analyze security` may give the unit (0 best, 10 worst).
MAX_EXPOSURE=${MAX_EXPOSURE:-2.0}

fail() {
  echo "package_deb: FAILED: $*" >&2
  exit 1
}
passed=0
ok() {
  echo "package_deb: ok: $*"
  passed=$((passed + 1))
}
[ "$(id -u)" = 0 ] || fail "needs root (it mounts an overlay and chroots into it)"

ROOT=$WORK/root
cleanup() {
  for m in "$ROOT/run" "$ROOT/dev" "$ROOT/proc" "$ROOT"; do
    mountpoint -q "$m" 2>/dev/null && umount -l "$m"
  done
  return 0
}
cleanup
rm -rf "$WORK"
mkdir -p "$WORK"
trap cleanup EXIT

# --- the package -------------------------------------------------------------------------------
cpack --config "$BUILD/CPackConfig.cmake" -B "$WORK/pkg" >"$WORK/cpack.log" 2>&1 ||
  fail "cpack: $(tail -5 "$WORK/cpack.log")"
DEB=$(ls "$WORK"/pkg/outpost_*_amd64.deb)
field() { dpkg-deb -f "$DEB" "$1"; }
[ "$(field Package)" = outpost ] || fail "Package: $(field Package)"
depends=$(field Depends)
for d in systemd init-system-helpers libc6 libcurl4 libuv1 libzstd1 libyaml-cpp0.7 libprotobuf32 \
  libre2-9 libsystemd0; do
  [[ ", $depends," == *", $d"[\ ,]* ]] || fail "Depends lacks $d: $depends"
done
ok "control: Depends has the libraries the binaries link ($depends)"
dpkg-deb -e "$DEB" "$WORK/control"
for f in /etc/outpost/outpost.yaml /etc/outpost/conf.d/syslog.d/conf.yaml \
  /etc/outpost/conf.d/cpu.d/conf.yaml.default; do
  grep -qx "$f" "$WORK/control/conffiles" || fail "not a conffile: $f"
done
ok "conffiles: every /etc file ($(wc -l <"$WORK/control/conffiles") of them)"
# Version 2 for the upgrade: the same files, a higher version, a changed packaged outpost.yaml.
dpkg-deb -R "$DEB" "$WORK/v2"
sed -i 's/^Version: .*/&+test2/' "$WORK/v2/DEBIAN/control"
echo "# (version 2)" >>"$WORK/v2/etc/outpost/outpost.yaml"
(cd "$WORK/v2" && find etc lib usr -type f -exec md5sum {} + >DEBIAN/md5sums)
dpkg-deb --root-owner-group -b "$WORK/v2" "$WORK/outpost_v2.deb" >/dev/null

# --- the fresh root ----------------------------------------------------------------------------
mkdir -p "$WORK/upper" "$WORK/overlay-work" "$ROOT"
mount -t overlay overlay -o "lowerdir=/,upperdir=$WORK/upper,workdir=$WORK/overlay-work" "$ROOT" ||
  fail "cannot mount an overlay of / (this test needs overlayfs)"
mount -t proc proc "$ROOT/proc"
mount --bind /dev "$ROOT/dev"
mount -t tmpfs -o mode=0755 tmpfs "$ROOT/run"
in_root() { chroot "$ROOT" "$@"; }
as_outpost() { chroot --userspec=outpost:outpost --groups=outpost,adm "$ROOT" "$@"; }
in_root dpkg -s outpost >/dev/null 2>&1 && fail "outpost is already installed on this machine"
in_root getent passwd outpost >/dev/null && fail "this machine already has an outpost user"
cp "$DEB" "$ROOT/tmp/outpost.deb"
cp "$WORK/outpost_v2.deb" "$ROOT/tmp/outpost_v2.deb"

# --- install -----------------------------------------------------------------------------------
in_root dpkg -i /tmp/outpost.deb </dev/null >"$WORK/install.log" 2>&1 ||
  fail "dpkg -i: $(tail -20 "$WORK/install.log")"
for f in /usr/bin/outpost /usr/bin/outpost-mcp; do
  [ -x "$ROOT$f" ] || fail "$f missing"
done
for f in /etc/outpost/outpost.yaml /etc/outpost/outpost.yaml.example \
  /etc/outpost/conf.d/syslog.d/conf.yaml /etc/outpost/conf.d/disk.d/conf.yaml.default \
  /lib/systemd/system/outpost.service /usr/lib/sysusers.d/outpost.conf \
  /usr/lib/tmpfiles.d/outpost.conf /usr/share/doc/outpost/README.md; do
  [ -f "$ROOT$f" ] || fail "$f missing"
done
in_root outpost version >/dev/null || fail "outpost version does not run"
ok "files: binaries in /usr/bin (running), configuration in /etc/outpost, unit, sysusers, tmpfiles, docs"
IFS=: read -r _ _ uid _ _ home shell <<<"$(in_root getent passwd outpost)"
[ "$uid" -lt 1000 ] || fail "outpost is not a system user (uid $uid)"
[ "$home" = /var/lib/outpost ] || fail "outpost's home is $home"
[ "$shell" = /usr/sbin/nologin ] || fail "outpost's shell is $shell"
in_root id -nG outpost | tr ' ' '\n' | grep -qx adm || fail "outpost is not in adm"
ok "user: outpost, system uid $uid, home /var/lib/outpost, nologin, in adm"
[ "$(in_root stat -c '%U:%G %a' /var/lib/outpost)" = "outpost:outpost 750" ] ||
  fail "/var/lib/outpost is $(in_root stat -c '%U:%G %a' /var/lib/outpost)"
[ "$(in_root stat -c '%U:%G %a' /etc/outpost/outpost.yaml)" = "root:outpost 640" ] ||
  fail "outpost.yaml is $(in_root stat -c '%U:%G %a' /etc/outpost/outpost.yaml)"
ok "state directory outpost:outpost 0750; outpost.yaml root:outpost 0640"
wants=$ROOT/etc/systemd/system/multi-user.target.wants/outpost.service
[ "$(readlink "$wants")" = /lib/systemd/system/outpost.service ] || fail "the unit is not enabled"
ok "unit enabled (multi-user.target.wants), not started"
in_root systemd-analyze verify /lib/systemd/system/outpost.service >"$WORK/verify.log" 2>&1 ||
  fail "systemd-analyze verify: $(cat "$WORK/verify.log")"
ok "systemd-analyze verify: clean"
in_root systemd-analyze security --offline=true /lib/systemd/system/outpost.service \
  >"$WORK/security.log" 2>&1 || true
exposure=$(sed -n 's/.*Overall exposure level for outpost.service: \([0-9.]*\).*/\1/p' \
  "$WORK/security.log")
[ -n "$exposure" ] || fail "no score from systemd-analyze security: $(tail -3 "$WORK/security.log")"
awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }' ||
  fail "systemd-analyze security: exposure $exposure > $MAX_EXPOSURE"
ok "systemd-analyze security: exposure $exposure (at most $MAX_EXPOSURE)"
echo "package_deb: SECURITY_EXPOSURE=$exposure"

# The packaged configuration works as the service's user: configcheck, then a real run in a
# network namespace of its own, asked over its socket by `outpost status`.
as_outpost /usr/bin/outpost configcheck -c /etc/outpost >"$WORK/configcheck.log" 2>&1 ||
  fail "configcheck as outpost: $(tail -5 "$WORK/configcheck.log")"
ok "outpost configcheck -c /etc/outpost as the outpost user"
unshare --net sh -c "ip link set lo up 2>/dev/null || true
  exec chroot --userspec=outpost:outpost --groups=outpost,adm '$ROOT' \
    /usr/bin/outpost run -c /etc/outpost" >"$WORK/run.log" 2>&1 &
run_pid=$!
for _ in $(seq 100); do
  [ -S "$ROOT/run/outpost/query.sock" ] && break
  kill -0 "$run_pid" 2>/dev/null || fail "outpost run exited: $(tail -5 "$WORK/run.log")"
  sleep 0.1
done
[ -S "$ROOT/run/outpost/query.sock" ] || fail "no query socket after 10 s: $(tail -5 "$WORK/run.log")"
[ "$(in_root stat -c '%U:%G %a' /run/outpost/query.sock)" = "outpost:outpost 660" ] ||
  fail "query.sock is $(in_root stat -c '%U:%G %a' /run/outpost/query.sock)"
as_outpost /usr/bin/outpost status -c /etc/outpost >"$WORK/status.log" 2>&1 ||
  fail "outpost status: $(tail -5 "$WORK/status.log")"
grep -qi "local mode" "$WORK/status.log" || fail "status does not say local mode: $(head "$WORK/status.log")"
kill -TERM "$run_pid"
wait "$run_pid" || fail "outpost run did not exit 0 on SIGTERM: $(tail -5 "$WORK/run.log")"
ok "outpost run as outpost: socket outpost:outpost 0660, status says local mode, SIGTERM exits 0"

# --- upgrade -----------------------------------------------------------------------------------
echo "# edited by the administrator" >>"$ROOT/etc/outpost/outpost.yaml"
in_root systemctl disable outpost.service 2>/dev/null
[ ! -e "$wants" ] || fail "systemctl disable left the unit enabled"
in_root dpkg -i --force-confdef --force-confold /tmp/outpost_v2.deb </dev/null \
  >"$WORK/upgrade.log" 2>&1 || fail "dpkg -i (upgrade): $(tail -20 "$WORK/upgrade.log")"
[[ "$(in_root dpkg-query -W -f='${Version}' outpost)" == *+test2 ]] || fail "not upgraded"
grep -q "edited by the administrator" "$ROOT/etc/outpost/outpost.yaml" ||
  fail "the administrator's outpost.yaml was replaced"
grep -q "(version 2)" "$ROOT/etc/outpost/outpost.yaml.dpkg-dist" ||
  fail "the new outpost.yaml is not beside it as .dpkg-dist"
[ ! -e "$wants" ] || fail "the upgrade enabled a unit the administrator had disabled"
ok "upgrade: edited outpost.yaml kept (new one as .dpkg-dist), disabled unit stays disabled"

# --- remove, purge -----------------------------------------------------------------------------
in_root dpkg -r outpost </dev/null >"$WORK/remove.log" 2>&1 ||
  fail "dpkg -r: $(tail -20 "$WORK/remove.log")"
[ ! -e "$ROOT/usr/bin/outpost" ] || fail "/usr/bin/outpost still there after remove"
[ -f "$ROOT/etc/outpost/outpost.yaml" ] || fail "remove took the configuration"
ok "remove: binaries gone, configuration kept"
in_root dpkg -P outpost </dev/null >"$WORK/purge.log" 2>&1 ||
  fail "dpkg -P: $(tail -20 "$WORK/purge.log")"
[ ! -e "$ROOT/etc/outpost/outpost.yaml" ] || fail "purge left outpost.yaml"
[ ! -e "$ROOT/var/lib/outpost" ] || fail "purge left /var/lib/outpost"
in_root getent passwd outpost >/dev/null || fail "purge removed the outpost user"
ok "purge: configuration and state gone, user kept"

echo "package_deb: $passed checks passed"
