#!/usr/bin/env bash
# `make services`: the PostgreSQL server the tests use, installed and started by the
# project itself. Idempotent: run it as often as you like.
#
#   - installs PostgreSQL from Debian's packages when it is missing;
#   - listens on 127.0.0.1:5432 only;
#   - lets the `postgres` user in from 127.0.0.1 without a password (a marked block at
#     the top of pg_hba.conf, replaced in place on every run, never appended twice);
#   - preloads pg_stat_statements, for looking at statements by hand (the engine tests
#     load auto_explain into their own sessions: see tests/test_engine_sources.py);
#   - starts the cluster (or reloads/restarts it when this script changed its config);
#   - creates the database `test` and waits until it answers.
#
# Needs root (or a user allowed to run apt-get and pg_ctlcluster): CI runs it as root.
# This is a throw-away test server: never run it on a machine whose PostgreSQL matters.
set -euo pipefail

PORT=5432
HOST=127.0.0.1
MARK_BEGIN="# dqx services: begin (tools/services.sh rewrites this block)"
MARK_END="# dqx services: end"

say() { echo "services: $*" >&2; }
die() { say "$*"; exit 1; }

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        die "need root for: $* (run make services as root, or start PostgreSQL yourself)"
    fi
}

installed_version() {
    # The newest PostgreSQL server installed from Debian's packages, e.g. 15.
    local v
    v=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1 || true)
    [[ -n "$v" && -x "/usr/lib/postgresql/$v/bin/postgres" ]] && echo "$v" || true
}

ver=$(installed_version)
if [[ -z "$ver" ]] || ! command -v pg_ctlcluster >/dev/null; then
    say "PostgreSQL is not installed: installing it from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q >/dev/null
    as_root apt-get install -y -q --no-install-recommends postgresql >/dev/null
    ver=$(installed_version)
    [[ -n "$ver" ]] || die "apt-get installed postgresql but no server binary was found"
fi

conf_dir="/etc/postgresql/$ver/main"
if [[ ! -f "$conf_dir/postgresql.conf" ]]; then
    say "creating cluster $ver/main"
    as_root pg_createcluster "$ver" main >/dev/null
fi

# -- configuration: listen on loopback, port 5432, trust postgres from 127.0.0.1 --------
changed_conf=0
changed_hba=0

conf_file="$conf_dir/conf.d/dqx-services.conf"
# pg_stat_statements shows what ran on the server; loading it needs a restart. The
# engine tests do not read it: its entries are shared by the whole server and the
# least-used are evicted when concurrent test runs fill them.
wanted_conf="# Written by dqx tools/services.sh: the test server listens on loopback only.
listen_addresses = '$HOST'
port = $PORT
shared_preload_libraries = 'pg_stat_statements'"
if [[ "$(cat "$conf_file" 2>/dev/null || true)" != "$wanted_conf" ]]; then
    as_root mkdir -p "$conf_dir/conf.d"
    printf '%s\n' "$wanted_conf" | as_root tee "$conf_file" >/dev/null
    changed_conf=1
fi

hba="$conf_dir/pg_hba.conf"
block="$MARK_BEGIN
host    all    postgres    $HOST/32    trust
$MARK_END"
# The block goes first (pg_hba takes the first matching line); any earlier copy of it,
# wherever it is, is dropped, so re-running never appends a second one.
new_hba="$(printf '%s\n' "$block"; as_root awk -v b="$MARK_BEGIN" -v e="$MARK_END" '
    $0 == b { skip = 1; next }
    $0 == e { skip = 0; next }
    !skip' "$hba")"
if [[ "$(as_root cat "$hba")" != "$new_hba" ]]; then
    printf '%s\n' "$new_hba" | as_root tee "$hba.dqx-new" >/dev/null
    as_root chown --reference="$hba" "$hba.dqx-new"
    as_root chmod --reference="$hba" "$hba.dqx-new"
    as_root mv -f "$hba.dqx-new" "$hba"
    changed_hba=1
fi

# -- start, or apply what changed ------------------------------------------------------
status=$(pg_lsclusters -h 2>/dev/null | awk -v v="$ver" '$1 == v && $2 == "main" { print $4 }')
if [[ "$status" != online* ]]; then
    say "starting PostgreSQL $ver/main on $HOST:$PORT"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start
elif [[ $changed_conf -eq 1 ]]; then
    say "restarting PostgreSQL $ver/main: listen address, port or preloaded libraries changed"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main restart
elif [[ $changed_hba -eq 1 ]]; then
    say "reloading PostgreSQL $ver/main: pg_hba.conf changed"
    as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
fi

for _ in $(seq 1 60); do
    pg_isready -q -h "$HOST" -p "$PORT" && break
    sleep 0.5
done
pg_isready -q -h "$HOST" -p "$PORT" || die "PostgreSQL $ver did not answer on $HOST:$PORT within 30 s"

# No password may be needed: ignore any ~/.pgpass and PGPASSWORD of the caller.
psql_postgres() {
    env -u PGPASSWORD PGPASSFILE=/nonexistent/dqx-no-pgpass PGCONNECT_TIMEOUT=5 \
        psql -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U postgres "$@"
}
# A reload is asynchronous: give the new pg_hba a moment to be read.
for _ in $(seq 1 20); do
    psql_postgres -d postgres -tAc "SELECT 1" >/dev/null 2>&1 && break
    sleep 0.25
done
if [[ "$(psql_postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'")" != 1 ]]; then
    psql_postgres -d postgres -c "CREATE DATABASE test"
fi
psql_postgres -d test -tAc "SELECT 1" >/dev/null \
    || die "database test on $HOST:$PORT does not let postgres in without a password"
say "PostgreSQL $ver ready: postgresql://postgres@$HOST:$PORT/test"
