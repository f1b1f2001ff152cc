"""scripts/rolling-restart on a 3-process ensemble under write load, as an upgrade: each member
is stopped with SIGTERM and started again from a second copy of the binary (the "new version").

Four Kazoo clients, each given every member, write all along (sequential creates, each read
back by value). The script must restart the followers first and the leader last, and finish;
no client may lose its session (a connection loss is all it may see, and it retries); every
write a client saw acknowledged must be on every member at the end, and each member must run
the new binary.

Usage: rolling_restart_check.py <zabkeeper binary>
"""
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import ConnectionLoss, NodeExistsError, OperationTimeoutError, SessionMovedError

from harness import fail, free_port, srvr, wait_serving, watchdog

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    binary = os.path.abspath(sys.argv[1])
    watchdog(240)
    work = tempfile.mkdtemp(prefix="zbk-rolling-")
    new_binary = f"{work}/zabkeeper-new"
    shutil.copy(binary, new_binary)
    n = 3
    clients = [free_port() for _ in range(n)]
    members = "".join(f"server.{i + 1}=127.0.0.1:{free_port()}:{free_port()}\n" for i in range(n))
    with open(f"{work}/secret", "w") as f:
        f.write(os.urandom(24).hex())
    for i in range(n):
        d = f"{work}/{i + 1}"
        os.makedirs(f"{d}/data")
        with open(f"{d}/data/myid", "w") as f:
            f.write(f"{i + 1}\n")
        with open(f"{d}/zoo.cfg", "w") as f:
            f.write(f"tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={d}/data\nclientPort={clients[i]}\n"
                    f"clientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=srvr,mntr\n"
                    f"quorum.auth.secretFile={work}/secret\n{members}")
    # What an operator's restart command does, here for processes started by hand: stop the
    # member cleanly, start it from the new binary, remember its pid.
    with open(f"{work}/restart.sh", "w") as f:
        f.write(f"""set -e
d={work}/$ZBK_INDEX
pid=$(cat $d/pid)
kill -TERM $pid
while kill -0 $pid 2>/dev/null; do sleep 0.05; done
nohup {new_binary} start --config $d/zoo.cfg >>$d/server.log 2>&1 &
echo $! >$d/pid
""")
    for i in range(n):
        # Started through a shell that exits at once, as restart.sh starts them, so that no
        # member is this process's child (a child that exits stays a zombie kill -0 still sees).
        d = f"{work}/{i + 1}"
        subprocess.run(["sh", "-c", f"nohup {binary} start --config {d}/zoo.cfg >{d}/server.log 2>&1 & echo $! >{d}/pid"],
                       check=True)
    try:
        run(binary, work, clients)
    finally:
        for i in range(n):
            try:
                os.kill(int(open(f"{work}/{i + 1}/pid").read()), 9)
            except (OSError, ValueError):
                pass
    shutil.rmtree(work, ignore_errors=True)
    print("rolling_restart_check: ok")


def run(binary, work, clients):
    wait_serving(clients)
    hosts = ",".join(f"127.0.0.1:{p}" for p in clients)
    stop = threading.Event()
    acked = [[] for _ in range(4)]
    lost = []
    errors = []

    def writer(k):
        zk = KazooClient(hosts=hosts, timeout=10, connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.5})
        # Kazoo reports LOST for its own close too: only a loss before the end counts.
        zk.add_listener(lambda state: state == KazooState.LOST and not stop.is_set() and lost.append(k))
        zk.start(timeout=30)
        zk.ensure_path("/rolling")
        i = 0
        while not stop.is_set():
            path, value = f"/rolling/w{k}-{i:06}", f"{k}:{i}".encode()
            while not stop.is_set():
                try:
                    zk.create(path, value)
                    break
                except NodeExistsError:
                    break  # created before the connection broke under the reply
                except (ConnectionLoss, OperationTimeoutError, SessionMovedError):
                    time.sleep(0.05)
                except Exception as e:  # noqa: BLE001 - anything else fails the check below
                    errors.append(f"writer {k}: {type(e).__name__}: {e}")
                    return
            else:
                break
            acked[k].append((path, value))
            i += 1
        zk.stop()
        zk.close()

    threads = [threading.Thread(target=writer, args=(k,), daemon=True) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(1)
    started = time.time()
    out = subprocess.run([f"{REPO}/scripts/rolling-restart", "--servers", hosts, "--restart", f"sh {work}/restart.sh",
                          "--bin", binary, "--timeout", "60"], capture_output=True, text=True, timeout=200)
    took = time.time() - started
    print(out.stdout.strip())
    if out.returncode != 0:
        fail(f"rolling-restart exited {out.returncode}: {out.stderr}")
    lines = out.stdout.splitlines()
    restarted = [l for l in lines if "restarting" in l]
    if len(restarted) != 3 or "(leader)" not in restarted[-1] or any("(leader)" in l for l in restarted[:-1]):
        fail(f"the leader was not restarted last: {restarted}")
    time.sleep(1)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    if errors:
        fail(f"writers failed: {errors}")
    if lost:
        fail(f"sessions were lost during the rolling restart: writers {lost}")
    total = sum(len(a) for a in acked)
    if total < 50:
        fail(f"only {total} writes were acknowledged during {took:.1f} s")
    for port in clients:
        zk = KazooClient(hosts=f"127.0.0.1:{port}", timeout=30)
        zk.start(timeout=30)
        zk.sync("/")
        have = set(zk.get_children("/rolling"))
        for a in acked:
            for path, value in a:
                if path.rsplit("/", 1)[1] not in have or zk.get(path)[0] != value:
                    fail(f"the acknowledged write {path} is missing or wrong on the member on port {port}")
        zk.stop()
        zk.close()
    for i in range(len(clients)):
        exe = os.readlink(f"/proc/{int(open(f'{work}/{i + 1}/pid').read())}/exe")
        if not exe.endswith("zabkeeper-new"):
            fail(f"member {i + 1} runs {exe}, not the new binary")
    print(f"rolling restart of 3 members in {took:.1f} s under load: {total} writes acknowledged, "
          f"all on every member; no session lost")


if __name__ == "__main__":
    main()
