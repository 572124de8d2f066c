//! Churn of real containers (namespaces, pivot_root, their own devpts): thousands in a row,
//! each with a complete log, and afterwards the host's mounts, the daemon's fds and ptys
//! exactly as before.

mod common;

use common::rootfs::busybox_bundle;
use common::{run_api, TestDaemon};
use serde_json::json;

/// The host's mount table as findmnt prints it.
fn findmnt() -> String {
    let out = std::process::Command::new("findmnt")
        .args(["-rn", "-o", "TARGET,SOURCE,FSTYPE,OPTIONS"])
        .output()
        .expect("findmnt (util-linux)");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The user-visible text of a CRI log.
fn log_text(path: &std::path::Path) -> String {
    let log = std::fs::read(path).expect("log");
    let mut content = Vec::new();
    ringmon::logs::cri::reassemble(&log, |_, _, b| content.extend_from_slice(b)).expect("CRI");
    String::from_utf8_lossy(&content).into_owned()
}

#[test]
fn ten_thousand_tty_echo_runs_leave_ten_thousand_complete_logs() {
    let d = TestDaemon::start();
    let logs = d.root().join("logs");
    std::fs::create_dir(&logs).expect("mkdir logs");
    let mounts = findmnt();
    let before = d.baseline();
    let mut c = d.client();
    const RUNS: usize = 10_000;
    for i in 0..RUNS {
        let log = logs.join(format!("{i}.log"));
        let (code, out, id) = run_api(
            &mut c,
            json!({"args": ["echo", "hello"], "tty": true,
                   "log_path": log.display().to_string()}),
        );
        assert_eq!(code, 0, "run {i}");
        assert_eq!(out, b"hello\r\n", "run {i}: attach output");
        c.call("delete", json!({"id": id})).expect("delete");
    }
    // Every log is complete, checked after all of them were written.
    let mut complete = 0;
    for i in 0..RUNS {
        let text = log_text(&logs.join(format!("{i}.log")));
        assert_eq!(text, "hello\r\n", "log {i}");
        complete += 1;
    }
    assert_eq!(complete, RUNS);
    d.assert_back_to(&before);
    assert_eq!(findmnt(), mounts, "no mount left behind");
}

#[test]
fn a_missing_command_in_a_tty_fails_fast_with_its_name_a_thousand_times() {
    let d = TestDaemon::start();
    let logs = d.root().join("logs");
    std::fs::create_dir(&logs).expect("mkdir logs");
    let mounts = findmnt();
    let before = d.baseline();
    let mut slowest = std::time::Duration::ZERO;
    for i in 0..1000 {
        let log = logs.join(format!("{i}.log"));
        let cmd = format!("no-such-command-{i}");
        let t = std::time::Instant::now();
        let out = d
            .cli()
            .args(["run", "-t", "--rm", "--log-path"])
            .arg(&log)
            .args(["--", &cmd])
            .output()
            .expect("run");
        slowest = slowest.max(t.elapsed());
        assert_eq!(out.status.code(), Some(127), "run {i}: {out:?}");
        let message = format!("exec \"{cmd}\": executable file not found in $PATH");
        let shown = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(shown.contains(&message), "run {i}: {shown}");
        assert!(log_text(&log).contains(&message), "run {i}: log");
    }
    // Reported, not asserted: speed belongs to benches/ and stress/.
    println!("slowest of 1000 failing tty runs through the CLI: {slowest:?}");
    d.assert_back_to(&before);
    assert_eq!(findmnt(), mounts, "no mount left behind");
}

#[test]
fn a_thousand_bundle_containers_leave_no_mount_fd_or_pty_behind() {
    let d = TestDaemon::start();
    let bundle = busybox_bundle(d.root());
    let mounts = findmnt();
    let before = d.baseline();
    let mut c = d.client();
    for i in 0..1000 {
        let (code, out, id) = run_api(
            &mut c,
            json!({"bundle": bundle.display().to_string(), "tty": i % 2 == 0,
                   "args": ["sh", "-c", "echo $$"]}),
        );
        assert_eq!(code, 0, "run {i}");
        assert_eq!(String::from_utf8_lossy(&out).trim(), "1", "run {i}");
        c.call("delete", json!({"id": id})).expect("delete");
    }
    d.assert_back_to(&before);
    assert_eq!(findmnt(), mounts, "no mount left behind");
}
