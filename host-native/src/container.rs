//! `zabkeeper start --from-env`: the entrypoint of the container image. It takes the
//! environment variables of the widely used ZooKeeper images (`ZOO_MY_ID`, `ZOO_SERVERS`,
//! `ZOO_CFG_EXTRA`, `ZOO_TICK_TIME`, ...) with their defaults, and does what their
//! entrypoint does: a zoo.cfg written from them into `ZOO_CONF_DIR` unless one is there
//! already (a mounted config wins), and `myid` written into the dataDir unless it exists.
//!
//! One addition for Kubernetes: without `ZOO_MY_ID`, a member of an ensemble whose host name
//! ends in `-<ordinal>` (a StatefulSet's pods are `<name>-0`, `<name>-1`, ...) takes
//! `ordinal + 1`, so the pods of one StatefulSet need no per-pod configuration.

use std::path::{Path, PathBuf};

/// The image's defaults, as the ZooKeeper images set them.
const DEFAULTS: &[(&str, &str)] = &[
    ("ZOO_CONF_DIR", "/conf"),
    ("ZOO_DATA_DIR", "/data"),
    ("ZOO_DATA_LOG_DIR", "/datalog"),
    ("ZOO_TICK_TIME", "2000"),
    ("ZOO_INIT_LIMIT", "5"),
    ("ZOO_SYNC_LIMIT", "2"),
    ("ZOO_AUTOPURGE_PURGEINTERVAL", "0"),
    ("ZOO_AUTOPURGE_SNAPRETAINCOUNT", "3"),
    ("ZOO_MAX_CLIENT_CNXNS", "60"),
    ("ZOO_STANDALONE_ENABLED", "true"),
    ("ZOO_ADMINSERVER_ENABLED", "true"),
    ("ZOO_SERVERS", "server.1=localhost:2888:3888;2181"),
];

/// What the entrypoint did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The zoo.cfg to start from.
    pub config: PathBuf,
    /// Whether it was written now (false: one was mounted or left from an earlier start).
    pub written: bool,
    /// The id in the dataDir's `myid`.
    pub my_id: u64,
}

/// Lays out the config and `myid` from `env` (a lookup of environment variables).
pub fn prepare(env: &dyn Fn(&str) -> Option<String>) -> Result<Prepared, String> {
    let get = |name: &str| -> String {
        env(name)
            .filter(|v| !v.is_empty())
            .or_else(|| DEFAULTS.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
            .unwrap_or_default()
    };
    let conf_dir = PathBuf::from(get("ZOO_CONF_DIR"));
    let data_dir = PathBuf::from(get("ZOO_DATA_DIR"));
    let config = conf_dir.join("zoo.cfg");
    let servers: Vec<String> = get("ZOO_SERVERS").split_whitespace().map(str::to_owned).collect();
    let written = !config.exists();
    if written {
        let mut text = String::new();
        for (key, var) in [
            ("dataDir", "ZOO_DATA_DIR"),
            ("dataLogDir", "ZOO_DATA_LOG_DIR"),
            ("tickTime", "ZOO_TICK_TIME"),
            ("initLimit", "ZOO_INIT_LIMIT"),
            ("syncLimit", "ZOO_SYNC_LIMIT"),
            ("autopurge.snapRetainCount", "ZOO_AUTOPURGE_SNAPRETAINCOUNT"),
            ("autopurge.purgeInterval", "ZOO_AUTOPURGE_PURGEINTERVAL"),
            ("maxClientCnxns", "ZOO_MAX_CLIENT_CNXNS"),
            ("standaloneEnabled", "ZOO_STANDALONE_ENABLED"),
            ("admin.enableServer", "ZOO_ADMINSERVER_ENABLED"),
        ] {
            text.push_str(&format!("{key}={}\n", get(var)));
        }
        for server in &servers {
            if !server.starts_with("server.") || !server.contains('=') {
                return Err(format!("ZOO_SERVERS: {server:?} is not a server.N=host:port:port[;clientPort] entry"));
            }
            text.push_str(server);
            text.push('\n');
        }
        let whitelist = get("ZOO_4LW_COMMANDS_WHITELIST");
        if !whitelist.is_empty() {
            text.push_str(&format!("4lw.commands.whitelist={whitelist}\n"));
        }
        for extra in get("ZOO_CFG_EXTRA").split_whitespace() {
            if !extra.contains('=') {
                return Err(format!("ZOO_CFG_EXTRA: {extra:?} is not a key=value entry"));
            }
            text.push_str(extra);
            text.push('\n');
        }
        std::fs::create_dir_all(&conf_dir).map_err(|e| format!("creating {}: {e}", conf_dir.display()))?;
        std::fs::write(&config, text).map_err(|e| format!("writing {}: {e}", config.display()))?;
    }
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("creating {}: {e}", data_dir.display()))?;
    let myid = data_dir.join("myid");
    let my_id = if myid.exists() {
        read_id(&myid)?
    } else {
        let id = match env("ZOO_MY_ID").filter(|v| !v.is_empty()) {
            Some(id) => id.trim().parse::<u64>().map_err(|_| format!("ZOO_MY_ID={id:?} is not a number"))?,
            None if servers.len() > 1 => ordinal_id(env("HOSTNAME").as_deref()).ok_or_else(|| {
                "ZOO_MY_ID is not set and the host name does not end in -<ordinal> (as a StatefulSet's pods do)"
                    .to_owned()
            })?,
            None => 1,
        };
        std::fs::write(&myid, format!("{id}\n")).map_err(|e| format!("writing {}: {e}", myid.display()))?;
        id
    };
    Ok(Prepared { config, written, my_id })
}

fn read_id(path: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    text.trim().parse().map_err(|_| format!("{} holds {:?}, not a server id", path.display(), text.trim()))
}

/// `zk-2` gives 3: a StatefulSet's pod ordinal plus one.
fn ordinal_id(hostname: Option<&str>) -> Option<u64> {
    let host = hostname?.split('.').next()?;
    let (_, ordinal) = host.rsplit_once('-')?;
    ordinal.parse::<u64>().ok()?.checked_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        move |name| map.get(name).cloned()
    }

    fn dirs(base: &Path) -> Vec<(&'static str, String)> {
        vec![
            ("ZOO_CONF_DIR", base.join("conf").display().to_string()),
            ("ZOO_DATA_DIR", base.join("data").display().to_string()),
            ("ZOO_DATA_LOG_DIR", base.join("datalog").display().to_string()),
        ]
    }

    #[test]
    fn the_defaults_give_a_standalone_server_on_2181_as_the_zookeeper_image_does() {
        let base = tempfile::tempdir().unwrap();
        let prepared = prepare(&env_of(&dirs(base.path()))).unwrap();
        assert!(prepared.written);
        assert_eq!(prepared.my_id, 1);
        let settings = crate::config::Settings::from_file(&prepared.config).unwrap();
        assert_eq!(settings.client_addr.port(), 2181);
        assert_eq!(settings.tick_ms, 2000);
        assert_eq!(settings.max_client_cnxns, 60);
        assert!(settings.members.len() <= 1, "one server line: standalone");
        assert_eq!(std::fs::read_to_string(base.path().join("data/myid")).unwrap(), "1\n");
    }

    #[test]
    fn an_ensemble_member_from_zoo_servers_with_its_id_from_the_pod_ordinal() {
        let base = tempfile::tempdir().unwrap();
        let mut env = dirs(base.path());
        env.push((
            "ZOO_SERVERS",
            "server.1=zk-0.zk:2888:3888;2181 server.2=zk-1.zk:2888:3888;2181 server.3=zk-2.zk:2888:3888;2181".into(),
        ));
        env.push(("HOSTNAME", "zk-1".into()));
        env.push(("ZOO_TICK_TIME", "500".into()));
        env.push(("ZOO_4LW_COMMANDS_WHITELIST", "srvr,ruok,mntr".into()));
        env.push(("ZOO_CFG_EXTRA", "quorum.auth.secretFile=/secrets/quorum metricsProvider.httpPort=7000".into()));
        let prepared = prepare(&env_of(&env)).unwrap();
        assert_eq!(prepared.my_id, 2);
        let text = std::fs::read_to_string(&prepared.config).unwrap();
        for line in [
            "tickTime=500",
            "server.2=zk-1.zk:2888:3888;2181",
            "4lw.commands.whitelist=srvr,ruok,mntr",
            "quorum.auth.secretFile=/secrets/quorum",
            "metricsProvider.httpPort=7000",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from\n{text}");
        }
        // A restart finds both and changes neither, even with other variables.
        env.push(("ZOO_MY_ID", "3".into()));
        env.push(("ZOO_TICK_TIME", "900".into()));
        let again = prepare(&env_of(&env)).unwrap();
        assert_eq!((again.written, again.my_id), (false, 2));
        assert_eq!(std::fs::read_to_string(&prepared.config).unwrap(), text);
    }

    #[test]
    fn explicit_ids_win_and_bad_values_are_errors() {
        let base = tempfile::tempdir().unwrap();
        let mut env = dirs(base.path());
        env.push(("ZOO_SERVERS", "server.1=a:1:2;3 server.2=b:1:2;3".into()));
        env.push(("HOSTNAME", "zk-0".into()));
        env.push(("ZOO_MY_ID", "2".into()));
        assert_eq!(prepare(&env_of(&env)).unwrap().my_id, 2);

        let other = tempfile::tempdir().unwrap();
        let mut env = dirs(other.path());
        env.push(("ZOO_SERVERS", "server.1=a:1:2;3 server.2=b:1:2;3".into()));
        env.push(("HOSTNAME", "zookeeper".into()));
        assert!(prepare(&env_of(&env)).unwrap_err().contains("ZOO_MY_ID is not set"));
        let third = tempfile::tempdir().unwrap();
        let mut env = dirs(third.path());
        env.push(("ZOO_SERVERS", "1=a:1:2".into()));
        assert!(prepare(&env_of(&env)).unwrap_err().contains("ZOO_SERVERS"));
        assert_eq!(ordinal_id(Some("zk-12.zk.default.svc.cluster.local")), Some(13));
        assert_eq!(ordinal_id(Some("zk")), None);
    }
}
