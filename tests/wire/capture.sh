#!/usr/bin/env bash
# Re-capture tests/wire/golden/*.json from scratch: real client sessions with
# Apache ZooKeeper 3.8.0 (Debian's package), recorded byte for byte by
# record_proxy.py. Loopback only; every step is bounded in time.
#
#   tests/wire/capture.sh            install what is missing, capture, verify
#   tests/wire/capture.sh --keep-tmp keep the temp dir (server/proxy/client logs)
#
# Environment: ZK_PORT (first server port tried, default 23181), PROXY_PORT
# (first proxy port tried, default 23281).
#
# What it does (capture.py does the middle part):
#   1. apt-get install zookeeper zookeeper-bin (server jars, zkCli.sh, cli_mt),
#      pip install kazoo pexpect, when missing;
#   2. starts ZooKeeper 3.8.0 standalone on a fresh data dir in a temp dir
#      (tickTime 2000, extendedTypesEnabled=true, reconfigEnabled=false,
#      4lw.commands.whitelist=*, NettyServerCnxnFactory, admin server off),
#      and record_proxy.py in front of it;
#   3. runs the zkCli.sh, cli_mt, kazoo, raw-socket and four-letter-word
#      scenarios through the proxy (restarting the server, same data dir,
#      for the reconnect scenarios);
#   4. stops the proxy and the server by PID, rewrites golden/*.json;
#   5. checks every stream with frames.py (whole frames, every frame decodes).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { echo "capture.sh: $*" >&2; }

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)
[ -f /usr/share/java/zookeeper.jar ] && [ -x /usr/share/zookeeper/bin/zkCli.sh ] || need_apt+=(zookeeper)
[ -x /usr/lib/zookeeper/bin/cli_mt ] || need_apt+=(zookeeper-bin)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3 python3-pip)
if [ "${#need_apt[@]}" -gt 0 ]; then
    log "installing ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -qq
    timeout 900 apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
need_pip=()
python3 -c 'import kazoo' 2>/dev/null || need_pip+=(kazoo)
python3 -c 'import pexpect' 2>/dev/null || need_pip+=(pexpect)
if [ "${#need_pip[@]}" -gt 0 ]; then
    log "pip installing ${need_pip[*]}"
    timeout 300 python3 -m pip install -q "${need_pip[@]}" \
        || timeout 300 python3 -m pip install -q --break-system-packages "${need_pip[@]}"
fi

# capture.py stops its children (server, proxy, clients) by PID on every exit
# path; the server JVM and the proxy also end by themselves after 25 minutes.
timeout -s TERM 1200 python3 "$HERE/capture.py" "$@"
python3 "$HERE/frames.py"
