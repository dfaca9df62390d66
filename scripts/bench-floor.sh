#!/usr/bin/env bash
# What the framework under Cloakroom serves on this machine when a request does no work at all,
# measured beside Cloakroom and the peers in the same run (issue 11's out-of-reach figures).
#
# Usage, from the project root:  scripts/bench-floor.sh [PEER...]   (default: hb; add tomcat if wanted)
# Environment: ROUNDS (default 3), CLOAKROOM_BIN (a built binary; default: swift build -c release),
#   DURATION=10s THREADS=2 CONNECTIONS=64 WARMUP=3s (passed to the peers' harness), PEERS_WORK.
#
# Targets, one server at a time through the peers' harness (../shared/peers/harness/run.sh), each
# round starting with the next one:
#   the peers        hummingbird-auth's SessionMiddleware (hb), Tomcat's HttpSession (tomcat)
#   cloakroom        `cloakroom serve --store memory`, GET /api/me with a session cookie
#   floor-bytes      `cloakroom bench floor`: the response Cloakroom gave to GET /api/me, recorded
#                    once with curl -i, answered from a constant (same status, header fields, body
#                    bytes), no middleware, no session, nothing looked up
#   floor-stack      the same through 10 pass-through middleware, as many as /api/me passes
# It prints each round's table, then medians, with every ratio taken within its round.
set -u -o pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
peers=${*:-hb}
rounds=${ROUNDS:-3}
src=$root/../shared/peers/harness
[ -x "$src/run.sh" ] || { echo "the peers' harness is missing: $src/run.sh"; exit 1; }
work=${PEERS_WORK:-${TMPDIR:-/tmp}/cloakroom-peers}
mkdir -p "$work" && cp -a -u "$src/." "$work/" && chmod -R u+w "$work" || { echo "cannot prepare $work"; exit 1; }
bin=${CLOAKROOM_BIN:-}
if [ -z "$bin" ]; then
    swift build -c release --product cloakroom >&2 || { echo "release build failed"; exit 1; }
    bin=$(swift build -c release --show-bin-path)/cloakroom
fi
dir=$(mktemp -d)
port=${CLOAKROOM_PORT:-9200}
(cd "$dir" && exec "$bin" serve --host 127.0.0.1 --port "$port" --store memory --log-level error >"$dir/server.log" 2>&1) &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/healthz" && break; sleep 0.2; done
body='{"username":"alice","password":"correct horse battery"}'
curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$port/api/register"
curl -s -o /dev/null -c "$dir/jar" -X POST -H 'Content-Type: application/json' -d "$body" "http://127.0.0.1:$port/api/login"
curl -s -i -b "$dir/jar" "http://127.0.0.1:$port/api/me" >"$dir/me.http"
head -n1 "$dir/me.http" | grep -q ' 200' || { echo "could not record GET /api/me: $(head -n1 "$dir/me.http")"; exit 1; }
echo "recorded GET /api/me: $(wc -c <"$dir/me.http") bytes ($(grep -c ':' "$dir/me.http") header fields and the body)"

export EXTRA_TARGETS="cloakroom,$port,/api/login,$body;floor-bytes,9202,/login,{};floor-stack,9203,/login,{}"
export EXTRA_CLOAKROOM_HELLO_PATH=/healthz EXTRA_CLOAKROOM_ME_PATH=/api/me
export EXTRA_FLOOR_BYTES_START="exec $bin bench floor --port 9202 --response $dir/me.http --middleware 0"
export EXTRA_FLOOR_STACK_START="exec $bin bench floor --port 9203 --response $dir/me.http --middleware 10"
export NO_BUILD=${NO_BUILD:-0}

targets=($peers cloakroom floor-bytes floor-stack)
n=${#targets[@]}
for ((r = 0; r < rounds; r++)); do
    order=()
    for ((i = 0; i < n; i++)); do order+=("${targets[$(((i + r) % n))]}"); done
    echo "round $((r + 1)) of $rounds: ${order[*]}" >&2
    "$work/run.sh" "${order[@]}" >"$dir/round-$r.txt" 2>"$dir/round-$r.log" ||
        { grep FAILED "$dir/round-$r.log" >&2; echo "round $((r + 1)): a target failed (above); its row is left out" >&2; }
    sed -n '/^peer /,/^$/p' "$dir/round-$r.txt"
done

# Medians over the rounds; each ratio is taken within its round, then its median printed.
cat "$dir"/round-*.txt | awk -v rounds="$rounds" -v list="${targets[*]}" '
    function median(a, k,   i, j, t) {
        for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
    }
    /^peer / { round++ }
    NF >= 6 && $2 ~ /^[0-9]+$/ { hello[round, $1] = $2; me[round, $1] = $3; p99[round, $1] = $5 + 0 }
    END {
        n = split(list, names, " ")
        printf "\n%d round(s); medians, ratios taken within each round\n\n", rounds
        printf "| server | hello req/s | /me req/s | /me p99 ms | /me ÷ hummingbird-auth /me | /me ÷ floor-stack /me |\n"
        printf "| --- | ---: | ---: | ---: | ---: | ---: |\n"
        for (i = 1; i <= n; i++) {
            t = names[i]; k = 0
            for (r = 1; r <= round; r++) if ((r, t) in me) {
                k++; h[k] = hello[r, t]; m[k] = me[r, t]; q[k] = p99[r, t]
                a[k] = ((r, "hb") in me) ? me[r, t] / me[r, "hb"] : 0
                b[k] = ((r, "floor-stack") in me) ? me[r, t] / me[r, "floor-stack"] : 0
            }
            if (k == 0) { printf "| %s | failed | | | | |\n", t; continue }
            printf "| %s | %.0f | %.0f | %.2f | %.2f | %.2f |\n", t, median(h, k), median(m, k), median(q, k), median(a, k), median(b, k)
        }
    }'
echo
echo "Targets (issue 11): Cloakroom /api/me ≥ 1.0 × Tomcat and ≥ 1.3 × hummingbird-auth. floor-bytes and floor-stack"
echo "send the same bytes as Cloakroom with no work at all: a ratio to hummingbird-auth below 1.3 there"
echo "means no server on this framework sending that response reaches the target on this machine."
