//! Three real server processes on loopback as one ensemble: writes through any member are
//! seen through the others, the leader is killed (-9) and the rest go on, and it comes back
//! and catches up.

mod common;

use common::{Client, create, ensemble, exists_after_sync, mode, modes, wait_for, wait_for_leader_and_followers};

#[test]
fn a_three_process_ensemble_replicates_and_survives_its_leader() {
    let base = common::scratch("ensemble");
    let mut members = ensemble(&base, 3);
    for m in &mut members {
        m.spawn();
    }
    wait_for_leader_and_followers(&members);

    // Writes through each member; each is visible through every other (after sync).
    for (i, m) in members.iter().enumerate() {
        let mut c = Client::open(m.client).expect("connect");
        let (h, _) = c.call(create(&format!("/from{i}"), b"v", 0)).expect("reply");
        assert_eq!(h.err, 0);
    }
    for m in &members {
        for i in 0..3 {
            assert!(exists_after_sync(m.client, &format!("/from{i}")), "/from{i} missing on {}", m.client);
        }
    }

    // A session on a follower with an ephemeral, and one that will simply vanish.
    let leader = modes(&members).iter().position(|s| s == "leader").unwrap();
    let survivor = (leader + 1) % 3;
    let (mut kept, _) = Client::connect(members[survivor].client, 0, vec![0; 16], 3000).expect("connect");
    assert_eq!(kept.must(create("/kept-eph", b"", 1)).0.err, 0);
    let (mut lost, _) = Client::connect(members[survivor].client, 0, vec![0; 16], 1000).expect("connect");
    assert_eq!(lost.must(create("/lost-eph", b"", 1)).0.err, 0);

    // kill -9 the leader: the other two elect one and keep serving writes.
    members[leader].kill();
    let killed = std::time::Instant::now();
    wait_for("a new leader among the two left", || modes(&members).iter().filter(|s| *s == "leader").count() == 1);
    wait_for("a write after the failover", || {
        Client::open(members[survivor].client)
            .and_then(|mut c| c.call(create("/after-failover", b"v", 0)))
            .is_some_and(|(h, _)| h.err == 0 || h.err == -110)
    });
    eprintln!(
        "failover: first successful write {} ms after kill -9 of the leader (tickTime 100)",
        killed.elapsed().as_millis()
    );

    // The session that reconnects keeps its ephemeral; the one whose client died loses it
    // once its timeout has passed.
    drop(lost);
    let (session, passwd) = (kept.session, kept.passwd.clone());
    drop(kept);
    let (mut kept, back) = Client::connect(members[survivor].client, session, passwd, 3000).expect("reconnect");
    assert_eq!(back.session_id, session, "the session survived the failover");
    assert_eq!(kept.must(common::get("/kept-eph")).0.err, 0);
    wait_for("the dead client's ephemeral to go", || !exists_after_sync(members[survivor].client, "/lost-eph"));
    assert_eq!(kept.must(common::get("/kept-eph")).0.err, 0, "a live session keeps its ephemeral");

    // The old leader comes back and catches up.
    members[leader].spawn();
    let back = members[leader].client;
    wait_for("the old leader to follow", || mode(back).as_deref() == Some("follower"));
    wait_for("the old leader to catch up", || exists_after_sync(back, "/after-failover"));
    for i in 0..3 {
        assert!(exists_after_sync(back, &format!("/from{i}")));
    }
    drop(members);
    let _ = std::fs::remove_dir_all(&base);
}

/// Readiness as ZooKeeper reports it: a member without a quorum answers srvr, stat, mntr,
/// conf, cons and wchs with "not currently serving" (isro with "null", ruok still "imok") and
/// refuses clients; once a quorum forms it serves.
#[test]
fn a_member_without_a_quorum_says_it_is_not_serving_until_it_is() {
    let base = common::scratch("readiness");
    let mut members = ensemble(&base, 3);
    members[0].spawn();
    let alone = members[0].client;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while common::word(alone, "ruok").as_deref() != Some("imok") {
        let exited = members[0].child.as_mut().and_then(|c| c.try_wait().ok().flatten());
        assert!(
            exited.is_none() && std::time::Instant::now() < deadline,
            "the lone member does not answer (exited: {exited:?}); its log:\n{}",
            members[0].log_tail()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for w in ["srvr", "stat", "mntr", "conf", "cons", "wchs"] {
        assert_eq!(
            common::word(alone, w).as_deref(),
            Some("This ZooKeeper instance is not currently serving requests\n"),
            "{w} of a lone member"
        );
    }
    assert_eq!(common::word(alone, "isro").as_deref(), Some("null"));
    assert!(Client::open(alone).is_none(), "no session without a quorum");

    members[1].spawn();
    members[2].spawn();
    wait_for_leader_and_followers(&members);
    assert!(common::word(alone, "srvr").is_some_and(|s| s.contains("Mode: ")));
    assert_eq!(common::word(alone, "isro").as_deref(), Some("rw"));
    // The leader's mntr counts its learners, all synced; a follower prints no leader keys.
    let leader = members.iter().find(|m| mode(m.client).as_deref() == Some("leader")).unwrap().client;
    wait_for("both followers synced", || {
        common::word(leader, "mntr")
            .is_some_and(|m| m.contains("zk_learners\t2\n") && m.contains("zk_synced_followers\t2\n"))
    });
    let follower = members.iter().find(|m| mode(m.client).as_deref() == Some("follower")).unwrap().client;
    assert!(!common::word(follower, "mntr").unwrap().contains("zk_learners"));
    drop(members);
    let _ = std::fs::remove_dir_all(&base);
}
