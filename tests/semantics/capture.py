#!/usr/bin/env python3
"""Replay script.json against a live ZooKeeper server and write what it answered.

A raw-socket client with its own jute encoding, so every opcode is exactly the one
the step asks for and nothing else is sent: no watches, no pings, no auth packets,
no setWatches. Steps run strictly one at a time (send, then wait for the reply), so
the zxids the server hands out depend only on the script.

Usage:
  capture.py --port 22181 --script script.json --out expected.json [--trace FILE]
  capture.py --port 22181 --wait 60      # only wait until the server serves
"""

import argparse
import json
import socket
import struct
import sys
import time

SESSION_TIMEOUT_MS = 30000
IO_TIMEOUT_S = 10.0
FRAME_MAX = 0xFFFFF + 1024

OP = {
    "create": 1,
    "delete": 2,
    "exists": 3,
    "getData": 4,
    "setData": 5,
    "getACL": 6,
    "setACL": 7,
    "getChildren2": 12,
    "check": 13,
    "multi": 14,
    "create2": 15,
    "createContainer": 19,
    "createTTL": 21,
    "getEphemerals": 103,
    "getAllChildrenNumber": 104,
    "closeSession": -11,
}

MODE_FLAGS = {
    "persistent": 0,
    "ephemeral": 1,
    "persistent_sequential": 2,
    "ephemeral_sequential": 3,
    "container": 4,
    "persistent_ttl": 5,
    "persistent_sequential_ttl": 6,
}

OPEN_ACL = [{"perms": 31, "scheme": "world", "id": "anyone"}]


class CaptureError(Exception):
    pass


# ---------------------------------------------------------------- jute encoding

class Writer:
    def __init__(self):
        self.parts = []

    def int(self, v):
        self.parts.append(struct.pack(">i", v))

    def long(self, v):
        self.parts.append(struct.pack(">q", v))

    def bool(self, v):
        self.parts.append(b"\x01" if v else b"\x00")

    def buffer(self, b):
        if b is None:
            self.int(-1)
        else:
            self.int(len(b))
            self.parts.append(b)

    def string(self, s):
        self.buffer(None if s is None else s.encode("utf-8"))

    def acl_list(self, acl):
        self.int(len(acl))
        for entry in acl:
            self.int(entry["perms"])
            self.string(entry["scheme"])
            self.string(entry["id"])

    def bytes(self):
        return b"".join(self.parts)


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def _take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise CaptureError("short reply: need %d bytes at %d of %d" % (n, self.pos, len(self.data)))
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def int(self):
        return struct.unpack(">i", self._take(4))[0]

    def long(self):
        return struct.unpack(">q", self._take(8))[0]

    def bool(self):
        return self._take(1) != b"\x00"

    def buffer(self):
        n = self.int()
        if n == -1:
            return None
        return self._take(n)

    def string(self):
        b = self.buffer()
        return None if b is None else b.decode("utf-8")

    def done(self):
        if self.pos != len(self.data):
            raise CaptureError("%d unread bytes in reply" % (len(self.data) - self.pos))


def data_bytes(step):
    d = step.get("data")
    return None if d is None else d.encode("utf-8")


# ---------------------------------------------------------------- sessions

class Session:
    def __init__(self, name, port):
        self.name = name
        self.xid = 0
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
        self.sock.settimeout(IO_TIMEOUT_S)
        w = Writer()
        w.int(0)                    # protocolVersion
        w.long(0)                   # lastZxidSeen
        w.int(SESSION_TIMEOUT_MS)   # timeOut
        w.long(0)                   # sessionId
        w.buffer(b"\x00" * 16)      # passwd
        w.bool(False)               # readOnly
        self._send(w.bytes())
        r = Reader(self._recv_frame())
        r.int()                     # protocolVersion
        timeout = r.int()
        self.id = r.long()
        r.buffer()                  # passwd
        r.bool()                    # readOnly
        r.done()
        if self.id == 0 or timeout == 0:
            raise CaptureError("session %s refused" % name)
        self.open = True

    def _send(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def _recv_exact(self, n):
        chunks = []
        while n > 0:
            c = self.sock.recv(n)
            if not c:
                raise CaptureError("session %s: connection closed by server" % self.name)
            chunks.append(c)
            n -= len(c)
        return b"".join(chunks)

    def _recv_frame(self):
        (n,) = struct.unpack(">i", self._recv_exact(4))
        if n < 0 or n > FRAME_MAX:
            raise CaptureError("bad frame length %d" % n)
        return self._recv_exact(n)

    def call(self, opcode, body):
        """Send one request; return (zxid, err, Reader over the reply body)."""
        self.xid += 1
        w = Writer()
        w.int(self.xid)
        w.int(opcode)
        self._send(w.bytes() + body)
        for _ in range(100):        # skip stray notifications / pings, bounded
            r = Reader(self._recv_frame())
            xid = r.int()
            zxid = r.long()
            err = r.int()
            if xid in (-1, -2):
                sys.stderr.write("warning: unexpected xid %d on session %s\n" % (xid, self.name))
                continue
            if xid != self.xid:
                raise CaptureError("xid mismatch: sent %d got %d" % (self.xid, xid))
            return zxid, err, r
        raise CaptureError("no reply")

    def close_socket(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.open = False


# ---------------------------------------------------------------- decoding

class Ctx:
    def __init__(self, port):
        self.port = port
        self.sessions = {}
        self.names_by_id = {}

    def session(self, name):
        s = self.sessions.get(name)
        if s is None or not s.open:
            raise CaptureError("session %r is not open" % name)
        return s

    def open_session(self, name):
        if name in self.sessions:
            raise CaptureError("session %r opened twice" % name)
        s = Session(name, self.port)
        self.sessions[name] = s
        self.names_by_id[s.id] = name
        return s

    def stat(self, r):
        czxid, mzxid = r.long(), r.long()
        r.long()  # ctime, omitted
        r.long()  # mtime, omitted
        version, cversion, aversion = r.int(), r.int(), r.int()
        owner = r.long()
        data_length, num_children = r.int(), r.int()
        pzxid = r.long()
        return {
            "czxid": czxid,
            "mzxid": mzxid,
            "pzxid": pzxid,
            "version": version,
            "cversion": cversion,
            "aversion": aversion,
            "ephemeralOwner": self.names_by_id.get(owner, owner),
            "dataLength": data_length,
            "numChildren": num_children,
        }


def read_data(r):
    b = r.buffer()
    return None if b is None else b.decode("utf-8")


def read_acl(r):
    n = r.int()
    out = []
    for _ in range(max(n, 0)):
        perms = r.int()
        scheme = r.string()
        ident = r.string()
        out.append({"perms": perms, "scheme": scheme, "id": ident})
    return out


def read_strings(r):
    n = r.int()
    return [r.string() for _ in range(max(n, 0))]


def create_opcode(step, default):
    mode = step.get("mode", "persistent")
    if mode == "container":
        return OP["createContainer"]
    if mode in ("persistent_ttl", "persistent_sequential_ttl"):
        return OP["createTTL"]
    return default


def encode_create(w, step, opcode):
    w.string(step["path"])
    w.buffer(data_bytes(step))
    w.acl_list(step.get("acl", OPEN_ACL))
    w.int(MODE_FLAGS[step.get("mode", "persistent")])
    if opcode == OP["createTTL"]:
        w.long(step.get("ttl", 0))


def encode_path_version(w, step):
    w.string(step["path"])
    w.int(step.get("version", -1))


def encode_sub(w, sub):
    """One multi sub-op: returns its opcode after writing its record."""
    kind = sub["op"]
    if kind in ("create", "create2"):
        opcode = create_opcode(sub, OP[kind])
        encode_create(w, sub, opcode)
    elif kind == "delete":
        opcode = OP["delete"]
        encode_path_version(w, sub)
    elif kind == "set":
        opcode = OP["setData"]
        w.string(sub["path"])
        w.buffer(data_bytes(sub))
        w.int(sub.get("version", -1))
    elif kind == "check":
        opcode = OP["check"]
        encode_path_version(w, sub)
    else:
        raise CaptureError("unknown multi op %r" % kind)
    return opcode


def decode_multi(ctx, r):
    results = []
    for _ in range(100000):
        typ, done, err = r.int(), r.bool(), r.int()
        if done:
            return results
        if typ == OP["create"]:
            results.append({"op": "create", "path": r.string()})
        elif typ == OP["create2"]:
            path = r.string()
            results.append({"op": "create2", "path": path, "stat": ctx.stat(r)})
        elif typ == OP["delete"]:
            results.append({"op": "delete"})
        elif typ == OP["setData"]:
            results.append({"op": "set", "stat": ctx.stat(r)})
        elif typ == OP["check"]:
            results.append({"op": "check"})
        elif typ == -1:
            results.append({"err": r.int()})
        else:
            raise CaptureError("unknown multi result type %d (err %d)" % (typ, err))
    raise CaptureError("unterminated multi reply")


# ---------------------------------------------------------------- steps

def run_step(ctx, step):
    """Run one step; return (result, reply zxid or None)."""
    kind = step["op"]
    name = step.get("session", "a")
    if kind == "note":
        return None, None
    if kind == "open_session":
        ctx.open_session(name)
        return {"ok": None}, None
    s = ctx.session(name)
    w = Writer()

    if kind == "close_session":
        zxid, err, r = s.call(OP["closeSession"], b"")
        s.close_socket()
        return ({"err": err} if err else {"ok": None}), zxid

    if kind == "create":
        opcode = create_opcode(step, OP["create2"])
        encode_create(w, step, opcode)
        decode = lambda r: {"path": r.string(), "stat": ctx.stat(r)}
    elif kind == "delete":
        opcode = OP["delete"]
        encode_path_version(w, step)
        decode = lambda r: None
    elif kind == "set":
        opcode = OP["setData"]
        w.string(step["path"])
        w.buffer(data_bytes(step))
        w.int(step.get("version", -1))
        decode = lambda r: {"stat": ctx.stat(r)}
    elif kind == "get":
        opcode = OP["getData"]
        w.string(step["path"])
        w.bool(False)
        decode = lambda r: {"data": read_data(r), "stat": ctx.stat(r)}
    elif kind == "exists":
        opcode = OP["exists"]
        w.string(step["path"])
        w.bool(False)
        decode = lambda r: {"stat": ctx.stat(r)}
    elif kind == "children":
        opcode = OP["getChildren2"]
        w.string(step["path"])
        w.bool(False)
        decode = lambda r: {"children": sorted(read_strings(r)), "stat": ctx.stat(r)}
    elif kind == "all_children_number":
        opcode = OP["getAllChildrenNumber"]
        w.string(step["path"])
        decode = lambda r: {"number": r.int()}
    elif kind == "ephemerals":
        opcode = OP["getEphemerals"]
        w.string(step["prefix"])
        decode = lambda r: {"paths": sorted(read_strings(r))}
    elif kind == "get_acl":
        opcode = OP["getACL"]
        w.string(step["path"])
        decode = lambda r: {"acl": read_acl(r), "stat": ctx.stat(r)}
    elif kind == "set_acl":
        opcode = OP["setACL"]
        w.string(step["path"])
        w.acl_list(step["acl"])
        w.int(step.get("version", -1))
        decode = lambda r: {"stat": ctx.stat(r)}
    elif kind == "check":
        opcode = OP["check"]
        encode_path_version(w, step)
        decode = lambda r: None
    elif kind == "multi":
        opcode = OP["multi"]
        for sub in step["ops"]:
            sw = Writer()
            sub_opcode = encode_sub(sw, sub)
            w.int(sub_opcode)
            w.bool(False)
            w.int(-1)
            w.parts.append(sw.bytes())
        w.int(-1)
        w.bool(True)
        w.int(-1)
        decode = lambda r: {"results": decode_multi(ctx, r)}
    else:
        raise CaptureError("unknown op %r" % kind)

    zxid, err, r = s.call(opcode, w.bytes())
    if err != 0:
        r.done()  # an error reply carries no body
        return {"err": err}, zxid
    result = decode(r)
    r.done()
    return {"ok": result}, zxid


# ---------------------------------------------------------------- main

def wait_until_serving(port, seconds):
    """Poll the srvr four-letter word (it creates no session and no txn)."""
    deadline = time.monotonic() + seconds
    last = ""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
                c.settimeout(2)
                c.sendall(b"srvr")
                buf = b""
                while True:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                last = buf.decode("utf-8", "replace")
                if "Zxid:" in last and "Mode:" in last:
                    return last
        except OSError as e:
            last = str(e)
        time.sleep(0.3)
    raise CaptureError("server on port %d not serving after %ss: %s" % (port, seconds, last.strip()))


def dump_results(results):
    """A JSON array with one result per line, so that diffs point at steps."""
    lines = [json.dumps(x, ensure_ascii=True, sort_keys=False) for x in results]
    return "[\n" + ",\n".join(lines) + "\n]\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--script")
    ap.add_argument("--out")
    ap.add_argument("--trace", help="also write step, reply zxid and result per line here")
    ap.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the server")
    args = ap.parse_args()

    banner = wait_until_serving(args.port, args.wait)
    version = banner.splitlines()[0] if banner else ""
    if "3.8." not in version:
        raise CaptureError("not a 3.8 server: %r" % version)
    if not args.script:
        print(version)
        return

    with open(args.script, encoding="utf-8") as f:
        script = json.load(f)
    ctx = Ctx(args.port)
    results = []
    trace = []
    ctx.open_session("a")
    for i, step in enumerate(script):
        try:
            result, zxid = run_step(ctx, step)
        except CaptureError as e:
            raise CaptureError("step %d %s: %s" % (i, json.dumps(step), e))
        results.append(result)
        trace.append("%d\t%s\t%s\t%s" % (i, "-" if zxid is None else "0x%x" % zxid,
                                          json.dumps(step), json.dumps(result)))
    for s in ctx.sessions.values():     # tidy up: after the script, so no effect on it
        if s.open:
            try:
                s.call(OP["closeSession"], b"")
            except (CaptureError, OSError):
                pass
            s.close_socket()

    if len(results) != len(script):
        raise CaptureError("result count mismatch")
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(dump_results(results))
    if args.trace:
        with open(args.trace, "w", encoding="utf-8") as f:
            f.write("# server: %s\n" % version)
            f.write("\n".join(trace) + "\n")
    print("captured %d steps from %s" % (len(results), version))


if __name__ == "__main__":
    try:
        main()
    except (CaptureError, OSError) as e:
        sys.stderr.write("capture.py: %s\n" % e)
        sys.exit(1)
