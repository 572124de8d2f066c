//! `ringmon run` end to end through the CLI: output, exit codes, exec failures.

mod common;

use common::TestDaemon;

#[test]
fn run_prints_output_and_exits_with_the_containers_code() {
    let d = TestDaemon::start();
    let before = d.baseline();
    for tty in [true, false] {
        let mut cmd = d.cli();
        cmd.arg("run").arg("--rm");
        if tty {
            cmd.arg("-t");
        }
        let out = cmd
            .args(["--", "sh", "-c", "echo hi; exit 3"])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(3), "tty={tty} {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("hi"),
            "tty={tty} {out:?}"
        );
    }
    // Killed by a signal: 128 + signal. (`sh -c 'kill -9 $$'` would not do: the command is
    // PID 1 of its pid namespace, and the kernel drops signals a namespace's init sends
    // itself, as in docker.)
    let out = d
        .cli()
        .args(["run", "-d", "--", "sleep", "100"])
        .output()
        .expect("run -d");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let kill = d
        .cli()
        .args(["kill", "-s", "KILL", &id])
        .output()
        .expect("kill");
    assert!(kill.status.success(), "{kill:?}");
    let wait = d.cli().args(["wait", &id]).output().expect("wait");
    assert_eq!(
        String::from_utf8_lossy(&wait.stdout).trim(),
        "137",
        "{wait:?}"
    );
    let rm = d.cli().args(["rm", &id]).output().expect("rm");
    assert!(rm.status.success(), "{rm:?}");
    d.assert_back_to(&before);
}

#[test]
fn missing_and_non_executable_commands_fail_with_127_and_126() {
    let d = TestDaemon::start();
    let before = d.baseline();
    let out = d
        .cli()
        .args(["run", "--rm", "-t", "--", "/no/such/binary"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("/no/such/binary") && text.contains("no such file"),
        "{text}"
    );

    let out = d
        .cli()
        .args(["run", "--rm", "--", "no-such-command-xyz"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not found in $PATH"),
        "{out:?}"
    );

    // The test's directory reaches the container through a volume (its /tmp is private).
    std::fs::write(d.root().join("not-executable"), "#!/bin/sh\necho no\n").expect("write");
    let vol = format!("{}:/mnt:ro", d.root().display());
    let out = d
        .cli()
        .args(["run", "--rm", "-t", "-v", &vol, "--", "/mnt/not-executable"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("permission denied"),
        "{out:?}"
    );
    d.assert_back_to(&before);
}

#[test]
fn exec_failure_is_a_structured_api_error_and_in_the_log() {
    let d = TestDaemon::start();
    let mut c = d.client();
    let res = c
        .call(
            "create",
            serde_json::json!({"args": ["/no/such/binary"], "tty": true}),
        )
        .expect("create");
    let id = res["id"].as_str().expect("id").to_string();
    let err = c
        .call("start", serde_json::json!({"id": id}))
        .expect_err("start must fail");
    let ringmon::api::client::ClientError::Api(e) = err else {
        panic!("{err}")
    };
    assert_eq!(e.code, ringmon::api::proto::ErrorCode::ExecFailed);
    let exec = e.exec.expect("exec details");
    assert_eq!(
        (exec.binary.as_str(), exec.errno, exec.exit_code),
        ("/no/such/binary", libc::ENOENT, 127)
    );
    let exit = c.call("wait", serde_json::json!({"id": id})).expect("wait");
    assert_eq!(exit["exit_code"], 127);
    let info = c
        .call("inspect", serde_json::json!({"id": id}))
        .expect("inspect");
    let log = std::fs::read_to_string(info["log_path"].as_str().expect("path")).expect("log");
    assert!(
        log.contains("/no/such/binary") && log.contains(" stdout "),
        "{log}"
    );
    c.call("delete", serde_json::json!({"id": id}))
        .expect("delete");
}

#[test]
fn help_is_complete() {
    let out = std::process::Command::new(common::BIN)
        .arg("--help")
        .output()
        .expect("help");
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in [
        "daemon", "run", "create", "start", "wait", "kill", "rm", "ps", "logs", "inspect", "stats",
    ] {
        assert!(text.contains(sub), "--help lacks {sub}");
        let out = std::process::Command::new(common::BIN)
            .args([sub, "--help"])
            .output()
            .expect("help");
        assert!(out.status.success(), "{sub} --help failed");
    }
}

#[test]
fn run_starts_a_daemon_when_none_answers_and_says_so() {
    let dir = tempfile::Builder::new()
        .prefix("ringmon-test")
        .tempdir()
        .expect("tempdir");
    let socket = dir.path().join("auto.sock");
    let out = std::process::Command::new(common::BIN)
        .env("RINGMON_SOCKET", &socket)
        .args(["run", "--rm", "--", "echo", "auto"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("auto"));
    assert!(
        err.contains("started a daemon in the background")
            && err.contains(&socket.display().to_string()),
        "{err}"
    );
    // Stop the daemon this test started, by the pid it announced.
    let pid: i32 = err
        .split("(pid ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .expect("pid in message");
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(pid).expect("pid"),
        rustix::process::PidfdFlags::empty(),
    )
    .expect("pidfd");
    rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::TERM).expect("SIGTERM");
    let mut fds = [rustix::event::PollFd::new(
        &pidfd,
        rustix::event::PollFlags::IN,
    )];
    rustix::event::poll(&mut fds, None).expect("wait for the daemon to exit");
    assert!(
        !socket.exists(),
        "the daemon removes its socket when it stops"
    );
}

#[test]
fn the_socket_is_0600() {
    use std::os::unix::fs::PermissionsExt;
    let d = TestDaemon::start();
    let mode = std::fs::metadata(&d.socket)
        .expect("stat")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn setup_errors_fail_create_with_their_cause() {
    let d = TestDaemon::start();
    let before = d.baseline();
    // The error is answered once the container's cgroup and state directory are gone:
    // each round checks at once.
    for _ in 0..20 {
        let out = d
            .cli()
            .args(["run", "--rm", "-w", "/no/such/dir", "--", "true"])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(125), "{out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("chdir /no/such/dir") && err.contains("No such file"),
            "{err}"
        );
        d.assert_back_to(&before);
    }
}

#[test]
fn a_signal_to_a_created_container_acts_before_start() {
    let d = TestDaemon::start();
    let mut c = d.client();
    let res = c
        .call("create", serde_json::json!({"args": ["sleep", "100"]}))
        .expect("create");
    let id = res["id"].as_str().expect("id").to_string();
    // SIGKILL: the init is PID 1 of the container's pid namespace, which the kernel shields
    // from every other signal it has no handler for.
    c.call("kill", serde_json::json!({"id": id, "signal": "KILL"}))
        .expect("kill");
    let exit = c.call("wait", serde_json::json!({"id": id})).expect("wait");
    assert_eq!(exit["exit_code"], 137, "{exit}");
    assert_eq!(exit["signal"], 9);
    c.call("delete", serde_json::json!({"id": id}))
        .expect("delete");
}

#[test]
fn an_auto_remove_containers_exit_is_answered_once_it_is_gone() {
    use ringmon::api::proto::ErrorCode;
    let d = TestDaemon::start();
    let before = d.baseline();
    let mut c = d.client();
    for i in 0..20 {
        // Half through attach (what `run --rm` uses), half through a plain wait.
        let params = serde_json::json!({
            "args": ["sh", "-c", "exit 3"],
            "tty": i % 4 == 0,
            "auto_remove": true,
        });
        let code = if i % 2 == 0 {
            common::run_api(&mut c, params).0
        } else {
            let id = c.call("create", params).expect("create")["id"]
                .as_str()
                .expect("id")
                .to_string();
            let w = c.send("wait", serde_json::json!({"id": id})).expect("wait");
            c.call("start", serde_json::json!({"id": id}))
                .expect("start");
            let exit = c.wait_reply(w).expect("exit report");
            // Whoever sees the exit finds the container gone: no state directory, no id.
            assert!(
                !d.root().join("containers").join(&id).exists(),
                "{id}: state directory left when its wait was answered"
            );
            let err = c
                .call("inspect", serde_json::json!({"id": id}))
                .expect_err("inspect after the exit");
            assert_eq!(err.api_code(), Some(ErrorCode::NotFound), "{err}");
            exit["exit_code"].as_i64().expect("exit_code") as i32
        };
        assert_eq!(code, 3);
        // Nothing of it is left the moment its exit is known.
        d.assert_back_to(&before);
    }
}
