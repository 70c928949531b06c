#!/usr/bin/env bash
# The oldest systems wsmand's packages install on, kept true: every ELF file named must need
#
#   - symbol versions of glibc (GLIBC_*) of at most 2.34 (RHEL 9, Ubuntu 22.04; Debian 12 has
#     2.36, so a build here can need more without anyone noticing: `arc4random` is GLIBC_2.36),
#   - OpenSSL 3.0 (OPENSSL_* of at most 3.0.0: RHEL 9.0 and Ubuntu 22.04 ship 3.0),
#   - libsystemd of at most 249 (LIBSYSTEMD_*: Ubuntu 22.04's),
#
# and link (DT_NEEDED) only the shared libraries of ALLOWED_SONAMES below: glibc's own, and
# libssl.so.3, libcrypto.so.3, libpam.so.0, libsystemd.so.0, libgssapi_krb5.so.2 (with MIT
# Kerberos' libkrb5.so.3 and libcom_err.so.2) and libz.so.1, whose sonames are the same on
# Debian 12, Ubuntu 22.04, RHEL 9 and 10 and SLES 16.
#
#   scripts/abi-floor.sh FILE...      exit 0 when each holds; else 1, a line per breach:
#                                     "FILE: needs GLIBC_2.36 (the floor is GLIBC_2.34)"
#                                     "FILE: links libfoo.so.1, not in the allowed list"
#
# Called by scripts/deb.sh and scripts/rpm.sh on what they package; the floor's values are
# also what the .deb's Depends and the .rpm's Requires say (docs/operations.md).
set -euo pipefail

# The highest version of each symbol-version family a file may need.
FLOORS=(GLIBC_2.34 OPENSSL_3.0.0 LIBSYSTEMD_249)
ALLOWED_SONAMES=(libc.so.6 libm.so.6 libdl.so.2 librt.so.1 libpthread.so.0 libutil.so.1
    libresolv.so.2 libgcc_s.so.1 ld-linux-x86-64.so.2 ld-linux-aarch64.so.1
    libssl.so.3 libcrypto.so.3 libpam.so.0 libsystemd.so.0 libgssapi_krb5.so.2 libkrb5.so.3
    libcom_err.so.2 libz.so.1)

[ $# -gt 0 ] || { echo "usage: scripts/abi-floor.sh FILE..." >&2; exit 2; }
command -v readelf >/dev/null || { echo "abi-floor.sh: readelf is missing (Debian: binutils)" >&2; exit 2; }

# 0 when version $1 is above version $2 (both dotted numbers).
above() {
    [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n 1)" = "$1" ]
}

breaches=0
for file in "$@"; do
    [ -f "$file" ] || { echo "$file: no such file" >&2; breaches=$((breaches + 1)); continue; }
    needed=$(LC_ALL=C readelf -d --wide "$file" 2>/dev/null |
        sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]$/\1/p')
    versions=$(LC_ALL=C readelf -V --wide "$file" 2>/dev/null |
        sed -n "/^Version needs section/,/^\$/{s/.*Name: \([A-Za-z_]*_[0-9.]*\) .*/\1/p}" | sort -u)
    if [ -z "$needed" ] && ! LC_ALL=C readelf -h "$file" >/dev/null 2>&1; then
        echo "$file: not an ELF file"
        breaches=$((breaches + 1))
        continue
    fi
    for soname in $needed; do
        allowed=0
        for ok in "${ALLOWED_SONAMES[@]}"; do
            [ "$soname" = "$ok" ] && allowed=1
        done
        if [ "$allowed" = 0 ]; then
            echo "$file: links $soname, not in the allowed list (ALLOWED_SONAMES of scripts/abi-floor.sh)"
            breaches=$((breaches + 1))
        fi
    done
    for version in $versions; do
        family=${version%_*}
        number=${version##*_}
        for floor in "${FLOORS[@]}"; do
            [ "${floor%_*}" = "$family" ] || continue
            if above "$number" "${floor##*_}"; then
                echo "$file: needs $version (the floor is $floor)"
                breaches=$((breaches + 1))
            fi
        done
    done
done
[ "$breaches" -eq 0 ]
