#!/usr/bin/env bash
# Load benchmark of `pricetrack serve`: authenticated GET /api/v1/jobs returning 20 jobs.
# Sustained load at 256 connections, then a spike of 2,000 connections at once.
# Everything runs on 127.0.0.1; results are printed and belong in BENCHMARKS.md.
#
#   scripts/bench-api.sh [duration-seconds]     (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-30}"

command -v wrk >/dev/null || { echo "installing wrk" >&2; apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v curl >/dev/null || { echo "curl is required" >&2; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release --locked --bin pricetrack
data_dir="$(mktemp -d)"
port=19090
base="http://127.0.0.1:${port}"
PRICETRACK_LISTEN="127.0.0.1:${port}" PRICETRACK_DATA_DIR="$data_dir" RUST_LOG=warn \
  PRICETRACK_ALLOW_PRIVATE_TARGETS=true PRICETRACK_DEFAULT_CHECK_INTERVAL_SECS=86400 \
  "${CARGO_TARGET_DIR:-target}/release/pricetrack" serve &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data_dir"' EXIT
for _ in $(seq 100); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.1; done

curl -fs -o /dev/null "$base/api/v1/signup" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"benchmark-password"}'
cookie="$(curl -fs -D - -o /dev/null "$base/api/v1/signin" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"benchmark-password"}' | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p')"
for i in $(seq 20); do
  # Port 9 (discard) on loopback: the one check each job gets fails at once and costs nothing.
  curl -fs -o /dev/null "$base/api/v1/jobs" -H "cookie: $cookie" -H 'content-type: application/json' \
    -d "{\"url\":\"http://127.0.0.1:9/product/$i\",\"target_price\":\"$i.99\"}"
done
jobs="$(curl -fs "$base/api/v1/jobs?limit=20" -H "cookie: $cookie" | grep -o '"id"' | wc -l)"
echo "jobs per response: $jobs"
sleep 2

echo; echo "== sustained: 256 connections, ${duration}s"
wrk -t2 -c256 -d"${duration}s" --latency -H "cookie: $cookie" "$base/api/v1/jobs?limit=20"
echo; echo "== spike: 2000 connections at once, 15s"
wrk -t2 -c2000 -d15s --timeout 10s --latency -H "cookie: $cookie" "$base/api/v1/jobs?limit=20"
echo; echo "server peak RSS: $(grep VmHWM /proc/$server/status)"
