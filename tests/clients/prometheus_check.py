#!/usr/bin/env python3
"""Prometheus metrics on a 3-process ensemble, scraped by a real Prometheus (Debian's package).

Usage: prometheus_check.py PATH_TO_ZABKEEPER

Each member serves /metrics on its own loopback port (metricsProvider.className=prometheus).
Kazoo writes and reads through the ensemble. Checks:
  names     every member's exposition has ZooKeeper's main metric names (gauges of mntr's keys,
            the timings as histograms); the leader's has learners, synced_followers and one
            learner_lag series per follower
  promtool  `promtool check metrics` parses each exposition; its only findings are the one lint
            rule ZooKeeper's own names break (gauges named *_count), on exactly those names
  scrape    a real Prometheus scrapes the three members every second: `up` is 1 for each, every
            member reports the same znode_count, and the writes show in updatelatency_count
Every wait is bounded; a watchdog ends the run after 120 s. Exits non-zero on the first failure.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from kazoo.client import KazooClient

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Servers, fail, free_port, wait_serving, watchdog  # noqa: E402

# ZooKeeper's names that end in _count although they are gauges: promtool's naming lint
# flags them, and ZooKeeper's exporter prints them the same; dashboards rely on them.
ZOOKEEPER_COUNT_GAUGES = {
    "znode_count", "watch_count", "ephemerals_count", "open_file_descriptor_count",
    "max_file_descriptor_count", "auth_failed_count", "non_mtls_local_conn_count",
    "non_mtls_remote_conn_count",
}
MAIN = ["znode_count", "watch_count", "ephemerals_count", "num_alive_connections", "outstanding_requests",
        "packets_received", "packets_sent", "avg_latency", "max_latency", "approximate_data_size",
        "global_sessions", "quorum_size", "open_file_descriptor_count", "uptime",
        "fsynctime_count", "fsynctime_sum", "fsynctime_bucket", "readlatency_count", "updatelatency_count",
        "updatelatency_bucket", "election_time_count", "quorum_ack_latency_count"]


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read().decode()


def names(text):
    out = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            out.add(line.split("{")[0].split(" ")[0])
    return out


def query(prom, q):
    url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (prom, urllib.parse.quote(q))
    answer = json.loads(get(url))
    if answer.get("status") != "success":
        fail(f"prometheus query {q}: {answer}")
    return answer["data"]["result"]


def main():
    if len(sys.argv) != 2:
        fail(__doc__)
    for tool in ("prometheus", "promtool"):
        if shutil.which(tool) is None:
            fail(f"{tool} is not installed (apt-get install prometheus)")
    watchdog(120)
    work = tempfile.mkdtemp(prefix="zabkeeper-prometheus-")
    servers = Servers(sys.argv[1], work)
    prom_proc = None
    try:
        metrics = [free_port() for _ in range(3)]
        clients = servers.ensemble("ens", 3, ["metricsProvider.className=prometheus",
                                              "metricsProvider.httpHost=127.0.0.1"],
                                   each=lambda i: [f"metricsProvider.httpPort={metrics[i]}"])
        wait_serving(clients)
        zk = KazooClient(hosts=",".join(f"127.0.0.1:{p}" for p in clients), timeout=5)
        zk.start(timeout=10)
        zk.ensure_path("/prom")
        for i in range(50):
            zk.create(f"/prom/n{i}", b"x" * 100)
            zk.get(f"/prom/n{i}")
        zk.sync("/")

        # names and promtool, on each member
        leader = None
        for i, port in enumerate(metrics):
            text = get(f"http://127.0.0.1:{port}/metrics")
            present = names(text)
            missing = [n for n in MAIN if n not in present]
            if missing:
                fail(f"member {i + 1} exposes no {missing}:\n{text[:2000]}")
            if "learners" in present:
                leader = i
                lags = [l for l in text.splitlines() if l.startswith("learner_lag{")]
                if len(lags) != 2 or "synced_followers 2" not in text.splitlines():
                    fail(f"the leader's learners: {lags}\n{text[:3000]}")
            r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
            findings = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
            unexpected = [f for f in findings if not (
                f.split(" ")[0] in ZOOKEEPER_COUNT_GAUGES
                and 'should not have "_count" suffix' in f)]
            if r.returncode not in (0, 3) or unexpected:
                fail(f"promtool on member {i + 1} (rc {r.returncode}): {unexpected or findings}")
        if leader is None:
            fail("no member exposes the leader's learners")
        print(f"names, promtool: ok (3 members; promtool's only findings are ZooKeeper's *_count gauges)")

        # a real Prometheus
        prom = free_port()
        cfg = os.path.join(work, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
                    "  - job_name: zabkeeper\n    static_configs:\n      - targets: [%s]\n"
                    % ", ".join(f"'127.0.0.1:{p}'" for p in metrics))
        log = open(os.path.join(work, "prometheus.log"), "w")
        prom_proc = subprocess.Popen(["prometheus", f"--config.file={cfg}",
                                      f"--storage.tsdb.path={work}/tsdb",
                                      f"--web.listen-address=127.0.0.1:{prom}"], stdout=log, stderr=log)
        deadline = time.time() + 60
        while True:
            try:
                up = query(prom, "up")
                counts = query(prom, "znode_count")
                writes = query(prom, "sum(updatelatency_count)")
                if (len(up) == 3 and all(s["value"][1] == "1" for s in up) and len(counts) == 3
                        and len({s["value"][1] for s in counts}) == 1 and writes
                        and float(writes[0]["value"][1]) >= 50):
                    break
            except OSError:
                pass
            if time.time() > deadline:
                fail("prometheus did not scrape all three members within 60 s:\n"
                     + open(os.path.join(work, "prometheus.log")).read()[-3000:])
            time.sleep(0.5)
        print(f"scrape: ok (up 1 on all 3, znode_count {counts[0]['value'][1]} on each, "
              f"updatelatency_count summed {writes[0]['value'][1]})")
        zk.stop()
        zk.close()
    except SystemExit:
        print(servers.logs())
        raise
    finally:
        if prom_proc is not None:
            prom_proc.kill()
            prom_proc.wait()
        servers.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("prometheus_check: all passed")


if __name__ == "__main__":
    main()
