#!/usr/bin/env python3
"""Failover as a user feels it: the time from kill -9 of a server to the next successful write.

Usage:
  benches/failover.py --server zabkeeper [--binary target/release/zabkeeper] [options]
  benches/failover.py --server zookeeper [options]      (Debian's zookeeper package, 3.8)

Options: --nodes N (3), --kills K (7), --target leader|follower (leader), --clients C (6),
--tick-ms T (2000). zoo.cfg as benches/compare-zookeeper.sh writes it: tickTime T, initLimit 10,
syncLimit 5, loopback only, fsync on. C Kazoo clients, each with every member in its connect
string (Kazoo picks one at random and reconnects on its own), each writing its own key in a
loop, 1 s per call at most. For each kill it reports:
  first   the first write started after the kill that succeeded, by any client
  all     the time by which every client has written again (for a follower kill: every client
          that was connected to the killed server)
Then the killed server is restarted, everyone waits until all members serve and every client
writes again, and the next kill follows. A kill with no write within 30 s counts as 30 s.
Every loop is bounded; all processes are stopped at the end, also on failure.
"""
import argparse
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
from kazoo.retry import KazooRetry

J = "/usr/share/java"
ZK_CP = ":".join(
    f"{J}/{jar}.jar"
    for jar in [
        "zookeeper", "zookeeper-jute", "netty-codec", "netty-resolver", "netty-handler", "netty-transport",
        "netty-buffer", "netty-common", "netty-transport-native-unix-common", "netty-transport-native-epoll",
        "slf4j-api", "slf4j-log4j12", "log4j-1.2",
    ]
)
LIMIT_S = 30.0


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
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return None
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("Mode: "):
            return line[6:]
    return None


class Ensemble:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        n = args.nodes
        ports = free_ports(3 * n)
        self.client_ports = ports[:n]
        self.servers = "\n".join(f"server.{i + 1}=127.0.0.1:{ports[n + i]}:{ports[2 * n + i]}" for i in range(n))
        self.procs = [None] * n
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
                    f"tickTime={args.tick_ms}\ninitLimit=10\nsyncLimit=5\ndataDir={d}/data\n"
                    f"clientPort={self.client_ports[i]}\nclientPortAddress=127.0.0.1\nmaxClientCnxns=0\n"
                    f"admin.enableServer=false\n4lw.commands.whitelist=srvr\n{self.servers}\n"
                )

    def start(self, i):
        d = os.path.join(self.work, f"n{i + 1}")
        log = open(os.path.join(d, "server.log"), "ab")
        if self.args.server == "zabkeeper":
            cmd = [self.args.binary, "start", "--config", os.path.join(d, "zoo.cfg")]
        else:
            cmd = [
                "java", "-Xmx1g", f"-Dzk.log.file={d}/zookeeper.log",
                f"-Dlog4j.configuration=file:{self.work}/log4j.properties", "-cp", ZK_CP,
                "org.apache.zookeeper.server.quorum.QuorumPeerMain", os.path.join(d, "zoo.cfg"),
            ]
        self.procs[i] = subprocess.Popen(cmd, stdout=log, stderr=log)

    def kill(self, i):
        p = self.procs[i]
        if p is not None:
            p.send_signal(signal.SIGKILL)
            p.wait()
            self.procs[i] = None

    def stop_all(self):
        for i in range(len(self.procs)):
            p = self.procs[i]
            if p is not None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                self.procs[i] = None

    def modes(self):
        return [srvr_mode(p) if self.procs[i] else "down" for i, p in enumerate(self.client_ports)]

    def wait_serving(self, limit_s=120):
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            m = self.modes()
            live = [x for x in m if x != "down"]
            if live.count("leader") == 1 and live.count("follower") == len(live) - 1:
                return m
            time.sleep(0.05)
        raise SystemExit(f"failover: no leader with every other member following: {self.modes()}")

    def hosts(self):
        return ",".join(f"127.0.0.1:{p}" for p in self.client_ports)


class Writer(threading.Thread):
    """One Kazoo client writing its own key in a loop, recording each success's start and end."""

    def __init__(self, k, hosts, stop):
        super().__init__(daemon=True)
        self.k = k
        self.stop = stop
        retry = KazooRetry(max_tries=-1, delay=0.05, backoff=1.5, max_delay=0.5, max_jitter=0.05)
        self.zk = KazooClient(hosts=hosts, timeout=10.0, connection_retry=retry)
        self.successes = []  # (start, end), monotonic
        self.lock = threading.Lock()

    def port(self):
        try:
            return self.zk._connection._socket.getpeername()[1]
        except Exception:
            return None

    def run(self):
        path = f"/failover/c{self.k}"
        n = 0
        while not self.stop.is_set():
            n += 1
            start = time.monotonic()
            try:
                self.zk.set_async(path, str(n).encode()).get(timeout=1.0)
                end = time.monotonic()
                with self.lock:
                    self.successes.append((start, end))
            except Exception:
                time.sleep(0.01)

    def first_success_after(self, t):
        with self.lock:
            for start, end in self.successes:
                if start > t:
                    return end
        return None


def measure(args):
    work = tempfile.mkdtemp(prefix=f"failover-{args.server}-")
    ens = Ensemble(args, work)
    stop = threading.Event()
    writers = []
    results = []
    try:
        for i in range(args.nodes):
            ens.start(i)
        ens.wait_serving()
        setup = KazooClient(hosts=ens.hosts(), timeout=10.0)
        setup.start(timeout=30)
        for k in range(args.clients):
            setup.ensure_path(f"/failover/c{k}")
        setup.stop()
        setup.close()
        for k in range(args.clients):
            w = Writer(k, ens.hosts(), stop)
            w.zk.start(timeout=30)
            writers.append(w)
            w.start()
        time.sleep(2)
        for round_ in range(args.kills):
            modes = ens.wait_serving()
            if args.target == "leader":
                victim = modes.index("leader")
            else:
                # The follower with the most clients on it (clients that moved away from an
                # earlier victim do not come back by themselves).
                on = {i: sum(1 for w in writers if w.port() == ens.client_ports[i]) for i, m in enumerate(modes)}
                victim = max((i for i, m in enumerate(modes) if m == "follower"), key=lambda i: on[i])
            port = ens.client_ports[victim]
            on_victim = [w for w in writers if w.port() == port]
            t_kill = time.monotonic()
            ens.kill(victim)
            deadline = t_kill + LIMIT_S
            first = None
            waited = writers if args.target == "leader" else on_victim
            all_back = None
            while time.monotonic() < deadline:
                ends = [w.first_success_after(t_kill) for w in writers]
                got = [e for e in ends if e is not None]
                if got and first is None:
                    first = min(got) - t_kill
                backs = [w.first_success_after(t_kill) for w in waited]
                if all(b is not None for b in backs):
                    all_back = (max(backs) - t_kill) if backs else 0.0
                    if first is not None:
                        break
                time.sleep(0.01)
            first = LIMIT_S if first is None else first
            all_back = LIMIT_S if all_back is None else all_back
            results.append((first, all_back, len(on_victim)))
            print(
                f"failover: {args.server} n={args.nodes} kill {round_ + 1} ({args.target} on port {port}, "
                f"{len(on_victim)} of {len(writers)} clients on it): first write after {first * 1000:.0f} ms, "
                f"all writing after {all_back * 1000:.0f} ms",
                file=sys.stderr,
            )
            ens.start(victim)
            ens.wait_serving()
            time.sleep(2)
    finally:
        stop.set()
        for w in writers:
            try:
                w.zk.stop()
                w.zk.close()
            except Exception:
                pass
        ens.stop_all()
        shutil.rmtree(work, ignore_errors=True)
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", choices=["zabkeeper", "zookeeper"], required=True)
    p.add_argument("--binary", default="target/release/zabkeeper")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--kills", type=int, default=7)
    p.add_argument("--target", choices=["leader", "follower"], default="leader")
    p.add_argument("--clients", type=int, default=6)
    p.add_argument("--tick-ms", type=int, default=2000)
    args = p.parse_args()
    if args.server == "zabkeeper":
        args.binary = os.path.abspath(args.binary)
    results = measure(args)
    firsts = [r[0] for r in results]
    # For a follower kill, "all" only means something when clients were on it.
    alls = [r[1] for r in results if args.target == "leader" or r[2] > 0] or [0.0]
    print(
        f"{args.server} n={args.nodes} {args.target} kills={len(results)}: first write median "
        f"{statistics.median(firsts) * 1000:.0f} ms max {max(firsts) * 1000:.0f} ms; all writing median "
        f"{statistics.median(alls) * 1000:.0f} ms max {max(alls) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
