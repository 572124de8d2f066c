//! The specs ringmon writes itself: `ringmon spec` and `--rootfs DIR` (runc's default, minus
//! the cgroup pieces ringmon does not implement yet), and the embedded default used when a
//! container names neither a bundle nor a rootfs (the host's root, read-only, with private
//! /proc, /dev, /dev/pts, /dev/shm, /tmp and /run).

use serde_json::{json, Value};

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// runc's default masked and read-only paths.
const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's default capability set.
const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

fn env(tty: bool) -> Vec<String> {
    let mut env = vec![format!("PATH={DEFAULT_PATH}")];
    if tty {
        env.push("TERM=xterm".into());
    }
    env
}

fn base_mounts() -> Vec<Value> {
    vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", "ro"]}),
    ]
}

/// `sh` as root in "/", with `caps` as its bounding, effective and permitted sets.
fn process(tty: bool, caps: &[&str]) -> Value {
    json!({
        "terminal": tty,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": env(tty),
        "cwd": "/",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps}
    })
}

/// What `ringmon spec` writes and `--rootfs DIR` uses: runc's default.
pub fn runc_like(tty: bool, rootfs: &str) -> Value {
    let mut process = process(
        tty,
        &["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
    );
    process["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]);
    process["noNewPrivileges"] = json!(true);
    json!({
        "ociVersion": "1.2.0",
        "process": process,
        "root": {"path": rootfs, "readonly": true},
        "hostname": "ringmon",
        "mounts": base_mounts(),
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                           {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": MASKED,
            "readonlyPaths": READONLY
        }
    })
}

/// The embedded default: the host's root filesystem (not its other mounts) read-only, the
/// host's network, private pid/ipc/uts/mount namespaces, docker's capability set.
pub fn host(tty: bool, hostname: &str) -> Value {
    // Built once per tty setting and cloned: serializing the constant lists into a fresh
    // document was a fifth of a create's spec work (benches/hot_paths.rs, spec_prepare).
    static DOCS: std::sync::OnceLock<[Value; 2]> = std::sync::OnceLock::new();
    let docs = DOCS.get_or_init(|| [build_host(false), build_host(true)]);
    let mut doc = docs[usize::from(tty)].clone();
    doc["hostname"] = Value::from(hostname);
    doc
}

fn build_host(tty: bool) -> Value {
    let mut mounts = base_mounts();
    mounts.push(
        json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "mode=1777"]}),
    );
    mounts.push(
        json!({"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "mode=755"]}),
    );
    json!({
        "ociVersion": "1.2.0",
        "process": process(tty, DOCKER_CAPS),
        "root": {"path": "/", "readonly": true},
        "hostname": "",
        "mounts": mounts,
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": MASKED,
            "readonlyPaths": READONLY
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_specs_pass_the_allowlist() {
        for tty in [false, true] {
            super::super::validate::check(&runc_like(tty, "rootfs")).expect("runc-like");
            super::super::validate::check(&host(tty, "abc")).expect("host");
        }
    }

    #[test]
    fn the_host_default_prepares_with_the_host_root_bound_at_the_staging_dir() {
        let o = super::super::Overrides {
            args: &["true".to_string()],
            ..Default::default()
        };
        let p = super::super::prepare(
            super::super::Source::Host,
            &o,
            "abc",
            std::path::Path::new("/run/x/host-root"),
        )
        .expect("prepare");
        assert_eq!(p.plan.host_root_at.as_deref(), Some("/run/x/host-root"));
        assert!(p.plan.readonly_root);
        assert_eq!(p.clone_flags & libc::CLONE_NEWNET, 0, "host network");
        assert_ne!(p.clone_flags & libc::CLONE_NEWPID, 0);
        assert!(p.plan.mounts.iter().any(|m| m.destination == "/tmp"));
        assert_eq!(p.plan.hostname.as_deref(), Some("abc"));
    }
}
