#!/usr/bin/env python3
"""Recording TCP proxy for golden ZooKeeper wire captures.

Listens on 127.0.0.1:LISTEN, forwards every accepted connection to
127.0.0.1:UPSTREAM, and records per connection the complete client->server
and server->client byte streams (plus a chunk log with relative timestamps).

Each connection is written, when both directions have ended, to
OUT_DIR/<label>-<n>.raw.json, where <label> is the content of LABEL_FILE at
accept time (the scenario the driver is running) and <n> counts accepted
connections per label from 1.

While HOLD_FILE exists, a newly accepted connection is not connected upstream
(its bytes wait in the kernel socket buffer); this lets the driver restart the
server without the client's reconnect attempt hitting a closed port.

Loopback only. Stops on SIGTERM/SIGINT, writing still-open connections with
"incomplete": true.
"""
import argparse
import json
import os
import signal
import socket
import sys
import threading
import time

LOCK = threading.Lock()
COUNTERS = {}
OPEN = {}


def log(msg):
    sys.stderr.write("record_proxy: %s\n" % msg)
    sys.stderr.flush()


def read_label(path):
    try:
        with open(path) as f:
            label = f.read().strip()
    except OSError:
        label = ""
    return label or "unlabeled"


def write_record(out_dir, rec):
    name = "%s-%d.raw.json" % (rec["label"], rec["n"])
    tmp = os.path.join(out_dir, "." + name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(rec, f, indent=1)
    os.replace(tmp, os.path.join(out_dir, name))


class Conn:
    def __init__(self, args, client, peer):
        self.args = args
        self.client = client
        self.server = None
        self.peer = peer
        self.t0 = time.time()
        with LOCK:
            self.label = read_label(args.label_file)
            n = COUNTERS.get(self.label, 0) + 1
            COUNTERS[self.label] = n
            self.n = n
            OPEN[id(self)] = self
        self.c2s = bytearray()
        self.s2c = bytearray()
        self.chunks = []  # [t_rel, "c2s"|"s2c", hex]
        self.notes = []
        self.done = 0
        self.written = False

    def note(self, msg):
        self.notes.append([round(time.time() - self.t0, 4), msg])

    def connect_upstream(self):
        deadline = time.time() + self.args.upstream_wait
        held = False
        while time.time() < deadline:
            if os.path.exists(self.args.hold_file):
                if not held:
                    self.note("held")
                    held = True
                time.sleep(0.05)
                continue
            try:
                s = socket.create_connection(("127.0.0.1", self.args.upstream), timeout=2)
                s.settimeout(None)
                if held:
                    self.note("released")
                return s
            except OSError as e:
                self.note("upstream connect failed: %s" % e)
                time.sleep(0.1)
        return None

    def run(self):
        self.server = self.connect_upstream()
        if self.server is None:
            log("%s-%d: no upstream, dropping connection" % (self.label, self.n))
            self.note("dropped: no upstream")
            try:
                self.client.close()
            except OSError:
                pass
            self.finish(dropped=True)
            return
        for src, dst, buf, tag in ((self.client, self.server, self.c2s, "c2s"),
                                   (self.server, self.client, self.s2c, "s2c")):
            threading.Thread(target=self.pump, args=(src, dst, buf, tag), daemon=True).start()

    def pump(self, src, dst, buf, tag):
        while True:
            try:
                data = src.recv(65536)
            except OSError as e:
                self.note("%s recv error: %s" % (tag, e))
                data = b""
            if not data:
                self.note("%s eof" % tag)
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                break
            with LOCK:
                buf.extend(data)
                self.chunks.append([round(time.time() - self.t0, 4), tag, data.hex()])
            try:
                dst.sendall(data)
            except OSError as e:
                self.note("%s send error: %s" % (tag, e))
                # the receiver is gone: stop reading this direction too
                try:
                    src.shutdown(socket.SHUT_RD)
                except OSError:
                    pass
                break
        with LOCK:
            self.done += 1
            last = self.done == 2
        if last:
            for s in (self.client, self.server):
                try:
                    s.close()
                except OSError:
                    pass
            self.finish()

    def finish(self, dropped=False, incomplete=False):
        with LOCK:
            if self.written:
                return
            self.written = True
            OPEN.pop(id(self), None)
            rec = {
                "label": self.label,
                "n": self.n,
                "peer": "%s:%d" % self.peer,
                "start": self.t0,
                "duration": round(time.time() - self.t0, 4),
                "dropped": dropped,
                "incomplete": incomplete,
                "c2s": bytes(self.c2s).hex(),
                "s2c": bytes(self.s2c).hex(),
                "chunks": list(self.chunks),
                "notes": list(self.notes),
            }
        write_record(self.args.out_dir, rec)
        log("%s-%d: c2s %d bytes, s2c %d bytes%s" % (
            self.label, self.n, len(self.c2s), len(self.s2c),
            " (dropped)" if dropped else " (incomplete)" if incomplete else ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--upstream", type=int, required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--label-file", required=True)
    ap.add_argument("--hold-file", required=True)
    ap.add_argument("--upstream-wait", type=float, default=30.0,
                    help="seconds to keep trying (or holding) the upstream connect")
    ap.add_argument("--max-seconds", type=float, default=1800.0,
                    help="exit by itself after this long")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)

    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", args.listen))
    lsock.listen(64)
    lsock.settimeout(0.5)

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    deadline = time.time() + args.max_seconds
    log("listening on 127.0.0.1:%d -> 127.0.0.1:%d" % (args.listen, args.upstream))
    while not stop.is_set() and time.time() < deadline:
        try:
            c, peer = lsock.accept()
        except socket.timeout:
            continue
        except OSError:
            if stop.is_set():
                break
            raise
        c.settimeout(None)
        conn = Conn(args, c, peer)
        threading.Thread(target=conn.run, daemon=True).start()
    lsock.close()
    with LOCK:
        still = list(OPEN.values())
    for conn in still:
        conn.finish(incomplete=True)
    log("stopped")


if __name__ == "__main__":
    main()
