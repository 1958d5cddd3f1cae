#!/usr/bin/env bash
# Installs every package auditwatch needs to build, test and run, from Debian 12.
# Idempotent and quick when everything is present; needs root to install.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES=(
  # toolchain
  build-essential cmake pkg-config ccache git ca-certificates curl
  # gRPC, protobuf, Abseil
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  # PostgreSQL client library and server
  libpqxx-dev postgresql-15
  # metrics, logs, HTTP
  prometheus-cpp-dev prometheus libspdlog-dev libcurl4-openssl-dev nlohmann-json3-dev
  # identities: HMAC (OpenSSL) and bearer tokens (libjwt)
  libssl-dev libjwt-dev
  # CSV files (awctl import-readings, reports)
  libcsv-dev
  # reports: Excel workbooks (with charts), XML and HTML
  libxlsxwriter-dev libxml2-dev
  # the theft model: gradient-boosted trees
  libxgboost-dev
  # tests and benchmarks
  catch2 libbenchmark-dev python3 python3-grpcio python3-protobuf
  # report tests: workbooks read back (zip), XML checked against its schema,
  # HTML opened in headless Chromium (DevTools protocol), Chinese fonts for it
  libzip-dev libxml2-utils chromium python3-websocket fonts-wqy-microhei
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  log "all ${#PACKAGES[@]} packages present"
  exit 0
fi
[ "$(id -u)" = 0 ] || die "missing packages (${missing[*]}); run as root to install them"
log "installing ${#missing[@]} package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
log "packages installed"
