#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster on loopback, for the local stack and tests.
#   pg.sh start DIR PORT   create (if needed) and start the cluster in DIR
#   pg.sh stop DIR         stop it (fast shutdown); no error when not running
#   pg.sh status DIR
# The cluster trusts local connections as user postgres and listens only on
# 127.0.0.1 and a socket in DIR/run. Data stays in DIR between runs.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd="${1:-}"; dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || die "usage: pg.sh start|stop|status DIR [PORT]"
[ -x "$PG_BIN/initdb" ] || die "PostgreSQL 15 server not found in $PG_BIN (run deploy/install-deps.sh)"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
data="$dir/data"

# The postgres user must be able to reach DIR; when a parent folder shuts it out
# (e.g. a checkout under a private home), keep the cluster under /tmp instead.
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$dir" 2>/dev/null; then
  alt="/tmp/auditwatch-pg-$(printf '%s' "$dir" | cksum | cut -d' ' -f1)"
  mkdir -p "$alt"
  ln -sfn "$alt" "$dir/cluster"
  data="$alt/data"; dir="$alt"
fi
[ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"

case "$cmd" in
  start)
    port="${3:?port required}"
    if [ ! -s "$data/PG_VERSION" ]; then
      log "creating PostgreSQL cluster in $data"
      as_pg "$PG_BIN/initdb" -D "$data" -A trust -U postgres -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    fi
    mkdir -p "$dir/run"; [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir/run"
    if as_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      log "PostgreSQL already running in $data"
    else
      as_pg "$PG_BIN/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 60 \
        -o "-p $port -k $dir/run -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on" start >/dev/null \
        || { tail -20 "$dir/postgres.log" >&2; die "PostgreSQL did not start on port $port"; }
      log "PostgreSQL listening on 127.0.0.1:$port"
    fi
    ;;
  stop)
    if [ -s "$data/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      as_pg "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
      log "PostgreSQL in $data stopped"
    fi
    ;;
  status)
    as_pg "$PG_BIN/pg_ctl" -D "$data" status
    ;;
  *) die "unknown command $cmd" ;;
esac
