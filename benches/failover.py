#!/usr/bin/env python3
"""Failover as a client feels it: from kill -9 of a server to the next successful writes.

  benches/failover.py --server zabkeeper --binary target/release/zabkeeper
  benches/failover.py --server zookeeper                (Debian's zookeeper package, 3.8)
  benches/failover.py --server zabkeeper,zookeeper --binary BIN --nodes 3,5 --target leader,follower

For each configuration (server x N x target) it starts N processes on free loopback ports with
the zoo.cfg benches/compare-zookeeper.sh writes (tickTime 2000, initLimit 10, syncLimit 5,
forceSync on, maxClientCnxns 0, loopback only; ZooKeeper as `java -Xmx2g ... QuorumPeerMain`),
in a fresh dir under target/failover/. Writers: --clients-per-member Kazoo clients per member
(2: 6 clients for N=3, 10 for N=5), client k homed on member k mod N (connect string starting
with its member, then the others in order, no shuffling), each a loop of set() on its own key
with a --write-timeout (1 s) limit and --interval-ms (5) between calls, recording the time of
every successful write. Kazoo reconnects on its own (retry delay 50 ms, backoff 1.5, at most
500 ms), the same for both servers. Then K times (--kills, 7):
  - wait until every member serves (srvr: one "Mode: leader", the rest "Mode: follower"), every
    client is on its home member (a client left elsewhere by an earlier kill is restarted) and
    every client has written in the last second;
  - kill -9 the leader (--target leader, found with srvr) or a follower (--target follower);
  - measure, from the kill, counting only writes started after the process is gone:
      first   the first successful write by any client
      killed  the first successful write by a client that was connected to the killed server
      all     the time by which every client has written again (for a follower kill the clients
              of the other members never stopped, so this is when the last client of the killed
              server writes again through another member)
    A cycle gives up after --limit-s (30) s: "no write within 30 s" (counted as 30 s);
  - restart the killed server and wait until it follows.
Prints one line per kill on stderr and a Markdown table of median and max per configuration on
stdout. Configurations run in the order given, servers alternating innermost. Every loop is
bounded; every process started is stopped at the end, also on failure or Ctrl-C.
"""
import argparse
import datetime
import logging
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from kazoo.client import KazooClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
J = "/usr/share/java"
ZK_CP = ":".join(
    f"{J}/{jar}.jar"
    for jar in [
        "zookeeper", "zookeeper-jute", "netty-codec", "netty-resolver", "netty-handler", "netty-transport",
        "netty-buffer", "netty-common", "netty-transport-native-unix-common", "netty-transport-native-epoll",
        "slf4j-api", "slf4j-log4j12", "log4j-1.2",
    ]
)
RETRY = dict(max_tries=-1, delay=0.05, backoff=1.5, max_delay=0.5, max_jitter=0.1)
READY_S = 120  # a whole ensemble serving (ZooKeeper's JVMs are slow to start)
STEADY_S = 60  # every client home and writing before a kill
STOP_S = 15
PROCS = []  # every server process started


def log(msg):
    print(f"failover: {msg}", file=sys.stderr, flush=True)


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def srvr_mode(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.settimeout(0.5)
            s.sendall(b"srvr")
            data = b""
            while len(data) < 65536:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("Mode: "):
            return line[6:].strip()
    return None


class Ensemble:
    """N members, one process each, zoo.cfg as benches/compare-zookeeper.sh writes it."""

    def __init__(self, server, binary, n, tick_ms, work):
        self.server = server
        self.binary = binary
        self.work = work
        ports = free_ports(3 * n)
        self.client_ports = ports[:n]
        self.procs = [None] * n
        servers = "".join(f"server.{i + 1}=127.0.0.1:{ports[n + i]}:{ports[2 * n + i]}\n" for i in range(n))
        if server == "zabkeeper":
            # As an operator would run it: members prove a shared secret on every link.
            secret = os.path.join(work, "quorum.secret")
            with open(secret, "w") as f:
                f.write(os.urandom(32).hex() + "\n")
            servers += f"quorum.auth.secretFile={secret}\n"
        with open(os.path.join(work, "log4j.properties"), "w") as f:
            f.write(
                "log4j.rootLogger=WARN, F\nlog4j.appender.F=org.apache.log4j.FileAppender\n"
                "log4j.appender.F.File=${zk.log.file}\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\n"
                "log4j.appender.F.layout.ConversionPattern=%d{ISO8601} %-5p [%t] %c{1}: %m%n\n"
            )
        for i in range(n):
            d = os.path.join(work, f"n{i + 1}")
            os.makedirs(os.path.join(d, "data"))
            with open(os.path.join(d, "data", "myid"), "w") as f:
                f.write(f"{i + 1}\n")
            with open(os.path.join(d, "zoo.cfg"), "w") as f:
                f.write(
                    f"tickTime={tick_ms}\ninitLimit=10\nsyncLimit=5\ndataDir={d}/data\n"
                    f"clientPort={self.client_ports[i]}\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\n"
                    f"admin.enableServer=false\n4lw.commands.whitelist=srvr\n{servers}"
                )

    def start(self, i):
        d = os.path.join(self.work, f"n{i + 1}")
        cfg = os.path.join(d, "zoo.cfg")
        if self.server == "zabkeeper":
            cmd = [self.binary, "start", "--config", cfg]
        else:
            cmd = ["java", "-Xmx2g", f"-Dzk.log.file={d}/server.log",
                   f"-Dlog4j.configuration=file:{self.work}/log4j.properties", "-cp", ZK_CP,
                   "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg]
        with open(os.path.join(d, "server.stdout"), "ab") as out:
            p = subprocess.Popen(cmd, stdout=out, stderr=out)
        PROCS.append(p)
        self.procs[i] = p

    def kill(self, i):
        """SIGKILL; returns once the process is gone."""
        p = self.procs[i]
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        self.procs[i] = None

    def modes(self):
        return [srvr_mode(port) if self.procs[i] is not None else "down" for i, port in enumerate(self.client_ports)]

    def wait_serving(self, limit_s=READY_S):
        """Until one leader and every other member following; returns the modes."""
        deadline = time.monotonic() + limit_s
        modes = None
        while time.monotonic() < deadline:
            modes = self.modes()
            if modes.count("leader") == 1 and modes.count("follower") == len(modes) - 1:
                return modes
            time.sleep(0.1)
        raise SystemExit(f"failover: {self.server} not serving after {limit_s} s: {modes}; logs in {self.work}")

    def hosts_from(self, home):
        n = len(self.client_ports)
        return ",".join(f"127.0.0.1:{self.client_ports[(home + j) % n]}" for j in range(n))


class Writer(threading.Thread):
    """One Kazoo client writing its own key in a loop, recording the end of every success."""

    def __init__(self, k, ens, home, stop, write_timeout, interval_s):
        super().__init__(daemon=True)
        self.k = k
        self.ens = ens
        self.home = home
        self.home_port = ens.client_ports[home]
        self.stop = stop
        self.write_timeout = write_timeout
        self.interval_s = interval_s
        self.lock = threading.Lock()
        self.successes = []  # (start, end), monotonic
        self.zk = self.connect()

    def connect(self):
        zk = KazooClient(hosts=self.ens.hosts_from(self.home), timeout=10.0, randomize_hosts=False,
                         connection_retry=RETRY)
        zk.start(timeout=30)
        return zk

    def port(self):
        try:
            return self.zk._connection._socket.getpeername()[1]
        except Exception:
            return None

    def rehome(self):
        """A new client (new session) on the home member, replacing one an earlier kill moved."""
        new = self.connect()
        with self.lock:
            old, self.zk = self.zk, new
        close_quietly(old)

    def run(self):
        path = f"/failover/c{self.k}"
        n = 0
        while not self.stop.is_set():
            n += 1
            zk = self.zk
            start = time.monotonic()
            try:
                zk.set_async(path, str(n).encode()).get(timeout=self.write_timeout)
                end = time.monotonic()
                with self.lock:
                    self.successes.append((start, end))
            except Exception:
                time.sleep(0.01)
            if self.interval_s:
                time.sleep(self.interval_s)

    def first_success_after(self, t):
        """The end of the first success that started after t (successes are in start order)."""
        first = None
        with self.lock:
            for start, end in reversed(self.successes):
                if start <= t:
                    break
                first = end
        return first

    def last_success(self):
        with self.lock:
            return self.successes[-1][1] if self.successes else None


def close_quietly(zk):
    def run():
        try:
            zk.stop()
            zk.close()
        except Exception:
            pass
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(15)


def wait_steady(ens, writers):
    """Every client on its home member and writing."""
    deadline = time.monotonic() + STEADY_S
    while time.monotonic() < deadline:
        for w in writers:
            if w.port() != w.home_port and ens.procs[w.home] is not None:
                w.rehome()
        now = time.monotonic()
        if all(w.port() == w.home_port and (w.last_success() or 0) > now - 1.0 for w in writers):
            return
        time.sleep(0.1)
    raise SystemExit(f"failover: clients not all home and writing after {STEADY_S} s: "
                     f"{[(w.k, w.port(), w.home_port) for w in writers]}")


def fmt(v, limit_s):
    return f"no write within {limit_s:g} s" if v is None else f"{v * 1000:.0f} ms"


def measure(args, server, n, target):
    os.makedirs(args.workdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f"{server}-n{n}-{target}-", dir=args.workdir)
    ens = Ensemble(server, args.binary, n, args.tick_ms, work)
    stop = threading.Event()
    writers = []
    results = []
    ok = False
    try:
        for i in range(n):
            ens.start(i)
        ens.wait_serving()
        setup = KazooClient(hosts=ens.hosts_from(0), timeout=10.0)
        setup.start(timeout=30)
        clients = args.clients_per_member * n
        for path in ["/failover"] + [f"/failover/c{k}" for k in range(clients)]:
            setup.create_async(path, b"").get(timeout=10)
        close_quietly(setup)
        for k in range(clients):
            writers.append(Writer(k, ens, k % n, stop, args.write_timeout, args.interval_ms / 1000.0))
        for w in writers:
            w.start()
        for cycle in range(args.kills):
            modes = ens.wait_serving()
            wait_steady(ens, writers)
            time.sleep(0.5)
            victim = modes.index(target)
            port = ens.client_ports[victim]
            on_victim = [w for w in writers if w.port() == port]
            t_kill = time.monotonic()
            wall = datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S")
            ens.kill(victim)
            t_dead = time.monotonic()
            deadline = t_kill + args.limit_s
            first = killed = every = None
            while time.monotonic() < deadline:
                ends = [w.first_success_after(t_dead) for w in writers]
                got = [e for e in ends if e is not None]
                if got:
                    first = min(got) - t_kill
                vic = [w.first_success_after(t_dead) for w in on_victim]
                vic_got = [e for e in vic if e is not None]
                if vic_got:
                    killed = min(vic_got) - t_kill
                if len(got) == len(ends):
                    every = max(got) - t_kill
                    break
                time.sleep(0.01)
            if not on_victim:
                killed = None
            results.append({"first": first, "killed": killed, "all": every, "on_victim": len(on_victim)})
            log(f"{server} n={n} kill {cycle + 1}/{args.kills} at {wall}Z ({target} member {victim + 1}, "
                f"{len(on_victim)} of {len(writers)} clients on it): first write {fmt(first, args.limit_s)}, "
                f"first by a client of the killed server {fmt(killed, args.limit_s) if on_victim else '-'}, "
                f"all writing {fmt(every, args.limit_s)}")
            ens.start(victim)
            ens.wait_serving()
        ok = True
    finally:
        stop.set()
        for w in writers:
            close_quietly(w.zk)
        stop_all(ens.procs)
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"data and server logs kept in {work}")
    return results


def stop_all(procs):
    for p in procs:
        if p is not None and p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + STOP_S
    for p in procs:
        if p is None:
            continue
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def summary(values, limit_s):
    vals = [limit_s if v is None else v for v in values]
    if not vals:
        return "-"
    timeouts = sum(1 for v in values if v is None)
    mark = f" ({timeouts} without a write in {limit_s:g} s)" if timeouts else ""
    return f"{statistics.median(vals) * 1000:,.0f} / {max(vals) * 1000:,.0f}{mark}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", required=True, help="zabkeeper, zookeeper, or both comma-separated (alternating)")
    p.add_argument("--binary", default=os.path.join(ROOT, "target/release/zabkeeper"))
    p.add_argument("--nodes", default="3", help="ensemble sizes, comma-separated (3,5)")
    p.add_argument("--kills", type=int, default=7)
    p.add_argument("--target", default="leader", help="leader, follower, or both comma-separated")
    p.add_argument("--clients-per-member", type=int, default=2)
    p.add_argument("--tick-ms", type=int, default=2000)
    p.add_argument("--write-timeout", type=float, default=1.0, help="seconds each set() may take")
    p.add_argument("--interval-ms", type=float, default=5.0, help="pause between a client's writes")
    p.add_argument("--limit-s", type=float, default=30.0, help="a kill cycle gives up after this")
    p.add_argument("--workdir", default=os.path.join(ROOT, "target/failover"))
    p.add_argument("--keep", action="store_true", help="keep data dirs and server logs")
    args = p.parse_args()
    servers = args.server.split(",")
    targets = args.target.split(",")
    nodes = [int(x) for x in args.nodes.split(",")]
    for s in servers:
        if s not in ("zabkeeper", "zookeeper"):
            p.error(f"unknown server {s}")
    for t in targets:
        if t not in ("leader", "follower"):
            p.error(f"unknown target {t}")
    if "zabkeeper" in servers:
        args.binary = os.path.abspath(args.binary)
        if not os.access(args.binary, os.X_OK):
            p.error(f"{args.binary} is not an executable")
    if "zookeeper" in servers and (shutil.which("java") is None or not os.path.exists(f"{J}/zookeeper.jar")):
        p.error("ZooKeeper needs java and Debian's zookeeper package (/usr/share/java/zookeeper.jar)")

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    logging.basicConfig(level=logging.CRITICAL)  # Kazoo logs every reconnect as a warning
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    rows = []
    try:
        for n in nodes:
            for target in targets:
                for server in servers:
                    results = measure(args, server, n, target)
                    rows.append((server, n, target, results))
                    r = results
                    log(f"{server} n={n} {target}: first {summary([x['first'] for x in r], args.limit_s)}, "
                        f"killed {summary([x['killed'] for x in r if x['on_victim']], args.limit_s)}, "
                        f"all {summary([x['all'] for x in r], args.limit_s)} (median / max ms)")
    finally:
        stop_all(PROCS)
    print(f"Failover, {started}: kill -9, then the first successful write (ms, median / max over the kills; "
          f"tickTime {args.tick_ms}, {args.clients_per_member} Kazoo clients per member)")
    print()
    print("| server | N | killed | kills | first write, any client | first write, a client of the killed server "
          "| every client writing |")
    print("|---|---|---|---|---|---|---|")
    for server, n, target, r in rows:
        print(f"| {server} | {n} | {target} | {len(r)} | {summary([x['first'] for x in r], args.limit_s)} "
              f"| {summary([x['killed'] for x in r if x['on_victim']], args.limit_s)} "
              f"| {summary([x['all'] for x in r], args.limit_s)} |")


if __name__ == "__main__":
    main()
