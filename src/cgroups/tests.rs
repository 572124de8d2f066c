//! The cgroup manager against a fake cgroupfs in a temp dir: the v2 code paths (which this
//! hybrid host cannot exercise with controllers), v1, and hybrid. Real cgroupfs is
//! exercised by the integration tests.

use std::path::{Path, PathBuf};

use super::layout::{Hierarchy, Layout, Mode};
use super::*;

fn fake_v2(root: &Path) -> Cgroups {
    let own = root.join("daemon.slice");
    std::fs::create_dir_all(&own).expect("mkdir own");
    std::fs::write(
        root.join("cgroup.controllers"),
        "cpuset cpu io memory hugetlb pids",
    )
    .expect("controllers");
    std::fs::write(root.join("memory.swap.max"), "max").expect("swap file");
    let layout = Layout {
        mode: Mode::V2,
        unified: Some(Hierarchy {
            mount: root.to_path_buf(),
            own,
            controllers: Vec::new(),
        }),
        v2_controllers: layout::parse_controllers("cpuset cpu io memory hugetlb pids"),
        v1: Default::default(),
        favordynmods: false,
    };
    Cgroups::new(layout, "ringmon", Fs { fake: true })
}

fn fake_v1(root: &Path, hybrid: bool) -> Cgroups {
    let mut v1 = std::collections::BTreeMap::new();
    for (name, ctrls) in [
        ("memory", vec![Controller::Memory]),
        ("pids", vec![Controller::Pids]),
        ("cpu,cpuacct", vec![Controller::Cpu, Controller::Cpuacct]),
        ("cpuset", vec![Controller::Cpuset]),
        ("freezer", vec![Controller::Freezer]),
    ] {
        let own = root.join(name).join("session");
        std::fs::create_dir_all(&own).expect("mkdir");
        for f in ["cpuset.cpus", "cpuset.mems"] {
            std::fs::write(own.join(f), "0-1\n").expect("cpuset");
        }
        std::fs::write(own.join("memory.memsw.limit_in_bytes"), "0").expect("memsw");
        let h = Hierarchy {
            mount: root.join(name),
            own,
            controllers: ctrls.clone(),
        };
        for c in ctrls {
            v1.insert(c, h.clone());
        }
    }
    let unified = hybrid.then(|| {
        let d = root.join("unified");
        std::fs::create_dir_all(&d).expect("unified");
        Hierarchy {
            mount: d.clone(),
            own: d,
            controllers: Vec::new(),
        }
    });
    let layout = Layout {
        mode: if hybrid { Mode::Hybrid } else { Mode::V1 },
        unified,
        v2_controllers: Vec::new(),
        v1,
        favordynmods: false,
    };
    Cgroups::new(layout, "ringmon", Fs { fake: true })
}

fn resources(v: serde_json::Value) -> LinuxResources {
    serde_json::from_value(v).expect("resources")
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn v2_limits_are_written_in_the_unified_directory_with_controllers_enabled_above() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cg = fake_v2(tmp.path());
    let res = resources(serde_json::json!({
        "memory": {"limit": 16777216, "swap": 33554432},
        "pids": {"limit": 64},
        "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0"}
    }));
    let writes = cg.plan(Some(&res)).expect("plan");
    let mut ctr = cg.create("abc", None, &writes).expect("create");
    let dir = tmp.path().join("daemon.slice/ringmon/abc");
    assert_eq!(ctr.unified.as_deref(), Some(dir.as_path()));
    assert!(ctr.v1.is_empty());
    assert_eq!(read(dir.join("memory.max")), "16777216");
    assert_eq!(read(dir.join("memory.swap.max")), "16777216");
    assert_eq!(read(dir.join("pids.max")), "64");
    assert_eq!(read(dir.join("cpu.max")), "50000 100000");
    assert_eq!(read(dir.join("cpuset.cpus")), "0");
    // Every level above the container has the controllers it needs enabled.
    for level in ["daemon.slice", "daemon.slice/ringmon"] {
        let sc = read(tmp.path().join(level).join("cgroup.subtree_control"));
        for c in ["+memory", "+pids", "+cpu", "+cpuset"] {
            assert!(sc.contains(c), "{level}: {sc:?} lacks {c}");
        }
    }
    assert_eq!(
        ctr.procs_files(),
        vec![dir.join("cgroup.procs").display().to_string()]
    );
    // Kill-all on v2 is cgroup.kill.
    assert_eq!(ctr.route(libc::SIGKILL), kill::Route::CgroupKill);
    assert_eq!(ctr.route(libc::SIGTERM), kill::Route::Members);
    ctr.cgroup_kill().expect("kill");
    assert_eq!(read(dir.join("cgroup.kill")), "1");
    // Stats and OOM counters read the v2 files.
    std::fs::write(dir.join("memory.current"), "4096\n").expect("current");
    std::fs::write(dir.join("memory.peak"), "8192\n").expect("peak");
    std::fs::write(dir.join("pids.current"), "3\n").expect("pids");
    std::fs::write(dir.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\n").expect("cpu");
    std::fs::write(
        dir.join("memory.events"),
        "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n",
    )
    .expect("events");
    let u = ctr.usage();
    assert_eq!(u.memory_bytes, Some(4096));
    assert_eq!(u.memory_peak_bytes, Some(8192));
    assert_eq!(u.memory_limit_bytes, Some(16777216));
    assert_eq!((u.pids, u.pids_limit), (Some(3), Some(64)));
    assert_eq!(u.cpu_ns, Some(1_500_000));
    assert_eq!(u.oom_kills, 1);
    ctr.remove().expect("remove");
    assert!(!dir.exists());
    assert!(ctr.is_none());
    // Without limits, memory and pids are still enabled for stats and OOM reports.
    let mut plain = cg.create("def", None, &[]).expect("create");
    let sc = read(
        tmp.path()
            .join("daemon.slice/ringmon/cgroup.subtree_control"),
    );
    assert!(sc.contains("+memory") && sc.contains("+pids"), "{sc:?}");
    plain.remove().expect("remove");
    cg.remove_parents();
    // Without limits, memory and pids are still enabled for stats and OOM reports.
    let mut plain = cg.create("def", None, &[]).expect("create");
    for level in ["daemon.slice", "daemon.slice/ringmon"] {
        let sc = read(tmp.path().join(level).join("cgroup.subtree_control"));
        assert!(
            sc.contains("+memory") && sc.contains("+pids"),
            "{level}: {sc:?}"
        );
    }
    let sc = read(
        tmp.path()
            .join("daemon.slice/ringmon/cgroup.subtree_control"),
    );
    assert!(!sc.contains("+cpu"), "only what is needed: {sc:?}");
    plain.remove().expect("remove");
    cg.remove_parents();
    assert!(!tmp.path().join("daemon.slice/ringmon").exists());
    assert!(
        tmp.path().join("daemon.slice").exists(),
        "not ours to remove"
    );
}

#[test]
fn v2_refuses_what_it_cannot_enforce_naming_the_field() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cg = fake_v2(tmp.path());
    let err = cg
        .plan(Some(&resources(
            serde_json::json!({"memory": {"swappiness": 10}}),
        )))
        .expect_err("no swappiness on v2");
    assert!(
        err.to_string()
            .starts_with("linux.resources.memory.swappiness"),
        "{err}"
    );
    let err = cg
        .plan(Some(&resources(
            serde_json::json!({"devices": [{"allow": false, "access": "rwm"}]}),
        )))
        .expect_err("no device filter on v2");
    assert!(
        err.to_string().starts_with("linux.resources.devices"),
        "{err}"
    );
}

#[test]
fn v1_limits_go_to_each_controllers_hierarchy_and_kill_all_freezes() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cg = fake_v1(tmp.path(), false);
    let res = resources(serde_json::json!({
        "memory": {"limit": 16777216}, "pids": {"limit": 64}, "cpu": {"cpus": "1"}
    }));
    let writes = cg.plan(Some(&res)).expect("plan");
    let ctr = cg.create("abc", None, &writes).expect("create");
    let at = |h: &str| tmp.path().join(h).join("session/ringmon/abc");
    assert_eq!(read(at("memory").join("memory.limit_in_bytes")), "16777216");
    assert_eq!(read(at("pids").join("pids.max")), "64");
    assert_eq!(read(at("cpuset").join("cpuset.cpus")), "1");
    // A new v1 cpuset level inherits the parent's mems (no task could join it otherwise).
    assert_eq!(
        read(tmp.path().join("cpuset/session/ringmon/cpuset.mems")),
        "0-1"
    );
    assert!(
        at("cpu,cpuacct").exists(),
        "cpuacct is always there for stats"
    );
    assert!(
        at("freezer").exists(),
        "a v1-only host kills through the freezer"
    );
    assert_eq!(ctr.route(libc::SIGKILL), kill::Route::Freeze);
    ctr.set_frozen(true).expect("freeze");
    assert!(ctr.is_frozen());
    ctr.set_frozen(false).expect("thaw");
    assert!(!ctr.is_frozen());
    assert_eq!(ctr.procs_files().len(), 5);
    // The next container's directories are made under the parents that exist now (one
    // mkdir each), and its cpuset still gets the parent's mems.
    let _second = cg.create("second", None, &writes).expect("second create");
    assert_eq!(
        read(tmp.path().join("cpuset/session/ringmon/second/cpuset.mems")),
        "0-1"
    );
    assert_eq!(
        read(tmp.path().join("cpuset/session/ringmon/second/cpuset.cpus")),
        "1"
    );
    // A directory that exists already is not the container's own.
    assert!(cg.check_path("abc", None).is_err());
    assert!(cg.check_path("def", None).is_ok());
    assert!(cg.check_path("x", Some("/elsewhere/y")).is_ok());
    assert!(cg.create("abc", None, &[]).is_err());
}

#[test]
fn a_v1_memory_cgroup_is_made_for_a_memory_limit_or_with_v1_memory_always() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut cg = fake_v1(tmp.path(), true);
    let at = |h: &str, id: &str| tmp.path().join(h).join("session/ringmon").join(id);
    let mut plain = cg.create("plain", None, &[]).expect("create");
    assert!(
        !at("memory", "plain").exists(),
        "no limit: no memory cgroup"
    );
    assert!(
        !at("pids", "plain").exists() && !at("cpu,cpuacct", "plain").exists(),
        "hybrid: stats and kill-all come from the cgroup2 directory"
    );
    let unified = tmp.path().join("unified/ringmon/plain");
    std::fs::write(unified.join("cpu.stat"), "usage_usec 250\nuser_usec 200\n").expect("cpu");
    std::fs::write(unified.join("cgroup.threads"), "7\n8\n9\n").expect("threads");
    let u = plain.usage();
    assert_eq!(
        (u.cpu_ns, u.pids, u.pids_limit),
        (Some(250_000), Some(3), None)
    );
    assert_eq!(u.memory_bytes, None);
    // Cgroups the container made below its own count too, for stats and for kill.
    let sub = unified.join("inner/deeper");
    std::fs::create_dir_all(&sub).expect("sub");
    std::fs::write(
        unified.join("inner/cgroup.threads"),
        "10
",
    )
    .expect("threads");
    std::fs::write(
        sub.join("cgroup.threads"),
        "11
12
",
    )
    .expect("threads");
    std::fs::write(
        unified.join("cgroup.procs"),
        "7
",
    )
    .expect("procs");
    std::fs::write(
        sub.join("cgroup.procs"),
        "11
",
    )
    .expect("procs");
    assert_eq!(plain.usage().pids, Some(6));
    let mut pids = plain.pids();
    pids.sort();
    assert_eq!(pids, [7, 11]);
    std::fs::remove_dir_all(unified.join("inner")).expect("rm sub");
    // A limit of a v1 controller brings its directory back.
    let pids = cg
        .plan(Some(&resources(serde_json::json!({"pids": {"limit": 5}}))))
        .expect("plan");
    let mut limited = cg.create("pidlimit", None, &pids).expect("create");
    assert_eq!(read(at("pids", "pidlimit").join("pids.max")), "5");
    assert!(!at("cpu,cpuacct", "pidlimit").exists());
    limited.remove().expect("remove");
    plain.remove().expect("remove");
    let res = resources(serde_json::json!({"memory": {"limit": 16777216}}));
    let writes = cg.plan(Some(&res)).expect("plan");
    let mut limited = cg.create("limited", None, &writes).expect("create");
    assert_eq!(
        read(at("memory", "limited").join("memory.limit_in_bytes")),
        "16777216"
    );
    limited.remove().expect("remove");
    cg.v1_memory_always = true;
    let mut always = cg.create("always", None, &[]).expect("create");
    assert!(at("memory", "always").exists(), "--v1-memory always");
    always.remove().expect("remove");
}

#[test]
fn hybrid_uses_v1_controllers_and_the_unified_mount_for_kill_and_cleans_up_on_failure() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cg = fake_v1(tmp.path(), true);
    let ctr = cg.create("abc", None, &[]).expect("create");
    assert_eq!(
        ctr.unified.as_deref(),
        Some(tmp.path().join("unified/ringmon/abc").as_path())
    );
    assert!(ctr.freezer_dir().is_none(), "hybrid kills with cgroup.kill");
    assert_eq!(ctr.route(libc::SIGKILL), kill::Route::CgroupKill);
    // A write that fails (no such controller directory) removes what was made.
    let bad = vec![resources::Write {
        controller: Controller::Hugetlb,
        version: Version::V1,
        file: "hugetlb.2MB.limit_in_bytes".into(),
        value: "0".into(),
    }];
    let err = cg.create("def", None, &bad).expect_err("no hugetlb v1");
    assert!(err.to_string().contains("hugetlb"), "{err}");
    assert!(!tmp.path().join("unified/ringmon/def").exists());
    assert!(!tmp.path().join("memory/session/ringmon/def").exists());
    // cgroupsPath: relative under the parent, absolute from the hierarchy root.
    let rel = cg.create("x", Some("pod/ctr"), &[]).expect("relative");
    assert_eq!(
        rel.unified.as_deref(),
        Some(tmp.path().join("unified/ringmon/pod/ctr").as_path())
    );
    let abs = cg.create("y", Some("/jobs/y"), &[]).expect("absolute");
    assert_eq!(
        abs.unified.as_deref(),
        Some(tmp.path().join("unified/jobs/y").as_path())
    );
    // The levels made for them go with them; what existed before stays.
    for mut ctr in [rel, abs] {
        let dirs = ctr.dirs();
        ctr.remove().expect("remove");
        cg.prune(&dirs);
    }
    assert!(!tmp.path().join("unified/ringmon/pod").exists());
    assert!(!tmp.path().join("unified/jobs").exists());
    assert!(
        tmp.path().join("unified/ringmon").exists(),
        "the parent stays until shutdown"
    );
    let mut first = ctr;
    first.remove().expect("remove");
    cg.remove_parents();
    assert!(!tmp.path().join("unified/ringmon").exists());
    assert!(
        tmp.path().join("memory/session").exists(),
        "not made by the daemon"
    );
}

#[test]
fn without_cgroups_limits_are_refused_and_nothing_is_made() {
    let cg = Cgroups::disabled("--cgroups off");
    assert!(!cg.usable());
    let err = cg
        .plan(Some(&resources(serde_json::json!({"pids": {"limit": 5}}))))
        .expect_err("refused");
    assert!(err.to_string().contains("--cgroups off"), "{err}");
    assert!(cg
        .plan(Some(&resources(serde_json::json!({}))))
        .expect("empty")
        .is_empty());
    let ctr = cg.create("abc", None, &[]).expect("nothing");
    assert!(ctr.is_none());
    assert_eq!(ctr.route(libc::SIGKILL), kill::Route::InitOnly);
    assert!(cg.container_parents().is_empty());
}

#[test]
fn each_rmdir_outcome_unlists_only_what_is_gone_so_a_retry_names_the_rest() {
    let tmp = tempfile::tempdir().expect("tmp");
    let cg = fake_v1(tmp.path(), false);
    let mut ctr = cg.create("c1", None, &[]).expect("create");
    let dirs = ctr.removal_dirs();
    // pids, cpu,cpuacct and freezer (a v1-only host), each on its own.
    assert_eq!(dirs.len(), 3, "{dirs:?}");
    // The first is gone; the second still has tasks; the third was already removed.
    ctr.rmdir_done(&dirs[0], libc::ENOTEMPTY)
        .expect("fake: recursive");
    assert!(!dirs[0].exists());
    let busy = ctr.rmdir_done(&dirs[1], libc::EBUSY).expect_err("busy");
    assert_eq!(busy.call, "rmdir");
    assert_eq!(busy.path, dirs[1]);
    assert!(busy.to_string().contains("busy"), "{busy}");
    ctr.rmdir_done(&dirs[2], libc::ENOENT)
        .expect("gone counts as removed");
    assert_eq!(ctr.removal_dirs(), vec![dirs[1].clone()]);
    assert!(!ctr.is_none());
    ctr.remove().expect("the retry removes the rest");
    assert!(ctr.is_none() && !dirs[1].exists());
    let _ = std::fs::remove_dir_all(&dirs[2]);
    cg.remove_parents();
}
