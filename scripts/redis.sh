#!/usr/bin/env bash
# Throwaway Redis servers for the tests: one standalone redis-server, or a
# 3-master Redis Cluster, on free loopback ports, without persistence, in a
# temporary directory. Everything started here is stopped by redis_stop_all
# (scripts/test.sh calls it from its EXIT trap).
#
# Sourced by scripts/test.sh. Also usable by hand, e.g.:
#   bash scripts/redis.sh with-redis   -- sh -c 'cd client-tests && CHAT_SERVICE_STATE=redis npm test'
#   bash scripts/redis.sh with-cluster -- sh -c 'cd client-tests && node --test test/cluster.test.mjs'
# which export CHAT_SERVICE_REDIS_URL (and CHAT_SERVICE_REDIS_CLUSTER=1 for
# the cluster) to the command and stop the servers when it ends.
#
# The functions set shell variables only (nothing is exported), so other
# steps of a script that sources this file do not see the test Redis.

REDIS_PIDS=()
REDIS_TMPDIRS=()

# A TCP port nothing listens on (bind races are handled by redis_start_node,
# which retries on another port when the server does not come up).
redis_random_port() {
    local port
    while :; do
        port=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
}

redis_ping() { # port
    [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = "PONG" ]
}

# redis_start_node DIR [redis-server args...]: starts a redis-server on a
# free port with the data dir DIR; sets REDIS_NODE_PORT. The extra args may
# use the placeholder @PORT@ (e.g. for the cluster config file name).
redis_start_node() {
    local dir=$1 attempt port pid i
    shift
    for attempt in 1 2 3 4 5; do
        port=$(redis_random_port)
        local args=("$@")
        args=("${args[@]//@PORT@/$port}")
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$dir" --logfile "$dir/redis-$port.log" "${args[@]}" &
        pid=$!
        for i in $(seq 1 100); do
            if redis_ping "$port"; then
                REDIS_PIDS+=("$pid")
                REDIS_NODE_PORT=$port
                return 0
            fi
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        echo "redis-server did not start on port $port (attempt $attempt):" >&2
        tail -n 5 "$dir/redis-$port.log" >&2 2>/dev/null || true
    done
    return 1
}

# redis_start: one standalone server; sets REDIS_PORT and REDIS_URL.
redis_start() {
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/cs-redis.XXXXXX")
    REDIS_TMPDIRS+=("$dir")
    redis_start_node "$dir" || return 1
    REDIS_PORT=$REDIS_NODE_PORT
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
    echo "redis-server on 127.0.0.1:$REDIS_PORT"
}

# redis_cluster_start: a Redis Cluster of 3 masters, no replicas; waits
# for cluster_state:ok on every node; sets REDIS_CLUSTER_PORTS and
# REDIS_CLUSTER_URL (the node list, for --redis-cluster).
redis_cluster_start() {
    local dir port nodes=() i
    dir=$(mktemp -d "${TMPDIR:-/tmp}/cs-redis-cluster.XXXXXX")
    REDIS_TMPDIRS+=("$dir")
    REDIS_CLUSTER_PORTS=()
    for i in 1 2 3; do
        redis_start_node "$dir" --cluster-enabled yes \
            --cluster-config-file "$dir/nodes-@PORT@.conf" --cluster-node-timeout 5000 || return 1
        REDIS_CLUSTER_PORTS+=("$REDIS_NODE_PORT")
        nodes+=("127.0.0.1:$REDIS_NODE_PORT")
    done
    redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 || {
        cat "$dir/create.log" >&2
        return 1
    }
    for port in "${REDIS_CLUSTER_PORTS[@]}"; do
        for i in $(seq 1 200); do
            redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && break
            if [ "$i" -eq 200 ]; then
                echo "Redis Cluster node $port never reached cluster_state:ok" >&2
                return 1
            fi
            sleep 0.1
        done
    done
    REDIS_CLUSTER_URL=$(IFS=,; echo "${nodes[*]}")
    echo "Redis Cluster (3 masters) on $REDIS_CLUSTER_URL"
}

# Stops every server started above (SIGTERM, then SIGKILL) and removes
# their directories. Safe to call more than once.
redis_stop_all() {
    local pid i
    for pid in "${REDIS_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${REDIS_PIDS[@]}"; do
        for i in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    REDIS_PIDS=()
    local dir
    for dir in "${REDIS_TMPDIRS[@]}"; do
        rm -rf "$dir"
    done
    REDIS_TMPDIRS=()
}

# Run by hand: bash scripts/redis.sh with-redis|with-cluster -- COMMAND...
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -uo pipefail
    mode=${1:-}
    shift || true
    [ "${1:-}" = "--" ] && shift
    if [ $# -eq 0 ] || { [ "$mode" != with-redis ] && [ "$mode" != with-cluster ]; }; then
        echo "usage: $0 with-redis|with-cluster -- COMMAND..." >&2
        exit 2
    fi
    trap redis_stop_all EXIT
    trap 'exit 130' INT TERM
    if [ "$mode" = with-redis ]; then
        redis_start || exit 1
        export CHAT_SERVICE_REDIS_URL=$REDIS_URL
    else
        redis_cluster_start || exit 1
        export CHAT_SERVICE_REDIS_URL=$REDIS_CLUSTER_URL CHAT_SERVICE_REDIS_CLUSTER=1
    fi
    "$@"
    exit $?
fi
