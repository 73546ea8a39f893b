#!/usr/bin/env bash
# HTTP load on a synthetic knowledge base with the shared harness (../shared/bench/load): starts
# `kbsearch serve` on 127.0.0.1, runs wrk through run_wrk.py at 1 and 64 connections against
# /api/search (result cache warm, then cache off) and /api/suggest, and stops the server.
# Usage: benches/http_load.sh [SCRATCH_DIR] [ARTICLES]   (default /tmp/kbsearch-bench 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="${1:-/tmp/kbsearch-bench}"
n="${2:-10000}"
shared=../shared/bench
[ -d "$shared/load" ] || { echo "skipped: $shared/load is missing"; exit 0; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk"; exit 1; }
cargo build --release --quiet
bin="$PWD/target/release/kbsearch"
mkdir -p "$scratch"
kb="$scratch/kb$n"
[ -d "$kb/articles" ] || python3 "$shared/gen_corpus.py" articles --n "$n" --out "$kb" >/dev/null
queries="$scratch/kbq"
[ -f "$queries/short.url" ] || { python3 "$shared/gen_corpus.py" queries --out "$queries" >/dev/null; python3 "$shared/load/prep_queries.py" "$queries" >/dev/null; }
printf '[limits]\ncache_entries = 0\n' > "$scratch/no-cache.toml"
printf '' > "$scratch/cache.toml"
port=18090
out="$scratch/wrk-results.jsonl"

serve() { # config-file
  "$bin" serve --config "$1" --kb "$kb" --index "$scratch/index$n" --bind "127.0.0.1:$port" > "$scratch/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 1 600); do curl -sf "127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.5; done
  echo "server did not become ready"; cat "$scratch/serve.log"; exit 1
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; }
trap 'kill $server 2>/dev/null || true' EXIT

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
