#!/usr/bin/env python3
"""Kazoo over TLS: an unmodified Kazoo (use_ssl, certfile/keyfile/ca) against the real binary.

Usage: kazoo_tls.py PATH_TO_ZABKEEPER

Certificates are made with `openssl` in a temp dir (a CA, a server certificate for 127.0.0.1, a
client certificate for CN=alice). One standalone server listens on a plain client port and on a
secureClientPort with ssl.clientAuth=need; a second one on a single client port with
client.portUnification=true. Checks:
  secure   Kazoo with alice's certificate: create (plain, ephemeral, sequential), getData,
           setData with a version, a data watch firing, getChildren, delete; what it wrote is
           read back by a Kazoo on the plain port
  refused  Kazoo without a client certificate gets no session on the secure port
  unified  Kazoo with TLS and Kazoo without, both on the one unified port, see each other's writes
Every call has a 5 s limit; a watchdog ends the run after 60 s. Exits non-zero on the first failure.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import threading

from kazoo.client import KazooClient

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Servers, fail, free_port, wait_serving, watchdog  # noqa: E402

CALL_S = 5.0


def openssl(work, *args):
    r = subprocess.run(["openssl", *args], cwd=work, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"openssl {args}: {r.stderr}")


def certificates(work):
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(work, "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test ca")
    for name, subject, ext in [
        ("server", "/CN=localhost", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"),
        ("client", "/CN=alice", "extendedKeyUsage=clientAuth\n"),
    ]:
        with open(os.path.join(work, f"{name}.ext"), "w") as f:
            f.write(f"basicConstraints=CA:FALSE\n{ext}")
        openssl(work, "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject)
        openssl(work, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "2", "-out", f"{name}.pem", "-extfile", f"{name}.ext")
    with open(os.path.join(work, "server.store.pem"), "w") as out:
        for part in ("server.key", "server.pem"):
            with open(os.path.join(work, part)) as f:
                out.write(f.read())


def client(port, tls, cert=True, work=None):
    kw = {}
    if tls:
        kw = dict(use_ssl=True, verify_certs=True, ca=f"{work}/ca.pem")
        if cert:
            kw.update(certfile=f"{work}/client.pem", keyfile=f"{work}/client.key")
    c = KazooClient(hosts=f"127.0.0.1:{port}", timeout=5.0, connection_retry={"max_tries": 0}, **kw)
    c.start(timeout=CALL_S)
    return c


def main():
    binary = os.path.abspath(sys.argv[1])
    watchdog(60)
    work = tempfile.mkdtemp(prefix="kazoo-tls-")
    servers = Servers(binary, work)
    try:
        certificates(work)
        stores = [f"ssl.keyStore.location={work}/server.store.pem", "ssl.keyStore.type=PEM",
                  f"ssl.trustStore.location={work}/ca.pem", "ssl.trustStore.type=PEM"]
        secure = free_port()
        plain = servers.standalone("secure", stores + [f"secureClientPort={secure}", "ssl.clientAuth=need"])
        unified = servers.standalone("unified", stores + ["client.portUnification=true", "ssl.clientAuth=want"])
        wait_serving([plain])
        wait_serving([unified])

        alice = client(secure, tls=True, work=work)
        alice.create("/tls", b"v1")
        alice.create("/tls/eph", b"", ephemeral=True)
        seq = alice.create("/tls/s-", b"", sequence=True)
        if alice.get("/tls")[0] != b"v1":
            fail("getData over TLS")
        fired = threading.Event()
        alice.get("/tls", watch=lambda e: fired.set())
        alice.set("/tls", b"v2", version=0)
        if not fired.wait(CALL_S):
            fail("the data watch did not fire over TLS")
        if sorted(alice.get_children("/tls")) != sorted(["eph", seq.rsplit("/", 1)[1]]):
            fail("getChildren over TLS")
        alice.delete(seq)
        other = client(plain, tls=False)
        if other.get("/tls")[0] != b"v2" or not other.exists("/tls/eph"):
            fail("the plain port does not see the TLS client's writes")
        other.stop()
        alice.stop()
        print("ok secure", flush=True)

        try:
            anonymous = client(secure, tls=True, cert=False, work=work)
            anonymous.stop()
            fail("a client without a certificate got a session on the secure port")
        except Exception as e:
            if isinstance(e, SystemExit):
                raise
        print("ok refused", flush=True)

        a = client(unified, tls=True, work=work)
        b = client(unified, tls=False)
        a.create("/u", b"from tls")
        b.create("/p", b"from plain")
        if b.get("/u")[0] != b"from tls" or a.get("/p")[0] != b"from plain":
            fail("unified port")
        a.stop()
        b.stop()
        print("ok unified", flush=True)
    except SystemExit:
        print(servers.logs(), flush=True)
        raise
    finally:
        servers.stop()
    shutil.rmtree(work, ignore_errors=True)
    os._exit(0)


if __name__ == "__main__":
    main()
