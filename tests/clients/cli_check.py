#!/usr/bin/env python3
"""`zabkeeper cli` driven through a pseudo-terminal with zkCli's test script.

Usage: cli_check.py PATH_TO_ZABKEEPER [--ensemble]

Runs tests/clients/zkcli/script.txt through `zabkeeper cli` in a pty (line editing on, a
prompt before each command), against a standalone server or member 2 of a 3-process ensemble.
Its output, with the prompts and echoed commands taken out and times, session ids and zxid
epochs blanked as tests/clients/zkcli_check.sh does, must equal what Apache ZooKeeper 3.8's
zkCli.sh printed against Apache ZooKeeper 3.8 (tests/clients/zkcli/expected.txt): the results
in order, and the watch events in order. Then, in the same pty: tab completion of a command and
of a path, the up arrow recalling the last command, `history` and `redo`. Then one-shot mode:
exit status 0 and the data for `get`, 1 and zkCli's message for a missing node, `--json`.
A watchdog ends the run after 120 s. Exits non-zero on the first failure.
"""
import json
import os
import pty
import re
import select
import struct
import termios
import fcntl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Servers, fail, wait_serving, watchdog  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PROMPT = re.compile(rb"\[zk: [^\]]*\((CONNECTED|CLOSED)\) (\d+)\] ")


def prompt(n):
    """The prompt before command number `n` (line redraws repeat the current one)."""
    return re.compile(rb"\[zk: [^\]]*\(CONNECTED\) %d\] " % n)


class Pty:
    def __init__(self, argv):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["TERM"] = "xterm"
            os.execv(argv[0], argv)
        # Wide enough that no command line wraps.
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 300, 0, 0))
        self.buf = b""

    def read_until(self, pattern, seconds=10):
        deadline = time.time() + seconds
        while True:
            m = pattern.search(self.buf)
            if m:
                out, self.buf = self.buf[:m.start()], self.buf[m.end():]
                return out, m
            left = deadline - time.time()
            if left <= 0:
                fail(f"no {pattern.pattern!r} within {seconds}s; got {self.buf[-500:]!r}")
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    fail(f"the cli ended; got {self.buf[-500:]!r}")
                self.buf += chunk

    def send(self, text):
        os.write(self.fd, text.encode())

    def wait(self):
        _, status = os.waitpid(self.pid, 0)
        return os.waitstatus_to_exitcode(status)


def clean(raw):
    """The output as lines, without terminal control sequences and carriage returns."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw.decode(errors="replace")).replace("\r", "")
    return text.split("\n")


def normalise(lines):
    out = []
    for l in lines:
        l = re.sub(r"^(ctime|mtime) = .*", r"\1 = <time>", l)
        l = re.sub(r"ephemeralOwner = 0x[1-9a-f][0-9a-f]*", "ephemeralOwner = <session>", l)
        l = re.sub(r"(Zxid = )0x[0-9a-f]*([0-9a-f]{8})$", r"\1\2", l)
        l = re.sub(r"(Zxid = )0x([0-9a-f]{1,8})$", r"\1\2", l)
        l = re.sub(r"(Zxid = )0*([0-9a-f]+)$", r"\1\2", l)
        out.append(l)
    return out


def results(lines):
    return [l for l in lines if l and l != "WATCHER::" and not l.startswith("WatchedEvent ")]


def events(lines):
    return [l for l in lines if l.startswith("WatchedEvent ")]


def main():
    args = sys.argv[1:]
    if not args:
        fail(__doc__)
    binary, ensemble = os.path.abspath(args[0]), "--ensemble" in args
    watchdog(120)
    work = tempfile.mkdtemp(prefix="zabkeeper-cli-")
    servers = Servers(binary, work)
    try:
        if ensemble:
            ports = servers.ensemble("ens", 3, ["extendedTypesEnabled=true"])
            wait_serving(ports)
            port = ports[1]
        else:
            port = servers.standalone("one", ["extendedTypesEnabled=true"])
            wait_serving([port])
        server = f"127.0.0.1:{port}"

        # zkCli's script, typed at the prompt.
        cli = Pty([binary, "cli", "--server", server])
        lines = []
        first, _ = cli.read_until(PROMPT)
        lines += clean(first)
        script = open(os.path.join(HERE, "zkcli", "script.txt")).read().splitlines()
        for command in script:
            cli.send(command + "\n")
            if command == "quit":
                rest = b""
                deadline = time.time() + 10
                while time.time() < deadline:
                    try:
                        chunk = os.read(cli.fd, 65536)
                    except OSError:
                        break
                    if not chunk:
                        break
                    rest += chunk
                lines += clean(cli.buf + rest)[1:]
                break
            out, _ = cli.read_until(PROMPT)
            echoed = clean(out)
            if not echoed[0].endswith(command):
                fail(f"the command was not echoed: {echoed[:2]!r} for {command!r}")
            lines += echoed[1:]
        code = cli.wait()
        if code != 0:
            fail(f"quit ended the cli with {code}")
        actual = normalise(lines)
        expected = open(os.path.join(HERE, "zkcli", "expected.txt")).read().splitlines()
        if results(actual) != results(expected):
            fail("results differ from zkCli's:\n" + "\n".join(
                f"{'  ' if a == e else '! '}{e!r:60} {a!r}" for a, e in
                __import__("itertools").zip_longest(results(actual), results(expected), fillvalue="")))
        if events(actual) != events(expected):
            fail(f"watch events differ: {events(actual)} vs {events(expected)}")
        print(f"pty: zkCli's script gives zkCli's output ({len(results(expected))} result lines, "
              f"{len(events(expected))} watch events)")

        # Line editing: completion of a command and a path, history.
        cli = Pty([binary, "cli", "--server", server])
        cli.read_until(prompt(0))
        for keys in ("getAllCh\t", " /ap\t"):
            cli.send(keys)
            time.sleep(0.5)
        cli.send("\n")
        out, _ = cli.read_until(prompt(1))
        got = clean(out)
        if not any(l.strip() == "2" for l in got) or "getAllChildrenNumber /app" not in "".join(got):
            fail(f"tab completion: {got!r}")
        cli.send("\x1b[A")
        time.sleep(0.5)
        cli.send("\n")
        out, _ = cli.read_until(prompt(2))
        if "getAllChildrenNumber /app" not in "".join(clean(out)):
            fail(f"the up arrow did not recall the last command: {clean(out)!r}")
        cli.send("history\n")
        out, _ = cli.read_until(prompt(3))
        if not any(l.startswith("0 - getAllChildrenNumber /app") for l in clean(out)):
            fail(f"history: {clean(out)!r}")
        cli.send("redo 0\n")
        out, _ = cli.read_until(prompt(4))
        if not any(l.strip() == "2" for l in clean(out)):
            fail(f"redo: {clean(out)!r}")
        cli.send("quit\n")
        cli.wait()
        print("pty: completion of commands and paths, up arrow, history, redo")

        # One-shot mode.
        run = lambda *a: subprocess.run([binary, "cli", "--server", server, *a], capture_output=True, text=True,
                                        timeout=20)
        r = run("get", "/app")
        if r.returncode != 0 or r.stdout.splitlines()[-1] != "fresh":
            fail(f"one-shot get: {r.returncode} {r.stdout!r} {r.stderr!r}")
        r = run("get", "/missing")
        if r.returncode != 1 or "Node does not exist: /missing" not in r.stderr:
            fail(f"one-shot get of a missing node: {r.returncode} {r.stdout!r} {r.stderr!r}")
        r = run("--json", "get", "-s", "/app")
        value = json.loads(r.stdout)
        if r.returncode != 0 or value["data"] != "fresh" or value["stat"]["version"] != 2:
            fail(f"one-shot --json get -s: {r.returncode} {r.stdout!r}")
        r = run("--json", "ls", "/nothing")
        if r.returncode != 1 or json.loads(r.stdout)["code"] != -101:
            fail(f"one-shot --json error: {r.returncode} {r.stdout!r}")
        print("one-shot: exit status, zkCli's messages, --json")
    except SystemExit:
        print(servers.logs())
        raise
    finally:
        servers.stop()
    print("cli_check: all passed")


if __name__ == "__main__":
    main()
