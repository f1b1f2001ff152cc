#!/usr/bin/env bash
# The runbook of docs/OPERATIONS.md, run as written on a 3-member ensemble of real processes on
# loopback: start, check, write; rolling restart; add an observer; replace a member whose disk
# died; back up a member and restore the whole ensemble from the copy. Each step waits for
# `zabkeeper status` to say the quorum is healthy, and the data written before is read back.
#
#   tests/clients/runbook.sh BIN
set -euo pipefail
BIN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
TMP="$(mktemp -d /tmp/runbook.XXXXXX)"
declare -A PID
cleanup() {
    for p in "${PID[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "runbook: FAIL: $*" >&2; for f in "$TMP"/*/server.log; do echo "--- $f"; tail -20 "$f"; done >&2; exit 1; }

read -r -a P < <(python3 -c 'import socket
a=[socket.socket() for _ in range(12)]
[s.bind(("127.0.0.1",0)) for s in a]
print(*[s.getsockname()[1] for s in a])')
client() { echo "${P[$(($1 - 1))]}"; }
servers() { echo "127.0.0.1:$(client 1),127.0.0.1:$(client 2),127.0.0.1:$(client 3)"; }
members="server.1=127.0.0.1:${P[4]}:${P[8]}
server.2=127.0.0.1:${P[5]}:${P[9]}
server.3=127.0.0.1:${P[6]}:${P[10]}"

# Lay out member N: its zoo.cfg (the same server.N lines everywhere) and myid.
layout() {
    mkdir -p "$TMP/$1/data"
    echo "$1" >"$TMP/$1/data/myid"
    cat >"$TMP/$1/zoo.cfg" <<EOF
tickTime=200
initLimit=10
syncLimit=5
dataDir=$TMP/$1/data
clientPort=$(client "$1")
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=srvr,mntr,ruok
$members
EOF
}
start() { "$BIN" start --config "$TMP/$1/zoo.cfg" >>"$TMP/$1/server.log" 2>&1 & PID[$1]=$!; }
stop() { kill -TERM "${PID[$1]}"; wait "${PID[$1]}" || fail "member $1 did not stop cleanly"; unset "PID[$1]"; }
# Waits up to 30 s for `zabkeeper status` to exit 0 (healthy).
healthy() {
    for _ in $(seq 150); do
        if "$BIN" status --servers "${1:-$(servers)}" >"$TMP/status.txt" 2>&1; then return 0; fi
        sleep 0.2
    done
    cat "$TMP/status.txt" >&2
    fail "the quorum did not become healthy"
}
# Waits up to 30 s for member 4 to serve as an observer.
observing() {
    for _ in $(seq 150); do [ "$(mode_of 4)" = observer ] && return 0; sleep 0.2; done
    fail "member 4 is $(mode_of 4), not an observer"
}
mode_of() { "$BIN" status --servers "127.0.0.1:$(client "$1")" | awk 'NR == 2 { print $2 }'; }
read_back() { # member path expected
    got=$("$BIN" cli --server "127.0.0.1:$(client "$1")" get "$2") || fail "get $2 on member $1"
    [ "$got" = "$3" ] || fail "member $1 reads $2 as '$got', not '$3'"
}

# 1. Start: lay out and start every member, wait for a healthy quorum, write.
for n in 1 2 3; do layout $n; start $n; done
healthy
"$BIN" cli --server "127.0.0.1:$(client 1)" create /config v1 >/dev/null
"$BIN" cli --server "127.0.0.1:$(client 2)" set /config v2
for n in 1 2 3; do read_back $n /config v2; done
echo "runbook: start: healthy, a write read back on every member"

# 2. Rolling restart: followers first, the leader last, waiting for health between.
order=()
for n in 1 2 3; do [ "$(mode_of $n)" = follower ] && order+=("$n"); done
for n in 1 2 3; do [ "$(mode_of $n)" = leader ] && order+=("$n"); done
[ "${#order[@]}" = 3 ] || fail "expected one leader and two followers, got order ${order[*]}"
for n in "${order[@]}"; do
    stop "$n"
    start "$n"
    healthy
    "$BIN" cli --server "127.0.0.1:$(client "$n")" set /config "after-$n"
done
for n in 1 2 3; do read_back $n /config "after-${order[2]}"; done
echo "runbook: rolling restart (${order[*]}): healthy after each, no write lost"

# 3. Add capacity with an observer: its server.4 line (role observer) goes into every zoo.cfg,
#    the voters are restarted one by one, then the observer starts.
members="$members
server.4=127.0.0.1:${P[7]}:${P[11]}:observer"
P4=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
P[3]=$P4
for n in "${order[@]}"; do layout "$n"; stop "$n"; start "$n"; healthy; done
layout 4
start 4
healthy "$(servers),127.0.0.1:$(client 4)"
observing
read_back 4 /config "after-${order[2]}"
echo "runbook: an observer added; it serves reads of everything written before"

# 4. Replace a member whose disk died: the same myid on an empty dataDir; it syncs from the
#    leader.
kill -9 "${PID[2]}"; wait "${PID[2]}" 2>/dev/null || true; unset "PID[2]"
rm -rf "$TMP/2/data"
layout 2
start 2
healthy
read_back 2 /config "after-${order[2]}"
echo "runbook: member 2 replaced on an empty disk and caught up"

# 5. Back up: stop one follower, copy its dataDir, start it again. Restore: stop every member,
#    put the copy in place of every dataDir (keeping each myid), start them all.
backup=""
for n in 1 2 3; do [ "$(mode_of $n)" = follower ] && backup=$n && break; done
stop "$backup"
cp -a "$TMP/$backup/data" "$TMP/backup"
start "$backup"
healthy
"$BIN" cli --server "127.0.0.1:$(client 1)" set /config after-backup
for n in 4 1 2 3; do stop "$n"; done
for n in 1 2 3 4; do
    rm -rf "$TMP/$n/data"
    cp -a "$TMP/backup" "$TMP/$n/data"
    echo "$n" >"$TMP/$n/data/myid"
done
for n in 1 2 3 4; do start "$n"; done
healthy "$(servers),127.0.0.1:$(client 4)"
# The quorum's health does not wait for the observer: wait for it to serve too.
observing
for n in 1 2 3 4; do read_back $n /config "after-${order[2]}"; done
echo "runbook: backed up from a stopped follower; the whole ensemble restored from the copy"
echo "runbook: all passed"
