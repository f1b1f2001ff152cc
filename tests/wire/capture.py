#!/usr/bin/env python3
"""Drive real ZooKeeper 3.8.0 clients through record_proxy.py and write
tests/wire/golden/*.json (see README.md).

Starts (and restarts) a standalone ZooKeeper 3.8.0 from Debian's jars on a
fresh data dir, starts the recording proxy, runs every scenario, stops
everything by PID. Loopback only; every wait is bounded.

    python3 tests/wire/capture.py [--only SUBSTRING ...] [--keep-tmp]
"""
import argparse
import importlib.metadata
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden")
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
CLI_MT = "/usr/lib/zookeeper/bin/cli_mt"
J = "/usr/share/java"
CP = ":".join("%s/%s.jar" % (J, n) for n in (
    "zookeeper", "zookeeper-jute", "netty-codec", "netty-resolver", "netty-handler",
    "netty-transport", "netty-buffer", "netty-common", "slf4j-api", "slf4j-log4j12",
    "log4j-1.2"))

CLIENT_ZKCLI = "zkCli.sh 3.8.0"
CLIENT_CLIMT = "cli_mt 3.8.0"
CLIENT_RAW = "raw python socket (tests/wire/capture.py)"
CLIENT_4LW = "raw python socket (four-letter word)"
try:
    CLIENT_KAZOO = "kazoo " + importlib.metadata.version("kazoo")
except importlib.metadata.PackageNotFoundError:
    CLIENT_KAZOO = "kazoo (not installed)"


def log(msg):
    sys.stderr.write("capture.py: %s\n" % msg)
    sys.stderr.flush()


def free_port(start):
    for p in range(start, start + 200):
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        return p
    raise RuntimeError("no free port from %d" % start)


def four_letter(port, word, timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(word.encode())
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
        return out.decode("utf-8", "replace")
    finally:
        s.close()


def kill_group(proc, grace=10.0):
    """Stop a child we started (it leads its own process group)."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


class ZooKeeper:
    def __init__(self, root, port):
        self.root = root
        self.port = port
        self.proc = None
        self.starts = 0
        os.makedirs(os.path.join(root, "data"), exist_ok=True)
        with open(os.path.join(root, "zoo.cfg"), "w") as f:
            f.write("\n".join([
                "tickTime=2000",
                "dataDir=%s/data" % root,
                "clientPort=%d" % port,
                "clientPortAddress=127.0.0.1",
                "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
                "extendedTypesEnabled=true",
                "reconfigEnabled=false",
                "admin.enableServer=false",
                "4lw.commands.whitelist=*",
                "maxClientCnxns=60",
                ""]))
        with open(os.path.join(root, "log4j.properties"), "w") as f:
            f.write("\n".join([
                "log4j.rootLogger=INFO, F",
                "log4j.appender.F=org.apache.log4j.FileAppender",
                "log4j.appender.F.File=%s/zookeeper.log" % root,
                "log4j.appender.F.layout=org.apache.log4j.PatternLayout",
                "log4j.appender.F.layout.ConversionPattern=%d{ISO8601} [%t] %-5p %c{1} - %m%n",
                ""]))

    def start(self, wait=60.0):
        self.starts += 1
        out = open(os.path.join(self.root, "stdout.%d.log" % self.starts), "w")
        # `timeout` bounds the JVM even if this script dies; the container
        # reaper is pushed past the capture so it sends no txns of its own.
        self.proc = subprocess.Popen(
            ["timeout", "1500", "java", "-Xmx256m",
             "-Dznode.container.checkIntervalMs=3600000",
             "-Dlog4j.configuration=file:%s/log4j.properties" % self.root,
             "-cp", CP, "org.apache.zookeeper.server.quorum.QuorumPeerMain",
             os.path.join(self.root, "zoo.cfg")],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + wait
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("zookeeper exited with %s" % self.proc.returncode)
            try:
                if "Mode: standalone" in four_letter(self.port, "srvr", 2):
                    log("zookeeper pid %d serving on 127.0.0.1:%d" % (self.proc.pid, self.port))
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("zookeeper did not start in %ss" % wait)

    def stop(self):
        if self.proc is not None:
            log("stopping zookeeper pid %d" % self.proc.pid)
            kill_group(self.proc)
            self.proc = None


class Proxy:
    def __init__(self, root, listen, upstream):
        self.root = root
        self.port = listen
        self.out = os.path.join(root, "raw")
        self.label_file = os.path.join(root, "label")
        self.hold_file = os.path.join(root, "HOLD")
        self.label("unlabeled")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "record_proxy.py"),
             "--listen", str(listen), "--upstream", str(upstream),
             "--out-dir", self.out, "--label-file", self.label_file,
             "--hold-file", self.hold_file, "--upstream-wait", "30",
             "--max-seconds", "1500"],
            stderr=open(os.path.join(root, "proxy.log"), "w"), start_new_session=True)
        # wait for its "listening" line (no probe connection: it would be recorded)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("proxy exited")
            with open(os.path.join(root, "proxy.log")) as f:
                if "listening on" in f.read():
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("proxy did not start")

    def label(self, name):
        self.current = name
        with open(self.label_file + ".tmp", "w") as f:
            f.write(name)
        os.replace(self.label_file + ".tmp", self.label_file)

    def hold(self, on):
        if on:
            open(self.hold_file, "w").close()
        elif os.path.exists(self.hold_file):
            os.remove(self.hold_file)

    def records(self, label):
        out = []
        if not os.path.isdir(self.out):
            return out
        for fn in os.listdir(self.out):
            m = re.match(r"^(.*)-(\d+)\.raw\.json$", fn)
            if m and m.group(1) == label:
                out.append(int(m.group(2)))
        return sorted(out)

    def wait_records(self, label, count, timeout=30.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if len(self.records(label)) >= count:
                return True
            time.sleep(0.1)
        log("WARNING: %s: only %d of %d connections recorded" % (
            label, len(self.records(label)), count))
        return False

    def stop(self):
        kill_group(self.proc)


# ---------------------------------------------------------------- jute bits
def frame(body):
    return struct.pack(">i", len(body)) + body


def ustr(s):
    if s is None:
        return struct.pack(">i", -1)
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def buf(b):
    if b is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(b)) + b


def vec_str(items):
    return struct.pack(">i", len(items)) + b"".join(ustr(x) for x in items)


OPEN_ACL = struct.pack(">i", 1) + struct.pack(">i", 31) + ustr("world") + ustr("anyone")


class Raw:
    """A minimal synchronous client speaking the wire protocol by hand."""

    def __init__(self, port, old_style=False, timeout_ms=30000, resume=None):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.xid = 0
        self.last_zxid = 0
        if resume:  # (lastZxidSeen, 8-byte session id, 16-byte password)
            body = struct.pack(">iqi", 0, resume[0], timeout_ms) + resume[1] + struct.pack(">i", 16) + resume[2]
        else:
            body = struct.pack(">iqiqi", 0, 0, timeout_ms, 0, 16) + b"\0" * 16
        if not old_style:
            body += b"\0"
        self.s.sendall(frame(body))
        self.connect_response = self.read()

    def read(self):
        h = self._exact(4)
        if h is None:
            return None
        n = struct.unpack(">i", h)[0]
        return self._exact(n)

    def _exact(self, n):
        b = b""
        while len(b) < n:
            d = self.s.recv(n - len(b))
            if not d:
                return None
            b += d
        return b

    def send(self, op, body=b"", xid=None):
        if xid is None:
            self.xid += 1
            xid = self.xid
        self.s.sendall(frame(struct.pack(">ii", xid, op) + body))
        return xid

    def call(self, op, body=b"", xid=None):
        """Send, then read frames until the reply with our xid; returns
        (err, body, notifications)."""
        xid = self.send(op, body, xid)
        notes = []
        while True:
            r = self.read()
            if r is None:
                return None, None, notes
            rxid, zxid, err = struct.unpack(">iqi", r[:16])
            if rxid != -1:
                self.last_zxid = max(self.last_zxid, zxid)
            if rxid == -1:
                notes.append(r[16:])
                continue
            if rxid == xid or (op == 11 and rxid == -2):
                return err, r[16:], notes
            raise RuntimeError("unexpected reply xid %d (wanted %d)" % (rxid, xid))

    def drain(self):
        """Read until the server closes."""
        while self.read() is not None:
            pass
        self.s.close()

    def close_session(self):
        self.call(-11)
        self.drain()


# ---------------------------------------------------------------- capture
class Capture:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="zk-wire.")
        self.zk = None
        self.proxy = None
        self.meta = {}   # label -> dict(client, desc, per)
        self.failures = []

    # ---- bookkeeping
    def scenario(self, label, client, desc, per=None):
        self.meta[label] = {"client": client, "desc": desc, "per": per or {}}
        self.proxy.label(label)
        log("scenario %s" % label)

    def finish_scenario(self, label, expect):
        # every connection of the scenario is accepted (and so labeled) before
        # the label changes
        self.proxy.wait_records(label, expect)
        self.proxy.label("between-scenarios")

    # ---- clients
    def zkcli(self, *cmd, port=None, timeout=60, extra=()):
        port = port or self.proxy.port
        argv = [ZKCLI] + list(extra) + ["-server", "127.0.0.1:%d" % port] + list(cmd)
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, cwd=self.tmp, env=self.cli_env())
        out = p.stdout.decode("utf-8", "replace")
        with open(os.path.join(self.tmp, "zkcli.log"), "a") as f:
            f.write("$ %s\n%s\n" % (" ".join(cmd), out))
        return out

    def cli_env(self):
        env = dict(os.environ)
        env["CLIENT_JVMFLAGS"] = "-Xmx128m -XX:TieredStopAtLevel=1"
        return env

    def one_shot(self, label, desc, *cmd, extra=()):
        self.scenario(label, CLIENT_ZKCLI, desc)
        self.zkcli(*cmd, extra=extra)
        self.finish_scenario(label, 1)

    def interactive(self, *extra):
        import pexpect
        c = pexpect.spawn(ZKCLI, list(extra) + ["-server", "127.0.0.1:%d" % self.proxy.port],
                          encoding="utf-8", timeout=30, dimensions=(50, 250),
                          env=self.cli_env(), cwd=self.tmp)
        c.logfile_read = open(os.path.join(self.tmp, "zkcli-interactive.log"), "a")
        c.expect("state:SyncConnected type:None")
        return c

    @staticmethod
    def run(c, line):
        """Run one zkCli command and wait for it to finish: without JLine
        there is no prompt, so follow it with the local `version` command."""
        c.sendline(line)
        c.sendline("version")
        c.expect(r"ZooKeeper CLI version: [^\r\n]*\r?\n")
        return c.before

    @staticmethod
    def expect_all(c, texts):
        """Wait until every text has been printed, in any order."""
        left = list(texts)
        while left:
            i = c.expect([re.escape(t) for t in left])
            left.pop(i)

    @staticmethod
    def quit(c):
        c.sendline("quit")
        c.expect(pexpect_eof())
        c.close()

    def climt(self, lines, extra=(), pause=0.7, end_pause=1.0, kill=False):
        p = subprocess.Popen([CLI_MT, "127.0.0.1:%d" % self.proxy.port] + list(extra),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, cwd=self.tmp)
        time.sleep(1.0)
        for line in lines:
            if isinstance(line, (int, float)):
                time.sleep(line)
                continue
            if callable(line):
                line()
                continue
            p.stdin.write((line + "\n").encode())
            p.stdin.flush()
            time.sleep(pause)
        time.sleep(end_pause)
        if kill:
            p.kill()
        # communicate() closes stdin (EOF: cli_mt says "bye" and closes the session)
        out = p.communicate(timeout=30)[0].decode("utf-8", "replace")
        with open(os.path.join(self.tmp, "climt.log"), "a") as f:
            f.write("$ cli_mt %s\n%s\n" % (" ".join(extra), out))
        return out

    def restart_zk_held(self, during=None):
        """Stop ZooKeeper, restart it on the same data dir while the proxy
        holds new connections, run `during` (directly on the server port,
        not recorded), then release the held reconnects."""
        self.proxy.hold(True)
        self.zk.stop()
        time.sleep(1.0)
        self.zk.start()
        if during:
            during()
        time.sleep(0.5)
        self.proxy.hold(False)

    def direct(self, *cmd):
        """A zkCli command straight to the server (not through the proxy)."""
        return self.zkcli(*cmd, port=self.zk.port)

    # ---------------------------------------------------------- scenarios
    def s_zkcli_one_shots(self):
        shots = [
            ("zkcli-create", "create /zk d0: create (1) of a persistent node with OPEN_ACL_UNSAFE",
             ["create", "/zk", "d0"]),
            ("zkcli-create-seq", "create -s /zk/seq- s: create (1) with flags 2 (persistent sequential)",
             ["create", "-s", "/zk/seq-", "s"]),
            ("zkcli-create-eph", "create -e /zk/eph e: create (1) with flags 1 (ephemeral); the client exits without closeSession",
             ["create", "-e", "/zk/eph", "e"]),
            ("zkcli-create-container", "create -c /zk/cont: createContainer (19), flags 4, Create2Response",
             ["create", "-c", "/zk/cont"]),
            ("zkcli-create-ttl", "create -t 600000 /zk/ttl t: createTTL (21), flags 5, ttl 600000",
             ["create", "-t", "600000", "/zk/ttl", "t"]),
            ("zkcli-create-acl", "create /zk/acl a ip:127.0.0.1:cdrwa,world:anyone:r: create (1) with a two-entry ACL",
             ["create", "/zk/acl", "a", "ip:127.0.0.1:cdrwa,world:anyone:r"]),
            ("zkcli-create-exists", "create /zk d0 again: create (1) failing with NodeExists (-110)",
             ["create", "/zk", "d0"]),
            ("zkcli-create-nonode", "create /missing/child: create (1) failing with NoNode (-101)",
             ["create", "/missing/child", "x"]),
            ("zkcli-get", "get -s /zk: getData (4) without watch",
             ["get", "-s", "/zk"]),
            ("zkcli-get-w", "get -w /zk: getData (4) with watch=true; the client exits, leaving the watch",
             ["get", "-w", "/zk"]),
            ("zkcli-get-nonode", "get /missing: getData (4) failing with NoNode (-101)",
             ["get", "/missing"]),
            ("zkcli-set", "set -v 0 /zk d1: setData (5) with version 0",
             ["set", "-v", "0", "/zk", "d1"]),
            ("zkcli-set-badversion", "set -v 99 /zk dX: setData (5) failing with BadVersion (-103)",
             ["set", "-v", "99", "/zk", "dX"]),
            ("zkcli-set-s", "set -s /zk d2: setData (5) with version -1, Stat printed",
             ["set", "-s", "/zk", "d2"]),
            ("zkcli-ls", "ls /zk: getChildren (8)",
             ["ls", "/zk"]),
            ("zkcli-ls-s", "ls -s /zk: getChildren2 (12)",
             ["ls", "-s", "/zk"]),
            ("zkcli-ls-w", "ls -w /zk: getChildren (8) with watch=true",
             ["ls", "-w", "/zk"]),
            ("zkcli-ls-R", "ls -R /: getChildren (8) on every node of the tree, depth first",
             ["ls", "-R", "/"]),
            ("zkcli-stat", "stat /zk: exists (3)",
             ["stat", "/zk"]),
            ("zkcli-stat-w-missing", "stat -w /zk/none: exists (3) with watch=true on a missing node (NoNode -101, watch set)",
             ["stat", "-w", "/zk/none"]),
            ("zkcli-delete", "create /zk/del then delete -v 0 /zk/del ... this connection: delete (2) with version 0",
             None),
            ("zkcli-delete-badversion", "delete -v 5 /zk/acl: delete (2) failing with BadVersion (-103)",
             ["delete", "-v", "5", "/zk/acl"]),
            ("zkcli-delete-notempty", "delete /zk: delete (2) failing with NotEmpty (-111)",
             ["delete", "/zk"]),
            ("zkcli-getacl", "getAcl -s /zk/acl: getACL (6)",
             ["getAcl", "-s", "/zk/acl"]),
            ("zkcli-setacl", "setAcl -v 0 /zk/acl world:anyone:cdrwa: setACL (7) with version 0",
             ["setAcl", "-v", "0", "/zk/acl", "world:anyone:cdrwa"]),
            ("zkcli-setacl-invalid", "setAcl /zk/acl auth::cdrwa without any auth: setACL (7) failing with InvalidACL (-114)",
             ["setAcl", "/zk/acl", "auth::cdrwa"]),
            ("zkcli-sync", "sync /zk: sync (9)",
             ["sync", "/zk"]),
            ("zkcli-whoami", "whoami: whoAmI (107), reply [(ip, 127.0.0.1)]",
             ["whoami"]),
            ("zkcli-getallchildrennumber", "getAllChildrenNumber /zk: getAllChildrenNumber (104)",
             ["getAllChildrenNumber", "/zk"]),
            ("zkcli-getephemerals", "getEphemerals /: getEphemerals (103) of a session that owns none",
             ["getEphemerals", "/"]),
            ("zkcli-addwatch-recursive", "addWatch /zk: addWatch (106) mode 1 (PERSISTENT_RECURSIVE, the zkCli default)",
             ["addWatch", "/zk"]),
            ("zkcli-addwatch-persistent", "addWatch -m PERSISTENT /zk: addWatch (106) mode 0",
             ["addWatch", "-m", "PERSISTENT", "/zk"]),
            ("zkcli-removewatches-none", "removewatches /zk -a on a session without watches",
             ["removewatches", "/zk", "-a"]),
            ("zkcli-config", "config: getData (4) on /zookeeper/config (getConfig), watch=false",
             ["config"]),
            ("zkcli-reconfig", "reconfig -add server.2=127.0.0.1:2888:3888;2182: reconfig (16) failing with ReconfigDisabled (-123)",
             ["reconfig", "-add", "server.2=127.0.0.1:2888:3888;2182"]),
            ("zkcli-setquota", "setquota -n 10 /zk: exists/getChildren/create/setData on /zookeeper/quota/zk/...",
             ["setquota", "-n", "10", "/zk"]),
            ("zkcli-listquota", "listquota /zk: getData (4) of zookeeper_limits and zookeeper_stats",
             ["listquota", "/zk"]),
            ("zkcli-delquota", "delquota -n /zk: reads and setData/delete under /zookeeper/quota",
             ["delquota", "-n", "/zk"]),
            ("zkcli-readonly", "zkCli.sh -r, get /zk: ConnectRequest with readOnly=1, then getData (4)",
             ["get", "/zk"]),
        ]
        for label, desc, cmd in shots:
            if label == "zkcli-delete":
                self.direct("create", "/zk/del", "x")
                desc = "delete -v 0 /zk/del: delete (2) with version 0"
                cmd = ["delete", "-v", "0", "/zk/del"]
            extra = ("-r",) if label == "zkcli-readonly" else ()
            self.one_shot(label, desc, *cmd, extra=extra)
        # a deleteall needs a tree: built directly, then removed through the proxy
        for p in ("/zk/tree", "/zk/tree/a", "/zk/tree/a/b", "/zk/tree/c"):
            self.direct("create", p, "t")
        self.one_shot("zkcli-deleteall",
                      "deleteall /zk/tree: getChildren (8) walk of the subtree, then one multi (14) of delete (2) ops, deepest first",
                      "deleteall", "/zk/tree")

    def s_zkcli_sessions(self):
        import pexpect  # noqa: F401
        # --- auth
        label = "zkcli-auth"
        self.scenario(label, CLIENT_ZKCLI,
                      "interactive: addauth digest alice:secret (auth, xid -4); create /zk/authnode d auth::cdrwa; "
                      "getAcl /zk/authnode; get /zk/authnode; whoami; setAcl /zk/authnode digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=:cdrwa,world:anyone:r; "
                      "getAcl -s /zk/authnode; addauth digest bob:pw; whoami; quit (closeSession -11)")
        c = self.interactive()
        for line in ("addauth digest alice:secret", "create /zk/authnode d auth::cdrwa",
                     "getAcl /zk/authnode", "get /zk/authnode", "whoami",
                     "setAcl /zk/authnode digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=:cdrwa,world:anyone:r",
                     "getAcl -s /zk/authnode", "addauth digest bob:pw", "whoami"):
            self.run(c, line)
        self.quit(c)
        self.finish_scenario(label, 1)

        label = "zkcli-noauth"
        self.one_shot(label, "set /zk/authnode x without auth (ACL digest alice + world:anyone:r): setData failing with NoAuth (-102)",
                      "set", "/zk/authnode", "x")

        # --- ephemerals
        label = "zkcli-ephemerals"
        self.scenario(label, CLIENT_ZKCLI,
                      "interactive: create -e /zk/e1; create -e -s /zk/es- ; getEphemerals /zk; getEphemerals /; "
                      "getEphemerals /nothing; getAllChildrenNumber /; quit (closeSession deletes the ephemerals)")
        c = self.interactive()
        for line in ("create -e /zk/e1 x", "create -e -s /zk/es- y", "getEphemerals /zk",
                     "getEphemerals /", "getEphemerals /nothing", "getAllChildrenNumber /"):
            self.run(c, line)
        self.quit(c)
        self.finish_scenario(label, 1)

        # --- watches fired by other sessions
        label = "zkcli-watch-fire"
        self.direct("create", "/zk/w", "w0")
        self.direct("create", "/zk/p", "p0")
        self.direct("create", "/zk/r", "r0")
        self.scenario(label, CLIENT_ZKCLI,
                      "two sessions", per={
                          1: "watcher session (interactive): get -w /zk/w (data watch); ls -w /zk/w (child watch); "
                             "stat -w /zk/w/c (exist watch on a missing node); addWatch -m PERSISTENT /zk/p; "
                             "addWatch -m PERSISTENT_RECURSIVE /zk/r; [session 2 changes things: notifications xid -1 "
                             "NodeDataChanged /zk/w, NodeCreated /zk/w/c + NodeChildrenChanged /zk/w, NodeChildrenChanged /zk/p "
                             "(persistent), NodeCreated /zk/r/x and NodeDataChanged /zk/r/x (recursive), NodeDataChanged /zk/p]; "
                             "removewatches /zk/p -a (removeWatches 18, type 3); removewatches /zk/p -a again (-121 NoWatcher); "
                             "removewatches /zk/r -a; get -w /zk/w; removewatches /zk/w -d (type 2); quit",
                          2: "changer session (interactive): set /zk/w w1; create /zk/w/c; create /zk/p/c; create /zk/r/x; "
                             "set /zk/r/x x1; set /zk/p p1; quit",
                      })
        a = self.interactive()
        for line in ("get -w /zk/w", "ls -w /zk/w", "stat -w /zk/w/c", "addWatch -m PERSISTENT /zk/p",
                     "addWatch -m PERSISTENT_RECURSIVE /zk/r"):
            self.run(a, line)
        time.sleep(0.3)
        # the watch-listing words, while this session holds its watches
        for word in ("wchs", "wchc", "wchp"):
            self.four_letter_word(word, "while the zkcli-watch-fire watcher session holds a data, a child, "
                                        "an exist and two persistent watches")
        self.proxy.label(label)
        b = self.interactive()
        expect_a = [
            ("set /zk/w w1", ["type:NodeDataChanged path:/zk/w"]),
            ("create /zk/w/c", ["type:NodeCreated path:/zk/w/c", "type:NodeChildrenChanged path:/zk/w"]),
            ("create /zk/p/c", ["type:NodeChildrenChanged path:/zk/p"]),
            ("create /zk/r/x", ["type:NodeCreated path:/zk/r/x"]),
            ("set /zk/r/x x1", ["type:NodeDataChanged path:/zk/r/x"]),
            ("set /zk/p p1", ["type:NodeDataChanged path:/zk/p"]),
        ]
        for line, events in expect_a:
            self.run(b, line)
            self.expect_all(a, events)
        self.quit(b)
        for line in ("removewatches /zk/p -a", "removewatches /zk/p -a", "removewatches /zk/r -a",
                     "get -w /zk/w", "removewatches /zk/w -d"):
            self.run(a, line)
        self.quit(a)
        self.finish_scenario(label, 2)

        # --- pings
        label = "zkcli-ping"
        self.scenario(label, CLIENT_ZKCLI,
                      "interactive with -timeout 4000 (negotiated 4000): idle ~7 s, so the client sends pings "
                      "(xid -2, op 11) every ~1.3 s; then get /zk; quit")
        c = self.interactive("-timeout", "4000")
        time.sleep(7.0)
        self.run(c, "get /zk")
        self.quit(c)
        self.finish_scenario(label, 1)

        # --- close / connect in one process
        label = "zkcli-close-connect"
        self.scenario(label, CLIENT_ZKCLI, "one zkCli process", per={
            1: "first session: ls /; close (closeSession -11; the server replies then closes)",
            2: "second session after `connect 127.0.0.1:PORT`: ls /zk; quit",
        })
        c = self.interactive()
        self.run(c, "ls /")
        c.sendline("close")
        c.expect("state:Closed")
        c.sendline("connect 127.0.0.1:%d" % self.proxy.port)
        c.expect("state:SyncConnected type:None")
        self.run(c, "ls /zk")
        self.quit(c)
        self.finish_scenario(label, 2)

        # --- restart with standard watches -> SetWatches (101)
        self.direct("create", "/zk/rs", "v0")
        self.direct("create", "/zk/rs/a", "a")
        label = "zkcli-restart-setwatches"
        self.scenario(label, CLIENT_ZKCLI, "one session across a server restart", per={
            1: "before the restart: addauth digest alice:secret; get -w /zk/rs (data watch); ls -w /zk/rs (child watch); "
               "stat -w /zk/rs/new (exist watch, missing); get -w /zk/rs/a; then the server is stopped (the server side "
               "closes; s2c ends)",
            2: "reconnect after the restart (same session id and password, lastZxidSeen); the client sends back to back "
               "ConnectRequest, auth (xid -4) and SetWatches (101, xid -8) with relativeZxid = last zxid seen. Meanwhile "
               "another client changed /zk/rs data, created /zk/rs/new and deleted /zk/rs/a, so the server answers with "
               "notifications (xid -1) before the SetWatches reply; then get /zk/rs; quit",
        })
        c = self.interactive()
        for line in ("addauth digest alice:secret", "get -w /zk/rs", "ls -w /zk/rs", "stat -w /zk/rs/new",
                     "get -w /zk/rs/a"):
            self.run(c, line)

        def changes():
            self.direct("set", "/zk/rs", "v1")
            self.direct("create", "/zk/rs/new", "n")
            self.direct("delete", "/zk/rs/a")
        self.restart_zk_held(changes)
        c.expect("state:SyncConnected type:None")
        time.sleep(1.0)
        self.run(c, "get /zk/rs")
        self.quit(c)
        self.finish_scenario(label, 2)

        # --- restart with persistent watches -> SetWatches2 (105)
        self.direct("create", "/zk/rs2", "v0")
        label = "zkcli-restart-setwatches2"
        self.scenario(label, CLIENT_ZKCLI, "one session across a server restart", per={
            1: "before the restart: addWatch -m PERSISTENT /zk/rs2; addWatch -m PERSISTENT_RECURSIVE /zk/rs2; "
               "get -w /zk/rs2 (data watch); ls -w /zk (child watch); stat -w /zk/rs2/missing (exist watch); "
               "then the server is stopped",
            2: "reconnect after the restart: ConnectRequest then SetWatches2 (105, xid -8) carrying data, exist, "
               "child, persistent and persistentRecursive watch lists; another client changed /zk/rs2 meanwhile "
               "(notification before the reply); then set /zk/rs2 v2 (fires the persistent watches); quit",
        })
        c = self.interactive()
        for line in ("addWatch -m PERSISTENT /zk/rs2", "addWatch -m PERSISTENT_RECURSIVE /zk/rs2",
                     "get -w /zk/rs2", "ls -w /zk", "stat -w /zk/rs2/missing"):
            self.run(c, line)
        self.restart_zk_held(lambda: self.direct("set", "/zk/rs2", "v1"))
        c.expect("state:SyncConnected type:None")
        time.sleep(1.0)
        self.run(c, "set /zk/rs2 v2")
        time.sleep(0.5)
        self.quit(c)
        self.finish_scenario(label, 2)

    def s_climt(self):
        label = "climt-session"
        self.scenario(label, CLIENT_CLIMT,
                      "cli_mt commands, one per line on stdin: create /cm (create 1, data \"new\"); create +e /cm/e; "
                      "create +s /cm/s; create +c /cm/cont (createContainer 19); create +t=600000 /cm/ttl (createTTL 21); "
                      "create2 /cm/c2 (create2 15); create2 +es /cm/es (create2 15, flags 3); get /cm (getData, watch=1); "
                      "set /cm hello (setData, version -1); ls /cm (getChildren, watch=1); ls2 /cm (getChildren2, watch=1); "
                      "exists /cm (exists, watch=1); exists /cm/none; sync /cm; delete /cm/c2; delete /cm/none; "
                      "config (getData /zookeeper/config, watch 0); reconfig -add ... (-123); addauth digest bob:pw (xid -4); "
                      "create /cm/after-auth; quit (closeSession). The C client's own watches fire on its own set/create/delete.")
        self.climt([
            "create /cm", "create +e /cm/e", "create +s /cm/s", "create +c /cm/cont",
            "create +t=600000 /cm/ttl", "create2 /cm/c2", "create2 +es /cm/es", "get /cm",
            "set /cm hello", "ls /cm", "ls2 /cm", "exists /cm", "exists /cm/none", "sync /cm",
            "delete /cm/c2", "delete /cm/none", "config",
            "reconfig -add server.2=127.0.0.1:2888:3888;2182", "addauth digest bob:pw",
            "create /cm/after-auth", "quit"])
        self.finish_scenario(label, 1)

        label = "climt-watch"
        self.scenario(label, CLIENT_CLIMT, "two cli_mt sessions", per={
            1: "watcher: wexists /cm/wx (exists with watch, missing); get /cm (data watch); ls /cm (child watch); "
               "[other session: create /cm/wx, set /cm] -> notifications NodeCreated /cm/wx, NodeChildrenChanged /cm, "
               "NodeDataChanged /cm (xid -1); quit",
            2: "changer: create /cm/wx; set /cm changed; quit",
        })

        def changer():
            self.climt(["create /cm/wx", "set /cm changed", "quit"])
        self.climt(["wexists /cm/wx", "get /cm", "ls /cm", changer, 1.0, "quit"])
        self.finish_scenario(label, 2)

        label = "climt-ping"
        self.scenario(label, CLIENT_CLIMT,
                      "cli_mt (session timeout 30000) idle for ~12 s: the C client pings (xid -2) after 1/3 of the "
                      "timeout; ls /; quit")
        self.climt([12.0, "ls /", "quit"])
        self.finish_scenario(label, 1)

        label = "climt-readonly"
        self.scenario(label, CLIENT_CLIMT,
                      "cli_mt with -r (ZOO_READONLY): ConnectRequest readOnly=1; get /cm; quit")
        self.climt(["get /cm", "quit"], extra=["-r"])
        self.finish_scenario(label, 1)

        label = "climt-restart"
        self.scenario(label, CLIENT_CLIMT, "one cli_mt session across a server restart", per={
            1: "before: wexists /cm/later (exist watch); get /cm (data watch); ls /cm (child watch); server stopped",
            2: "after: reconnect with the session (ConnectRequest), SetWatches (101, xid -8) from the C client; another "
               "client created /cm/later and set /cm meanwhile (notifications); ls /cm; quit",
        })

        def restart():
            def changes():
                self.direct("create", "/cm/later", "l")
                self.direct("set", "/cm", "again")
            self.restart_zk_held(changes)
        self.climt(["wexists /cm/later", "get /cm", "ls /cm", 0.5, restart, 4.0, "ls /cm", "quit"])
        self.finish_scenario(label, 2)

    def s_kazoo(self):
        from kazoo.client import KazooClient
        from kazoo.exceptions import BadVersionError, NoNodeError, KazooException
        from kazoo.security import make_digest_acl
        hosts = "127.0.0.1:%d" % self.proxy.port

        label = "kazoo-basic"
        self.scenario(label, CLIENT_KAZOO,
                      "KazooClient: start; create /kz/a/b makepath=True (create 1 for /kz, /kz/a after NoNode, then /kz/a/b); "
                      "ensure_path /kz/e/f (exists + creates); create /kz/c2 include_data=True (create2 15); "
                      "create /kz/seq- sequence+ephemeral; get_children /kz include_data=True (getChildren2 12); "
                      "get_children /kz watch (getChildren 8, watch=1); exists /kz/x with watch (exists 3, NoNode); "
                      "DataWatch on /kz/a (getData 4 watch=1); set /kz/a v1 (fires NodeDataChanged, DataWatch re-reads); "
                      "create /kz/x (fires NodeCreated + NodeChildrenChanged); get /kz/a; get_acls /kz/a (getACL 6); "
                      "set_acls /kz/a (setACL 7); sync /kz; transaction create/set_data/check/delete that succeeds "
                      "(multi 14); transaction with a failing check (multi 14, per-op errors); reconfig (16, -123 "
                      "ReconfigDisabled); add_auth digest carol:pw (auth xid -4); create /kz/private with a digest ACL; "
                      "get /kz/private; delete /kz recursive=True (getChildren walk then deletes); stop (closeSession -11)")
        zk = KazooClient(hosts=hosts, timeout=20)
        zk.start(timeout=20)
        fired = []
        zk.create("/kz/a/b", b"b", makepath=True)
        zk.ensure_path("/kz/e/f")
        zk.create("/kz/c2", b"c2", include_data=True)
        zk.create("/kz/seq-", b"s", sequence=True, ephemeral=True)
        zk.get_children("/kz", include_data=True)
        zk.get_children("/kz", watch=lambda ev: fired.append(ev))
        zk.exists("/kz/x", watch=lambda ev: fired.append(ev))

        @zk.DataWatch("/kz/a")
        def _dw(data, stat, event=None):
            fired.append(("dw", data, event))
        zk.set("/kz/a", b"v1")
        zk.create("/kz/x", b"x")
        time.sleep(0.5)
        zk.get("/kz/a")
        acls, _ = zk.get_acls("/kz/a")
        zk.set_acls("/kz/a", acls)
        zk.sync("/kz")
        t = zk.transaction()
        t.create("/kz/t1", b"t")
        t.set_data("/kz/a", b"v2")
        t.check("/kz/a", 2)
        t.delete("/kz/x")
        log("kazoo multi ok: %r" % (t.commit(),))
        t = zk.transaction()
        t.create("/kz/t2", b"t")
        t.check("/kz/a", 99)
        t.set_data("/kz/a", b"never")
        log("kazoo multi failing: %r" % (t.commit(),))
        try:
            zk.reconfig(joining="server.2=127.0.0.1:2888:3888;2182", leaving=None, new_members=None)
        except KazooException as e:
            log("kazoo reconfig: %r" % e)
        zk.add_auth("digest", "carol:pw")
        zk.create("/kz/private", b"p", acl=[make_digest_acl("carol", "pw", all=True)])
        zk.get("/kz/private")
        zk.delete("/kz", recursive=True)
        try:
            zk.get("/kz")
        except NoNodeError:
            pass
        zk.stop()
        zk.close()
        self.finish_scenario(label, 1)

        label = "kazoo-readonly"
        self.scenario(label, CLIENT_KAZOO,
                      "KazooClient(read_only=True): ConnectRequest with readOnly=1 (the standalone server answers "
                      "readOnly=0); get_children /; exists /zk; stop")
        zk = KazooClient(hosts=hosts, timeout=20, read_only=True)
        zk.start(timeout=20)
        zk.get_children("/")
        zk.exists("/zk")
        zk.stop()
        zk.close()
        self.finish_scenario(label, 1)

        label = "kazoo-restart"
        self.scenario(label, CLIENT_KAZOO, "one kazoo session across a server restart", per={
            1: "before: add_auth digest dave:pw; create /kzr; get /kzr with a watch; get_children /kzr with a watch; "
               "server stopped",
            2: "after: kazoo reconnects with the session id and password, waits for the ConnectResponse, then "
               "re-sends its auth (xid -4); kazoo 2.11 sends no SetWatches (its watches are lost server side); "
               "another client had set /kzr meanwhile; get /kzr; delete /kzr; stop (closeSession)",
        })
        zk = KazooClient(hosts=hosts, timeout=20)
        zk.start(timeout=20)
        zk.add_auth("digest", "dave:pw")
        zk.create("/kzr", b"r0")
        zk.get("/kzr", watch=lambda ev: None)
        zk.get_children("/kzr", watch=lambda ev: None)
        self.restart_zk_held(lambda: self.direct("set", "/kzr", "r1"))
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                zk.get("/kzr")
                break
            except KazooException:
                time.sleep(0.5)
        zk.delete("/kzr")
        zk.stop()
        zk.close()
        self.finish_scenario(label, 2)

    def s_raw(self):
        port = self.proxy.port
        label = "raw-old-connect"
        self.scenario(label, CLIENT_RAW,
                      "44-byte ConnectRequest without the readOnly byte (old client); the server answers with a "
                      "36-byte ConnectResponse (no readOnly byte); getData /zk (xid 1); closeSession (xid 2)")
        r = Raw(port, old_style=True)
        r.call(4, ustr("/zk") + b"\0")
        r.close_session()
        self.finish_scenario(label, 1)

        label = "raw-unknown-op"
        self.scenario(label, CLIENT_RAW,
                      "connect; exists /zk (xid 1); request with opcode 999 and an empty body (xid 2): the server "
                      "replies {xid 2, zxid -1, err -6 Unimplemented} and closes the connection")
        r = Raw(port)
        r.call(3, ustr("/zk") + b"\0")
        r.send(999)
        r.drain()
        self.finish_scenario(label, 1)

        label = "raw-ops"
        self.scenario(label, CLIENT_RAW,
                      "hand-built requests, in order: createTTL /raw-ttl ttl 600000 (21); createTTL with flags 0 "
                      "(-8 BadArguments); createContainer /rawc (19); create2 /rawc/k (15); create2 /raw-es- flags 3 "
                      "(ephemeral sequential); multiRead (22) [getData /zk, getChildren /zk, getData /missing]; "
                      "multiRead with a create inside (error); checkWatches /zk type 2 without a watch (17, -121); "
                      "getData /zk watch=1; checkWatches /zk type 2 (17, ok); checkWatches /zk type 1 (-121); "
                      "removeWatches /zk type 2 (18); addWatch /rawc mode 0 (106); addWatch /rawc mode 1; "
                      "checkWatches /rawc type 3; removeWatches /rawc type 3; removeWatches /rawc type 3 again (-121); "
                      "getEphemerals \"\" (103); getEphemerals /raw-es (prefix); getAllChildrenNumber / (104); "
                      "getAllChildrenNumber /missing (-101); whoAmI (107); check (13) /zk version 99 alone (-103); "
                      "check /missing (-101); ping with xid -2 (11); ping with an ordinary xid (answered with xid -2); "
                      "sasl (102) with a 4-byte token (no SASL configured: reply token null); exists /rawc/k watch=1 then "
                      "delete /rawc/k by this session (notification NodeDeleted before the delete reply? see README); "
                      "multi (14) create+create2+createTTL+createContainer+setData+check+delete that succeeds; "
                      "closeSession (-11)")
        r = Raw(port)
        ttl_req = ustr("/raw-ttl") + buf(b"ttl") + OPEN_ACL + struct.pack(">iq", 5, 600000)
        r.call(21, ttl_req)
        r.call(21, ustr("/raw-ttl0") + buf(b"x") + OPEN_ACL + struct.pack(">iq", 0, 600000))
        r.call(19, ustr("/rawc") + buf(b"c") + OPEN_ACL + struct.pack(">i", 4))
        r.call(15, ustr("/rawc/k") + buf(b"k") + OPEN_ACL + struct.pack(">i", 0))
        r.call(15, ustr("/raw-es-") + buf(b"e") + OPEN_ACL + struct.pack(">i", 3))

        def mh(t, done=False, err=-1):
            return struct.pack(">i?i", t, done, err)
        mr = (mh(4) + ustr("/zk") + b"\0" + mh(8) + ustr("/zk") + b"\0" + mh(4) + ustr("/missing") + b"\0"
              + mh(-1, True, -1))
        r.call(22, mr)
        mr_bad = (mh(4) + ustr("/zk") + b"\0" + mh(1) + ustr("/raw-nope") + buf(b"") + OPEN_ACL
                  + struct.pack(">i", 0) + mh(-1, True, -1))
        r.call(22, mr_bad)
        r.call(17, ustr("/zk") + struct.pack(">i", 2))
        r.call(4, ustr("/zk") + b"\1")
        r.call(17, ustr("/zk") + struct.pack(">i", 2))
        r.call(17, ustr("/zk") + struct.pack(">i", 1))
        r.call(18, ustr("/zk") + struct.pack(">i", 2))
        r.call(106, ustr("/rawc") + struct.pack(">i", 0))
        r.call(106, ustr("/rawc") + struct.pack(">i", 1))
        r.call(17, ustr("/rawc") + struct.pack(">i", 3))
        r.call(18, ustr("/rawc") + struct.pack(">i", 3))
        r.call(18, ustr("/rawc") + struct.pack(">i", 3))
        r.call(103, ustr(""))
        r.call(103, ustr("/raw-es"))
        r.call(104, ustr("/"))
        r.call(104, ustr("/missing"))
        r.call(107)
        r.call(13, ustr("/zk") + struct.pack(">i", 99))
        r.call(13, ustr("/missing") + struct.pack(">i", 0))
        r.call(11, xid=-2)
        r.call(11)
        r.call(102, buf(b"abcd"))
        r.call(3, ustr("/rawc/k") + b"\1")
        r.call(2, ustr("/rawc/k") + struct.pack(">i", -1))
        multi = (mh(1) + ustr("/rawm") + buf(b"m") + OPEN_ACL + struct.pack(">i", 0)
                 + mh(15) + ustr("/rawm/c2") + buf(b"") + OPEN_ACL + struct.pack(">i", 0)
                 + mh(21) + ustr("/rawm/ttl") + buf(b"t") + OPEN_ACL + struct.pack(">iq", 5, 600000)
                 + mh(19) + ustr("/rawm/cont") + buf(b"") + OPEN_ACL + struct.pack(">i", 4)
                 + mh(5) + ustr("/rawm") + buf(b"m2") + struct.pack(">i", 0)
                 + mh(13) + ustr("/rawm") + struct.pack(">i", 1)
                 + mh(2) + ustr("/rawm/c2") + struct.pack(">i", -1)
                 + mh(-1, True, -1))
        r.call(14, multi)
        r.close_session()
        self.finish_scenario(label, 1)

        label = "raw-setwatches"
        self.scenario(label, CLIENT_RAW,
                      "fresh session: setWatches (101, xid -8) relativeZxid 1 with data [/zk, /gone], exist "
                      "[/zk, /none], child [/zk, /gone]: the server fires NodeDataChanged /zk, NodeDeleted /gone, "
                      "NodeCreated /zk, NodeChildrenChanged /zk, NodeDeleted /gone as needed, before the -8 reply; "
                      "exists /zk; setWatches2 (105, xid -8) relativeZxid = last zxid seen, with data [/rawc], exist [/none2], child [/rawc], "
                      "persistent [/zk], persistentRecursive [/rawc] (no immediate events); [connection 2 sets /zk and "
                      "creates /rawc/z: notifications NodeDataChanged /zk, NodeCreated /rawc/z, NodeChildrenChanged /rawc]; "
                      "getData /zk; closeSession", per={
                          1: None,
                          2: "second raw session: setData /zk (-1) to fire the persistent watch of session 1; "
                             "create /rawc/z (recursive watch); closeSession",
                      })
        r = Raw(port)
        sw = struct.pack(">q", 1) + vec_str(["/zk", "/gone"]) + vec_str(["/zk", "/none"]) + vec_str(["/zk", "/gone"])
        err, _, notes = r.call(101, sw, xid=-8)
        log("setWatches: err %s, %d notifications first" % (err, len(notes)))
        r.call(3, ustr("/zk") + b"\0")
        sw2 = (struct.pack(">q", r.last_zxid) + vec_str(["/rawc"]) + vec_str(["/none2"]) + vec_str(["/rawc"])
               + vec_str(["/zk"]) + vec_str(["/rawc"]))
        err, _, notes = r.call(105, sw2, xid=-8)
        log("setWatches2: err %s, %d notifications first" % (err, len(notes)))
        r2 = Raw(port)
        r2.call(5, ustr("/zk") + buf(b"raw") + struct.pack(">i", -1))
        r2.call(1, ustr("/rawc/z") + buf(b"z") + OPEN_ACL + struct.pack(">i", 0))
        r2.close_session()
        time.sleep(0.3)
        r.call(4, ustr("/zk") + b"\0")
        r.close_session()
        self.finish_scenario(label, 2)

        label = "raw-auth-fail"
        self.scenario(label, CLIENT_RAW,
                      "connect; auth (100, xid -4) with the unknown scheme \"nosuch\": reply {-4, 0, -115 AuthFailed}, "
                      "then the server closes the connection")
        r = Raw(port)
        r.send(100, struct.pack(">i", 0) + ustr("nosuch") + buf(b"x"), xid=-4)
        r.drain()
        self.finish_scenario(label, 1)

        label = "raw-bad-password"
        self.scenario(label, CLIENT_RAW,
                      "ConnectRequest for an existing session id with a wrong password: ConnectResponse "
                      "{timeOut 0, sessionId 0, passwd 16 zero bytes}, then close")
        victim = Raw(self.zk.port)  # direct, not recorded
        sid = struct.unpack(">q", victim.connect_response[8:16])[0]
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(frame(struct.pack(">iqiqi", 0, 0, 30000, sid, 16) + b"\x01" * 16 + b"\0"))
        while s.recv(65536):
            pass
        s.close()
        try:
            victim.s.close()
        except OSError:
            pass
        self.finish_scenario(label, 1)

    def s_raw_resume(self):
        port = self.proxy.port
        label = "raw-resume"
        self.scenario(label, CLIENT_RAW, "one session over two TCP connections", per={
            1: "connect; create /raw-resume-eph ephemeral (flags 1); getData /raw-resume-eph watch=1; the client "
               "then closes the TCP connection without closeSession",
            2: "ConnectRequest with the sessionId, password and lastZxidSeen of connection 1 (the session is "
               "re-opened: same id and password in the ConnectResponse); getData /raw-resume-eph (the ephemeral "
               "survived); closeSession (deletes it)",
        })
        r = Raw(port)
        sid = r.connect_response[8:16]
        pw = r.connect_response[20:36]
        r.call(1, ustr("/raw-resume-eph") + buf(b"e") + OPEN_ACL + struct.pack(">i", 1))
        r.call(4, ustr("/raw-resume-eph") + b"\1")
        r.s.close()
        self.proxy.wait_records(label, 1)
        r2 = Raw(port, resume=(r.last_zxid, sid, pw))
        r2.call(4, ustr("/raw-resume-eph") + b"\0")
        r2.close_session()
        self.finish_scenario(label, 2)

    def four_letter_word(self, word, when=""):
        label = "4lw-" + word
        self.scenario(label, CLIENT_4LW,
                      "four-letter word %r sent as the first 4 bytes of a connection; the server writes the text "
                      "reply and closes%s" % (word, "; " + when if when else ""))
        four_letter(self.proxy.port, word)
        self.finish_scenario(label, 1)

    def s_4lw(self):
        for word in ("ruok", "srvr", "stat", "mntr", "conf", "cons", "envi", "isro", "dump", "dirs", "gtmk"):
            self.four_letter_word(word)

    # ---------------------------------------------------------- output
    def write_golden(self):
        raw_dir = self.proxy.out
        os.makedirs(GOLDEN, exist_ok=True)
        # a full run replaces every fixture; an --only run replaces those of
        # the scenarios it ran
        for fn in os.listdir(GOLDEN):
            if not fn.endswith(".json"):
                continue
            if self.args.only:
                m = re.match(r"^(.*?)(-\d+)?\.json$", fn)
                if not (m and m.group(1) in self.meta):
                    continue
            os.remove(os.path.join(GOLDEN, fn))
        written = 0
        for fn in sorted(os.listdir(raw_dir)):
            m = re.match(r"^(.*)-(\d+)\.raw\.json$", fn)
            if not m:
                continue
            label, n = m.group(1), int(m.group(2))
            if label not in self.meta:
                continue
            with open(os.path.join(raw_dir, fn)) as f:
                rec = json.load(f)
            meta = self.meta[label]
            if rec["dropped"] or rec["incomplete"]:
                self.failures.append("%s-%d dropped/incomplete" % (label, n))
                continue
            desc = meta["per"].get(n) or meta["desc"]
            if n not in meta["per"] and meta["per"]:
                desc = "unexpected extra connection %d of scenario %s" % (n, label)
                self.failures.append("%s-%d unexpected" % (label, n))
            elif meta["per"] and meta["per"].get(n) is None:
                desc = meta["desc"]
            out = {"client": meta["client"], "scenario": label, "description": desc,
                   "c2s": rec["c2s"], "s2c": rec["s2c"]}
            name = label + ".json" if label.startswith("4lw-") else "%s-%d.json" % (label, n)
            with open(os.path.join(GOLDEN, name), "w") as f:
                json.dump(out, f, indent=1)
                f.write("\n")
            written += 1
        log("wrote %d fixtures to %s" % (written, GOLDEN))

    def main(self):
        a = self.args
        zk_port = free_port(a.zk_port)
        proxy_port = free_port(max(a.proxy_port, zk_port + 1))
        self.zk = ZooKeeper(self.tmp, zk_port)
        self.zk.start()
        self.proxy = Proxy(self.tmp, proxy_port, zk_port)
        steps = [("zkcli_one_shots", self.s_zkcli_one_shots),
                 ("zkcli_sessions", self.s_zkcli_sessions),
                 ("climt", self.s_climt), ("kazoo", self.s_kazoo),
                 ("raw", self.s_raw), ("raw_resume", self.s_raw_resume), ("4lw", self.s_4lw)]
        for name, fn in steps:
            if a.only and not any(o in name for o in a.only):
                continue
            fn()
        time.sleep(0.5)
        self.proxy.stop()
        self.zk.stop()
        self.write_golden()
        if self.failures:
            log("problems: %s" % "; ".join(self.failures))
            return 1
        return 0

    def cleanup(self):
        if self.proxy:
            self.proxy.stop()
        if self.zk:
            self.zk.stop()
        if self.args.keep_tmp:
            log("kept %s" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def pexpect_eof():
    import pexpect
    return pexpect.EOF


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zk-port", type=int, default=int(os.environ.get("ZK_PORT", "23181")))
    ap.add_argument("--proxy-port", type=int, default=int(os.environ.get("PROXY_PORT", "23281")))
    ap.add_argument("--only", action="append", help="run only steps whose name contains this")
    ap.add_argument("--keep-tmp", action="store_true")
    args = ap.parse_args()
    cap = Capture(args)

    def on_term(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)
    try:
        rc = cap.main()
    except BaseException:
        import traceback
        traceback.print_exc()
        rc = 1
        log("failed; kept temp dir %s for inspection" % cap.tmp)
        cap.args.keep_tmp = True
    finally:
        cap.cleanup()
    sys.exit(rc)


if __name__ == "__main__":
    main()
