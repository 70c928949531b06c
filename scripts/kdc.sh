#!/usr/bin/env bash
# A throwaway MIT Kerberos realm on 127.0.0.1 for the Kerberos tests.
#
#   scripts/kdc.sh start DIR   create realm WSMAN.TEST under DIR and start krb5kdc on a free port
#   scripts/kdc.sh stop DIR    stop that KDC and delete DIR
#
# Everything lives under DIR; the machine's own /etc/krb5.conf, keytab and credential caches are
# never read or written (KRB5_CONFIG, KRB5_KDC_PROFILE, KRB5CCNAME and KRB5RCACHEDIR all point
# into DIR). `start` writes DIR/env, a file of `export` lines for the tests:
#
#   KRB5_CONFIG         DIR/krb5.conf (realm WSMAN.TEST, kdc 127.0.0.1:PORT, no DNS lookups)
#   KRB5CCNAME          DIR/ccache (the test user's tickets, after kinit)
#   KRB5RCACHEDIR       DIR/rcache (the acceptor's replay cache)
#   WSMAN_KRB5_REALM    WSMAN.TEST
#   WSMAN_KRB5_HOST     localhost (the host part of the service principals)
#   WSMAN_KRB5_KEYTAB   DIR/wsman.keytab: HTTP/localhost and WSMAN/localhost, nothing else
#   WSMAN_KRB5_USER     the test principal's name (wsmankrb), WSMAN_KRB5_PASSWORD its password
#   WSMAN_KRB5_OTHER_KEYTAB  DIR/other.keytab: FOO/localhost (a service we do not serve)
#
# Needs krb5-kdc (krb5kdc, kdb5_util), krb5-admin-server (kadmin.local only; kadmind is never
# started) and krb5-user (kinit, klist). Root is not required.
set -euo pipefail

REALM=WSMAN.TEST
HOST=localhost
TEST_USER=wsmankrb
TEST_PASSWORD='Wsman-Krb-Pass1'

usage() {
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local dir="$1"
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    local port
    port="$(free_port)"
    mkdir -p "$dir/db" "$dir/rcache"
    cat >"$dir/krb5.conf" <<EOF
[libdefaults]
    default_realm = $REALM
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    ignore_acceptor_hostname = false
    default_ccache_name = FILE:$dir/ccache
    permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
    forwardable = true

[realms]
    $REALM = {
        kdc = 127.0.0.1:$port
    }

[domain_realm]
    localhost = $REALM
    .wsman.test = $REALM
EOF
    cat >"$dir/kdc.conf" <<EOF
[kdcdefaults]
    kdc_ports = $port
    kdc_tcp_ports = $port

[realms]
    $REALM = {
        database_name = $dir/db/principal
        key_stash_file = $dir/db/stash
        acl_file = $dir/db/kadm5.acl
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
        max_life = 10h
        max_renewable_life = 1d
    }

[logging]
    kdc = FILE:$dir/kdc.log
EOF
    : >"$dir/db/kadm5.acl"
    export KRB5_CONFIG="$dir/krb5.conf" KRB5_KDC_PROFILE="$dir/kdc.conf"
    kdb5_util create -r "$REALM" -s -P "$(head -c 24 /dev/urandom | base64)" >/dev/null
    # kadmin.local prints a "No policy specified" notice per principal: keep it for failures only.
    kadmin() {
        local out
        if ! out="$(kadmin.local -r "$REALM" -q "$1" 2>&1)" || grep -qiE 'error|failed|cannot' <<<"$out"; then
            printf 'kdc.sh: kadmin.local -q "%s" failed:\n%s\n' "$1" "$out" >&2
            return 1
        fi
    }
    kadmin "addprinc -randkey HTTP/$HOST"
    kadmin "addprinc -randkey WSMAN/$HOST"
    kadmin "addprinc -randkey FOO/$HOST"
    kadmin "addprinc -pw $TEST_PASSWORD $TEST_USER"
    kadmin "ktadd -k $dir/wsman.keytab HTTP/$HOST WSMAN/$HOST"
    kadmin "ktadd -k $dir/other.keytab FOO/$HOST"
    chmod 0600 "$dir/wsman.keytab" "$dir/other.keytab"
    krb5kdc -P "$dir/kdc.pid" -r "$REALM"
    # Up when it answers: a kinit of the test user proves the realm works end to end.
    local tries=0
    until printf '%s\n' "$TEST_PASSWORD" | KRB5CCNAME="FILE:$dir/ccache" kinit "$TEST_USER@$REALM" >/dev/null 2>&1; do
        tries=$((tries + 1))
        if [ "$tries" -ge 50 ]; then
            echo "kdc.sh: the KDC on 127.0.0.1:$port did not answer; its log:" >&2
            cat "$dir/kdc.log" >&2 || true
            exit 1
        fi
        sleep 0.1
    done
    cat >"$dir/env" <<EOF
export KRB5_CONFIG='$dir/krb5.conf'
export KRB5CCNAME='FILE:$dir/ccache'
export KRB5RCACHEDIR='$dir/rcache'
export WSMAN_KRB5_REALM='$REALM'
export WSMAN_KRB5_HOST='$HOST'
export WSMAN_KRB5_KEYTAB='$dir/wsman.keytab'
export WSMAN_KRB5_OTHER_KEYTAB='$dir/other.keytab'
export WSMAN_KRB5_USER='$TEST_USER'
export WSMAN_KRB5_PASSWORD='$TEST_PASSWORD'
export WSMAN_KRB5_KDC_PORT='$port'
EOF
    echo "realm $REALM: KDC on 127.0.0.1:$port, environment in $dir/env"
}

stop() {
    local dir="$1"
    if [ -f "$dir/kdc.pid" ]; then
        kill "$(cat "$dir/kdc.pid")" 2>/dev/null || true
    fi
    rm -rf "$dir"
}

[ "$#" -eq 2 ] || usage
case "$1" in
    start) start "$2" ;;
    stop) stop "$2" ;;
    *) usage ;;
esac
