#!/usr/bin/env python3
"""Floods, slowloris, a client that never reads, and EMFILE against a real zabkeeper: what the
server's CPU and memory do, and how a good client fares meanwhile.

Usage: flood.py PATH_TO_ZABKEEPER [--seconds N]

One standalone server on loopback (maxClientCnxns=60, maxCnxns=1000). A good session pings
(getData of a small node) every 20 ms throughout; each phase reports the server's CPU (user+sys
seconds per second of the phase, from /proc), its resident memory at the end, and the good
client's median and worst getData latency:
  idle        nothing else
  slowloris   1,100 connections (from 19 loopback addresses, 58 each) that send 2 bytes and stop
  flood       connect-and-close as fast as two threads can (ten times each limit within a second)
  non-reader  a session with a recursive watch on / that never reads, while 2,000 nodes of
              1 KiB are created
  emfile      the server restarted with a descriptor limit of 64, then 200 connections
Every phase is bounded in time; every process started is killed at the end.
"""
import os
import resource
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def connect_request():
    return frame(struct.pack(">iqiq", 0, 0, 30000, 0) + struct.pack(">i", 16) + b"\0" * 16 + b"\0")


def string(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


class Session:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(connect_request())
        self.read_frame()
        self.xid = 1

    def read_frame(self):
        n = struct.unpack(">i", self.recv(4))[0]
        return self.recv(n)

    def recv(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed")
            out += chunk
        return out

    def call(self, opcode, body):
        xid = self.xid
        self.xid += 1
        self.sock.sendall(frame(struct.pack(">ii", xid, opcode) + body))
        while True:
            reply = self.read_frame()
            got_xid, _zxid, err = struct.unpack(">iqi", reply[:16])
            if got_xid == xid:
                return err

    def create(self, path, data):
        acl = struct.pack(">i", 1) + struct.pack(">i", 31) + string("world") + string("anyone")
        return self.call(1, string(path) + struct.pack(">i", len(data)) + data + acl + struct.pack(">i", 0))

    def get(self, path):
        return self.call(4, string(path) + b"\0")


def cpu_and_rss(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) // 1024
    return cpu, rss


class Good(threading.Thread):
    """Reads a small node every 20 ms and keeps the latencies of the current phase."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.session = Session(port)
        self.session.create("/good", b"v")
        self.latencies, self.errors, self.stop = [], 0, False

    def run(self):
        while not self.stop:
            t = time.time()
            try:
                if self.session.get("/good") != 0:
                    self.errors += 1
            except Exception:
                self.errors += 1
                return
            self.latencies.append((time.time() - t) * 1000)
            time.sleep(0.02)

    def take(self):
        out, self.latencies = self.latencies, []
        return out


def start(binary, work, port, nofile=None):
    d = os.path.join(work, "data")
    cfg = os.path.join(work, "zoo.cfg")
    with open(cfg, "w") as f:
        f.write(f"tickTime=2000\ndataDir={d}\nclientPort={port}\nclientPortAddress=127.0.0.1\n"
                f"maxClientCnxns=60\nmaxCnxns=1000\n4lw.commands.whitelist=srvr\n")
    limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))) if nofile else None
    log = open(os.path.join(work, "server.log"), "a")
    proc = subprocess.Popen([binary, "start", "--config", cfg], stdout=log, stderr=log, preexec_fn=limit)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"srvr")
                if b"Mode" in s.recv(4096):
                    return proc
        except OSError:
            time.sleep(0.05)
    sys.exit("the server did not start")


def report(name, proc, good, t0, cpu0, seconds):
    cpu1, rss = cpu_and_rss(proc.pid)
    lat = good.take()
    med = statistics.median(lat) if lat else float("nan")
    worst = max(lat) if lat else float("nan")
    print(f"{name:11} cpu {(cpu1 - cpu0) / (time.time() - t0):5.2f} s/s  rss {rss:4d} MiB  "
          f"good getData: {len(lat):4d} calls, median {med:6.2f} ms, worst {worst:7.2f} ms, errors {good.errors}",
          flush=True)


def main():
    binary = os.path.abspath(sys.argv[1])
    seconds = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 5.0
    work = tempfile.mkdtemp(prefix="flood-")
    port = free_port()
    proc = start(binary, work, port)
    try:
        good = Good(port)
        good.start()

        def phase(name, body):
            t0, (cpu0, _) = time.time(), cpu_and_rss(proc.pid)
            good.take()
            body()
            while time.time() - t0 < seconds:
                time.sleep(0.05)
            report(name, proc, good, t0, cpu0, seconds)

        phase("idle", lambda: None)

        idle = []

        def slowloris():
            for a in range(2, 21):
                for _ in range(58):
                    try:
                        s = socket.socket()
                        s.bind((f"127.0.0.{a}", 0))
                        s.connect(("127.0.0.1", port))
                        s.sendall(b"\0\0")
                        idle.append(s)
                    except OSError:
                        pass
        phase("slowloris", slowloris)
        for s in idle:
            s.close()

        def flood():
            stop = time.time() + seconds * 0.8
            count = [0]

            def hammer():
                while time.time() < stop:
                    try:
                        with socket.create_connection(("127.0.0.1", port), timeout=1):
                            count[0] += 1
                    except OSError:
                        pass
            threads = [threading.Thread(target=hammer) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            print(f"            ({count[0]} connections opened and closed)", flush=True)
        phase("flood", flood)

        def non_reader():
            lazy = Session(port)
            lazy.sock.sendall(frame(struct.pack(">ii", 1, 106) + string("/") + struct.pack(">i", 1)))
            writer = Session(port)
            for i in range(2000):
                writer.create(f"/n{i}", b"x" * 1024)
        phase("non-reader", non_reader)
        good.stop = True
        proc.kill()
        proc.wait()

        proc = start(binary, work, port, nofile=64)
        good = Good(port)
        good.start()
        held = []

        def emfile():
            for _ in range(200):
                try:
                    s = socket.create_connection(("127.0.0.1", port), timeout=1)
                    held.append(s)
                except OSError:
                    pass
        phase("emfile", emfile)
        for s in held:
            s.close()
    finally:
        proc.kill()
        proc.wait()
        if "--keep" not in sys.argv:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


if __name__ == "__main__":
    main()
