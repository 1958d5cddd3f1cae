#!/usr/bin/env bash
# Starts the local stack: a throwaway PostgreSQL under .local/ and every service
# in one process (--target=all), then waits until all report SERVING.
# Expects a build (deploy/build.sh). Safe to run again while the stack is up.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_PORT="${AW_PG_PORT:-55432}"
BIN="$AW_BUILD_DIR/services"
[ -x "$BIN/auditwatch" ] || die "no binary in $BIN; run deploy/build.sh first"
mkdir -p "$AW_LOCAL_DIR"

bash "$AW_ROOT/deploy/pg.sh" start "$AW_LOCAL_DIR/pg" "$PG_PORT"
psql=("$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
if [ "$("${psql[@]}" -d postgres -c "SELECT count(*) FROM pg_database WHERE datname = 'auditwatch'")" = 0 ]; then
  "${psql[@]}" -d postgres -c "CREATE DATABASE auditwatch"
  log "database auditwatch created"
fi
export AW_DATABASE_URL="${AW_DATABASE_URL:-host=127.0.0.1 port=$PG_PORT user=postgres dbname=auditwatch}"

pidfile="$AW_LOCAL_DIR/auditwatch.pid"
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  log "auditwatch already running (pid $(cat "$pidfile"))"
else
  nohup "$BIN/auditwatch" --target=all >>"$AW_LOCAL_DIR/auditwatch.log" 2>&1 &
  echo $! >"$pidfile"
  log "auditwatch started (pid $!), logs in $AW_LOCAL_DIR/auditwatch.log"
fi

if ! "$BIN/awctl" health --wait="${AW_WAIT:-60s}"; then
  tail -20 "$AW_LOCAL_DIR/auditwatch.log" >&2
  die "not every service became SERVING"
fi
