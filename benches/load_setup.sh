# Sourced by the HTTP load scripts (http_load.sh, side_by_side.sh) after they set `scratch` and
# `n`, from the repository root: checks the shared harness and wrk, builds the service (or takes
# KBSEARCH_BIN), and makes the synthetic knowledge base of `n` articles once. Sets `shared`,
# `bin` and `kb`.
shared=../shared/bench
[ -d "$shared/load" ] || { echo "skipped: $shared/load is missing"; exit 0; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk"; exit 1; }
if [ -n "${KBSEARCH_BIN:-}" ]; then bin="$KBSEARCH_BIN"; else
  cargo build --release --quiet
  bin="$PWD/target/release/kbsearch"
fi
mkdir -p "$scratch"
kb="$scratch/kb$n"
[ -d "$kb/articles" ] || python3 "$shared/gen_corpus.py" articles --n "$n" --out "$kb" >/dev/null
