#!/bin/bash
# Licensed under the Apache License, Version 2.0; see the README.
#
# The package test proper, run as root inside a pristine Debian 12 root
# (t/package/layer.sh puts it there, next to the .deb and http.pl): what
# an admin does, from apt-get install to apt-get purge. TAP on stdout,
# numbered from MCP_TAP_START + 1; the commands' output goes to
# /root/package-test.log, and a failing step shows its last lines.
#
#  1. apt-get install ./libapache2-mod-mcp_*.deb (apache2 and the rest come
#     from the archive): files, store, keys, nothing enabled; purge at once
#  2. install again, a2enmod mcp_authz mcp_proxy mcp_idp, the example site
#     on a free loopback port, configtest, apache2ctl start: the metadata,
#     the 401 challenge of /mcp, Basic sign-in, a registered client
#  3. apt-get install --reinstall (an upgrade over itself): store, keys
#     and clients kept; apache2ctl restart; the same answers
#  4. apache2ctl stop; apt-get remove (modules disabled, store and keys
#     kept) and install again (with a PostgreSQL store configured: not
#     enabled again; without: enabled again); a2dissite, apt-get purge:
#     nothing of the package is left (file system compared with the
#     state before step 2)
#
# Port 80: the fresh root shares the host's network, so apache2's own
# "Listen 80" is commented out before anything starts.
set -u
cd "$(dirname "$0")" || exit 1
HERE=$PWD
export DEBIAN_FRONTEND=noninteractive
LOG=/root/package-test.log
: > "$LOG"
PKG=libapache2-mod-mcp
n=${MCP_TAP_START:-0}
fails=0

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
# t DESC CMD...: one test; the command's output is logged, and shown on failure.
t() {
    local desc=$1 out rc
    shift
    out=$("$@" 2>&1)
    rc=$?
    printf '== %s\n%s\n' "$desc" "$out" >> "$LOG"
    ok "$rc" "$desc"
    [ "$rc" = 0 ] || printf '%s\n' "$out" | tail -25 | diag
    return "$rc"
}
bail() {
    echo "Bail out! $*"
    echo "# log: $LOG (last lines below)"
    tail -30 "$LOG" | diag
    exit 1
}

DEB=$(ls "$HERE"/${PKG}_*.deb 2>/dev/null | head -1)
[ -n "$DEB" ] || bail "no ${PKG}_*.deb next to $0"

# --- helpers ----------------------------------------------------------------
mode_is() { # PATH "user:group mode"
    local got
    got=$(stat -c '%U:%G %a' "$1" 2>&1)
    [ "$got" = "$2" ] || { echo "$1: $got, expected $2"; return 1; }
}
installed_files() {
    local f missing=""
    for f in /usr/lib/apache2/modules/mod_mcp_authz.so /usr/lib/apache2/modules/mod_mcp_proxy.so \
             /usr/lib/apache2/modules/mod_mcp_idp.so /usr/bin/mcpctl /usr/share/man/man1/mcpctl.1.gz \
             /usr/share/mod_mcp/sql/sqlite/0001_init.sql /usr/share/mod_mcp/sql/pgsql/0001_init.sql \
             /usr/share/mod_mcp/templates/consent.html /usr/share/mod_mcp/templates/error.html \
             /etc/apache2/mods-available/mcp_authz.load /etc/apache2/mods-available/mcp_authz.conf \
             /etc/apache2/mods-available/mcp_proxy.load /etc/apache2/mods-available/mcp_proxy.conf \
             /etc/apache2/mods-available/mcp_idp.load /etc/apache2/mods-available/mcp_idp.conf \
             /usr/share/doc/$PKG/examples/mcp-gateway.conf /usr/share/doc/$PKG/examples/mod_mcp_authz.conf \
             /usr/share/doc/$PKG/examples/mod_mcp_proxy.conf /usr/share/doc/$PKG/examples/mod_mcp_idp.conf \
             /usr/share/doc/$PKG/README.Debian /usr/share/doc/$PKG/copyright; do
        [ -e "$f" ] || missing="$missing $f"
    done
    [ -z "$missing" ] || { echo "missing:$missing"; return 1; }
    mcpctl --version
}
store_ok() {
    mode_is /var/lib/mod_mcp "www-data:www-data 750" || return 1
    mode_is /var/lib/mod_mcp/mcp.db "www-data:www-data 600" || return 1
    setpriv --reuid=www-data --regid=www-data --clear-groups -- \
        mcpctl --driver sqlite3 --params /var/lib/mod_mcp/mcp.db db status
}
keys_ok() {
    mode_is /etc/mod_mcp/signing.pem "root:www-data 640" || return 1
    mode_is /etc/mod_mcp/vault.key "root:www-data 640" || return 1
    openssl pkey -in /etc/mod_mcp/signing.pem -noout -text | grep -q 'NIST CURVE: P-256' \
        || { echo "signing.pem is not an EC P-256 key"; return 1; }
    [ "$(base64 -d /etc/mod_mcp/vault.key | wc -c)" = 32 ] \
        || { echo "vault.key is not 32 bytes in base64"; return 1; }
}
nothing_enabled() {
    local m
    for m in mcp_authz mcp_proxy mcp_idp dbd socache_shmcb; do
        if [ -e "/etc/apache2/mods-enabled/$m.load" ]; then
            echo "module $m is enabled"
            return 1
        fi
    done
    [ "$(ls /etc/apache2/sites-enabled)" = 000-default.conf ] \
        || { echo "sites enabled: $(ls /etc/apache2/sites-enabled)"; return 1; }
}
# Everything of the package, by name, after a purge.
nothing_left() {
    local f left=""
    if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -qv 'not-installed'; then
        echo "dpkg still knows $PKG: $(dpkg-query -W -f='${Status}' "$PKG")"
        return 1
    fi
    for f in /var/lib/mod_mcp /etc/mod_mcp/signing.pem /etc/mod_mcp/vault.key /usr/share/mod_mcp \
             /usr/share/doc/$PKG /usr/bin/mcpctl /usr/lib/apache2/modules/mod_mcp_* \
             /etc/apache2/mods-available/mcp_* /etc/apache2/mods-enabled/mcp_* \
             /var/lib/apache2/*/*/mcp_* /var/lib/dpkg/info/$PKG.*; do
        [ -e "$f" ] && left="$left $f"
    done
    [ -z "$left" ] || { echo "left behind:$left"; return 1; }
}
# A listing of the file system (what, mode, owner, path), without what
# apt, dpkg and logs change by themselves, and without apache2's record
# of which modules and sites the admin enabled (checked by name instead).
snapshot() {
    find /etc /usr /var /opt /srv /home -xdev \
        \( -path /var/log -o -path /var/cache/apt -o -path /var/lib/apt -o -path /var/lib/dpkg \
           -o -path /var/cache/debconf -o -path /var/cache/man -o -path /var/cache/ldconfig \
           -o -path /var/lib/apache2 -o -path /var/backups -o -path /var/tmp \) -prune \
        -o -printf '%y %m %u:%g %p\n' | LC_ALL=C sort
}
wait_port() {
    perl -MIO::Socket::INET -e '
        for (1 .. $ARGV[1] * 10) {
            exit 0 if IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0], Timeout => 1);
            select(undef, undef, undef, 0.1);
        }
        exit 1;' "$1" "$2"
}
apache_stopped() {
    local i
    apache2ctl stop </dev/null >>"$LOG" 2>&1 || return 1
    for i in $(seq 1 100); do
        [ -e /run/apache2/apache2.pid ] || return 0
        sleep 0.1
    done
    echo "apache2 still running after 10 s"
    return 1
}
mcp_log_clean() {
    # Startup warnings of the modules (e.g. about key files others may read).
    local bad
    bad=$(grep -hE '\[mcp_(authz|proxy|idp):(warn|error|crit|alert|emerg)\]' \
        /var/log/apache2/error.log /var/log/apache2/mcp-gateway-error.log 2>/dev/null)
    [ -z "$bad" ] || { echo "$bad"; return 1; }
}
http() { perl "$HERE/http.pl" "$@"; }
# apache2 detaches: its output goes to the log, not to t's pipe.
start_apache() {
    apache2ctl start </dev/null >>"$LOG" 2>&1 && wait_port "$PORT" 30
}
restart_apache() {
    apache2ctl restart </dev/null >>"$LOG" 2>&1 && sleep 1 && wait_port "$PORT" 30
}
store_and_keys() { store_ok && keys_ok; }
metadata_both() { http metadata "$BASE" && http prm "$BASE"; }
same_keys() { [ "$(sha256sum /etc/mod_mcp/signing.pem /etc/mod_mcp/vault.key)" = "$sums" ]; }
same_kids() { [ "$(http jwks "$BASE")" = "$KIDS" ]; }

# --- 1. a pristine install, and a purge at once ------------------------------
apt-get update -q >>"$LOG" 2>&1 || bail "apt-get update failed"
t "apt-get install ./$(basename "$DEB") into a pristine Debian 12 root" \
    apt-get install -y -q "./$(basename "$DEB")" || bail "the package does not install"
grep -h '^libapache2-mod-mcp:' "$LOG" | diag
t "the modules, mcpctl and its man page, schemas, templates, a2enmod files and examples are installed" installed_files
t "/var/lib/mod_mcp is www-data's (0750), the SQLite store in it too (0600) with its schema up to date" store_ok
t "a signing key (EC P-256) and a vault key (32 bytes) were generated, root:www-data 0640" keys_ok
t "nothing is enabled: no module of the package, no dbd, no socache_shmcb, no site but 000-default" nothing_enabled
t "apache2's own configuration still passes configtest" apache2ctl configtest
sed -i 's/^Listen 80$/# & -- off: the test root shares the host'"'"'s network/' /etc/apache2/ports.conf
t "no Listen on port 80 left in apache2's configuration" \
    bash -c '! grep -RhsE "^[[:space:]]*Listen[[:space:]]+(.*:)?80$" /etc/apache2/ports.conf /etc/apache2/sites-enabled/'
t "apt-get purge right after the installation" apt-get purge -y -q "$PKG"
t "nothing of the package is left after that purge" nothing_left
rmdir /etc/mod_mcp 2>/dev/null

# --- 2. install, enable, serve -----------------------------------------------
snapshot > /root/before.txt
t "apt-get install ./$(basename "$DEB") again, after the purge" \
    apt-get install -y -q "./$(basename "$DEB")" || bail "the package does not install again"
t "the store and the keys are back" store_and_keys
t "a2enmod mcp_authz mcp_proxy mcp_idp" a2enmod mcp_authz mcp_proxy mcp_idp
t "a2enmod enabled dbd and socache_shmcb from the .load files' Depends: lines" \
    bash -c 'a2query -m dbd && a2query -m socache_shmcb'
PORT=$(perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0)->sockport')
BASE="http://127.0.0.1:$PORT"
PASS=pw-$$-$RANDOM
site() {
    cp "/usr/share/doc/$PKG/examples/mcp-gateway.conf" /etc/apache2/sites-available/ &&
    sed -i "s/8080/$PORT/g" /etc/apache2/sites-available/mcp-gateway.conf &&
    htpasswd -cbB /etc/mod_mcp/users alice "$PASS" &&
    chgrp www-data /etc/mod_mcp/users && chmod 640 /etc/mod_mcp/users &&
    a2ensite mcp-gateway
}
t "the example site on 127.0.0.1:$PORT, with a user alice in /etc/mod_mcp/users" site
t "apache2ctl configtest" apache2ctl configtest
t "apache2ctl start" start_apache \
    || bail "apache2 does not start: $(tail -5 /var/log/apache2/error.log 2>/dev/null)"
t "GET /.well-known/oauth-authorization-server: the issuer $BASE and its endpoints" http metadata "$BASE"
t "GET /.well-known/oauth-protected-resource/mcp: the resource $BASE/mcp and its authorization server" http prm "$BASE"
t "POST /mcp without a token: 401 with WWW-Authenticate: Bearer resource_metadata=..., scope=\"mcp\"" http challenge "$BASE"
t "/oauth/authorize is behind the site's Basic authentication" http login "$BASE" alice "$PASS"
CLIENT=$(http register "$BASE" 2>>"$LOG")
ok $? "POST /oauth/register: a client registered (${CLIENT:-none})"
t "alice gets the consent page for that client" http consent "$BASE" alice "$PASS" "$CLIENT"
KIDS=$(http jwks "$BASE" 2>>"$LOG")
ok $? "GET /oauth/jwks: the signing key is published (kid ${KIDS:-none})"
t "no warning or error of the modules in apache2's error logs (the keys' modes are accepted)" mcp_log_clean

# --- 3. an upgrade over itself -------------------------------------------------
sums=$(sha256sum /etc/mod_mcp/signing.pem /etc/mod_mcp/vault.key)
t "apt-get install --reinstall ./$(basename "$DEB") (an upgrade over itself)" \
    apt-get install -y -q --reinstall "./$(basename "$DEB")"
t "the upgrade notice says a PostgreSQL store is left to the admin" \
    grep -q '^libapache2-mod-mcp: a PostgreSQL store is not upgraded by the package' "$LOG"
t "the keys are kept" same_keys
t "the store is kept, www-data's, its schema up to date" store_ok
t "apache2ctl restart, with the upgraded modules" restart_apache
t "the metadata answer as before" metadata_both
t "POST /mcp without a token still gets its 401 challenge" http challenge "$BASE"
t "the client registered before the upgrade is still known" http consent "$BASE" alice "$PASS" "$CLIENT"
t "the JWKS publishes the same key" same_kids
t "no warning or error of the modules in apache2's error logs" mcp_log_clean

# --- 4. remove and install again; stop, disable the site, purge -----------------
t "apache2ctl stop" apache_stopped
removed_ok() {
    local m rc
    for m in mcp_authz mcp_proxy mcp_idp; do
        rc=0
        a2query -m "$m" >/dev/null 2>&1 || rc=$?
        [ "$rc" = 33 ] || { echo "a2query -m $m: $rc, not 33 (disabled by the package's removal)"; return 1; }
    done
    [ ! -e /usr/lib/apache2/modules/mod_mcp_authz.so ] || { echo "the modules are still there"; return 1; }
    [ -f /var/lib/mod_mcp/mcp.db ] || { echo "the store is gone"; return 1; }
    same_keys || { echo "the keys changed"; return 1; }
}
enabled_again() {
    local m
    for m in mcp_authz mcp_proxy mcp_idp; do
        a2query -m "$m" || return 1
    done
}
not_enabled_again() {
    grep -q '^libapache2-mod-mcp: a PostgreSQL store is configured (/etc/apache2/conf-enabled/zz-pgsql-store.conf)' "$LOG" \
        || { echo "no notice naming the PostgreSQL configuration"; return 1; }
    grep -q '^libapache2-mod-mcp: not enabled again, as a PostgreSQL store is configured: mcp_authz mcp_proxy mcp_idp; enable them again' "$LOG" \
        || { echo "no notice about the modules left disabled"; return 1; }
    [ ! -e /etc/apache2/mods-enabled/mcp_authz.load ] || { echo "mcp_authz enabled"; return 1; }
}
t "apt-get remove $PKG" apt-get remove -y -q "$PKG"
t "the removal disabled the modules (a2query: by the package) and kept the store and the keys" removed_ok
# A PostgreSQL store in the configuration: the package leaves its schema,
# and the modules, to the admin.
echo 'DBDriver pgsql' > /etc/apache2/conf-enabled/zz-pgsql-store.conf
t "apt-get install ./$(basename "$DEB") after the removal, with a PostgreSQL store configured" \
    apt-get install -y -q "./$(basename "$DEB")"
t "the notice names the PostgreSQL configuration, and the modules are left for a2enmod" not_enabled_again
rm -f /etc/apache2/conf-enabled/zz-pgsql-store.conf
reinstall_enabled() {
    apt-get install -y -q --reinstall "./$(basename "$DEB")" && enabled_again
}
t "apt-get install --reinstall without it: the modules the removal disabled are enabled again" reinstall_enabled
t "a2dissite mcp-gateway, and the site file removed (the admin's, not the package's)" \
    bash -c 'a2dissite mcp-gateway && rm /etc/apache2/sites-available/mcp-gateway.conf'
t "apt-get purge $PKG" apt-get purge -y -q "$PKG"
t "nothing of the package is left by name (files, store, keys, a2enmod files, links and state)" nothing_left
t "the purge kept the admin's /etc/mod_mcp/users, and only that, in /etc/mod_mcp" \
    bash -c '[ "$(ls -A /etc/mod_mcp)" = users ]'
rm -f /etc/mod_mcp/users
rmdir /etc/mod_mcp 2>/dev/null
# dbd and socache_shmcb are Apache's modules that a2enmod enabled for
# mcp_authz: the admin's to disable, as the package's purge does not.
a2dismod -q dbd socache_shmcb >>"$LOG" 2>&1
snapshot > /root/after.txt
t "the file system is as before the installation (modes and owners included)" \
    diff /root/before.txt /root/after.txt
# Not counted: logs, this test's files, and a2dissite's record of the
# admin's site (apache2's state, as the admin left it).
t "no file named *mcp* anywhere but in logs" \
    bash -c 'found=$(find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /var/log -o -path /root -o -path /tmp \) -prune -o -name "*mcp*" ! -path /var/lib/apache2/site/disabled_by_admin/mcp-gateway -print); [ -z "$found" ] || { echo "$found"; exit 1; }'

echo "# $fails failed"
# The commands' output, for the layer to keep (lines "#| ").
sed 's/^/#| /' "$LOG"
[ "$fails" = 0 ]
