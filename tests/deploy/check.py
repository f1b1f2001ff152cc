"""The deployment files of deploy/, checked by what this machine can run (it has no container
engine and no systemd as PID 1):

1. systemd: `systemd-analyze verify` of deploy/systemd/zabkeeper.service (its ExecStart pointed
   at the built binary) and its `systemd-analyze security` exposure (2.0 at most), and its Type=notify contract on a real process: with NOTIFY_SOCKET and
   WATCHDOG_USEC set, a standalone server says READY=1 once it serves, pings the watchdog, and
   says STOPPING=1 on SIGTERM; an ensemble member says READY=1 only once it has a quorum.
2. The container entrypoint (`zabkeeper start --from-env`) on real processes: three members
   configured only by the variables of the compose file and of the StatefulSet (ZOO_SERVERS,
   ZOO_CFG_EXTRA, ZOO_MY_ID or the pod ordinal in HOSTNAME), on loopback, form an ensemble and
   serve a write; a restart keeps the config and myid it laid out.
3. The compose file and the Kubernetes manifests, parsed: ids, ports, probes, volumes, the
   secret and the server list agree with each other and with the zoo.cfg the entrypoint
   writes from them (`zabkeeper start --from-env --check`).
4. The Containerfile: what its lines promise (a static musl binary, no shell, a non-root user,
   the entrypoint, the volumes, the ports); building the image is not run here.

Usage: check.py <zabkeeper binary>
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients"))
from harness import fail, free_port, srvr, watchdog  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = f"{REPO}/deploy"


def main():
    binary = os.path.abspath(sys.argv[1])
    watchdog(180)
    work = tempfile.mkdtemp(prefix="zbk-deploy-")
    try:
        systemd_unit(binary, work)
        notify_contract(binary, work)
        compose = yaml.safe_load(open(f"{DEPLOY}/compose.yaml"))
        manifests = list(yaml.safe_load_all(open(f"{DEPLOY}/kubernetes/zabkeeper.yaml")))
        check_compose(binary, work, compose)
        check_kubernetes(binary, work, manifests)
        entrypoint_ensemble(binary, work, compose)
        check_containerfile()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("deploy check: ok")


def systemd_unit(binary, work):
    if not shutil.which("systemd-analyze"):
        print("systemd: systemd-analyze not installed here; the unit was not verified")
        return
    text = open(f"{DEPLOY}/systemd/zabkeeper.service").read()
    if "Type=notify" not in text or "WatchdogSec=" not in text:
        fail("the unit is not Type=notify with a watchdog")
    unit = f"{work}/zabkeeper.service"
    with open(unit, "w") as f:
        f.write(text.replace("/usr/local/bin/zabkeeper", binary))
    out = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True, timeout=60)
    # Only complaints about this unit count (the host's own units may have theirs).
    mine = [l for l in (out.stdout + out.stderr).splitlines() if "zabkeeper.service" in l]
    if out.returncode != 0 or mine:
        fail(f"systemd-analyze verify: rc {out.returncode}: {mine or out.stderr}")
    sec = subprocess.run(["systemd-analyze", "security", "--offline=true", unit], capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for zabkeeper.service: ([0-9.]+)", sec.stdout + sec.stderr)
    if not m:
        fail(f"systemd-analyze security gave no exposure level: {sec.stdout[-500:]} {sec.stderr[-500:]}")
    if float(m[1]) > 2.0:
        fail(f"the unit's exposure level is {m[1]} (at most 2.0 expected)")
    print(f"systemd: systemd-analyze verify passes; security exposure {m[1]} (of 10)")


def listen_notify(work, name):
    path = f"{work}/{name}.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    return sock, path


def messages_until(sock, want, seconds):
    got = []
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            got.append(sock.recv(4096).decode())
        except socket.timeout:
            pass
        if any(want in m for m in got):
            return got
    fail(f"no {want!r} within {seconds} s; got {got}")


def notify_contract(binary, work):
    # Standalone: ready as soon as it serves.
    sock, path = listen_notify(work, "standalone")
    port = free_port()
    d = f"{work}/notify"
    os.makedirs(f"{d}/data")
    with open(f"{d}/zoo.cfg", "w") as f:
        f.write(f"tickTime=200\ndataDir={d}/data\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n")
    env = dict(os.environ, NOTIFY_SOCKET=path, WATCHDOG_USEC="400000")
    proc = subprocess.Popen([binary, "start", "--config", f"{d}/zoo.cfg"], env=env,
                            stdout=open(f"{d}/server.log", "w"), stderr=subprocess.STDOUT)
    try:
        got = messages_until(sock, "READY=1", 20)
        if "Mode: standalone" not in srvr(port):
            fail("READY=1 came before the server served")
        got += messages_until(sock, "WATCHDOG=1", 5)
        proc.send_signal(signal.SIGTERM)
        got += messages_until(sock, "STOPPING=1", 10)
        if proc.wait(timeout=20) != 0:
            fail("the server did not exit 0 on SIGTERM")
    finally:
        if proc.poll() is None:
            proc.kill()
    ready = [m for m in got if "READY=1" in m]
    if len(ready) != 1 or "STATUS=serving as standalone" not in ready[0]:
        fail(f"READY=1 said {ready}")
    # A member of an ensemble whose peers are not there yet: not ready; ready once they are.
    sock, path = listen_notify(work, "member")
    clients = [free_port() for _ in range(2)]
    members = "".join(f"server.{i + 1}=127.0.0.1:{free_port()}:{free_port()}\n" for i in range(2))
    procs = []
    try:
        for i in range(2):
            d = f"{work}/m{i + 1}"
            os.makedirs(f"{d}/data")
            with open(f"{d}/data/myid", "w") as f:
                f.write(f"{i + 1}\n")
            with open(f"{d}/zoo.cfg", "w") as f:
                f.write(f"tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={d}/data\nclientPort={clients[i]}\n"
                        f"clientPortAddress=127.0.0.1\nadmin.enableServer=false\n{members}")
        procs.append(subprocess.Popen([binary, "start", "--config", f"{work}/m1/zoo.cfg"], env=dict(os.environ, NOTIFY_SOCKET=path),
                                      stdout=open(f"{work}/m1/server.log", "w"), stderr=subprocess.STDOUT))
        early = messages_until(sock, "STATUS=looking", 10)
        time.sleep(1.5)
        try:
            while True:
                early.append(sock.recv(4096).decode())
        except socket.timeout:
            pass
        if any("READY=1" in m for m in early):
            fail(f"a member without a quorum said READY=1: {early}")
        procs.append(subprocess.Popen([binary, "start", "--config", f"{work}/m2/zoo.cfg"],
                                      stdout=open(f"{work}/m2/server.log", "w"), stderr=subprocess.STDOUT))
        messages_until(sock, "READY=1", 30)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    print("systemd: READY=1 once serving (a member: once it has a quorum), WATCHDOG=1, STOPPING=1 on SIGTERM")


def env_of(entries):
    """A compose/Kubernetes env (a mapping or a list of {name, value}) as a dict of strings."""
    if isinstance(entries, dict):
        return {k: str(v) for k, v in entries.items()}
    return {e["name"]: str(e["value"]) for e in entries}


def servers_of(value):
    """ZOO_SERVERS -> {id: (host, quorum, election, client)}."""
    out = {}
    for entry in value.split():
        m = re.fullmatch(r"server\.(\d+)=([^:]+):(\d+):(\d+)(?::\w+)?;(\d+)", entry)
        if not m:
            fail(f"ZOO_SERVERS entry {entry!r} is not server.N=host:quorum:election;client")
        out[int(m[1])] = (m[2], int(m[3]), int(m[4]), int(m[5]))
    return out


def check_with_entrypoint(binary, work, name, env):
    """What `zabkeeper start --from-env --check` makes of an environment."""
    d = f"{work}/{name}"
    full = dict(os.environ, ZOO_CONF_DIR=f"{d}/conf", ZOO_DATA_DIR=f"{d}/data", ZOO_DATA_LOG_DIR=f"{d}/datalog", **env)
    out = subprocess.run([binary, "start", "--from-env", "--check"], env=full, capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        fail(f"{name}: start --from-env --check: {out.stderr}")
    facts = dict(line.split(": ", 1) for line in out.stdout.splitlines() if ": " in line)
    return facts, open(f"{d}/conf/zoo.cfg").read()


def check_compose(binary, work, compose):
    services = {k: v for k, v in compose["services"].items() if k != "secret"}
    if sorted(services) != ["zoo1", "zoo2", "zoo3"]:
        fail(f"compose services {sorted(services)}")
    ids = set()
    for name, svc in services.items():
        env = env_of(svc["environment"])
        servers = servers_of(env["ZOO_SERVERS"])
        my_id = int(env["ZOO_MY_ID"])
        ids.add(my_id)
        if servers[my_id][0] != svc["hostname"]:
            fail(f"{name}: server.{my_id} names {servers[my_id][0]}, the service's hostname is {svc['hostname']}")
        if set(servers) != {1, 2, 3}:
            fail(f"{name}: ZOO_SERVERS lists {sorted(servers)}")
        if not any(v.startswith("secret:/secret") for v in svc["volumes"]) or "quorum.auth.secretFile=/secret/quorum" not in env["ZOO_CFG_EXTRA"]:
            fail(f"{name}: the quorum secret is not mounted where ZOO_CFG_EXTRA says")
        if not any(v.endswith(":/data") for v in svc["volumes"]):
            fail(f"{name}: no data volume at /data")
        if not any(p.endswith(":2181") for p in svc["ports"]):
            fail(f"{name}: the client port 2181 is not published")
        facts, cfg = check_with_entrypoint(binary, work, f"compose-{name}", env)
        if facts["role"] != f"member {my_id} of 3 (voter)" or facts["client"] != "0.0.0.0:2181":
            fail(f"{name}: the entrypoint makes it {facts}")
        if facts["quorum secret"] != "/secret/quorum":
            fail(f"{name}: quorum secret {facts['quorum secret']}")
    if ids != {1, 2, 3}:
        fail(f"compose ids {ids}")
    if compose["services"]["secret"]["entrypoint"][1:3] != ["secret", "--out"]:
        fail("the secret service does not run zabkeeper secret")
    print("compose: 3 members, ids 1-3, server lines, secret, volumes and ports agree with the entrypoint's zoo.cfg")


def check_kubernetes(binary, work, manifests):
    by_kind = {}
    for m in manifests:
        by_kind.setdefault(m["kind"], []).append(m)
    sts = by_kind["StatefulSet"][0]
    services = {s["metadata"]["name"]: s for s in by_kind["Service"]}
    pdb = by_kind["PodDisruptionBudget"][0]
    spec = sts["spec"]
    labels = spec["template"]["metadata"]["labels"]
    headless = services[spec["serviceName"]]
    if headless["spec"].get("clusterIP") != "None" or not headless["spec"].get("publishNotReadyAddresses"):
        fail("the StatefulSet's service is not headless with publishNotReadyAddresses")
    for svc in services.values():
        if svc["spec"]["selector"] != labels:
            fail(f"service {svc['metadata']['name']} does not select the pods")
    if pdb["spec"]["selector"]["matchLabels"] != labels or pdb["spec"].get("maxUnavailable") != 1:
        fail("the PodDisruptionBudget does not keep a quorum of the pods")
    if spec.get("podManagementPolicy") != "Parallel":
        fail("pods must start in parallel: none is ready before a quorum is")
    pod = spec["template"]["spec"]
    anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    if anti["labelSelector"]["matchLabels"] != labels or anti["topologyKey"] != "kubernetes.io/hostname":
        fail("no anti-affinity keeping members on different nodes")
    if not pod["securityContext"].get("runAsNonRoot"):
        fail("pods may run as root")
    container = pod["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    env = env_of(container["env"])
    servers = servers_of(env["ZOO_SERVERS"])
    replicas = spec["replicas"]
    if sorted(servers) != list(range(1, replicas + 1)):
        fail(f"ZOO_SERVERS lists {sorted(servers)} for {replicas} replicas")
    for sid, (host, quorum, election, client) in servers.items():
        if host != f"{sts['metadata']['name']}-{sid - 1}.{spec['serviceName']}":
            fail(f"server.{sid} is {host}, not pod {sid - 1} of the headless service")
        if (quorum, election, client) != (ports["quorum"], ports["election"], ports["client"]):
            fail(f"server.{sid} ports {quorum},{election},{client} are not the container's {ports}")
    headless_ports = {p["name"]: p["port"] for p in headless["spec"]["ports"]}
    if headless_ports.get("quorum") != ports["quorum"] or headless_ports.get("election") != ports["election"]:
        fail("the headless service does not carry the quorum and election ports")
    client_svc = next(s for n, s in services.items() if n != spec["serviceName"])
    if client_svc["spec"]["ports"][0]["targetPort"] not in ("client", ports["client"]):
        fail("the client service does not reach the client port")
    for probe, path in (("readinessProbe", "/ready"), ("livenessProbe", "/live")):
        http = container[probe]["httpGet"]
        if http["path"] != path or http["port"] not in ("admin", ports["admin"]):
            fail(f"{probe} is {http}")
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = [c["metadata"]["name"] for c in spec["volumeClaimTemplates"]]
    if mounts.get("data") != "/data" or "data" not in claims:
        fail("the data claim is not mounted at ZOO_DATA_DIR (/data)")
    secret_dir = mounts.get("quorum-secret")
    if f"quorum.auth.secretFile={secret_dir}/quorum" not in env["ZOO_CFG_EXTRA"]:
        fail("ZOO_CFG_EXTRA's secret file is not in the mounted secret")
    if "requests" not in container["resources"]:
        fail("no resource requests")
    # What the entrypoint makes of each pod: its id from the ordinal, the ports the manifest says.
    for ordinal in range(replicas):
        pod_env = dict(env, HOSTNAME=f"{sts['metadata']['name']}-{ordinal}")
        facts, cfg = check_with_entrypoint(binary, work, f"k8s-{ordinal}", pod_env)
        if facts["role"] != f"member {ordinal + 1} of {replicas} (voter)":
            fail(f"pod {ordinal}: the entrypoint makes it {facts['role']}")
        if facts["admin"] != f"0.0.0.0:{ports['admin']}" or facts["client"] != f"0.0.0.0:{ports['client']}":
            fail(f"pod {ordinal}: admin {facts['admin']}, client {facts['client']}, manifest ports {ports}")
        if f"metricsProvider.httpPort={ports['metrics']}" not in cfg:
            fail(f"pod {ordinal}: the metrics port is not the container's")
        for word in ("ruok", "srvr"):
            if word not in facts["4lw"]:
                fail(f"pod {ordinal}: {word} not whitelisted")
    print(f"kubernetes: StatefulSet of {replicas}, headless and client services, PDB, probes on /ready and /live, "
          f"anti-affinity, claims, secret; each pod's zoo.cfg from the entrypoint agrees")


def entrypoint_ensemble(binary, work, compose):
    """The compose file's environment, moved to loopback ports: three members from the
    entrypoint alone, two of them finding their id from a pod-like host name."""
    clients = [free_port() for _ in range(3)]
    peers = [(free_port(), free_port()) for _ in range(3)]
    servers = " ".join(f"server.{i + 1}=127.0.0.1:{q}:{e};127.0.0.1:{c}" for i, ((q, e), c) in enumerate(zip(peers, clients)))
    secret = f"{work}/quorum"
    subprocess.run([binary, "secret", "--out", secret], check=True, capture_output=True)
    base = env_of(compose["services"]["zoo1"]["environment"])
    procs = []
    try:
        for i in range(3):
            d = f"{work}/entry-{i + 1}"
            env = dict(os.environ, ZOO_SERVERS=servers, ZOO_TICK_TIME="200", ZOO_INIT_LIMIT="10", ZOO_SYNC_LIMIT="5",
                       ZOO_4LW_COMMANDS_WHITELIST=base["ZOO_4LW_COMMANDS_WHITELIST"],
                       ZOO_CFG_EXTRA=base["ZOO_CFG_EXTRA"].replace("/secret/quorum", secret),
                       ZOO_ADMINSERVER_ENABLED="false", ZOO_CONF_DIR=f"{d}/conf", ZOO_DATA_DIR=f"{d}/data",
                       ZOO_DATA_LOG_DIR=f"{d}/datalog", HOSTNAME=f"zk-{i}")
            if i == 0:
                env["ZOO_MY_ID"] = "1"
            procs.append(subprocess.Popen([binary, "start", "--from-env"], env=env,
                                          stdout=open(f"{work}/entry-{i + 1}.log", "w"), stderr=subprocess.STDOUT))
        deadline = time.time() + 30
        while time.time() < deadline:
            modes = [srvr(p) for p in clients]
            if all("Mode:" in m for m in modes) and sum("Mode: leader" in m for m in modes) == 1:
                break
            time.sleep(0.2)
        else:
            fail(f"the entrypoint's members did not form an ensemble: {[srvr(p) for p in clients]}")
        out = subprocess.run([binary, "cli", "--server", f"127.0.0.1:{clients[2]}", "create", "/deployed", "yes"],
                             capture_output=True, text=True, timeout=30)
        got = subprocess.run([binary, "cli", "--server", f"127.0.0.1:{clients[0]}", "get", "/deployed"],
                             capture_output=True, text=True, timeout=30)
        if out.returncode != 0 or got.stdout.strip() != "yes":
            fail(f"a write through the entrypoint's ensemble: {out.stderr} {got.stdout} {got.stderr}")
        for i in range(3):
            if open(f"{work}/entry-{i + 1}/data/myid").read().strip() != str(i + 1):
                fail(f"member {i + 1} laid out the wrong myid")
    finally:
        for p in procs:
            p.kill()
            p.wait()
    print("entrypoint: 3 members from ZOO_* variables alone (ids from ZOO_MY_ID and the host name's ordinal) form an ensemble and serve")


def check_containerfile():
    text = open(f"{DEPLOY}/container/Containerfile").read()
    for needle, why in [
        ("--target x86_64-unknown-linux-musl", "a static binary"),
        ("FROM scratch", "no shell or other tools in the image"),
        ("USER 1000:1000", "a non-root user"),
        ('ENTRYPOINT ["/usr/local/bin/zabkeeper", "start", "--from-env"]', "the ZOO_* entrypoint"),
        ('VOLUME ["/data", "/datalog"]', "the data volumes"),
        ("EXPOSE 2181 2888 3888 8080", "the ports"),
        ("ZOO_DATA_DIR=/data", "the image's dataDir"),
    ]:
        if needle not in text:
            fail(f"the Containerfile lacks {why} ({needle!r})")
    print("Containerfile: static musl binary on scratch, user 1000, ZOO_* entrypoint, volumes, ports (the image is not built here: no container engine)")


if __name__ == "__main__":
    main()
