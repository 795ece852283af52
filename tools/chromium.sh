#!/usr/bin/env bash
# `make browser`: Debian's headless Chromium, which the HTML report's browser test
# opens the report in. Idempotent and quick once installed: it only checks that
# /usr/bin/chromium answers. Never downloads a browser build of its own (Playwright's
# `install` is not used); the tests drive this one through its DevTools protocol.
#
# Needs root (or sudo) the first time: CI runs it as root.
set -euo pipefail

say() { echo "browser: $*" >&2; }
die() { say "$*"; exit 1; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root for: $* (run make browser as root, or apt-get install chromium yourself)"
    fi
}

CHROMIUM=/usr/bin/chromium

if [[ ! -x "$CHROMIUM" ]]; then
    say "Chromium is not installed: installing it from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q >/dev/null
    # Fonts come with the package's dependencies; recommends (extensions, drivers for
    # a desktop) are not needed headless.
    as_root apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
[[ -x "$CHROMIUM" ]] || die "apt-get ran but $CHROMIUM is missing"
# A browser that cannot even print its version would fail every test: say so here.
version=$("$CHROMIUM" --headless --no-sandbox --disable-gpu --version 2>/dev/null) \
    || die "$CHROMIUM is installed but does not start"
say "$version"
