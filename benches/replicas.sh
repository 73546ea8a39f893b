#!/usr/bin/env bash
# Writes per second with the events in PostgreSQL, two replicas behind nginx, next to one process
# with SQLite, on the sample kb/ (issue 17). For each set-up: creates drafts (kb/deflection.jsonl,
# 250 rounds of its 84 drafts, up to 10 suggestions each), then wrk at 64 connections for 5 s
#   feedback: distinct feedback (`case_submitted`, and `not_helpful` and `solved` for each
#             suggestion), every request a new row while the prepared writes last; the rows in
#             the database are counted against the requests wrk saw (an acknowledged write is a
#             row);
#   deflect:  POST /api/deflect with the 84 drafts in turn (each answer records a new draft).
# PostgreSQL runs in a cluster of the script's own (as `nobody` under root, fsync on), nginx with
# deploy/nginx/kbsearch.conf, ports replaced. Everything listens on 127.0.0.1 and stops at the end.
# Usage: benches/replicas.sh [SCRATCH_DIR]  (default /tmp/kbsearch-replicas-bench;
#        KBSEARCH_BIN=FILE skips the release build; DURATION=5s; CONNECTIONS=64; ROUNDS=250)
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
scratch="${1:-/tmp/kbsearch-replicas-bench}"
duration="${DURATION:-5s}"
connections="${CONNECTIONS:-64}"
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/initdb" ] || { echo "PostgreSQL is missing: apt-get install postgresql"; exit 1; }
[ -x /usr/sbin/nginx ] || { echo "nginx is missing: apt-get install nginx-light"; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk"; exit 1; }
if [ -n "${KBSEARCH_BIN:-}" ]; then bin="$KBSEARCH_BIN"; else
  cargo build --release --quiet
  bin="$PWD/target/release/kbsearch"
fi
rm -rf "$scratch"; mkdir -p "$scratch"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -d "$scratch/pg/data" ] && $as_pg "$pgbin/pg_ctl" -D "$scratch/pg/data" -m immediate stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

as_pg=""
mkdir -p "$scratch/pg"
if [ "$(id -u)" -eq 0 ]; then chown nobody "$scratch/pg"; as_pg="runuser -u nobody --"; fi
pgport=$(free_port)
$as_pg "$pgbin/initdb" -D "$scratch/pg/data" -U kbsearch --auth=trust -E UTF8 >/dev/null
$as_pg "$pgbin/pg_ctl" -D "$scratch/pg/data" -l "$scratch/pg/server.log" -w -o \
  "-p $pgport -k $scratch/pg -c listen_addresses=127.0.0.1 -c max_connections=60" start >/dev/null
psql() { $as_pg "$pgbin/psql" -h 127.0.0.1 -p "$pgport" -U kbsearch -At "$@"; }
psql -d postgres -c "CREATE DATABASE events" >/dev/null
url="postgres://kbsearch@127.0.0.1:$pgport/events"

printf '[rate_limit]\nenabled = false\ntrusted_proxies = ["127.0.0.1"]\n' > "$scratch/kbsearch.toml"

replica() { # name port [serve flags...]
  local name="$1" port="$2"; shift 2
  mkdir -p "$scratch/$name"; cp -r kb "$scratch/$name/kb"
  (cd "$scratch/$name" && exec "$bin" serve --config "$scratch/kbsearch.toml" --kb kb --index index \
     --data data --watch off --bind "127.0.0.1:$port" "$@" > serve.log 2>&1) &
  pids+=($!)
  for _ in $(seq 1 300); do curl -sf "127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.2; done
  echo "$name did not become ready"; cat "$scratch/$name/serve.log"; exit 1
}

# Drafts to send feedback on, through `base`; a file of `path<TAB>body` lines, one a write.
feedback_file() { # base out
  python3 - "$1" "$2" "$repo/kb/deflection.jsonl" "${ROUNDS:-250}" <<'EOF'
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
base, out, drafts, rounds = sys.argv[1:]
cases = [json.loads(line) for line in open(drafts)] * int(rounds)

def feedback_of(case):
    body = {"subject": case["subject"], "description": case["description"], "limit": 10}
    req = urllib.request.Request(base + "/api/deflect", json.dumps(body).encode(),
                                 {"content-type": "application/json"})
    answer = json.load(urllib.request.urlopen(req))
    lines = ["/api/deflect/%s/feedback\t%s" % (answer["deflection_id"],
             json.dumps({"outcome": "case_submitted"}))]
    for s in answer["suggestions"]:
        for outcome in ("not_helpful", "solved"):
            lines.append("/api/deflect/%s/feedback\t%s" % (answer["deflection_id"],
                         json.dumps({"outcome": outcome, "article_id": s["id"]})))
    return lines

with ThreadPoolExecutor(16) as pool:
    lines = [line for some in pool.map(feedback_of, cases) for line in some]
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
print(len(lines), "distinct feedback writes prepared", file=sys.stderr)
EOF
}
# The 84 drafts as deflect requests.
python3 - "$repo/kb/deflection.jsonl" "$scratch/deflect.tsv" <<'EOF'
import json, sys
with open(sys.argv[2], "w") as f:
    for line in open(sys.argv[1]):
        case = json.loads(line)
        body = {"subject": case["subject"], "description": case["description"]}
        f.write("/api/deflect\t%s\n" % json.dumps(body))
EOF
# wrk: each thread posts its share of the lines in turn, each line at most once per pass.
cat > "$scratch/post.lua" <<'EOF'
local threads, counter = {}, 0
function setup(thread) thread:set("id", counter); counter = counter + 1; table.insert(threads, thread) end
function init(args)
  lines = {}
  local n = 0
  for line in io.lines(args[1]) do
    if n % tonumber(args[2]) == id then table.insert(lines, line) end
    n = n + 1
  end
  i = 0
end
function request()
  i = i % #lines + 1
  local path, body = lines[i]:match("([^\t]+)\t(.*)")
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end
EOF

results="$scratch/results.txt"; : > "$results"
measure() { # label base file
  local label="$1" base="$2" file="$3"
  wrk -t2 -c"$connections" -d"$duration" -s "$scratch/post.lua" "$base" -- "$file" 2 > "$scratch/wrk-$label.txt"
  local rps non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "$scratch/wrk-$label.txt")
  non2xx=$(awk '/Non-2xx/ {print $5}' "$scratch/wrk-$label.txt")
  printf "%-36s %9s req/s  %s  non-2xx %s  %s\n" "$label" "$rps" \
    "$(grep -E 'requests in' "$scratch/wrk-$label.txt" | xargs)" "${non2xx:-0}" \
    "$(grep -E 'Latency' "$scratch/wrk-$label.txt" | xargs)" | tee -a "$results"
}

# One process, SQLite.
port=$(free_port)
replica single "$port"
feedback_file "http://127.0.0.1:$port" "$scratch/feedback-sqlite.tsv"
measure "sqlite-1-process feedback" "http://127.0.0.1:$port" "$scratch/feedback-sqlite.tsv"
echo "  feedback rows: $(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM feedback").fetchone()[0])' "$scratch/single/data/events.sqlite3")" | tee -a "$results"
measure "sqlite-1-process deflect" "http://127.0.0.1:$port" "$scratch/deflect.tsv"
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

# Two replicas, PostgreSQL, nginx.
a=$(free_port); b=$(free_port); front=$(free_port)
replica a "$a" --events-url "$url"
replica b "$b" --events-url "$url"
mkdir -p "$scratch/nginx"
cp deploy/nginx/kbsearch-proxy.conf "$scratch/nginx/"
sed -e "s/127.0.0.1:8081/127.0.0.1:$a/" -e "s/127.0.0.1:8082/127.0.0.1:$b/" \
    -e "s/listen 127.0.0.1:8080;/listen 127.0.0.1:$front;/" deploy/nginx/kbsearch.conf > "$scratch/nginx/kbsearch.conf"
n="$scratch/nginx"
cat > "$n/nginx.conf" <<EOF
pid $n/nginx.pid;
error_log $n/error.log warn;
worker_processes 1;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $n/body; proxy_temp_path $n/proxy; fastcgi_temp_path $n/fastcgi;
  uwsgi_temp_path $n/uwsgi; scgi_temp_path $n/scgi;
  include kbsearch.conf;
}
EOF
/usr/sbin/nginx -p "$n" -c "$n/nginx.conf" -e "$n/error.log" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "127.0.0.1:$front/readyz" >/dev/null && break; sleep 0.1; done
feedback_file "http://127.0.0.1:$front" "$scratch/feedback-pg.tsv"
measure "postgres-2-replicas+nginx feedback" "http://127.0.0.1:$front" "$scratch/feedback-pg.tsv"
echo "  feedback rows: $(psql -d events -c 'SELECT count(*) FROM feedback')" | tee -a "$results"
measure "postgres-2-replicas+nginx deflect" "http://127.0.0.1:$front" "$scratch/deflect.tsv"
echo "binary: $bin; commit $(git rev-parse --short HEAD); $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results"
