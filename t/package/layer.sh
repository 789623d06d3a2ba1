#!/bin/bash
# Licensed under the Apache License, Version 2.0; see the README.
#
# The "package" layer of scripts/check (TAP on stdout): build the Debian
# package with scripts/package, then install, use, upgrade and purge it in
# a pristine Debian 12 root (t/package/in-fresh-root.sh, run there by the
# fresh-debian tool's run-in-fresh.sh).
#
# It needs root (the fresh root is made with unshare and chroot), so
# scripts/check runs it before it hands over to its unprivileged user. It
# is skipped, with the reason, when it cannot run: not root; already
# inside such a fresh root (CI runs scripts/check in one, and
# run-in-fresh.sh does not nest: its unshare --propagation private fails
# where / is no mount point); no run-in-fresh.sh; or no namespaces here.
#
# Variables:
#   MCP_FRESH_DEBIAN        run-in-fresh.sh (default: ../shared/tools/fresh-debian/
#                           next to the checkout)
#   MCP_CHECK_USER          builds the package as this user (default: the caller)
#   MCP_PACKAGE_FRESH_DIR   scratch directory of the fresh root
#                           (/var/tmp/mod_mcp-package-fresh; one run at a time)
set -u
SRC=$(cd "$(dirname "$0")/../.." && pwd)
FRESH=${MCP_FRESH_DEBIAN:-$SRC/../shared/tools/fresh-debian/run-in-fresh.sh}
RUN_DIR=${MCP_PACKAGE_FRESH_DIR:-/var/tmp/mod_mcp-package-fresh}
OUT=$SRC/build/package
n=0
fails=0

skip() {
    echo "1..0 # SKIP $*"
    exit 0
}
ok() {
    local rc=$1
    shift
    n=$((n + 1))
    if [ "$rc" = 0 ]; then
        echo "ok $n - $*"
    else
        echo "not ok $n - $*"
        fails=$((fails + 1))
    fi
}
diag() { sed 's/^/#   /'; }

# --- can it run here? ----------------------------------------------------------
[ "$(id -u)" = 0 ] \
    || skip "needs root (the fresh Debian 12 root is made with unshare and chroot): run scripts/check as root"
[ ! -e /etc/newcomer-pristine ] \
    || skip "already inside a fresh Debian root (/etc/newcomer-pristine, as on CI): run-in-fresh.sh does not nest (there / is no mount point, unshare --propagation private fails)"
[ -x "$FRESH" ] \
    || skip "no fresh Debian 12 root tool: $FRESH not found (set MCP_FRESH_DEBIAN to shared/tools/fresh-debian/run-in-fresh.sh)"
unshare --mount --pid --fork --propagation private true 2>/dev/null \
    || skip "no namespaces here (unshare --mount --pid --propagation private fails): cannot make a fresh root"
command -v git >/dev/null 2>&1 || skip "git is needed to hand the package to run-in-fresh.sh"

# --- build ----------------------------------------------------------------------
t0=$(date +%s)
"$SRC/scripts/package" --deps-only 2>&1 | diag
as_user=()
if [ -n "${MCP_CHECK_USER:-}" ] && [ "$MCP_CHECK_USER" != root ]; then
    home=$(getent passwd "$MCP_CHECK_USER" | cut -d: -f6)
    as_user=(setpriv --reuid="$MCP_CHECK_USER" --regid="$MCP_CHECK_USER" --init-groups --
             env -i HOME="$home" USER="$MCP_CHECK_USER" LOGNAME="$MCP_CHECK_USER"
             PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8)
    # The build directory is that user's.
    [ -d "$SRC/build" ] || install -d -o "$MCP_CHECK_USER" -g "$MCP_CHECK_USER" "$SRC/build"
    [ -d "$OUT" ] || install -d -o "$MCP_CHECK_USER" -g "$MCP_CHECK_USER" "$OUT"
else
    mkdir -p "$OUT"
fi
# The unit tests are the unit layer's: not run again in the build.
deb=$("${as_user[@]}" env DEB_BUILD_OPTIONS=nocheck MCP_PACKAGE_DIR="$OUT" \
      "$SRC/scripts/package" 2>"$SRC/build/package.stderr")
rc=$?
t_build=$(( $(date +%s) - t0 ))
ok "$rc" "scripts/package builds ${deb:-the package} (${t_build}s)"
if [ "$rc" != 0 ] || [ ! -f "$deb" ]; then
    tail -30 "$SRC/build/package.stderr" | diag
    echo "1..$n"
    exit 1
fi
# lintian ran in scripts/package (errors fail it); the other tags, shown.
tags=$(grep -E '^[EWI]: ' "$OUT/lintian.txt" 2>/dev/null)
errors=$(printf '%s\n' "$tags" | grep -c '^E: ')
ok "$([ "$errors" = 0 ]; echo $?)" "lintian: no errors ($(printf '%s\n' "$tags" | grep -c '^W: ') warnings, $(printf '%s\n' "$tags" | grep -c '^I: ') infos)"
[ -z "$tags" ] || printf '%s\n' "$tags" | diag
rm -f "$SRC/build/package.stderr"

# --- the fresh root -------------------------------------------------------------
# run-in-fresh.sh clones a git repository's HEAD into the fresh root: one
# made here holds the .deb and the test.
repo=$(mktemp -d /var/tmp/mod_mcp-package-test.XXXXXX) || exit 1
trap 'rm -rf "$repo"' EXIT
cp "$deb" "$SRC/t/package/in-fresh-root.sh" "$SRC/t/package/http.pl" "$repo/"
git -C "$repo" init -q && git -C "$repo" add -A \
    && git -C "$repo" -c user.name=mod_mcp -c user.email=check@localhost \
        commit -q -m "package test" \
    || { ok 1 "a git repository with the package for run-in-fresh.sh"; echo "1..$n"; exit 1; }
t0=$(date +%s)
out="$OUT/fresh-root.log"
NC_RUN_DIR="$RUN_DIR" FOLLOW=1 CLEAN=1 TIME_LIMIT_S=1800 \
    PASS_ENV="MCP_TAP_START=$n LANG=C.UTF-8" \
    "$FRESH" "$repo" 'bash in-fresh-root.sh' > "$out" 2>&1
rc=$?
t_fresh=$(( $(date +%s) - t0 ))
# The test's own lines (TAP), and the tool's own ([newcomer]) as comments;
# the output of the commands it ran goes to a file of its own.
sed -n 's/^#| //p' "$out" > "$OUT/fresh-root-commands.log"
grep -E '^(ok|not ok|Bail out!|#)' "$out" | grep -v '^#| '
echo "# the commands' output: $OUT/fresh-root-commands.log"
grep '^\[newcomer\]' "$out" | grep -vE '\[newcomer\] (\$|-{5})' | diag
inner=$(grep -cE '^(ok|not ok) ' "$out")
n=$((n + inner))
fails=$((fails + $(grep -cE '^not ok ' "$out")))
ok "$rc" "the fresh-root test ran to its end (run-in-fresh.sh exit $rc, ${t_fresh}s; log $out)"
[ "$rc" = 0 ] || grep -v '^#| ' "$out" | tail -15 | diag
echo "# timings: build ${t_build}s, fresh root ${t_fresh}s"
echo "1..$n"
[ "$fails" = 0 ]
