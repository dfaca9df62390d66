#!/usr/bin/env bash
# The cluster benchmark behind `scripts/bench cluster` (issue 12), which starts Redis and
# PostgreSQL and passes REDIS_URL and POSTGRES_URL. Usage: scripts/bench-cluster.sh CLOAKROOM_BINARY
#
# For each session store (standalone Redis, REDIS_URL; and a Redis Cluster of 3 primaries + 3
# replicas that `cloakroom cluster up` starts itself) and for 1, 2 and 3 nodes (NODES),
# `cloakroom cluster up --topology central` with PostgreSQL accounts, then through HAProxy:
# authenticated reads (GET /api/me) and writes (PUT /api/session/data/n) per second with wrk, over
# USERS signed-in sessions; the ratio to one node on the same store; and, with the last cluster on
# each store, the requests lost when a node is SIGKILLed under load; on the Redis Cluster also those
# lost when a Redis primary is SIGKILLed under load.
# DURATION (10s), THREADS (2), CONNECTIONS (64), USERS (16). Sign-ins use a cheap password hash
# (ln=12): the figures are about sessions, not hashing.
set -uo pipefail
bin=$1
work=${BENCH_WORK:-$(mktemp -d)}
chmod 711 "$work"
duration=${DURATION:-10s}; threads=${THREADS:-2}; connections=${CONNECTIONS:-64}; users=${USERS:-16}
node_counts=${NODES:-1 2 3}
export CLOAKROOM_PASSWORD_HASH=ln=12,r=8,p=1
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk"; exit 1; }
summary() {
    awk '/Requests\/sec/ { rps = $2 } / 50%/ { p50 = $2 } / 99%/ { p99 = $2 }
         /Non-2xx/ { bad = $NF } /Socket errors/ { gsub(",", ""); errors = $4 + $6 + $8 + $10 }
         function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
         END { printf "%.0f %.2f %.2f %d\n", rps, ms(p50), ms(p99), bad + errors }'
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
declare -A result
# The Redis Cluster: started (with its own idle node) by `cluster up`, and kept for every run.
rc_dir="$work/redis-cluster"
if "$bin" cluster up --nodes 1 --topology central --accounts "${POSTGRES_URL:?}" --port "$(free_port)" --dir "$rc_dir" \
    >"$work/up-redis-cluster.log" 2>&1; then
    cluster_url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["store"])' "$rc_dir/cluster.json")
else
    echo "the Redis Cluster did not start:"; cat "$work/up-redis-cluster.log"; cluster_url=""
fi
stores="standalone"
[ -n "$cluster_url" ] && stores="standalone cluster"
for store in $stores; do
    url=${REDIS_URL:?}
    [ "$store" = cluster ] && url=$cluster_url
    last_dir=""
    for n in $node_counts; do
        dir="$work/$store-$n"; port=$(free_port)
        if ! "$bin" cluster up --nodes "$n" --topology central --store "$url" --accounts "${POSTGRES_URL:?}" \
            --port "$port" --dir "$dir" >"$work/up-$store-$n.log" 2>&1; then
            echo "cluster of $n on $store did not start:"; cat "$work/up-$store-$n.log"; continue
        fi
        base="http://127.0.0.1:$port"
        cookies=()
        for i in $(seq "$users"); do
            # Created by the operator command (registration over HTTP is throttled per address), then
            # signed in through the balancer.
            name="bench-$store-$n-$i-$RANDOM"
            echo "correct horse battery" | "$bin" users add "$name" --store "$REDIS_URL" --accounts "$POSTGRES_URL" >/dev/null 2>&1
            cookie=$(curl -s -D - -o /dev/null -X POST -H 'Content-Type: application/json' \
                -d "{\"username\":\"$name\",\"password\":\"correct horse battery\"}" "$base/api/login" | tr -d '\r' |
                awk -F': ' 'tolower($1) == "set-cookie" && $2 ~ /^cloakroom=/ { split($2, a, ";"); print a[1] }')
            [ -n "$cookie" ] && cookies+=("$cookie")
        done
        [ "${#cookies[@]}" -gt 0 ] || { echo "$n node(s) on $store: nobody could sign in (see $dir/*.log)"; continue; }
        lua_cookies=$(printf '"%s",' "${cookies[@]}")
        for kind in read write; do
            cat >"$work/$kind.lua" <<LUA
local cookies = { ${lua_cookies%,} }
local i = 0
request = function()
    i = i + 1
    local headers = { ["Cookie"] = cookies[(i % #cookies) + 1], ["Content-Type"] = "application/json" }
    if "$kind" == "write" then
        return wrk.format("PUT", "/api/session/data/n", headers, '{"n":' .. i .. '}')
    end
    return wrk.format("GET", "/api/me", headers)
end
LUA
            cp "$work/$kind.lua" "$work/$store-$kind.lua"
            wrk -t"$threads" -c"$connections" -d3s -s "$work/$kind.lua" "$base" >/dev/null
            result[$store,$n,$kind]=$(wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$work/$kind.lua" "$base" | summary)
        done
        echo "$n node(s) on $store Redis: reads ${result[$store,$n,read]}; writes ${result[$store,$n,write]} (req/s p50 p99 failed)"
        [ -n "$last_dir" ] && "$bin" cluster down --dir "$last_dir" >/dev/null 2>&1
        last_dir=$dir; last_n=$n; last_base=$base
    done
    if [ -n "$last_dir" ]; then
        seconds=${duration%s}
        if [ "$store" = cluster ]; then
            # A Redis primary SIGKILLed a third of the way into a read run.
            wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$work/$store-read.lua" "$last_base" >"$work/failover.txt" 2>&1 &
            load=$!
            sleep $((seconds / 3))
            "$bin" cluster kill redis1 --dir "$rc_dir" >/dev/null
            wait "$load"
            result[failover]=$(summary <"$work/failover.txt")
        fi
        # A node SIGKILLed a third of the way into a read run, through HAProxy.
        wrk -t"$threads" -c"$connections" -d"$duration" --latency -s "$work/$store-read.lua" "$last_base" >"$work/kill.txt" 2>&1 &
        load=$!
        sleep $((seconds / 3))
        "$bin" cluster kill node"$last_n" --dir "$last_dir" >/dev/null
        wait "$load"
        result[$store,kill]=$(summary <"$work/kill.txt")
        result[$store,last]=$last_n
        "$bin" cluster down --dir "$last_dir" >/dev/null 2>&1
    fi
done
[ -n "$cluster_url" ] && "$bin" cluster down --dir "$rc_dir" >/dev/null 2>&1

printf '\n| store | nodes | reads/s | read p50 ms | read p99 ms | reads ÷ 1 node | writes/s | write p50 ms | write p99 ms | writes ÷ 1 node | failed |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
for store in $stores; do
    read -r one_r _ _ _ <<<"${result[$store,1,read]:-0 0 0 0}"
    read -r one_w _ _ _ <<<"${result[$store,1,write]:-0 0 0 0}"
    for n in $node_counts; do
        [ -n "${result[$store,$n,read]:-}" ] || continue
        read -r r rp50 rp99 rbad <<<"${result[$store,$n,read]}"
        read -r w wp50 wp99 wbad <<<"${result[$store,$n,write]}"
        awk -v s="$store" -v n="$n" -v r="$r" -v rp50="$rp50" -v rp99="$rp99" -v w="$w" -v wp50="$wp50" -v wp99="$wp99" -v o1="$one_r" -v o2="$one_w" -v bad=$((rbad + wbad)) 'BEGIN {
            printf "| %s | %s | %d | %.2f | %.2f | %s | %d | %.2f | %.2f | %s | %d |\n", s, n, r, rp50, rp99, (o1 > 0 ? sprintf("%.2f", r / o1) : "-"), w, wp50, wp99, (o2 > 0 ? sprintf("%.2f", w / o2) : "-"), bad }'
    done
done
echo
for store in $stores; do
    if [ -n "${result[$store,kill]:-}" ]; then
        read -r k kp50 kp99 kbad <<<"${result[$store,kill]}"
        echo "Node SIGKILLed under load (${result[$store,last]} nodes on $store Redis, reads): $kbad requests failed of about $(awk -v r="$k" -v d="${duration%s}" 'BEGIN { printf "%d", r * d }') (p99 ${kp99} ms)."
    fi
done
if [ -n "${result[failover]:-}" ]; then
    read -r f fp50 fp99 fbad <<<"${result[failover]}"
    echo "Redis Cluster primary SIGKILLed under load (reads): $fbad requests failed (503 with Retry-After) of about $(awk -v r="$f" -v d="${duration%s}" 'BEGIN { printf "%d", r * d }') (p99 ${fp99} ms)."
fi
echo "Sessions: standalone Redis ($REDIS_URL) and a Redis Cluster of 3 primaries + 3 replicas on this machine; accounts: PostgreSQL. All processes and wrk share this machine's cores."
