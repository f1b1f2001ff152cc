"""What the client tests share: failing loudly, free loopback ports, and real zabkeeper
processes (a standalone server or an ensemble of separate processes) from zoo.cfg lines."""
import os
import socket
import subprocess
import sys
import threading
import time


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def watchdog(seconds):
    """Ends the whole process (threads and all) if the test runs longer than `seconds`."""
    timer = threading.Timer(seconds, lambda: (print("FAIL: watchdog", flush=True), os._exit(1)))
    timer.daemon = True
    timer.start()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def srvr(port):
    """The `srvr` answer of the server on `port`, or "" if none answers."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"srvr")
            return s.recv(4096).decode(errors="replace")
    except OSError:
        return ""


def wait_serving(ports, seconds=20):
    """Waits until every port answers `srvr` with a mode, and one of them leads or stands alone."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        answers = [srvr(p) for p in ports]
        if all("Mode:" in a for a in answers) and any(
            m in a for a in answers for m in ("Mode: leader", "Mode: standalone")
        ):
            return
        time.sleep(0.05)
    fail(f"servers on {ports} did not come up")


class Servers:
    """Server processes started from zoo.cfg lines, killed on exit; `logs()` shows their logs."""

    def __init__(self, binary, work):
        self.binary, self.work, self.procs = os.path.abspath(binary), work, []

    def _start(self, d, text):
        os.makedirs(os.path.join(d, "data"), exist_ok=True)
        cfg = os.path.join(d, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write(text)
        log = open(os.path.join(d, "server.log"), "w")
        self.procs.append(subprocess.Popen([self.binary, "start", "--config", cfg], stdout=log, stderr=log))

    def standalone(self, name, lines):
        """One standalone server; returns its client port."""
        d, port = os.path.join(self.work, name), free_port()
        self._start(d, f"tickTime=200\ndataDir={d}/data\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
                       "4lw.commands.whitelist=srvr\n" + "".join(l + "\n" for l in lines))
        return port

    def ensemble(self, name, n, lines, each=lambda i: []):
        """`n` member processes with a quorum secret; returns their client ports. `each(i)`
        gives more lines for member i (0-based)."""
        base = os.path.join(self.work, name)
        os.makedirs(base, exist_ok=True)
        secret = os.path.join(base, "secret")
        with open(secret, "w") as f:
            f.write(os.urandom(24).hex())
        clients = [free_port() for _ in range(n)]
        members = "".join(f"server.{i + 1}=127.0.0.1:{free_port()}:{free_port()}\n" for i in range(n))
        for i in range(n):
            d = os.path.join(base, str(i + 1))
            os.makedirs(os.path.join(d, "data"), exist_ok=True)
            with open(os.path.join(d, "data", "myid"), "w") as f:
                f.write(f"{i + 1}\n")
            self._start(d, f"tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={d}/data\nclientPort={clients[i]}\n"
                           f"clientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=srvr\n"
                           f"quorum.auth.secretFile={secret}\n{members}" + "".join(l + "\n" for l in lines + each(i)))
        return clients

    def stop(self):
        for p in self.procs:
            p.kill()
            p.wait()
        self.procs = []

    def logs(self):
        out = []
        for root, _, files in os.walk(self.work):
            out += [open(os.path.join(root, f), errors="replace").read()[-3000:] for f in files if f == "server.log"]
        return "\n----\n".join(out)
