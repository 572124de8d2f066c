//! 1000 sequential `echo hello` containers without a tty and 1000 with one: every log holds
//! the line, every exit code is right, and the daemon ends exactly where it started.

mod common;

use common::{run_api, TestDaemon};

fn churn(d: &TestDaemon, tty: bool, n: usize) {
    let mut c = d.client();
    for i in 0..n {
        let (code, out, id) = run_api(
            &mut c,
            serde_json::json!({"args": ["echo", "hello"], "tty": tty}),
        );
        assert_eq!(code, 0, "run {i} tty={tty}");
        assert!(
            out.starts_with(b"hello"),
            "run {i} tty={tty}: output {out:?}"
        );
        let info = c
            .call("inspect", serde_json::json!({"id": id}))
            .expect("inspect");
        let log = std::fs::read(info["log_path"].as_str().expect("log path")).expect("read log");
        let want: &[u8] = if tty { b"hello\r\n" } else { b"hello\n" };
        assert_eq!(
            stdout_of(&log),
            want,
            "run {i}: log {:?}",
            String::from_utf8_lossy(&log)
        );
        c.call("delete", serde_json::json!({"id": id}))
            .expect("delete");
    }
}

/// The stdout bytes a CRI log's records reassemble to.
fn stdout_of(log: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ringmon::logs::cri::reassemble(log, |s, _, b| {
        if s == ringmon::logs::cri::Stream::Stdout {
            out.extend_from_slice(b)
        }
    })
    .expect("a well-formed CRI log");
    out
}

/// The same through the CLI: `ringmon run -t --rm --log-path ... -- echo hello`.
fn churn_cli(d: &TestDaemon, n: usize) {
    let logs = d.root().join("cli-logs");
    std::fs::create_dir_all(&logs).expect("mkdir");
    for i in 0..n {
        let log = logs.join(format!("{i}.log"));
        let out = d
            .cli()
            .args(["run", "-t", "--rm", "--log-path"])
            .arg(&log)
            .args(["--", "echo", "hello"])
            .output()
            .expect("ringmon run");
        assert_eq!(out.status.code(), Some(0), "run {i}: {out:?}");
        assert!(out.stdout.starts_with(b"hello"), "run {i}: {out:?}");
        let text = std::fs::read(&log).expect("log kept after --rm (outside the state dir)");
        // A pty may hand over "hello" and the "\r\n" of ONLCR in two reads, which the log
        // keeps as a P record and an F record: compare what they reassemble to.
        assert_eq!(
            stdout_of(&text),
            b"hello\r\n",
            "run {i}: {:?}",
            String::from_utf8_lossy(&text)
        );
    }
}

#[test]
fn thousand_pipe_and_thousand_tty_runs_leave_nothing_behind() {
    let d = TestDaemon::start();
    let before = d.baseline();
    churn(&d, false, 1000);
    d.assert_back_to(&before);
    churn_cli(&d, 1000);
    d.assert_back_to(&before);
    churn(&d, true, 100);
    d.assert_back_to(&before);
    let stats = d
        .client()
        .call("stats", serde_json::json!({}))
        .expect("stats");
    assert_eq!(stats["containers"], serde_json::json!({}));
    assert!(d.stop().success());
}

#[test]
fn logs_api_returns_the_output_and_follow_streams_until_exit() {
    use base64::Engine;
    let d = TestDaemon::start();
    let mut c = d.client();
    let (code, _, id) = run_api(
        &mut c,
        serde_json::json!({"args": ["sh", "-c", "echo one; echo two >&2; printf three"]}),
    );
    assert_eq!(code, 0);
    let collect = |c: &mut ringmon::api::client::Client, follow: bool, id: &str| {
        let req = c
            .send("logs", serde_json::json!({"id": id, "follow": follow}))
            .expect("logs");
        let mut raw = Vec::new();
        loop {
            let m = c.next_message().expect("next");
            if m.id != Some(req) {
                continue;
            }
            if m.event.is_none() {
                ringmon::api::client::into_result(m).expect("logs ok");
                return raw;
            }
            let d = m.rest["data"].as_str().expect("data");
            raw.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(d)
                    .expect("b64"),
            );
        }
    };
    let raw = collect(&mut c, false, &id);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    ringmon::logs::cri::reassemble(&raw, |s, _, b| match s {
        ringmon::logs::cri::Stream::Stdout => out.extend_from_slice(b),
        ringmon::logs::cri::Stream::Stderr => err.extend_from_slice(b),
    })
    .expect("parse");
    assert_eq!(out, b"one\nthree");
    assert_eq!(err, b"two\n");
    c.call("delete", serde_json::json!({"id": id}))
        .expect("delete");

    // follow: the container writes, waits for our go on stdin, writes again, exits.
    let res = c
        .call("create", serde_json::json!({"args": ["sh", "-c", "echo before; read x; echo after"], "stdin": true}))
        .expect("create");
    let id = res["id"].as_str().expect("id").to_string();
    c.call("start", serde_json::json!({"id": id}))
        .expect("start");
    let mut f = d.client();
    let req = f
        .send("logs", serde_json::json!({"id": id, "follow": true}))
        .expect("logs");
    let mut raw = Vec::new();
    let mut sent_go = false;
    loop {
        let m = f.next_message().expect("next");
        if m.id != Some(req) {
            continue;
        }
        if m.event.is_none() {
            ringmon::api::client::into_result(m).expect("follow ends ok");
            break;
        }
        raw.extend(
            base64::engine::general_purpose::STANDARD
                .decode(m.rest["data"].as_str().expect("d"))
                .expect("b64"),
        );
        if !sent_go && String::from_utf8_lossy(&raw).contains("before") {
            sent_go = true;
            c.call(
                "stdin",
                serde_json::json!({"id": id, "data": "Z28K", "eof": true}),
            )
            .expect("stdin");
        }
    }
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.contains("F before") && text.contains("F after"),
        "{text}"
    );
    c.call("delete", serde_json::json!({"id": id}))
        .expect("delete");
}
