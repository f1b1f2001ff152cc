#!/usr/bin/env bash
# Re-capture expected.json from script.json against a real Apache ZooKeeper 3.8
# (Debian's package), standalone, on a fresh data dir, on loopback only.
#
#   tests/semantics/capture.sh            capture once, write expected.json
#   tests/semantics/capture.sh --verify   capture twice (two fresh servers), require
#                                         identical output, then write expected.json
#
# Environment: ZK_PORT (first port tried, default 22181), KEEP_TMP=1 keeps the temp dir.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERIFY=0
[ "${1:-}" = "--verify" ] && VERIFY=1
PORT_BASE="${ZK_PORT:-22181}"

log() { echo "capture.sh: $*" >&2; }

# ---- dependencies (only what is missing)
need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)
[ -f /usr/share/java/zookeeper.jar ] || need_apt+=(zookeeper zookeeper-bin)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
if [ "${#need_apt[@]}" -gt 0 ]; then
    log "installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -qq
    timeout 600 apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

J=/usr/share/java
CP="$J/zookeeper.jar:$J/zookeeper-jute.jar:$J/netty-codec.jar:$J/netty-resolver.jar"
CP="$CP:$J/netty-handler.jar:$J/netty-transport.jar:$J/netty-buffer.jar:$J/netty-common.jar"
CP="$CP:$J/slf4j-api.jar:$J/slf4j-log4j12.jar:$J/log4j-1.2.jar"

TMP="$(mktemp -d /tmp/zk-semantics.XXXXXX)"
ZK_PID=""

stop_server() {
    if [ -n "$ZK_PID" ] && kill -0 "$ZK_PID" 2>/dev/null; then
        kill "$ZK_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$ZK_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$ZK_PID" 2>/dev/null || true
        wait "$ZK_PID" 2>/dev/null || true
    fi
    ZK_PID=""
}
cleanup() {
    stop_server
    if [ "${KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT INT TERM

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# run_once OUT_FILE: fresh server, capture, stop
run_once() {
    local out="$1" dir port
    dir="$(mktemp -d "$TMP/run.XXXXXX")"
    port=""
    for p in $(seq "$PORT_BASE" $((PORT_BASE + 20))); do
        if port_free "$p"; then port="$p"; break; fi
    done
    [ -n "$port" ] || { log "no free port from $PORT_BASE"; return 1; }
    mkdir -p "$dir/data"
    cat >"$dir/zoo.cfg" <<EOF
tickTime=2000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory
extendedTypesEnabled=true
admin.enableServer=false
4lw.commands.whitelist=srvr
maxClientCnxns=60
EOF
    cat >"$dir/log4j.properties" <<EOF
log4j.rootLogger=INFO, F
log4j.appender.F=org.apache.log4j.FileAppender
log4j.appender.F.File=$dir/zookeeper.log
log4j.appender.F.layout=org.apache.log4j.PatternLayout
log4j.appender.F.layout.ConversionPattern=%d{ISO8601} [%t] %-5p %c{1} - %m%n
EOF
    # The container/TTL reaper would delete nodes (and use zxids) on its own
    # timer: push its first run far past the capture. timeout bounds the JVM.
    timeout 900 java -Xmx256m \
        -Dznode.container.checkIntervalMs=3600000 \
        -Dlog4j.configuration="file:$dir/log4j.properties" \
        -cp "$CP" org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" \
        >"$dir/stdout.log" 2>&1 &
    ZK_PID=$!
    log "server pid $ZK_PID on 127.0.0.1:$port, data $dir/data"
    if ! timeout 300 python3 "$HERE/capture.py" --port "$port" --wait 60 \
            --script "$HERE/script.json" --out "$out" --trace "$out.trace"; then
        log "capture failed; server log tail:"
        tail -n 40 "$dir/zookeeper.log" "$dir/stdout.log" >&2 || true
        stop_server
        return 1
    fi
    stop_server
}

run_once "$TMP/expected.1.json"
if [ "$VERIFY" = 1 ]; then
    run_once "$TMP/expected.2.json"
    if ! diff -u "$TMP/expected.1.json" "$TMP/expected.2.json" >&2; then
        log "two captures differ: not writing expected.json"
        exit 1
    fi
    log "two captures are identical"
fi
cp "$TMP/expected.1.json" "$HERE/expected.json"
log "wrote $HERE/expected.json ($(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$HERE/expected.json") results)"
