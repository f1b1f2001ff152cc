//! The `zookeeper-client` crate (an unmodified Rust client with its own TLS and its own
//! DIGEST-MD5) against a real server process: over `secureClientPort` with a client
//! certificate, logged in with SASL DIGEST-MD5 from the server's JAAS file. Its sasl ACL holds
//! against a client without the login, and a wrong password gets no session.

mod common;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::{Member, certificates};
use zookeeper_client::{Acl, Acls, AuthId, Client, CreateMode, Error, Permission, SaslOptions, TlsOptions};

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f).await.unwrap_or_else(|_| panic!("timed out: {what}"))
}

fn server(dir: &Path) -> (Member, SocketAddr, SocketAddr) {
    let ports = common::free_ports(2);
    std::fs::write(
        dir.join("jaas.conf"),
        "Server {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n  user_bob=\"bob-secret\";\n};\n",
    )
    .unwrap();
    let config = dir.join("zoo.cfg");
    let text = format!(
        "tickTime=200\ndataDir={data}\nclientPort={plain}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\nsecureClientPort={secure}\n\
         4lw.commands.whitelist=srvr\nssl.keyStore.location={dir}/server.store.pem\nssl.keyStore.type=PEM\n\
         ssl.trustStore.location={dir}/ca.pem\nssl.trustStore.type=PEM\n\
         java.security.auth.login.config={dir}/jaas.conf\n\
         authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n",
        data = dir.join("data").display(),
        dir = dir.display(),
        plain = ports[0],
        secure = ports[1],
    );
    std::fs::write(&config, text).unwrap();
    let plain = SocketAddr::from(([127, 0, 0, 1], ports[0]));
    let mut member = Member { child: None, config, client: plain, admin: None };
    member.spawn();
    member.wait_for_mode(&["standalone"]);
    (member, plain, SocketAddr::from(([127, 0, 0, 1], ports[1])))
}

fn tls(dir: &Path) -> TlsOptions {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
    TlsOptions::default()
        .with_pem_ca(&read("ca.pem"))
        .unwrap()
        .with_pem_identity(&read("client.pem"), &read("client.key"))
        .unwrap()
}

#[tokio::test]
async fn the_rust_client_over_tls_with_a_sasl_login() {
    // The crate's TLS takes rustls's process-wide provider, and this test build holds two
    // (the crate brings aws-lc-rs): name the server's.
    #[allow(deprecated)]
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = common::scratch("rust-client-secure");
    certificates(&dir);
    let (_server, plain, secure) = server(&dir);

    let bob = within(
        "bob connects over TLS with SASL",
        Client::connector()
            .with_tls(tls(&dir))
            .with_sasl(SaslOptions::digest_md5("bob", "bob-secret"))
            .with_session_timeout(Duration::from_secs(6))
            .secure_connect(&secure.to_string()),
    )
    .await
    .expect("a session over TLS with SASL");
    let ids = within("whoami", bob.list_auth_users()).await.unwrap();
    let ids: Vec<(String, String)> = ids.iter().map(|u| (u.scheme().to_string(), u.user().to_string())).collect();
    assert!(ids.contains(&("sasl".into(), "bob".into())), "{ids:?}");
    assert!(ids.contains(&("x509".into(), "CN=alice,O=Test,C=NL".into())), "{ids:?}");

    let only_bob = [Acl::new(Permission::ALL, AuthId::new("sasl", "bob"))];
    let options = CreateMode::Persistent.with_acls(Acls::new(&only_bob));
    within("create", bob.create("/bob", b"mine", &options)).await.expect("create /bob with sasl:bob");
    let (data, _) = within("get", bob.get_data("/bob")).await.unwrap();
    assert_eq!(data, b"mine");

    // A client with the certificate but no login, and one on the plain port, may not read it.
    let anonymous = within(
        "a TLS client without SASL",
        Client::connector().with_tls(tls(&dir)).secure_connect(&secure.to_string()),
    )
    .await
    .unwrap();
    assert_eq!(within("get", anonymous.get_data("/bob")).await.unwrap_err(), Error::NoAuth);
    let plain_client = within("a plain client", Client::connect(&plain.to_string())).await.unwrap();
    assert_eq!(within("get", plain_client.get_data("/bob")).await.unwrap_err(), Error::NoAuth);

    // A wrong password gets no session.
    let wrong = tokio::time::timeout(
        Duration::from_secs(10),
        Client::connector()
            .with_sasl(SaslOptions::digest_md5("bob", "guess"))
            .with_connection_timeout(Duration::from_secs(2))
            .connect(&plain.to_string()),
    )
    .await;
    // Either the connect fails, or the client has no working session.
    if let Ok(Ok(client)) = wrong {
        let refused = within("get with a failed login", client.get_data("/")).await;
        assert!(refused.is_err(), "a wrong password was served");
    }
    // bob's session is untouched by all that.
    assert_eq!(within("get", bob.get_data("/bob")).await.unwrap().0, b"mine");
}
