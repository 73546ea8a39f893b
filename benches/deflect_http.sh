#!/bin/bash
# /api/deflect over HTTP with and without a sentence model, side by side (issue 15).
#
#   benches/deflect_http.sh KB DRAFTS MODEL [OUT]
#
# KB: a synthetic knowledge base (gen_corpus.py articles --n 1000); DRAFTS: the shared harness's
# long_post.jsonl; MODEL: a sentence-transformers folder (.ci/fetch-model DIR). For each mode the
# release build serves KB with rate limits off (every request comes from one address), waits
# until every article has its vector, then runs ../shared/bench/load/run_wrk.py at 8 and 64
# connections, 3 runs of 10 s; OUT (default /tmp/deflect-http.jsonl) collects wrk's figures.
# The vectors are kept in KB's index folder under /tmp, so a second run embeds nothing.
set -euo pipefail
KB=${1:?knowledge base folder}
DRAFTS=${2:?drafts file (long_post.jsonl)}
MODEL=${3:?sentence-transformers model folder}
OUT=${4:-/tmp/deflect-http.jsonl}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BIN=$HERE/target/release/kbsearch
HARNESS=$HERE/../shared/bench/load/run_wrk.py
KEY=deflect-http-bench-agent-key-0123456789
PORT=7811
SCRATCH=$(mktemp -d /tmp/deflect-http-XXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$SCRATCH"' EXIT
cat > "$SCRATCH/kbsearch.toml" <<TOML
[rate_limit]
enabled = false
[[keys]]
key = "$KEY"
role = "agent"
name = "deflect bench status"
TOML
(cd "$HERE" && cargo build --release --quiet)

ready() { curl -sf http://127.0.0.1:$PORT/readyz > /dev/null; }
every_vector() {
  curl -sf -H "Authorization: Bearer $KEY" http://127.0.0.1:$PORT/api/status | grep -q '"pending":0'
}
# Waits up to $2 seconds for check $1 to pass while the service lives; else stops with its log.
wait_for() { # check seconds what log
  for _ in $(seq 1 "$2"); do
    "$1" && return
    kill -0 "$pid" 2>/dev/null || { echo "the service stopped while $3:"; tail -20 "$4"; exit 1; }
    sleep 1
  done
  echo "gave up after $2 s $3:"; tail -20 "$4"; exit 1
}
for mode in lexical model; do
  extra=()
  index=$SCRATCH/index-lexical
  if [ "$mode" = model ]; then
    extra=(--semantic-model "$MODEL")
    index=/tmp/deflect-http-index-$(basename "$KB")
  fi
  "$BIN" serve --kb "$KB" --index "$index" --data "$SCRATCH/data-$mode" \
    --config "$SCRATCH/kbsearch.toml" --bind 127.0.0.1:$PORT "${extra[@]}" \
    > "$SCRATCH/serve-$mode.log" 2>&1 &
  pid=$!
  log=$SCRATCH/serve-$mode.log
  wait_for ready 600 "waiting for /readyz" "$log"
  if [ "$mode" = model ]; then
    echo "waiting for every article's vector (6-12 articles/s on 2 cores the first time)"
    wait_for every_vector 7200 "embedding the articles" "$log"
  fi
  echo "== $mode $(date +%T)"
  python3 "$HARNESS" --name "deflect-$mode" --url http://127.0.0.1:$PORT --file "$DRAFTS" \
    --path /api/deflect --post --conns 8,64 --dur 10 --reps 3 --out "$OUT"
  if [ "$mode" = model ]; then
    echo "semantic status (requests_embedded: drafts the model ranked; requests_busy: lexical):"
    curl -s -H "Authorization: Bearer $KEY" http://127.0.0.1:$PORT/api/status \
      | python3 -c 'import json, sys; print(json.load(sys.stdin)["semantic"])'
  fi
  kill $pid
  wait $pid 2>/dev/null || true
done
