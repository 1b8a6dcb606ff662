#!/usr/bin/env bash
# The benchmark: this project (SQLite, memory and Redis state), the original Node.js
# chat-service 1.0.0 (memory and Redis state) and a bare socketioxide
# "ceiling" server, side by side under the same loads. See bench/README.md.
#
#   scripts/bench.sh                 # every scenario, REPS=3
#   QUICK=1 scripts/bench.sh         # smoke run, tiny sizes (~2 minutes)
#   SCENARIOS="fanout-small latency" SERVERS="ours-memory ceiling" scripts/bench.sh
#
# Knobs (environment):
#   REPS        repetitions of each (scenario, protocol, server) run [3; QUICK 1]
#   DURATION    measured seconds per run [10; QUICK 1]
#   WARMUP      seconds of load before measuring [2; QUICK 0.5]
#   SCENARIOS   loadgen presets [fanout-small fanout-small-w32 fanout-large
#               fanout-large-w8 latency connect history]
#   SERVERS     subset of: ours-memory ours-sqlite ours-redis ours-hook original-memory
#               original-redis ceiling base-memory base-redis base-sqlite (the binary
#               BASELINE, e.g. a build of an earlier commit: before/after
#               figures in one alternating run)
#   BASELINE    the chat-service binary of base-memory / base-redis / base-sqlite
#   EIOS        engine.io protocols [3 4]; the original only speaks 3
#   QUICK=1     tiny sizes and durations (a smoke run)
#   LOADGEN     load generator binary [target/release/examples/loadgen]
#   BUILD=0     skip `cargo build` (binaries already built)
#   RESULTS     output directory [bench/results]
#   STRICT=1    exit 1 when a run failed (for CI); otherwise failures are
#               only listed under the table
#
# Each run is a fresh server process on a free loopback port (ours-sqlite on
# a fresh database file, removed after the run); the servers
# alternate within a scenario (A-mem, A-redis, B-mem, B-redis, C, A-mem, ...)
# so that slow drifts of the machine hit them all alike. Redis runs share
# one redis-server on a free loopback port (scripts/redis.sh), flushed
# before each run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# redis_start / redis_stop_all: a throwaway redis-server on a free port.
source scripts/redis.sh

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    REPS=${REPS:-1}
    DURATION=${DURATION:-1}
    WARMUP=${WARMUP:-0.5}
else
    REPS=${REPS:-3}
    DURATION=${DURATION:-10}
    WARMUP=${WARMUP:-2}
fi
SCENARIOS=${SCENARIOS:-fanout-small fanout-small-w32 fanout-large fanout-large-w8 latency connect history}
SERVERS=${SERVERS:-ours-memory ours-sqlite ours-redis original-memory original-redis ceiling}
EIOS=${EIOS:-3 4}
LOADGEN=${LOADGEN:-$ROOT/target/release/examples/loadgen}
BUILD=${BUILD:-1}
RESULTS=${RESULTS:-$ROOT/bench/results}
STRICT=${STRICT:-0}

OURS=$ROOT/target/release/chat-service
CEILING=$ROOT/target/release/examples/ceiling
ORIGINAL=$ROOT/bench/original/server.js

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

for server in $SERVERS; do
    case $server in
        ours-memory | ours-sqlite | ours-redis | ours-hook | original-memory | original-redis | ceiling) ;;
        base-memory | base-redis | base-sqlite) [[ -x ${BASELINE:-} ]] || die "$server needs BASELINE=<a chat-service binary>" ;;
        *) die "unknown server '$server' in SERVERS" ;;
    esac
done
for scenario in $SCENARIOS; do
    case $scenario in
        fanout-small | fanout-small-w32 | fanout-large | fanout-large-w8 | latency | connect | history) ;;
        *) die "unknown scenario '$scenario' in SCENARIOS" ;;
    esac
done
wants() { [[ " $SERVERS " == *" $1"* ]]; } # wants ours / original / -redis ...
wants_redis() { [[ " $SERVERS " == *-redis* ]]; }

# --- preparation --------------------------------------------------------

command -v node >/dev/null || die "node (v20+) is needed: bench/original and bench/report.mjs"

if [[ $BUILD == 1 ]]; then
    log "cargo build --release --bin chat-service --examples"
    cargo build --release --bin chat-service --examples
fi
[[ -x $LOADGEN ]] || die "no load generator at $LOADGEN (the loadgen example; or set LOADGEN=path)"
if wants ours; then [[ -x $OURS ]] || die "missing $OURS"; fi
if wants ceiling; then [[ -x $CEILING ]] || die "missing $CEILING"; fi

if wants original; then
    log "npm ci in bench/original (chat-service 1.0.0)"
    (cd bench/original && npm ci --no-audit --no-fund --loglevel=error >&2)
fi

if wants_redis && ! command -v redis-server >/dev/null; then
    log "installing redis-server (apt-get)"
    sudo=""
    [[ $(id -u) == 0 ]] || sudo=sudo
    $sudo apt-get update -qq >&2 && $sudo apt-get install -y -qq redis-server >&2 ||
        die "cannot install redis-server; install it or leave the -redis servers out of SERVERS"
fi

# Thousands of connections need file descriptors (servers inherit this).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=$RESULTS/$STAMP
mkdir -p "$OUT/logs"
RUNS=$OUT/runs.jsonl
: >"$RUNS"

# --- process control ----------------------------------------------------

SERVER_PID=""
LOADGEN_PID=""

# Stops a process we started: SIGTERM, then SIGKILL after $2 seconds.
stop_pid() {
    local pid=$1 grace=${2:-20} i
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid still running after ${grace}s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

HOOK_BACKEND_PID=""

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop_pid "$LOADGEN_PID" 5
    stop_pid "$SERVER_PID" 20
    stop_pid "$HOOK_BACKEND_PID" 5
    redis_stop_all
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ours-hook: the memory state with a roomMessage:before hook over HTTP to
# examples/backend.mjs on a free loopback port (one backend for the run).
if wants ours-hook; then
    HOOK_PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
    node "$ROOT/examples/backend.mjs" --port "$HOOK_PORT" --store "$OUT/hook-messages.jsonl" \
        >"$OUT/logs/hook-backend.out" 2>&1 &
    HOOK_BACKEND_PID=$!
    for _ in $(seq 100); do
        grep -q 'backend listening' "$OUT/logs/hook-backend.out" 2>/dev/null && break
        sleep 0.1
    done
    grep -q 'backend listening' "$OUT/logs/hook-backend.out" || die "examples/backend.mjs did not start"
    log "hook backend (examples/backend.mjs) on 127.0.0.1:$HOOK_PORT"
fi

if wants_redis; then
    redis_start >&2 || die "redis-server did not start"
    log "redis-server $(redis-server --version | grep -o 'v=[^ ]*') on $REDIS_URL"
fi

# Starts server $1 on a free port; sets SERVER_PID and SERVER_URL.
start_server() {
    local server=$1 logfile=$2 cmd
    case $server in
        ours-memory) cmd=("$OURS" --host 127.0.0.1 --port 0 --enable-rooms-management --no-static
            --state memory) ;;
        ours-sqlite)
            rm -rf "$OUT/sqlite" && mkdir -p "$OUT/sqlite"
            cmd=("$OURS" --host 127.0.0.1 --port 0 --enable-rooms-management --no-static
                --state sqlite --sqlite-path "$OUT/sqlite/chat.db") ;;
        ours-redis) cmd=("$OURS" --host 127.0.0.1 --port 0 --enable-rooms-management --no-static
            --state redis --redis-url "$REDIS_URL") ;;
        ours-hook) cmd=("$OURS" --host 127.0.0.1 --port 0 --enable-rooms-management --no-static
            --state memory --hook-url "http://127.0.0.1:$HOOK_PORT/hooks" --hooks roomMessage:before) ;;
        original-memory) cmd=(node "$ORIGINAL" --host 127.0.0.1 --port 0) ;;
        original-redis) cmd=(node "$ORIGINAL" --host 127.0.0.1 --port 0
            --state redis --redis-url "$REDIS_URL") ;;
        ceiling) cmd=("$CEILING" --port 0) ;;
        base-memory) cmd=("$BASELINE" --host 127.0.0.1 --port 0 --enable-rooms-management --no-static
            --state memory) ;;
        base-redis) cmd=("$BASELINE" --host 127.0.0.1 --port 0 --enable-rooms-management --no-static
            --state redis --redis-url "$REDIS_URL") ;;
        base-sqlite)
            rm -rf "$OUT/sqlite" && mkdir -p "$OUT/sqlite"
            cmd=("$BASELINE" --host 127.0.0.1 --port 0 --enable-rooms-management --no-static
                --state sqlite --sqlite-path "$OUT/sqlite/chat.db") ;;
    esac
    if [[ $server == *-redis ]]; then
        redis-cli -p "$REDIS_PORT" flushall >/dev/null
    fi
    "${cmd[@]}" >"$logfile.out" 2>"$logfile.err" &
    SERVER_PID=$!
    SERVER_URL=""
    for _ in $(seq 300); do
        SERVER_URL=$(grep -o 'listening on http://[^ ]*' "$logfile.out" 2>/dev/null | head -n1 | cut -d' ' -f3 || true)
        [[ -n $SERVER_URL ]] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    return 1
}

# Sizes of a quick run (explicit loadgen flags override the preset's).
quick_flags() {
    [[ $QUICK == 1 ]] || return 0
    case $1 in
        fanout-large | fanout-large-w8) echo --rooms 10 ;;
        connect) echo --connections 500 ;;
        history) echo --history-size 200 --clients 4 ;;
    esac
}

# One run: appends one JSON line to $RUNS.
run_one() {
    local scenario=$1 eio=$2 rep=$3 server=$4
    local name=$scenario.eio$eio.$server.$rep
    local logfile=$OUT/logs/$name result="" error=""
    if ! start_server "$server" "$logfile"; then
        error="server did not start"
        log "$name: $error; last lines of $logfile.err:"
        tail -n 5 "$logfile.err" >&2 || true
    else
        local prefix="b${rep}e${eio}${server//-/}"
        local limit
        limit=$(awk -v d="$DURATION" -v w="$WARMUP" 'BEGIN { printf "%d", d + w + 300 }')
        # In the background, so that a signal to this script (its trap)
        # does not wait for the end of the run.
        # shellcheck disable=SC2046 # quick_flags are words
        timeout "$limit" "$LOADGEN" --url "$SERVER_URL" --eio "$eio" \
            --preset "$scenario" --warmup "$WARMUP" --duration "$DURATION" \
            --server-pid "$SERVER_PID" --prefix "$prefix" --json $(quick_flags "$scenario") \
            >"$logfile.json" 2>"$logfile.loadgen" &
        LOADGEN_PID=$!
        local status=0
        wait "$LOADGEN_PID" || status=$?
        LOADGEN_PID=""
        result=$(grep '^{' "$logfile.json" | tail -n1 || true)
        if [[ $status != 0 ]]; then
            error="loadgen failed (exit $status)"
        elif [[ -z $result ]]; then
            error="loadgen printed no JSON"
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            error="${error:+$error; }server died during the run"
        fi
    fi
    stop_pid "$SERVER_PID" 20
    SERVER_PID=""
    rm -rf "$OUT/sqlite"
    [[ -n $result ]] || result=null
    if [[ -n $error ]]; then
        printf '{"server":"%s","scenario":"%s","eio":%s,"rep":%s,"error":"%s","result":%s}\n' \
            "$server" "$scenario" "$eio" "$rep" "$error" "$result" >>"$RUNS"
        log "$name: FAILED ($error; logs $logfile.*)"
    else
        printf '{"server":"%s","scenario":"%s","eio":%s,"rep":%s,"result":%s}\n' \
            "$server" "$scenario" "$eio" "$rep" "$result" >>"$RUNS"
        log "$name: $(summary "$result")"
    fi
}

summary() {
    node -e '
        const r = JSON.parse(process.argv[1]); const f = (x) => x == null ? "-" : Math.round(x);
        const parts = [];
        if (r.error) parts.push("error: " + r.error);
        if (r.delivered_per_s != null) parts.push(`delivered/s ${f(r.delivered_per_s)}`);
        if (r.acked_per_s != null) parts.push(`acked/s ${f(r.acked_per_s)}`);
        if (r.requests_per_s != null) parts.push(`requests/s ${f(r.requests_per_s)}`);
        if (r.connections_per_s != null) parts.push(`conn/s ${f(r.connections_per_s)}`);
        if (r.e2e_ms) parts.push(`e2e p99 ${r.e2e_ms.p99.toFixed(1)} ms`);
        if (r.errors) parts.push(`errors ${r.errors}`);
        console.log(parts.join(", "));' "$1" 2>/dev/null || echo "$1"
}

# --- the runs -----------------------------------------------------------

log "scenarios: $SCENARIOS"
log "servers: $SERVERS; EIO: $EIOS; REPS=$REPS DURATION=$DURATION WARMUP=$WARMUP QUICK=$QUICK"
log "results: $OUT"
for scenario in $SCENARIOS; do
    for eio in $EIOS; do
        for ((rep = 1; rep <= REPS; rep++)); do
            for server in $SERVERS; do
                # The original is socket.io 2: engine.io 3 only (its EIO 4 is "n/a").
                [[ $server == original-* && $eio != 3 ]] && continue
                run_one "$scenario" "$eio" "$rep" "$server"
            done
        done
    done
done

node "$ROOT/bench/report.mjs" --runs "$RUNS" --out "$RESULTS/$STAMP" \
    --meta "$(printf '{"reps":%s,"duration_s":%s,"warmup_s":%s,"quick":%s}' \
        "$REPS" "$DURATION" "$WARMUP" "$([[ $QUICK == 1 ]] && echo true || echo false)")"

# The SQLite state's start with a large stored history (issue 14: listening
# within 2 s, RSS within 50 MB of an empty file's), when it is benchmarked.
if [[ " $SERVERS " == *" ours-sqlite "* ]]; then
    if [[ $QUICK == 1 ]]; then scale=(ROOMS=100 MESSAGES=10000 STARTS=1); else scale=(); fi
    env "${scale[@]}" CHAT_SERVICE_BIN="$OURS" OUT="$RESULTS/$STAMP.md" \
        bash "$ROOT/scripts/sqlite-scale.sh" >&2 || die "scripts/sqlite-scale.sh failed"
fi

if [[ $STRICT == 1 ]] && grep -q '"error"' "$RUNS"; then
    die "some runs failed (STRICT=1)"
fi
