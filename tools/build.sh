#!/usr/bin/env bash
# Build the pinned Go tools the real end-to-end tests run, once per version, into a
# cache outside the repository:
#
#   tools/build.sh jaeger        Jaeger v2 (github.com/jaegertracing/jaeger/cmd/jaeger)
#   tools/build.sh otelcol-dqx   the minimal Collector of tools/otelcol-dqx
#   tools/build.sh all           both; prints nothing but the paths when they are built
#
# Versions come from tools/go.mod (one Collector release for Jaeger and our collector,
# so they share the module and build caches). A binary already in the cache is reused:
# its folder name carries the version and, for our collector, a hash of its source and
# of go.mod/go.sum, so a change there builds a new one.
#
# Cache: $DQX_TOOLS_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/dqx-tools. Go's own
# caches (GOMODCACHE, GOCACHE) stay where `go env` says, also outside the repository.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${DQX_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dqx-tools}"

module_version() {
    # The version tools/go.mod requires for module $1 (no network, no module graph).
    awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$here/go.mod"
}

source_hash() {
    cat "$here/go.mod" "$here/go.sum" "$here"/otelcol-dqx/*.go | cksum | cut -d' ' -f1
}

target() {
    case "$1" in
        jaeger) echo "$cache/jaeger-$(module_version github.com/jaegertracing/jaeger)/jaeger" ;;
        otelcol-dqx)
            echo "$cache/otelcol-dqx-$(module_version go.opentelemetry.io/collector/otelcol)-$(source_hash)/otelcol-dqx"
            ;;
        *) echo "unknown tool $1 (jaeger, otelcol-dqx, all)" >&2; return 2 ;;
    esac
}

package() {
    case "$1" in
        jaeger) echo github.com/jaegertracing/jaeger/cmd/jaeger ;;
        otelcol-dqx) echo ./otelcol-dqx ;;
    esac
}

ldflags() {
    # -s -w: no symbol tables (smaller, faster to link). Jaeger reports its version
    # from a variable its own release build sets the same way.
    case "$1" in
        jaeger)
            echo "-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=$(module_version github.com/jaegertracing/jaeger)"
            ;;
        *) echo "-s -w" ;;
    esac
}

build() {
    local tool="$1" out
    out="$(target "$tool")"
    if [[ -x "$out" ]]; then
        echo "$out"
        return
    fi
    command -v go >/dev/null || { echo "go is not installed: cannot build $tool" >&2; return 1; }
    echo "building $tool into $out (once per version)" >&2
    local started=$SECONDS tmp
    mkdir -p "$(dirname "$out")"
    tmp="$(mktemp "$(dirname "$out")/.build.XXXXXX")"
    # -mod=readonly: the build uses exactly the versions go.mod and go.sum pin.
    # A first build downloads the module set (about 1.2 GB) and compiles it: minutes.
    # The one line per downloaded module is left out of the log.
    if ! (cd "$here" && go build -mod=readonly -trimpath -ldflags="$(ldflags "$tool")" \
        -o "$tmp" "$(package "$tool")") 2>&1 | { grep -v '^go: downloading ' >&2 || true; }; then
        rm -f "$tmp"
        echo "building $tool failed" >&2
        return 1
    fi
    mv -f "$tmp" "$out"   # atomic: a half-written binary is never taken for a built one
    echo "built $tool in $((SECONDS - started)) s" >&2
    echo "$out"
}

case "${1:-all}" in
    all) build jaeger; build otelcol-dqx ;;
    path) target "$2" ;;
    *) build "$1" ;;
esac
