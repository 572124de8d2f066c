//! mount(8)-style options of a spec mount, parsed into mount(2) flags and data.
//!
//! runc's table: each flag word sets or clears an MS_* bit, propagation words pick one
//! propagation type, bind/rbind make a bind mount, anything with `=` (and a few bare words
//! such as `newinstance`) is filesystem data. Unknown bare words are refused: a typo must
//! not turn into a silently ignored option.

use super::plan::MountPlan;

const MS_RDONLY: u32 = libc::MS_RDONLY as u32;
const MS_NOSUID: u32 = libc::MS_NOSUID as u32;
const MS_NODEV: u32 = libc::MS_NODEV as u32;
const MS_NOEXEC: u32 = libc::MS_NOEXEC as u32;
const MS_SYNCHRONOUS: u32 = libc::MS_SYNCHRONOUS as u32;
const MS_DIRSYNC: u32 = libc::MS_DIRSYNC as u32;
const MS_MANDLOCK: u32 = libc::MS_MANDLOCK as u32;
const MS_NOATIME: u32 = libc::MS_NOATIME as u32;
const MS_NODIRATIME: u32 = libc::MS_NODIRATIME as u32;
const MS_RELATIME: u32 = libc::MS_RELATIME as u32;
const MS_STRICTATIME: u32 = libc::MS_STRICTATIME as u32;
pub const MS_REC: u32 = libc::MS_REC as u32;
pub const MS_PRIVATE: u32 = libc::MS_PRIVATE as u32;
pub const MS_SLAVE: u32 = libc::MS_SLAVE as u32;
pub const MS_SHARED: u32 = libc::MS_SHARED as u32;
pub const MS_UNBINDABLE: u32 = libc::MS_UNBINDABLE as u32;

/// (word, clear?, flag)
const FLAGS: &[(&str, bool, u32)] = &[
    ("ro", false, MS_RDONLY),
    ("rw", true, MS_RDONLY),
    ("nosuid", false, MS_NOSUID),
    ("suid", true, MS_NOSUID),
    ("nodev", false, MS_NODEV),
    ("dev", true, MS_NODEV),
    ("noexec", false, MS_NOEXEC),
    ("exec", true, MS_NOEXEC),
    ("sync", false, MS_SYNCHRONOUS),
    ("async", true, MS_SYNCHRONOUS),
    ("dirsync", false, MS_DIRSYNC),
    ("mand", false, MS_MANDLOCK),
    ("nomand", true, MS_MANDLOCK),
    ("noatime", false, MS_NOATIME),
    ("atime", true, MS_NOATIME),
    ("nodiratime", false, MS_NODIRATIME),
    ("diratime", true, MS_NODIRATIME),
    ("relatime", false, MS_RELATIME),
    ("norelatime", true, MS_RELATIME),
    ("strictatime", false, MS_STRICTATIME),
    ("nostrictatime", true, MS_STRICTATIME),
];

/// Parses a propagation word (`rslave`, `private`, ...) into MS_* bits.
pub fn propagation(word: &str) -> Option<u32> {
    Some(match word {
        "private" => MS_PRIVATE,
        "rprivate" => MS_PRIVATE | MS_REC,
        "slave" => MS_SLAVE,
        "rslave" => MS_SLAVE | MS_REC,
        "shared" => MS_SHARED,
        "rshared" => MS_SHARED | MS_REC,
        "unbindable" => MS_UNBINDABLE,
        "runbindable" => MS_UNBINDABLE | MS_REC,
        _ => return None,
    })
}

/// Filesystems ringmon mounts (bind mounts aside).
pub const FILESYSTEMS: &[&str] = &["proc", "sysfs", "tmpfs", "devpts", "mqueue"];

/// Builds a mount's plan; the error names the offending option or type.
pub fn parse(
    destination: &str,
    fstype: Option<&str>,
    source: Option<&str>,
    options: &[String],
) -> Result<MountPlan, String> {
    let mut plan = MountPlan {
        destination: destination.to_string(),
        fstype: fstype.unwrap_or("bind").to_string(),
        source: source.unwrap_or("").to_string(),
        flags: 0,
        propagation: 0,
        data: String::new(),
        bind: fstype == Some("bind"),
        recursive: false,
    };
    let mut data = Vec::new();
    for opt in options {
        let word = opt.as_str();
        if let Some(&(_, clear, bit)) = FLAGS.iter().find(|(w, _, _)| *w == word) {
            if clear {
                plan.flags &= !bit;
            } else {
                plan.flags |= bit;
            }
        } else if let Some(p) = propagation(word) {
            plan.propagation = p;
        } else if word == "bind" || word == "rbind" {
            plan.bind = true;
            plan.recursive = word == "rbind";
        } else if word == "remount" {
            return Err(format!(
                "option {word:?} is not supported in a container's mounts"
            ));
        } else if word == "newinstance" || (word.contains('=') && !word.starts_with('=')) {
            if word.starts_with("X-mount.") || word.contains(',') {
                return Err(format!("option {word:?} is not supported"));
            }
            data.push(word);
        } else {
            return Err(format!("unknown mount option {word:?}"));
        }
    }
    if plan.bind {
        if plan.source.is_empty() {
            return Err("a bind mount needs a source".into());
        }
        if !plan.source.starts_with('/') {
            return Err(format!(
                "bind source {:?} must be an absolute path",
                plan.source
            ));
        }
        if !data.is_empty() {
            return Err(format!(
                "a bind mount takes no data options ({})",
                data.join(",")
            ));
        }
        plan.fstype = "bind".into();
    } else if !FILESYSTEMS.contains(&plan.fstype.as_str()) {
        return Err(format!(
            "type {:?} is not supported (supported: bind, {})",
            plan.fstype,
            FILESYSTEMS.join(", ")
        ));
    }
    if plan.source.is_empty() {
        plan.source = plan.fstype.clone();
    }
    plan.data = data.join(",");
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn runc_default_mounts_parse() {
        let p = parse(
            "/dev/pts",
            Some("devpts"),
            Some("devpts"),
            &opts(&[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ]),
        )
        .expect("devpts");
        assert_eq!(p.flags, MS_NOSUID | MS_NOEXEC);
        assert_eq!(p.data, "newinstance,ptmxmode=0666,mode=0620,gid=5");
        assert!(!p.bind);

        let p = parse(
            "/data",
            None,
            Some("/srv"),
            &opts(&["rbind", "ro", "rprivate"]),
        )
        .expect("bind");
        assert!(p.bind && p.recursive);
        assert_eq!(p.flags, MS_RDONLY);
        assert_eq!(p.propagation, MS_PRIVATE | MS_REC);
        assert_eq!(p.fstype, "bind");
    }

    #[test]
    fn later_words_override_earlier_ones() {
        let p = parse("/t", Some("tmpfs"), None, &opts(&["ro", "rw"])).expect("tmpfs");
        assert_eq!(p.flags & MS_RDONLY, 0);
        assert_eq!(p.source, "tmpfs");
    }

    #[test]
    fn unknown_words_types_and_bad_binds_are_named() {
        let e = parse("/t", Some("tmpfs"), None, &opts(&["nosiud"])).expect_err("typo");
        assert!(e.contains("nosiud"), "{e}");
        let e = parse("/t", Some("ext4"), Some("/dev/sda"), &[]).expect_err("type");
        assert!(e.contains("ext4"), "{e}");
        let e = parse("/t", Some("bind"), Some("rel/path"), &[]).expect_err("relative");
        assert!(e.contains("rel/path"), "{e}");
        let e = parse("/t", Some("bind"), None, &[]).expect_err("no source");
        assert!(e.contains("source"), "{e}");
        let e = parse("/t", Some("tmpfs"), None, &opts(&["X-mount.mkdir=0755"])).expect_err("x");
        assert!(e.contains("X-mount"), "{e}");
    }
}
