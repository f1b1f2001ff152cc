#!/usr/bin/env bash
# zabkeeper next to Apache ZooKeeper 3.8 (Debian's package) on this machine, same load, same
# durability: for each topology (standalone, then 3 servers on loopback) it starts zabkeeper,
# runs every load row with `zabkeeper bench`, stops it, then does the same with ZooKeeper, each
# time on fresh data dirs, and prints a Markdown table with the ratio zabkeeper / ZooKeeper.
#
#   benches/compare-zookeeper.sh                        D=5 s measured, W=2 s warmup per row
#   DURATION=10 WARMUP=3 benches/compare-zookeeper.sh   longer rows
#   TOPOLOGIES=standalone benches/compare-zookeeper.sh  one topology (standalone, ensemble)
#
# Both get the same zoo.cfg: tickTime 2000, forceSync on (the default: every txn is fdatasync'd
# before its reply), maxClientCnxns=0 (64 clients come from one address), loopback only.
# ZooKeeper runs with -Xmx2g, the default GC, its defaults otherwise. In the 3-server topology
# the clients are spread round-robin over all members. Client and servers share this machine's
# cores, so read every figure as "this box, this day".
#
# Raw results: target/compare-zookeeper/results-<stamp>.jsonl, one bench JSON line per row with
# topology, server and the bench's exit code in front; server and bench logs next to it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${DURATION:-5}"
WARMUP="${WARMUP:-2}"
TOPOLOGIES="${TOPOLOGIES:-standalone ensemble}"
# Rows: op clients. setData and create carry 1 KiB values; getData reads 1 KiB values.
ROWS=("set 1" "set 8" "set 32" "set 64" "get 32" "create 32")
READY_S_MAX=90
STOP_S_MAX=15
BENCH_S_MAX=$((DURATION + WARMUP + 90))

if ! command -v java >/dev/null 2>&1 || [ ! -f /usr/share/java/zookeeper.jar ]; then
    echo "compare: installing Debian's zookeeper and a JRE" >&2
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -qq
    timeout 900 apt-get install -y -qq zookeeper zookeeper-bin default-jre-headless >/dev/null
fi

echo "compare: building zabkeeper (release)" >&2
(cd "$ROOT" && cargo build --release -q -p zabkeeper)
BIN="$ROOT/target/release/zabkeeper"

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="$ROOT/target/compare-zookeeper"
LOGS="$OUT/logs-$STAMP"
RESULTS="$OUT/results-$STAMP.jsonl"
mkdir -p "$LOGS"
: >"$RESULTS"
# Data dirs live on the same disk as the repo, so both servers fsync to the same device.
WORK="$(mktemp -d "$OUT/data.XXXXXX")"

J=/usr/share/java
ZK_CP="$J/zookeeper.jar:$J/zookeeper-jute.jar:$J/netty-codec.jar:$J/netty-resolver.jar"
ZK_CP="$ZK_CP:$J/netty-handler.jar:$J/netty-transport.jar:$J/netty-buffer.jar:$J/netty-common.jar"
ZK_CP="$ZK_CP:$J/netty-transport-native-unix-common.jar:$J/netty-transport-native-epoll.jar"
ZK_CP="$ZK_CP:$J/slf4j-api.jar:$J/slf4j-log4j12.jar:$J/log4j-1.2.jar"
cat >"$WORK/log4j.properties" <<EOF
log4j.rootLogger=WARN, F
log4j.appender.F=org.apache.log4j.FileAppender
log4j.appender.F.File=\${zk.log.file}
log4j.appender.F.layout=org.apache.log4j.PatternLayout
log4j.appender.F.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{1}: %m%n
EOF

PIDS=()
stop_servers() {
    local pid waited=0
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt $((STOP_S_MAX * 10)) ]; do
            sleep 0.1
            waited=$((waited + 1))
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    PIDS=()
}
cleanup() {
    stop_servers
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Free loopback ports now (a small race with other programs, as in tests/clients).
free_ports() {
    python3 -c 'import socket,sys
a=[socket.socket() for _ in range(int(sys.argv[1]))]
[s.bind(("127.0.0.1",0)) for s in a]
print(*[s.getsockname()[1] for s in a])' "$1"
}

# zoo.cfg for member $2 of $1 members; $3 client port; $4.. "quorum election" port pairs.
write_config() {
    local nodes=$1 id=$2 client=$3 dir=$4
    shift 4
    mkdir -p "$dir/data"
    {
        echo "tickTime=2000"
        echo "initLimit=10"
        echo "syncLimit=5"
        echo "dataDir=$dir/data"
        echo "clientPort=$client"
        echo "clientPortAddress=127.0.0.1"
        echo "maxClientCnxns=0"
        echo "admin.enableServer=false"
        echo "4lw.commands.whitelist=srvr"
        if [ "$nodes" -gt 1 ]; then
            local i=1
            while [ $# -gt 0 ]; do
                echo "server.$i=127.0.0.1:$1:$2"
                shift 2
                i=$((i + 1))
            done
        fi
    } >"$dir/zoo.cfg"
    if [ "$nodes" -gt 1 ]; then echo "$id" >"$dir/data/myid"; fi
}

# True once the member on port $1 answers srvr as standalone, leader or follower.
serving() {
    python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)
s.settimeout(1)
s.sendall(b"srvr")
data = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
sys.exit(0 if any(m in data for m in (b"Mode: standalone", b"Mode: leader", b"Mode: follower")) else 1)
EOF
}

# Starts $1 (zabkeeper or zookeeper) as the topology $2 on fresh dirs; sets SERVERS.
start_servers() {
    local server=$1 topology=$2 nodes=1 base="$WORK/$1-$2" i
    [ "$topology" = ensemble ] && nodes=3
    local ports
    read -r -a ports <<<"$(free_ports $((nodes * 3)))"
    local pairs=() clients=()
    for ((i = 0; i < nodes; i++)); do
        clients+=("${ports[i]}")
        pairs+=("${ports[nodes + i]}" "${ports[2 * nodes + i]}")
    done
    for ((i = 1; i <= nodes; i++)); do
        local dir="$base/n$i" log="$LOGS/$server-$topology-n$i.log"
        write_config "$nodes" "$i" "${clients[i - 1]}" "$dir" "${pairs[@]}"
        if [ "$server" = zabkeeper ]; then
            "$BIN" start --config "$dir/zoo.cfg" >"$log" 2>&1 &
        else
            java -Xmx2g -Dzk.log.file="$log" -Dlog4j.configuration="file:$WORK/log4j.properties" \
                -cp "$ZK_CP" org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" \
                >"$log.stdout" 2>&1 &
        fi
        PIDS+=("$!")
    done
    SERVERS=""
    for port in "${clients[@]}"; do SERVERS="$SERVERS${SERVERS:+,}127.0.0.1:$port"; done
    local deadline=$((SECONDS + READY_S_MAX))
    for port in "${clients[@]}"; do
        until serving "$port"; do
            if [ "$SECONDS" -ge "$deadline" ]; then
                echo "compare: $server ($topology) not serving on $port after ${READY_S_MAX}s; see $LOGS" >&2
                return 1
            fi
            sleep 0.2
        done
    done
    echo "compare: $server ($topology) serving on $SERVERS" >&2
}

# Runs every row against the running servers; appends one line per row to $RESULTS.
run_rows() {
    local server=$1 topology=$2 row op clients line rc
    for row in "${ROWS[@]}"; do
        read -r op clients <<<"$row"
        echo "compare: $topology $server $op x$clients" >&2
        rc=0
        line="$(timeout "$BENCH_S_MAX" "$BIN" bench --servers "$SERVERS" --op "$op" --clients "$clients" \
            --value-size 1024 --duration "$DURATION" --warmup "$WARMUP" \
            2>>"$LOGS/bench-$server-$topology.log" | tail -n 1)" || rc=$?
        case "$line" in
            "{"*) ;;
            *) line="{\"op\":\"$op\",\"clients\":$clients}" ;;
        esac
        echo "{\"topology\":\"$topology\",\"server\":\"$server\",\"exit\":$rc,${line#\{}" >>"$RESULTS"
        [ "$rc" -eq 0 ] || echo "compare: $topology $server $op x$clients: bench exit $rc" >&2
    done
}

for topology in $TOPOLOGIES; do
    for server in zabkeeper zookeeper; do
        if start_servers "$server" "$topology"; then
            run_rows "$server" "$topology"
        else
            for row in "${ROWS[@]}"; do
                read -r op clients <<<"$row"
                echo "{\"topology\":\"$topology\",\"server\":\"$server\",\"exit\":-1,\"op\":\"$op\",\"clients\":$clients}" >>"$RESULTS"
            done
        fi
        stop_servers
        rm -rf "${WORK:?}/$server-$topology"
    done
done

echo "compare: raw results in $RESULTS, logs in $LOGS" >&2
python3 - "$RESULTS" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
names = {"set": "setData 1 KiB", "get": "getData 1 KiB", "create": "create 1 KiB"}
topo = {"standalone": "standalone", "ensemble": "3 servers"}
def cell(r):
    if r is None or "throughput" not in r:
        return "failed", "-"
    mark = "" if r["exit"] == 0 else " (exit %d)" % r["exit"]
    return "{:,.0f}{}".format(r["throughput"], mark), "{:,.0f}".format(r["latency_us"]["p99"])
print("| topology | load | zabkeeper ops/s | p99 (us) | ZooKeeper ops/s | p99 (us) | ratio |")
print("|---|---|---|---|---|---|---|")
seen = []
for r in rows:
    key = (r["topology"], r["op"], r["clients"])
    if key not in seen:
        seen.append(key)
for t, op, n in seen:
    pick = lambda s: next((r for r in rows if (r["topology"], r["op"], r["clients"], r["server"]) == (t, op, n, s)), None)
    z, k = pick("zabkeeper"), pick("zookeeper")
    zc, kc = cell(z), cell(k)
    ratio = "-"
    if z and k and z.get("throughput") and k.get("throughput"):
        ratio = "{:.2f}".format(z["throughput"] / k["throughput"])
    print("| {} | {}, {} client{} | {} | {} | {} | {} | {} |".format(
        topo.get(t, t), names.get(op, op), n, "" if n == 1 else "s", zc[0], zc[1], kc[0], kc[1], ratio))
EOF
