# Shared shell helpers of the deploy scripts (sourced, not run).
set -euo pipefail

AW_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
AW_BUILD_DIR="${AW_BUILD_DIR:-$AW_ROOT/build}"
AW_LOCAL_DIR="${AW_LOCAL_DIR:-$AW_ROOT/.local}"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"

log() { printf '\033[1m[auditwatch]\033[0m %s\n' "$*" >&2; }
die() { printf '[auditwatch] error: %s\n' "$*" >&2; exit 1; }

# Runs a PostgreSQL server binary as the postgres user when we are root
# (initdb and postgres refuse to run as root).
as_pg() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}
