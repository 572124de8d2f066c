//! A busybox OCI bundle for tests, built from Debian's busybox-static (.ci/run installs it).

use std::path::{Path, PathBuf};

pub const BUSYBOX: &str = "/bin/busybox";

/// Builds `<dir>/bundle` with a busybox rootfs and ringmon's default config.json
/// (`ringmon spec`); returns the bundle path.
pub fn busybox_bundle(dir: &Path) -> PathBuf {
    let bb = Path::new(BUSYBOX);
    assert!(
        bb.exists(),
        "{BUSYBOX} is missing: install Debian's busybox-static (.ci/run does)"
    );
    let bundle = dir.join("bundle");
    let rootfs = bundle.join("rootfs");
    for d in ["bin", "etc", "tmp", "proc", "sys", "dev", "root"] {
        std::fs::create_dir_all(rootfs.join(d)).expect("mkdir rootfs");
    }
    std::fs::set_permissions(
        rootfs.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .expect("chmod /tmp");
    std::fs::copy(bb, rootfs.join("bin/busybox")).expect("copy busybox");
    let list = std::process::Command::new(bb)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.contains('/') {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet));
        }
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n",
    )
    .expect("passwd");
    std::fs::write(
        rootfs.join("etc/group"),
        "root:x:0:\nwheel:x:10:\nusers:x:100:\nuser:x:1000:\n",
    )
    .expect("group");
    let out = std::process::Command::new(super::BIN)
        .args(["spec", "--bundle"])
        .arg(&bundle)
        .output()
        .expect("ringmon spec");
    assert!(out.status.success(), "ringmon spec: {out:?}");
    bundle
}

pub fn read_config(bundle: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(bundle.join("config.json")).expect("read config.json");
    serde_json::from_str(&text).expect("config.json is JSON")
}

pub fn write_config(bundle: &Path, spec: &serde_json::Value) {
    std::fs::write(
        bundle.join("config.json"),
        serde_json::to_vec_pretty(spec).expect("encode"),
    )
    .expect("write config.json");
}

/// Mount lines of a process's mount namespace (the test's own is the host's).
pub fn mount_count(pid: &str) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .expect("mountinfo")
        .lines()
        .count()
}
