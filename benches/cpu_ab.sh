#!/usr/bin/env bash
# CPU per uncached search request, builds interleaved: the figure that holds on a shared machine.
# For each round, each build serves the synthetic KB with the result cache off; wrk (through the
# shared run_wrk.py) sends the queries (8 connections unless set), 3 s of warm-up then 8 s measured;
# the service's utime+stime over the measured run (/proc/PID/stat) is divided by the answers
# with status 200 its /metrics counted on /api/search.
# Usage: benches/cpu_ab.sh BIN... (scratch: KBSEARCH_BENCH_DIR, default /tmp/kbsearch-bench, with
#        kb10000/, index10000/, kbq/ and no-cache.toml as benches/http_load.sh leaves them)
#        KBSEARCH_BENCH_CONNS (default 8) and KBSEARCH_BENCH_QUERIES (a .url file, default the
#        short queries of kbq/; side_by_side.sh's q50k/short.url is the few-repeats set)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { sed -n 2,10p "$0"; exit 2; }
scratch="${KBSEARCH_BENCH_DIR:-/tmp/kbsearch-bench}"
port="${KBSEARCH_BENCH_PORT:-18092}"
conns="${KBSEARCH_BENCH_CONNS:-8}"
queries="${KBSEARCH_BENCH_QUERIES:-$scratch/kbq/short.url}"
key="http-load-bench-agent-key-0123456789"
for need in "$scratch/kb10000" "$scratch/index10000" "$scratch/no-cache.toml" "$queries" "$@"; do
  [ -e "$need" ] || { echo "$need is missing (benches/http_load.sh $scratch makes the scratch files)"; exit 2; }
done
wrk_run() { # seconds
  python3 ../shared/bench/load/run_wrk.py --name cpu_ab --url "http://127.0.0.1:$port" \
    --file "$queries" --path '/api/search?q=' --conns "$conns" --dur "$1" --reps 1 \
    --warmup 0 --out "$scratch/cpu_ab_wrk.jsonl" > /dev/null 2>&1
}
answered() {
  curl -s -H "Authorization: Bearer $key" "127.0.0.1:$port/metrics" | awk 'index($0, "kbsearch_http_requests_total{") == 1 && index($0, "route=\"/api/search\"") && index($0, "status=\"200\"") { s += $NF } END { print s + 0 }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
ticks_per_second=$(getconf CLK_TCK)
for round in 1 2 3; do
  for bin in "$@"; do
    "$bin" serve --config "$scratch/no-cache.toml" --kb "$scratch/kb10000" \
      --index "$scratch/index10000" --bind "127.0.0.1:$port" > "$scratch/cpu_ab_serve.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do
      curl -sf "127.0.0.1:$port/readyz" > /dev/null && break
      kill -0 $pid 2>/dev/null || { echo "$bin stopped before it was ready:"; tail -5 "$scratch/cpu_ab_serve.log"; exit 1; }
      sleep 0.5
    done
    curl -sf "127.0.0.1:$port/readyz" > /dev/null || { echo "$bin was not ready in 300 s"; kill $pid; exit 1; }
    wrk_run 3
    c0=$(cpu_ticks $pid); a0=$(answered)
    wrk_run 8
    c1=$(cpu_ticks $pid); a1=$(answered)
    kill $pid; wait $pid 2>/dev/null || true
    awk -v b="$bin" -v r=$round -v c=$((c1 - c0)) -v n=$((a1 - a0)) -v t="$ticks_per_second" \
      'BEGIN { printf "%s round %d: %d requests, %.0f ms CPU, %.1f us/request\n", b, r, n, 1000 * c / t, 1e6 * c / t / n }'
  done
done
