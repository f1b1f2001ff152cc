#!/usr/bin/env python3
"""Capture Apache ZooKeeper 3.8's AdminServer answers: tests/wire/admin/admin-*.json.

Starts a 3-member ZooKeeper 3.8.0 ensemble from Debian's jars (plus Jetty, the servlet API and
Jackson, which the AdminServer needs) on loopback, with the AdminServer of member N on
127.0.0.1:1808N. A Kazoo client on a follower makes a few nodes (one ephemeral) and sets a data
watch, then every command GET /commands lists is fetched from the leader and from that
follower. Writes:

- admin-leader.json, admin-follower.json: {"source": ..., "commands": {name: JSON body}}
- admin-errors.json: the answers to an unknown command and to set_trace_mask without and with a
  bad argument, and what a member that has no quorum answers
- admin-commands.html: the GET /commands page

Every wait is bounded and every process is stopped by PID.

    python3 tests/wire/capture_admin.py
"""
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "admin")
J = "/usr/share/java"
CP = ":".join("%s/%s.jar" % (J, n) for n in (
    "zookeeper", "zookeeper-jute", "netty-codec", "netty-resolver", "netty-handler",
    "netty-transport", "netty-buffer", "netty-common", "slf4j-api", "slf4j-log4j12", "log4j-1.2",
    "jetty9-server", "jetty9-servlet", "jetty9-http", "jetty9-io", "jetty9-util", "jetty9-security",
    "servlet-api", "jackson-core", "jackson-databind", "jackson-annotations", "commons-cli"))
SOURCE = "Apache ZooKeeper 3.8.0 (Debian), AdminServer of a 3-member ensemble on loopback"


def get(port, path):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def body(port, name):
    status, text = get(port, "/commands/" + name)
    assert status == 200, (name, status, text[:200])
    return json.loads(text)


def main():
    from kazoo.client import KazooClient
    root = tempfile.mkdtemp(prefix="zk-admin-")
    procs = []
    try:
        for i in (1, 2, 3):
            data = os.path.join(root, "s%d" % i)
            os.makedirs(data)
            open(os.path.join(data, "myid"), "w").write("%d\n" % i)
            cfg = os.path.join(root, "zoo%d.cfg" % i)
            open(cfg, "w").write("\n".join([
                "tickTime=2000", "initLimit=10", "syncLimit=5", "dataDir=" + data,
                "clientPort=2618%d" % i, "clientPortAddress=127.0.0.1", "4lw.commands.whitelist=*",
                "admin.enableServer=true", "admin.serverAddress=127.0.0.1", "admin.serverPort=1808%d" % i,
                "server.1=127.0.0.1:2788:3788", "server.2=127.0.0.1:2789:3789",
                "server.3=127.0.0.1:2790:3790", ""]))
            log = open(os.path.join(root, "out%d.log" % i), "w")
            procs.append(subprocess.Popen(
                ["timeout", "600", "java", "-Xmx256m", "-cp", CP,
                 "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        leader = None
        deadline = time.time() + 90
        while leader is None and time.time() < deadline:
            time.sleep(1)
            for i in (1, 2, 3):
                try:
                    if body(18080 + i, "leader").get("is_leader"):
                        leader = 18080 + i
                except Exception:
                    pass
        assert leader is not None, "no leader in 90 s"
        follower = 18081 if leader != 18081 else 18082
        zk = KazooClient(hosts="127.0.0.1:%d" % (follower - 18080 + 26180))
        zk.start(timeout=30)
        zk.ensure_path("/app/config")
        zk.set("/app/config", b"x" * 100)
        zk.create("/app/lock-", b"", ephemeral=True, sequence=True)
        zk.get("/app/config", watch=lambda e: None)
        zk.get_children("/app", watch=lambda e: None)
        time.sleep(1)
        status, page = get(follower, "/commands")
        assert status == 200
        open(os.path.join(GOLDEN, "admin-commands.html"), "w").write(page)
        names = [line.split('"')[1].rsplit("/", 1)[1] for line in page.splitlines() if line.startswith("<a")]
        for role, port in (("follower", follower), ("leader", leader)):
            commands = {n: body(port, n) for n in names}
            out = {"source": SOURCE + ", GET /commands/<name> on the " + role, "commands": commands}
            with open(os.path.join(GOLDEN, "admin-%s.json" % role), "w") as f:
                json.dump(out, f, indent=1, sort_keys=True)
                f.write("\n")
        errors = {n: body(follower, n) for n in ("nosuch", "set_trace_mask", "set_trace_mask?traceMask=x",
                                               "set_trace_mask?traceMask=306")}
        zk.stop()
        for i, p in enumerate(procs):
            if 18081 + i != follower:
                os.killpg(p.pid, 9)
        deadline = time.time() + 60
        while body(follower, "server_stats")["error"] is None and time.time() < deadline:
            time.sleep(1)
        for n in ("server_stats", "ruok", "dump", "leader"):
            errors["no quorum: " + n] = body(follower, n)
        with open(os.path.join(GOLDEN, "admin-errors.json"), "w") as f:
            json.dump({"source": SOURCE, "commands": errors}, f, indent=1, sort_keys=True)
            f.write("\n")
        print("wrote admin-leader.json, admin-follower.json, admin-errors.json, admin-commands.html")
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, 9)
            except ProcessLookupError:
                pass
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
