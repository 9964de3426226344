#!/usr/bin/env bash
# Runs the README's curl walkthrough exactly as written, against `npm start` on port $PORT (default 8787;
# started here, and stopped again, unless something already answers there). Fails on any error response.
set -euo pipefail
cd "$(dirname "$0")/.."
export PORT="${PORT:-8787}"
health="http://127.0.0.1:$PORT/health"

# The curl walkthrough, then "Use it from your app": the client packed here and installed in a fresh folder, run with
# the walkthrough's $API and $KEY.
extract() { awk -v start="<!-- $1:start -->" -v end="<!-- $1:end -->" '$0 == start {on=1; next} $0 == end {on=0} on && !/^```/' README.md; }
block=$(extract readme-check)
client_block=$(extract readme-client-check)
[ -n "$block" ] || { echo "no readme-check block in README.md"; exit 1; }
[ -n "$client_block" ] || { echo "no readme-client-check block in README.md"; exit 1; }

server=""
cleanup() { [ -n "$server" ] && kill -- -"$server" 2>/dev/null || true; }
trap cleanup EXIT
if ! curl -sf $health > /dev/null 2>&1; then
  set -m
  npm start > .ci/readme-server.log 2>&1 &
  server=$!
  set +m
  for _ in $(seq 1 120); do
    curl -sf $health > /dev/null 2>&1 && break
    sleep 0.5
  done
  curl -sf $health > /dev/null || { echo "npm start did not come up:"; tail -30 .ci/readme-server.log; exit 1; }
fi

output=$(bash -euo pipefail -c "$block
$client_block" 2>&1)
echo "$output" | head -c 3000; echo
if echo "$output" | grep -qE '"error":|undefined'; then
  echo "README walkthrough failed: an error response or a missing field above"
  exit 1
fi
if ! echo "$output" | tail -n 1 | grep -qx "Ada takes her coffee black, no sugar."; then
  echo "README client steps failed: the app installed from the packed client did not print the memory it wrote; the output ended with:"
  echo "$output" | tail -n 5 | cut -c1-400
  exit 1
fi
echo "README walkthrough: ok"
