"""Captures the compressed-snapshot fixtures of tests/zkdata/: a standalone Apache ZooKeeper 3.8
with `zookeeper.snapshot.compression.method` set to gz, then snappy (snapCount=16, so that
several snapshots are written), a few dozen writes through Kazoo, then kill -9.

Usage: python3 tests/zkdata/capture.py   (writes tests/zkdata/zookeeper-3.8-{gz,snappy}/)
"""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "clients"))
from harness import free_port  # noqa: E402
import migrate_check  # noqa: E402
from kazoo.client import KazooClient  # noqa: E402


def capture(method):
    work = tempfile.mkdtemp(prefix=f"zbk-capture-{method}-")
    port = free_port()
    migrate_check.CP += ":/usr/share/java/snappy-java.jar"
    proc = migrate_check.start_zookeeper(work, port, jvm=[f"-Dzookeeper.snapshot.compression.method={method}"])
    zk = KazooClient(hosts=f"127.0.0.1:{port}", timeout=30)
    zk.start(timeout=30)
    for i in range(40):
        zk.create(f"/{method}/n-", f"value {i}".encode() * 20, sequence=True, makepath=True)
    zk.set(f"/{method}", b"compressed snapshots")
    zk.stop()
    proc.kill()
    proc.wait()
    out = os.path.join(HERE, f"zookeeper-3.8-{method}")
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(f"{work}/data", out)
    shutil.rmtree(work, ignore_errors=True)
    print(f"{out}: {sorted(os.listdir(out + '/version-2'))}")


if __name__ == "__main__":
    capture("gz")
    capture("snappy")
