#!/usr/bin/env bash
# Times `kbsearch index` on synthetic knowledge bases of 10,000 and 100,000 articles made by
# ../shared/bench/gen_corpus.py: a full build, then a refresh with nothing changed. Prints wall
# time and peak resident memory. Usage: benches/index_scale.sh [SCRATCH_DIR] [SIZES...]
set -euo pipefail
cd "$(dirname "$0")/.."
scratch="${1:-/tmp/kbsearch-bench}"
shift || true
sizes=("${@:-10000 100000}")
gen=../shared/bench/gen_corpus.py
[ -f "$gen" ] || { echo "skipped: $gen is missing"; exit 0; }
cargo build --release --quiet
bin="$PWD/target/release/kbsearch"
mkdir -p "$scratch"
for n in ${sizes[@]}; do
  kb="$scratch/kb$n"
  [ -d "$kb/articles" ] || python3 "$gen" articles --n "$n" --out "$kb" >/dev/null
  rm -rf "$scratch/index$n"
  for run in build refresh; do
    /usr/bin/time -f "%e s wall, %M KiB peak RSS" -o "$scratch/time.txt" \
      "$bin" index --kb "$kb" --index "$scratch/index$n" > "$scratch/out.txt"
    echo "$n articles, $run: $(cat "$scratch/time.txt") — $(head -1 "$scratch/out.txt")"
  done
done
