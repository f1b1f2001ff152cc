//! The page's API, run as WebAssembly (`wasm-bindgen-test-runner`, under Node) and natively.

use serde_json::{Value, json};
use wasm_bindgen_test::wasm_bindgen_test;
use zabkeeper_wasm::{Cluster, presets};

fn state(cluster: &Cluster) -> Value {
    serde_json::from_str(&cluster.state()).expect("state is JSON")
}

fn leader(state: &Value) -> Option<u64> {
    let servers = state["servers"].as_array()?;
    let leaders: Vec<u64> =
        servers.iter().filter(|s| s["role"] == "LEADING").map(|s| s["id"].as_u64().unwrap_or(0)).collect();
    (leaders.len() == 1).then(|| leaders[0])
}

#[wasm_bindgen_test]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_preset_starts_and_has_its_story() {
    let stories: Vec<Value> = serde_json::from_str(&presets()).unwrap();
    let names: Vec<String> = stories.iter().map(|s| s["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names.last().map(String::as_str), Some("custom"), "the page's own cluster comes last");
    assert!(
        stories.iter().all(|s| !s["title"].as_str().unwrap().is_empty() && s["story"].as_str().unwrap().len() > 40)
    );
    let scripted = &names[..names.len() - 1];
    assert_eq!(scripted.len(), 7);
    for name in scripted {
        let name = name.clone();
        let mut cluster = Cluster::preset(&name, 1).unwrap();
        cluster.run_for(2_000.0, 1_000_000);
        assert!(cluster.now_ms() >= 2_000.0, "{name}");
        assert_eq!(cluster.scenario(), name);
    }
    assert!(Cluster::preset("nope", 1).is_err());
}

#[wasm_bindgen_test]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_message_kind_and_phase_is_described() {
    let kinds: Vec<Value> = serde_json::from_str(&zabkeeper_wasm::message_kinds()).unwrap();
    assert_eq!(kinds.len(), 24);
    assert!(kinds.iter().any(|k| k["kind"] == "PROPOSAL" && k["family"] == "proposal"));
    let phases: Value = serde_json::from_str(&zabkeeper_wasm::phases()).unwrap();
    for phase in ["election", "Discovery", "EpochPending", "AwaitAckEpoch", "Synchronization", "Broadcast"] {
        assert!(phases[phase].as_str().is_some_and(|t| !t.is_empty()), "{phase}");
    }
}

#[wasm_bindgen_test]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn five_servers_elect_crash_and_elect_again() {
    let mut cluster = Cluster::new(42, 5, 0, "").unwrap();
    cluster.run_for(4_000.0, 1_000_000);
    let s = state(&cluster);
    let first = leader(&s).expect("a leader");
    assert_eq!(s["servers"].as_array().unwrap().len(), 5);
    cluster.crash(first as u32).unwrap();
    assert!(cluster.crash(first as u32).is_err(), "already down");
    cluster.run_for(6_000.0, 1_000_000);
    let s = state(&cluster);
    let second = leader(&s).expect("a new leader");
    assert_ne!(first, second);
    assert_eq!(s["servers"][first as usize - 1]["role"], "DOWN");
    cluster.restart(first as u32).unwrap();
    cluster.run_for(3_000.0, 1_000_000);
    let s = state(&cluster);
    assert_eq!(s["servers"][first as usize - 1]["role"], "FOLLOWING");
    assert_eq!(cluster.verdict(), "[]");
}

#[wasm_bindgen_test]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_write_through_the_client_panel_reaches_every_server() {
    let mut cluster = Cluster::new(7, 3, 1, "").unwrap();
    cluster.run_for(3_000.0, 1_000_000);
    let client = cluster.add_client("manual", 4).unwrap();
    assert_eq!(client, 1);
    cluster.call(client, "create", "/greeting", "hello", "", -1).unwrap();
    cluster.call(client, "create", "/q-", "x", "es", -1).unwrap();
    cluster.call(client, "get", "/greeting", "", "", -1).unwrap();
    assert!(cluster.call(client, "frobnicate", "/", "", "", -1).is_err());
    cluster.run_for(2_000.0, 1_000_000);
    let s = state(&cluster);
    for server in s["servers"].as_array().unwrap() {
        let tree = server["tree"].as_array().unwrap();
        let node = tree.iter().find(|n| n["path"] == "/greeting").expect("on every server");
        assert_eq!(node["data"], "hello");
        assert!(tree.iter().any(|n| n["path"] == "/q-0000000001" && n["ephemeral_owner"] != ""));
    }
    let calls = s["clients"][0]["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 3);
    assert!(calls.iter().all(|c| c["status"] == "ok"), "{calls:?}");
    assert!(calls[2]["result"].as_str().unwrap().contains("hello"));
}

#[wasm_bindgen_test]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn partitions_faults_and_trace() {
    let mut cluster = Cluster::new(3, 5, 0, "").unwrap();
    cluster.run_for(3_000.0, 1_000_000);
    cluster.partition("[[1,2],[3,4,5]]").unwrap();
    assert!(cluster.partition("not json").is_err());
    let s = state(&cluster);
    assert_eq!(s["blocked"].as_array().unwrap().len(), 12);
    cluster.set_faults(100, 50, 5, 40).unwrap();
    cluster.run_for(3_000.0, 1_000_000);
    cluster.heal().unwrap();
    let s = state(&cluster);
    assert_eq!(s["faults"]["drop"], 100);
    assert_eq!(s["blocked"].as_array().unwrap().len(), 0);
    let trace: Vec<Value> = serde_json::from_str(&cluster.trace(0, 100_000)).unwrap();
    assert!(trace.iter().any(|l| l["what"] == "partition"));
    assert!(trace.iter().any(|l| l["what"] == "drop" && l["kind"].is_string()));
    let sends = trace.iter().filter(|l| l["what"] == "send").count();
    assert!(sends > 100);
    let later: Vec<Value> = serde_json::from_str(&cluster.trace(10, 5)).unwrap();
    assert_eq!(later.len(), 5);
    assert_eq!(later[0], trace[10]);
}

#[wasm_bindgen_test]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_deliberate_bug_is_caught_and_shown() {
    let names: Vec<String> = serde_json::from_str(&zabkeeper_wasm::bugs()).unwrap();
    assert!(names.iter().any(|n| n == "commit-without-quorum"));
    assert!(Cluster::new(1, 3, 0, "no-such-bug").is_err());
    let mut cluster = Cluster::new(11, 3, 0, "commit-without-quorum").unwrap();
    cluster.run_for(3_000.0, 1_000_000);
    cluster.apply(r#"{"Isolate":{"server":"Leader"}}"#).unwrap();
    cluster.apply(r#"{"Propose":{"path":"/x"}}"#).unwrap();
    cluster.run_for(500.0, 1_000_000);
    let verdict: Vec<Value> = serde_json::from_str(&cluster.verdict()).unwrap();
    assert_eq!(verdict[0]["invariant"], "CommitDurability", "{verdict:?}");
    let s = state(&cluster);
    assert_eq!(s["violations"].as_array().unwrap().len(), verdict.len());
    // Isolated: the leader cannot talk to the two others, who still talk to each other.
    assert_eq!(s["blocked"].as_array().unwrap().len(), 4);
}

#[wasm_bindgen_test]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn scrubbing_back_replays_the_same_run() {
    let mut cluster = Cluster::preset("leader-crash", 9).unwrap();
    cluster.run_for(5_000.0, 1_000_000);
    cluster.apply(r#"{"Partition":{"groups":[[1],[2,3,4,5]]}}"#).unwrap();
    assert!(cluster.apply(r#"{"Explode":{}}"#).is_err());
    cluster.run_steps(2_000);
    let (steps, before) = (cluster.steps(), cluster.state());
    let log = cluster.log();
    cluster.seek(100.0);
    assert_eq!(cluster.steps(), 100.0);
    cluster.seek(steps);
    assert_eq!(cluster.state(), before);
    // A shared link: a fresh cluster given the log reaches the same moment.
    let mut other = Cluster::preset("leader-crash", 9).unwrap();
    other.set_log(&log).unwrap();
    other.seek(steps);
    assert_eq!(other.state(), before);
}

/// Scrubbing back and forward again lands on the same run: commands given between events (a
/// crash, a restart, a client and its create, each after `run_for` moved the clock past the
/// last event) are replayed at the clock they were given at, not at the last event's. (They
/// were replayed earlier, and the run after them differed: other zxids, other digests.)
#[wasm_bindgen_test]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn seeking_back_and_forward_replays_the_same_run() {
    let mut cluster = Cluster::new(2024, 5, 0, "").unwrap();
    cluster.run_for(3_000.0, 10_000_000);
    let first = leader(&state(&cluster)).expect("a leader");
    cluster.crash(first as u32).unwrap();
    cluster.run_for(3_000.0, 10_000_000);
    cluster.restart(first as u32).unwrap();
    cluster.run_for(3_000.0, 10_000_000);
    cluster.add_client("manual", 1).unwrap();
    cluster.run_for(1_000.0, 10_000_000);
    cluster.call(1, "create", "/greeting", "hello", "", -1).unwrap();
    cluster.run_for(3_000.0, 10_000_000);
    let steps = cluster.steps();
    let mut live = state(&cluster);
    cluster.seek(200.0);
    cluster.seek(steps);
    let mut replayed = state(&cluster);
    // The live clock went on past the last event to the end of run_for; a seek by steps
    // stops at the event.
    live.as_object_mut().unwrap().remove("now_ms");
    replayed.as_object_mut().unwrap().remove("now_ms");
    assert_eq!(live, replayed);
    let log: Value = serde_json::from_str(&cluster.log()).unwrap();
    let mut shared = Cluster::new(2024, 5, 0, "").unwrap();
    shared.set_log(&log.to_string()).unwrap();
    shared.seek(steps);
    let mut from_link = state(&shared);
    from_link.as_object_mut().unwrap().remove("now_ms");
    assert_eq!(from_link, replayed, "a shared link replays it too");
    // A link from before the log kept the clock: [step, command] pairs still load.
    let pairs: Vec<Value> = log.as_array().unwrap().iter().map(|l| json!([l["step"], l["command"]])).collect();
    assert!(Cluster::new(2024, 5, 0, "").unwrap().set_log(&Value::Array(pairs).to_string()).is_ok());
}

/// "Show me" seeks to a violation's time and finds it there, also when the event that shows it
/// follows a scripted command due just before (which the next event's time alone did not show).
#[wasm_bindgen_test]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn seeking_to_a_violation_finds_it() {
    for seed in [1, 7, 2024] {
        let mut cluster = Cluster::preset("broken-commit", seed).unwrap();
        cluster.run_for(5_000.0, 100_000_000);
        let verdict: Value = serde_json::from_str(&cluster.verdict()).unwrap();
        let first = verdict[0].clone();
        let at = first["at_ms"].as_f64().expect("the broken leader is caught");
        cluster.seek_ms(at);
        let again: Value = serde_json::from_str(&cluster.verdict()).unwrap();
        assert_eq!(again[0], first, "seed {seed}: the violation at {at} ms is there after seeking to it");
    }
}
