//! Wires one server to the world: recovers its node, listens on the quorum port and dials
//! the other members (an ensemble), listens on the client port, and runs the node task until
//! it is told to stop.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use zabkeeper_core::ids::ServerId;

use super::{Node, NodeError};
use crate::config::Settings;
use crate::event::Event;
use crate::net::auth::QuorumAuth;
use crate::net::tls::{Live, QuorumTls, files, follow, server_config};
use crate::net::{client, peers};
use tokio_rustls::TlsAcceptor;

/// Why a server could not start, or stopped on an error.
#[derive(Debug)]
pub enum StartError {
    /// `myid` names no `server.N` line.
    NotAMember { my_id: u64 },
    /// A member's host does not resolve.
    Resolve { member: u64, host: String },
    /// A port cannot be listened on.
    Listen { what: &'static str, addr: SocketAddr, source: std::io::Error },
    /// The TLS key or trust store cannot be used.
    Tls(crate::net::tls::TlsError),
    /// The quorum secret file cannot be used.
    Secret(crate::net::auth::SecretError),
    /// The node could not recover its data, or stopped on a storage failure.
    Node(NodeError),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::NotAMember { my_id } => write!(f, "myid {my_id} is not a member (no server.{my_id} line)"),
            StartError::Resolve { member, host } => write!(f, "cannot resolve server.{member} host {host}"),
            StartError::Listen { what, addr, source } => write!(f, "cannot listen for {what} on {addr}: {source}"),
            StartError::Secret(why) => write!(f, "{why}"),
            StartError::Tls(why) => write!(f, "{why}"),
            StartError::Node(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Runs a server with `settings` until `stop` completes (then it syncs its log and returns)
/// or its storage fails. Call inside a tokio runtime with IO and time enabled.
pub async fn start(settings: Settings, stop: impl Future<Output = ()> + Send + 'static) -> Result<(), StartError> {
    let (events, inbox) = tokio::sync::mpsc::unbounded_channel();
    let mut node = Node::open(settings.clone(), events.clone()).map_err(StartError::Node)?;
    if settings.members.len() > 1 {
        let me = settings
            .members
            .iter()
            .find(|m| m.id == settings.my_id)
            .ok_or(StartError::NotAMember { my_id: settings.my_id })?;
        let quorum = Settings::resolve(me, me.quorum_port)
            .ok_or_else(|| StartError::Resolve { member: me.id, host: me.host.clone() })?;
        let listener = TcpListener::bind(quorum).await.map_err(|source| StartError::Listen {
            what: "peers",
            addr: quorum,
            source,
        })?;
        let auth = match &settings.quorum_secret_file {
            Some(path) => {
                let required = settings.quorum_require_secret;
                let live = Live::new(QuorumAuth::from_file(path, required).map_err(StartError::Secret)?);
                let path = path.clone();
                // A new secret is taken by the links made after it is in the file; the links
                // up now were proven with the old one and stay.
                follow("quorum secret", vec![path.clone()], Arc::clone(&live), move || {
                    QuorumAuth::from_file(&path, required)
                });
                live
            }
            None => {
                if settings.quorum_tls.as_ref().is_none_or(|t| t.unified) {
                    tracing::warn!(
                        "neither sslQuorum nor quorum.auth.secretFile: anyone who can reach the quorum port can pose as a member"
                    );
                }
                Live::new(QuorumAuth::none())
            }
        };
        let tls = match &settings.quorum_tls {
            Some(tls) => {
                let live = Live::new(QuorumTls::new(tls).map_err(StartError::Tls)?);
                let rebuilt = tls.clone();
                let paths = vec![tls.key_store.clone(), tls.trust_store.clone()];
                follow("quorum", paths, Arc::clone(&live), move || QuorumTls::new(&rebuilt));
                Some(live)
            }
            None => None,
        };
        let hosts = settings.members.iter().map(|m| (ServerId(m.id), m.host.clone())).collect();
        let security = peers::Security { auth, tls, hosts: Arc::new(hosts) };
        let ids = settings.members.iter().map(|m| ServerId(m.id)).collect();
        let liveness = peers::Liveness::from_limits(settings.tick_ms, settings.sync_limit);
        let me_id = ServerId(settings.my_id);
        tokio::spawn(peers::listen(listener, me_id, ids, liveness, security.clone(), events.clone()));
        let mut others = Vec::new();
        for m in settings.members.iter().filter(|m| m.id != settings.my_id) {
            let addr = Settings::resolve(m, m.quorum_port)
                .ok_or_else(|| StartError::Resolve { member: m.id, host: m.host.clone() })?;
            others.push(peers::Peer { id: ServerId(m.id), addr, host: m.host.clone() });
        }
        node.set_links(peers::Links::start(me_id, others, liveness, security, events.clone()));
        tracing::info!(peers = %quorum, members = settings.members.len(), "ensemble member");
    }
    let listener = TcpListener::bind(settings.client_addr).await.map_err(|source| StartError::Listen {
        what: "clients",
        addr: settings.client_addr,
        source,
    })?;
    tracing::info!(version = crate::SERVER_VERSION, client = %settings.client_addr, "serving");
    let limits = client::Limits {
        max_frame: settings.jute_max_buffer,
        max_cnxns: settings.max_cnxns,
        max_per_address: settings.max_client_cnxns,
        handshake: client::HANDSHAKE_DEADLINE,
        global_outstanding: settings.global_outstanding_limit,
    };
    let shared = client::Shared::new(&limits);
    let tls = match &settings.tls {
        Some(tls) => {
            let live = Live::new(TlsAcceptor::from(server_config(tls).map_err(StartError::Tls)?));
            let rebuilt = tls.clone();
            follow("clients", files(tls), Arc::clone(&live), move || server_config(&rebuilt).map(TlsAcceptor::from));
            Some(live)
        }
        None => None,
    };
    let security = match (&tls, settings.port_unification) {
        (Some(acceptor), true) => client::Security::Unified(acceptor.clone()),
        _ => client::Security::Plain,
    };
    let mut accepting = vec![tokio::spawn(client::serve(listener, events.clone(), limits, shared.clone(), security))];
    if let (Some(addr), Some(acceptor)) = (settings.secure_client_addr, tls) {
        let listener =
            TcpListener::bind(addr).await.map_err(|source| StartError::Listen { what: "TLS clients", addr, source })?;
        tracing::info!(secure_client = %addr, "serving TLS");
        let security = client::Security::Tls(acceptor);
        accepting.push(tokio::spawn(client::serve(listener, events.clone(), limits, shared, security)));
    }
    if let Some(admin) = &settings.admin {
        accepting.extend(crate::net::admin::start(admin, events.clone()).await.map_err(StartError::Tls)?);
    }
    if let Some(addr) = settings.metrics {
        // As in ZooKeeper, metrics asked for and not served stop the start.
        let listener =
            TcpListener::bind(addr).await.map_err(|source| StartError::Listen { what: "metrics", addr, source })?;
        tracing::info!(metrics = %addr, "Prometheus metrics at /metrics");
        let site = crate::net::admin::Site::Metrics;
        accepting.push(tokio::spawn(crate::net::admin::serve(
            listener,
            site,
            crate::net::admin::METRICS_IDLE,
            None,
            events.clone(),
        )));
    }
    let shutdown = events.clone();
    tokio::spawn(async move {
        stop.await;
        tracing::info!("shutting down");
        let _ = shutdown.send(Event::Shutdown);
    });
    let result = node.run(inbox).await.map_err(StartError::Node);
    for task in accepting {
        task.abort();
    }
    result
}
