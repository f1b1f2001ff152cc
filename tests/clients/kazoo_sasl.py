#!/usr/bin/env python3
"""SASL DIGEST-MD5 with an unmodified Kazoo (`sasl_options`, pure-sasl) against the real binary.

Usage: kazoo_sasl.py PATH_TO_ZABKEEPER

The servers take their users from a JAAS file with a `Server` section, as ZooKeeper's do
(java.security.auth.login.config), with authProvider.1=...SASLAuthenticationProvider and
zookeeper.superUser=admin. Checks:
  login      bob logs in and makes a node only sasl:bob may touch; he reads and writes it
  acl        a client without SASL gets NoAuth on that node; admin (super) reads it
  refused    a wrong password and an unknown user get no session
  enforced   with enforce.auth.schemes=sasl a client without SASL is turned away and bob is served
  ensemble   on a 3-process ensemble bob logs in on each member; a write made through one is
             guarded by its sasl ACL on the others (the id travels with the forwarded write)
Every call has a 5 s limit; a watchdog ends the run after 90 s. Exits non-zero on the first failure.
"""
import os
import shutil
import sys
import tempfile

from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import make_acl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Servers, fail, wait_serving, watchdog  # noqa: E402

CALL_S = 5.0
JAAS = """
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_admin="admin-secret"
    user_bob="bob's secret";
};
"""


def client(ports, user=None, password=None):
    kw = {}
    if user:
        kw["sasl_options"] = {"mechanism": "DIGEST-MD5", "username": user, "password": password}
    hosts = ",".join(f"127.0.0.1:{p}" for p in ports)
    c = KazooClient(hosts=hosts, timeout=5.0, connection_retry={"max_tries": 0}, randomize_hosts=False, **kw)
    c.start(timeout=CALL_S)
    return c


def refused(ports, user, password):
    """True if a client with these credentials gets no working session."""
    try:
        c = client(ports, user, password)
    except Exception:
        return True
    try:
        c.get("/")
        return False
    except Exception:
        return True
    finally:
        c.stop()


def expect_no_auth(what, f):
    try:
        f()
    except NoAuthError:
        return
    fail(f"{what}: expected NoAuth")


def main():
    binary = sys.argv[1]
    watchdog(90)
    work = tempfile.mkdtemp(prefix="kazoo-sasl-")
    jaas = os.path.join(work, "jaas.conf")
    with open(jaas, "w") as f:
        f.write(JAAS)
    sasl = [f"java.security.auth.login.config={jaas}", "zookeeper.superUser=admin",
            "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider"]
    servers = Servers(binary, work)
    try:
        port = servers.standalone("plain", sasl)
        strict = servers.standalone("strict", sasl + ["enforce.auth.enabled=true", "enforce.auth.schemes=sasl"])
        wait_serving([port])
        wait_serving([strict])

        bob = client([port], "bob", "bob's secret")
        bob.create("/bob", b"mine", acl=[make_acl("sasl", "bob", all=True)])
        bob.set("/bob", b"still mine")
        if bob.get("/bob")[0] != b"still mine":
            fail("bob cannot read his node")
        if bob.get_acls("/bob")[0][0].id.scheme != "sasl":
            fail(f"ACL of /bob: {bob.get_acls('/bob')}")
        print("ok login", flush=True)

        anonymous = client([port])
        expect_no_auth("get without SASL", lambda: anonymous.get("/bob"))
        expect_no_auth("set without SASL", lambda: anonymous.set("/bob", b"theirs"))
        anonymous.stop()
        admin = client([port], "admin", "admin-secret")
        if admin.get("/bob")[0] != b"still mine":
            fail("the super user cannot read /bob")
        admin.stop()
        print("ok acl", flush=True)

        if not refused([port], "bob", "guess"):
            fail("a wrong password got a session")
        if not refused([port], "eve", "bob's secret"):
            fail("an unknown user got a session")
        if bob.get("/bob")[0] != b"still mine":
            fail("bob's session suffered from the failed logins")
        bob.stop()
        print("ok refused", flush=True)

        if not refused([strict], None, None):
            fail("enforce.auth.schemes=sasl served a client without SASL")
        bob = client([strict], "bob", "bob's secret")
        bob.create("/strict", b"")
        bob.stop()
        print("ok enforced", flush=True)

        ports = servers.ensemble("ensemble", 3, sasl)
        wait_serving(ports)
        bobs = [client([p], "bob", "bob's secret") for p in ports]
        bobs[1].create("/e", b"guarded", acl=[make_acl("sasl", "bob", read=True, write=True)])
        for i, b in enumerate(bobs):
            b.sync("/e")
            if b.get("/e")[0] != b"guarded":
                fail(f"bob on member {i + 1} cannot read /e")
        bobs[2].set("/e", b"changed")
        for i, p in enumerate(ports):
            other = client([p])
            other.sync("/e")
            expect_no_auth(f"get /e without SASL on member {i + 1}", lambda: other.get("/e"))
            other.stop()
        for b in bobs:
            b.stop()
        print("ok ensemble", flush=True)
    except SystemExit:
        print(servers.logs(), flush=True)
        raise
    finally:
        servers.stop()
    shutil.rmtree(work, ignore_errors=True)
    print("kazoo sasl: all checks passed", flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
