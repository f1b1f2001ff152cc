#!/usr/bin/env python3
"""Real network faults between real zabkeeper processes, each in its own network namespace.

Usage:
  faults.py BINARY --short                         the project test's version (a few minutes)
  faults.py BINARY --long [--runs R] [--seconds S] every scenario R times, S seconds of fault each
Options: --only NAME[,NAME..] (scenario names, e.g. n3/loss or loss), --seed X, --keep (keep the
temp dir with member logs and client histories), --list.

Needs root and `ip netns`; otherwise it prints "skipped: needs root and ip netns" and exits 0
(exit 1 when ZK_NETNS_REQUIRED=1). See README.md next to this file for the layout and the checks.
"""
import argparse
import ctypes
import fcntl
import json
import logging
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HUB = "zkh"
BRIDGE = "zkbr"
NET = "10.251.0"
HUB_IP = f"{NET}.254"
MAX_MEMBERS = 5
LOCK_PATH = "/tmp/zabkeeper-netns-faults.lock"

K_CLIENTS = 4
CALL_TIMEOUT = 5.0  # every client call waits at most this long
CALL_MARGIN = 1.0  # ... plus this much for the wrapper itself
SESSION_TIMEOUT = 4.0  # requested by every client (20 ticks of 200 ms: the server's maximum)
OP_GAP = 0.02  # pause between a client's calls after a success
FAIL_GAP = 0.1  # ... and after a failure
HEALTH_BOUND = 45.0  # wait for one leader and everyone following
HEAL_BOUND = 30.0  # every client must write successfully again within this after the heal
WARMUP = 2.0

# name -> (members, short fault seconds or None when not in --short)
SCENARIOS = [
    ("leader-isolated-full", 3, 8),
    ("leader-isolated-peers", 3, 8),
    ("minority", 3, 8),
    ("flapping", 3, None),
    ("loss", 3, 10),
    ("sigstop-leader", 3, 7),
    ("kill9-leader", 3, 6),
    ("kill9-all", 3, 6),
    ("restart-partitioned", 3, None),
    ("leader-isolated-peers", 5, None),
    ("minority", 5, None),
    ("bridge-split", 5, 8),
    ("loss", 5, None),
    ("kill9-all", 5, None),
]


def log(msg):
    print(msg, flush=True)


def sh(*cmd, check=True, input=None, timeout=30):
    r = subprocess.run(list(cmd), input=input, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


# ----------------------------------------------------------------------------------------------
# outer part: root namespace; creates and removes the namespaces, runs the inner part in the hub


def skip(reason):
    log(f"skipped: needs root and ip netns ({reason})")
    sys.exit(1 if os.environ.get("ZK_NETNS_REQUIRED") == "1" else 0)


def ns_names():
    return [HUB] + [f"zk{i}" for i in range(1, MAX_MEMBERS + 1)]


def existing_namespaces():
    r = sh("ip", "netns", "list", check=False)
    return {line.split()[0] for line in r.stdout.splitlines() if line.strip()}


def remove_namespaces(only_ours):
    """Kill every process inside our namespaces, then delete them (members first, hub last)."""
    present = existing_namespaces()
    for name in ns_names()[1:] + [HUB]:
        if name not in present or name not in only_ours:
            continue
        for _ in range(3):
            pids = sh("ip", "netns", "pids", name, check=False).stdout.split()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            time.sleep(0.2)
        sh("ip", "netns", "del", name, check=False)


def setup_namespaces():
    sh("ip", "netns", "add", HUB)
    sh("ip", "-n", HUB, "link", "set", "lo", "up")
    sh("ip", "-n", HUB, "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "-n", HUB, "addr", "add", f"{HUB_IP}/24", "dev", BRIDGE)
    sh("ip", "-n", HUB, "link", "set", BRIDGE, "up")
    for i in range(1, MAX_MEMBERS + 1):
        ns = f"zk{i}"
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", HUB, "link", "add", f"vzk{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "-n", HUB, "link", "set", f"vzk{i}", "master", BRIDGE)
        sh("ip", "-n", HUB, "link", "set", f"vzk{i}", "up")
        sh("ip", "-n", ns, "addr", "add", f"{NET}.{i}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "netns", "exec", ns, "iptables", "-S")  # iptables usable inside the namespace


def set_pdeathsig(sig):
    def f():
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(sig), 0, 0, 0)  # PR_SET_PDEATHSIG
        except OSError:
            pass
    return f


def outer(args, argv):
    if os.geteuid() != 0:
        skip("not root")
    if shutil.which("ip") is None or shutil.which("iptables") is None or shutil.which("iptables-restore") is None:
        skip("ip or iptables not found")
    if sh("ip", "netns", "list", check=False).returncode != 0:
        skip("`ip netns list` fails")
    if KAZOO_ERROR is not None:
        sys.exit(f"error: Kazoo is needed (python3 -m pip install kazoo==2.11.0): {KAZOO_ERROR}")
    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        sys.exit(f"error: {binary} is not an executable")
    lock = open(LOCK_PATH, "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        sys.exit(f"error: another faults.py run holds {LOCK_PATH}")
    # Namespaces left by a run that was killed with SIGKILL (we hold the lock, so no run is live).
    stale = existing_namespaces() & set(ns_names())
    if stale:
        log(f"removing stale namespaces of an earlier run: {' '.join(sorted(stale))}")
        remove_namespaces(stale)
    # Temp dirs of runs killed with SIGKILL still hold their RUNNING mark (kept ones do not).
    for d in os.listdir(tempfile.gettempdir()):
        path = os.path.join(tempfile.gettempdir(), d)
        if d.startswith("zabkeeper-netns-") and os.path.exists(os.path.join(path, "RUNNING")):
            log(f"removing the temp dir of an earlier run: {path}")
            shutil.rmtree(path, ignore_errors=True)
    tmp = tempfile.mkdtemp(prefix="zabkeeper-netns-")
    open(os.path.join(tmp, "RUNNING"), "w").close()
    inner_proc = None
    created = set(ns_names())

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, on_signal)
    rc = 1
    try:
        try:
            setup_namespaces()
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            remove_namespaces(created)
            created = set()
            skip(f"cannot build the namespaces: {e}")
        # A private copy: the binary may be rebuilt while we run; every restart uses the same one.
        shutil.copy2(binary, os.path.join(tmp, "zabkeeper"))
        cmd = ["ip", "netns", "exec", HUB, sys.executable, os.path.abspath(__file__)] + argv + ["--inner", tmp]
        inner_proc = subprocess.Popen(cmd, start_new_session=True, preexec_fn=set_pdeathsig(signal.SIGTERM))
        rc = inner_proc.wait()
    except KeyboardInterrupt as e:
        log(f"interrupted ({e}); cleaning up")
        rc = 130
    finally:
        for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(s, signal.SIG_IGN)
        if inner_proc is not None and inner_proc.poll() is None:
            inner_proc.terminate()
            try:
                inner_proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                inner_proc.kill()
                inner_proc.wait(timeout=10)
        remove_namespaces(created)
        if args.keep:
            os.unlink(os.path.join(tmp, "RUNNING"))
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        lock.close()
    sys.exit(rc)


# ----------------------------------------------------------------------------------------------
# inner part: runs inside the hub namespace; members, faults, clients and checks

KAZOO_ERROR = None
try:
    from kazoo.client import KazooClient, KazooState
    from kazoo.exceptions import (
        ConnectionClosedError,
        ConnectionDropped,
        ConnectionLoss,
        OperationTimeoutError,
        SessionExpiredError,
        SessionMovedError,
        ZookeeperError,
    )
    from kazoo.handlers.threading import KazooTimeoutError
    from kazoo.retry import KazooRetry

    INDEFINITE = (ConnectionLoss, OperationTimeoutError, SessionExpiredError, SessionMovedError,
                  ConnectionClosedError, ConnectionDropped, KazooTimeoutError)
except ImportError as e:  # the skip path must work without Kazoo
    KAZOO_ERROR = e


class CheckFailed(Exception):
    pass


def classify(exc):
    name = type(exc).__name__
    if isinstance(exc, INDEFINITE):
        return "ind:" + name
    if isinstance(exc, ZookeeperError):
        return "def:" + name
    return "ind:" + name  # anything unexpected counts as indefinite (and is reported by name)


def conn_retry():
    return KazooRetry(max_tries=-1, delay=0.1, backoff=1.5, max_delay=1.0, max_jitter=0.2)


def member_ip(i):
    return f"{NET}.{i}"


def four(i, word, timeout=1.0):
    with socket.create_connection((member_ip(i), 2181), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(word.encode())
        out = b""
        for _ in range(1000):
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
        return out.decode(errors="replace")


def mode_of(i):
    try:
        m = re.search(r"Mode: (\w+)", four(i, "srvr"))
        return m.group(1) if m else "not-serving"
    except OSError:
        return "unreachable"


class Cluster:
    def __init__(self, n, root, binary):
        self.n, self.root, self.binary = n, root, binary
        self.procs = {}
        self.expected_dead = set()
        os.makedirs(root)
        # The members prove a shared secret to each other, so every redial after a heal goes
        # through the authenticated handshake.
        secret = os.path.join(root, "quorum.secret")
        with open(secret, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        for i in self.ids():
            data = os.path.join(root, f"m{i}", "data")
            os.makedirs(data)
            with open(os.path.join(data, "myid"), "w") as f:
                f.write(f"{i}\n")
            lines = ["tickTime=200", "initLimit=10", "syncLimit=5", f"dataDir={data}", "clientPort=2181",
                     f"clientPortAddress={member_ip(i)}", "4lw.commands.whitelist=*", "snapCount=1000000",
                     f"quorum.auth.secretFile={secret}"]
            lines += [f"server.{j}={member_ip(j)}:2888:3888;2181" for j in self.ids()]
            with open(self.cfg(i), "w") as f:
                f.write("\n".join(lines) + "\n")

    def ids(self):
        return list(range(1, self.n + 1))

    def cfg(self, i):
        return os.path.join(self.root, f"m{i}", "zoo.cfg")

    def logpath(self, i):
        return os.path.join(self.root, f"m{i}.log")

    def start(self, i):
        with open(self.logpath(i), "a") as f:
            f.write(f"==== faults.py: start member {i} at {time.strftime('%H:%M:%S')} ====\n")
            f.flush()
            p = subprocess.Popen(["ip", "netns", "exec", f"zk{i}", self.binary, "start", "--config", self.cfg(i)],
                                 stdin=subprocess.DEVNULL, stdout=f, stderr=f, preexec_fn=set_pdeathsig(signal.SIGKILL))
        self.procs[i] = p
        self.expected_dead.discard(i)

    def start_all(self):
        for i in self.ids():
            self.start(i)

    def signal(self, i, sig):
        self.procs[i].send_signal(sig)

    def kill9(self, i):
        self.expected_dead.add(i)
        p = self.procs[i]
        p.kill()
        p.wait(timeout=10)

    def stop_all(self):
        for i, p in self.procs.items():
            if p.poll() is None:
                self.expected_dead.add(i)
                p.send_signal(signal.SIGCONT)
                p.terminate()
        deadline = time.time() + 8
        for p in self.procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)

    def unexpected_exits(self):
        return [(i, p.returncode) for i, p in self.procs.items() if p.poll() is not None and i not in self.expected_dead]

    def modes(self):
        return {i: mode_of(i) for i in self.ids()}

    def leader(self):
        ls = [i for i, m in self.modes().items() if m == "leader"]
        return ls[0] if len(ls) == 1 else None

    def wait_healthy(self, bound=HEALTH_BOUND):
        t0 = time.time()
        modes = {}
        while time.time() - t0 < bound:
            modes = self.modes()
            vals = list(modes.values())
            if vals.count("leader") == 1 and vals.count("follower") == self.n - 1:
                return [i for i, m in modes.items() if m == "leader"][0], time.time() - t0
            time.sleep(0.2)
        raise CheckFailed(f"no leader with everyone following within {bound:.0f}s: {modes}")

    def log_tail(self, i, lines=25):
        try:
            with open(self.logpath(i), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"

    def panics(self):
        found = []
        for i in self.ids():
            try:
                with open(self.logpath(i), errors="replace") as f:
                    for line in f:
                        if "panicked" in line:
                            found.append(f"member {i}: {line.strip()}")
            except OSError:
                pass
        return found


class Net:
    """iptables rules inside the member namespaces (never the hub's or the root namespace's)."""

    def __init__(self, cluster):
        self.c = cluster

    def rules(self, i, lines):
        text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        text += "".join(line + "\n" for line in lines) + "COMMIT\n"
        sh("ip", "netns", "exec", f"zk{i}", "iptables-restore", input=text)

    def drop_peers(self, i, peers):
        lines = []
        for j in peers:
            lines += [f"-A INPUT -s {member_ip(j)}/32 -j DROP", f"-A OUTPUT -d {member_ip(j)}/32 -j DROP"]
        self.rules(i, lines)

    def isolate(self, i, peers_only):
        if peers_only:
            self.drop_peers(i, [j for j in self.c.ids() if j != i])
        else:
            self.rules(i, ["-A INPUT -i eth0 -j DROP", "-A OUTPUT -o eth0 -j DROP"])

    def cut(self, a, b):
        for i in a:
            self.drop_peers(i, b)
        for j in b:
            self.drop_peers(j, a)

    def loss(self, p):
        for i in self.c.ids():
            self.rules(i, [f"-A INPUT -i eth0 -m statistic --mode random --probability {p} -j DROP"])

    def heal(self):
        for i in self.c.ids():
            self.rules(i, [])


class Rec:
    __slots__ = ("k", "op", "arg", "t0", "t1", "out", "res", "ft", "fout", "fres")

    def __init__(self, k, op, arg):
        self.k, self.op, self.arg = k, op, arg
        self.t0 = time.time()
        self.t1 = self.out = self.res = self.ft = self.fout = self.fres = None

    def known_ok(self):
        """When the client learned that the call succeeded (None if it never did)."""
        if self.out == "ok":
            return self.t1
        if self.fout == "ok":
            return self.ft
        return None

    def as_json(self):
        res = self.fres if self.fout == "ok" else None
        if isinstance(res, tuple):
            res = [r if isinstance(r, (str, int)) else repr(r) for r in res]
        elif isinstance(res, bytes):
            res = res.decode(errors="replace")
        return {"k": self.k, "op": self.op, "arg": self.arg, "t0": self.t0, "t1": self.t1, "out": self.out,
                "ft": self.ft, "fout": self.fout, "res": res if isinstance(res, (str, int, list)) else repr(res)}


def finalize(rec, ar):
    if rec.fout is not None:
        return
    if ar.successful():
        rec.fres = ar.value
        rec.fout = "ok"
    else:
        rec.fres = None
        rec.fout = classify(ar.exception)
    rec.ft = time.time()


class Writer(threading.Thread):
    def __init__(self, k, client, tag, stop, holder):
        super().__init__(daemon=True, name=f"writer-{k}")
        self.k, self.client, self.tag, self.stop, self.holder = k, client, tag, stop, holder
        self.hist = []
        self.counter = 0
        self.sessions = []  # (session id, first seen)
        self.eph_acked = []  # (owner session, time)
        self.eph_confirmed = None
        self.crash = None
        self.parent = f"/w/c{k}"
        self.key = f"/k/c{k}"

    def call(self, op, arg, fn):
        rec = Rec(self.k, op, arg)
        self.hist.append(rec)
        try:
            ar = fn()
        except Exception as e:  # noqa: BLE001 - some Kazoo calls raise before they are queued
            rec.t1 = rec.ft = time.time()
            rec.out = rec.fout = classify(e)
            return rec
        ar.rawlink(lambda a: finalize(rec, a))
        ar.wait(CALL_TIMEOUT)
        rec.t1 = time.time()
        if ar.ready():
            if ar.successful():
                rec.out, rec.res = "ok", ar.value
            else:
                rec.out = classify(ar.exception)
        else:
            rec.out = "ind:CallTimeout"
        return rec

    def note_session(self):
        sid = self.client._session_id
        if sid and (not self.sessions or self.sessions[-1][0] != sid):
            self.sessions.append((sid, time.time()))

    def ephemeral(self):
        c = self.client
        sid = c._session_id
        if c.state != KazooState.CONNECTED or not sid or self.eph_confirmed == sid:
            return
        rec = self.call("eph-create", "/e/c0",
                        lambda: c.create_async("/e/c0", b"%x" % sid, ephemeral=True, include_data=True))
        if rec.out == "ok":
            owner = rec.res[1].ephemeralOwner
            self.eph_acked.append((owner, rec.t1))
            self.eph_confirmed = owner
        elif rec.out == "def:NodeExistsError":
            g = self.call("eph-get", "/e/c0", lambda: c.get_async("/e/c0"))
            if g.out == "ok" and g.res[1].ephemeralOwner == sid:
                self.eph_confirmed = sid

    def run(self):
        try:
            self.loop()
        except Exception:  # noqa: BLE001
            self.crash = traceback.format_exc()

    def loop(self):
        c = self.client
        i = 0
        last_eph = 0.0
        hard_deadline = time.time() + 900
        while not self.stop.is_set() and time.time() < hard_deadline and i < 200000:
            i += 1
            self.note_session()
            if self.holder and time.time() - last_eph > 1.0:
                last_eph = time.time()
                self.ephemeral()
            phase = i % 8
            if phase == 5:
                self.counter += 1
                n = self.counter
                rec = self.call("set", n, lambda: c.set_async(self.key, str(n).encode()))
            elif phase == 6:
                rec = self.call("get", None, lambda: c.get_async(self.key))
            elif phase == 7 and i % 24 == 7:
                rec = self.call("sync", None, lambda: c.sync_async("/"))
            else:
                token = f"{self.tag}:c{self.k}:{i}"
                rec = self.call("create", token,
                                lambda: c.create_async(self.parent + "/n-", token.encode(), sequence=True))
            self.stop.wait(OP_GAP if rec.out == "ok" else FAIL_GAP)


def stat_tuple(st):
    return (st.czxid, st.mzxid, st.pzxid, st.ctime, st.mtime, st.version, st.cversion, st.aversion,
            st.ephemeralOwner, st.dataLength, st.numChildren)


STAT_FIELDS = ("czxid", "mzxid", "pzxid", "ctime", "mtime", "version", "cversion", "aversion", "ephemeralOwner",
               "dataLength", "numChildren")


def connect_one(i):
    c = KazooClient(hosts=f"{member_ip(i)}:2181", timeout=SESSION_TIMEOUT, connection_retry=conn_retry())
    try:
        c.start(timeout=15)
    except Exception as e:  # noqa: BLE001
        c.stop()
        c.close()
        raise CheckFailed(f"cannot connect a client to member {i} alone: {type(e).__name__}") from e
    return c


def dump(c):
    c.sync_async("/").get(timeout=15)
    out = {}
    level = ["/"]
    for _ in range(64):  # tree depth bound
        if not level:
            break
        reqs = [(p, c.get_async(p), c.get_children_async(p)) for p in level]
        nxt = []
        for p, g, ch in reqs:
            data, st = g.get(timeout=30)
            kids = ch.get(timeout=30)
            out[p] = (data, stat_tuple(st))
            nxt += [(p.rstrip("/") + "/" + k) for k in sorted(kids)]
        level = nxt
    return out


def diff_dumps(a, b, limit=8):
    diffs = []
    for p in sorted(set(a) | set(b)):
        if p not in a:
            diffs.append(f"{p}: only on the second")
        elif p not in b:
            diffs.append(f"{p}: only on the first")
        elif a[p] != b[p]:
            da, sa = a[p]
            db, sb = b[p]
            parts = []
            if da != db:
                parts.append(f"data {da!r} vs {db!r}")
            parts += [f"{f} {x:#x} vs {y:#x}" if "zxid" in f or f == "ephemeralOwner" else f"{f} {x} vs {y}"
                      for f, x, y in zip(STAT_FIELDS, sa, sb) if x != y]
            diffs.append(f"{p}: " + ", ".join(parts))
        if len(diffs) >= limit:
            diffs.append("...")
            break
    return diffs


class Scenario:
    def __init__(self, name, n, seconds, run_idx, ctx):
        self.name, self.n, self.S, self.run_idx, self.ctx = name, n, seconds, run_idx, ctx
        self.id = f"n{n}/{name}"
        self.t_heal = None
        self.notes = []

    def say(self, msg):
        log(f"  [{time.time() - self.t_start:6.1f}s] {msg}")

    def sleep(self, s):
        end = time.time() + s
        while time.time() < end:
            time.sleep(min(0.25, max(0.0, end - time.time())))

    def heal_now(self):
        self.t_heal = time.time()
        self.say("healed")

    # -- the faults ----------------------------------------------------------------------------

    def fault(self):
        c, net, S = self.cluster, self.net, self.S
        L = c.leader() or self.leader0
        others = [j for j in c.ids() if j != L]
        name = self.name
        if name in ("leader-isolated-full", "leader-isolated-peers"):
            peers_only = name.endswith("peers")
            self.say(f"isolating leader {L} from {'its peers (clients still reach it)' if peers_only else 'everyone'}")
            net.isolate(L, peers_only)
            self.sleep(S)
            net.heal()
            self.heal_now()
        elif name == "minority":
            minority = [others[0]] if self.n == 3 else [L, others[0]]
            majority = [j for j in c.ids() if j not in minority]
            self.say(f"cutting minority {minority} (leader {L}) off from {majority}; clients reach everyone")
            net.cut(minority, majority)
            self.sleep(S)
            net.heal()
            self.heal_now()
        elif name == "bridge-split":
            self.say(f"{{1,2}} and {{4,5}} cannot see each other, 3 sees all (leader {L})")
            net.cut([1, 2], [4, 5])
            self.sleep(S)
            net.heal()
            self.heal_now()
        elif name == "flapping":
            self.say(f"flapping leader {L}'s links to its peers every 0.5-1 s for {S:.0f}s")
            end = time.time() + S
            on = False
            toggles = 0
            while time.time() < end and toggles < 1000:
                on = not on
                toggles += 1
                if on:
                    net.isolate(L, True)
                else:
                    net.heal()
                self.sleep(min(self.ctx.rng.uniform(0.5, 1.0), max(0.0, end - time.time())))
            net.heal()
            self.say(f"{toggles} toggles")
            self.heal_now()
        elif name == "loss":
            self.say("20% random packet loss on every member's input")
            net.loss(0.2)
            self.sleep(S)
            net.heal()
            self.heal_now()
        elif name == "sigstop-leader":
            stop_for = max(S, SESSION_TIMEOUT + 2)
            self.say(f"SIGSTOP leader {L} for {stop_for:.0f}s (session timeout {SESSION_TIMEOUT:.0f}s)")
            c.signal(L, signal.SIGSTOP)
            try:
                self.sleep(stop_for)
            finally:
                c.signal(L, signal.SIGCONT)
            self.heal_now()
        elif name == "kill9-leader":
            self.say(f"kill -9 leader {L}")
            c.kill9(L)
            self.sleep(S / 2)
            c.start(L)
            self.say(f"restarted {L}")
            self.heal_now()
        elif name == "kill9-all":
            self.say("kill -9 every member")
            for i in c.ids():
                c.kill9(i)
            self.sleep(min(3.0, S / 2))
            for i in c.ids():
                c.start(i)
            self.say("restarted every member")
            self.heal_now()
        elif name == "restart-partitioned":
            self.say(f"isolating leader {L} from its peers, then kill -9 and restart it while isolated")
            net.isolate(L, True)
            self.sleep(S / 2)
            c.kill9(L)
            c.start(L)
            self.say(f"restarted {L} (still isolated)")
            self.sleep(S / 2)
            net.heal()
            self.heal_now()
        else:
            raise ValueError(name)

    # -- one whole run ---------------------------------------------------------------------------

    def run(self):
        self.t_start = time.time()
        ctx = self.ctx
        root = os.path.join(ctx.tmp, f"{self.id.replace('/', '-')}-r{self.run_idx}")
        self.root = root
        self.cluster = Cluster(self.n, root, ctx.binary)
        self.net = Net(self.cluster)
        self.net.heal()
        self.writers = []
        self.checkers = []
        self.result = {"heal_to_write": None, "heal_to_following": None}
        try:
            self.cluster.start_all()
            self.leader0, t = self.cluster.wait_healthy()
            self.say(f"{self.n} members up, leader {self.leader0} after {t:.1f}s")
            self.setup_tree()
            self.start_writers()
            self.sleep(WARMUP)
            self.fault()
            self.after_heal()
            self.checks()
        finally:
            self.teardown()
        return self.result

    def setup_tree(self):
        hosts = ",".join(f"{member_ip(i)}:2181" for i in self.cluster.ids())
        c = KazooClient(hosts=hosts, timeout=SESSION_TIMEOUT, connection_retry=conn_retry())
        c.start(timeout=15)
        try:
            for p in ["/w", "/k", "/e"] + [f"/w/c{k}" for k in range(K_CLIENTS)]:
                c.create(p, b"")
            for k in range(K_CLIENTS):
                c.create(f"/k/c{k}", b"0")
        finally:
            c.stop()
            c.close()

    def start_writers(self):
        hosts = ",".join(f"{member_ip(i)}:2181" for i in self.cluster.ids())
        self.stop = threading.Event()
        tag = f"{self.id}#{self.run_idx}"
        for k in range(K_CLIENTS):
            kc = KazooClient(hosts=hosts, timeout=SESSION_TIMEOUT, connection_retry=conn_retry())
            kc.start(timeout=15)
            w = Writer(k, kc, tag, self.stop, holder=(k == 0))
            self.writers.append(w)
        for w in self.writers:
            w.start()
        neg = self.writers[0].client._session_timeout
        self.say(f"{K_CLIENTS} clients writing (negotiated session timeout {neg} ms); client 0 holds /e/c0")

    def first_write_after_heal(self, w):
        for r in list(w.hist):
            if r.op in ("create", "set") and r.t0 >= self.t_heal and r.out == "ok":
                return r.t1 - self.t_heal
        return None

    def after_heal(self):
        c = self.cluster
        # A bound that keeps the run finite; the time itself is reported (and flagged when slow).
        leader, t = c.wait_healthy(max(HEALTH_BOUND, 2 * self.S + 15))
        took = self.result["heal_to_following"] = time.time() - self.t_heal
        self.say(f"leader {leader} with everyone following {took:.1f}s after the heal"
                 + (" (slow rejoin: see tests/netns/README.md, 'Rejoin time after a partition')" if took > 10 else ""))
        deadline = self.t_heal + HEAL_BOUND
        for _ in range(int(HEAL_BOUND / 0.1) + 2):
            per = {w.k: self.first_write_after_heal(w) for w in self.writers}
            if all(v is not None for v in per.values()) or time.time() >= deadline:
                break
            time.sleep(0.1)
        # Only writes that started within the bound count.
        per = {k: (v if v is not None and v <= HEAL_BOUND else None) for k, v in per.items()}
        missing = [k for k, v in per.items() if v is None]
        if missing:
            raise CheckFailed(f"(d) clients {missing} wrote nothing successfully within {HEAL_BOUND:.0f}s of the heal")
        self.result["heal_to_write"] = max(per.values())
        self.say("first successful write after the heal: " + ", ".join(f"c{k} {v:.2f}s" for k, v in sorted(per.items())))
        self.sleep(1.5)
        self.stop.set()
        for w in self.writers:
            w.join(timeout=CALL_TIMEOUT + 5)
            if w.is_alive():
                raise CheckFailed(f"(d) client {w.k}'s loop did not stop within {CALL_TIMEOUT + 5:.0f}s")
            if w.crash:
                raise CheckFailed(f"client {w.k} crashed:\n{w.crash}")
        # every call issued must be resolved (reply or error) now that the ensemble is healthy
        end = time.time() + CALL_TIMEOUT + 1
        pending = []
        while time.time() < end:
            pending = [r for w in self.writers for r in w.hist if r.fout is None]
            if not pending:
                break
            time.sleep(0.1)
        if pending:
            p = pending[0]
            raise CheckFailed(f"(d) {len(pending)} calls never answered (hung) on a healthy ensemble; first: client {p.k} "
                              f"{p.op} {p.arg} started {p.t0 - self.t_start:.1f}s into the run")

    def checks(self):
        failures = []
        hist = [r for w in self.writers for r in w.hist]
        self.save_history(hist)
        # (d) no wrapper took longer than its timeout
        slow = [r for r in hist if r.t1 - r.t0 > CALL_TIMEOUT + CALL_MARGIN]
        if slow:
            failures.append(f"(d) {len(slow)} calls took longer than {CALL_TIMEOUT + CALL_MARGIN:.0f}s; first: "
                            f"c{slow[0].k} {slow[0].op} {slow[0].t1 - slow[0].t0:.1f}s")
        late = [r for r in hist if r.out == "ind:CallTimeout"]
        late_ok = [r for r in late if r.fout == "ok"]
        outs = {}
        for r in hist:
            outs[r.out] = outs.get(r.out, 0) + 1
        self.say(f"{len(hist)} calls: " + ", ".join(f"{k} {v}" for k, v in sorted(outs.items()))
                 + (f"; {len(late)} hit the {CALL_TIMEOUT:.0f}s timeout ({len(late_ok)} later succeeded)" if late else ""))
        gap = self.longest_write_gap(hist)
        self.say(f"longest time with no successful write by any client: {gap:.2f}s")
        # writers other than the holder close their sessions now; the holder keeps its session
        holder = self.writers[0]
        for w in self.writers[1:]:
            w.client.stop()
            w.client.close()
        hc = holder.client
        for _ in range(100):
            if hc.state == KazooState.CONNECTED and hc._session_id:
                break
            time.sleep(0.1)
        holder.note_session()
        live_sid = hc._session_id if hc.state == KazooState.CONNECTED else None
        if live_sid is None:
            failures.append("(e) the ephemeral holder is not connected 10s after the end of its loop")
        if self.ctx.sabotage:
            self.sabotage(hist)
        # (c) every member's tree, after sync, is the same
        for i in self.cluster.ids():
            self.checkers.append((i, connect_one(i)))
        dumps, transient = None, []
        for rnd in range(3):
            dumps = {i: dump(cl) for i, cl in self.checkers}
            ref_i = self.checkers[0][0]
            diffs = {i: diff_dumps(dumps[ref_i], d) for i, d in dumps.items() if i != ref_i}
            diffs = {i: d for i, d in diffs.items() if d}
            if not diffs:
                break
            transient.append((rnd, ref_i, diffs))
            time.sleep(2.0)
        else:
            rnd, ref_i, diffs = transient[-1]
            failures.append("(c) members' trees differ after sync (3 rounds): " + "; ".join(
                f"member {ref_i} vs {i}: " + " | ".join(d) for i, d in diffs.items()))
        if transient and len(transient) < 3:
            detail = "; ".join(f"round {r}: member {ref} vs {i}: " + " | ".join(d)
                               for r, ref, ds in transient for i, d in ds.items())
            outside_e = any(not line.startswith("/e") for _, _, ds in transient for d in ds.values() for line in d)
            if outside_e:
                failures.append("(c) a member's tree after sync lagged and caught up later (no client was writing): "
                                + detail)
            else:
                self.notes.append("ephemeral converged after a retry: " + detail)
        nodes = sum(len(d) for d in dumps.values()) // max(1, len(dumps))
        self.say(f"{nodes} znodes, compared on {len(dumps)} members")
        for i, d in dumps.items():
            for f in self.check_tree(d, hist, holder, live_sid):
                failures.append(f"member {i}: {f}")
        failures += self.check_order(dumps[self.checkers[0][0]], hist)
        # (e) after the holder closes its session, its ephemeral is gone everywhere
        hc.stop()
        hc.close()
        gone_after = None
        t0 = time.time()
        for attempt in range(40):
            still = []
            for i, cl in self.checkers:
                cl.sync_async("/").get(timeout=15)
                if cl.exists("/e/c0") is not None:
                    still.append(i)
            if not still:
                gone_after = time.time() - t0
                break
            if attempt == 0:
                self.notes.append(f"/e/c0 still on members {still} right after the holder closed its session")
            if time.time() - t0 > 2 * SESSION_TIMEOUT:
                break
            time.sleep(0.2)
        if gone_after is None:
            failures.append(f"(e) /e/c0 still present {2 * SESSION_TIMEOUT:.0f}s after its session was closed")
        # (f) the members did not crash
        for i, rc in self.cluster.unexpected_exits():
            failures.append(f"(f) member {i} exited by itself with code {rc}")
        for line in self.cluster.panics():
            failures.append(f"(f) {line}")
        for n in self.notes:
            self.say("note: " + n)
        if failures:
            raise CheckFailed("\n    ".join(failures[:20]) + ("\n    ..." if len(failures) > 20 else ""))

    def sabotage(self, hist):
        """--sabotage: break the data behind the clients' backs; the checks must then fail."""
        kind = self.ctx.sabotage
        c = KazooClient(hosts=",".join(f"{member_ip(i)}:2181" for i in self.cluster.ids()),
                        timeout=SESSION_TIMEOUT, connection_retry=conn_retry())
        c.start(timeout=15)
        try:
            if kind == "lose-create":
                r = [r for r in hist if r.op == "create" and r.out == "ok"][-1]
                c.delete(r.res)
                self.say(f"sabotage: deleted the acknowledged {r.res}")
            elif kind == "stray":
                p = c.create("/w/c1/n-", b"nobody-sent-this", sequence=True)
                self.say(f"sabotage: created {p}")
            elif kind == "lower-set":
                c.set("/k/c1", b"0")
                self.say("sabotage: set /k/c1 back to 0")
            elif kind == "ephemeral":
                c.delete("/e/c0")
                self.say("sabotage: deleted /e/c0")
        finally:
            c.stop()
            c.close()

    def longest_write_gap(self, hist):
        oks = sorted(r.t1 for r in hist if r.op in ("create", "set") and r.out == "ok")
        pts = [self.t_start + WARMUP] + [t for t in oks if t >= self.t_start + WARMUP]
        return max((b - a for a, b in zip(pts, pts[1:])), default=0.0)

    def check_tree(self, d, hist, holder, live_sid):
        f = []
        tokens = {}  # token -> path
        allowed_top = {"/", "/w", "/k", "/e"}
        for p, (data, st) in d.items():
            if p in allowed_top or p == "/zookeeper" or p.startswith("/zookeeper/"):
                continue
            m = re.fullmatch(r"/w/c(\d+)(/n-\d{10})?", p)
            if m and int(m.group(1)) < K_CLIENTS:
                if m.group(2):
                    tok = data.decode(errors="replace")
                    if not tok.startswith(f"{self.writers[0].tag}:c{m.group(1)}:"):
                        f.append(f"(b) {p} holds {data!r}, which client {m.group(1)} never sent")
                    if tok in tokens:
                        f.append(f"(b) token {tok} appears twice: {tokens[tok]} and {p}")
                    tokens[tok] = p
                continue
            if re.fullmatch(r"/k/c(\d+)", p) and int(p[4:]) < K_CLIENTS:
                continue
            if p == "/e/c0":
                continue
            f.append(f"(b) unexpected znode {p}")
        sent = {}
        for r in hist:
            if r.op == "create":
                sent[r.arg] = r
        for tok, p in tokens.items():
            r = sent.get(tok)
            if r is None:
                f.append(f"(b) {p} holds token {tok} that no client sent")
            elif r.out.startswith("def:") or (r.fout or "").startswith("def:"):
                f.append(f"(b) {p} holds token {tok} whose create failed definitely ({r.out}/{r.fout})")
        # (a) acknowledged creates
        lost = []
        for r in hist:
            if r.op == "create" and r.known_ok() is not None:
                path = r.res if r.out == "ok" else r.fres
                got = d.get(path)
                if got is None or got[0] != r.arg.encode():
                    lost.append(f"{path} ({r.arg}, acked {r.known_ok() - self.t_start:.1f}s): "
                                + ("missing" if got is None else f"holds {got[0]!r}"))
        if lost:
            f.append(f"(a) {len(lost)} acknowledged creates lost: " + "; ".join(lost[:5]))
        # (a) acknowledged sets and reads of the same client
        for w in self.writers:
            sets = [r for r in w.hist if r.op == "set"]
            sent_vals = {0} | {r.arg for r in sets}
            acked = [(r.known_ok(), r.arg) for r in sets if r.known_ok() is not None]
            got = d.get(w.key)
            if got is None:
                f.append(f"(a) {w.key} is missing")
                continue
            try:
                v = int(got[0])
            except ValueError:
                f.append(f"(b) {w.key} holds {got[0]!r}")
                continue
            if v not in sent_vals:
                f.append(f"(b) {w.key} holds {v}, which client {w.k} never sent")
            top = max((a for _, a in acked), default=0)
            if v < top:
                f.append(f"(a) {w.key} ends at {v}, below the acknowledged set of {top}")
            # reads: never below a value this client knew was written, or had read, before the get began
            known = sorted(acked + [(r.known_ok(), int(r.res[0] if r.out == "ok" else r.fres[0]))
                                    for r in w.hist if r.op == "get" and r.known_ok() is not None])
            for r in w.hist:
                if r.op != "get" or r.known_ok() is None:
                    continue
                g = int(r.res[0] if r.out == "ok" else r.fres[0])
                if g not in sent_vals:
                    f.append(f"(b) client {w.k} read {g} from {w.key}, a value it never sent")
                before = [a for t, a in known if t < r.t0]
                if before and g < max(before):
                    f.append(f"(a) client {w.k} read {g} from {w.key} at {r.t0 - self.t_start:.1f}s after it knew "
                             f"of {max(before)} (a read went back in time)")
                    break
        # (e) ephemerals
        eph = d.get("/e/c0")
        owners = {o for o, _ in holder.eph_acked}
        if live_sid is not None and live_sid in owners:
            if eph is None:
                f.append(f"(e) /e/c0 of the live session {live_sid:#x} is missing")
            elif eph[1][8] != live_sid:
                f.append(f"(e) /e/c0 is owned by {eph[1][8]:#x}, not by the live session {live_sid:#x}")
        if eph is not None and eph[1][8] != live_sid:
            f.append(f"(e) /e/c0 is owned by {eph[1][8]:#x}, which is not the holder's live session "
                     f"(sessions seen: {[hex(s) for s, _ in holder.sessions]})")
        if len(holder.sessions) > 1:
            self.notes.append(f"the holder's session changed {len(holder.sessions) - 1} times "
                              f"({', '.join(hex(s) for s, _ in holder.sessions)})")
        return f

    def check_order(self, d, hist):
        """Real time: an acknowledged create that ended before another began has a lower czxid, and
        each parent's sequence numbers follow czxid."""
        f = []
        acked = []
        for r in hist:
            if r.op == "create" and r.known_ok() is not None:
                path = r.res if r.out == "ok" else r.fres
                if path in d:
                    acked.append((r, path, d[path][1][0]))
        by_end = sorted(acked, key=lambda x: x[0].known_ok())
        by_start = sorted(acked, key=lambda x: x[0].t0)
        j = 0
        best = None
        for r, path, cz in by_start:
            while j < len(by_end) and by_end[j][0].known_ok() < r.t0:
                if best is None or by_end[j][2] > best[2]:
                    best = by_end[j]
                j += 1
            if best is not None and best[2] >= cz:
                f.append(f"(a) real-time order broken: {best[1]} (czxid {best[2]:#x}) was acknowledged before "
                         f"{path} (czxid {cz:#x}) was requested")
                break
        for k in range(K_CLIENTS):
            mine = sorted((cz, int(path.rsplit("-", 1)[1])) for r, path, cz in acked if r.k == k)
            for (c1, s1), (c2, s2) in zip(mine, mine[1:]):
                if s2 <= s1:
                    f.append(f"(c) /w/c{k}: sequence {s2} has a later czxid than {s1}")
                    break
        return f

    def save_history(self, hist):
        try:
            with open(os.path.join(self.root, "history.jsonl"), "w") as fh:
                for r in hist:
                    fh.write(json.dumps(r.as_json()) + "\n")
        except (OSError, TypeError, ValueError):
            pass

    def teardown(self):
        if getattr(self, "stop", None):
            self.stop.set()
        for w in self.writers:
            w.join(timeout=CALL_TIMEOUT + 2)
        for w in self.writers:
            try:
                w.client.stop()
                w.client.close()
            except Exception:  # noqa: BLE001
                pass
        for _, cl in self.checkers:
            try:
                cl.stop()
                cl.close()
            except Exception:  # noqa: BLE001
                pass
        try:
            self.net.heal()
        except Exception:  # noqa: BLE001
            pass
        self.cluster.stop_all()


class Ctx:
    pass


def inner(args):
    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, on_signal)
    klog = logging.getLogger("kazoo")
    klog.propagate = False
    klog.setLevel(logging.WARNING)
    h = logging.FileHandler(os.path.join(args.inner, "kazoo.log"))
    h.setFormatter(logging.Formatter("%(asctime)s %(threadName)s %(levelname)s %(message)s"))
    klog.addHandler(h)
    ctx = Ctx()
    ctx.tmp = args.inner
    ctx.binary = os.path.join(args.inner, "zabkeeper")
    ctx.sabotage = args.sabotage
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    ctx.rng = random.Random(seed)
    plan = select(args)
    mode = "short" if args.short else "long"
    log(f"faults.py {mode}: {len(plan)} scenario runs, seed {seed}, temp dir {args.inner}")
    passed = failed = 0
    rows = {}
    t_all = time.time()
    for name, n, seconds, run_idx in plan:
        sid = f"n{n}/{name}"
        log(f"== {sid} (run {run_idx + 1}, {seconds:.0f}s of fault)")
        sc = Scenario(name, n, seconds, run_idx, ctx)
        row = rows.setdefault(sid, {"runs": 0, "fail": 0, "heal": [], "follow": []})
        row["runs"] += 1
        t0 = time.time()
        try:
            res = sc.run()
            passed += 1
            if res["heal_to_write"] is not None:
                row["heal"].append(res["heal_to_write"])
            if res["heal_to_following"] is not None:
                row["follow"].append(res["heal_to_following"])
            log(f"PASS {sid} ({time.time() - t0:.1f}s)")
        except KeyboardInterrupt:
            log(f"interrupted during {sid}")
            log(f"{passed} passed, {failed + 1} failed")
            sys.exit(130)
        except Exception as e:  # noqa: BLE001
            failed += 1
            row["fail"] += 1
            what = str(e) if isinstance(e, CheckFailed) else traceback.format_exc()
            log(f"FAIL {sid} ({time.time() - t0:.1f}s), seed {seed}:\n    {what}")
            for i in sc.cluster.ids():
                log(f"  --- member {i} log tail ({sc.cluster.logpath(i)}):")
                log("    " + sc.cluster.log_tail(i, 15).replace("\n", "\n    ").rstrip())
            if args.short:
                log(f"first failed check in {sid}; reproduce: {sys.argv[0]} BINARY --long --runs 1 --seed {seed} "
                    f"--seconds {seconds:.0f} --only {sid} --keep")
                log(f"{passed} passed, {failed} failed")
                sys.exit(1)
    log(f"total {time.time() - t_all:.0f}s")
    if args.long:
        def med_max(xs):
            return (f"{statistics.median(xs):.2f}s", f"{max(xs):.2f}s") if xs else ("-", "-")

        log("heal->write: from the heal to each client's first successful write (the slowest client);")
        log("heal->all following: from the heal until srvr shows one leader and every other member following")
        log(f"{'scenario':26} {'runs':>4} {'failures':>8} {'heal->write median':>18} {'max':>7} "
            f"{'heal->all following median':>26} {'max':>7}")
        for sid, row in rows.items():
            hm, hx = med_max(row["heal"])
            fm, fx = med_max(row["follow"])
            log(f"{sid:26} {row['runs']:>4} {row['fail']:>8} {hm:>18} {hx:>7} {fm:>26} {fx:>7}")
    log(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def select(args):
    only = set(args.only.split(",")) if args.only else None

    def wanted(name, n):
        return only is None or name in only or f"n{n}/{name}" in only

    plan = []
    if args.short:
        for name, n, short in SCENARIOS:
            if short is not None and wanted(name, n):
                plan.append((name, n, float(short), 0))
    else:
        for run in range(args.runs):
            for name, n, _ in SCENARIOS:
                if wanted(name, n):
                    plan.append((name, n, float(args.seconds), run))
    if not plan:
        sys.exit("error: no scenario selected (see --list)")
    return plan


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--short", action="store_true")
    g.add_argument("--long", action="store_true")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--only")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--sabotage", choices=["lose-create", "stray", "lower-set", "ephemeral"],
                    help="self-test: break the data after the run; every scenario must then fail")
    ap.add_argument("--inner", help=argparse.SUPPRESS)
    argv = sys.argv[1:]
    args = ap.parse_args(argv)
    if args.list:
        for name, n, short in SCENARIOS:
            log(f"n{n}/{name}" + (f"  (--short, {short}s)" if short else ""))
        return
    if not args.short and not args.long:
        args.short = True
    if args.runs < 1 or args.runs > 100 or args.seconds < 4 or args.seconds > 600:
        sys.exit("error: --runs must be 1..100 and --seconds 4..600")
    if args.inner:
        inner(args)
    else:
        outer(args, argv)


if __name__ == "__main__":
    main()
