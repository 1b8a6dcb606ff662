#!/usr/bin/env bash
# How the SQLite state starts with a large stored history: the time until
# the server is listening and its resident memory, for an empty database
# and for one holding MESSAGES messages over ROOMS rooms (default
# 1,000,000 over 1,000: issue 14's figure). A start reads each room's
# settings and history size, no message, so neither should grow with the
# history.
#
#   scripts/sqlite-scale.sh                    # prints a table
#   ROOMS=100 MESSAGES=10000 scripts/sqlite-scale.sh
#
# Knobs: CHAT_SERVICE_BIN [target/release/chat-service], ROOMS, MESSAGES,
# STARTS (starts measured per database, the median printed) [3],
# OUT (a markdown file to append the table to).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${CHAT_SERVICE_BIN:-$ROOT/target/release/chat-service}
[[ -x $BIN ]] || { echo "no server binary at $BIN (cargo build --release)" >&2; exit 1; }

exec python3 - "$BIN" <<'PY'
import os, shutil, signal, sqlite3, statistics, subprocess, sys, tempfile, time

BIN = sys.argv[1]
ROOMS = int(os.environ.get("ROOMS", 1000))
MESSAGES = int(os.environ.get("MESSAGES", 1_000_000))
STARTS = int(os.environ.get("STARTS", 3))
OUT = os.environ.get("OUT")
PER_ROOM = -(-MESSAGES // ROOMS)

def start(db):
    """Starts a server on `db`; gives (process, seconds until listening)."""
    began = time.monotonic()
    proc = subprocess.Popen(
        [BIN, "--host", "127.0.0.1", "--port", "0", "--no-static",
         "--state", "sqlite", "--sqlite-path", db],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if "listening on http://" in line:
            return proc, time.monotonic() - began
    raise SystemExit(f"the server on {db} exited with {proc.wait()} before listening")

def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise SystemExit("no VmRSS")

def stop(proc):
    proc.send_signal(signal.SIGTERM)
    if proc.wait(timeout=30) != 0:
        raise SystemExit(f"the server exited with {proc.returncode}")

def measure(db):
    """Median start time and resident memory (1 s after listening) of STARTS starts."""
    times, rss = [], []
    for _ in range(STARTS):
        proc, took = start(db)
        time.sleep(1)
        rss.append(rss_mb(proc.pid))
        times.append(took)
        stop(proc)
    return statistics.median(times), statistics.median(rss)

def fill(db):
    """The server makes the schema; rows are then written straight into the file."""
    proc, _ = start(db)
    stop(proc)
    conn = sqlite3.connect(db)
    conn.executescript(f"""
        BEGIN;
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROOMS})
        INSERT INTO rooms (id, name, owner, whitelist_only, history_max_size,
                           access_lists_updates, userlist_updates, last_message_id)
        SELECT i, 'room' || i, 'owner', 0, {max(PER_ROOM, 10000)}, 0, 0, {PER_ROOM} FROM n;
        WITH RECURSIVE m(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM m WHERE i < {ROOMS * PER_ROOM - 1})
        INSERT INTO messages (room, id, json)
        SELECT i / {PER_ROOM} + 1, i % {PER_ROOM} + 1,
               '{{"textMessage":"message ' || i || ' of a long history","author":"user' || (i % 50)
               || '","timestamp":' || (1764900000000 + i) || ',"id":' || (i % {PER_ROOM} + 1) || '}}'
        FROM m;
        COMMIT;
    """)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()

work = tempfile.mkdtemp(prefix="chat-service-scale-")
try:
    empty = os.path.join(work, "empty.db")
    full = os.path.join(work, "full.db")
    proc, _ = start(empty)
    stop(proc)
    print(f"filling {full}: {ROOMS * PER_ROOM:,} messages over {ROOMS:,} rooms ...", file=sys.stderr)
    began = time.monotonic()
    fill(full)
    print(f"filled in {time.monotonic() - began:.1f} s ({os.path.getsize(full) / 2**20:.0f} MB)",
          file=sys.stderr)
    empty_time, empty_rss = measure(empty)
    full_time, full_rss = measure(full)
    table = "\n".join([
        f"SQLite state start ({STARTS} starts each, medians; RSS 1 s after listening)",
        "",
        "| database | start to listening (s) | RSS (MB) |",
        "| --- | --- | --- |",
        f"| empty | {empty_time:.3f} | {empty_rss:.1f} |",
        f"| {ROOMS * PER_ROOM:,} messages, {ROOMS:,} rooms | {full_time:.3f} | {full_rss:.1f} |",
        f"| difference | {full_time - empty_time:+.3f} | {full_rss - empty_rss:+.1f} |",
        "",
    ])
    print(table)
    if OUT:
        with open(OUT, "a") as out:
            out.write("\n" + table)
finally:
    shutil.rmtree(work, ignore_errors=True)
PY
