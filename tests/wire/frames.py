#!/usr/bin/env python3
"""Split and decode the golden wire streams in tests/wire/golden/.

Every non-4lw fixture must split into whole length-prefixed frames in both
directions; every frame is decoded with the jute layouts of ZooKeeper 3.8 and
must be consumed exactly; replies are matched to requests by xid (FIFO for
ordinary xids, -2 ping, -4 auth, -8 setWatches; -1 are notifications).

    python3 tests/wire/frames.py [--table] [--verbose] [FILES...]

Exit status 1 if any stream fails to split or decode.
"""
import glob
import json
import os
import struct
import sys

OPNAMES = {
    0: "notification", 1: "create", 2: "delete", 3: "exists", 4: "getData", 5: "setData",
    6: "getACL", 7: "setACL", 8: "getChildren", 9: "sync", 11: "ping", 12: "getChildren2",
    13: "check", 14: "multi", 15: "create2", 16: "reconfig", 17: "checkWatches",
    18: "removeWatches", 19: "createContainer", 20: "deleteContainer", 21: "createTTL",
    22: "multiRead", 100: "auth", 101: "setWatches", 102: "sasl", 103: "getEphemerals",
    104: "getAllChildrenNumber", 105: "setWatches2", 106: "addWatch", 107: "whoAmI",
    -10: "createSession", -11: "closeSession", -1: "error",
}


class DecodeError(Exception):
    pass


class Reader:
    def __init__(self, b):
        self.b = b
        self.i = 0

    def take(self, n):
        if n < 0 or self.i + n > len(self.b):
            raise DecodeError("short read: want %d at %d of %d" % (n, self.i, len(self.b)))
        v = self.b[self.i:self.i + n]
        self.i += n
        return v

    def int(self):
        return struct.unpack(">i", self.take(4))[0]

    def long(self):
        return struct.unpack(">q", self.take(8))[0]

    def bool(self):
        v = self.take(1)[0]
        if v not in (0, 1):
            raise DecodeError("bad boolean %d" % v)
        return bool(v)

    def buffer(self):
        n = self.int()
        if n == -1:
            return None
        return self.take(n)

    def ustring(self):
        b = self.buffer()
        return None if b is None else b.decode("utf-8")

    def vector(self, fn):
        n = self.int()
        if n == -1:
            return None
        return [fn() for _ in range(n)]

    def stat(self):
        keys = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
                "ephemeralOwner", "dataLength", "numChildren", "pzxid")
        fmts = "qqqqiiiqiiq"
        return {k: (self.long() if f == "q" else self.int()) for k, f in zip(keys, fmts)}

    def acl(self):
        return {"perms": self.int(), "scheme": self.ustring(), "id": self.ustring()}

    def left(self):
        return len(self.b) - self.i

    def done(self, what):
        if self.left():
            raise DecodeError("%s: %d trailing bytes" % (what, self.left()))


def split_frames(data):
    """Return (frames, trailing_bytes)."""
    out = []
    i = 0
    while i + 4 <= len(data):
        n = struct.unpack(">i", data[i:i + 4])[0]
        if n < 0 or i + 4 + n > len(data):
            break
        out.append(data[i + 4:i + 4 + n])
        i += 4 + n
    return out, data[i:]


def req_body(op, r):
    if op in (1, 15, 19, 21):
        d = {"path": r.ustring(), "data": r.buffer(), "acl": r.vector(r.acl), "flags": r.int()}
        if op == 21:
            d["ttl"] = r.long()
        return d
    if op in (2, 13):
        return {"path": r.ustring(), "version": r.int()}
    if op in (3, 4, 8, 12):
        return {"path": r.ustring(), "watch": r.bool()}
    if op == 5:
        return {"path": r.ustring(), "data": r.buffer(), "version": r.int()}
    if op in (6, 9, 103, 104):
        return {"path": r.ustring()}
    if op == 7:
        return {"path": r.ustring(), "acl": r.vector(r.acl), "version": r.int()}
    if op in (11, 107, -11):
        return {}
    if op in (14, 22):
        ops = []
        while True:
            t, done, err = r.int(), r.bool(), r.int()
            if done:
                if (t, err) != (-1, -1):
                    raise DecodeError("bad multi terminator %d/%d" % (t, err))
                break
            ops.append({"type": t, **req_body(t, r)})
        return {"ops": ops}
    if op == 16:
        return {"joining": r.ustring(), "leaving": r.ustring(), "newMembers": r.ustring(),
                "curConfigId": r.long()}
    if op in (17, 18, 106):
        return {"path": r.ustring(), "type" if op != 106 else "mode": r.int()}
    if op == 100:
        return {"type": r.int(), "scheme": r.ustring(), "auth": r.buffer()}
    if op in (101, 105):
        d = {"relativeZxid": r.long(), "data": r.vector(r.ustring),
             "exist": r.vector(r.ustring), "child": r.vector(r.ustring)}
        if op == 105:
            d["persistent"] = r.vector(r.ustring)
            d["persistentRecursive"] = r.vector(r.ustring)
        return d
    if op == 102:
        return {"token": r.buffer()}
    # unknown opcode: opaque body
    return {"opaque": r.take(r.left()).hex()}


def reply_body(op, r):
    if op == 1:
        return {"path": r.ustring()}
    if op in (15, 19, 21):
        return {"path": r.ustring(), "stat": r.stat()}
    if op in (2, 11, 13, 17, 18, 100, 101, 105, -11):
        return {}
    if op in (3, 5, 7):
        return {"stat": r.stat()}
    if op in (4, 16):
        return {"data": r.buffer(), "stat": r.stat()}
    if op == 6:
        return {"acl": r.vector(r.acl), "stat": r.stat()}
    if op == 8:
        return {"children": r.vector(r.ustring)}
    if op == 12:
        return {"children": r.vector(r.ustring), "stat": r.stat()}
    if op == 9:
        return {"path": r.ustring()}
    if op == 102:
        return {"token": r.buffer()}
    if op == 103:
        return {"ephemerals": r.vector(r.ustring)}
    if op in (104, 106):
        return {"int": r.int()}
    if op == 107:
        return {"clientInfo": r.vector(lambda: (r.ustring(), r.ustring()))}
    if op in (14, 22):
        res = []
        while True:
            t, done, err = r.int(), r.bool(), r.int()
            if done:
                if (t, err) != (-1, -1):
                    raise DecodeError("bad multi reply terminator %d/%d" % (t, err))
                break
            if t == -1:
                res.append({"type": -1, "err": r.int()})
            else:
                res.append({"type": t, **reply_body(t, r)})
        return {"results": res}
    raise DecodeError("no reply layout for op %d" % op)


def is_4lw(c2s):
    return len(c2s) == 4 and c2s.isalpha() and c2s.islower()


def decode(c2s, s2c):
    """Decode one connection. Returns a dict with request/reply lists, the
    opcodes sent, the special xids seen and a list of errors."""
    errors = []
    res = {"requests": [], "replies": [], "ops": [], "xids": set(), "errors": errors,
           "unanswered": []}
    cframes, ctrail = split_frames(c2s)
    sframes, strail = split_frames(s2c)
    if ctrail:
        errors.append("c2s: %d trailing bytes after %d frames" % (len(ctrail), len(cframes)))
    if strail:
        errors.append("s2c: %d trailing bytes after %d frames" % (len(strail), len(sframes)))
    if not cframes:
        errors.append("no client frames")
        return res
    # ConnectRequest
    try:
        r = Reader(cframes[0])
        cr = {"protocolVersion": r.int(), "lastZxidSeen": r.long(), "timeOut": r.int(),
              "sessionId": r.long(), "passwd": r.buffer()}
        if r.left() == 1:
            cr["readOnly"] = r.bool()
        r.done("ConnectRequest")
        res["connect"] = cr
        res["connect_len"] = len(cframes[0])
    except DecodeError as e:
        errors.append("ConnectRequest: %s" % e)
    pending = []   # (xid, op) in send order
    for f in cframes[1:]:
        try:
            r = Reader(f)
            xid, op = r.int(), r.int()
            body = req_body(op, r)
            r.done("request op %d" % op)
            res["requests"].append({"xid": xid, "op": op, **body})
            res["ops"].append(op)
            if xid < 0:
                res["xids"].add(xid)
            pending.append((xid, op))
        except DecodeError as e:
            errors.append("request: %s (%s)" % (e, f.hex()[:80]))
    if sframes:
        try:
            r = Reader(sframes[0])
            cresp = {"protocolVersion": r.int(), "timeOut": r.int(), "sessionId": r.long(),
                     "passwd": r.buffer()}
            if r.left() == 1:
                cresp["readOnly"] = r.bool()
            r.done("ConnectResponse")
            res["connect_response"] = cresp
            res["connect_response_len"] = len(sframes[0])
        except DecodeError as e:
            errors.append("ConnectResponse: %s" % e)
    for f in sframes[1:]:
        try:
            r = Reader(f)
            xid, zxid, err = r.int(), r.long(), r.int()
            if xid == -1:
                ev = {"type": r.int(), "state": r.int(), "path": r.ustring()}
                r.done("notification")
                res["replies"].append({"xid": -1, "zxid": zxid, "err": err, "event": ev})
                res["xids"].add(-1)
                continue
            # match: ping replies carry xid -2 whatever xid the ping had
            idx = None
            for i, (pxid, pop) in enumerate(pending):
                if pxid == xid or (xid == -2 and pop == 11):
                    idx = i
                    break
            if idx is None:
                raise DecodeError("reply xid %d matches no pending request" % xid)
            if xid >= 0 and any(p[0] >= 0 for p in pending[:idx]):
                raise DecodeError("reply xid %d out of order (pending %s)" % (xid, pending[:idx]))
            pxid, op = pending.pop(idx)
            body = reply_body(op, r) if err == 0 else {}
            if op == 106 and err != 0:
                body = {}
            r.done("reply to op %d err %d" % (op, err))
            res["replies"].append({"xid": xid, "zxid": zxid, "err": err, "op": op, **body})
            if xid < 0:
                res["xids"].add(xid)
        except DecodeError as e:
            errors.append("reply: %s (%s)" % (e, f.hex()[:80]))
    res["unanswered"] = pending
    return res


def load(path):
    with open(path) as f:
        d = json.load(f)
    return d, bytes.fromhex(d["c2s"]), bytes.fromhex(d["s2c"])


def main(argv):
    table = "--table" in argv
    verbose = "--verbose" in argv
    files = [a for a in argv if not a.startswith("--")]
    if not files:
        here = os.path.dirname(os.path.abspath(__file__))
        files = sorted(glob.glob(os.path.join(here, "golden", "*.json")))
    bad = 0
    by_op = {}
    by_xid = {}
    by_sub = {}
    for path in files:
        name = os.path.basename(path)
        d, c2s, s2c = load(path)
        if name.startswith("4lw-"):
            ok = is_4lw(c2s) and len(s2c) > 0
            print("%-40s 4lw %r -> %d bytes of text%s" % (name, c2s.decode(), len(s2c),
                                                          "" if ok else "  ** BAD"))
            bad += not ok
            continue
        res = decode(c2s, s2c)
        ops = sorted(set(res["ops"]))
        for op in ops:
            by_op.setdefault(op, []).append(name)
        for x in sorted(res["xids"]):
            by_xid.setdefault(x, []).append(name)
        note = ""
        if res["unanswered"]:
            res["errors"].append("requests without a reply: %s" % res["unanswered"])
        for q in res["requests"]:
            if q["op"] in (14, 22):
                for sub in q["ops"]:
                    key = "%d/%d" % (q["op"], sub["type"])
                    if name not in by_sub.setdefault(key, []):
                        by_sub[key].append(name)
        cl = res.get("connect_len")
        rl = res.get("connect_response_len")
        print("%-40s connect %s/%s ops %s xids %s%s" % (
            name, cl, rl, ",".join("%d" % o for o in ops),
            ",".join(str(x) for x in sorted(res["xids"])), note))
        for e in res["errors"]:
            print("    ERROR %s" % e)
            bad += 1
        if verbose:
            for q in res["requests"]:
                print("    > %s" % q)
            for p in res["replies"]:
                print("    < %s" % p)
    if table:
        print()
        print("| opcode | name | files |")
        print("|---|---|---|")
        for op in sorted(by_op):
            print("| %d | %s | %s |" % (op, OPNAMES.get(op, "?"), ", ".join(
                f[:-5] for f in by_op[op])))
        print()
        print("| multi/sub-op | files |")
        print("|---|---|")
        for k in sorted(by_sub, key=lambda k: tuple(int(x) for x in k.split("/"))):
            print("| %s (%s) | %s |" % (k, OPNAMES.get(int(k.split("/")[1]), "?"),
                                       ", ".join(f[:-5] for f in by_sub[k])))
        print()
        print("| xid | files |")
        print("|---|---|")
        for x in sorted(by_xid):
            print("| %d | %s |" % (x, ", ".join(f[:-5] for f in by_xid[x])))
    print("%d files, %d errors" % (len(files), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
