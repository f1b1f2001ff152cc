//! Server settings: the embedded defaults, or ZooKeeper's zoo.cfg (and `myid` in dataDir).
//!
//! Every value is checked before anything starts: a wrong value is an error naming the key,
//! an unknown key a warning (ZooKeeper turns unknown keys into system properties).

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use zabkeeper_core::wire::FourLetterWord;

use crate::net::tls::{ClientAuth, Protocols, QuorumTlsSettings, TlsSettings};

/// One `server.N=host:quorumPort:electionPort[:participant|:observer][;[addr:]clientPort]` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub host: String,
    pub quorum_port: u16,
    pub election_port: u16,
    pub observer: bool,
    pub client: Option<SocketAddr>,
}

/// Everything a server runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub tick_ms: u64,
    pub init_limit: u64,
    pub sync_limit: u64,
    pub data_dir: PathBuf,
    pub data_log_dir: Option<PathBuf>,
    pub client_addr: SocketAddr,
    pub members: Vec<Member>,
    pub my_id: u64,
    pub max_client_cnxns: usize,
    /// Connections on the client port in all (`maxCnxns`; 0: no limit, ZooKeeper's default).
    pub max_cnxns: usize,
    /// Requests read and not yet answered, over all client connections
    /// (`globalOutstandingLimit`, 1000).
    pub global_outstanding_limit: usize,
    pub min_session_timeout_ms: Option<i32>,
    pub max_session_timeout_ms: Option<i32>,
    pub snap_count: u64,
    /// An fdatasync of the log slower than this is logged and counted
    /// (`fsync.warningthresholdms`, 1000).
    pub fsync_warning_ms: u64,
    pub snap_retain_count: u32,
    pub purge_interval_hours: u32,
    pub force_sync: bool,
    pub jute_max_buffer: usize,
    pub extended_types: bool,
    /// Four-letter words answered ("*" in zoo.cfg means all).
    pub four_letter_words: BTreeSet<String>,
    pub super_digest: Option<String>,
    /// `X509AuthenticationProvider.superUser`: a client certificate subject that is super.
    pub x509_super: Option<String>,
    /// `enforce.auth.enabled=true`: the schemes of `enforce.auth.schemes`, one of which a
    /// connection must have authenticated with before it may ask for anything.
    pub enforce_auth: Option<Vec<String>>,
    /// SASL DIGEST-MD5 logins, when a JAAS file is given.
    pub sasl: Option<SaslSettings>,
    /// `authProvider.N=...SASLAuthenticationProvider`: ACLs may name `sasl` ids.
    pub sasl_acls: bool,
    /// The file holding the secret that members prove to each other on the quorum port
    /// (`quorum.auth.secretFile`; none: peers are taken at their word).
    pub quorum_secret_file: Option<PathBuf>,
    /// Refuse peers that prove no secret (`quorum.auth.requireSecret`, default true; false only
    /// while rolling a secret out).
    pub quorum_require_secret: bool,
    /// `secureClientPort` (with `secureClientPortAddress`, else the client port's address): a
    /// port that speaks only TLS.
    pub secure_client_addr: Option<SocketAddr>,
    /// `client.portUnification`: the client port takes TLS as well as plain text.
    pub port_unification: bool,
    /// The `ssl.*` keys, once a TLS port asks for them.
    pub tls: Option<TlsSettings>,
    /// `sslQuorum=true` with the `ssl.quorum.*` keys: TLS between members.
    pub quorum_tls: Option<QuorumTlsSettings>,
    /// The AdminServer over HTTP (`admin.*`; none: `admin.enableServer=false`).
    pub admin: Option<AdminSettings>,
    /// Prometheus metrics at `http://<addr>/metrics` (`metricsProvider.className` names the
    /// Prometheus provider; none: ZooKeeper's default, no metrics).
    pub metrics: Option<SocketAddr>,
    /// The text of the zoo.cfg the server started from (the `initial_configuration` command).
    pub initial_config: Option<String>,
    /// Unknown keys and other things worth a warning.
    pub warnings: Vec<String>,
}

/// The AdminServer: ZooKeeper's keys and defaults (`admin.serverAddress` 0.0.0.0 from a zoo.cfg,
/// 127.0.0.1 on the embedded defaults; `admin.serverPort` 8080; `admin.commandURL` /commands;
/// `admin.idleTimeout` 30000 ms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminSettings {
    pub addr: SocketAddr,
    /// Where the commands are, `/commands/<name>` below it: starts with `/`, no trailing `/`.
    pub command_url: String,
    /// A connection that sends no complete request head for this long is closed.
    pub idle_timeout_ms: u64,
    /// `admin.forceHttps=true`: HTTPS only, with the `ssl.quorum.*` key and trust stores, as
    /// ZooKeeper's AdminServer; client certificates required with `admin.needClientAuth`.
    pub tls: Option<TlsSettings>,
}

/// ZooKeeper's AdminServer port.
pub const ADMIN_PORT: u16 = 8080;

/// ZooKeeper's Prometheus exporter port (`metricsProvider.httpPort`).
pub const METRICS_PORT: u16 = 7000;

/// ZooKeeper's class names of its Prometheus metrics provider, and the short name taken too.
const PROMETHEUS_PROVIDER: [&str; 2] =
    ["org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider", "prometheus"];

/// Where SASL users come from, and who of them is super.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaslSettings {
    /// `java.security.auth.login.config`: the JAAS file.
    pub jaas_file: PathBuf,
    /// `zookeeper.sasl.serverconfig`: its section (`Server`).
    pub section: String,
    /// `zookeeper.superUser` (and `zookeeper.superUser.N`): SASL users who are super.
    pub super_users: Vec<String>,
}

/// The `ssl.*` keys as read, before they are checked together.
#[derive(Default)]
struct SslKeys {
    key_store: Option<PathBuf>,
    trust_store: Option<PathBuf>,
    client_auth: Option<ClientAuth>,
    protocols: Option<Protocols>,
}

/// A configuration that cannot be run.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Default for Settings {
    /// The embedded defaults: a standalone server on 127.0.0.1:2181, data in ./zabkeeper-data,
    /// tickTime 2000.
    fn default() -> Settings {
        Settings {
            tick_ms: 2000,
            init_limit: 10,
            sync_limit: 5,
            data_dir: PathBuf::from("zabkeeper-data"),
            data_log_dir: None,
            client_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 2181),
            members: Vec::new(),
            my_id: 1,
            max_client_cnxns: 60,
            max_cnxns: 0,
            global_outstanding_limit: 1000,
            min_session_timeout_ms: None,
            max_session_timeout_ms: None,
            snap_count: 100_000,
            fsync_warning_ms: 1000,
            snap_retain_count: 3,
            purge_interval_hours: 0,
            force_sync: true,
            jute_max_buffer: 0xfffff,
            extended_types: false,
            four_letter_words: BTreeSet::from(["srvr".to_string()]),
            super_digest: None,
            x509_super: None,
            enforce_auth: None,
            sasl: None,
            sasl_acls: false,
            quorum_secret_file: None,
            quorum_require_secret: true,
            secure_client_addr: None,
            port_unification: false,
            tls: None,
            quorum_tls: None,
            admin: Some(AdminSettings {
                addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), ADMIN_PORT),
                command_url: "/commands".into(),
                idle_timeout_ms: 30_000,
                tls: None,
            }),
            metrics: None,
            initial_config: None,
            warnings: Vec::new(),
        }
    }
}

fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value.parse().map_err(|_| ConfigError(format!("{key}: {value:?} is not a valid value")))
}

fn positive(key: &str, value: &str) -> Result<u64, ConfigError> {
    match parse::<u64>(key, value)? {
        0 => Err(ConfigError(format!("{key}: must be greater than 0"))),
        n => Ok(n),
    }
}

fn yes_no(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" => Ok(true),
        "no" | "false" => Ok(false),
        _ => Err(ConfigError(format!("{key}: {value:?} is not yes/no or true/false"))),
    }
}

fn port(key: &str, value: &str) -> Result<u16, ConfigError> {
    match parse::<u16>(key, value)? {
        0 => Err(ConfigError(format!("{key}: port 0 is not allowed"))),
        p => Ok(p),
    }
}

fn member(key: &str, id: u64, value: &str) -> Result<Member, ConfigError> {
    let (addresses, client) = match value.split_once(';') {
        Some((a, c)) => (a, Some(c.trim())),
        None => (value, None),
    };
    let parts: Vec<&str> = addresses.trim().split(':').collect();
    let (host, quorum, election, role) = match parts.as_slice() {
        [h, q, e] => (*h, *q, *e, None),
        [h, q, e, r] => (*h, *q, *e, Some(*r)),
        _ => return Err(ConfigError(format!("{key}: expected host:quorumPort:electionPort[:role], got {value:?}"))),
    };
    let observer = match role {
        None | Some("participant") => false,
        Some("observer") => true,
        Some(other) => return Err(ConfigError(format!("{key}: unknown role {other:?} (participant or observer)"))),
    };
    let client = match client {
        None | Some("") => None,
        Some(c) => {
            let (addr, p) = match c.rsplit_once(':') {
                Some((a, p)) => (a, p),
                None => ("0.0.0.0", c),
            };
            let p = port(key, p)?;
            let ip: IpAddr = parse(key, addr)?;
            Some(SocketAddr::new(ip, p))
        }
    };
    Ok(Member {
        id,
        host: host.to_string(),
        quorum_port: port(key, quorum)?,
        election_port: port(key, election)?,
        observer,
        client,
    })
}

/// `zookeeper.superUser`, `superUser` and their `.N` forms (ZooKeeper reads every system
/// property that starts so).
fn is_super_user_key(key: &str) -> bool {
    let rest = key.strip_prefix("zookeeper.").unwrap_or(key);
    rest.strip_prefix("superUser").is_some_and(|tail| tail.is_empty() || tail.starts_with('.'))
}

impl Settings {
    /// Reads a zoo.cfg, then `myid` from its dataDir when it lists servers.
    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        let mut settings = Settings::from_text(&text)?;
        settings.initial_config = Some(text);
        if !settings.members.is_empty() {
            let myid = settings.data_dir.join("myid");
            let id = std::fs::read_to_string(&myid).map_err(|e| {
                ConfigError(format!("cannot read {} (needed with server.N lines): {e}", myid.display()))
            })?;
            settings.my_id = parse("myid", id.trim())?;
            let Some(me) = settings.members.iter().find(|m| m.id == settings.my_id) else {
                return Err(ConfigError(format!("myid {} has no server.{} line", settings.my_id, settings.my_id)));
            };
            if let Some(client) = me.client {
                // `server.N=...;addr:port` names this server's client address.
                settings.client_addr = client;
            }
        }
        Ok(settings)
    }

    /// Parses zoo.cfg text (myid not read).
    pub fn from_text(text: &str) -> Result<Settings, ConfigError> {
        let mut s = Settings::default();
        let mut client_port: Option<u16> = None;
        let mut client_ip: Option<IpAddr> = None;
        let mut secure_port: Option<u16> = None;
        let mut secure_ip: Option<IpAddr> = None;
        let mut ssl = SslKeys::default();
        let mut quorum_ssl = SslKeys::default();
        let (mut ssl_quorum, mut quorum_hostnames, mut quorum_unified) = (false, true, false);
        let (mut enforce, mut enforce_schemes) = (false, Vec::<String>::new());
        let (mut jaas_file, mut jaas_section, mut super_users) = (None, String::from("Server"), Vec::new());
        let mut require_sasl = false;
        // ZooKeeper's AdminServer listens on every address unless told otherwise.
        let (mut admin_on, mut admin_ip, mut admin_port) = (true, IpAddr::V4(Ipv4Addr::UNSPECIFIED), ADMIN_PORT);
        let (mut admin_url, mut admin_idle_ms) = (String::from("/commands"), 30_000);
        let (mut admin_https, mut admin_client_auth) = (false, false);
        let (mut prometheus, mut metrics_ip, mut metrics_port) =
            (false, IpAddr::V4(Ipv4Addr::UNSPECIFIED), METRICS_PORT);
        for (number, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                return Err(ConfigError(format!("line {}: expected key=value, got {line:?}", number + 1)));
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "tickTime" => s.tick_ms = positive(key, value)?,
                "initLimit" => s.init_limit = positive(key, value)?,
                "syncLimit" => s.sync_limit = positive(key, value)?,
                "dataDir" => s.data_dir = PathBuf::from(value),
                "dataLogDir" => s.data_log_dir = Some(PathBuf::from(value)),
                "clientPort" => client_port = Some(port(key, value)?),
                "clientPortAddress" => client_ip = Some(parse(key, value)?),
                "maxClientCnxns" => s.max_client_cnxns = parse(key, value)?,
                "maxCnxns" => s.max_cnxns = parse(key, value)?,
                "globalOutstandingLimit" => s.global_outstanding_limit = positive(key, value)? as usize,
                "minSessionTimeout" => s.min_session_timeout_ms = Some(parse(key, value)?),
                "maxSessionTimeout" => s.max_session_timeout_ms = Some(parse(key, value)?),
                "snapCount" => s.snap_count = positive(key, value)?,
                "fsync.warningthresholdms" | "zookeeper.fsync.warningthresholdms" => {
                    s.fsync_warning_ms = parse(key, value)?
                }
                "autopurge.snapRetainCount" => s.snap_retain_count = parse(key, value)?,
                "autopurge.purgeInterval" => s.purge_interval_hours = parse(key, value)?,
                "forceSync" => s.force_sync = yes_no(key, value)?,
                "jute.maxbuffer" => s.jute_max_buffer = positive(key, value)? as usize,
                "extendedTypesEnabled" => s.extended_types = yes_no(key, value)?,
                "4lw.commands.whitelist" => {
                    let mut words = BTreeSet::new();
                    for w in value.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                        if w == "*" {
                            words.extend(FourLetterWord::ALL.iter().map(|w| w.as_str().to_string()));
                        } else if FourLetterWord::ALL.iter().any(|known| known.as_str() == w) {
                            words.insert(w.to_string());
                        } else {
                            return Err(ConfigError(format!("{key}: unknown four-letter word {w:?}")));
                        }
                    }
                    s.four_letter_words = words;
                }
                "DigestAuthenticationProvider.superDigest" | "zookeeper.DigestAuthenticationProvider.superDigest" => {
                    s.super_digest = Some(value.to_string())
                }
                "X509AuthenticationProvider.superUser" | "zookeeper.X509AuthenticationProvider.superUser" => {
                    s.x509_super = Some(value.to_string())
                }
                "enforce.auth.enabled" | "zookeeper.enforce.auth.enabled" => enforce = yes_no(key, value)?,
                "enforce.auth.schemes" | "zookeeper.enforce.auth.schemes" => {
                    enforce_schemes =
                        value.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
                    if let Some(bad) =
                        enforce_schemes.iter().find(|s| !["digest", "x509", "ip", "sasl"].contains(&s.as_str()))
                    {
                        return Err(ConfigError(format!(
                            "{key}: authentication scheme {bad:?} is not available (digest, x509, ip, sasl are)"
                        )));
                    }
                }
                "sessionRequireClientSASLAuth" | "zookeeper.sessionRequireClientSASLAuth" => {
                    require_sasl = yes_no(key, value)?
                }
                "java.security.auth.login.config" => jaas_file = Some(PathBuf::from(value)),
                "zookeeper.sasl.serverconfig" | "sasl.serverconfig" => jaas_section = value.to_string(),
                key if is_super_user_key(key) => super_users.push(value.to_string()),
                key if key.starts_with("authProvider.") || key.starts_with("zookeeper.authProvider.") => {
                    match value.rsplit('.').next().unwrap_or(value) {
                        "SASLAuthenticationProvider" => s.sasl_acls = true,
                        "DigestAuthenticationProvider" | "IPAuthenticationProvider" | "X509AuthenticationProvider" => {}
                        _ => {
                            return Err(ConfigError(format!(
                                "{key}={value}: no such authentication provider is built (digest, ip, x509 and \
                                 org.apache.zookeeper.server.auth.SASLAuthenticationProvider are)"
                            )));
                        }
                    }
                }
                "ssl.authProvider" if value != "x509" => {
                    return Err(ConfigError(format!("{key}={value}: only the x509 provider is built")));
                }
                "ssl.authProvider" => {}
                "quorum.auth.secretFile" => s.quorum_secret_file = Some(PathBuf::from(value)),
                "quorum.auth.requireSecret" => s.quorum_require_secret = yes_no(key, value)?,
                "sslQuorum" => ssl_quorum = yes_no(key, value)?,
                "ssl.quorum.keyStore.location" => quorum_ssl.key_store = Some(PathBuf::from(value)),
                "ssl.quorum.trustStore.location" => quorum_ssl.trust_store = Some(PathBuf::from(value)),
                "ssl.quorum.hostnameVerification" => quorum_hostnames = yes_no(key, value)?,
                "ssl.quorum.enabledProtocols" | "ssl.quorum.protocol" => {
                    quorum_ssl.protocols =
                        Some(Protocols::parse(value).map_err(|e| ConfigError(format!("{key}: {e}")))?)
                }
                "portUnification" => quorum_unified = yes_no(key, value)?,
                "ssl.quorum.ciphersuites" | "ssl.quorum.clientAuth" => {
                    s.warnings.push(format!("{key}: ignored; members always show each other certificates"))
                }
                // Asking for a protection that is not built must not start a server without it.
                "quorum.auth.enableSasl" if yes_no(key, value)? => {
                    return Err(ConfigError(format!(
                        "{key}=true: not supported yet; members prove themselves with sslQuorum or \
                         quorum.auth.secretFile instead (docs/SECURITY.md)"
                    )));
                }
                "secureClientPort" => secure_port = Some(port(key, value)?),
                "secureClientPortAddress" => secure_ip = Some(parse(key, value)?),
                "client.portUnification" => s.port_unification = yes_no(key, value)?,
                "ssl.keyStore.location" => ssl.key_store = Some(PathBuf::from(value)),
                "ssl.trustStore.location" => ssl.trust_store = Some(PathBuf::from(value)),
                "ssl.keyStore.type"
                | "ssl.trustStore.type"
                | "ssl.quorum.keyStore.type"
                | "ssl.quorum.trustStore.type" => {
                    if !value.eq_ignore_ascii_case("PEM") {
                        return Err(ConfigError(format!("{key}={value}: only PEM stores are supported")));
                    }
                }
                "ssl.keyStore.password"
                | "ssl.trustStore.password"
                | "ssl.quorum.keyStore.password"
                | "ssl.quorum.trustStore.password" => {
                    if !value.is_empty() {
                        return Err(ConfigError(format!(
                            "{key}: encrypted PEM files are not supported; give an unencrypted key readable only by the server"
                        )));
                    }
                }
                "ssl.clientAuth" => {
                    ssl.client_auth = Some(
                        ClientAuth::parse(value)
                            .ok_or_else(|| ConfigError(format!("{key}: {value:?} is not none, want or need")))?,
                    )
                }
                "ssl.enabledProtocols" | "ssl.protocol" => {
                    ssl.protocols = Some(Protocols::parse(value).map_err(|e| ConfigError(format!("{key}: {e}")))?)
                }
                "ssl.ciphersuites" => {
                    s.warnings.push(format!("{key}: ignored; rustls's own suites (all with forward secrecy) are used"))
                }
                // Certificates are always reloaded when their files change.
                "serverCnxnFactory" | "ssl.hostnameVerification" | "client.certReload" | "sslQuorumReloadCertFiles" => {
                }
                "client.secure" => {
                    return Err(ConfigError(format!("{key}: a client setting; a server takes secureClientPort")));
                }
                key if key.starts_with("server.") => {
                    let id: u64 = key["server.".len()..]
                        .parse()
                        .map_err(|_| ConfigError(format!("{key}: the server id must be a number")))?;
                    if s.members.iter().any(|m| m.id == id) {
                        return Err(ConfigError(format!("{key}: listed twice")));
                    }
                    s.members.push(member(key, id, value)?);
                }
                "admin.enableServer" => admin_on = yes_no(key, value)?,
                "admin.serverAddress" => admin_ip = parse(key, value)?,
                "admin.serverPort" => admin_port = port(key, value)?,
                "admin.idleTimeout" => admin_idle_ms = positive(key, value)?,
                "admin.commandURL" => {
                    let url = value.trim_end_matches('/');
                    if !url.starts_with('/') || url.contains(['?', '#', ' ']) {
                        return Err(ConfigError(format!("{key}: {value:?} is not a path such as /commands")));
                    }
                    admin_url = url.to_string();
                }
                "admin.forceHttps" => admin_https = yes_no(key, value)?,
                "admin.needClientAuth" => admin_client_auth = yes_no(key, value)?,
                "admin.portUnification" if yes_no(key, value)? => {
                    // Never a silent downgrade to plain HTTP.
                    return Err(ConfigError(format!(
                        "{key}=true: HTTP and HTTPS on one admin port is not built; use admin.forceHttps=true \
                         for HTTPS only"
                    )));
                }
                "admin.portUnification" => {}
                key if key.starts_with("admin.") => s.warnings.push(format!("{key}: not used by this server; ignored")),
                "metricsProvider.className" => {
                    prometheus = match value {
                        v if PROMETHEUS_PROVIDER.contains(&v) => true,
                        "org.apache.zookeeper.metrics.impl.NullMetricsProvider" => false,
                        other => {
                            return Err(ConfigError(format!(
                                "{key}: unknown metrics provider {other:?} (org.apache.zookeeper.metrics.prometheus.\
                                 PrometheusMetricsProvider, or prometheus)"
                            )));
                        }
                    }
                }
                "metricsProvider.httpHost" => metrics_ip = parse(key, value)?,
                "metricsProvider.httpPort" => metrics_port = port(key, value)?,
                "metricsProvider.exportJvmInfo" => {
                    yes_no(key, value)?;
                }
                key if key.starts_with("metricsProvider.https") || key.starts_with("metricsProvider.ssl") => {
                    return Err(ConfigError(format!(
                        "{key}: HTTPS for the metrics is not built yet; use metricsProvider.httpPort on a private address"
                    )));
                }
                key if key.starts_with("metricsProvider.") => {
                    s.warnings.push(format!("{key}: not used by this server; ignored"))
                }
                "electionAlg"
                | "quorumListenOnAllIPs"
                | "standaloneEnabled"
                | "reconfigEnabled"
                | "skipACL"
                | "preAllocSize" => s.warnings.push(format!("{key}: accepted but not used yet")),
                other => s.warnings.push(format!("unknown key {other:?} ignored")),
            }
        }
        if let Some(p) = client_port {
            s.client_addr.set_port(p);
        }
        if let Some(ip) = client_ip {
            s.client_addr.set_ip(ip);
        }
        s.metrics = prometheus.then_some(SocketAddr::new(metrics_ip, metrics_port));
        let admin_tls = match (admin_https, &quorum_ssl.key_store) {
            (false, _) => None,
            (true, None) => {
                return Err(ConfigError(
                    "admin.forceHttps=true needs ssl.quorum.keyStore.location: the AdminServer's certificate \
                     comes from the ssl.quorum.* keys, as in ZooKeeper"
                        .into(),
                ));
            }
            (true, Some(key_store)) => Some(TlsSettings {
                key_store: key_store.clone(),
                trust_store: quorum_ssl.trust_store.clone(),
                client_auth: if admin_client_auth { ClientAuth::Need } else { ClientAuth::None },
                protocols: quorum_ssl.protocols.unwrap_or_default(),
            }),
        };
        if admin_client_auth && !admin_https {
            return Err(ConfigError("admin.needClientAuth=true needs admin.forceHttps=true".into()));
        }
        s.admin = admin_on.then(|| AdminSettings {
            addr: SocketAddr::new(admin_ip, admin_port),
            command_url: if admin_url.is_empty() { "/".into() } else { admin_url },
            idle_timeout_ms: admin_idle_ms,
            tls: admin_tls,
        });
        if let Some(port) = secure_port {
            s.secure_client_addr = Some(SocketAddr::new(secure_ip.unwrap_or(s.client_addr.ip()), port));
        }
        if require_sasl {
            // ZooKeeper's older switch: enforcement with the sasl scheme.
            enforce = true;
            if !enforce_schemes.iter().any(|s| s == "sasl") {
                enforce_schemes.push("sasl".into());
            }
        }
        if let Some(jaas_file) = jaas_file {
            s.sasl = Some(SaslSettings { jaas_file, section: jaas_section, super_users });
        } else if !super_users.is_empty() {
            s.warnings
                .push("zookeeper.superUser: no JAAS file (java.security.auth.login.config), so no SASL users".into());
        }
        if enforce && enforce_schemes.iter().any(|s| s == "sasl") && s.sasl.is_none() {
            return Err(ConfigError(
                "authentication by sasl is enforced but no SASL users are configured: \
                 java.security.auth.login.config must name a JAAS file"
                    .into(),
            ));
        }
        if enforce {
            if enforce_schemes.is_empty() {
                return Err(ConfigError(
                    "enforce.auth.enabled is true: enforce.auth.schemes must be configured".into(),
                ));
            }
            s.enforce_auth = Some(enforce_schemes);
        }
        if ssl_quorum || quorum_unified {
            let (Some(key_store), Some(trust_store)) = (quorum_ssl.key_store, quorum_ssl.trust_store) else {
                return Err(ConfigError(
                    "sslQuorum=true or portUnification=true needs ssl.quorum.keyStore.location and \
                     ssl.quorum.trustStore.location"
                        .into(),
                ));
            };
            s.quorum_tls = Some(QuorumTlsSettings {
                key_store,
                trust_store,
                hostname_verification: quorum_hostnames,
                protocols: quorum_ssl.protocols.unwrap_or_default(),
                dial: ssl_quorum,
                unified: quorum_unified,
            });
        }
        if s.secure_client_addr.is_some() || s.port_unification {
            let Some(key_store) = ssl.key_store else {
                return Err(ConfigError(
                    "secureClientPort or client.portUnification needs ssl.keyStore.location".into(),
                ));
            };
            s.tls = Some(TlsSettings {
                key_store,
                trust_store: ssl.trust_store,
                client_auth: ssl.client_auth.unwrap_or(ClientAuth::Need),
                protocols: ssl.protocols.unwrap_or_default(),
            });
        }
        if let (Some(min), Some(max)) = (s.min_session_timeout_ms, s.max_session_timeout_ms)
            && min > max
        {
            return Err(ConfigError(format!("minSessionTimeout {min} is above maxSessionTimeout {max}")));
        }
        Ok(s)
    }

    /// The address a member's host names (for peer links).
    pub fn resolve(member: &Member, port: u16) -> Option<SocketAddr> {
        (member.host.as_str(), port).to_socket_addrs().ok()?.next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_a_standalone_server_on_loopback() {
        let s = Settings::default();
        assert_eq!(s.client_addr, "127.0.0.1:2181".parse().unwrap());
        assert_eq!((s.tick_ms, s.init_limit, s.sync_limit), (2000, 10, 5));
        assert_eq!(s.four_letter_words, BTreeSet::from(["srvr".to_string()]));
        assert!(s.force_sync && !s.extended_types);
    }

    #[test]
    fn reads_the_keys_of_a_zoo_cfg() {
        let text = "# comment\ntickTime=500\ninitLimit=4\nsyncLimit=2\ndataDir=/tmp/zk\nclientPort=2999\n\
                    clientPortAddress=127.0.0.2\nmaxClientCnxns=7\nminSessionTimeout=1000\nmaxSessionTimeout=9000\n\
                    forceSync=no\nextendedTypesEnabled=true\n4lw.commands.whitelist=ruok, srvr,mntr\n\
                    server.1=127.0.0.1:2888:3888\nserver.2=127.0.0.1:2889:3889:observer;127.0.0.1:2182\n\
                    admin.serverPort=8080\nmystery=1\nquorum.auth.secretFile=/etc/zk/secret\nquorum.auth.requireSecret=no\n";
        let s = Settings::from_text(text).unwrap();
        assert_eq!(s.tick_ms, 500);
        assert_eq!(s.client_addr, "127.0.0.2:2999".parse().unwrap());
        assert_eq!((s.min_session_timeout_ms, s.max_session_timeout_ms), (Some(1000), Some(9000)));
        assert!(!s.force_sync && s.extended_types);
        assert_eq!(s.four_letter_words.len(), 3);
        assert_eq!(s.members.len(), 2);
        assert!(s.members[1].observer);
        assert_eq!(s.members[1].client, Some("127.0.0.1:2182".parse().unwrap()));
        assert!(s.warnings.iter().any(|w| w.contains("mystery")));
        assert_eq!(s.admin.as_ref().map(|a| a.addr), Some("0.0.0.0:8080".parse().unwrap()));
        assert_eq!(s.quorum_secret_file, Some(PathBuf::from("/etc/zk/secret")));
        assert_eq!((s.secure_client_addr, s.tls.as_ref().map(|t| t.client_auth)), (None, None));
        let tls = Settings::from_text(
            "clientPortAddress=127.0.0.3\nsecureClientPort=2281\nssl.keyStore.location=/k.pem\n\
             ssl.keyStore.type=PEM\nssl.trustStore.location=/t.pem\nssl.enabledProtocols=TLSv1.3\n",
        )
        .unwrap();
        assert_eq!(tls.secure_client_addr, Some("127.0.0.3:2281".parse().unwrap()));
        let t = tls.tls.unwrap();
        assert_eq!((t.client_auth, t.protocols.tls12, t.trust_store), (ClientAuth::Need, false, Some("/t.pem".into())));
        assert!(!s.quorum_require_secret);
    }

    #[test]
    fn the_admin_server_takes_zookeepers_keys_and_never_serves_plain_where_https_is_asked() {
        let a = Settings::from_text(
            "admin.serverAddress=127.0.0.2\nadmin.serverPort=18080\nadmin.commandURL=/zk/\nadmin.idleTimeout=500\n",
        )
        .unwrap()
        .admin
        .unwrap();
        assert_eq!(
            (a.addr, a.command_url.as_str(), a.idle_timeout_ms),
            ("127.0.0.2:18080".parse().unwrap(), "/zk", 500)
        );
        assert_eq!(Settings::from_text("admin.enableServer=false").unwrap().admin, None);
        assert_eq!(Settings::default().admin.unwrap().addr, "127.0.0.1:8080".parse().unwrap());
        let https = Settings::from_text("admin.forceHttps=true\nssl.quorum.keyStore.location=/k.pem\n").unwrap();
        assert_eq!(https.admin.unwrap().tls.map(|t| t.client_auth), Some(ClientAuth::None));
        for text in
            ["admin.forceHttps=true", "admin.portUnification=true", "admin.commandURL=commands", "admin.serverPort=0"]
        {
            let err = Settings::from_text(text).unwrap_err().0;
            assert!(err.starts_with(text.split('=').next().unwrap()), "{text}: {err}");
        }
        assert!(Settings::from_text("admin.forceHttps=false").is_ok());
    }

    #[test]
    fn prometheus_metrics_take_zookeepers_keys() {
        let on = "metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider\n";
        assert_eq!(Settings::from_text(on).unwrap().metrics, Some("0.0.0.0:7000".parse().unwrap()));
        let short = "metricsProvider.className=prometheus\nmetricsProvider.httpHost=127.0.0.1\n\
                     metricsProvider.httpPort=7001\nmetricsProvider.exportJvmInfo=false\n";
        assert_eq!(Settings::from_text(short).unwrap().metrics, Some("127.0.0.1:7001".parse().unwrap()));
        assert_eq!(Settings::from_text("metricsProvider.httpPort=7001").unwrap().metrics, None);
        for text in ["metricsProvider.className=com.example.Mine", "metricsProvider.httpsPort=7443"] {
            let err = Settings::from_text(text).unwrap_err().0;
            assert!(err.starts_with(text.split('=').next().unwrap()), "{text}: {err}");
        }
    }

    #[test]
    fn a_wrong_value_names_its_key() {
        for (text, key) in [
            ("tickTime=fast", "tickTime"),
            ("tickTime=0", "tickTime"),
            ("clientPort=70000", "clientPort"),
            ("forceSync=maybe", "forceSync"),
            ("server.x=a:1:2", "server.x"),
            ("server.1=a:1", "server.1"),
            ("server.1=a:1:2:boss", "server.1"),
            ("4lw.commands.whitelist=ruok,nope", "4lw.commands.whitelist"),
            ("clientPortAddress=local", "clientPortAddress"),
        ] {
            let err = Settings::from_text(text).unwrap_err();
            assert!(err.0.contains(key), "{text}: {err}");
        }
        assert!(Settings::from_text("justtext").unwrap_err().0.contains("line 1"));
        assert!(Settings::from_text("sslQuorum=true").unwrap_err().0.contains("ssl.quorum.keyStore.location"));
        assert!(Settings::from_text("portUnification=true").unwrap_err().0.contains("ssl.quorum.keyStore.location"));
        let rolling = Settings::from_text(
            "portUnification=true\nssl.quorum.keyStore.location=/k\nssl.quorum.trustStore.location=/t\n",
        )
        .unwrap();
        let q = rolling.quorum_tls.unwrap();
        assert!(q.unified && !q.dial, "unification alone accepts TLS but dials plain");
        let err = Settings::from_text("enforce.auth.enabled=true").unwrap_err();
        assert!(err.0.contains("enforce.auth.schemes"), "{err}");
        let err = Settings::from_text("enforce.auth.schemes=kerberos").unwrap_err();
        assert!(err.0.contains("not available"), "{err}");
        let err = Settings::from_text("enforce.auth.enabled=true\nenforce.auth.schemes=sasl").unwrap_err();
        assert!(err.0.contains("java.security.auth.login.config"), "{err}");
        let err = Settings::from_text("sessionRequireClientSASLAuth=true").unwrap_err();
        assert!(err.0.contains("java.security.auth.login.config"), "{err}");
        let err = Settings::from_text("authProvider.1=com.example.MyProvider").unwrap_err();
        assert!(err.0.contains("no such authentication provider"), "{err}");
        let sasl = Settings::from_text(
            "java.security.auth.login.config=/etc/zk/jaas.conf\nzookeeper.superUser=admin\nsuperUser.2=root\n\
             authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider\n\
             sessionRequireClientSASLAuth=true\n",
        )
        .unwrap();
        let want = SaslSettings {
            jaas_file: PathBuf::from("/etc/zk/jaas.conf"),
            section: "Server".into(),
            super_users: vec!["admin".into(), "root".into()],
        };
        assert_eq!(sasl.sasl, Some(want));
        assert!(sasl.sasl_acls);
        assert_eq!(sasl.enforce_auth, Some(vec!["sasl".to_string()]));
        let enforced = Settings::from_text("enforce.auth.enabled=true\nenforce.auth.schemes=digest, x509\n").unwrap();
        assert_eq!(enforced.enforce_auth, Some(vec!["digest".to_string(), "x509".to_string()]));
        let err = Settings::from_text("quorum.auth.enableSasl=true").unwrap_err();
        assert!(err.0.contains("not supported"), "a protection asked for is never silently off: {err}");
        assert!(Settings::from_text("sslQuorum=false").is_ok());
        for (text, key) in [
            ("secureClientPort=2281", "ssl.keyStore.location"),
            ("ssl.keyStore.type=JKS", "ssl.keyStore.type"),
            ("ssl.keyStore.password=x", "ssl.keyStore.password"),
            ("ssl.clientAuth=sometimes", "ssl.clientAuth"),
            ("ssl.enabledProtocols=SSLv3", "ssl.enabledProtocols"),
        ] {
            let err = Settings::from_text(text).unwrap_err();
            assert!(err.0.contains(key), "{text}: {err}");
        }
        let err = Settings::from_text("minSessionTimeout=9\nmaxSessionTimeout=5").unwrap_err();
        assert!(err.0.contains("minSessionTimeout"));
    }

    #[test]
    fn star_allows_every_word() {
        let s = Settings::from_text("4lw.commands.whitelist=*").unwrap();
        assert_eq!(s.four_letter_words.len(), FourLetterWord::ALL.len());
    }
}
