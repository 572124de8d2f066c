//! Sequential container latency against a real daemon (no criterion: each sample is a
//! whole container lifetime). Prints medians; run with `cargo bench --bench run_latency`.
//!
//! - api: create -> attach -> start -> exit reported -> delete of `true`, one connection, in
//!   the embedded default (host root read-only; pid, ipc, uts, mount namespaces), and in a
//!   busybox bundle with `ringmon spec`'s default (adds a network namespace).
//! - the same with limits (memory, pids, cpu shares), and with a daemon run `--cgroups off`:
//!   what a container's cgroup costs.
//! - cli: `ringmon run --rm -- true`, a new CLI process per container (what a user types).
//! - floor: fork+exec of `true` from this process (std::process::Command), no daemon.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ringmon::api::client::Client;

const BIN: &str = env!("CARGO_BIN_EXE_ringmon");

/// Runs `one` `n` times, one after the other, and prints the median and p90.
fn report(name: &str, n: usize, mut one: impl FnMut()) {
    let mut v: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            one();
            t.elapsed()
        })
        .collect();
    v.sort();
    let (p50, p90) = (v[n / 2], v[n * 9 / 10]);
    println!(
        "{name:<32}: median {:>8.3} ms  p90 {:>8.3} ms  (n={n})",
        ms(p50),
        ms(p90)
    );
}

fn main() {
    let n: usize = std::env::var("RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut daemon, socket) = start_daemon(dir.path(), "main", &[]);
    let mut c = Client::connect(&socket).expect("connect");

    for tty in [false, true] {
        report(&format!("api  run `true` tty={tty:<5}"), n, || {
            api_run(&mut c, serde_json::json!({"args": ["true"], "tty": tty}))
        });
    }
    // What the container's cgroup costs: limits written, and no cgroup at all, in the same run.
    let limits = serde_json::json!({"memory": {"limit": 64 << 20}, "pids": {"limit": 100},
                                    "cpu": {"shares": 512}});
    report("api  run `true` with limits", n, || {
        api_run(
            &mut c,
            serde_json::json!({"args": ["true"], "resources": limits}),
        )
    });
    let (mut bare, bare_socket) = start_daemon(dir.path(), "bare", &["--cgroups", "off"]);
    let mut b = Client::connect(&bare_socket).expect("connect");
    report("api  run `true` --cgroups off", n, || {
        api_run(&mut b, serde_json::json!({"args": ["true"]}))
    });
    stop_daemon(&mut bare);
    if std::path::Path::new("/bin/busybox").exists() {
        let bundle = dir.path().join("bundle");
        std::fs::create_dir_all(bundle.join("rootfs/bin")).expect("mkdir");
        std::fs::copy("/bin/busybox", bundle.join("rootfs/bin/busybox")).expect("copy");
        std::os::unix::fs::symlink("busybox", bundle.join("rootfs/bin/true")).expect("link");
        let st = Command::new(BIN)
            .args(["spec", "--bundle"])
            .arg(&bundle)
            .status()
            .expect("spec");
        assert!(st.success());
        let b = bundle.display().to_string();
        report("api  run `true` busybox bundle", n, || {
            api_run(&mut c, serde_json::json!({"args": ["true"], "bundle": b}))
        });
    } else {
        println!("api  run `true` busybox bundle : skipped, /bin/busybox missing (busybox-static)");
    }
    report(
        "cli  `ringmon run -t --rm -- no-such-cmd` (127)",
        n.min(200),
        || {
            let st = Command::new(BIN)
                .env("RINGMON_SOCKET", &socket)
                .args(["run", "-t", "--rm", "--", "no-such-cmd"])
                .stdout(Stdio::null())
                .status()
                .expect("cli");
            assert_eq!(st.code(), Some(127));
        },
    );
    report("cli  `ringmon run --rm -- true`", n.min(200), || {
        let st = Command::new(BIN)
            .env("RINGMON_SOCKET", &socket)
            .args(["run", "--rm", "--", "true"])
            .status()
            .expect("cli");
        assert!(st.success());
    });
    report("floor fork+exec `true`", n, || {
        Command::new("true").status().expect("true");
    });
    stop_daemon(&mut daemon);
}

/// A daemon of our own under `root/name`, ready; returns it and its socket.
fn start_daemon(root: &std::path::Path, name: &str, extra: &[&str]) -> (Child, PathBuf) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let socket = dir.join("ringmon.sock");
    let parent = format!("ringmon-bench-{}-{name}", std::process::id());
    let mut daemon = Command::new(BIN)
        .arg("--socket")
        .arg(&socket)
        .args(["daemon", "--root"])
        .arg(&dir)
        .args(["--background", "--cgroup-parent", &parent])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon");
    let mut line = String::new();
    BufReader::new(daemon.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("ready");
    (daemon, socket)
}

/// SIGTERM to the daemon we started, by its pid, and wait for it.
fn stop_daemon(daemon: &mut Child) {
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_raw(daemon.id() as i32).expect("pid"),
        rustix::process::Signal::TERM,
    );
    let _ = daemon.wait();
}

/// One container lifetime over the API: create -> attach -> start -> exit -> delete.
fn api_run(c: &mut Client, params: serde_json::Value) {
    let id = c.call("create", params).expect("create")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let a = c
        .send("attach", serde_json::json!({"id": id}))
        .expect("attach");
    c.call("start", serde_json::json!({"id": id}))
        .expect("start");
    c.wait_reply(a).expect("exit");
    c.call("delete", serde_json::json!({"id": id}))
        .expect("delete");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
