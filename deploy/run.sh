#!/usr/bin/env bash
# The main job: installs what is missing, builds, starts PostgreSQL and every
# service, drives the pipeline as far as it exists, prints what happened, and
# stops the stack cleanly (pass --keep-running to leave it up; deploy/down.sh
# stops it later).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

keep=0
for a in "$@"; do
  case "$a" in
    --keep-running) keep=1 ;;
    *) die "unknown argument $a (only --keep-running)" ;;
  esac
done

bash "$AW_ROOT/deploy/install-deps.sh"
bash "$AW_ROOT/deploy/build.sh"
bash "$AW_ROOT/deploy/up.sh"
# Whatever happens next, leave no stack behind unless asked to.
[ "$keep" = 1 ] || trap 'bash "$AW_ROOT/deploy/down.sh"' EXIT

# Every step below goes through the gateway, with keys made for the demo and
# kept under .local/keys (mode 0700; each file 0600).
AWCTL="$AW_BUILD_DIR/services/awctl"
export AW_GATEWAY="127.0.0.1:${AW_GATEWAY_PORT:-7100}"
keys="$AW_LOCAL_DIR/keys"
mkdir -p "$keys" && chmod 700 "$keys"

# The first administrator key: made once for this database (the bootstrap
# works only while there is none).
if ! "$AWCTL" whoami --key-file="$keys/admin.key" >/dev/null 2>&1; then
  "$AWCTL" keys bootstrap --subject=demo.admin --secret-file="$keys/admin.key" \
    || die "the database has an administrator key that $keys/admin.key does not hold; start afresh with: bash deploy/down.sh && rm -rf .local"
fi
# A demo key: made unless the file holds one that works.
demo_key() {  # name, then awctl keys create flags
  local name="$1"; shift
  "$AWCTL" whoami --key-file="$keys/$name.key" >/dev/null 2>&1 && return 0
  "$AWCTL" keys create --key-file="$keys/admin.key" --description="made by deploy/run.sh" \
    --secret-file="$keys/$name.key" "$@" >/dev/null
}
demo_key system --subject=demo.billing-system --role=ROLE_SYSTEM
demo_key county --subject=demo.c02-d04.specialist --role=ROLE_UNIT_SPECIALIST --unit=C02-D04
demo_key county2 --subject=demo.c02-d04.reviewer --role=ROLE_UNIT_SPECIALIST --unit=C02-D04
demo_key centre --subject=demo.centre.li --role=ROLE_CENTRE_AUDITOR
demo_key centre2 --subject=demo.centre.zhao --role=ROLE_CENTRE_AUDITOR
log "keys: $("$AWCTL" whoami --key-file="$keys/admin.key"); $("$AWCTL" whoami --key-file="$keys/system.key"); $("$AWCTL" whoami --key-file="$keys/county.key")"

log "the administrator defines the synthetic province's units and indicators"
"$AWCTL" load-synthetic --part=catalogue --seed=42 --key-file="$keys/admin.key"
log "the billing system pushes a year of readings (seed 42, last year)"
"$AWCTL" load-synthetic --part=readings --seed=42 --streams=2 --key-file="$keys/system.key"
log "the administrator applies the default warning rules; the monitor judges the year's readings"
"$AWCTL" apply-rules --seed=42 --key-file="$keys/admin.key"
log "county C02-D04's specialist sees only the county's warnings (the list is narrowed to its subtree):"
"$AWCTL" events --limit=5 --key-file="$keys/county.key"
log "the specialist imports manual readings from deploy/demo/manual-readings.csv; two rows are wrong on purpose:"
"$AWCTL" import-readings "$AW_ROOT/deploy/demo/manual-readings.csv" --key-file="$keys/county.key" \
  --errors="$AW_LOCAL_DIR/manual-readings.errors.csv" && die "the wrong rows were not reported"
log "a key of the county naming another county's unit is refused by the gateway:"
"$AWCTL" events --unit=C01 --key-file="$keys/county.key" && die "another county's events were listed"
log "the audit loop: warnings became tasks and work orders; C02-D04's two specialists and two centre auditors"
log "drive a sample through rectification and both reviews (some sent back, some overdue, one false positive):"
"$AWCTL" audit-drive --unit=C02-D04 --unit-key-file="$keys/county.key" --unit2-key-file="$keys/county2.key" \
  --centre-key-file="$keys/centre.key" --centre2-key-file="$keys/centre2.key"
log "the evaluation: the administrator saves the year's scheme; a centre auditor evaluates and publishes its"
log "14 periods (the audit's deductions included); rankings, one station's breakdown, warnings on scores:"
"$AWCTL" score-drive --unit=C02-D04 --seed=42 --key-file="$keys/admin.key" --centre-key-file="$keys/centre.key"

year=$(( $(date -u +%Y) - 1 ))
log "theft suspicion (违约窃电): the metering system loads a year of daily kWh of 2,000 customers of station"
log "C02-D04-S01 (synthetic, in the SGCC layout); a centre auditor runs the analysis; level-1 suspects become"
log "on-site inspection orders in audit:"
"$AWCTL" synth-sgcc "$AW_LOCAL_DIR/sgcc-demo.csv" --customers=2000 --days=365 --seed=42 --first-day="$year-01-01"
"$AWCTL" load-sgcc "$AW_LOCAL_DIR/sgcc-demo.csv" --station=C02-D04-S01 --category=residential \
  --key-file="$keys/system.key"
"$AWCTL" theft-drive --unit=C02-D04-S01 --from="$year-01-01" --to="$year-12-31" --key-file="$keys/centre.key"

reports="$AW_LOCAL_DIR/reports"
log "reports (三报一评): a centre auditor has the province's monthly summary for $year-12 and station C02-D04-S01's"
log "evaluation written in Excel and HTML; the county's specialist has the county's theme analysis by region and time:"
for format in xlsx html; do
  "$AWCTL" report --kind=monthly-summary --unit=P --period="$year-12" --format=$format --out="$reports" \
    --key-file="$keys/centre.key"
  "$AWCTL" report --kind=evaluation --unit=C02-D04-S01 --period="$year-12" --format=$format --out="$reports" \
    --key-file="$keys/centre.key"
done
"$AWCTL" report --kind=theme-analysis --unit=C02-D04 --period="$year" --format=html --out="$reports" \
  --key-file="$keys/county.key"
log "a report of the whole province is refused to the county's specialist:"
"$AWCTL" report --kind=monthly-summary --unit=P --period="$year-12" --key-file="$keys/county.key" \
  && die "the county's specialist had the province's report"
log "reports saved in $reports (open the .html in a browser, the .xlsx in Excel)"

metrics_port="${AW_METRICS_PORT:-9100}"
series=$(curl -fsS "http://127.0.0.1:$metrics_port/metrics" | grep -c '^auditwatch_' || true)
log "Prometheus metrics: http://127.0.0.1:$metrics_port/metrics ($series auditwatch series)"
versions=()
for svc in ingest monitor audit scoring report gateway; do
  v=$("$PG_BIN/psql" -h 127.0.0.1 -p "${AW_PG_PORT:-55432}" -U postgres -d auditwatch -qtA \
    -c "SELECT max(version) FROM $svc.schema_migrations")
  versions+=("$svc v$v")
done
log "schemas migrated: ${versions[*]}"
log "ingest metrics:"
curl -fsS "http://127.0.0.1:$metrics_port/metrics" \
  | grep -E '^auditwatch_ingest_(rows_total|batch_seconds_(count|sum))' | sed 's/^/    /' >&2 || true
log "audit metrics:"
curl -fsS "http://127.0.0.1:$metrics_port/metrics" \
  | grep -E '^auditwatch_audit_(work_orders|overdue_work_orders|open_supervision_orders|outbox_backlog|transitions_total)' \
  | sed 's/^/    /' >&2 || true
log "scoring metrics:"
curl -fsS "http://127.0.0.1:$metrics_port/metrics" \
  | grep -E '^auditwatch_scoring_(runs_total|units_scored_total|run_duration_seconds_(count|sum)|outbox_backlog|due_evaluations)' \
  | sed 's/^/    /' >&2 || true
log "report metrics:"
curl -fsS "http://127.0.0.1:$metrics_port/metrics" \
  | grep -E '^auditwatch_report(s_total|_generation_seconds_(count|sum)|_stored_bytes|_jobs)' \
  | sed 's/^/    /' >&2 || true
log "gateway calls by code (auditwatch_gateway_calls_total):"
curl -fsS "http://127.0.0.1:$metrics_port/metrics" | grep '^auditwatch_gateway_calls_total' \
  | sed -E 's/.*code="([A-Z_]+)".*} ([0-9.e+]+)$/\1 \2/' \
  | awk '{n[$1] += $2} END {for (c in n) printf "    %-20s %d\n", c, n[c]}' >&2 || true
log "gateway access log: $(grep -c '"logger":"gateway.access"' "$AW_LOCAL_DIR/auditwatch.log" || true) lines in $AW_LOCAL_DIR/auditwatch.log"

[ "$keep" = 1 ] && log "stack left running; stop it with: bash deploy/down.sh"
exit 0
