#!/usr/bin/env bash
# zkCli.sh (Apache ZooKeeper 3.8's own CLI, from Debian's `zookeeper` package) runs the same
# script against a server; its output, with times, session ids and zxid epochs blanked out,
# must equal what it printed against Apache ZooKeeper 3.8 itself (expected.txt).
#
#   tests/clients/zkcli_check.sh BIN              run against a standalone zabkeeper (BIN), compare
#   tests/clients/zkcli_check.sh BIN --ensemble   the same against member 2 of a 3-process ensemble
#   tests/clients/zkcli_check.sh --capture        run against Debian's ZooKeeper, write expected.txt
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SCRIPT="$HERE/zkcli/script.txt"
EXPECTED="$HERE/zkcli/expected.txt"

if ! command -v java >/dev/null 2>&1 || [ ! -x /usr/share/zookeeper/bin/zkCli.sh ]; then
    echo "zkcli_check: installing Debian's zookeeper and a JRE" >&2
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -qq
    timeout 900 apt-get install -y -qq zookeeper zookeeper-bin default-jre-headless >/dev/null
fi

TMP="$(mktemp -d /tmp/zkcli.XXXXXX)"
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$TMP/data"
cat >"$TMP/zoo.cfg" <<CFG
tickTime=2000
dataDir=$TMP/data
clientPort=$port
clientPortAddress=127.0.0.1
admin.enableServer=false
extendedTypesEnabled=true
admin.enableServer=false
4lw.commands.whitelist=srvr
CFG

if [ "${1:-}" = "--capture" ]; then
    J=/usr/share/java
    CP="$J/zookeeper.jar:$J/zookeeper-jute.jar:$J/netty-codec.jar:$J/netty-resolver.jar"
    CP="$CP:$J/netty-handler.jar:$J/netty-transport.jar:$J/netty-buffer.jar:$J/netty-common.jar"
    CP="$CP:$J/slf4j-api.jar:$J/slf4j-log4j12.jar:$J/log4j-1.2.jar"
    echo "log4j.rootLogger=WARN, F
log4j.appender.F=org.apache.log4j.FileAppender
log4j.appender.F.File=$TMP/zk.log
log4j.appender.F.layout=org.apache.log4j.PatternLayout" >"$TMP/log4j.properties"
    java -Xmx256m -Dznode.container.checkIntervalMs=3600000 -Dlog4j.configuration="file:$TMP/log4j.properties" \
        -cp "$CP" org.apache.zookeeper.server.quorum.QuorumPeerMain "$TMP/zoo.cfg" >"$TMP/server.out" 2>&1 &
elif [ "${2:-}" = "--ensemble" ]; then
    # Three members on ports free now; the client talks to member 2.
    read -r c1 p1 < <(python3 -c 'import socket
a=[socket.socket() for _ in range(2)]
[s.bind(("127.0.0.1",0)) for s in a]
print(*[s.getsockname()[1] for s in a])')
    "$1" ensemble --nodes 3 --dir "$TMP/ens" --client-port "$((c1 % 20000 + 30000))" \
        --peer-port "$((p1 % 20000 + 30100))" --tick-ms 200 --extended-types >"$TMP/server.out" 2>&1 &
    port=$((c1 % 20000 + 30000 + 1))
else
    "$1" start --config "$TMP/zoo.cfg" >"$TMP/server.out" 2>&1 &
fi
PID=$!
for _ in $(seq 300); do
    if python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$port),1); s.sendall(b'srvr'); sys.exit(0 if any(m in s.recv(4096) for m in (b'Mode: standalone', b'Mode: follower', b'Mode: leader')) else 1)" 2>/dev/null; then
        break
    fi
    sleep 0.1
done

# zkCli's output, normalised: times, session ids and zxid epochs differ between servers
# and runs (zabkeeper's standalone epoch is 1, ZooKeeper's 0); counters must match.
timeout 120 /usr/share/zookeeper/bin/zkCli.sh -server "127.0.0.1:$port" <"$SCRIPT" 2>&1 \
    | grep -v -E '^(log4j|SLF4J|Connecting to|JLine|Welcome)' \
    | sed -E -e 's/(ctime|mtime) = .*/\1 = <time>/' \
             -e 's/ephemeralOwner = 0x[1-9a-f][0-9a-f]*/ephemeralOwner = <session>/' \
             -e 's/(Zxid = )0x[0-9a-f]*([0-9a-f]{8})$/\1\2/' \
             -e 's/(Zxid = )0x([0-9a-f]{1,8})$/\1\2/' \
             -e 's/(Zxid = )0*([0-9a-f]+)$/\1\2/' \
    >"$TMP/actual.txt"

if [ "${1:-}" = "--capture" ]; then
    cp "$TMP/actual.txt" "$EXPECTED"
    echo "zkcli_check: wrote $EXPECTED" >&2
    exit 0
fi
# zkCli prints watch events from its event thread and command results from its main thread,
# so where an event lands among the results is a race inside zkCli (the server sends the event
# before the reply that reveals the change; the simulator's watch check tests that order).
# So the results are compared in order without the events, and the events in order by
# themselves.
results() { grep -v -E '^(WATCHER::|WatchedEvent .*|)$' "$1"; }
events() { grep -E '^WatchedEvent ' "$1" || true; }
if diff -u <(results "$EXPECTED") <(results "$TMP/actual.txt") \
    && diff -u <(events "$EXPECTED") <(events "$TMP/actual.txt"); then
    echo "zkcli: output identical to Apache ZooKeeper 3.8's ($(results "$EXPECTED" | wc -l) result lines, \
$(events "$EXPECTED" | wc -l) watch events)"
else
    echo "zkcli: output differs from Apache ZooKeeper 3.8's (diff above)" >&2
    exit 1
fi
