#!/usr/bin/env bash
# zkCli.sh (Apache ZooKeeper 3.8's CLI, Debian's package) over TLS and with SASL DIGEST-MD5, set
# up the way ZooKeeper's documentation sets up its clients: CLIENT_JVMFLAGS with
# zookeeper.client.secure, ClientCnxnSocketNetty, PEM key and trust stores, and a JAAS file
# with a `Client` section.
#
#   tests/clients/zkcli_secure.sh BIN
#
# Checks: over TLS with alice's certificate and bob's SASL login, whoami shows the ip, x509 and
# sasl ids, and bob makes a node only sasl:bob may read; without SASL the same node is
# "Insufficient permission"; a wrong password is AuthFailed.
set -euo pipefail
if ! command -v java >/dev/null 2>&1 || [ ! -x /usr/share/zookeeper/bin/zkCli.sh ]; then
    echo "zkcli_secure: installing Debian's zookeeper and a JRE" >&2
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get update -qq
    timeout 900 apt-get install -y -qq zookeeper zookeeper-bin default-jre-headless >/dev/null
fi
BIN="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
W="$(mktemp -d /tmp/zkcli-secure.XXXXXX)"
PID=""
cleanup() {
    if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
    rm -rf "$W"
}
trap cleanup EXIT
cd "$W"

ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj "/CN=test ca" 2>/dev/null
printf 'basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >server.ext
printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' >client.ext
for who in "server /CN=localhost" "client /O=Test/CN=alice"; do
    set -- $who
    openssl req "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out "$1.pem" \
        -extfile "$1.ext" 2>/dev/null
    cat "$1.key" "$1.pem" >"$1.store.pem"
done
cat >jaas.conf <<'JAAS'
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_bob="bob-secret";
};
JAAS
for password in bob-secret wrong; do
    cat >"client-$password.conf" <<JAAS
Client {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    username="bob"
    password="$password";
};
JAAS
done
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
plain=$(free_port)
secure=$(free_port)
mkdir data
cat >zoo.cfg <<CFG
tickTime=2000
dataDir=$W/data
clientPort=$plain
clientPortAddress=127.0.0.1
admin.enableServer=false
secureClientPort=$secure
ssl.keyStore.location=$W/server.store.pem
ssl.keyStore.type=PEM
ssl.trustStore.location=$W/ca.pem
ssl.trustStore.type=PEM
java.security.auth.login.config=$W/jaas.conf
authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider
4lw.commands.whitelist=srvr
CFG
"$BIN" start --config zoo.cfg >server.log 2>&1 &
PID=$!
for _ in $(seq 100); do
    if python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$plain),1); s.sendall(b'srvr'); sys.exit(0 if b'Mode: standalone' in s.recv(4096) else 1)" 2>/dev/null; then
        break
    fi
    sleep 0.1
done

# Debian's zookeeper.jar lists only some of Netty's jars in its Class-Path: its zkCli.sh cannot
# load ClientCnxnSocketNetty as packaged. A second -cp in the flags (java takes the last one)
# adds the rest.
J=/usr/share/java
cp="-cp /etc/zookeeper/conf:$J/zookeeper.jar:$J/netty-codec.jar:$J/netty-resolver.jar"
cp="$cp:$J/netty-transport-native-unix-common.jar"
tls="$cp -Dzookeeper.client.secure=true -Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty \
-Dzookeeper.ssl.keyStore.location=$W/client.store.pem -Dzookeeper.ssl.keyStore.type=PEM \
-Dzookeeper.ssl.trustStore.location=$W/ca.pem -Dzookeeper.ssl.trustStore.type=PEM"
# zkCli.sh PORT JVMFLAGS COMMANDS...: the output, without zkCli's own chatter.
zkcli() {
    local port=$1 flags=$2
    shift 2
    printf '%s\n' "$@" quit | CLIENT_JVMFLAGS="$flags" timeout 60 /usr/share/zookeeper/bin/zkCli.sh \
        -server "127.0.0.1:$port" 2>&1 | grep -v -E '^(log4j|SLF4J|Connecting to|JLine|Welcome|$)' || true
}
expect() {
    local what=$1 output=$2
    shift 2
    for line in "$@"; do
        if ! grep -qxF -- "$line" <<<"$output"; then
            echo "zkcli_secure: $what: no line \"$line\" in:" >&2
            echo "$output" >&2
            tail -20 server.log >&2
            exit 1
        fi
    done
}

out=$(zkcli "$secure" "$tls -Djava.security.auth.login.config=$W/client-bob-secret.conf" \
    "whoami" "create /bob data sasl:bob:cdrwa" "getAcl /bob" "get /bob")
expect "TLS and SASL" "$out" "WatchedEvent state:SaslAuthenticated type:None path:null" "ip: 127.0.0.1" \
    "x509: CN=alice,O=Test" "sasl: bob" "Created /bob" "'sasl,'bob" ": cdrwa" "data"

out=$(zkcli "$secure" "$tls" "whoami" "get /bob")
expect "TLS without SASL" "$out" "x509: CN=alice,O=Test" "Insufficient permission : /bob"
if grep -q "sasl: bob" <<<"$out"; then
    echo "zkcli_secure: a client without SASL holds bob's id" >&2
    exit 1
fi

out=$(zkcli "$plain" "-Djava.security.auth.login.config=$W/client-wrong.conf" "get /bob")
expect "a wrong password" "$out" "WatchedEvent state:AuthFailed type:None path:null"

echo "zkcli_secure: zkCli.sh over TLS (client certificate) and SASL DIGEST-MD5: all checks passed"
