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

/// What `ringmon spec` writes and `--rootfs DIR` uses: runc's default.
pub fn runc_like(tty: bool, rootfs: &str) -> Value {
    let caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": tty,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": env(tty),
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
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
        "process": {
            "terminal": tty,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": env(tty),
            "cwd": "/",
            "capabilities": {"bounding": DOCKER_CAPS, "effective": DOCKER_CAPS,
                             "permitted": DOCKER_CAPS}
        },
        "root": {"path": "/", "readonly": true},
        "hostname": hostname,
        "mounts": mounts,
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
            "maskedPaths": MASKED,
            "readonlyPaths": READONLY
        }
    })
}
