#!/usr/bin/env bash
# Uncached search and deflection against raw tantivy-cli, side by side on one corpus and one
# query set (issue 16), with the shared harness (../shared/bench/load).
#
#   benches/side_by_side.sh [SCRATCH] [ARTICLES] [search|all]
#
# The query set is the issue's: 50,000 short queries of which about 18,000 are distinct, and
# 5,000 drafts (`gen_corpus.py queries --short 50000 --long 5000 --seed 7`), so the result cache
# rarely answers. In this order, each with run_wrk.py at 1 and 64 connections (3 runs of 10 s
# after 3 s of warm-up): kbsearch `/api/search` with the cache off, tantivy-cli `serve` on the
# same queries (top 10 + count), kbsearch with the cache on; with `all`, also kbsearch
# `/api/deflect` and tantivy-cli with each draft as one OR query. Rate limits are off.
# tantivy-cli: `tantivy` on PATH or TANTIVY_BIN (see ../shared/bench/load/README.md);
# KBSEARCH_BIN=FILE serves another build instead of the release build of this tree.
# Results are appended to SCRATCH/side-by-side.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="${1:-/tmp/kbsearch-bench}"
n="${2:-10000}"
mode="${3:-search}"
case "$mode" in search|all) ;; *) echo "mode must be search or all"; exit 2;; esac
tantivy="${TANTIVY_BIN:-$(command -v tantivy || true)}"
[ -x "$tantivy" ] || { echo "tantivy-cli is missing: cargo install tantivy-cli, or set TANTIVY_BIN"; exit 1; }
source benches/load_setup.sh
queries="$scratch/q50k"
if [ ! -f "$queries/short_plain.url" ]; then
  python3 "$shared/gen_corpus.py" queries --short 50000 --long 5000 --seed 7 --out "$queries" >/dev/null
  python3 "$shared/load/prep_queries.py" "$queries" >/dev/null
fi
peer_index="$scratch/tantivy$n"
if [ ! -f "$peer_index/.built" ]; then
  rm -rf "$peer_index"; mkdir -p "$peer_index"
  cp "$shared/load/tantivy-cli-meta.json" "$peer_index/meta.json"
  "$tantivy" index -i "$peer_index" -f "$kb/docs.jsonl" -t 2 >/dev/null 2>&1
  touch "$peer_index/.built"
fi
key="side-by-side-bench-agent-key-0123456789"
keys="[[keys]]\nkey = \"$key\"\nrole = \"agent\"\nname = \"bench\"\n"
printf "[limits]\ncache_entries = 0\n[rate_limit]\nenabled = false\n$keys" > "$scratch/side-no-cache.toml"
printf "[rate_limit]\nenabled = false\n$keys" > "$scratch/side-cache.toml"
port="${KBSEARCH_BENCH_PORT:-18091}"
out="$scratch/side-by-side.jsonl"
commit=${KBSEARCH_BIN:+$(basename "${KBSEARCH_BIN:-}")}
commit=${commit:-$(git rev-parse --short HEAD)}
server=
trap '[ -z "$server" ] || kill $server 2>/dev/null || true' EXIT

wait_ready() { # path
  for _ in $(seq 1 1200); do curl -sf -o /dev/null "127.0.0.1:$port$1" && return; sleep 0.5; done
  echo "server did not become ready"; exit 1
}
kbsearch() { # config
  # A fresh event folder each time, so no run depends on what the runs before it recorded.
  rm -rf "$scratch/side-data"
  "$bin" serve --config "$1" --kb "$kb" --index "$scratch/index$n" --data "$scratch/side-data" \
    --bind "127.0.0.1:$port" > "$scratch/side-serve.log" 2>&1 &
  server=$!
  wait_ready /readyz
}
peer() {
  "$tantivy" serve -i "$peer_index" -p "$port" --host 127.0.0.1 > "$scratch/side-peer.log" 2>&1 &
  server=$!
  wait_ready "/api/?q=x"
}
stop() { kill "$server"; wait "$server" 2>/dev/null || true; server=; }
wrk() { # name url-file path [--post]
  python3 "$shared/load/run_wrk.py" --name "$1" --url "http://127.0.0.1:$port" --file "$2" \
    --path "$3" "${@:4}" --out "$out"
}

echo "kbsearch $commit, $n articles, $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
kbsearch "$scratch/side-no-cache.toml"
wrk "kbsearch $commit/$n/search (no cache)" "$queries/short.url" '/api/search?q='
stop
peer
wrk "tantivy-cli/$n/short" "$queries/short_plain.url" '/api/?nhits=10&q='
stop
kbsearch "$scratch/side-cache.toml"
wrk "kbsearch $commit/$n/search (cache)" "$queries/short.url" '/api/search?q='
if [ "$mode" = all ]; then
  stop
  kbsearch "$scratch/side-cache.toml"
  wrk "kbsearch $commit/$n/deflect" "$queries/long_post.jsonl" /api/deflect --post
  stop
  peer
  wrk "tantivy-cli/$n/drafts as OR" "$queries/long_plain.url" '/api/?nhits=10&q='
fi
stop
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
