"""Moving a database from Apache ZooKeeper 3.8 to zabkeeper and back, on real processes.

1. A standalone Apache ZooKeeper (snapCount=16, so that its files hold many snapshots, fuzzy
   ones among them, and many logs) takes a few hundred writes of every kind from Kazoo and
   `zabkeeper cli`: persistent, sequential, ephemeral, container and TTL nodes, digest ACLs,
   setData and setACL, deletes, multis that commit and one that fails. Every znode's data,
   ACL and Stat is recorded, and ZooKeeper is killed with kill -9.
2. `zabkeeper import` takes its dataDir over (and must report ZooKeeper's digests checked and
   equal), and zabkeeper starts on ZooKeeper's port: every znode reads back the same (through
   Kazoo, and zkCli.sh prints the same answers, zxids and times included), the clients that
   were connected to ZooKeeper (Kazoo, zkCli.sh's Java client, the zookeeper-client crate)
   resume their sessions with their ephemerals, and the session of a client that died with
   ZooKeeper expires, taking its ephemeral.
3. After one more write, `zabkeeper export` writes a ZooKeeper snapshot, Apache ZooKeeper
   starts from it, reports no digest mismatch, and serves the same tree.

Usage: migrate_check.py <zabkeeper binary> <hold_session example binary>
(`cargo build -p zabkeeper --example hold_session`: a session of the zookeeper-client crate)
"""
import difflib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError, BadVersionError
from kazoo.security import make_digest_acl, OPEN_ACL_UNSAFE

from harness import fail, free_port, srvr, watchdog

J = "/usr/share/java"
CP = ":".join(f"{J}/{j}.jar" for j in [
    "zookeeper", "zookeeper-jute", "netty-codec", "netty-resolver", "netty-handler", "netty-transport",
    "netty-buffer", "netty-common", "slf4j-api", "slf4j-log4j12", "log4j-1.2"])


def zoo_cfg(d, port, members=""):
    """The zoo.cfg both servers run from: ZooKeeper's keys only."""
    return (f"tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={d}/data\nclientPort={port}\n"
            "clientPortAddress=127.0.0.1\nsnapCount=16\nextendedTypesEnabled=true\nadmin.enableServer=false\n"
            "4lw.commands.whitelist=srvr,mntr\nautopurge.snapRetainCount=50\n" + members)


def start_zookeeper(d, port, members="", mode="standalone", jvm=()):
    os.makedirs(f"{d}/data", exist_ok=True)
    with open(f"{d}/zoo.cfg", "w") as f:
        f.write(zoo_cfg(d, port, members))
    with open(f"{d}/log4j.properties", "w") as f:
        f.write(f"log4j.rootLogger=INFO, F\nlog4j.appender.F=org.apache.log4j.FileAppender\n"
                f"log4j.appender.F.File={d}/zk.log\nlog4j.appender.F.layout=org.apache.log4j.PatternLayout\n"
                "log4j.appender.F.layout.ConversionPattern=%p %c{1} %m%n\n")
    proc = subprocess.Popen(
        ["java", "-Xmx256m", "-Dznode.container.checkIntervalMs=3600000", "-Dzookeeper.digest.enabled=true",
         "-Dzookeeper.preAllocSize=16", *jvm,
         f"-Dlog4j.configuration=file:{d}/log4j.properties", "-cp", CP,
         "org.apache.zookeeper.server.quorum.QuorumPeerMain", f"{d}/zoo.cfg"],
        stdout=open(f"{d}/out.log", "w"), stderr=subprocess.STDOUT)
    if mode:
        wait_mode(port, mode, 60)
    return proc


def start_zabkeeper(binary, d, port, data_dir):
    os.makedirs(d, exist_ok=True)
    with open(f"{d}/zoo.cfg", "w") as f:
        f.write(f"tickTime=200\ndataDir={data_dir}\nclientPort={port}\nclientPortAddress=127.0.0.1\n"
                "extendedTypesEnabled=true\nadmin.enableServer=false\n4lw.commands.whitelist=srvr\n")
    proc = subprocess.Popen([binary, "start", "--config", f"{d}/zoo.cfg"],
                            stdout=open(f"{d}/server.log", "w"), stderr=subprocess.STDOUT)
    wait_mode(port, "standalone", 30)
    return proc


def wait_mode(port, mode, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        answer = srvr(port)
        if f"Mode: {mode}" in answer or (mode == "any" and "Mode:" in answer):
            return
        time.sleep(0.1)
    fail(f"no server in mode {mode} on port {port}")


HOLD_SESSION = None
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
# Reads whose answers carry zxids, times, versions, ACLs and ephemeral owners.
ZKCLI_READS = """addauth digest alice:secret
ls -R /app
get -s /app
get -s /app/secret
getAcl /app/secret
getAcl /app/nulldata
get -s /app/nulldata
stat /app/items
get -s /jobs
stat /jobs/job-1
stat /leases
get -s /locks/zkcli
stat /
ls -s /zookeeper
quit
"""


def zkcli_reads(port):
    """zkCli.sh's answers to ZKCLI_READS, without its start-up lines."""
    out = subprocess.run([ZKCLI, "-server", f"127.0.0.1:{port}"], input=ZKCLI_READS, capture_output=True, text=True, timeout=120)
    keep = [l for l in (out.stdout + out.stderr).splitlines()
            if l and not re.match(r"^(log4j|SLF4J|Connecting to|JLine|Welcome|WATCHER::|WatchedEvent|\[zk: )", l)]
    return "\n".join(keep)


def wait_for_text(path, text, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if text in open(path).read():
            return
        time.sleep(0.1)
    fail(f"{text!r} did not appear in {path}: {open(path).read()[-1500:]}")


def snapshot_tree(zk):
    """Every znode outside /zookeeper: path -> (data, acl, stat fields)."""
    out = {}
    stack = ["/"]
    while stack:
        path = stack.pop()
        data, stat = zk.get(path)
        acl, _ = zk.get_acls(path)
        out[path] = (data, sorted((a.perms, a.id.scheme, a.id.id) for a in acl), tuple(stat))
        for child in zk.get_children(path):
            child_path = path.rstrip("/") + "/" + child
            if child_path != "/zookeeper":
                stack.append(child_path)
    return out


def compare(want, got, where):
    if set(want) != set(got):
        fail(f"{where}: znodes differ: only before {sorted(set(want) - set(got))[:5]}, "
             f"only after {sorted(set(got) - set(want))[:5]}")
    for path in want:
        if want[path] != got[path]:
            fail(f"{where}: {path} was {want[path]}, is {got[path]}")


def cli(binary, port, *args):
    out = subprocess.run([binary, "cli", "--server", f"127.0.0.1:{port}", *args], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        fail(f"cli {args}: {out.stdout} {out.stderr}")


def main():
    binary = os.path.abspath(sys.argv[1])
    global HOLD_SESSION
    HOLD_SESSION = os.path.abspath(sys.argv[2])
    watchdog(420)
    work = tempfile.mkdtemp(prefix="zbk-migrate-")
    procs = []
    try:
        run(binary, work, procs)
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        procs.clear()
        run_ensemble(binary, f"{work}/ensemble", procs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    shutil.rmtree(work, ignore_errors=True)
    print("migrate_check: ok")


def run(binary, work, procs):
    port = free_port()
    zk_dir = f"{work}/zookeeper"
    procs.append(start_zookeeper(zk_dir, port))
    auth = ("digest", "alice:secret")
    zk = KazooClient(hosts=f"127.0.0.1:{port}", auth_data=[auth], timeout=30)
    zk.start(timeout=30)
    alice = make_digest_acl("alice", "secret", all=True)
    zk.create("/app", b"config v1")
    zk.create("/app/secret", b"only alice", acl=[alice])
    zk.create("/app/nulldata", None)
    for i in range(40):
        zk.create(f"/app/items/item-", f"item {i}".encode(), sequence=True, makepath=True)
    for i in range(60):
        zk.set("/app", f"config v{i + 2}".encode())
    children = sorted(zk.get_children("/app/items"))
    for child in children[::3]:
        zk.delete(f"/app/items/{child}")
    zk.set_acls("/app/nulldata", [alice, OPEN_ACL_UNSAFE[0]])
    tx = zk.transaction()
    tx.create("/app/tx-a", b"a")
    tx.create("/app/tx-b", b"b")
    tx.set_data("/app", b"set in a multi")
    tx.check("/app/secret", 0)
    results = tx.commit()
    if any(isinstance(r, Exception) for r in results):
        fail(f"the committed multi failed: {results}")
    bad = zk.transaction()
    bad.create("/app/never", b"x")
    bad.check("/app", 12345)
    if not any(isinstance(r, BadVersionError) for r in bad.commit()):
        fail("the failing multi did not fail")
    cli(binary, port, "create", "-c", "/jobs", "container")
    cli(binary, port, "create", "/jobs/job-1", "pending")
    cli(binary, port, "create", "-t", "3600000", "/leases", "ttl node")
    # A client that stays connected across the move, with an ephemeral lock node.
    keeper = KazooClient(hosts=f"127.0.0.1:{port}", timeout=20, connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 0.5})
    keeper.start(timeout=30)
    keeper.create("/locks/keeper-", b"held", ephemeral=True, sequence=True, makepath=True)
    keeper_session = keeper.client_id[0]
    # A client that dies with ZooKeeper: its session must expire after the move.
    dying = subprocess.run([sys.executable, "-c", f"""
import os
from kazoo.client import KazooClient
zk = KazooClient(hosts="127.0.0.1:{port}", timeout=4)
zk.start(timeout=30)
zk.create("/locks/dying", b"gone soon", ephemeral=True, makepath=True)
print(hex(zk.client_id[0]), flush=True)
os._exit(0)
"""], capture_output=True, text=True, timeout=60)
    if dying.returncode != 0:
        fail(f"the dying client: {dying.stderr}")
    # zkCli.sh (the Java client) holding a session and an ephemeral across the move.
    shell = subprocess.Popen([ZKCLI, "-server", f"127.0.0.1:{port}"], stdin=subprocess.PIPE, text=True,
                             stdout=open(f"{work}/zkcli-interactive.txt", "w"), stderr=subprocess.STDOUT)
    procs.append(shell)
    shell.stdin.write("create -e /locks/zkcli held-by-zkcli\n")
    shell.stdin.flush()
    wait_for_text(f"{work}/zkcli-interactive.txt", "Created /locks/zkcli", 60)
    # And a session of the zookeeper-client crate.
    rust = subprocess.Popen([HOLD_SESSION, f"127.0.0.1:{port}", "/locks/rust"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    procs.append(rust)
    ready = rust.stdout.readline().split()
    if ready[:1] != ["ready"]:
        fail(f"the zookeeper-client session did not start: {ready}")
    rust_session = ready[1]
    for i in range(30):
        zk.create(f"/bulk/n{i:03}", os.urandom(200), makepath=True)
    before = snapshot_tree(zk)
    zkcli_before = zkcli_reads(port)
    zk.stop()
    zk.close()
    snaps = [f for f in os.listdir(f"{zk_dir}/data/version-2") if f.startswith("snapshot.")]
    logs = [f for f in os.listdir(f"{zk_dir}/data/version-2") if f.startswith("log.")]
    if len(snaps) < 5 or len(logs) < 5:
        fail(f"ZooKeeper wrote only {len(snaps)} snapshots and {len(logs)} logs")
    procs[0].kill()
    procs[0].wait()
    if os.environ.get("ZBK_KEEP_ZOOKEEPER_DATA"):
        # How the fixture in tests/zkdata/ was captured.
        shutil.copytree(f"{zk_dir}/data", os.environ["ZBK_KEEP_ZOOKEEPER_DATA"])

    # ZooKeeper -> zabkeeper.
    ours = f"{work}/zabkeeper-data"
    imp = subprocess.run([binary, "import", "--from", f"{zk_dir}/data", "--to", ours], capture_output=True, text=True, timeout=120)
    print(imp.stderr.strip().splitlines()[-1] if imp.stderr.strip() else "(import said nothing)")
    if imp.returncode != 0:
        fail(f"import failed: {imp.stderr}")
    if "all equal" not in imp.stderr or " 0 ZooKeeper digests checked" in imp.stderr:
        fail(f"import did not check ZooKeeper's digests: {imp.stderr}")
    again = subprocess.run([binary, "import", "--from", f"{zk_dir}/data", "--to", ours], capture_output=True, text=True, timeout=60)
    if again.returncode == 0 or "already holds zabkeeper data" not in again.stderr:
        fail(f"a second import over the first was not refused: {again.stderr}")
    procs.append(start_zabkeeper(binary, f"{work}/zabkeeper", port, ours))
    zk = KazooClient(hosts=f"127.0.0.1:{port}", auth_data=[auth], timeout=30)
    zk.start(timeout=30)
    # The ephemeral of the dead session is read before it expires: compare all of it now.
    after = snapshot_tree(zk)
    compare(before, after, "after import")
    zkcli_after = zkcli_reads(port)
    if zkcli_after != zkcli_before:
        diff = "\n".join(difflib.unified_diff(zkcli_before.splitlines(), zkcli_after.splitlines(), "ZooKeeper", "zabkeeper", lineterm=""))
        fail(f"zkCli.sh prints differently after the import:\n{diff}")
    print(f"zkCli.sh: {len(zkcli_before.splitlines())} lines of reads (zxids, times, owners) identical before and after the import")
    deadline = time.time() + 20
    while keeper.client_id is None or keeper.client_id[0] != keeper_session or not keeper.connected:
        if time.time() > deadline:
            fail("the client connected to ZooKeeper did not resume its session on zabkeeper")
        time.sleep(0.1)
    keeper.set("/app/nulldata", b"written by the resumed session")
    deadline = time.time() + 20
    while zk.exists("/locks/dying"):
        if time.time() > deadline:
            fail("the dead client's session did not expire after the import")
        time.sleep(0.2)
    locks = zk.get_children("/locks")
    if not any(c.startswith("keeper-") for c in locks) or "zkcli" not in locks or "rust" not in locks:
        fail(f"the resumed sessions' ephemerals are gone: {locks}")
    rust.stdin.write("write /rust-after-move\ncheck\n")
    rust.stdin.flush()
    answers = [rust.stdout.readline().strip() for _ in range(2)]
    if answers != [f"ok /rust-after-move {rust_session}", f"owner {rust_session}"]:
        fail(f"the zookeeper-client session did not go on after the move: {answers}")
    rust.stdin.close()
    rust.wait(timeout=30)
    # The zkCli.sh shell resumed its session too: its ephemeral is still its own.
    shell.stdin.write("create /zkcli-after-move written-by-zkcli\nget -s /locks/zkcli\nquit\n")
    shell.stdin.flush()
    shell.wait(timeout=60)
    said = open(f"{work}/zkcli-interactive.txt").read()
    if "Created /zkcli-after-move" not in said or "held-by-zkcli" not in said or "Expired" in said:
        fail(f"zkCli.sh did not go on with its session after the move:\n{said[-2000:]}")
    zk.create("/after-import", b"written on zabkeeper")
    keeper.stop()
    keeper.close()
    expected = snapshot_tree(zk)
    zk.stop()
    zk.close()
    procs[-1].send_signal(signal.SIGTERM)
    procs[-1].wait(timeout=30)

    # zabkeeper -> ZooKeeper.
    back = f"{work}/zookeeper-again"
    exp = subprocess.run([binary, "export", "--from", ours, "--to", f"{back}/data"], capture_output=True, text=True, timeout=120)
    print(exp.stderr.strip().splitlines()[-1] if exp.stderr.strip() else "(export said nothing)")
    if exp.returncode != 0:
        fail(f"export failed: {exp.stderr}")
    procs.append(start_zookeeper(back, port))
    zk = KazooClient(hosts=f"127.0.0.1:{port}", auth_data=[auth], timeout=30)
    zk.start(timeout=30)
    compare(expected, snapshot_tree(zk), "after export")
    zk.stop()
    zk.close()
    with open(f"{back}/zk.log", errors="replace") as f:
        log = f.read()
    if "Digests are not matching" in log or "digest mismatch" in log.lower():
        fail("ZooKeeper found a digest mismatch in the exported snapshot")
    if "The digest in the snapshot has digest version of 2" not in log:
        fail("ZooKeeper did not read the exported snapshot's digest")


def run_ensemble(binary, work, procs):
    """Three ZooKeeper members, moved to zabkeeper all at once with their own zoo.cfg and myid
    (plus a quorum secret, which ZooKeeper's zoo.cfg does not have), and moved back."""
    n = 3
    clients = [free_port() for _ in range(n)]
    members = "".join(f"server.{i + 1}=127.0.0.1:{free_port()}:{free_port()}\n" for i in range(n))
    dirs = [f"{work}/{i + 1}" for i in range(n)]
    for i, d in enumerate(dirs):
        os.makedirs(f"{d}/data", exist_ok=True)
        with open(f"{d}/data/myid", "w") as f:
            f.write(f"{i + 1}\n")
    zks = [start_zookeeper(d, clients[i], members, mode=None) for i, d in enumerate(dirs)]
    procs += zks
    for port in clients:
        wait_mode(port, "any", 60)
    hosts = ",".join(f"127.0.0.1:{p}" for p in clients)
    zk = KazooClient(hosts=hosts, timeout=30)
    zk.start(timeout=30)
    for i in range(120):
        zk.create(f"/ens/n-", f"value {i}".encode(), sequence=True, makepath=True)
        if i % 4 == 0:
            zk.set("/ens", f"round {i}".encode())
    keeper = KazooClient(hosts=hosts, timeout=20, connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 0.5})
    keeper.start(timeout=30)
    keeper.create("/ens-locks/keeper", b"held", ephemeral=True, makepath=True)
    keeper_session = keeper.client_id[0]
    zk.sync("/")
    before = snapshot_tree(zk)
    zk.stop()
    zk.close()
    for p in zks:
        p.kill()
        p.wait()
    epochs = [open(f"{d}/data/version-2/currentEpoch").read().strip() for d in dirs]
    secret = f"{work}/secret"
    with open(secret, "w") as f:
        f.write(os.urandom(24).hex())
    for i, d in enumerate(dirs):
        # Into ZooKeeper's own dataDir: our files go in its zabkeeper-v1/, the same zoo.cfg serves.
        imp = subprocess.run([binary, "import", "--from", f"{d}/data", "--to", f"{d}/data"], capture_output=True, text=True, timeout=120)
        if imp.returncode != 0 or "all equal" not in imp.stderr:
            fail(f"import of member {i + 1} (currentEpoch {epochs[i]}): {imp.stderr}")
        print(f"member {i + 1}: {imp.stderr.strip().splitlines()[-1]}")
        with open(f"{d}/zoo.cfg", "a") as f:
            f.write(f"quorum.auth.secretFile={secret}\n")
    ours = []
    for i, d in enumerate(dirs):
        ours.append(subprocess.Popen([binary, "start", "--config", f"{d}/zoo.cfg"],
                                     stdout=open(f"{d}/server.log", "w"), stderr=subprocess.STDOUT))
    procs += ours
    each_member_serves(clients, before, "after import", 30)
    deadline = time.time() + 20
    while keeper.client_id is None or keeper.client_id[0] != keeper_session or not keeper.connected:
        if time.time() > deadline:
            fail("the client of the ZooKeeper ensemble did not resume its session on zabkeeper")
        time.sleep(0.1)
    keeper.set("/ens", b"written after the move")
    keeper.stop()
    keeper.close()
    zk = KazooClient(hosts=hosts, timeout=30)
    zk.start(timeout=30)
    zk.sync("/")
    expected = snapshot_tree(zk)
    zk.stop()
    zk.close()
    for p in ours:
        p.send_signal(signal.SIGTERM)
    for p in ours:
        p.wait(timeout=30)
    back_dirs = [f"{work}/back-{i + 1}" for i in range(n)]
    for i, d in enumerate(dirs):
        exp = subprocess.run([binary, "export", "--from", f"{d}/data", "--to", f"{back_dirs[i]}/data"], capture_output=True, text=True, timeout=120)
        if exp.returncode != 0:
            fail(f"export of member {i + 1}: {exp.stderr}")
    zks = [start_zookeeper(d, clients[i], members, mode=None) for i, d in enumerate(back_dirs)]
    procs += zks
    each_member_serves(clients, expected, "(ZooKeeper) after export", 60)


def each_member_serves(ports, tree, when, seconds):
    """Every member comes up and, after a sync, reads exactly `tree`."""
    for port in ports:
        wait_mode(port, "any", seconds)
    for port in ports:
        zk = KazooClient(hosts=f"127.0.0.1:{port}", timeout=30)
        zk.start(timeout=30)
        zk.sync("/")
        compare(tree, snapshot_tree(zk), f"member on port {port} {when}")
        zk.stop()
        zk.close()


if __name__ == "__main__":
    main()
