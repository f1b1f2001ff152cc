#!/usr/bin/env python3
"""An unmodified ZooKeeper client (Kazoo) against the real binary on loopback.

Usage: kazoo_check.py PATH_TO_ZABKEEPER [--ensemble]
Starts a standalone server (or, with --ensemble, a 3-process ensemble) on free loopback ports
in a temp dir, runs the checks, stops it. Exits non-zero on the first failure.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NoAuthError, NodeExistsError, NoNodeError, NotEmptyError
from kazoo.recipe.election import Election
from kazoo.recipe.lock import Lock
from kazoo.security import make_digest_acl


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def four(port, word):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(word.encode())
        out = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return out.decode()
            out += chunk


def wait_serving(ports, modes):
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if all(any(m in four(p, "srvr") for m in modes) for p in ports):
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("servers did not come up")


def main():
    binary = sys.argv[1]
    ensemble = "--ensemble" in sys.argv[2:]
    tmp = tempfile.mkdtemp(prefix="zabkeeper-kazoo-")
    if ensemble:
        base = free_port() % 20000 + 40000
        ports = [base, base + 1, base + 2]
        cmd = [binary, "ensemble", "--nodes", "3", "--dir", f"{tmp}/ens", "--client-port", str(base),
               "--peer-port", str(base + 100), "--tick-ms", "200"]
        modes = ("Mode: leader", "Mode: follower")
    else:
        ports = [free_port()]
        cfg = os.path.join(tmp, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write(f"tickTime=200\ndataDir={tmp}/data\nclientPort={ports[0]}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
                    "4lw.commands.whitelist=*\n")
        cmd = [binary, "start", "--config", cfg]
        modes = ("Mode: standalone",)
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_serving(ports, modes)
        checks(",".join(f"127.0.0.1:{p}" for p in ports))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)
    print(f"kazoo: all checks passed ({'3-process ensemble' if ensemble else 'standalone'})")


def checks(hosts):
    zk = KazooClient(hosts=hosts, timeout=4)
    zk.start(timeout=10)
    assert zk.server_version() == (3, 8, 0), zk.server_version()

    # CRUD with versions and errors.
    zk.ensure_path("/kz/app")
    zk.create("/kz/app/cfg", b"v1")
    data, stat = zk.get("/kz/app/cfg")
    assert data == b"v1" and stat.version == 0
    zk.set("/kz/app/cfg", b"v2", version=0)
    try:
        zk.set("/kz/app/cfg", b"v3", version=0)
        raise AssertionError("BadVersion expected")
    except BadVersionError:
        pass
    try:
        zk.create("/kz/app/cfg", b"")
        raise AssertionError("NodeExists expected")
    except NodeExistsError:
        pass
    try:
        zk.delete("/kz/app")
        raise AssertionError("NotEmpty expected")
    except NotEmptyError:
        pass
    try:
        zk.get("/kz/none")
        raise AssertionError("NoNode expected")
    except NoNodeError:
        pass
    assert zk.exists("/kz/none") is None

    # Sequential and ephemeral nodes.
    a = zk.create("/kz/app/seq-", b"", sequence=True)
    b = zk.create("/kz/app/seq-", b"", sequence=True)
    assert a < b and a.endswith("0000000001"), (a, b)
    eph = zk.create("/kz/app/eph", b"", ephemeral=True)
    assert zk.exists(eph).ephemeralOwner == zk.client_id[0]

    # Watches: data and children, fired once, before the data is visible.
    fired = []
    ev = threading.Event()

    def on_data(event):
        fired.append(event)
        ev.set()

    zk.get("/kz/app/cfg", watch=on_data)
    other = KazooClient(hosts=hosts, timeout=4)
    other.start(timeout=10)
    other.set("/kz/app/cfg", b"v9")
    assert ev.wait(5) and fired[0].type == "CHANGED", fired
    kids = []
    kev = threading.Event()
    zk.get_children("/kz/app", watch=lambda e: (kids.append(e), kev.set()))
    other.create("/kz/app/new", b"")
    assert kev.wait(5) and kids[0].type == "CHILD", kids

    # Transactions: all or nothing.
    version = zk.exists("/kz/app/cfg").version
    t = zk.transaction()
    t.create("/kz/t1", b"1")
    t.check("/kz/app/cfg", version)
    t.set_data("/kz/app/cfg", b"t")
    results = t.commit()
    assert results[:2] == ["/kz/t1", True] and results[2].version == version + 1, results
    assert zk.get("/kz/app/cfg")[0] == b"t"
    t = zk.transaction()
    t.create("/kz/t2", b"2")
    t.check("/kz/app/cfg", 99)
    results = t.commit()
    assert zk.exists("/kz/t2") is None, results

    # ACLs: digest auth.
    zk.add_auth("digest", "alice:secret")
    zk.create("/kz/secret", b"s", acl=[make_digest_acl("alice", "secret", all=True)])
    try:
        other.get("/kz/secret")
        raise AssertionError("NoAuth expected")
    except NoAuthError:
        pass
    assert zk.get("/kz/secret")[0] == b"s"

    # Recipes: a lock two clients contend for, and an election.
    order = []
    lock_a, lock_b = Lock(zk, "/kz/lock", "a"), Lock(other, "/kz/lock", "b")
    lock_a.acquire()
    t = threading.Thread(target=lambda: (lock_b.acquire(), order.append("b"), lock_b.release()))
    t.start()
    time.sleep(0.3)
    order.append("a")
    lock_a.release()
    t.join(10)
    assert order == ["a", "b"], order
    won = threading.Event()
    election = Election(zk, "/kz/election", "me")
    threading.Thread(target=lambda: election.run(won.set), daemon=True).start()
    assert won.wait(5)
    election.cancel()

    # Closing a session removes its ephemerals, seen by the other client.
    zk.stop()
    zk.close()
    deadline = time.time() + 5
    while other.exists("/kz/app/eph") is not None and time.time() < deadline:
        time.sleep(0.05)
    assert other.exists("/kz/app/eph") is None
    other.stop()
    other.close()


if __name__ == "__main__":
    main()
