#!/usr/bin/env bash
# Two builds side by side over HTTP, interleaved: for each case (search with the result cache,
# search without it, deflection; 64 connections), build A and build B take turns, ROUNDS times,
# so a machine that gets busier or quieter during the run weighs on both alike. Each turn is one
# 10 s wrk run after a 3 s warm-up, on a freshly started service; the report gives each build's
# median and every run.
# Usage: benches/http_ab.sh A_BIN B_BIN [SCRATCH_DIR] [ARTICLES] [ROUNDS]
#        (default /tmp/kbsearch-bench 10000 3; the corpus and queries are http_load.sh's, made
#        here when missing; KBSEARCH_BENCH_PORT picks the port, default 18091)
# A build older than `[rate_limit]` is started without that table (it had no rate limits).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { sed -n 2,10p "$0"; exit 2; }
bins=("$1" "$2")
scratch="${3:-/tmp/kbsearch-bench}"
n="${4:-10000}"
rounds="${5:-3}"
port="${KBSEARCH_BENCH_PORT:-18091}"
shared=../shared/bench
[ -d "$shared" ] || { echo "needs $shared (the benchmark material beside the checkout)"; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk"; exit 1; }

mkdir -p "$scratch"
kb="$scratch/kb$n"
[ -d "$kb/articles" ] || python3 "$shared/gen_corpus.py" articles --n "$n" --out "$kb" >/dev/null
queries="$scratch/kbq"
[ -f "$queries/short.url" ] || { python3 "$shared/gen_corpus.py" queries --out "$queries" >/dev/null; python3 "$shared/load/prep_queries.py" "$queries" >/dev/null; }
out="$scratch/ab-results.jsonl"
rm -f "$out"

server=
trap '[ -z "$server" ] || kill $server 2>/dev/null || true' EXIT

serve() { # binary cache(on|off) index-dir
  local bin="$1" cache="$2" index="$3" config="$scratch/ab.toml"
  : > "$config"
  [ "$cache" = on ] || printf "[limits]\ncache_entries = 0\n" >> "$config"
  printf "[rate_limit]\nenabled = false\n" >> "$config"
  for attempt in with-rate-limit without; do
    "$bin" serve --config "$config" --kb "$kb" --index "$index" --data "$scratch/ab-data" \
      --bind "127.0.0.1:$port" > "$scratch/ab-serve.log" 2>&1 &
    server=$!
    for _ in $(seq 1 600); do
      if curl -sf "127.0.0.1:$port/readyz" >/dev/null; then return; fi
      if ! kill -0 "$server" 2>/dev/null; then break; fi
      sleep 0.5
    done
    wait "$server" 2>/dev/null || true
    server=
    if [ "$attempt" = with-rate-limit ] && grep -q 'unknown field `rate_limit`' "$scratch/ab-serve.log"; then
      sed -i '/rate_limit/,+1d' "$config"
      continue
    fi
    echo "$bin did not become ready"; cat "$scratch/ab-serve.log"; exit 1
  done
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=; }

turn() { # case-name side binary cache path [--post] file
  local name="$1" side="$2" bin="$3" cache="$4" path="$5" file="$6"; shift 6
  rm -rf "$scratch/ab-data"
  serve "$bin" "$cache" "$scratch/ab-index-$side"
  python3 "$shared/load/run_wrk.py" --name "$name [$side]" --url "http://127.0.0.1:$port" \
    --file "$file" --path "$path" --conns 64 --reps 1 --out "$out" "$@" > /dev/null
  stop
}

for case in "search (cache)" "search (no cache)" "deflect"; do
  for round in $(seq 1 "$rounds"); do
    for side in A B; do
      bin="${bins[0]}"; [ "$side" = A ] || bin="${bins[1]}"
      case "$case" in
        "search (cache)") turn "$case" "$side" "$bin" on '/api/search?q=' "$queries/short.url" ;;
        "search (no cache)") turn "$case" "$side" "$bin" off '/api/search?q=' "$queries/short.url" ;;
        deflect) turn "$case" "$side" "$bin" on /api/deflect "$queries/long_post.jsonl" --post ;;
      esac
    done
  done
done

python3 - "$out" "${bins[@]}" <<'PY'
import json, statistics, sys
out, a, b = sys.argv[1:4]
print(f"A = {a}\nB = {b}\n64 connections, median of the rounds (every run in brackets)")
rows = [json.loads(line) for line in open(out)]
cases = []
for r in rows:
    case = r["name"].rsplit(" [", 1)[0]
    if case not in cases:
        cases.append(case)
for case in cases:
    line = f"{case:20s}"
    for side in "AB":
        runs = [run for r in rows if r["name"] == f"{case} [{side}]" for run in r["runs"]]
        qps = statistics.median(run["qps"] for run in runs)
        p99 = statistics.median(run["p99_ms"] for run in runs)
        line += f" | {side}: {qps:8.0f}/s p99 {p99:6.1f} ms {[round(run['qps']) for run in runs]}"
    print(line)
PY
