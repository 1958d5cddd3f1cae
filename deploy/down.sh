#!/usr/bin/env bash
# Stops the local stack: drains auditwatch with SIGTERM, then stops PostgreSQL.
# Data under .local/ is kept; remove the folder to start from scratch.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pidfile="$AW_LOCAL_DIR/auditwatch.pid"
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  pid="$(cat "$pidfile")"
  kill -TERM "$pid"
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"; die "auditwatch (pid $pid) did not stop in 30 s; killed"
  fi
  if tail -5 "$AW_LOCAL_DIR/auditwatch.log" | grep -q '"shutdown complete"'; then
    log "auditwatch (pid $pid) drained and stopped cleanly"
  else
    log "auditwatch (pid $pid) stopped; see $AW_LOCAL_DIR/auditwatch.log"
  fi
fi
rm -f "$pidfile"
bash "$AW_ROOT/deploy/pg.sh" stop "$AW_LOCAL_DIR/pg"
