#!/usr/bin/env bash
# The console's browser assets (xterm.js, our terminal.js, the events page's events.js, and
# uPlot with the overview's graphs.js and the Events page's search.js): built from the npm registry with
# the lockfile of crates/wsmand-mgmt/web, bundled by esbuild, written to
# crates/wsmand-mgmt/assets/, where wsmand-mgmt embeds them (include_bytes). Node is needed
# only here, never at run time.
#
#   scripts/web-assets.sh build   # rebuild the embedded files (after changing web/)
#   scripts/web-assets.sh check   # a clean `npm ci --ignore-scripts` in a temporary directory,
#                                 # the same bundling, and a byte-for-byte comparison with the
#                                 # embedded files; exit 1 on any difference
#
# `--ignore-scripts`: no package runs code at install time. esbuild's binary comes from its
# optional package @esbuild/linux-x64 all the same; its install script only optimises how the
# binary is found.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WEB="$ROOT/crates/wsmand-mgmt/web"
ASSETS="$ROOT/crates/wsmand-mgmt/assets"
# The bundled files, each from its entry point in web/src.
OUTPUTS=(terminal.js terminal.css events.js graphs.js graphs.css search.js)

# Bundle web/src into $2 using the packages installed under $1.
bundle() {
    local tree="$1" out="$2"
    local esbuild="$tree/node_modules/.bin/esbuild"
    (cd "$tree" && "$esbuild" src/terminal.js --bundle --minify --format=iife --target=es2020 \
        --legal-comments=eof --charset=utf8 --log-level=warning --outfile="$out/terminal.js")
    (cd "$tree" && "$esbuild" src/terminal.css --bundle --minify --legal-comments=eof \
        --charset=utf8 --log-level=warning --outfile="$out/terminal.css")
    (cd "$tree" && "$esbuild" src/events.js --bundle --minify --format=iife --target=es2020 \
        --legal-comments=eof --charset=utf8 --log-level=warning --outfile="$out/events.js")
    (cd "$tree" && "$esbuild" src/graphs.js --bundle --minify --format=iife --target=es2020 \
        --legal-comments=eof --charset=utf8 --log-level=warning --outfile="$out/graphs.js")
    (cd "$tree" && "$esbuild" src/search.js --bundle --minify --format=iife --target=es2020 \
        --legal-comments=eof --charset=utf8 --log-level=warning --outfile="$out/search.js")
    (cd "$tree" && "$esbuild" src/graphs.css --bundle --minify --legal-comments=eof \
        --charset=utf8 --log-level=warning --outfile="$out/graphs.css")
}

# A clean install of the lockfile into a copy of web/ under $1.
clean_install() {
    local tree="$1"
    mkdir -p "$tree"
    cp "$WEB/package.json" "$WEB/package-lock.json" "$tree/"
    cp -r "$WEB/src" "$tree/src"
    (cd "$tree" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
}

command -v npm >/dev/null || { echo "web-assets: npm is needed (Debian: apt-get install nodejs npm)" >&2; exit 2; }

work="$(mktemp -d -t wsmand-web-XXXXXX)"
trap 'rm -rf "$work"' EXIT
clean_install "$work/tree"
mkdir -p "$work/out"
bundle "$work/tree" "$work/out"

case "${1:-}" in
build)
    for file in "${OUTPUTS[@]}"; do
        cp "$work/out/$file" "$ASSETS/$file"
        echo "web-assets: wrote crates/wsmand-mgmt/assets/$file ($(wc -c <"$ASSETS/$file") bytes)"
    done
    ;;
check)
    status=0
    for file in "${OUTPUTS[@]}"; do
        if cmp "$work/out/$file" "$ASSETS/$file"; then
            echo "web-assets: $file matches a fresh build ($(sha256sum <"$ASSETS/$file" | cut -c1-16))"
        else
            echo "web-assets: crates/wsmand-mgmt/assets/$file differs from a fresh build: run scripts/web-assets.sh build" >&2
            status=1
        fi
    done
    exit "$status"
    ;;
*)
    echo "usage: scripts/web-assets.sh build|check" >&2
    exit 2
    ;;
esac
