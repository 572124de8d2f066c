//! Warm inits (docs/design/0010, 0014): a create takes an init forked ahead of it by the
//! zygote, the pool is refilled, a create that finds it empty waits for the zygote's fork, a killed zygote is replaced, an init killed from outside or made stale by a host mount is never handed
//! out, other namespaces clone their own, and the daemon's state is as before after each
//! scenario (the pool's size is constant).

mod common;

use std::os::fd::AsFd;

use common::rootfs::busybox_bundle;
use common::{run_api, TestDaemon};
use serde_json::{json, Value};

/// A host mount makes every daemon's pool stale: the test that mounts runs alone, the
/// others (which count what their creates took) beside each other.
static HOST_MOUNTS: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    HOST_MOUNTS.read().unwrap_or_else(|e| e.into_inner())
}

fn warm(d: &TestDaemon) -> Value {
    d.client().call("stats", json!({})).expect("stats")["warm_inits"].clone()
}

/// The pool's counters named by `keys` (u64::MAX for one that is missing).
fn counters<const N: usize>(w: &Value, keys: [&str; N]) -> [u64; N] {
    keys.map(|k| w[k].as_u64().unwrap_or(u64::MAX))
}

fn warm_pids(d: &TestDaemon) -> Vec<i64> {
    warm(d)["pids"]
        .as_array()
        .expect("pids")
        .iter()
        .map(|p| p.as_i64().expect("pid"))
        .collect()
}

/// A pidfd for `pid`, opened while it is known to be alive (our daemon's child).
fn pidfd(pid: i64) -> std::os::fd::OwnedFd {
    let p = rustix::process::Pid::from_raw(pid as i32).expect("pid");
    rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).expect("pidfd_open")
}

/// Waits (an event, not a poll loop) until the process behind `fd` has exited.
fn wait_exited(fd: &std::os::fd::OwnedFd) {
    use rustix::event::{poll, PollFd, PollFlags};
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    poll(&mut fds, None).expect("poll pidfd");
}

/// SIGKILL to our daemon's child `pid` through a pidfd, and wait until it has exited.
fn kill_and_wait(pid: i64) {
    let fd = pidfd(pid);
    rustix::process::pidfd_send_signal(fd.as_fd(), rustix::process::Signal::KILL).expect("kill");
    wait_exited(&fd);
}

fn delete(c: &mut ringmon::api::client::Client, id: &str) {
    c.call("delete", json!({ "id": id })).expect("delete");
}

#[test]
fn a_create_takes_the_warm_init_and_its_replacement_is_cloned() {
    let _g = shared();
    let d = TestDaemon::start();
    let before = d.baseline();
    let w = warm(&d);
    assert_eq!(w["wanted"], 1, "{w}");
    assert_eq!(
        w["namespaces"],
        json!(["pid", "ipc", "uts", "mount"]),
        "{w}"
    );
    let first = warm_pids(&d);
    assert_eq!(first.len(), 1, "{w}");
    let mut c = d.client();
    let res = c
        .call("create", json!({"args": ["echo", "warm"], "tty": true}))
        .expect("create");
    let id = res["id"].as_str().expect("id").to_string();
    assert_eq!(
        res["pid"].as_i64(),
        Some(first[0]),
        "the container's init is the warm one"
    );
    let (code, out) = common::start_attached(&mut c, &id);
    assert_eq!((code, out.as_slice()), (0, b"warm\r\n".as_slice()));
    delete(&mut c, &id);
    let w = warm(&d);
    let now = warm_pids(&d);
    assert_eq!(now.len(), 1, "{w}");
    assert_ne!(now, first, "a new warm init replaced the one taken");
    assert_eq!(counters(&w, ["taken", "cloned"]), [1, 0], "{w}");
    d.assert_back_to(&before);
}

/// A forked init's dispositions come from the zygote (reset once there) and its mask is
/// the daemon's until the init unblocks it: the command sees neither.
#[test]
fn a_forked_inits_command_starts_with_no_signal_blocked_or_ignored() {
    let _g = shared();
    let d = TestDaemon::start();
    let before = d.baseline();
    let mut c = d.client();
    let (code, out, id) = run_api(
        &mut c,
        json!({"args": ["grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status"]}),
    );
    let out = String::from_utf8_lossy(&out).to_string();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("SigBlk:\t0000000000000000"), "{out}");
    assert!(out.contains("SigIgn:\t0000000000000000"), "{out}");
    delete(&mut c, &id);
    let w = warm(&d);
    assert_eq!(counters(&w, ["taken", "cloned"]), [1, 0], "{w}");
    assert!(w["zygote"].as_i64().is_some(), "a zygote forked it: {w}");
    d.assert_back_to(&before);
}

#[test]
fn a_warm_init_killed_from_outside_is_not_handed_out() {
    let _g = shared();
    let d = TestDaemon::start();
    let before = d.baseline();
    let pid = warm_pids(&d)[0];
    kill_and_wait(pid);
    let mut c = d.client();
    let (code, out, id) = run_api(&mut c, json!({"args": ["echo", "cold"]}));
    assert_eq!((code, out.as_slice()), (0, b"cold\n".as_slice()));
    delete(&mut c, &id);
    let w = warm(&d);
    assert_eq!(counters(&w, ["died", "cloned"]), [1, 1], "{w}");
    assert!(!warm_pids(&d).contains(&pid), "{w}");
    d.assert_back_to(&before);
}

/// The parent of `pid`, from /proc/PID/stat (the field after the parenthesised name).
fn ppid(pid: i64) -> i64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = &stat[stat.rfind(')').expect("comm") + 2..];
    after
        .split(' ')
        .nth(1)
        .expect("ppid")
        .parse()
        .expect("number")
}

#[test]
fn the_zygote_forks_warm_inits_as_the_daemons_children_and_is_replaced_when_killed() {
    let _g = shared();
    let d = TestDaemon::start_with(&["--warm-inits", "2"]);
    let before = d.baseline();
    let w = warm(&d);
    let zygote = w["zygote"].as_i64().expect("a zygote runs");
    let pool = warm_pids(&d);
    assert_eq!(pool.len(), 2, "{w}");
    // CLONE_PARENT: the daemon reaps them through its own pidfds.
    assert_eq!(ppid(zygote), i64::from(d.pid));
    for pid in &pool {
        assert_eq!(ppid(*pid), i64::from(d.pid), "warm init {pid}");
    }
    kill_and_wait(zygote);
    // The inits it forked serve on; the refill after each take starts another zygote.
    let mut c = d.client();
    for word in ["one", "two", "three"] {
        let (code, out, id) = run_api(&mut c, json!({"args": ["echo", word]}));
        assert_eq!((code, out), (0, format!("{word}\n").into_bytes()));
        delete(&mut c, &id);
    }
    let w = warm(&d);
    assert_eq!(counters(&w, ["taken", "cloned"]), [3, 0], "{w}");
    let now = w["zygote"].as_i64().expect("another zygote runs");
    assert_ne!(now, zygote, "{w}");
    assert_eq!(ppid(now), i64::from(d.pid));
    d.assert_back_to(&before);
}

/// A signal to our daemon's child `pid` (the zygote), through a pidfd.
fn signal(pid: i64, sig: rustix::process::Signal) {
    let fd = pidfd(pid);
    rustix::process::pidfd_send_signal(fd.as_fd(), sig).expect("pidfd_send_signal");
}

/// Runs `id` attached and checks it echoed `word`.
fn echoed(c: &mut ringmon::api::client::Client, id: &str, word: &str) {
    let (code, out) = common::start_attached(c, id);
    assert_eq!((code, out), (0, format!("{word}\n").into_bytes()));
    delete(c, id);
}

fn id_of(res: Value) -> String {
    res["id"].as_str().expect("id").to_string()
}

/// Stops the zygote (it forks nothing until SIGCONT: the signal is pending before the
/// creates are sent), sends two pipelined creates of `echo WORD`, and runs the first (it
/// takes the pool's init). Returns the request id of the second, which finds the pool
/// empty.
fn two_creates_with_the_zygote_stopped(
    c: &mut ringmon::api::client::Client,
    zygote: i64,
    words: [&str; 2],
) -> u64 {
    signal(zygote, rustix::process::Signal::STOP);
    let [first, second] = words.map(|w| {
        c.send("create", json!({"args": ["echo", w]}))
            .expect("send")
    });
    let first = id_of(c.wait_reply(first).expect("create"));
    echoed(c, &first, words[0]);
    second
}

/// The pool's counters are `want` (taken, waited, cloned), and one init waits again.
fn assert_taken_waited_cloned(d: &TestDaemon, want: [u64; 3]) -> Value {
    let w = warm(d);
    assert_eq!(counters(&w, ["taken", "waited", "cloned"]), want, "{w}");
    assert_eq!(w["pids"].as_array().map(Vec::len), Some(1), "{w}");
    w
}

#[test]
fn a_create_that_finds_the_pool_empty_waits_for_the_zygotes_fork_or_clones_if_it_dies() {
    let _g = shared();
    let d = TestDaemon::start();
    let before = d.baseline();
    let zygote = warm(&d)["zygote"].as_i64().expect("a zygote runs");
    let mut c = d.client();
    let b = two_creates_with_the_zygote_stopped(&mut c, zygote, ["a", "b"]);
    // b found the pool empty and waits for the zygote.
    signal(zygote, rustix::process::Signal::CONT);
    let b = id_of(c.wait_reply(b).expect("create b"));
    echoed(&mut c, &b, "b");
    assert_taken_waited_cloned(&d, [2, 1, 0]);
    // A zygote killed while a create waits for it: that create clones its own.
    let waiting = two_creates_with_the_zygote_stopped(&mut c, zygote, ["c", "d"]);
    kill_and_wait(zygote);
    let waiting = id_of(c.wait_reply(waiting).expect("create d"));
    echoed(&mut c, &waiting, "d");
    let w = assert_taken_waited_cloned(&d, [3, 2, 1]);
    assert_ne!(w["zygote"].as_i64(), Some(zygote), "{w}");
    d.assert_back_to(&before);
}

/// The host's root is private here: a warm init's copy of the mount table would not see a
/// mount made after its clone, so the container would get the directory under it.
#[test]
fn a_host_mount_made_after_the_warm_clone_is_seen_by_the_container() {
    let _g = HOST_MOUNTS.write().unwrap_or_else(|e| e.into_inner());
    let d = TestDaemon::start();
    let before = d.baseline();
    let dir = tempfile::tempdir().expect("tempdir");
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).expect("mkdir");
    std::fs::write(mnt.join("f"), "under the mount\n").expect("write under");
    rustix::mount::mount(
        "ringmon-test",
        &mnt,
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        None,
    )
    .expect("mount tmpfs");
    std::fs::write(mnt.join("f"), "on the mount\n").expect("write on");
    let mut c = d.client();
    let run = run_api(
        &mut c,
        json!({"args": ["cat", "/mnt/f"], "volumes": [format!("{}:/mnt", mnt.display())]}),
    );
    rustix::mount::unmount(&mnt, rustix::mount::UnmountFlags::empty()).expect("umount");
    let (code, out, id) = run;
    assert_eq!(
        (code, String::from_utf8_lossy(&out).as_ref()),
        (0, "on the mount\n")
    );
    delete(&mut c, &id);
    let w = warm(&d);
    assert!(w["stale"].as_u64() >= Some(1), "{w}");
    // The umount is a change too: the next create clones its own, then the pool is warm.
    for _ in 0..2 {
        let (code, _, id) = run_api(&mut c, json!({"args": ["true"]}));
        assert_eq!(code, 0);
        delete(&mut c, &id);
    }
    let w = warm(&d);
    assert!(w["taken"].as_u64() >= Some(1), "{w}");
    d.assert_back_to(&before);
}

#[test]
fn a_container_with_other_namespaces_clones_its_own_and_the_pool_stays() {
    let _g = shared();
    let d = TestDaemon::start();
    let bundle = busybox_bundle(d.root());
    let before = d.baseline();
    let pool = warm_pids(&d);
    let mut c = d.client();
    // ringmon spec's bundle has a network namespace; the default pool has none.
    let (code, out, id) = run_api(
        &mut c,
        json!({"bundle": bundle.display().to_string(), "args": ["echo", "bundle"]}),
    );
    assert_eq!((code, out.as_slice()), (0, b"bundle\n".as_slice()));
    delete(&mut c, &id);
    let w = warm(&d);
    assert_eq!(counters(&w, ["taken", "cloned"]), [0, 1], "{w}");
    assert_eq!(warm_pids(&d), pool, "the pool was not touched");
    d.assert_back_to(&before);
}

#[test]
fn a_pool_with_a_network_namespace_serves_bundles() {
    let _g = shared();
    let d = TestDaemon::start_with(&[
        "--warm-inits",
        "2",
        "--warm-namespaces",
        "pid,ipc,uts,mount,network",
    ]);
    let bundle = busybox_bundle(d.root());
    let before = d.baseline();
    assert_eq!(warm_pids(&d).len(), 2);
    let mut c = d.client();
    for _ in 0..3 {
        let (code, out, id) = run_api(
            &mut c,
            json!({"bundle": bundle.display().to_string(), "args": ["cat", "/proc/net/dev"]}),
        );
        assert_eq!(code, 0);
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("lo:") && text.lines().count() == 3,
            "only loopback in the container's network namespace: {text}"
        );
        delete(&mut c, &id);
    }
    let w = warm(&d);
    assert_eq!(w["taken"].as_u64(), Some(3), "{w}");
    d.assert_back_to(&before);
}

#[test]
fn no_warm_inits_clones_every_init() {
    let _g = shared();
    let d = TestDaemon::start_with(&["--warm-inits", "0"]);
    let before = d.baseline();
    assert!(warm_pids(&d).is_empty());
    let mut c = d.client();
    let (code, out, id) = run_api(&mut c, json!({"args": ["echo", "cold"]}));
    assert_eq!((code, out.as_slice()), (0, b"cold\n".as_slice()));
    delete(&mut c, &id);
    assert_eq!(warm(&d)["cloned"].as_u64(), Some(1));
    d.assert_back_to(&before);
}

#[test]
fn the_daemon_ends_its_warm_inits_when_it_stops() {
    let d = TestDaemon::start_with(&["--warm-inits", "3"]);
    let fds: Vec<_> = warm_pids(&d).into_iter().map(pidfd).collect();
    assert_eq!(fds.len(), 3);
    let status = d.stop();
    assert!(status.success(), "{status}");
    for fd in &fds {
        // Readable: the process has exited (the daemon killed and reaped it).
        use rustix::event::{poll, PollFd, PollFlags};
        let mut p = [PollFd::new(fd, PollFlags::IN)];
        let n = poll(&mut p, Some(&rustix::event::Timespec::default())).expect("poll");
        assert_eq!(n, 1, "a warm init outlived the daemon");
    }
}

#[test]
fn bad_warm_flags_are_refused_with_the_flag_named() {
    for (args, want) in [
        (
            vec!["--warm-namespaces", "pid,user,mount"],
            "\"user\" is not one of",
        ),
        (vec!["--warm-namespaces", "pid,ipc"], "mount is required"),
        (vec!["--warm-inits", "17"], "17 is not in 0..=16"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = std::process::Command::new(common::BIN)
            .arg("--socket")
            .arg(dir.path().join("s.sock"))
            .args(["daemon", "--root"])
            .arg(dir.path())
            .args(&args)
            .output()
            .expect("run daemon");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(want),
            "{args:?}: {err}"
        );
    }
}

/// What a container sees of its mounts and /dev, without the ids that differ between any
/// two containers (mount ids, device numbers of anonymous file systems).
fn mount_view(c: &mut ringmon::api::client::Client, extra: Value) -> (String, String) {
    let mut req = json!({"args": ["sh", "-c", "cat /proc/self/mountinfo; echo ==; ls -la /dev /dev/pts | sed 's/ [A-Z][a-z][a-z] .* / /'"]});
    if let (Some(r), Some(e)) = (req.as_object_mut(), extra.as_object()) {
        r.extend(e.clone());
    }
    let (code, out, id) = run_api(c, req);
    delete(c, &id);
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(code, 0, "{text}");
    let (mounts, dev) = text.split_once("==\n").expect("both parts");
    // mountinfo: id parent major:minor root mountpoint options [optional...] - fstype source super
    let mut lines: Vec<String> = mounts
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|&x| x == "-").expect("separator");
            format!("{} {} {} | {}", f[3], f[4], f[5], f[sep + 1..].join(" "))
        })
        .collect();
    lines.sort();
    (lines.join("\n"), dev.to_string())
}

#[test]
fn a_root_built_ahead_is_the_root_a_cold_init_builds_and_other_jobs_build_their_own() {
    let _g = shared();
    let warm_d = TestDaemon::start();
    let cold_d = TestDaemon::start_with(&["--warm-inits", "0"]);
    let (before_w, before_c) = (warm_d.baseline(), cold_d.baseline());
    let (mut w, mut c) = (warm_d.client(), cold_d.client());
    let ahead = mount_view(&mut w, json!({}));
    let stats = warm(&warm_d);
    assert_eq!(
        (stats["taken"].as_u64(), stats["root_built_ahead"].as_u64()),
        (Some(1), Some(1)),
        "the warm init used the root it built ahead: {stats}"
    );
    let cold = mount_view(&mut c, json!({}));
    assert_eq!(ahead.0, cold.0, "the same mounts, with the same options");
    assert_eq!(ahead.1, cold.1, "the same /dev");
    // A volume makes another root: the next warm init drops the one it built and builds
    // this one, which has the volume.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("marker"), "v").expect("marker");
    let vol = json!({"volumes": [format!("{}:/mnt:ro", dir.path().display())]});
    let with_volume = mount_view(&mut w, vol.clone());
    let stats = warm(&warm_d);
    assert_eq!(
        (stats["taken"].as_u64(), stats["root_built_ahead"].as_u64()),
        (Some(2), Some(1)),
        "{stats}"
    );
    let cold_volume = mount_view(&mut c, vol);
    assert_eq!(with_volume, cold_volume);
    assert!(with_volume.0.contains(" /mnt ro,"), "{}", with_volume.0);
    warm_d.assert_back_to(&before_w);
    cold_d.assert_back_to(&before_c);
}

#[test]
fn a_warm_init_waits_in_the_cgroup_of_the_container_that_takes_it() {
    let _g = shared();
    let d = TestDaemon::start();
    let before = d.baseline();
    let w = warm(&d);
    let reserved: Vec<String> = w["cgroup_ids"]
        .as_array()
        .expect("cgroup_ids")
        .iter()
        .map(|v| v.as_str().expect("id").to_string())
        .collect();
    let parents = d.cgroup_parents();
    if parents.is_empty() {
        eprintln!("SKIP: this host has no cgroup hierarchy the daemon can use");
        return;
    }
    assert_eq!(reserved.len(), 1, "{w}");
    // Its directories (those of a container without limits: not every hierarchy's) exist
    // before any create. It joins them once it has started up; no event says when, so its
    // membership is checked through the container below.
    let made: Vec<_> = parents
        .iter()
        .filter(|p| p.join(&reserved[0]).is_dir())
        .collect();
    assert!(!made.is_empty(), "{parents:?}");
    let mut c = d.client();
    let (code, out, id) = run_api(&mut c, json!({"args": ["cat", "/proc/self/cgroup"]}));
    assert_eq!(code, 0);
    assert_eq!(
        id, reserved[0],
        "the create used the id its init was reserved for"
    );
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains(&format!("/{id}\n")), "{out}");
    delete(&mut c, &id);
    // A limit in a v1 hierarchy the warm init is not in yet: it joins that one at its job.
    let (code, out, id) = run_api(
        &mut c,
        json!({"args": ["cat", "/proc/self/cgroup"],
               "resources": {"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}}),
    );
    assert_eq!(code, 0);
    let out = String::from_utf8_lossy(&out);
    let ours = out
        .lines()
        .filter(|l| l.ends_with(&format!("/{id}")))
        .count();
    assert!(ours >= 2, "memory, pids and cgroup2 hold it: {out}");
    delete(&mut c, &id);
    let w = warm(&d);
    assert_eq!(
        counters(&w, ["taken", "cgroup_joined_ahead"]),
        [2, 2],
        "{w}"
    );
    d.assert_back_to(&before);
}

/// After a run of jobs that need nothing of the host's tree, new warm inits detach it
/// before their job (docs/design/0015): the container is the same as an unsealed init's.
/// A job that needs the host's tree (a volume) gives the sealed inits up and gets an
/// unsealed one.
#[test]
fn warm_inits_seal_their_root_after_a_run_of_default_jobs_and_a_volume_gives_them_up() {
    let _g = shared();
    let d = TestDaemon::start();
    let before = d.baseline();
    let mut c = d.client();
    let unsealed = mount_view(&mut c, json!({}));
    assert_eq!(counters(&warm(&d), ["sealed_taken"]), [0]);
    // The pool seals its inits after 8 creates in a row that a sealed init could run.
    let mut sealed = None;
    for _ in 0..12 {
        let view = mount_view(&mut c, json!({}));
        if counters(&warm(&d), ["sealed_taken"])[0] > 0 {
            sealed = Some(view);
            break;
        }
    }
    let w = warm(&d);
    let sealed = sealed.unwrap_or_else(|| panic!("no create took a sealed init: {w}"));
    assert_eq!(
        sealed.0, unsealed.0,
        "the same mounts, with the same options"
    );
    assert_eq!(sealed.1, unsealed.1, "the same /dev");
    // `warm` waited for the refill: a sealed init waits now.
    let [told, given_up] = counters(&w, ["sealed", "sealed_given_up"]);
    assert!(told >= 2 && given_up == 0, "{w}");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("marker"), "v").expect("marker");
    let vol = json!({"volumes": [format!("{}:/mnt:ro", dir.path().display())],
                     "args": ["cat", "/mnt/marker"]});
    let (code, out, id) = run_api(&mut c, vol);
    delete(&mut c, &id);
    assert_eq!((code, out.as_slice()), (0, b"v".as_slice()));
    let w = warm(&d);
    let [taken, sealed_taken, given_up, cloned] =
        counters(&w, ["taken", "sealed_taken", "sealed_given_up", "cloned"]);
    assert!(given_up >= 1, "the sealed init was given up: {w}");
    assert_eq!(
        (sealed_taken, cloned),
        (1, 0),
        "the volume's init was forked: {w}"
    );
    assert!(taken >= 3, "{w}");
    // The next inits are not sealed: a default job takes an unsealed one.
    let (code, out, id) = run_api(&mut c, json!({"args": ["echo", "after"]}));
    delete(&mut c, &id);
    assert_eq!((code, out.as_slice()), (0, b"after\n".as_slice()));
    assert_eq!(counters(&warm(&d), ["sealed_taken"]), [1]);
    d.assert_back_to(&before);
}
