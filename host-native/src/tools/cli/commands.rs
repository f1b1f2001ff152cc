//! zkCli.sh's commands: their options, their messages, their output layout; and the same
//! results as JSON with `--json`.

use serde_json::{Value, json};
use zabkeeper_core::error::ErrorCode;
use zabkeeper_core::tree::{Acl, Stat, perms};
use zabkeeper_core::wire::records::{
    AddWatchRequest, AuthPacket, CreateRequest, CreateTtlRequest, GetEphemeralsRequest, PathRecord, PathVersion,
    PathWatch, SetAclRequest, SetDataRequest, WatchesRequest,
};
use zabkeeper_core::wire::{Request, Response};

use super::session::Session;
use super::{Next, Shell};
use crate::node::words::java_date;

/// The commands, for completion and `help`.
pub const NAMES: &[&str] = &[
    "addWatch",
    "addauth",
    "close",
    "config",
    "connect",
    "create",
    "delete",
    "deleteall",
    "get",
    "getAcl",
    "getAllChildrenNumber",
    "getEphemerals",
    "help",
    "history",
    "ls",
    "quit",
    "redo",
    "removewatches",
    "set",
    "setAcl",
    "stat",
    "sync",
    "whoami",
];

/// zkCli's usage lines.
const USAGE: &str = "ZooKeeper -server host:port -client-configuration properties-file cmd args
\taddWatch [-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE
\taddauth scheme auth
\tclose 
\tconfig [-c] [-w] [-s]
\tconnect host:port
\tcreate [-s] [-e] [-c] [-t ttl] path [data] [acl]
\tdelete [-v version] path
\tdeleteall path [-b batch size]
\tget [-s] [-w] path
\tgetAcl [-s] path
\tgetAllChildrenNumber path
\tgetEphemerals path
\thistory 
\tls [-s] [-w] [-R] path
\tquit 
\tredo cmdno
\tremovewatches path [-c|-d|-a] [-l]
\tset [-s] [-v version] path data
\tsetAcl [-s] [-v version] [-R] path acl
\tstat [-w] path
\tsync path
\twhoami ";

/// Splits a command line into words; "double" or 'single' quotes keep spaces in one word.
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '"' || c == '\'' {
            chars.next();
            for d in chars.by_ref() {
                if d == c {
                    break;
                }
                word.push(d);
            }
        } else {
            while let Some(&d) = chars.peek() {
                if d.is_whitespace() {
                    break;
                }
                word.push(d);
                chars.next();
            }
        }
        words.push(word);
    }
    words
}

/// What a command printed, or why it failed.
enum Outcome {
    /// Lines for the shell, and the same as JSON.
    Done(Vec<String>, Value),
    /// A server error on `path`, in zkCli's words.
    Keeper(i32, String),
    /// A usage or local error.
    Usage(String),
}

use Outcome::{Done, Keeper, Usage};

fn done() -> Outcome {
    Done(Vec::new(), json!({}))
}

/// zkCli's message for a server error on `path` (KeeperException's texts).
fn keeper_message(code: i32, path: &str) -> String {
    match ErrorCode::from_i32(code) {
        Some(ErrorCode::NoNode) => format!("Node does not exist: {path}"),
        Some(ErrorCode::NodeExists) => format!("Node already exists: {path}"),
        Some(ErrorCode::NotEmpty) => format!("Node not empty: {path}"),
        Some(ErrorCode::BadVersion) => format!("version No is not valid : {path}"),
        Some(ErrorCode::NoAuth) => format!("Insufficient permission : {path}"),
        Some(ErrorCode::NoChildrenForEphemerals) => format!("Ephemerals cannot have children: {path}"),
        Some(ErrorCode::InvalidAcl) => format!("Acl is not valid : {path}"),
        Some(ErrorCode::NoWatcher) => format!("No such watcher for {path}"),
        Some(ErrorCode::Unimplemented) => format!("KeeperErrorCode = Unimplemented for {path}"),
        Some(other) => format!("KeeperErrorCode = {} for {path}", other.name()),
        None => format!("KeeperErrorCode = {code} for {path}"),
    }
}

/// A stat in zkCli's layout.
fn stat_lines(stat: &Stat) -> Vec<String> {
    vec![
        format!("cZxid = 0x{:x}", stat.czxid),
        format!("ctime = {}", java_date(stat.ctime.max(0) as u64)),
        format!("mZxid = 0x{:x}", stat.mzxid),
        format!("mtime = {}", java_date(stat.mtime.max(0) as u64)),
        format!("pZxid = 0x{:x}", stat.pzxid),
        format!("cversion = {}", stat.cversion),
        format!("dataVersion = {}", stat.version),
        format!("aclVersion = {}", stat.aversion),
        format!("ephemeralOwner = 0x{:x}", stat.ephemeral_owner),
        format!("dataLength = {}", stat.data_length),
        format!("numChildren = {}", stat.num_children),
    ]
}

fn stat_json(stat: &Stat) -> Value {
    json!({
        "czxid": stat.czxid, "mzxid": stat.mzxid, "pzxid": stat.pzxid, "ctime": stat.ctime, "mtime": stat.mtime,
        "version": stat.version, "cversion": stat.cversion, "aversion": stat.aversion,
        "ephemeralOwner": stat.ephemeral_owner, "dataLength": stat.data_length, "numChildren": stat.num_children,
    })
}

/// zkCli's permission letters, in its order.
fn perm_letters(p: i32) -> String {
    [(perms::CREATE, 'c'), (perms::DELETE, 'd'), (perms::READ, 'r'), (perms::WRITE, 'w'), (perms::ADMIN, 'a')]
        .iter()
        .filter(|(bit, _)| p & bit != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// `scheme:id:perms[,scheme:id:perms...]` (a digest id has a colon of its own).
fn parse_acl(text: &str) -> Result<Vec<Acl>, String> {
    let mut acl = Vec::new();
    for entry in text.split(',') {
        let (Some((scheme, rest)), Some((id, letters))) = (entry.split_once(':'), entry.rsplit_once(':')) else {
            return Err(format!("{entry} does not have the form scheme:id:perm"));
        };
        let id = if id.len() > scheme.len() { &id[scheme.len() + 1..] } else { "" };
        if rest.is_empty() || (id.is_empty() && scheme != "world") {
            return Err(format!("{entry} does not have the form scheme:id:perm"));
        }
        let mut p = 0;
        for c in letters.chars() {
            p |= match c {
                'r' => perms::READ,
                'w' => perms::WRITE,
                'c' => perms::CREATE,
                'd' => perms::DELETE,
                'a' => perms::ADMIN,
                other => return Err(format!("Unknown perm type: {other}")),
            };
        }
        acl.push(Acl::new(p, scheme, id));
    }
    Ok(acl)
}

/// Options (`-s`, `-v 3`) and the rest, as zkCli's parser takes them.
struct Parsed {
    flags: Vec<char>,
    values: Vec<(char, String)>,
    args: Vec<String>,
}

impl Parsed {
    fn has(&self, f: char) -> bool {
        self.flags.contains(&f)
    }
    fn value(&self, f: char) -> Option<&str> {
        self.values.iter().find(|(k, _)| *k == f).map(|(_, v)| v.as_str())
    }
}

/// Parses `words` (after the command) with `with_value` naming options that take a value.
fn parse(words: &[String], flags: &str, with_value: &str) -> Result<Parsed, String> {
    let mut p = Parsed { flags: Vec::new(), values: Vec::new(), args: Vec::new() };
    let mut it = words.iter();
    while let Some(w) = it.next() {
        match w.strip_prefix('-').and_then(|f| f.chars().next().filter(|_| f.len() == 1)) {
            Some(f) if with_value.contains(f) => {
                let v = it.next().ok_or_else(|| format!("Missing argument for option: {f}"))?;
                p.values.push((f, v.clone()));
            }
            Some(f) if flags.contains(f) => p.flags.push(f),
            Some(f) => return Err(format!("Unrecognized option: -{f}")),
            None => p.args.push(w.clone()),
        }
    }
    Ok(p)
}

fn version(p: &Parsed) -> Result<i32, String> {
    p.value('v').map_or(Ok(-1), |v| v.parse().map_err(|_| format!("version {v} is not a number")))
}

fn path_arg(p: &Parsed, usage: &str) -> Result<String, String> {
    let path = p.args.first().ok_or_else(|| usage.to_string())?;
    if !path.starts_with('/') {
        return Err(format!("Path must start with / character: {path}"));
    }
    Ok(path.clone())
}

/// The children of `path`, sorted.
pub fn children(session: &mut Session, path: &str) -> Result<Vec<String>, i32> {
    match session.call(&Request::GetChildren(PathWatch { path: path.into(), watch: false })) {
        Ok((0, Response::GetChildren(r))) => {
            let mut c = r.children;
            c.sort();
            Ok(c)
        }
        Ok((err, _)) => Err(err),
        Err(_) => Err(ErrorCode::ConnectionLoss.code()),
    }
}

/// Runs one command line: whether it succeeded, and what the shell does next. Prints its
/// output (or JSON) to stdout and errors to stderr.
pub fn execute(shell: &mut Shell, words: &[String]) -> (bool, Next) {
    let (name, rest) = (words[0].as_str(), &words[1..]);
    let outcome = match name {
        "quit" => return (true, Next::Quit),
        "help" => Usage(USAGE.into()),
        "history" => {
            let lines = shell.history.iter().enumerate().map(|(i, l)| format!("{i} - {l}")).collect::<Vec<_>>();
            Done(lines.clone(), json!(shell.history))
        }
        "redo" => {
            let line = rest.first().and_then(|n| n.parse::<usize>().ok()).and_then(|n| shell.history.get(n).cloned());
            match line {
                Some(line) => {
                    shell.history.pop();
                    shell.history.push(line.clone());
                    let words = split_words(&line);
                    if words.first().is_some_and(|w| w == "redo") {
                        Usage("redo cannot redo a redo".into())
                    } else {
                        return execute(shell, &words);
                    }
                }
                None => Usage("Command index out of range".into()),
            }
        }
        "connect" => match rest.first() {
            Some(server) => {
                if let Some(old) = shell.session.take() {
                    old.close();
                }
                match Session::open(server, shell.events) {
                    Ok(s) => {
                        shell.server = server.clone();
                        shell.session = Some(s);
                        done()
                    }
                    Err(e) => Usage(e),
                }
            }
            None => Usage("connect host:port".into()),
        },
        "close" => {
            if let Some(s) = shell.session.take() {
                s.close();
            }
            done()
        }
        _ => match shell.session.as_mut() {
            None if NAMES.contains(&name) => Usage("Not connected".into()),
            None => Usage(USAGE.into()),
            Some(session) => run(session, name, rest),
        },
    };
    let ok = report(shell.json, outcome);
    (ok, Next::Go)
}

/// Prints an outcome; whether it was a success.
fn report(as_json: bool, outcome: Outcome) -> bool {
    match outcome {
        Done(lines, value) => {
            if as_json {
                println!("{value}");
            } else {
                for l in lines {
                    println!("{l}");
                }
            }
            true
        }
        Keeper(code, message) => {
            if as_json {
                println!("{}", json!({ "error": message, "code": code }));
            } else {
                eprintln!("{message}");
            }
            false
        }
        Usage(message) => {
            if as_json {
                println!("{}", json!({ "error": message }));
            } else {
                eprintln!("{message}");
            }
            false
        }
    }
}

/// A call that must succeed; its response, or the outcome that says why not.
fn call(session: &mut Session, request: Request, path: &str) -> Result<Response, Outcome> {
    match session.call(&request) {
        Ok((0, r)) => Ok(r),
        Ok((err, _)) => Err(Keeper(err, keeper_message(err, path))),
        Err(e) => Err(Usage(e)),
    }
}

fn run(session: &mut Session, name: &str, words: &[String]) -> Outcome {
    match run_command(session, name, words) {
        Ok(outcome) | Err(outcome) => outcome,
    }
}

fn run_command(session: &mut Session, name: &str, words: &[String]) -> Result<Outcome, Outcome> {
    let usage = |u: &str| Usage(u.to_string());
    Ok(match name {
        "ls" => {
            let p = parse(words, "swR", "").map_err(Usage)?;
            let path = path_arg(&p, "ls [-s] [-w] [-R] path").map_err(Usage)?;
            if p.has('R') {
                let mut all = vec![path.clone()];
                let mut i = 0;
                while i < all.len() {
                    let at = all[i].clone();
                    let kids = children(session, &at).map_err(|e| Keeper(e, keeper_message(e, &at)))?;
                    let base = if at == "/" { String::new() } else { at.clone() };
                    all.extend(kids.into_iter().map(|k| format!("{base}/{k}")));
                    i += 1;
                }
                return Ok(Done(all.clone(), json!(all)));
            }
            let watch = p.has('w');
            let r = call(session, Request::GetChildren2(PathWatch { path: path.clone(), watch }), &path)?;
            let Response::GetChildren2(mut r) = r else { return Err(usage("unexpected reply")) };
            r.children.sort();
            let mut lines = vec![format!("[{}]", r.children.join(", "))];
            let mut value = json!({ "children": r.children });
            if p.has('s') {
                lines.extend(stat_lines(&r.stat));
                value["stat"] = stat_json(&r.stat);
            }
            Done(lines, value)
        }
        "get" | "config" => {
            let p = parse(words, "swc", "").map_err(Usage)?;
            let path = if name == "config" {
                "/zookeeper/config".to_string()
            } else {
                path_arg(&p, "get [-s] [-w] path").map_err(Usage)?
            };
            let r = call(session, Request::GetData(PathWatch { path: path.clone(), watch: p.has('w') }), &path)?;
            let Response::GetData(r) = r else { return Err(usage("unexpected reply")) };
            let text = r.data.as_deref().map_or("null".to_string(), |d| String::from_utf8_lossy(d).into_owned());
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            if lines.is_empty() {
                lines.push(String::new());
            }
            let mut value = json!({ "data": text });
            if p.has('s') {
                lines.extend(stat_lines(&r.stat));
                value["stat"] = stat_json(&r.stat);
            }
            Done(lines, value)
        }
        "stat" => {
            let p = parse(words, "w", "").map_err(Usage)?;
            let path = path_arg(&p, "stat [-w] path").map_err(Usage)?;
            match session.call(&Request::Exists(PathWatch { path: path.clone(), watch: p.has('w') })) {
                Ok((0, Response::Stat(r))) => Done(stat_lines(&r.stat), stat_json(&r.stat)),
                Ok((err, _)) => Keeper(err, keeper_message(err, &path)),
                Err(e) => Usage(e),
            }
        }
        "set" => {
            let p = parse(words, "s", "v").map_err(Usage)?;
            let path = path_arg(&p, "set [-s] [-v version] path data").map_err(Usage)?;
            let data = p.args.get(1).ok_or_else(|| usage("set [-s] [-v version] path data"))?;
            let request = SetDataRequest {
                path: path.clone(),
                data: Some(data.as_bytes().to_vec()),
                version: version(&p).map_err(Usage)?,
            };
            let Response::Stat(r) = call(session, Request::SetData(request), &path)? else {
                return Err(usage("unexpected reply"));
            };
            if p.has('s') {
                Done(stat_lines(&r.stat), json!({ "stat": stat_json(&r.stat) }))
            } else {
                Done(Vec::new(), json!({ "stat": stat_json(&r.stat) }))
            }
        }
        "create" => {
            let p = parse(words, "sec", "t").map_err(Usage)?;
            let path = path_arg(&p, "create [-s] [-e] [-c] [-t ttl] path [data] [acl]").map_err(Usage)?;
            let data = p.args.get(1).map(|d| d.as_bytes().to_vec());
            let acl = match p.args.get(2) {
                Some(text) => parse_acl(text).map_err(Usage)?,
                None => Acl::open_unsafe(),
            };
            let (e, s, c) = (p.has('e'), p.has('s'), p.has('c'));
            let ttl = p
                .value('t')
                .map(|t| t.parse::<i64>().map_err(|_| format!("ttl {t} is not a number")))
                .transpose()
                .map_err(Usage)?;
            if c && (e || s || ttl.is_some()) {
                return Err(usage("-c cannot be combined with other options"));
            }
            if ttl.is_some() && e {
                return Err(usage("TTLs cannot be used with Ephemeral znodes"));
            }
            let flags = i32::from(e) | if s { 2 } else { 0 };
            let request = match (c, ttl) {
                (true, _) => Request::CreateContainer(CreateRequest { path: path.clone(), data, acl, flags: 4 }),
                (false, Some(ttl)) => Request::CreateTtl(CreateTtlRequest {
                    path: path.clone(),
                    data,
                    acl,
                    flags: if s { 6 } else { 5 },
                    ttl,
                }),
                (false, None) => Request::Create(CreateRequest { path: path.clone(), data, acl, flags }),
            };
            let created = match call(session, request, &path)? {
                Response::Create(r) => r.path,
                Response::Create2(r) => r.path,
                _ => return Err(usage("unexpected reply")),
            };
            Done(vec![format!("Created {created}")], json!({ "created": created }))
        }
        "delete" => {
            let p = parse(words, "", "v").map_err(Usage)?;
            let path = path_arg(&p, "delete [-v version] path").map_err(Usage)?;
            call(
                session,
                Request::Delete(PathVersion { path: path.clone(), version: version(&p).map_err(Usage)? }),
                &path,
            )?;
            done()
        }
        "deleteall" => {
            let p = parse(words, "", "b").map_err(Usage)?;
            let path = path_arg(&p, "deleteall path [-b batch size]").map_err(Usage)?;
            // Depth first: every node after its children.
            let mut order = vec![path.clone()];
            let mut i = 0;
            while i < order.len() {
                let at = order[i].clone();
                match children(session, &at) {
                    Ok(kids) => order.extend(kids.into_iter().map(|k| format!("{}/{k}", at.trim_end_matches('/')))),
                    Err(e) if e == ErrorCode::NoNode.code() && i > 0 => {}
                    Err(e) => return Err(Keeper(e, keeper_message(e, &at))),
                }
                i += 1;
            }
            for at in order.iter().rev() {
                match session.call(&Request::Delete(PathVersion { path: at.clone(), version: -1 })) {
                    Ok((0, _)) => {}
                    Ok((e, _)) if e == ErrorCode::NoNode.code() => {}
                    Ok((e, _)) => return Err(Keeper(e, keeper_message(e, at))),
                    Err(e) => return Err(Usage(e)),
                }
            }
            done()
        }
        "getAcl" => {
            let p = parse(words, "s", "").map_err(Usage)?;
            let path = path_arg(&p, "getAcl [-s] path").map_err(Usage)?;
            let Response::GetAcl(r) = call(session, Request::GetAcl(PathRecord { path: path.clone() }), &path)? else {
                return Err(usage("unexpected reply"));
            };
            let mut lines = Vec::new();
            for a in &r.acl {
                lines.push(format!("'{},'{}", a.id.scheme, a.id.id));
                lines.push(format!(": {}", perm_letters(a.perms)));
            }
            if p.has('s') {
                lines.extend(stat_lines(&r.stat));
            }
            let acl: Vec<Value> = r
                .acl
                .iter()
                .map(|a| json!({ "scheme": a.id.scheme, "id": a.id.id, "perms": perm_letters(a.perms) }))
                .collect();
            Done(lines, json!({ "acl": acl, "stat": stat_json(&r.stat) }))
        }
        "setAcl" => {
            let p = parse(words, "sR", "v").map_err(Usage)?;
            let path = path_arg(&p, "setAcl [-s] [-v version] [-R] path acl").map_err(Usage)?;
            let acl = parse_acl(p.args.get(1).ok_or_else(|| usage("setAcl [-s] [-v version] [-R] path acl"))?)
                .map_err(Usage)?;
            let mut targets = vec![path.clone()];
            if p.has('R') {
                let mut i = 0;
                while i < targets.len() {
                    let at = targets[i].clone();
                    let kids = children(session, &at).map_err(|e| Keeper(e, keeper_message(e, &at)))?;
                    targets.extend(kids.into_iter().map(|k| format!("{}/{k}", at.trim_end_matches('/'))));
                    i += 1;
                }
            }
            let v = version(&p).map_err(Usage)?;
            let mut last = None;
            for at in targets {
                let request = SetAclRequest { path: at.clone(), acl: acl.clone(), version: v };
                if let Response::Stat(r) = call(session, Request::SetAcl(request), &at)? {
                    last = Some(r.stat);
                }
            }
            match (p.has('s'), last) {
                (true, Some(stat)) => Done(stat_lines(&stat), json!({ "stat": stat_json(&stat) })),
                _ => done(),
            }
        }
        "addauth" => {
            let (Some(scheme), auth) = (words.first(), words.get(1)) else { return Err(usage("addauth scheme auth")) };
            let packet = AuthPacket { auth_type: 0, scheme: scheme.clone(), auth: auth.map(|a| a.as_bytes().to_vec()) };
            call(session, Request::Auth(packet), scheme)?;
            done()
        }
        "sync" => {
            let p = parse(words, "", "").map_err(Usage)?;
            let path = path_arg(&p, "sync path").map_err(Usage)?;
            call(session, Request::Sync(PathRecord { path: path.clone() }), &path)?;
            Done(vec!["Sync is OK".into()], json!({ "synced": path }))
        }
        "addWatch" => {
            let p = parse(words, "", "m").map_err(Usage)?;
            let path = path_arg(&p, "addWatch [-m mode] path").map_err(Usage)?;
            let mode = match p.value('m').unwrap_or("PERSISTENT_RECURSIVE") {
                "PERSISTENT" => 0,
                "PERSISTENT_RECURSIVE" => 1,
                other => return Err(Usage(format!("Unsupported mode: {other}"))),
            };
            call(session, Request::AddWatch(AddWatchRequest { path: path.clone(), mode }), &path)?;
            done()
        }
        "removewatches" => {
            let p = parse(words, "cdal", "").map_err(Usage)?;
            let path = path_arg(&p, "removewatches path [-c|-d|-a] [-l]").map_err(Usage)?;
            if p.has('l') {
                return Err(usage("removewatches -l: this client keeps no local watches to remove"));
            }
            let watcher_type = if p.has('c') {
                1
            } else if p.has('d') {
                2
            } else {
                3
            };
            call(session, Request::RemoveWatches(WatchesRequest { path: path.clone(), watcher_type }), &path)?;
            done()
        }
        "getEphemerals" => {
            let prefix = words.first().cloned();
            let Response::GetEphemerals(r) = call(
                session,
                Request::GetEphemerals(GetEphemeralsRequest { prefix: prefix.clone() }),
                prefix.as_deref().unwrap_or("/"),
            )?
            else {
                return Err(usage("unexpected reply"));
            };
            Done(vec![format!("[{}]", r.ephemerals.join(", "))], json!(r.ephemerals))
        }
        "getAllChildrenNumber" => {
            let p = parse(words, "", "").map_err(Usage)?;
            let path = path_arg(&p, "getAllChildrenNumber path").map_err(Usage)?;
            let Response::GetAllChildrenNumber(r) =
                call(session, Request::GetAllChildrenNumber(PathRecord { path: path.clone() }), &path)?
            else {
                return Err(usage("unexpected reply"));
            };
            Done(vec![r.total.to_string()], json!(r.total))
        }
        "whoami" => {
            let Response::WhoAmI(r) = call(session, Request::WhoAmI, "/")? else {
                return Err(usage("unexpected reply"));
            };
            let mut lines = vec!["Auth scheme: User".to_string()];
            lines.extend(r.client_info.iter().map(|c| format!("{}: {}", c.auth_scheme, c.user)));
            let ids: Vec<Value> =
                r.client_info.iter().map(|c| json!({ "scheme": c.auth_scheme, "user": c.user })).collect();
            Done(lines, json!(ids))
        }
        _ => Usage(USAGE.into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_acls_and_options_parse_as_zkcli_takes_them() {
        assert_eq!(split_words("  set /a \"two words\" 'x y' z "), ["set", "/a", "two words", "x y", "z"]);
        let acl = parse_acl("digest:alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E=:cdrwa,world:anyone:r").unwrap();
        assert_eq!(acl[0], Acl::new(perms::ALL, "digest", "alice:aYXlLOpEooaV1cRAvUL1fp9Qt7E="));
        assert_eq!(acl[1], Acl::new(perms::READ, "world", "anyone"));
        assert!(parse_acl("world:anyone:q").is_err() && parse_acl("nonsense").is_err());
        assert_eq!(perm_letters(perms::ALL), "cdrwa");
        let words: Vec<String> = ["-s", "-v", "3", "/p", "data"].map(String::from).to_vec();
        let p = parse(&words, "s", "v").unwrap();
        assert!(p.has('s') && p.value('v') == Some("3") && p.args == ["/p", "data"]);
        assert!(parse(&words, "", "v").is_err(), "-s is not an option of delete");
        assert_eq!(keeper_message(-101, "/x"), "Node does not exist: /x");
        assert_eq!(keeper_message(-103, "/x"), "version No is not valid : /x");
    }
}
