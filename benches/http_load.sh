#!/usr/bin/env bash
# HTTP load on a synthetic knowledge base with the shared harness (../shared/bench/load): starts
# `kbsearch serve` on 127.0.0.1, runs wrk through run_wrk.py at 1 and 64 connections, and stops
# the server.
#   search  (default): /api/search (result cache warm, then cache off) and /api/suggest.
#   deflect: /api/deflect with the 500 draft cases (long_post.jsonl), then counts the drafts
#            recorded in DATA/events.sqlite3 against the requests answered; then feedback writes
#            (`cargo bench --bench deflect` in its HTTP mode: creates 1,000 drafts, sends distinct
#            feedback at 1 and 64 connections, checks the `feedback` rows against the answers).
# Usage: benches/http_load.sh [SCRATCH_DIR] [ARTICLES] [search|deflect|all]
#        (default /tmp/kbsearch-bench 10000 search; KBSEARCH_BIN=FILE skips the release build,
#        KBSEARCH_BENCH_PORT picks the port, default 18090; KBSEARCH_BENCH_QUERIES=DIR replays
#        another query set made by gen_corpus.py queries and prep_queries.py, e.g. 50,000 short
#        queries with few repeats)
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="${1:-/tmp/kbsearch-bench}"
n="${2:-10000}"
mode="${3:-search}"
case "$mode" in search|deflect|all) ;; *) echo "mode must be search, deflect or all"; exit 2;; esac
source benches/load_setup.sh
queries="${KBSEARCH_BENCH_QUERIES:-$scratch/kbq}"
[ -f "$queries/short.url" ] || { python3 "$shared/gen_corpus.py" queries --out "$queries" >/dev/null; python3 "$shared/load/prep_queries.py" "$queries" >/dev/null; }
# /metrics needs an agent key: the bench reads its request counts with this one.
metrics_key="http-load-bench-agent-key-0123456789"
keys="[[keys]]\nkey = \"$metrics_key\"\nrole = \"agent\"\nname = \"bench metrics\"\n"
# Load is many requests from one address: rate limits off, or they would be what is measured.
no_limits="[rate_limit]\nenabled = false\n"
printf "[limits]\ncache_entries = 0\n$no_limits$keys" > "$scratch/no-cache.toml"
printf "$no_limits$keys" > "$scratch/cache.toml"
port="${KBSEARCH_BENCH_PORT:-18090}"
out="$scratch/wrk-results.jsonl"
server=

serve() { # config-file [extra serve flags...]
  local config="$1"; shift
  if curl -s -o /dev/null "127.0.0.1:$port/healthz"; then echo "port $port is in use"; exit 1; fi
  "$bin" serve --config "$config" --kb "$kb" --index "$scratch/index$n" --bind "127.0.0.1:$port" "$@" > "$scratch/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 1 600); do curl -sf "127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.5; done
  echo "server did not become ready"; cat "$scratch/serve.log"; exit 1
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=; }
trap '[ -z "$server" ] || kill $server 2>/dev/null || true' EXIT

# Requests answered 200 on a route, from the service's own /metrics.
answered() { # route
  curl -s -H "Authorization: Bearer $metrics_key" "127.0.0.1:$port/metrics" | awk -v r="route=\"$1\"" \
    'index($0, "kbsearch_http_requests_total{") == 1 && index($0, r) && index($0, "status=\"200\"") { s += $NF } END { print s + 0 }'
}
rows() { # table
  python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM " + sys.argv[2]).fetchone()[0])' "$data/events.sqlite3" "$1"
}

deflect() {
  cargo bench --quiet --bench deflect --no-run
  data="$scratch/deflect-data$n"
  rm -rf "$data"
  serve "$scratch/cache.toml" --data "$data"
  python3 "$shared/load/run_wrk.py" --name "kbsearch/${n}/deflect" --url "http://127.0.0.1:$port" \
    --file "$queries/long_post.jsonl" --path /api/deflect --post --out "$out"
  # Every answered draft was durable before its answer: compare the rows with the answers (a
  # request cut off by wrk's stop may still be written: rows >= answers, by at most 64 a run).
  local sent
  sent=$(python3 -c 'import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
recs = [r for r in recs if r["name"] == sys.argv[2]][-2:]
print(sum(run["requests"] for r in recs for run in r["runs"]))' "$out" "kbsearch/${n}/deflect")
  echo "deflect rows check: deflections rows $(rows deflections), answered 200 (/metrics) $(answered /api/deflect), wrk requests in the measured runs $sent (warm-ups not counted by wrk)"
  KBSEARCH_BENCH_URL="http://127.0.0.1:$port" KBSEARCH_BENCH_DATA="$data" \
    KBSEARCH_BENCH_DRAFTS="$queries/long_post.jsonl" cargo bench --quiet --bench deflect
  echo "after feedback: deflections rows $(rows deflections), feedback rows $(rows feedback), answered 200: deflect $(answered /api/deflect), feedback $(answered /api/deflect/{id}/feedback)"
  stop
}

if [ "$mode" = deflect ]; then deflect; exit 0; fi

serve "$scratch/cache.toml"
python3 "$shared/load/run_wrk.py" --name "kbsearch/${n}/search (cache)" --url "http://127.0.0.1:$port" \
  --file "$queries/short.url" --path '/api/search?q=' --out "$out"
python3 "$shared/load/run_wrk.py" --name "kbsearch/${n}/suggest" --url "http://127.0.0.1:$port" \
  --file "$queries/short.url" --path '/api/suggest?q=' --out "$out"
stop
serve "$scratch/no-cache.toml"
python3 "$shared/load/run_wrk.py" --name "kbsearch/${n}/search (no cache)" --url "http://127.0.0.1:$port" \
  --file "$queries/short.url" --path '/api/search?q=' --out "$out"
stop
if [ "$mode" = all ]; then deflect; fi
