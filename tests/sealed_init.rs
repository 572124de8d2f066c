//! The init runs from the daemon's sealed memfd: its /proc/PID/exe cannot be opened for
//! writing, and the binary refuses to act as an init when it is not sealed.

mod common;

use common::TestDaemon;

#[test]
fn a_waiting_init_cannot_have_its_exe_opened_for_writing() {
    let d = TestDaemon::start();
    let mut c = d.client();
    let res = c
        .call("create", serde_json::json!({"args": ["true"], "tty": true}))
        .expect("create");
    let pid = res["pid"].as_i64().expect("pid");
    let exe = format!("/proc/{pid}/exe");
    let target = std::fs::read_link(&exe).expect("readlink");
    assert!(
        target.to_string_lossy().starts_with("/memfd:ringmon"),
        "{target:?}"
    );
    let err = std::fs::OpenOptions::new()
        .write(true)
        .open(&exe)
        .expect_err("must not open for write");
    assert!(
        matches!(err.raw_os_error(), Some(libc::ETXTBSY) | Some(libc::EPERM)),
        "unexpected error {err}"
    );
    let id = res["id"].as_str().expect("id");
    c.call("delete", serde_json::json!({"id": id}))
        .expect("delete created container");
}

#[test]
fn init_refuses_to_run_unsealed() {
    let out = std::process::Command::new(common::BIN)
        .args(["init", "--sync-fd", "3"])
        .output()
        .expect("run init");
    assert_eq!(out.status.code(), Some(125));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a sealed memfd"),
        "{out:?}"
    );
}
