//! The HTTP ports: the AdminServer, ZooKeeper's commands over HTTP/1.1 (`GET /commands` lists
//! them, `GET /commands/<name>?arg=value` runs one and answers ZooKeeper's JSON), plus `/ready`
//! and `/live` for orchestrators; and the Prometheus port (`GET /metrics`). The node task
//! answers everything (`Event::Admin`, `Event::Probe`, `Event::Metrics`); this side only
//! speaks HTTP, bounded like every other port: so many connections at once, so many bytes of
//! request head, an idle deadline, a deadline on the node's answer and on a connection's
//! whole life.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use super::{ACCEPT_BACKOFF, Throttle};
use crate::config::AdminSettings;
use crate::event::Event;
use crate::node::admin::COMMANDS;

/// Admin connections open at once; one more is closed at once (a dashboard and a few scripts
/// need a handful).
pub const CONNECTIONS_MAX: usize = 64;

/// Bytes of a request's head (request line and headers) read at most; a longer head closes
/// the connection.
pub const HEAD_BYTES_MAX: usize = 16 * 1024;

/// How long a command may wait for the node task before it is answered with an error.
pub const ANSWER_DEADLINE: Duration = Duration::from_secs(5);

/// A connection is closed after this long, whatever it does (keep-alive included).
pub const CONNECTION_LIFETIME_MAX: Duration = Duration::from_secs(600);

/// What an HTTP port serves.
#[derive(Clone, Debug)]
pub enum Site {
    /// The AdminServer, its commands under `url`.
    Admin { url: Arc<str> },
    /// Prometheus' `/metrics`.
    Metrics,
}

impl Site {
    pub fn admin(settings: &AdminSettings) -> Site {
        Site::Admin { url: settings.command_url.as_str().into() }
    }
}

/// Idle deadline of the metrics port (ZooKeeper's Jetty default).
pub const METRICS_IDLE: Duration = Duration::from_secs(30);

/// A connection, plain or TLS.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// Accepts connections until the task is dropped; `idle` is how long one may take to send a
/// complete request head (or, over `tls`, to finish its handshake).
pub async fn serve(
    listener: TcpListener,
    site: Site,
    idle: Duration,
    tls: Option<TlsAcceptor>,
    events: mpsc::UnboundedSender<Event>,
) {
    let slots = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    let mut refusals = Throttle::default();
    loop {
        let (stream, addr) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                if let Some(held) = refusals.ready(Instant::now()) {
                    warn!(error = %e, held, ?site, "HTTP port: accept failed; pausing");
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            if let Some(held) = refusals.ready(Instant::now()) {
                warn!(%addr, limit = CONNECTIONS_MAX, held, ?site, "HTTP port: too many connections; closed");
            }
            continue;
        };
        let (events, site, tls) = (events.clone(), site.clone(), tls.clone());
        tokio::spawn(async move {
            let stream: Box<dyn Io> = match tls {
                None => Box::new(stream),
                Some(acceptor) => match tokio::time::timeout(idle, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => Box::new(stream),
                    Ok(Err(e)) => {
                        debug!(%addr, error = %e, "HTTPS handshake failed");
                        return;
                    }
                    Err(_) => {
                        debug!(%addr, "no HTTPS handshake within the idle deadline");
                        return;
                    }
                },
            };
            let service = service_fn(move |request| answer(request, site.clone(), events.clone()));
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(idle)
                .max_buf_size(HEAD_BYTES_MAX)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(CONNECTION_LIFETIME_MAX, connection).await {
                Ok(Err(e)) => debug!(%addr, error = %e, "HTTP connection closed"),
                Err(_) => debug!(%addr, "HTTP connection open too long; closed"),
                Ok(Ok(())) => {}
            }
            drop(slot);
        });
    }
}

/// Binds the admin port and serves it on a task of its own; a port that cannot be had is a
/// warning, not a stop, as in ZooKeeper (the client port matters more than the dashboard).
/// HTTPS that cannot be set up (unreadable certificates) stops the start.
pub async fn start(
    settings: &AdminSettings,
    events: mpsc::UnboundedSender<Event>,
) -> Result<Option<JoinHandle<()>>, crate::net::tls::TlsError> {
    let tls = match &settings.tls {
        Some(tls) => Some(TlsAcceptor::from(crate::net::tls::server_config(tls)?)),
        None => None,
    };
    Ok(match TcpListener::bind(settings.addr).await {
        Ok(listener) => {
            let addr = listener.local_addr().map_or(settings.addr, |a| a);
            let scheme = if tls.is_some() { "https" } else { "http" };
            tracing::info!(admin = %addr, url = %settings.command_url, scheme, "admin server");
            let idle = Duration::from_millis(settings.idle_timeout_ms);
            Some(tokio::spawn(serve(listener, Site::admin(settings), idle, tls, events)))
        }
        Err(e) => {
            warn!(addr = %settings.addr, error = %e, "cannot start the admin server; serving without it");
            None
        }
    })
}

type Answer = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Asks the node; `None` when it did not answer within [`ANSWER_DEADLINE`].
async fn ask<T>(events: &mpsc::UnboundedSender<Event>, event: impl FnOnce(oneshot::Sender<T>) -> Event) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    events.send(event(tx)).ok()?;
    tokio::time::timeout(ANSWER_DEADLINE, rx).await.ok()?.ok()
}

async fn answer(
    request: Request<Incoming>,
    site: Site,
    events: mpsc::UnboundedSender<Event>,
) -> Result<Answer, Infallible> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Ok(reply(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET is served here\n"));
    }
    let path = request.uri().path();
    let text = "text/plain; charset=utf-8";
    let url = match site {
        Site::Admin { url } => url,
        Site::Metrics => {
            return Ok(match path {
                "/metrics" => match ask(&events, |reply| Event::Metrics { reply }).await {
                    Some(exposition) => reply(StatusCode::OK, OPENMETRICS, exposition),
                    None => reply(StatusCode::SERVICE_UNAVAILABLE, text, "the server does not answer\n"),
                },
                _ => reply(StatusCode::NOT_FOUND, text, "the metrics are at /metrics\n"),
            });
        }
    };
    Ok(match path {
        "/live" => match ask(&events, |reply| Event::Probe { reply }).await {
            Some(_) => reply(StatusCode::OK, text, "live\n"),
            None => reply(StatusCode::SERVICE_UNAVAILABLE, text, "the server does not answer\n"),
        },
        "/ready" => match ask(&events, |reply| Event::Probe { reply }).await {
            Some(true) => reply(StatusCode::OK, text, "ready\n"),
            Some(false) => reply(StatusCode::SERVICE_UNAVAILABLE, text, "not serving: no quorum yet\n"),
            None => reply(StatusCode::SERVICE_UNAVAILABLE, text, "the server does not answer\n"),
        },
        _ if path == &*url || path.strip_prefix(&*url) == Some("/") => {
            reply(StatusCode::OK, "text/html; charset=utf-8", listing(&url))
        }
        _ => match path.strip_prefix(&*url).and_then(|rest| rest.strip_prefix('/')) {
            Some(name) => {
                let args: Vec<(String, String)> =
                    form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
                        .map(|(k, v)| (k.into_owned(), v.into_owned()))
                        .collect();
                let command = name.to_string();
                let json = match ask(&events, |reply| Event::Admin { command, args, reply }).await {
                    Some(json) => json,
                    None => serde_json::json!({ "command": name, "error": "the server did not answer in time" }),
                };
                let mut body = serde_json::to_vec_pretty(&json).unwrap_or_default();
                body.push(b'\n');
                reply(StatusCode::OK, "application/json", body)
            }
            None => reply(StatusCode::NOT_FOUND, text, format!("no such page: {path} (the commands are at {url})\n")),
        },
    })
}

/// The content type of the OpenMetrics text format.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /commands`: a link to each command, as ZooKeeper's page has them.
fn listing(url: &str) -> String {
    let base = url.trim_end_matches('/');
    COMMANDS.iter().map(|c| format!("<a href=\"{base}/{0}\">{0}</a>\n<br/>\n", c.name)).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_listing_links_every_command_under_the_url() {
        let page = super::listing("/commands");
        assert_eq!(page.matches("<a href=").count(), 26);
        assert!(page.starts_with("<a href=\"/commands/configuration\">configuration</a>\n<br/>\n"));
    }
}
