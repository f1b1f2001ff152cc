//! TLS for clients, configured with ZooKeeper's keys: `secureClientPort` (a port that speaks
//! only TLS), `client.portUnification` (TLS and plain text on the client port, told apart by
//! the first byte), `ssl.keyStore.*` and `ssl.trustStore.*` of type PEM, `ssl.clientAuth`
//! (`none`, `want`, `need`; `need` by default, as in ZooKeeper), `ssl.enabledProtocols`
//! (`TLSv1.2`, `TLSv1.3`). The TLS itself is rustls, with ring's primitives.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

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

/// Builds the rustls configuration from the PEM files.
pub fn server_config(settings: &TlsSettings) -> Result<Arc<ServerConfig>, TlsError> {
    // ring, not aws-lc-rs: it builds with a C compiler alone. (It has no post-quantum key
    // exchange yet, which is why rustls marks it deprecated.)
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let pem = read(&settings.key_store, "key store")?;
    let chain = certificates(&pem, &settings.key_store)?;
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| TlsError(format!("{}: no usable private key: {e}", settings.key_store.display())))?;
    let mut versions = Vec::new();
    if settings.protocols.tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if settings.protocols.tls12 {
        versions.push(&rustls::version::TLS12);
    }
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| TlsError(e.to_string()))?;
    let builder = match settings.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        auth => {
            let Some(path) = &settings.trust_store else {
                return Err(TlsError(
                    "ssl.clientAuth asks for client certificates: ssl.trustStore.location is needed".into(),
                ));
            };
            let mut roots = RootCertStore::empty();
            for cert in certificates(&read(path, "trust store")?, path)? {
                roots.add(cert).map_err(|e| TlsError(format!("{}: {e}", path.display())))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if auth == ClientAuth::Want { verifier.allow_unauthenticated() } else { verifier };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| TlsError(e.to_string()))?)
        }
    };
    let config = builder.with_single_cert(chain, key).map_err(|e| TlsError(e.to_string()))?;
    Ok(Arc::new(config))
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
