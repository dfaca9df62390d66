#!/usr/bin/env bash
# Issue 11's "/api/me ≥ 0.9 × /healthz", measured in alternating pairs on one server: the memory
# store with accounts in SQLite (as scripts/bench http runs it), /healthz without a cookie and a
# signed-in GET /api/me, one after the other ROUNDS times (default 6), wrk -t2 -c64 -d$DURATION
# (default 5s) each. Prints each pair's req/s and server CPU per request (/proc/PID/stat), and the
# median of the pairs' ratios: drift of the host's CPU share between two runs seconds apart is
# smaller than between runs minutes apart.
# Usage, from the project root: scripts/bench-pairs.sh   (CLOAKROOM_BIN: a built binary; default:
# swift build -c release)
set -u -o pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk"; exit 1; }
bin=${CLOAKROOM_BIN:-}
if [ -z "$bin" ]; then
    swift build -c release --product cloakroom >&2 || { echo "release build failed"; exit 1; }
    bin=$(swift build -c release --show-bin-path)/cloakroom
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
rounds=${ROUNDS:-6}; duration=${DURATION:-5s}; port=${CLOAKROOM_PORT:-9310}
tick=$(getconf CLK_TCK)
dir=$(mktemp -d)
(cd "$dir" && exec "$bin" serve --host 127.0.0.1 --port "$port" --store memory --accounts "sqlite:$dir/accounts.sqlite" --log-level error >"$dir/log" 2>&1) &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -s -o /dev/null "$base/healthz" && break; sleep 0.2; done
body='{"username":"alice","password":"correct horse battery"}'
curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d "$body" "$base/api/register"
curl -s -o /dev/null -c "$dir/jar" -X POST -H 'Content-Type: application/json' -d "$body" "$base/api/login"
cookie=$(grep -v '^# ' "$dir/jar" | awk 'NF >= 7 && $6 == "cloakroom" { print $6 "=" $7 }' | head -n1)
[ -n "$cookie" ] || { echo "sign-in failed: no session cookie"; exit 1; }
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
measure() { # path [cookie] -> "req/s cpu-µs-per-request"
    local t0 t1 out n
    t0=$(cpu)
    if [ -n "${2:-}" ]; then out=$(wrk -t2 -c64 -d"$duration" -H "Cookie: $2" "$base$1"); else out=$(wrk -t2 -c64 -d"$duration" "$base$1"); fi
    t1=$(cpu)
    n=$(awk '/requests in/ { print $1 }' <<<"$out")
    echo "$(awk '/Requests\/sec/ { print $2 }' <<<"$out") $(awk -v a="$t0" -v b="$t1" -v n="$n" -v t="$tick" 'BEGIN { printf "%.1f", (b - a) / t * 1e6 / n }')"
    grep -q 'Non-2xx' <<<"$out" && echo "warning: non-2xx responses on $1" >&2
}
wrk -t2 -c64 -d3s "$base/healthz" >/dev/null
wrk -t2 -c64 -d3s -H "Cookie: $cookie" "$base/api/me" >/dev/null
printf '| pair | /healthz req/s | /healthz CPU µs/request | /api/me req/s | /api/me CPU µs/request | /api/me ÷ /healthz |\n| --- | ---: | ---: | ---: | ---: | ---: |\n'
ratios=()
for ((r = 1; r <= rounds; r++)); do
    read -r hr hc <<<"$(measure /healthz)"
    read -r mr mc <<<"$(measure /api/me "$cookie")"
    ratio=$(awk -v m="$mr" -v h="$hr" 'BEGIN { printf "%.2f", m / h }')
    ratios+=("$ratio")
    printf '| %d | %.0f | %s | %.0f | %s | %s |\n' "$r" "$hr" "$hc" "$mr" "$mc" "$ratio"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{ a[NR] = $1 } END { m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; n = 0; for (i = 1; i <= NR; i++) if (a[i] >= 0.9) n++; printf "\nmedian /api/me ÷ /healthz: %.2f (%d of %d pairs at or above the target 0.9)\n", m, n, NR }'
