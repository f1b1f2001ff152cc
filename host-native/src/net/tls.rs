//! TLS for clients and between members. For clients, with ZooKeeper's keys: `secureClientPort` (a port that speaks
//! only TLS), `client.portUnification` (TLS and plain text on the client port, told apart by
//! the first byte), `ssl.keyStore.*` and `ssl.trustStore.*` of type PEM, `ssl.clientAuth`
//! (`none`, `want`, `need`; `need` by default, as in ZooKeeper), `ssl.enabledProtocols`
//! (`TLSv1.2`, `TLSv1.3`). Between members: `sslQuorum=true` with the `ssl.quorum.*` keys
//! ([`QuorumTls`]). The TLS itself is rustls, with ring's primitives.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// `ssl.clientAuth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// Asked for; a client without one is let in, one with a certificate the trust store does
    /// not vouch for is not.
    Want,
    /// A client without a certificate the trust store vouches for is refused.
    Need,
}

impl ClientAuth {
    pub fn parse(value: &str) -> Option<ClientAuth> {
        match value.to_ascii_lowercase().as_str() {
            "none" => Some(ClientAuth::None),
            "want" => Some(ClientAuth::Want),
            "need" => Some(ClientAuth::Need),
            _ => None,
        }
    }
}

/// `ssl.enabledProtocols` (or `ssl.protocol`): which TLS versions are spoken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Protocols {
    pub tls12: bool,
    pub tls13: bool,
}

impl Default for Protocols {
    fn default() -> Protocols {
        Protocols { tls12: true, tls13: true }
    }
}

impl Protocols {
    /// A comma-separated list of `TLSv1.2` and `TLSv1.3` (older versions are refused).
    pub fn parse(value: &str) -> Result<Protocols, String> {
        let mut p = Protocols { tls12: false, tls13: false };
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "TLSv1.2" => p.tls12 = true,
                "TLSv1.3" | "TLS" => p.tls13 = true,
                other => return Err(format!("{other:?} is not supported (TLSv1.2 and TLSv1.3 are)")),
            }
        }
        if !p.tls12 && !p.tls13 {
            return Err("no protocol named".into());
        }
        Ok(p)
    }
}

/// What the client port's TLS is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM: this server's private key and its certificate chain (one file, as ZooKeeper's PEM
    /// key store).
    pub key_store: PathBuf,
    /// PEM: the certificates that vouch for clients (needed unless `client_auth` is none).
    pub trust_store: Option<PathBuf>,
    pub client_auth: ClientAuth,
    pub protocols: Protocols,
}

/// Why TLS could not be set up.
#[derive(Debug)]
pub struct TlsError(pub String);

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLS: {}", self.0)
    }
}

impl std::error::Error for TlsError {}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError(format!("cannot read the {what} {}: {e}", path.display())))
}

fn certificates(pem: &[u8], path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsError(format!("{}: no certificate in it", path.display())));
    }
    Ok(certs)
}

fn provider() -> Arc<CryptoProvider> {
    // ring, not aws-lc-rs: it builds with a C compiler alone. (It has no post-quantum key
    // exchange yet, which is why rustls marks it deprecated.)
    #[allow(deprecated)]
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A PEM key store: the certificate chain and the private key.
fn key_store(path: &Path) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let pem = read(path, "key store")?;
    let chain = certificates(&pem, path)?;
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| TlsError(format!("{}: no usable private key: {e}", path.display())))?;
    Ok((chain, key))
}

/// A PEM trust store.
fn roots(path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(&read(path, "trust store")?, path)? {
        roots.add(cert).map_err(|e| TlsError(format!("{}: {e}", path.display())))?;
    }
    Ok(Arc::new(roots))
}

fn versions(protocols: Protocols) -> Vec<&'static rustls::SupportedProtocolVersion> {
    let mut versions = Vec::new();
    if protocols.tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if protocols.tls12 {
        versions.push(&rustls::version::TLS12);
    }
    versions
}

/// Builds the client port's rustls configuration from the PEM files.
pub fn server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let (chain, key) = key_store(&settings.key_store)?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions(settings.protocols))
        .map_err(|e| TlsError(e.to_string()))?;
    let builder = match settings.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        auth => {
            let Some(path) = &settings.trust_store else {
                return Err(TlsError(
                    "ssl.clientAuth asks for client certificates: ssl.trustStore.location is needed".into(),
                ));
            };
            let verifier = WebPkiClientVerifier::builder_with_provider(roots(path)?, provider);
            let verifier = if auth == ClientAuth::Want { verifier.allow_unauthenticated() } else { verifier };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| TlsError(e.to_string()))?)
        }
    };
    let config = builder.with_single_cert(chain, key).map_err(|e| TlsError(e.to_string()))?;
    Ok(Arc::new(config))
}

/// TLS on the quorum port (`sslQuorum=true` with the `ssl.quorum.*` keys): every member shows
/// a certificate the quorum trust store vouches for, both ways.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumTlsSettings {
    pub key_store: PathBuf,
    pub trust_store: PathBuf,
    /// `ssl.quorum.hostnameVerification` (default true): a dialer checks that the member it
    /// dials shows a certificate for the host its `server.N` line names.
    pub hostname_verification: bool,
    pub protocols: Protocols,
    /// `sslQuorum`: this member dials its peers with TLS.
    pub dial: bool,
    /// `portUnification`: the quorum port takes plain peers as well as TLS ones (told apart by
    /// the first byte), for rolling TLS into a running ensemble.
    pub unified: bool,
}

/// Both sides of the quorum port's TLS: the acceptor demands a member's certificate, the dialer
/// shows its own and checks the acceptor's.
#[derive(Clone)]
pub struct QuorumTls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub connector: tokio_rustls::TlsConnector,
    /// `ssl.quorum.hostnameVerification`: the acceptor, too, checks that the certificate of a
    /// peer claiming to be server N is for the host of N's `server.N` line, so that one
    /// member's certificate (or any other the CA signed) cannot pose as another member.
    pub bind_members: bool,
    /// `sslQuorum`: dial with TLS (else plain, with the acceptor kept for `portUnification`).
    pub dial: bool,
    /// `portUnification`: accept plain peers too.
    pub unified: bool,
}

impl fmt::Debug for QuorumTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QuorumTls")
    }
}

impl QuorumTls {
    pub fn new(settings: &QuorumTlsSettings) -> Result<QuorumTls, TlsError> {
        let provider = provider();
        let (chain, key) = key_store(&settings.key_store)?;
        let roots = roots(&settings.trust_store)?;
        let versions = versions(settings.protocols);
        let client_verifier = WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), Arc::clone(&provider))
            .build()
            .map_err(|e| TlsError(e.to_string()))?;
        let server = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&versions)
            .map_err(|e| TlsError(e.to_string()))?
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| TlsError(e.to_string()))?;
        let server_verifier = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
            .build()
            .map_err(|e| TlsError(e.to_string()))?;
        let verifier: Arc<dyn ServerCertVerifier> =
            if settings.hostname_verification { server_verifier } else { Arc::new(AnyName(server_verifier)) };
        let client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| TlsError(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(chain, key)
            .map_err(|e| TlsError(e.to_string()))?;
        Ok(QuorumTls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
            connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
            bind_members: settings.hostname_verification,
            dial: settings.dial,
            unified: settings.unified,
        })
    }
}

/// The trust store's full check of a member's certificate, less the match of its name to the
/// host dialed (`ssl.quorum.hostnameVerification=false`).
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A client's side (the load tool's): trust the CAs in `ca`, show the certificate in `cert`
/// (its key in `key`) if given.
pub fn client_config(ca: &Path, cert: Option<(&Path, &Path)>) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(e.to_string()))?
        .with_root_certificates(roots(ca)?);
    let config = match cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = certificates(&read(cert, "certificate")?, cert)?;
            let key = PrivateKeyDer::from_pem_slice(&read(key, "key")?)
                .map_err(|e| TlsError(format!("{}: no usable private key: {e}", key.display())))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| TlsError(e.to_string()))?
        }
    };
    Ok(Arc::new(config))
}

/// The name a dialer checks a member's certificate against: its `server.N` host.
/// Whether the certificate `der` is for `host` (a DNS name or an IP address in its subject
/// alternative names), as a dialer checks the host it dialed.
pub fn is_for_host(der: &CertificateDer<'_>, host: &str) -> bool {
    let Ok(name) = server_name(host) else { return false };
    let Ok(cert) = rustls::server::ParsedCertificate::try_from(der) else { return false };
    rustls::client::verify_server_name(&cert, &name).is_ok()
}

pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_string()).map_err(|_| TlsError(format!("{host:?} is not a host name or address")))
}

/// The subject of a certificate as ZooKeeper's x509 scheme names a client
/// (`X500Principal.getName()`, RFC 2253): the relative names last first, comma-separated,
/// `CN=alice,O=Example,C=NL`.
pub fn subject(der: &[u8]) -> Option<String> {
    use x509_cert::der::Decode;
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    Some(cert.tbs_certificate.subject.to_string())
}

/// How often the key and trust store files are looked at for a change.
pub const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// A configuration that follows its files (TLS certificates, the quorum secret): new connections
/// take the newest one. It is rotated by writing new files (best renamed into place): within
/// [`RELOAD_EVERY`] the configuration is built anew from them; files that do not make one (half
/// written, a key that does not match, a secret too short) are logged and the one in use is
/// kept.
#[derive(Debug)]
pub struct Live<T> {
    current: RwLock<T>,
}

impl<T: Clone> Live<T> {
    pub fn new(value: T) -> Arc<Live<T>> {
        Arc::new(Live { current: RwLock::new(value) })
    }

    /// The configuration in force now.
    pub fn get(&self) -> T {
        match self.current.read() {
            Ok(value) => value.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, value: T) {
        match self.current.write() {
            Ok(mut current) => *current = value,
            Err(poisoned) => *poisoned.into_inner() = value,
        }
    }
}

/// The files' sizes and modification times: what a change shows in.
fn stamps(paths: &[PathBuf]) -> Vec<Option<(u64, SystemTime)>> {
    paths.iter().map(|p| std::fs::metadata(p).ok().map(|m| (m.len(), m.modified().unwrap_or(UNIX_EPOCH)))).collect()
}

/// Watches `paths` and rebuilds `live` with `build` when any of them changes, until the runtime
/// stops. `what` names the configuration in log lines.
pub fn follow<T, E, F>(what: &'static str, paths: Vec<PathBuf>, live: Arc<Live<T>>, build: F)
where
    T: Clone + Send + Sync + 'static,
    E: fmt::Display,
    F: Fn() -> Result<T, E> + Send + 'static,
{
    tokio::spawn(async move {
        let mut seen = stamps(&paths);
        loop {
            tokio::time::sleep(RELOAD_EVERY).await;
            let now = stamps(&paths);
            if now == seen {
                continue;
            }
            seen = now;
            match build() {
                Ok(value) => {
                    live.set(value);
                    tracing::info!(what, "reloaded from its changed files");
                }
                Err(e) => tracing::warn!(what, error = %e, "changed files not used; the previous ones stay"),
            }
        }
    });
}

/// The files a client port's TLS is built from.
pub fn files(settings: &TlsSettings) -> Vec<PathBuf> {
    let mut files = vec![settings.key_store.clone()];
    files.extend(settings.trust_store.clone());
    files
}

/// The first byte of a TLS connection (a handshake record); no ZooKeeper frame (a length
/// below 16 MiB) or four-letter word starts with it.
pub const HANDSHAKE_RECORD: u8 = 0x16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_words_are_zookeepers() {
        assert_eq!(ClientAuth::parse("NEED"), Some(ClientAuth::Need));
        assert_eq!(ClientAuth::parse("maybe"), None);
        assert_eq!(Protocols::parse("TLSv1.2").unwrap(), Protocols { tls12: true, tls13: false });
        assert_eq!(Protocols::parse("TLSv1.3, TLSv1.2").unwrap(), Protocols::default());
        assert!(Protocols::parse("TLSv1.1").is_err());
        assert!(Protocols::parse("").is_err());
    }

    #[test]
    fn missing_files_and_a_missing_trust_store_are_named() {
        let settings = TlsSettings {
            key_store: PathBuf::from("/nonexistent/key.pem"),
            trust_store: None,
            client_auth: ClientAuth::Need,
            protocols: Protocols::default(),
        };
        assert!(server_config(&settings).unwrap_err().0.contains("/nonexistent/key.pem"));
    }
}
