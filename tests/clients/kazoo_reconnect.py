#!/usr/bin/env python3
"""Kazoo (which numbers its requests from 1 again on every connection) across reconnects.

Usage: kazoo_reconnect.py PATH_TO_ZABKEEPER [--ensemble]
Standalone: the connection under a client breaks while the server runs on, and then the server
is killed with -9 and restarted on the same data; each time the client resumes its session, its ephemeral is still there, its writes, syncs and reads are
answered, and the watches it had set fire on the resumed session. `client.restart()` starts a
new session that writes at once. A lock held across a reconnect still excludes the other
contender. Ensemble (3 processes): the member under a client is killed and the client goes on
through another one with the same session; a session is moved by hand to another member
(a new client given the old session id and password). Every call has a timeout; the whole run
is bounded. Exits non-zero on the first failure.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from kazoo.client import KazooClient
from kazoo.protocol.states import KazooState
from kazoo.recipe.lock import Lock

CALL_S = 5
# Every server process started, so that a watchdog can kill them all.
STARTED = []


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
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.settimeout(1)
            s.sendall(b"srvr")
            out = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
    except OSError:
        return None
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("Mode: "):
            return line[6:]
    return None


def wait_until(what, done, limit_s=30):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.05)
    raise SystemExit(f"kazoo reconnect: timed out waiting for {what}")


class Servers:
    """Members started one process each, so that any one can be killed and restarted."""

    def __init__(self, binary, n, tmp):
        self.binary = binary
        self.tmp = tmp
        ports = free_ports(3 * n)
        self.ports = ports[:n]
        self.procs = [None] * n
        servers = ""
        if n > 1:
            servers = "".join(f"server.{i + 1}=127.0.0.1:{ports[n + i]}:{ports[2 * n + i]}\n" for i in range(n))
        for i in range(n):
            d = os.path.join(tmp, f"n{i + 1}")
            os.makedirs(os.path.join(d, "data"))
            if n > 1:
                with open(os.path.join(d, "data", "myid"), "w") as f:
                    f.write(f"{i + 1}\n")
            with open(os.path.join(d, "zoo.cfg"), "w") as f:
                f.write(f"tickTime=200\ninitLimit=20\nsyncLimit=10\ndataDir={d}/data\nclientPort={self.ports[i]}\n"
                        f"clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\n{servers}")

    def start(self, i):
        cfg = os.path.join(self.tmp, f"n{i + 1}", "zoo.cfg")
        log = open(os.path.join(self.tmp, f"n{i + 1}", "server.log"), "ab")
        self.procs[i] = subprocess.Popen([self.binary, "start", "--config", cfg], stdout=log, stderr=log)
        STARTED.append(self.procs[i])

    def kill(self, i):
        if self.procs[i] is not None:
            self.procs[i].send_signal(signal.SIGKILL)
            self.procs[i].wait()
            self.procs[i] = None

    def stop_all(self):
        for i, p in enumerate(self.procs):
            if p is not None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                self.procs[i] = None

    def serving(self):
        modes = [srvr_mode(p) if self.procs[i] else "down" for i, p in enumerate(self.ports)]
        live = [m for m in modes if m != "down"]
        if len(self.ports) == 1:
            return live == ["standalone"]
        return live.count("leader") == 1 and live.count("follower") == len(live) - 1

    def hosts(self, which=None):
        which = range(len(self.ports)) if which is None else which
        return ",".join(f"127.0.0.1:{self.ports[i]}" for i in which)

    def index_of(self, zk):
        try:
            port = zk._connection._socket.getpeername()[1]
        except Exception:
            return None
        return self.ports.index(port) if port in self.ports else None


def client(hosts, **kw):
    zk = KazooClient(hosts=hosts, timeout=10.0, **kw)
    zk.suspended = threading.Event()
    zk.add_listener(lambda state: zk.suspended.set() if state != KazooState.CONNECTED else None)
    zk.start(timeout=15)
    return zk


def call(what, async_result):
    try:
        return async_result.get(timeout=CALL_S)
    except Exception as e:
        raise SystemExit(f"kazoo reconnect: {what} failed or was not answered within {CALL_S} s: {e!r}")


def reconnected(zk):
    """Waits until the client has seen its connection go and has connected again."""
    wait_until("the client to notice the lost connection", zk.suspended.is_set, 30)
    wait_until("the client to reconnect", lambda: zk.state == KazooState.CONNECTED, 30)
    zk.suspended.clear()


def writes_go_on(zk, tag, count=5):
    for i in range(count):
        path = call(f"create {tag}-{i}", zk.create_async(f"/rc/{tag}-", f"{i}".encode(), sequence=True))
        data, _ = call(f"read {path}", zk.get_async(path))
        assert data == f"{i}".encode(), (path, data)
    call("sync", zk.sync_async("/rc"))
    call("setData", zk.set_async("/rc", tag.encode()))
    assert call("getData", zk.get_async("/rc"))[0] == tag.encode()


def standalone(binary, tmp):
    s = Servers(binary, 1, tmp)
    s.start(0)
    wait_until("the server to serve", s.serving)
    zk = client(s.hosts())
    other = None
    try:
        zk.ensure_path("/rc")
        session = zk.client_id
        mine = call("ephemeral", zk.create_async("/rc/mine", b"", ephemeral=True))
        writes_go_on(zk, "before")
        # Watches set before the server goes.
        fired = {"data": threading.Event(), "child": threading.Event()}
        call("create /rc/w", zk.create_async("/rc/w", b"0"))
        call("watch data", zk.get_async("/rc/w", watch=lambda e: fired["data"].set()))
        call("watch children", zk.get_children_async("/rc/w", watch=lambda e: fired["child"].set()))

        # A network blip: the connection breaks under the client while the server runs on; it
        # resumes the session on the same server, numbering from 1 again.
        zk._connection._socket.shutdown(socket.SHUT_RDWR)
        reconnected(zk)
        assert zk.client_id == session, (zk.client_id, session)
        writes_go_on(zk, "after-blip")

        # kill -9 and restart the server on the same data: same session, everything answered.
        s.kill(0)
        s.start(0)
        wait_until("the restarted server to serve", s.serving)
        reconnected(zk)
        assert zk.client_id == session, (zk.client_id, session)
        assert call("exists", zk.exists_async(mine)) is not None, "the ephemeral survived the restart"
        writes_go_on(zk, "after-restart")

        # The watches set before fire on the resumed session.
        other = client(s.hosts())
        call("set /rc/w", other.set_async("/rc/w", b"1"))
        call("create a child", other.create_async("/rc/w/kid", b""))
        assert fired["data"].wait(CALL_S), "the data watch fired after the reconnect"
        assert fired["child"].wait(CALL_S), "the child watch fired after the reconnect"

        # A lock held across a reconnect still excludes the other contender.
        held = Lock(zk, "/rc/lock", "zk")
        assert held.acquire(timeout=CALL_S)
        contender = Lock(other, "/rc/lock", "other")
        got = threading.Event()
        threading.Thread(target=lambda: contender.acquire(timeout=30) and got.set(), daemon=True).start()
        time.sleep(0.3)
        s.kill(0)
        s.start(0)
        wait_until("the restarted server to serve", s.serving)
        reconnected(zk)
        time.sleep(0.5)
        assert not got.is_set(), "the lock was taken while its holder's session lived"
        held.release()
        assert got.wait(15), "the contender took the lock once it was released"
        contender.release()

        # client.restart(): a new session, writing at once.
        zk.restart()
        assert zk.client_id != session
        writes_go_on(zk, "after-client-restart")
        assert call("exists", other.exists_async(mine)) is None, "the old session's ephemeral went with it"
    finally:
        for c in (zk, other):
            if c is not None:
                c.stop()
                c.close()
        s.stop_all()
    print("kazoo reconnect: all checks passed (standalone)")


def ensemble(binary, tmp):
    s = Servers(binary, 3, tmp)
    for i in range(3):
        s.start(i)
    wait_until("a leader with two followers", s.serving)
    zk = client(s.hosts())
    moved = None
    pinned = None
    try:
        zk.ensure_path("/rc")
        session = zk.client_id
        mine = call("ephemeral", zk.create_async("/rc/mine", b"", ephemeral=True))
        writes_go_on(zk, "before")
        # The member under the client is killed: it goes on through another, same session.
        victim = s.index_of(zk)
        assert victim is not None
        s.kill(victim)
        reconnected(zk)
        writes_go_on(zk, "after-kill")
        assert zk.client_id == session
        assert call("exists", zk.exists_async(mine)) is not None
        s.start(victim)
        wait_until("the killed member to rejoin", s.serving)

        # A session moved by hand: a client pinned to one member, that member killed, and a
        # new client given the session id and password on another member.
        pinned = client(s.hosts([0]))
        pinned_eph = call("ephemeral", pinned.create_async("/rc/pinned", b"", ephemeral=True))
        writes_go_on(pinned, "pinned")
        pinned_session = pinned.client_id
        s.kill(0)
        moved = client(s.hosts([1]), client_id=pinned_session)
        assert moved.client_id[0] == pinned_session[0], "the same session on another member"
        writes_go_on(moved, "moved")
        assert call("exists", moved.exists_async(pinned_eph)) is not None, "its ephemeral moved with it"
    finally:
        for c in (moved, zk):
            if c is not None:
                c.stop()
                c.close()
        if pinned is not None:
            # Its member is down: stop it without waiting for a server.
            pinned.stop()
            pinned.close()
        s.stop_all()
    print("kazoo reconnect: all checks passed (3-process ensemble)")


def main():
    binary = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="zabkeeper-kazoo-reconnect-")
    done = threading.Event()

    def watchdog():
        if not done.wait(180):
            print("kazoo reconnect: the run took over 180 s", file=sys.stderr)
            for p in STARTED:
                if p.poll() is None:
                    p.kill()
            os._exit(1)

    threading.Thread(target=watchdog, daemon=True).start()
    try:
        if "--ensemble" in sys.argv[2:]:
            ensemble(binary, tmp)
        else:
            standalone(binary, tmp)
    finally:
        done.set()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
