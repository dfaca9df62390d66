#!/usr/bin/env bash
# The HTTP benchmark behind `scripts/bench http` (which starts Redis and PostgreSQL and passes
# their URLs in REDIS_URL and POSTGRES_URL). Usage: scripts/bench-http.sh CLOAKROOM_BINARY
set -uo pipefail
bin=$(realpath "$1")
work=${BENCH_WORK:-$(mktemp -d)}
duration=${DURATION:-10s}; threads=${THREADS:-2}; connections=${CONNECTIONS:-64}; warmup=${WARMUP:-3s}
rounds=${ROUNDS:-3}
stores=${STORES:-memory sqlite cookie redis postgres}
data_stores=${DATA_STORES:-memory sqlite cookie}; data_sizes=${DATA_SIZES:-100 1000 2800 3072}
password="correct horse battery"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk"; exit 1; }

# wrk's summary line → "req/s p50 p99" (latencies in ms).
summary() {
    awk '/Requests\/sec/ { rps = $2 } / 50%/ { p50 = $2 } / 99%/ { p99 = $2 }
         function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
         END { printf "%.0f %.2f %.2f\n", rps, ms(p50), ms(p99) }'
}

cat > "$work/login.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"username":"alice","password":"$password"}'
wrk.headers["Content-Type"] = "application/json"
LUA

# One release server for STORE at URL, in a folder of its own (its accounts in SQLite there);
# sets pid, base and dir.
start_server() { # store url
    port=$((port + 1))
    dir="$work/server-$1-$port"; mkdir -p "$dir"
    (cd "$dir" && exec "$bin" serve --host 127.0.0.1 --port "$port" --store "$2" --accounts "sqlite:$dir/accounts.sqlite" --log-level error >"$dir/log" 2>&1) &
    pid=$!
    base="http://127.0.0.1:$port"
    for _ in $(seq 100); do curl -s -o /dev/null "$base/healthz" && break; sleep 0.2; done
}

declare -A result
port=9400
for round in $(seq "$rounds"); do
# Each round starts with the next store, so no store is always measured right after the same one
# (right after another server's storm of sign-ins the machine may still be busy).
read -r -a order <<<"$stores"
shift_by=$(( (round - 1) % ${#order[@]} ))
for store in "${order[@]:shift_by}" "${order[@]:0:shift_by}"; do
    case "$store" in
        memory) url=memory ;;
        sqlite) url="sqlite:$work/bench-$port.sqlite" ;;
        redis) url="${REDIS_URL:?}" ;;
        postgres) url="${POSTGRES_URL:?}" ;;
        cookie) url=cookie ;;
        *) echo "unknown store $store"; continue ;;
    esac
    start_server "$store" "$url"
    user="alice"
    curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d "{\"username\":\"$user\",\"password\":\"$password\"}" "$base/api/register"
    cookie=$(curl -s -D - -o /dev/null -X POST -H 'Content-Type: application/json' \
        -d "{\"username\":\"$user\",\"password\":\"$password\"}" "$base/api/login" | tr -d '\r' |
        awk -F': ' 'tolower($1) == "set-cookie" && $2 ~ /^cloakroom=/ { split($2, a, ";"); print a[1] }')
    if [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $cookie" "$base/api/me")" != "200" ]; then
        echo "$store: could not sign in (see $dir/log)"; kill "$pid"; wait "$pid" 2>/dev/null; continue
    fi
    wrk -t"$threads" -c"$connections" -d"$warmup" -H "Cookie: $cookie" "$base/api/me" >/dev/null
    result[$round,$store,hello]=$(wrk -t"$threads" -c"$connections" -d"$duration" --latency "$base/healthz" | summary)
    result[$round,$store,me]=$(wrk -t"$threads" -c"$connections" -d"$duration" --latency -H "Cookie: $cookie" "$base/api/me" | summary)
    # The storm: 50 connections signing in without pause while /api/me is measured.
    wrk -t1 -c50 -d"$duration" -s "$work/login.lua" "$base/api/login" >"$dir/storm" 2>&1 &
    storm=$!
    sleep 1
    result[$round,$store,storm]=$(wrk -t"$threads" -c"$connections" -d"$duration" --latency -H "Cookie: $cookie" "$base/api/me" | summary)
    wait "$storm"
    kill "$pid"; wait "$pid" 2>/dev/null
done
done

# One line per store: the median over the rounds of each figure, and of each ratio taken within
# a round (the host's share of CPU drifts between rounds; a ratio of two servers measured minutes
# apart would carry that drift).
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '\n%s round(s) of one server at a time; medians over the rounds, ratios taken within each round.\n' "$rounds"
printf '\n| store | /healthz req/s | /api/me req/s | /api/me p50 ms | /api/me p99 ms | /api/me ÷ /healthz | ÷ memory /api/me | p99 during 50 sign-ins | storm p99 ÷ rest p99 |\n'
printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
for store in $stores; do
    hs="" ms="" p50s="" p99s="" sps="" own="" mem="" storm=""
    for round in $(seq "$rounds"); do
        [ -n "${result[$round,$store,me]:-}" ] || continue
        read -r h_rps _ _ <<<"${result[$round,$store,hello]}"
        read -r m_rps m_p50 m_p99 <<<"${result[$round,$store,me]}"
        read -r _ _ s_p99 <<<"${result[$round,$store,storm]}"
        read -r mem_rps _ _ <<<"${result[$round,memory,me]:-0 0 0}"
        hs+=" $h_rps"; ms+=" $m_rps"; p50s+=" $m_p50"; p99s+=" $m_p99"; sps+=" $s_p99"
        own+=" $(awk -v a="$m_rps" -v b="$h_rps" 'BEGIN { print (b > 0 ? a / b : 0) }')"
        [ "$mem_rps" != "0" ] && mem+=" $(awk -v a="$m_rps" -v b="$mem_rps" 'BEGIN { print a / b }')"
        storm+=" $(awk -v a="$s_p99" -v b="$m_p99" 'BEGIN { print (b > 0 ? a / b : 0) }')"
    done
    [ -n "$ms" ] || continue
    awk -v s="$store" -v h="$(median <<<"$hs")" -v r="$(median <<<"$ms")" -v p50="$(median <<<"$p50s")" \
        -v p99="$(median <<<"$p99s")" -v own="$(median <<<"$own")" -v mem="$([ -n "$mem" ] && median <<<"$mem" || echo -)" \
        -v sp="$(median <<<"$sps")" -v sr="$(median <<<"$storm")" 'BEGIN {
        printf "| %s | %d | %d | %.2f | %.2f | %.2f | %s | %.2f | %.2f |\n", s, h, r, p50, p99, own, (mem == "-" ? "-" : sprintf("%.2f", mem)), sp, sr }'
done
if [ "$rounds" -gt 1 ]; then
    printf '\nEach round, /api/me req/s:\n'
    for store in $stores; do
        line="$store:"
        for round in $(seq "$rounds"); do read -r m_rps _ _ <<<"${result[$round,$store,me]:-0 0 0}"; line+=" $m_rps"; done
        echo "$line"
    done
fi
echo
echo "Targets (issue 11): /api/me ≥ 0.9 × /healthz (memory); SQLite ≥ 0.7, Redis ≥ 0.6, PostgreSQL ≥ 0.4 × memory; storm p99 ≤ 3 × rest p99."

# Session data of each size (a JSON string value of that many bytes) in each of DATA_STORES:
# signed-in /api/me req/s and p99, the Cookie header the browser sends, and the response's bytes.
session_cookie() { awk -F': ' 'tolower($1) == "set-cookie" && $2 ~ /^cloakroom=/ { split($2, a, ";"); print a[1] }'; }
printf '\n| store | session data | /api/me req/s | /api/me p99 ms | Cookie header bytes | response bytes |\n| --- | --- | --- | --- | --- | --- |\n'
for store in $data_stores; do
    case "$store" in
        memory) url=memory ;;
        sqlite) url="sqlite:$work/data-$port.sqlite" ;;
        cookie) url=cookie ;;
        *) continue ;;
    esac
    start_server "$store" "$url"
    curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d "{\"username\":\"alice\",\"password\":\"$password\"}" "$base/api/register"
    for size in $data_sizes; do
        cookie=$(curl -s -D - -o /dev/null -X POST -H 'Content-Type: application/json' \
            -d "{\"username\":\"alice\",\"password\":\"$password\"}" "$base/api/login" | tr -d '\r' | session_cookie)
        value=$(python3 -c "import sys; print('\"' + 'x' * (int(sys.argv[1]) - 2) + '\"')" "$size")
        put=$(curl -s -D "$dir/put-headers" -o "$dir/put-body" -w '%{http_code}' -X PUT -H "Cookie: $cookie" -H "Origin: $base" \
            -H 'Content-Type: application/json' --data-binary "$value" "$base/api/session/data/pad")
        if [ "$put" != "200" ]; then
            printf '| %s | %d B | refused: %s %s | | | |\n' "$store" "$size" "$put" "$(tr -d '\n' < "$dir/put-body" | cut -c1-160)"
            continue
        fi
        fresh=$(tr -d '\r' < "$dir/put-headers" | session_cookie)
        [ -n "$fresh" ] && cookie=$fresh
        bytes=$(curl -s -o /dev/null -w '%{size_header} %{size_download}' -H "Cookie: $cookie" "$base/api/me" | awk '{ print $1 + $2 }')
        wrk -t"$threads" -c"$connections" -d"$warmup" -H "Cookie: $cookie" "$base/api/me" >/dev/null
        read -r rps _ p99 <<<"$(wrk -t"$threads" -c"$connections" -d"$duration" --latency -H "Cookie: $cookie" "$base/api/me" | summary)"
        printf '| %s | %d B | %d | %.2f | %d | %d |\n' "$store" "$size" "$rps" "$p99" "$(( ${#cookie} + 8 ))" "$bytes"
    done
    kill "$pid"; wait "$pid" 2>/dev/null
done
