#!/usr/bin/env bash
# Property-based API tests: schemathesis generates requests from /api/openapi.json (every
# operation, every check, valid and invalid data, stateful sequences) against a running
# `kbsearch serve` on the sample kb/, as an agent, for a bounded time. Any failure fails CI.
# Usage: .ci/schemathesis.sh [SECONDS]   (default 180); needs target/debug/kbsearch built (by
# `cargo build` or `cargo test`).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-180}"
[ -x target/debug/kbsearch ] || { echo "target/debug/kbsearch is missing: run cargo build or cargo test first"; exit 1; }
version="4.32.5"
venv="target/schemathesis-venv"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$version"
fi

# The hook decides which failures are schemathesis's mistakes: check it first.
(cd .ci && "../$venv/bin/python" test_schemathesis_hooks.py)

scratch="$(mktemp -d)"
port="${KBSEARCH_ST_PORT:-18300}"
key="schemathesis-agent-key-$(date +%s%N)"
server=
cleanup() {
  [ -z "$server" ] || kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

cp -r kb "$scratch/kb"
cat > "$scratch/kbsearch.toml" <<EOF
[[keys]]
key = "$key"
role = "agent"
name = "schemathesis"

# Generated traffic is one client sending thousands of requests: the limits protect the
# portal from that and would answer most of them 429 (which the schema allows, and which
# would leave the rest of the API untested).
[rate_limit]
enabled = false
EOF
target/debug/kbsearch serve --config "$scratch/kbsearch.toml" --kb "$scratch/kb" \
  --index "$scratch/index" --data "$scratch/data" --bind "127.0.0.1:$port" \
  > "$scratch/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 240); do
  curl -sf "127.0.0.1:$port/readyz" > /dev/null && break
  sleep 0.5
done
curl -sf "127.0.0.1:$port/readyz" > /dev/null || { cat "$scratch/serve.log"; exit 1; }

# Rules OpenAPI cannot state (a bound on page × per_page, `to` after `from`, feedback on an
# article the draft was shown) are dropped from the failures by the hook, only those.
SCHEMATHESIS_HOOKS=schemathesis_hooks PYTHONPATH=.ci "$venv/bin/schemathesis" --config-file .ci/schemathesis.toml run \
  "http://127.0.0.1:$port/api/openapi.json" \
  --checks all \
  --header "Authorization: Bearer $key" \
  --max-time "$seconds" \
  --workers 2 \
  --seed 20261204
