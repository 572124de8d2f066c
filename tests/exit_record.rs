//! `exit.json`: written in the ring's workers at the stop, in place before anyone is told
//! of the exit, and a failed write loses neither the answer nor the cleanup.

mod common;

use common::{create, TestDaemon};
use serde_json::json;

#[test]
fn the_exit_record_is_in_place_when_wait_and_stop_are_answered() {
    let d = TestDaemon::start();
    let before = d.baseline();
    let mut c = d.client();
    for i in 0..20 {
        let tty = i % 2 == 0;
        let (id, exit) = if i % 4 < 2 {
            let id = create(
                &mut c,
                json!({"args": ["sh", "-c", format!("exit {i}")], "tty": tty}),
            );
            let w = c.send("wait", serde_json::json!({"id": id})).expect("wait");
            c.call("start", serde_json::json!({"id": id}))
                .expect("start");
            (id.clone(), c.wait_reply(w).expect("exit report"))
        } else {
            let id = create(&mut c, json!({"args": ["sleep", "100"], "tty": tty}));
            c.call("start", serde_json::json!({"id": id}))
                .expect("start");
            let exit = c
                .call("stop", serde_json::json!({"id": id, "timeout": 0}))
                .expect("stop");
            (id, exit)
        };
        let dir = d.root().join("containers").join(&id);
        let record = std::fs::read(dir.join("exit.json"))
            .unwrap_or_else(|e| panic!("{id}: exit.json when its exit was answered: {e}"));
        let record: serde_json::Value = serde_json::from_slice(&record).expect("exit.json");
        assert_eq!(record, exit, "{id}: exit.json differs from the answer");
        if i % 4 < 2 {
            assert_eq!(record["exit_code"], i);
        } else {
            assert_eq!(record["signal"], 9, "{record}");
        }
        assert!(!dir.join("exit.json.tmp").exists());
        c.call("delete", serde_json::json!({"id": id}))
            .expect("delete");
        d.assert_back_to(&before);
    }
}

#[test]
fn a_failed_exit_record_still_answers_wait_and_leaves_nothing_at_delete() {
    let d = TestDaemon::start();
    let before = d.baseline();
    let mut c = d.client();
    let id = create(&mut c, json!({"args": ["sh", "-c", "exit 4"]}));
    // The record's temporary name is taken by a directory: its openat fails (EISDIR).
    let dir = d.root().join("containers").join(&id);
    std::fs::create_dir_all(dir.join("exit.json.tmp").join("in-the-way")).expect("mkdir");
    let w = c.send("wait", serde_json::json!({"id": id})).expect("wait");
    c.call("start", serde_json::json!({"id": id}))
        .expect("start");
    let exit = c.wait_reply(w).expect("exit report");
    assert_eq!(exit["exit_code"], 4);
    assert!(!dir.join("exit.json").exists());
    let inspect = c
        .call("inspect", serde_json::json!({"id": id}))
        .expect("inspect");
    assert_eq!(inspect["exit"]["exit_code"], 4, "{inspect}");
    c.call("delete", serde_json::json!({"id": id}))
        .expect("delete");
    assert!(!dir.exists(), "{} left after delete", dir.display());
    d.assert_back_to(&before);
}
