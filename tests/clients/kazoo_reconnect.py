#!/usr/bin/env python3
"""Kazoo across reconnects: every kind of reconnect a Kazoo application meets, checked by results.

Usage: kazoo_reconnect.py PATH_TO_ZABKEEPER [--ensemble] [--keep-going]

Kazoo numbers its requests from 1 again on every connection, so a resumed session sends xids it
has already used; every write, read and sync after a reconnect must still be answered. Servers
run on free loopback ports in a temp dir, one `zabkeeper start --config zoo.cfg` process per
member (tickTime 200), so that any member can be killed with -9 and restarted on its data.

Standalone:
  a1  the connection breaks under the client, the server runs on: same session, ephemeral kept,
      writes (sequential creates read back, a conditional setData), sync and getData answered
  a2  the server is killed with -9 and restarted on the same dataDir: the same, and what was
      written before the kill reads back
  b   client.restart() (Kazoo closes the session and opens a new one: the old ephemeral goes),
      then writes, sync, getData; and a new KazooClient given the session id and password of a
      client dropped without closing (what a restarted application does) resumes that session
  d   watches across the server's kill -9 and restart (Kazoo 2.11 sends no setWatches: on a lost
      connection it fires each one-shot watch with a NONE event and forgets it): the one-shot
      data and child watches get that event, set again on the resumed session they fire once when
      a second client changes the node; a DataWatch and a ChildrenWatch set before the restart
      report the changes made after it, and the resumed session's own write
  e   a Kazoo lock held across the server's restart still excludes a waiting contender, which
      gets it once the holder releases it
Ensemble (3 processes):
  a1  the follower under the client is killed: the client goes on through the other follower
      with the same session and ephemeral; the member restarts, follows, and the client, steered
      back onto it, goes on there too
  a2  a client on the leader, the leader killed: the same through a new leader
  b   as standalone
  c   a client on one member only, dropped without closing its session; a new KazooClient with
      the same client_id on another member: same session, ephemeral kept (also seen from the
      third member), writes answered, the session outlives its timeout there
  d   as standalone, the reconnect a broken connection (Kazoo moves to the next member)
  e   as standalone, the follower under the lock holder killed

Each check prints one "ok" line. Every Kazoo call has a 5 s limit and every wait is bounded; a
watchdog ends the run after 120 s (300 s with --keep-going). Exits non-zero with a message on the
first failure (--keep-going: runs every check, then lists the failures), keeping the temp dir
with the server logs in that case. Every server process started is killed at the end.
"""
import logging
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
from kazoo.exceptions import ConnectionLoss, LockTimeout
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import EventType, KazooState
from kazoo.recipe.lock import Lock

CALL_S = 5.0
RUN_S = 120
RUN_S_KEEP_GOING = 300
TICK_MS = 200
RETRY = dict(max_tries=-1, delay=0.05, backoff=1.5, max_delay=0.5, max_jitter=0.1)

STARTED = []  # every server process, for the watchdog and the final cleanup
CLIENTS = []  # every Kazoo client, stopped at the end
CURRENT = ["setup"]  # the check running, for the watchdog's message


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def call(what, async_result, limit_s=CALL_S):
    try:
        return async_result.get(timeout=limit_s)
    except KazooTimeoutError:
        raise Failure(f"{what}: no answer within {limit_s:g} s") from None
    except ConnectionLoss:
        raise Failure(f"{what}: ConnectionLoss (no answer before Kazoo gave up on the connection)") from None
    except Exception as e:
        raise Failure(f"{what}: {type(e).__name__}: {e}") from None


def bounded(what, fn, limit_s):
    """Runs a blocking Kazoo call (a recipe, restart) in a thread; a Failure if it takes longer."""
    box = {}

    def run():
        try:
            box["value"] = fn()
        except Exception as e:
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(limit_s)
    if t.is_alive():
        raise Failure(f"{what}: not done within {limit_s:g} s")
    if "error" in box:
        raise Failure(f"{what}: {type(box['error']).__name__}: {box['error']}")
    return box.get("value")


def wait_until(what, done, limit_s=30):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if done():
            return
        time.sleep(0.05)
    raise Failure(f"timed out after {limit_s} s waiting for {what}")


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
            while len(out) < 65536:
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
    except OSError:
        return None
    for line in out.decode(errors="replace").splitlines():
        if line.startswith("Mode: "):
            return line[6:].strip()
    return None


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
                f.write(f"tickTime={TICK_MS}\ninitLimit=20\nsyncLimit=10\ndataDir={d}/data\n"
                        f"clientPort={self.ports[i]}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxClientCnxns=0\n"
                        f"4lw.commands.whitelist=*\n{servers}")

    def start(self, i):
        d = os.path.join(self.tmp, f"n{i + 1}")
        with open(os.path.join(d, "server.log"), "ab") as log:
            p = subprocess.Popen([self.binary, "start", "--config", os.path.join(d, "zoo.cfg")],
                                 stdout=log, stderr=log)
        STARTED.append(p)
        self.procs[i] = p

    def kill(self, i):
        p = self.procs[i]
        if p is not None:
            p.send_signal(signal.SIGKILL)
            p.wait(10)
            self.procs[i] = None

    def modes(self):
        return [srvr_mode(port) if self.procs[i] is not None else "down" for i, port in enumerate(self.ports)]

    def serving(self):
        live = [m for m in self.modes() if m != "down"]
        if len(self.ports) == 1:
            return live == ["standalone"]
        return live.count("leader") == 1 and live.count("follower") == len(live) - 1

    def wait_serving(self, what):
        wait_until(what, self.serving, 30)

    def leader(self):
        modes = self.modes()
        return modes.index("leader") if "leader" in modes else None

    def follower_first(self):
        """Members in the order a follower, the other followers, the leader (for randomize=False)."""
        leader = self.leader()
        check(leader is not None, f"a leader: {self.modes()}")
        return [i for i in range(len(self.ports)) if i != leader] + [leader]

    def hosts(self, which=None):
        which = range(len(self.ports)) if which is None else which
        return ",".join(f"127.0.0.1:{self.ports[i]}" for i in which)

    def member_of(self, zk):
        try:
            port = zk._connection._socket.getpeername()[1]
        except Exception:
            return None
        return self.ports.index(port) if port in self.ports else None


def client(hosts, randomize=True, **kw):
    zk = KazooClient(hosts=hosts, timeout=10.0, randomize_hosts=randomize, connection_retry=RETRY, **kw)
    zk.lost_connection = threading.Event()
    zk.add_listener(lambda state: zk.lost_connection.set() if state != KazooState.CONNECTED else None)
    CLIENTS.append(zk)
    try:
        zk.start(timeout=15)
    except Exception as e:
        raise Failure(f"connecting a client to {hosts}: {type(e).__name__}: {e}") from None
    return zk


def sid(session):
    return f"0x{session[0]:x}"


def reconnected(zk, session, what):
    """Waits until the client has seen its connection go and has connected again, same session."""
    wait_until(f"the client to notice the lost connection ({what})", zk.lost_connection.is_set, 30)
    wait_until(f"the client to reconnect ({what})", lambda: zk.state == KazooState.CONNECTED, 30)
    zk.lost_connection.clear()
    check(zk.client_id is not None and zk.client_id[0] == session[0],
          f"{what}: the client resumed session {sid(session)}, but it is on "
          f"{sid(zk.client_id) if zk.client_id else 'no session'}")


def blip(zk):
    """Breaks the connection under a client (the server runs on); Kazoo reconnects by itself."""
    try:
        zk._connection._socket.shutdown(socket.SHUT_RDWR)
    except (OSError, AttributeError) as e:
        raise Failure(f"could not break the client's connection: {e!r}") from None


def abandon(zk):
    """Drops a client without closing its session, as a crashed application would."""
    zk._stopped.set()
    sock = zk._connection._socket
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    check(zk._connection.connection_stopped.wait(10), "the dropped client's connection thread stopped")
    zk.handler.stop()
    zk.close()
    CLIENTS.remove(zk)


def ephemeral_of(zk, path, session, what):
    stat = call(f"exists {path}", zk.exists_async(path))
    check(stat is not None, f"{what}: the ephemeral {path} of session {sid(session)} is gone")
    check(stat.ephemeralOwner == session[0],
          f"{what}: {path} is owned by 0x{stat.ephemeralOwner:x}, not {sid(session)}")


def writes_go_on(zk, base, tag, count=5):
    """count sequential creates, each read back; a conditional setData; a sync; getData and
    getChildren. Returns the slowest call in ms."""
    slow = [0.0]

    def timed(what, async_result):
        t = time.monotonic()
        r = call(what, async_result)
        slow[0] = max(slow[0], time.monotonic() - t)
        return r

    last = None
    for i in range(count):
        value = f"{tag}-{i}".encode()
        path = timed(f"[{tag}] create #{i + 1} under {base}", zk.create_async(f"{base}/{tag}-", value, sequence=True))
        check(last is None or path > last, f"[{tag}] sequential names increase: {last} then {path}")
        last = path
        data, stat = timed(f"[{tag}] getData {path}", zk.get_async(path))
        check(data == value and stat.version == 0, f"[{tag}] {path} reads {data!r} v{stat.version}, wrote {value!r}")
    _, stat = timed(f"[{tag}] getData {base}", zk.get_async(base))
    new = timed(f"[{tag}] setData {base} at version {stat.version}",
                zk.set_async(base, tag.encode(), version=stat.version))
    check(new.version == stat.version + 1, f"[{tag}] setData gave version {new.version}, expected {stat.version + 1}")
    check(timed(f"[{tag}] sync {base}", zk.sync_async(base)) == base, f"[{tag}] sync echoes {base}")
    data, stat = timed(f"[{tag}] getData {base}", zk.get_async(base))
    check(data == tag.encode() and stat.version == new.version,
          f"[{tag}] {base} reads {data!r} v{stat.version}, wrote {tag!r} v{new.version}")
    kids = timed(f"[{tag}] getChildren {base}", zk.get_children_async(base))
    mine = [k for k in kids if k.startswith(f"{tag}-")]
    check(len(mine) == count, f"[{tag}] {base} has {len(mine)} children {tag}-*, created {count}")
    return round(slow[0] * 1000)


def ok(name, details):
    print(f"kazoo reconnect: ok   {name}: {details}", flush=True)


# --- the checks ------------------------------------------------------------------------------


def check_a_standalone_blip(s, setup):
    base = "/rc/a1"
    call("create", setup.create_async(base, b""))
    zk = client(s.hosts())
    session = zk.client_id
    eph = call("ephemeral", zk.create_async(f"{base}/eph", b"", ephemeral=True))
    writes_go_on(zk, base, "before")
    blip(zk)
    reconnected(zk, session, "after a broken connection")
    slow = writes_go_on(zk, base, "after")
    ephemeral_of(zk, eph, session, "after a broken connection")
    return f"session {sid(session)} resumed, ephemeral kept, writes/reads/sync answered (slowest {slow} ms)"


def check_a_standalone_restart(s, setup):
    base = "/rc/a2"
    call("create", setup.create_async(base, b""))
    zk = client(s.hosts())
    session = zk.client_id
    eph = call("ephemeral", zk.create_async(f"{base}/eph", b"", ephemeral=True))
    writes_go_on(zk, base, "before")
    s.kill(0)
    s.start(0)
    s.wait_serving("the restarted server to serve")
    reconnected(zk, session, "after kill -9 and restart")
    data, _ = call(f"getData {base}", zk.get_async(base))
    check(data == b"before", f"what was written before the kill reads back: {base} is {data!r}")
    ephemeral_of(zk, eph, session, "after kill -9 and restart")
    slow = writes_go_on(zk, base, "after")
    return (f"session {sid(session)} resumed on the restarted server, its ephemeral and data kept, "
            f"writes/reads/sync answered (slowest {slow} ms)")


def check_b_restart(s, setup):
    base = "/rc/b"
    call("create", setup.create_async(base, b""))
    zk = client(s.hosts())
    session = zk.client_id
    eph = call("ephemeral", zk.create_async(f"{base}/eph", b"", ephemeral=True))
    writes_go_on(zk, base, "before")
    bounded("client.restart()", zk.restart, 25)
    check(zk.state == KazooState.CONNECTED, f"connected after client.restart(), state {zk.state}")
    new = zk.client_id
    check(new[0] != session[0], f"Kazoo's restart() closes session {sid(session)} and opens a new one")
    slow = writes_go_on(zk, base, "after-restart", count=8)
    call("sync", zk.sync_async(eph))
    check(call(f"exists {eph}", zk.exists_async(eph)) is None, f"{eph} went with the closed session {sid(session)}")

    # The same session resumed by a new client object after the old one died without closing.
    eph2 = call("ephemeral", zk.create_async(f"{base}/eph2", b"", ephemeral=True))
    abandon(zk)
    again = client(s.hosts(), client_id=new)
    check(again.client_id[0] == new[0], f"a new client given session {sid(new)} resumed it, got {sid(again.client_id)}")
    ephemeral_of(again, eph2, new, "resumed by a new client object")
    slow2 = writes_go_on(again, base, "resumed-by-id")
    return (f"restart(): new session {sid(new)}, old ephemeral gone, 8 writes + sync + getData answered "
            f"(slowest {slow} ms); a new KazooClient(client_id=...) resumed {sid(new)} (slowest {slow2} ms)")


def check_d_watches(s, setup, ensemble):
    """Kazoo 2.11 does not send setWatches: on a lost connection it fires every one-shot watch
    once with a NONE event and forgets it, and its DataWatch / ChildrenWatch recipes set their
    watches again once connected. Both are checked: the one-shot watches get their NONE event and,
    set again on the resumed session, fire on the next change; the recipes report the changes a
    second client makes after the reconnect."""
    base = "/rc/d"
    call("create", setup.create_async(base, b"0"))
    zk = client(s.hosts())
    session = zk.client_id
    raw = {"data": [], "child": []}
    seen = {"data": [], "child": []}
    lock = threading.Lock()

    def raw_watcher(kind):
        def watcher(event):
            with lock:
                raw[kind].append(event)
        return watcher

    def count(d, kind):
        with lock:
            return len(d[kind])

    data, _ = call(f"getData {base} with a watch", zk.get_async(base, watch=raw_watcher("data")))
    check(data == b"0", f"{base} reads {data!r}")
    kids = call(f"getChildren {base} with a watch", zk.get_children_async(base, watch=raw_watcher("child")))
    check(kids == [], f"{base} has no children yet, got {kids}")

    def on_data(data, stat):
        with lock:
            seen["data"].append(data)

    def on_children(children):
        with lock:
            seen["child"].append(sorted(children))

    bounded("DataWatch", lambda: zk.DataWatch(base, on_data), CALL_S)
    bounded("ChildrenWatch", lambda: zk.ChildrenWatch(base, on_children), CALL_S)
    wait_until("the recipes' first calls", lambda: count(seen, "data") == 1 and count(seen, "child") == 1, CALL_S)
    before = s.member_of(zk)
    if ensemble:
        how = "a broken connection"
        blip(zk)
    else:
        how = "kill -9 and restart of the server"
        s.kill(0)
        s.start(0)
        s.wait_serving("the restarted server to serve")
    reconnected(zk, session, f"watches set, then {how}")
    after = s.member_of(zk)
    wait_until("Kazoo's NONE event to the one-shot watches",
               lambda: count(raw, "data") == 1 and count(raw, "child") == 1, CALL_S)
    with lock:
        none = raw["data"] + raw["child"]
    check(all(e.type == EventType.NONE for e in none), f"the one-shot watches got NONE events, got {none}")
    # The one-shot watches set again on the resumed session.
    data, _ = call(f"getData {base} with a watch", zk.get_async(base, watch=raw_watcher("data")))
    kids = call(f"getChildren {base} with a watch", zk.get_children_async(base, watch=raw_watcher("child")))
    check(data == b"0" and kids == [], f"the resumed session reads {data!r}, {kids}")
    time.sleep(0.3)
    with lock:
        check(seen == {"data": [b"0"], "child": [[]]} and len(raw["data"]) == 1 and len(raw["child"]) == 1,
              f"nothing fires before the node changes: recipes saw {seen}, one-shot watches {raw}")
    other = client(s.hosts())
    call(f"setData {base}", other.set_async(base, b"1"))
    call(f"create {base}/kid", other.create_async(f"{base}/kid", b""))
    wait_until("the one-shot data and child watches set on the resumed session to fire",
               lambda: count(raw, "data") == 2 and count(raw, "child") == 2, CALL_S)
    wait_until("the DataWatch and ChildrenWatch set before the reconnect to report the change",
               lambda: count(seen, "data") == 2 and count(seen, "child") == 2, CALL_S)
    with lock:
        d, c = raw["data"][1], raw["child"][1]
        check(d.type == EventType.CHANGED and d.path == base, f"data watch event {d}")
        check(c.type == EventType.CHILD and c.path == base, f"child watch event {c}")
        check(seen["data"][1] == b"1" and seen["child"][1] == ["kid"], f"the recipes saw {seen}")
    call(f"setData {base} again", other.set_async(base, b"2"))
    wait_until("the DataWatch to report the second change", lambda: count(seen, "data") == 3, CALL_S)
    time.sleep(0.3)
    with lock:
        check(seen["data"][2] == b"2", f"the DataWatch saw {seen['data']}")
        check(len(raw["data"]) == 2 and len(raw["child"]) == 2,
              f"each one-shot watch fired once: {raw}")
    # The resumed session's own write, and its DataWatch reporting it.
    stat = call(f"setData {base} by the resumed session", zk.set_async(base, b"3"))
    check(stat.version == 3, f"{base} at version {stat.version} after three sets, expected 3")
    wait_until("the DataWatch to report the resumed session's own write", lambda: count(seen, "data") == 4, CALL_S)
    with lock:
        check(seen["data"][3] == b"3", f"the DataWatch saw {seen['data']}")
    check(zk.client_id[0] == session[0], "the events came to the resumed session")
    moved = f", moved from member {before + 1} to {after + 1}" if ensemble and before != after else ""
    return (f"after {how}{moved}: one-shot watches got Kazoo's NONE event, set again they fired CHANGED and CHILD; "
            f"DataWatch and ChildrenWatch set before reported the changes, all on session {sid(session)}")


def check_e_lock(s, setup, ensemble):
    base = "/rc/e"
    holder_zk = client(s.hosts(s.follower_first()), randomize=False) if ensemble else client(s.hosts())
    session = holder_zk.client_id
    other = client(s.hosts())
    holder = Lock(holder_zk, base, "holder")
    contender = Lock(other, base, "contender")
    check(bounded("the holder's acquire", lambda: holder.acquire(timeout=CALL_S), CALL_S + 2),
          "the holder got the free lock")
    result = {}
    got = threading.Event()

    def contend():
        try:
            result["got"] = contender.acquire(timeout=40)
        except LockTimeout:
            result["got"] = False
        except Exception as e:
            result["error"] = repr(e)
        got.set()

    threading.Thread(target=contend, daemon=True).start()
    wait_until("the contender to queue for the lock",
               lambda: len(call(f"getChildren {base}", setup.get_children_async(base))) == 2, 10)
    victim = s.member_of(holder_zk)
    if ensemble:
        how = f"member {victim + 1} ({s.modes()[victim]}) under the holder killed"
        s.kill(victim)
    else:
        how = "the server killed with -9 and restarted"
        s.kill(0)
        s.start(0)
        s.wait_serving("the restarted server to serve")
    reconnected(holder_zk, session, f"lock held, {how}")
    time.sleep(1.0)
    check(not got.is_set(), f"the contender took the lock while its holder's session lived ({result})")
    kids = call(f"getChildren {base}", holder_zk.get_children_async(base))
    check(len(kids) == 2, f"both lock nodes are there after the reconnect: {kids}")
    bounded("the holder's release", holder.release, CALL_S)
    check(got.wait(15), "the contender got the lock within 15 s of its release")
    check(result.get("got") is True, f"the contender's acquire returned {result}")
    kids = call(f"getChildren {base}", other.get_children_async(base))
    check(len(kids) == 1, f"one lock node, the contender's, after the release: {kids}")
    bounded("the contender's release", contender.release, CALL_S)
    if ensemble:
        s.start(victim)
        s.wait_serving(f"member {victim + 1} to rejoin")
    return f"a lock held by session {sid(session)} across {how} kept out the contender until released"


def check_a_ensemble_member(s, setup):
    base = "/rc/a1"
    call("create", setup.create_async(base, b""))
    order = s.follower_first()
    zk = client(s.hosts(order), randomize=False)
    session = zk.client_id
    eph = call("ephemeral", zk.create_async(f"{base}/eph", b"", ephemeral=True))
    writes_go_on(zk, base, "before")
    victim = s.member_of(zk)
    check(victim == order[0], f"the client is on member {order[0] + 1}, a follower")
    role = s.modes()[victim]
    s.kill(victim)
    reconnected(zk, session, f"member {victim + 1} ({role}) killed")
    slow = writes_go_on(zk, base, "after-kill")
    ephemeral_of(zk, eph, session, f"member {victim + 1} killed")
    through = s.member_of(zk)
    s.start(victim)
    s.wait_serving(f"member {victim + 1} to rejoin")
    # Steer the client back onto the restarted member (Kazoo moves to the next host on each break).
    for _ in range(8):
        if s.member_of(zk) == victim:
            break
        blip(zk)
        reconnected(zk, session, "steering the client back")
    check(s.member_of(zk) == victim, f"the client reached the restarted member {victim + 1}")
    call("sync", zk.sync_async(base))
    data, _ = call(f"getData {base}", zk.get_async(base))
    check(data == b"after-kill", f"the restarted member reads {base} as {data!r}")
    ephemeral_of(zk, eph, session, f"on the restarted member {victim + 1}")
    slow2 = writes_go_on(zk, base, "on-restarted")
    return (f"member {victim + 1} ({role}) killed: session {sid(session)} went on through member {through + 1} "
            f"(slowest {slow} ms), then on the restarted member {victim + 1} (slowest {slow2} ms)")


def check_a_ensemble_leader(s, setup):
    base = "/rc/a2"
    call("create", setup.create_async(base, b""))
    leader = s.leader()
    check(leader is not None, f"a leader: {s.modes()}")
    order = [leader] + [i for i in range(len(s.ports)) if i != leader]
    zk = client(s.hosts(order), randomize=False)
    check(s.member_of(zk) == leader, "the client is on the leader")
    session = zk.client_id
    eph = call("ephemeral", zk.create_async(f"{base}/eph", b"", ephemeral=True))
    writes_go_on(zk, base, "before")
    s.kill(leader)
    t = time.monotonic()
    reconnected(zk, session, f"the leader, member {leader + 1}, killed")
    slow = writes_go_on(zk, base, "after-leader-kill")
    back = time.monotonic() - t
    ephemeral_of(zk, eph, session, "the leader killed")
    new_leader = s.leader()
    s.start(leader)
    s.wait_serving(f"member {leader + 1} to rejoin")
    return (f"the leader (member {leader + 1}) killed under session {sid(session)}: resumed via member "
            f"{s.member_of(zk) + 1} (new leader member {new_leader + 1 if new_leader is not None else '?'}), "
            f"writes answered {back:.2f} s after the kill (slowest call {slow} ms)")


def check_c_moved(s, setup):
    base = "/rc/c"
    call("create", setup.create_async(base, b""))
    leader = s.leader()
    check(leader is not None, f"a leader: {s.modes()}")
    followers = [i for i in range(len(s.ports)) if i != leader]
    first, second, third = leader, followers[0], followers[1]
    zk = client(s.hosts([first]))
    session = zk.client_id
    eph = call("ephemeral", zk.create_async(f"{base}/eph", b"", ephemeral=True))
    writes_go_on(zk, base, "on-first")
    # Kazoo's stop() would send closeSession; an application that died keeps its session open.
    abandon(zk)
    moved = client(s.hosts([second]), client_id=session)
    check(moved.client_id[0] == session[0], f"the session {sid(session)} moved, got {sid(moved.client_id)}")
    check(s.member_of(moved) == second, f"the moved client is on member {second + 1}")
    ephemeral_of(moved, eph, session, "moved to another member")
    slow = writes_go_on(moved, base, "moved")
    watcher = client(s.hosts([third]))
    call("sync", watcher.sync_async(base))
    ephemeral_of(watcher, eph, session, "seen from the third member")
    timeout_s = 20 * TICK_MS / 1000.0  # the negotiated timeout: Kazoo asks 10 s, the maximum is 20 ticks
    time.sleep(timeout_s + 1.0)
    ephemeral_of(watcher, eph, session, f"{timeout_s + 1:.1f} s after the move")
    writes_go_on(moved, base, "moved-later", count=2)
    return (f"session {sid(session)} moved from member {first + 1} (leader) to member {second + 1}: ephemeral kept "
            f"(seen from member {third + 1}), writes answered (slowest {slow} ms), alive {timeout_s + 1:.1f} s later")


def run(binary, ensemble, keep_going, tmp):
    n = 3 if ensemble else 1
    s = Servers(binary, n, tmp)
    failures = []
    try:
        for i in range(n):
            s.start(i)
        CURRENT[0] = "startup"
        s.wait_serving("a leader with two followers" if ensemble else "the server to serve")
        setup = client(s.hosts())
        call("create /rc", setup.create_async("/rc", b""))
        if ensemble:
            checks = [
                ("a1 member under the client killed and restarted", lambda: check_a_ensemble_member(s, setup)),
                ("a2 leader under the client killed", lambda: check_a_ensemble_leader(s, setup)),
                ("b  client.restart(), then a session resumed by id", lambda: check_b_restart(s, setup)),
                ("c  session moved by hand to another member", lambda: check_c_moved(s, setup)),
                ("d  watches across a reconnect", lambda: check_d_watches(s, setup, True)),
                ("e  lock held across a reconnect", lambda: check_e_lock(s, setup, True)),
            ]
        else:
            checks = [
                ("a1 connection broken, server running", lambda: check_a_standalone_blip(s, setup)),
                ("a2 server killed with -9 and restarted", lambda: check_a_standalone_restart(s, setup)),
                ("b  client.restart(), then a session resumed by id", lambda: check_b_restart(s, setup)),
                ("d  watches across a server restart", lambda: check_d_watches(s, setup, False)),
                ("e  lock held across a server restart", lambda: check_e_lock(s, setup, False)),
            ]
        for name, fn in checks:
            CURRENT[0] = name
            t = time.monotonic()
            try:
                details = fn()
            except Failure as e:
                msg = f"{name}: {e} (after {time.monotonic() - t:.1f} s)"
                print(f"kazoo reconnect: FAIL {msg}", file=sys.stderr, flush=True)
                failures.append(msg)
                if not keep_going:
                    break
                # Every member up again for the next check.
                for i in range(n):
                    if s.procs[i] is None:
                        s.start(i)
                try:
                    s.wait_serving("every member to serve again")
                except Failure as e2:
                    failures.append(str(e2))
                    break
                continue
            ok(name, f"{details} ({time.monotonic() - t:.1f} s)")
    except Failure as e:
        failures.append(f"{CURRENT[0]}: {e}")
        print(f"kazoo reconnect: FAIL {CURRENT[0]}: {e}", file=sys.stderr, flush=True)
    finally:
        stop_clients()
        stop_servers()
    return failures


def stop_clients():
    threads = []
    for zk in CLIENTS:
        t = threading.Thread(target=lambda zk=zk: (zk.stop(), zk.close()), daemon=True)
        t.start()
        threads.append(t)
    deadline = time.monotonic() + 15
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    CLIENTS.clear()


def stop_servers():
    for p in STARTED:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for p in STARTED:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def main():
    args = sys.argv[1:]
    if not args or args[0].startswith("-"):
        raise SystemExit(__doc__)
    binary = os.path.abspath(args[0])
    ensemble = "--ensemble" in args[1:]
    keep_going = "--keep-going" in args[1:]
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"kazoo reconnect: {binary} is not an executable")
    logging.basicConfig(level=logging.CRITICAL)  # Kazoo logs every reconnect as a warning
    tmp = tempfile.mkdtemp(prefix="zabkeeper-kazoo-reconnect-")
    topology = "3-process ensemble" if ensemble else "standalone"
    limit = RUN_S_KEEP_GOING if keep_going else RUN_S

    def watchdog():
        time.sleep(limit)
        print(f"kazoo reconnect: FAIL the run took over {limit} s (during {CURRENT[0]}); server logs in {tmp}",
              file=sys.stderr, flush=True)
        for p in STARTED:
            if p.poll() is None:
                p.kill()
        os._exit(1)

    threading.Thread(target=watchdog, daemon=True).start()
    failures = run(binary, ensemble, keep_going, tmp)
    if failures:
        print(f"kazoo reconnect: {len(failures)} check(s) failed ({topology}); server logs in {tmp}:",
              file=sys.stderr)
        for f in failures:
            print(f"  {f}", file=sys.stderr)
        sys.exit(1)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"kazoo reconnect: all checks passed ({topology})")


if __name__ == "__main__":
    main()
