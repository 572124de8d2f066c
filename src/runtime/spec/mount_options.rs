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

/// Propagation words and their MS_* bits.
pub const PROPAGATIONS: [(&str, u32); 8] = [
    ("private", MS_PRIVATE),
    ("rprivate", MS_PRIVATE | MS_REC),
    ("slave", MS_SLAVE),
    ("rslave", MS_SLAVE | MS_REC),
    ("shared", MS_SHARED),
    ("rshared", MS_SHARED | MS_REC),
    ("unbindable", MS_UNBINDABLE),
    ("runbindable", MS_UNBINDABLE | MS_REC),
];

/// Parses a propagation word (`rslave`, `private`, ...) into MS_* bits.
pub fn propagation(word: &str) -> Option<u32> {
    PROPAGATIONS
        .iter()
        .find(|(w, _)| *w == word)
        .map(|&(_, bits)| bits)
}

/// What one option word does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Word {
    /// Sets (or, `clear`, clears) an MS_* flag.
    Flag {
        clear: bool,
        bit: u32,
    },
    Propagation(u32),
    Bind {
        recursive: bool,
    },
    /// Filesystem data (`mode=755`, `newinstance`).
    Data,
}

/// Classifies one mount(8)-style option word; the error says why it is refused. The spec
/// check (`validate`) and `parse` share it, so both accept exactly the same words.
pub fn word(v: &str) -> Result<Word, String> {
    if let Some(&(_, clear, bit)) = FLAGS.iter().find(|(w, _, _)| *w == v) {
        return Ok(Word::Flag { clear, bit });
    }
    if let Some(p) = propagation(v) {
        return Ok(Word::Propagation(p));
    }
    match v {
        "bind" => return Ok(Word::Bind { recursive: false }),
        "rbind" => return Ok(Word::Bind { recursive: true }),
        "newinstance" => return Ok(Word::Data),
        _ => {}
    }
    let key = v.split_once('=').map_or(v, |(k, _)| k);
    let refused = |what| Err(format!("{v:?} is not supported by ringmon ({what})"));
    if key.starts_with("X-mount.") || key.starts_with("x-mount.") {
        return refused("X-mount options are not implemented");
    }
    if key == "idmap" || key == "ridmap" {
        return refused("idmapped mounts are not implemented");
    }
    if v == "remount" {
        return refused("a container's mounts are made, not remounted");
    }
    if !key.is_empty() && key != v && !v.contains(',') {
        return Ok(Word::Data);
    }
    let flag = |w: &str| FLAGS.iter().any(|(f, _, _)| *f == w);
    match v.strip_prefix('r').is_some_and(flag) {
        true => Err(format!(
            "{v:?} is a recursive mount flag, which ringmon does not support"
        )),
        false => Err(format!("{v:?} is not a mount option ringmon supports")),
    }
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
        match word(opt)? {
            Word::Flag { clear: true, bit } => plan.flags &= !bit,
            Word::Flag { clear: false, bit } => plan.flags |= bit,
            Word::Propagation(p) => plan.propagation = p,
            Word::Bind { recursive } => {
                plan.bind = true;
                plan.recursive = recursive;
            }
            Word::Data => data.push(opt.as_str()),
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
