//! Lifecycle calls that never hang, on this host's real cgroups (hybrid here: v1
//! controllers plus a controller-less cgroup2): pids and memory limits, kill-all, stop,
//! shared pid namespaces, a frozen container, OOM, per-container stats, and no cgroup
//! directory left behind. Every scenario ends with the daemon back at its baseline, which
//! counts the container cgroups under its parents.

mod common;

use std::path::{Path, PathBuf};
use std::time::Instant;

use common::rootfs::{busybox_bundle, read_config, write_config};
use common::{create, start_attached, TestDaemon};
use ringmon::api::client::Client;
use serde_json::{json, Value};

fn inspect(c: &mut Client, id: &str) -> Value {
    c.call("inspect", json!({ "id": id })).expect("inspect")
}

/// The container's cgroup directories, as `inspect` lists them.
fn cgroup_dirs(info: &Value) -> Vec<PathBuf> {
    info["cgroup_paths"]
        .as_array()
        .expect("cgroup_paths")
        .iter()
        .map(|p| PathBuf::from(p.as_str().expect("path")))
        .collect()
}

/// The container's cgroup2 directory, else its first v1 one.
fn member_dir(info: &Value) -> PathBuf {
    let paths = cgroup_dirs(info);
    paths
        .iter()
        .find(|p| p.starts_with("/sys/fs/cgroup/unified"))
        .or(paths.first())
        .cloned()
        .expect("the container has a cgroup")
}

fn members(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect()
}

/// Whether `pid` still runs (a zombie has died: it only waits for its parent to reap it)
/// in a cgroup whose path contains `id`.
fn alive_in(pid: i32, id: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat
        .rsplit_once(") ")
        .is_some_and(|(_, r)| r.starts_with('Z'));
    !zombie && std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|t| t.contains(id))
}

/// Waits until `pid` has exited (its pidfd turns readable), or `secs` pass; true if it
/// exited. A process that is already gone counts as exited.
fn exited_within(pid: i32, secs: i32) -> bool {
    let Some(p) = rustix::process::Pid::from_raw(pid) else {
        return true;
    };
    let Ok(fd) = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) else {
        return true;
    };
    let mut fds = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    let timeout = rustix::event::Timespec {
        tv_sec: secs.into(),
        tv_nsec: 0,
    };
    rustix::event::poll(&mut fds, Some(&timeout)).is_ok_and(|n| n == 1)
}

/// Every pid in `pids` has exited (SIGKILL was sent; they may still be finishing).
fn all_exited(pids: &[i32]) -> bool {
    pids.iter().all(|p| exited_within(*p, 10))
}

/// Attaches to a created container, starts it, and follows its output until `needle`
/// shows up (attach streams only what comes after it, so it goes first).
fn start_until(c: &mut Client, id: &str, needle: &str) {
    use base64::Engine;
    let attach = c.send("attach", json!({ "id": id })).expect("attach");
    let start = c.send("start", json!({ "id": id })).expect("start");
    let mut seen = Vec::new();
    loop {
        let m = c.next_message().expect("next");
        if m.id == Some(start) {
            ringmon::api::client::into_result(m).expect("start");
            continue;
        }
        assert_eq!(m.id, Some(attach), "unexpected message {m:?}");
        assert!(
            m.event.is_some(),
            "container ended before {needle:?}: {m:?}"
        );
        let d = m.rest["data"].as_str().expect("data");
        seen.extend(
            base64::engine::general_purpose::STANDARD
                .decode(d)
                .expect("b64"),
        );
        if String::from_utf8_lossy(&seen).contains(needle) {
            return;
        }
    }
}

/// A bundle directory whose config.json is `bundle`'s with `edit` applied.
fn variant(bundle: &Path, name: &str, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let dir = bundle.parent().expect("parent").join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut spec = read_config(bundle);
    spec["root"]["path"] = json!(bundle.join("rootfs").display().to_string());
    edit(&mut spec);
    write_config(&dir, &spec);
    dir
}

/// A daemon (with `extra` flags), a busybox bundle, and a variant of it without a pid
/// namespace (the container shares the host's).
fn host_pid_setup(extra: &[&str]) -> (TestDaemon, PathBuf, PathBuf) {
    let d = TestDaemon::start_with(extra);
    let bundle = busybox_bundle(d.root());
    let shared = variant(&bundle, "host-pid", without_pid_ns);
    (d, bundle, shared)
}

fn without_pid_ns(spec: &mut Value) {
    spec["linux"]["namespaces"]
        .as_array_mut()
        .expect("namespaces")
        .retain(|n| n["type"] != "pid");
}

#[test]
fn a_fork_bomb_stays_at_its_pids_limit_and_rm_f_removes_it() {
    let d = TestDaemon::start();
    let bundle = busybox_bundle(d.root());
    let before = d.baseline();
    let mut c = d.client();
    let id = create(
        &mut c,
        json!({"bundle": bundle.display().to_string(),
               "args": ["sh", "-c", "f(){ f|f& }; f; exec sleep 1000"],
               "resources": {"pids": {"limit": 64}}}),
    );
    // ash says "can't fork" once the limit refuses a fork: the bomb has reached it.
    start_until(&mut c, &id, "fork");
    let mut s = d.client();
    let mut most = 0;
    for _ in 0..50 {
        let st = s.call("stats", json!({ "id": id })).expect("stats");
        assert_eq!(st["pids_limit"], 64, "{st}");
        let n = st["pids"].as_u64().expect("pids");
        assert!(n <= 64, "{n} processes under pids.max 64");
        most = most.max(n);
    }
    println!("fork bomb: at most {most} processes seen under pids.max 64");
    assert!(most > 32, "the bomb never came near its limit ({most})");
    let out = d.cli().args(["rm", "-f", &id]).output().expect("rm -f");
    assert!(out.status.success(), "{out:?}");
    d.assert_back_to(&before);
}

#[test]
fn stop_time_1_kills_300_processes_that_ignore_sigterm_with_or_without_a_pid_namespace() {
    let (d, bundle, shared) = host_pid_setup(&[]);
    let before = d.baseline();
    let script = "for i in $(seq 150); do sleep 1000 & done; trap '' TERM; \
                  for i in $(seq 150); do sleep 1000 & done; echo ready; wait";
    for b in [&bundle, &shared] {
        let mut c = d.client();
        let id = create(
            &mut c,
            json!({"bundle": b.display().to_string(), "args": ["sh", "-c", script]}),
        );
        start_until(&mut c, &id, "ready");
        let dir = member_dir(&inspect(&mut c, &id));
        let pids = members(&dir);
        assert_eq!(pids.len(), 301, "sh and 300 sleeps");
        let t = Instant::now();
        let out = d
            .cli()
            .args(["stop", "--time", "1", &id])
            .output()
            .expect("stop");
        let took = t.elapsed();
        assert!(out.status.success(), "{out:?}");
        println!("stop --time 1 of 301 processes ({}): {took:?}", b.display());
        let info = inspect(&mut c, &id);
        assert_eq!(info["status"], "stopped", "{info}");
        assert_eq!(
            info["exit"]["exit_code"], 137,
            "SIGKILL after the grace period"
        );
        assert!(all_exited(&pids), "survivors of stop");
        c.call("delete", json!({ "id": id })).expect("delete");
    }
    d.assert_back_to(&before);
}

#[test]
fn rm_f_of_a_pid_namespace_joiner_kills_only_its_processes_and_of_the_owner_everything() {
    let d = TestDaemon::start();
    let bundle = busybox_bundle(d.root());
    let before = d.baseline();
    let mut c = d.client();
    let owner = create(
        &mut c,
        json!({"bundle": bundle.display().to_string(), "args": ["sleep", "1000"]}),
    );
    c.call("start", json!({ "id": owner }))
        .expect("start owner");
    let owner_pid = inspect(&mut c, &owner)["pid"].as_i64().expect("pid");
    let joiner = variant(&bundle, "joiner", |s| {
        for ns in s["linux"]["namespaces"].as_array_mut().expect("ns") {
            if ns["type"] == "pid" {
                ns["path"] = json!(format!("/proc/{owner_pid}/ns/pid"));
            }
        }
    });
    let join = |c: &mut Client| {
        let id = create(
            c,
            json!({"bundle": joiner.display().to_string(),
                   "args": ["sh", "-c", "sleep 1000 & sleep 1000 & echo up; wait"]}),
        );
        start_until(c, &id, "up");
        id
    };
    let j1 = join(&mut c);
    let j1_pids = members(&member_dir(&inspect(&mut c, &j1)));
    assert_eq!(j1_pids.len(), 3, "the joiner's sh and two sleeps");
    let out = d
        .cli()
        .args(["rm", "-f", &j1])
        .output()
        .expect("rm -f joiner");
    assert!(out.status.success(), "{out:?}");
    assert!(all_exited(&j1_pids), "joiner gone");
    let o = inspect(&mut c, &owner);
    assert_eq!(o["status"], "running", "the owner survives its joiner: {o}");
    assert!(alive_in(owner_pid as i32, &owner));

    let j2 = join(&mut c);
    let out = d
        .cli()
        .args(["rm", "-f", &owner])
        .output()
        .expect("rm -f owner");
    assert!(out.status.success(), "{out:?}");
    // The owner's PID 1 took its whole namespace with it, the joiner included.
    let exit = c.call("wait", json!({ "id": j2 })).expect("wait joiner");
    assert_eq!(exit["exit_code"], 137, "{exit}");
    c.call("delete", json!({ "id": j2 }))
        .expect("delete joiner");
    d.assert_back_to(&before);
}

/// The v1 freezer, where a frozen task ignores SIGKILL until it is thawed.
const FREEZER: &str = "/sys/fs/cgroup/freezer";

/// Whether the host has a v1 freezer to keep processes stuck; says so loudly if not.
fn has_freezer() -> bool {
    let here = Path::new(FREEZER).join("freezer.state").exists()
        || Path::new(FREEZER).join("cgroup.procs").exists();
    if !here {
        eprintln!("SKIPPED: no cgroup v1 freezer at {FREEZER} to keep processes stuck");
    }
    here
}

/// Freezes `pids` in a freezer cgroup of the test's own (not ringmon's), named after
/// `name`, and returns its directory once they are FROZEN.
fn freeze(name: &str, pids: &[i32]) -> PathBuf {
    let ice = Path::new(FREEZER).join(format!("ringmon-test-{name}-{}", std::process::id()));
    std::fs::create_dir(&ice).expect("mkdir freezer cgroup");
    for p in pids {
        std::fs::write(ice.join("cgroup.procs"), p.to_string()).expect("move into freezer");
    }
    std::fs::write(ice.join("freezer.state"), "FROZEN").expect("freeze");
    // FREEZING becomes FROZEN once every task has stopped; the kernel reports no event.
    while std::fs::read_to_string(ice.join("freezer.state"))
        .expect("state")
        .trim()
        != "FROZEN"
    {
        std::thread::yield_now();
    }
    ice
}

#[test]
fn rm_f_of_a_frozen_container_names_the_survivors_at_its_deadline_and_a_retry_succeeds() {
    if !has_freezer() {
        return;
    }
    let d = TestDaemon::start_with(&["--kill-timeout", "2"]);
    let bundle = busybox_bundle(d.root());
    let before = d.baseline();
    let mut c = d.client();
    let id = create(
        &mut c,
        json!({"bundle": bundle.display().to_string(),
               "args": ["sh", "-c", "sleep 1000 & sleep 1000 & echo up; wait"]}),
    );
    start_until(&mut c, &id, "up");
    let pids = members(&member_dir(&inspect(&mut c, &id)));
    assert_eq!(pids.len(), 3);
    let ice = freeze("ice", &pids);
    let t = Instant::now();
    let err = c
        .call("delete", json!({"id": id, "force": true}))
        .expect_err("frozen processes survive SIGKILL");
    println!(
        "rm -f of a frozen container answered after {:?}: {err}",
        t.elapsed()
    );
    let msg = err.to_string();
    assert!(msg.contains("survived SIGKILL"), "{msg}");
    for p in &pids {
        assert!(msg.contains(&p.to_string()), "{msg} names {p}");
    }
    let info = inspect(&mut c, &id);
    assert!(
        info["kill_error"]
            .as_str()
            .is_some_and(|e| e.contains("survived")),
        "{info}"
    );
    // Thaw: the pending SIGKILL lands, the container stops, and a retry removes it.
    std::fs::write(ice.join("freezer.state"), "THAWED").expect("thaw");
    let exit = c.call("wait", json!({ "id": id })).expect("wait");
    assert_eq!(exit["exit_code"], 137, "{exit}");
    let out = d
        .cli()
        .args(["rm", "-f", &id])
        .output()
        .expect("retry rm -f");
    assert!(out.status.success(), "{out:?}");
    std::fs::remove_dir(&ice).expect("rmdir freezer cgroup");
    d.assert_back_to(&before);
}

#[test]
fn a_container_past_its_memory_limit_is_oom_killed_and_wait_says_so() {
    let d = TestDaemon::start();
    let bundle = busybox_bundle(d.root());
    let before = d.baseline();
    let mut c = d.client();
    let dd = "dd if=/dev/zero of=/dev/null bs=64M count=1";
    // The init itself, then a child of the init (the init survives and exits 3).
    for (args, code) in [
        (json!(["sh", "-c", format!("exec {dd}")]), 137),
        (json!(["sh", "-c", format!("{dd}; exit 3")]), 3),
    ] {
        let id = create(
            &mut c,
            json!({"bundle": bundle.display().to_string(), "args": args,
                   "resources": {"memory": {"limit": 16 << 20, "swap": 16 << 20}}}),
        );
        let (exit, _) = start_attached(&mut c, &id);
        assert_eq!(exit, code);
        let w = c.call("wait", json!({ "id": id })).expect("wait");
        assert_eq!(w["oom_killed"], true, "{w}");
        assert_eq!(inspect(&mut c, &id)["oom_killed"], true);
        let st = c.call("stats", json!({ "id": id })).expect("stats");
        assert!(st["oom_kills"].as_u64().expect("oom_kills") >= 1, "{st}");
        assert_eq!(st["memory_limit_bytes"], 16 << 20, "{st}");
        c.call("delete", json!({ "id": id })).expect("delete");
    }
    // Without a limit nothing is OOM-killed.
    let id = create(
        &mut c,
        json!({"bundle": bundle.display().to_string(), "args": ["true"]}),
    );
    start_attached(&mut c, &id);
    assert_eq!(
        c.call("wait", json!({ "id": id })).expect("wait")["oom_killed"],
        false
    );
    c.call("delete", json!({ "id": id })).expect("delete");
    d.assert_back_to(&before);
}

#[test]
fn a_thousand_containers_with_limits_leave_no_cgroup_directory_anywhere() {
    let d = TestDaemon::start();
    let before = d.baseline();
    assert_eq!(before.cgroups, 0);
    let parents = d.cgroup_parents();
    assert!(!parents.is_empty(), "this host has cgroups");
    let mut c = d.client();
    let limits = json!({"memory": {"limit": 64 << 20, "reservation": 32 << 20},
                        "pids": {"limit": 100},
                        "cpu": {"shares": 512, "quota": 50000, "period": 100000}});
    for i in 0..1000 {
        let mut p = json!({"args": ["true"], "resources": limits});
        if i % 2 == 0 {
            p["tty"] = json!(true);
        }
        let id = create(&mut c, p);
        let (exit, _) = start_attached(&mut c, &id);
        assert_eq!(exit, 0);
        c.call("delete", json!({ "id": id })).expect("delete");
    }
    d.assert_back_to(&before);
    d.stop();
    for p in parents {
        assert!(!p.exists(), "{} left behind", p.display());
    }
}

#[test]
fn kill_all_reaches_every_process_and_stats_report_the_cgroup() {
    let (d, _, shared) = host_pid_setup(&[]);
    let before = d.baseline();
    let mut c = d.client();
    let id = create(
        &mut c,
        json!({"bundle": shared.display().to_string(),
               "args": ["sh", "-c", "sleep 1000 & sleep 1000 & echo up; wait"],
               "resources": {"memory": {"limit": 256 << 20}, "pids": {"limit": 50}}}),
    );
    start_until(&mut c, &id, "up");
    let out = d.cli().args(["stats", &id]).output().expect("stats");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("256.0MiB") && text.contains("3/50"),
        "{text}"
    );
    let st = c.call("stats", json!({ "id": id })).expect("stats");
    assert!(
        st["cpu_ns"].as_u64().is_some() && st["memory_bytes"].as_u64().is_some(),
        "{st}"
    );
    let pids = members(&member_dir(&inspect(&mut c, &id)));
    let out = d
        .cli()
        .args(["kill", "--all", "-s", "KILL", &id])
        .output()
        .expect("kill --all");
    assert!(out.status.success(), "{out:?}");
    let exit = c.call("wait", json!({ "id": id })).expect("wait");
    assert_eq!(exit["exit_code"], 137);
    assert!(
        pids.iter().all(|p| !alive_in(*p, &id)),
        "kill --all left {pids:?}"
    );
    c.call("delete", json!({ "id": id })).expect("delete");
    d.assert_back_to(&before);
}

#[test]
fn a_v1_only_daemon_kills_through_the_freezer_and_v2_only_refuses_v1_limits() {
    let (d, _, shared) = host_pid_setup(&["--cgroups", "v1"]);
    let before = d.baseline();
    let mut c = d.client();
    let stats = c.call("stats", json!({})).expect("stats");
    assert_eq!(stats["cgroup_layout"], "v1");
    let id = create(
        &mut c,
        json!({"bundle": shared.display().to_string(),
               "args": ["sh", "-c", "trap '' TERM; sleep 1000 & sleep 1000 & echo up; wait"]}),
    );
    let info = inspect(&mut c, &id);
    assert!(
        info["cgroup_paths"]
            .as_array()
            .expect("paths")
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.starts_with(FREEZER))),
        "{info}"
    );
    start_until(&mut c, &id, "up");
    let pids = members(&member_dir(&inspect(&mut c, &id)));
    c.call("stop", json!({"id": id, "timeout": 0.2}))
        .expect("stop");
    assert!(
        pids.iter().all(|p| !alive_in(*p, &id)),
        "stop left {pids:?}"
    );
    c.call("delete", json!({ "id": id })).expect("delete");
    d.assert_back_to(&before);
    drop(c);
    d.stop();

    // With only the controller-less cgroup2 of this host, limits are refused by name, while
    // kill-all still works through cgroup.kill.
    let d = TestDaemon::start_with(&["--cgroups", "v2"]);
    let mut c = d.client();
    let err = c
        .call(
            "create",
            json!({"args": ["true"], "resources": {"memory": {"limit": 1 << 24}}}),
        )
        .expect_err("no memory controller in cgroup2 here");
    assert!(err.to_string().contains("linux.resources.memory"), "{err}");
    let (code, _, id) = common::run_api(&mut c, json!({"args": ["true"]}));
    assert_eq!(code, 0);
    c.call("delete", json!({ "id": id })).expect("delete");
}

#[test]
fn without_cgroups_a_shared_pid_namespace_is_refused_unless_accepted_explicitly() {
    let (d, _, shared) = host_pid_setup(&["--cgroups", "off"]);
    let before = d.baseline();
    let mut c = d.client();
    let p = json!({"bundle": shared.display().to_string(), "args": ["true"]});
    let err = c.call("create", p.clone()).expect_err("refused");
    let msg = err.to_string();
    assert!(
        msg.contains("shares a pid namespace") && msg.contains("allow_partial_kill"),
        "{msg}"
    );
    let mut accepted = p;
    accepted["allow_partial_kill"] = json!(true);
    let res = c.call("create", accepted).expect("accepted");
    assert!(
        res["warning"]
            .as_str()
            .is_some_and(|w| w.contains("only its init")),
        "{res}"
    );
    let id = res["id"].as_str().expect("id").to_string();
    let (code, _) = start_attached(&mut c, &id);
    assert_eq!(code, 0);
    c.call("delete", json!({ "id": id })).expect("delete");
    // Limits cannot be enforced without cgroups: refused, naming why.
    let err = c
        .call(
            "create",
            json!({"args": ["true"], "resources": {"pids": {"limit": 10}}}),
        )
        .expect_err("limits refused");
    assert!(err.to_string().contains("--cgroups off"), "{err}");
    d.assert_back_to(&before);
}

#[test]
fn run_flags_set_limits_and_a_cgroup_namespace_is_rooted_at_the_container() {
    let d = TestDaemon::start();
    let bundle = busybox_bundle(d.root());
    let cgns = variant(&bundle, "cgns", |s| {
        s["linux"]["namespaces"]
            .as_array_mut()
            .expect("ns")
            .push(json!({"type": "cgroup"}));
    });
    let before = d.baseline();
    let out = d
        .cli()
        .args([
            "run",
            "-d",
            "--name",
            "lim",
            "-m",
            "32m",
            "--pids-limit",
            "20",
        ])
        .args([
            "--cpus",
            "0.5",
            "--stop-signal",
            "KILL",
            "--",
            "sleep",
            "100",
        ])
        .output()
        .expect("run -d");
    assert!(out.status.success(), "{out:?}");
    let mut c = d.client();
    let st = c.call("stats", json!({"id": "lim"})).expect("stats");
    assert_eq!(st["memory_limit_bytes"], 32 << 20, "{st}");
    assert_eq!(st["pids_limit"], 20, "{st}");
    let info = inspect(&mut c, "lim");
    let cpu = info["cgroup_paths"]
        .as_array()
        .expect("paths")
        .iter()
        .filter_map(|p| p.as_str())
        .find(|p| p.starts_with("/sys/fs/cgroup/cpu/") || p.contains("cpu,cpuacct"))
        .map(PathBuf::from);
    if let Some(cpu) = cpu {
        let quota = std::fs::read_to_string(cpu.join("cpu.cfs_quota_us")).expect("quota");
        assert_eq!(quota.trim(), "50000");
    }
    // --stop-signal KILL: stop needs no grace period even though PID 1 ignores TERM.
    let exit = c
        .call("stop", json!({"id": "lim", "timeout": 60}))
        .expect("stop");
    assert_eq!(exit["signal"], 9, "{exit}");
    c.call("delete", json!({"id": "lim"})).expect("delete");

    let (code, out, id) = common::run_api(
        &mut c,
        json!({"bundle": cgns.display().to_string(), "args": ["cat", "/proc/self/cgroup"]}),
    );
    let out = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(code, 0, "{out}");
    for line in out
        .lines()
        .filter(|l| l.contains("memory") || l.starts_with("0::"))
    {
        assert!(
            line.ends_with(":/"),
            "the namespace's root is the container's cgroup: {out}"
        );
    }
    c.call("delete", json!({ "id": id })).expect("delete");
    d.assert_back_to(&before);
}

#[test]
fn the_exit_of_an_init_sharing_a_pid_namespace_kills_the_rest_of_its_container() {
    let (d, _, shared) = host_pid_setup(&[]);
    let before = d.baseline();
    let mut c = d.client();
    // The init honours SIGTERM and leaves a child behind: as the kernel does for a pid
    // namespace's init, its exit ends the rest (here through the cgroup).
    let id = create(
        &mut c,
        json!({"bundle": shared.display().to_string(),
               "args": ["sh", "-c", "sleep 1000 >/dev/null 2>&1 & echo $!; exec sleep 1000"]}),
    );
    let attach = c.send("attach", json!({ "id": id })).expect("attach");
    c.call("start", json!({ "id": id })).expect("start");
    let m = c.next_message().expect("output");
    assert_eq!(m.id, Some(attach));
    use base64::Engine;
    let out = base64::engine::general_purpose::STANDARD
        .decode(m.rest["data"].as_str().expect("data"))
        .expect("b64");
    let orphan: i32 = String::from_utf8_lossy(&out).trim().parse().expect("pid");
    assert!(alive_in(orphan, &id));
    let exit = c
        .call("stop", json!({"id": id, "timeout": 30}))
        .expect("stop");
    assert_eq!(exit["signal"], 15, "the init honoured SIGTERM: {exit}");
    assert!(
        exited_within(orphan, 10),
        "the init's exit killed its child"
    );
    c.call("delete", json!({ "id": id })).expect("delete");
    d.assert_back_to(&before);
}

#[test]
fn an_absolute_cgroup_parent_and_cgroups_path_levels_are_made_and_removed() {
    let parent = format!("/ringmon-test-abs-{}", std::process::id());
    let d = TestDaemon::start_with(&["--cgroup-parent", &parent]);
    let bundle = busybox_bundle(d.root());
    let pod = variant(&bundle, "pod", |s| {
        s["linux"]["cgroupsPath"] = json!("pod-a/ctr-1");
    });
    let parents = d.cgroup_parents();
    assert!(
        parents
            .iter()
            .all(|p| p.display().to_string().ends_with(&parent) && !p.starts_with(&parent)),
        "under each hierarchy's root: {parents:?}"
    );
    let before = d.baseline();
    let mut c = d.client();
    let (code, _, id) = common::run_api(
        &mut c,
        json!({"bundle": pod.display().to_string(), "args": ["true"]}),
    );
    assert_eq!(code, 0);
    let paths = inspect(&mut c, &id)["cgroup_paths"].clone();
    let paths: Vec<PathBuf> = paths
        .as_array()
        .expect("paths")
        .iter()
        .map(|p| PathBuf::from(p.as_str().expect("path")))
        .collect();
    assert!(
        paths.iter().all(|p| p.ends_with("pod-a/ctr-1")),
        "{paths:?}"
    );
    c.call("delete", json!({ "id": id })).expect("delete");
    for p in &paths {
        let level = p.parent().expect("pod level");
        assert!(!level.exists(), "{} left behind", level.display());
    }
    d.assert_back_to(&before);
    drop(c);
    d.stop();
}

/// A container that made cgroups of its own below its cgroup (a nested runtime or an init
/// system with a writable cgroup mount does; here the test makes them from the host, the
/// same for the daemon) is removed with them: `rm -f` removes the whole subtree, deepest
/// first, and kills what runs in it.
#[test]
fn rm_f_removes_the_cgroups_a_container_made_below_its_own() {
    let d = TestDaemon::start();
    let before = d.baseline();
    let mut c = d.client();
    let id = create(
        &mut c,
        json!({"args": ["sh", "-c", "sleep 1000 & echo up; wait"]}),
    );
    start_until(&mut c, &id, "up");
    let info = inspect(&mut c, &id);
    let dirs = cgroup_dirs(&info);
    assert!(!dirs.is_empty(), "the container has a cgroup");
    let sleeper = members(&dirs[0])
        .into_iter()
        .find(|&p| p != info["pid"].as_i64().expect("pid") as i32)
        .expect("the sleep's pid");
    for dir in &dirs {
        for sub in ["a/b/c", "a/d", "e"] {
            std::fs::create_dir_all(dir.join(sub)).expect("mkdir a sub-cgroup");
        }
        // A task in the deepest one: its rmdir is EBUSY until the task is gone.
        std::fs::write(dir.join("a/b/c/cgroup.procs"), sleeper.to_string())
            .expect("move the sleep into a sub-cgroup");
    }
    c.call("delete", json!({ "id": id, "force": true }))
        .expect("rm -f removes the sub-cgroups too");
    for dir in &dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    assert!(!alive_in(sleeper, &id), "the sleep in a/b/c survived");
    d.assert_back_to(&before);
}

/// An auto-remove container whose removal fails (a process of it frozen, so SIGKILL does
/// not end it) answers its `wait` with the exit report and the removal error, and is kept;
/// once the process can die, the removal goes on.
#[test]
fn a_failed_auto_remove_answers_wait_with_the_removal_error() {
    if !has_freezer() {
        return;
    }
    // No pid namespace: in one, the init's exit would wait for the frozen process.
    let (d, _, shared) = host_pid_setup(&["--kill-timeout", "1", "--drain-timeout", "0.2"]);
    let before = d.baseline();
    let mut c = d.client();
    let id = create(
        &mut c,
        json!({"bundle": shared.display().to_string(), "auto_remove": true,
               "args": ["sh", "-c", "sleep 1000 & echo up; wait"]}),
    );
    start_until(&mut c, &id, "up");
    let info = inspect(&mut c, &id);
    let init = info["pid"].as_i64().expect("pid") as i32;
    let sleeper = members(&member_dir(&info))
        .into_iter()
        .find(|&p| p != init)
        .expect("the sleep's pid");
    let ice = freeze("ice-rm", &[sleeper]);
    let wait = c.send("wait", json!({ "id": id })).expect("wait");
    c.call("kill", json!({"id": id, "signal": "KILL"}))
        .expect("kill the init");
    let exit = loop {
        let m = c.next_message().expect("next");
        if m.id == Some(wait) {
            break ringmon::api::client::into_result(m).expect("the exit report");
        }
    };
    assert_eq!(exit["exit_code"], 137, "{exit}");
    let err = exit["removal_error"].as_str().unwrap_or_default();
    assert!(err.contains("survived SIGKILL"), "{exit}");
    assert!(
        inspect(&mut c, &id)["kill_error"].is_string(),
        "the container is kept"
    );
    std::fs::write(ice.join("freezer.state"), "THAWED").expect("thaw");
    // The removal goes on by itself; an `rm -f` answers once it is gone either way.
    match c.call("delete", json!({"id": id, "force": true})) {
        Ok(_) => {}
        Err(e) => assert!(e.to_string().contains("no such container"), "{e}"),
    }
    std::fs::remove_dir(&ice).expect("rmdir freezer cgroup");
    d.assert_back_to(&before);
}
