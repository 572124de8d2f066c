//! Refuses, at create, whatever in a bundle's config.json ringmon does not implement.
//!
//! ringmon is its own OCI runtime: a field it silently ignored would be an isolation or a
//! limit the user believes in and does not get. [`check`] walks the raw JSON document,
//! before it becomes an `oci_spec::runtime::Spec`, against a static allowlist (`TOP`),
//! then checks the values ringmon supports only partly (namespaces, mounts, sysctls, id
//! mappings, rlimits). A key whose value is null, `{}` or `[]` counts as absent. This
//! module never changes the document and never touches the system; `linux.seccomp` is
//! accepted whole here and validated by the seccomp code, and `linux.resources` is checked
//! for its shape only: `cgroups::resources` refuses what the host cannot enforce.

use serde_json::Value;
use thiserror::Error;

use super::mount_options::{self, FILESYSTEMS, PROPAGATIONS};
use super::plan::{rlimit_resource, CAPABILITY_NAMES};

/// The first problem [`check`] found, named by its JSON path (`mounts[4].options[1]`).
#[derive(Debug, Error, PartialEq)]
pub enum SpecError {
    /// A field ringmon does not implement; `reason` says more when support is planned:
    /// `hooks is not supported by ringmon (hooks are not implemented)`.
    #[error("{path} is not supported by ringmon{}", suffix(.reason))]
    Unsupported {
        path: String,
        reason: Option<&'static str>,
    },
    /// A supported field with a wrong JSON type or a value ringmon cannot honour.
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

fn suffix(reason: &Option<&'static str>) -> String {
    reason.map(|r| format!(" {r}")).unwrap_or_default()
}

/// Checks config.json's document; the first problem found is returned.
pub fn check(doc: &Value) -> Result<(), SpecError> {
    if !doc.is_object() {
        let message = format!("expected an object, found {}", found(doc));
        return Err(invalid("config.json", message));
    }
    walk(&Kind::Obj(TOP), doc, "")?;
    let namespaces = check_namespaces(doc)?;
    check_namespace_needs(doc, &namespaces)?;
    check_mounts(doc)?;
    check_rlimits(doc)
}

/// A check of a string's value; it returns the message, the walker adds the path.
type StrCheck = fn(&str) -> Result<(), String>;

/// What a field may hold.
enum Kind {
    Str(Option<StrCheck>),
    Bool,
    U32,
    U64,
    I64,
    Int(i64, i64),
    List(&'static Kind),
    /// An object with any keys, each value of this kind.
    Map(&'static Kind),
    Obj(&'static [Field]),
    /// Any object; its inside is someone else's to validate.
    Opaque,
    /// Known but not implemented: refused unless absent.
    Refused(Option<&'static str>),
}

/// A key ringmon knows: its name, its kind, and whether it is required.
struct Field(&'static str, Kind, bool);

const fn opt(name: &'static str, kind: Kind) -> Field {
    Field(name, kind, false)
}

const fn req(name: &'static str, kind: Kind) -> Field {
    Field(name, kind, true)
}

const fn no(name: &'static str) -> Field {
    Field(name, Kind::Refused(None), false)
}

const STR: Kind = Kind::Str(None);
const PATH: Kind = Kind::Str(Some(absolute));

/// The allowlist, in the order fields are checked.
const TOP: &[Field] = &[
    opt("ociVersion", Kind::Str(Some(oci_version))),
    req("root", Kind::Obj(ROOT)),
    opt("process", Kind::Obj(PROCESS)),
    opt("hostname", STR),
    opt("domainname", STR),
    opt("linux", Kind::Obj(LINUX)),
    opt("mounts", Kind::List(&Kind::Obj(MOUNT))),
    opt("annotations", Kind::Map(&STR)),
    opt("hooks", Kind::Refused(Some("(hooks are not implemented)"))),
    no("vm"),
    no("windows"),
    no("solaris"),
    no("zos"),
];

const ROOT: &[Field] = &[
    req("path", Kind::Str(Some(non_empty))),
    opt("readonly", Kind::Bool),
];

const PROCESS: &[Field] = &[
    opt("terminal", Kind::Bool),
    opt(
        "consoleSize",
        Kind::Obj(&[opt("height", Kind::U64), opt("width", Kind::U64)]),
    ),
    opt("user", Kind::Obj(USER)),
    opt("args", Kind::List(&STR)),
    opt("env", Kind::List(&Kind::Str(Some(env_entry)))),
    opt("cwd", PATH),
    opt("capabilities", Kind::Obj(CAPABILITIES)),
    opt("rlimits", Kind::List(&Kind::Obj(RLIMIT))),
    opt("noNewPrivileges", Kind::Bool),
    opt("oomScoreAdj", Kind::Int(-1000, 1000)),
    no("apparmorProfile"),
    no("selinuxLabel"),
    no("ioPriority"),
    no("scheduler"),
    no("execCPUAffinity"),
    no("commandLine"),
];

const USER: &[Field] = &[
    opt("uid", Kind::U32),
    opt("gid", Kind::U32),
    opt("umask", Kind::U32),
    opt("additionalGids", Kind::List(&Kind::U32)),
    no("username"),
];

const CAP_LIST: Kind = Kind::List(&Kind::Str(Some(capability)));
const CAPABILITIES: &[Field] = &[
    opt("bounding", CAP_LIST),
    opt("effective", CAP_LIST),
    opt("inheritable", CAP_LIST),
    opt("permitted", CAP_LIST),
    opt("ambient", CAP_LIST),
];

const RLIMIT: &[Field] = &[
    req("type", Kind::Str(Some(rlimit_type))),
    req("hard", Kind::U64),
    req("soft", Kind::U64),
];

const LINUX: &[Field] = &[
    opt("namespaces", Kind::List(&Kind::Obj(NAMESPACE))),
    opt("uidMappings", Kind::List(&Kind::Obj(ID_MAPPING))),
    opt("gidMappings", Kind::List(&Kind::Obj(ID_MAPPING))),
    opt("sysctl", Kind::Map(&STR)),
    opt("maskedPaths", Kind::List(&PATH)),
    opt("readonlyPaths", Kind::List(&PATH)),
    opt("rootfsPropagation", Kind::Str(Some(propagation))),
    opt("seccomp", Kind::Opaque),
    opt("resources", Kind::Obj(RESOURCES)),
    opt("cgroupsPath", Kind::Str(Some(cgroups_path))),
    opt(
        "devices",
        Kind::Refused(Some("yet (device nodes are not implemented)")),
    ),
    no("intelRdt"),
    no("personality"),
    no("mountLabel"),
    no("timeOffsets"),
    no("memoryPolicy"),
    no("netDevices"),
];

const NAMESPACE: &[Field] = &[
    req("type", Kind::Str(Some(namespace_type))),
    opt("path", PATH),
];

const ID_MAPPING: &[Field] = &[
    req("containerID", Kind::U32),
    req("hostID", Kind::U32),
    req("size", Kind::U32),
];

/// The OCI spec's `linux.resources`, typed as oci-spec reads it; the planner in
/// `cgroups::resources` refuses with a reason what it cannot enforce (`kernel`, `rdma`, ...).
const RESOURCES: &[Field] = &[
    opt("memory", Kind::Obj(MEMORY)),
    opt("cpu", Kind::Obj(CPU)),
    opt("pids", Kind::Obj(&[req("limit", Kind::I64)])),
    opt("blockIO", Kind::Obj(BLOCK_IO)),
    opt("hugepageLimits", Kind::List(&Kind::Obj(HUGEPAGE_LIMIT))),
    opt("network", Kind::Obj(NETWORK)),
    opt("rdma", Kind::Opaque),
    opt("unified", Kind::Map(&STR)),
    opt("devices", Kind::List(&Kind::Obj(DEVICE_RULE))),
];

const MEMORY: &[Field] = &[
    opt("limit", Kind::I64),
    opt("reservation", Kind::I64),
    opt("swap", Kind::I64),
    opt("kernel", Kind::I64),
    opt("kernelTCP", Kind::I64),
    opt("swappiness", Kind::U64),
    opt("disableOOMKiller", Kind::Bool),
    opt("useHierarchy", Kind::Bool),
    opt("checkBeforeUpdate", Kind::Bool),
];

const CPU: &[Field] = &[
    opt("shares", Kind::U64),
    opt("quota", Kind::I64),
    opt("burst", Kind::U64),
    opt("period", Kind::U64),
    opt("realtimeRuntime", Kind::I64),
    opt("realtimePeriod", Kind::U64),
    opt("cpus", STR),
    opt("mems", STR),
    opt("idle", Kind::I64),
];

const WEIGHT: Kind = Kind::Int(0, u16::MAX as i64);
const THROTTLE: Kind = Kind::List(&Kind::Obj(&[
    req("major", Kind::I64),
    req("minor", Kind::I64),
    req("rate", Kind::U64),
]));
const BLOCK_IO: &[Field] = &[
    opt("weight", WEIGHT),
    opt("leafWeight", WEIGHT),
    opt("weightDevice", Kind::List(&Kind::Obj(WEIGHT_DEVICE))),
    opt("throttleReadBpsDevice", THROTTLE),
    opt("throttleWriteBpsDevice", THROTTLE),
    opt("throttleReadIOPSDevice", THROTTLE),
    opt("throttleWriteIOPSDevice", THROTTLE),
];

const WEIGHT_DEVICE: &[Field] = &[
    req("major", Kind::I64),
    req("minor", Kind::I64),
    opt("weight", WEIGHT),
    opt("leafWeight", WEIGHT),
];

const HUGEPAGE_LIMIT: &[Field] = &[req("pageSize", STR), req("limit", Kind::I64)];

const NETWORK: &[Field] = &[
    opt("classID", Kind::U32),
    opt(
        "priorities",
        Kind::List(&Kind::Obj(&[req("name", STR), req("priority", Kind::U32)])),
    ),
];

const DEVICE_RULE: &[Field] = &[
    req("allow", Kind::Bool),
    opt("type", Kind::Str(Some(device_type))),
    opt("major", Kind::I64),
    opt("minor", Kind::I64),
    opt("access", Kind::Str(Some(device_access))),
];

const MOUNT: &[Field] = &[
    req("destination", Kind::Str(Some(mount_destination))),
    opt("type", Kind::Str(Some(mount_type))),
    opt("source", STR),
    opt("options", Kind::List(&Kind::Str(Some(mount_option)))),
];

fn walk(kind: &Kind, value: &Value, path: &str) -> Result<(), SpecError> {
    let fits = match (kind, value) {
        (Kind::Str(Some(check)), Value::String(s)) => {
            return check(s).map_err(|m| invalid(path, m))
        }
        (Kind::Str(None), _) => value.is_string(),
        (Kind::Bool, _) => value.is_boolean(),
        (Kind::U32, _) => value.as_u64().is_some_and(|n| u32::try_from(n).is_ok()),
        (Kind::U64, _) => value.as_u64().is_some(),
        (Kind::I64, _) => value.as_i64().is_some(),
        (Kind::Int(lo, hi), _) => value.as_i64().is_some_and(|n| (*lo..=*hi).contains(&n)),
        (Kind::Opaque, _) => value.is_object(),
        (Kind::Refused(reason), _) => {
            let path = path.to_owned();
            return Err(SpecError::Unsupported {
                path,
                reason: *reason,
            });
        }
        (Kind::List(inner), Value::Array(items)) => {
            let mut items = items.iter().enumerate();
            return items.try_for_each(|(i, v)| walk(inner, v, &format!("{path}[{i}]")));
        }
        (Kind::Map(inner), Value::Object(map)) => {
            return map
                .iter()
                .try_for_each(|(k, v)| walk(inner, v, &format!("{path}.{k:?}")));
        }
        (Kind::Obj(fields), Value::Object(map)) => {
            // Unknown keys first: a typo is the likeliest cause of anything else.
            let known = |k: &str| fields.iter().any(|f| f.0 == k);
            if let Some((key, _)) = map.iter().find(|(k, v)| !is_absent(v) && !known(k)) {
                let path = join(path, key);
                return Err(SpecError::Unsupported { path, reason: None });
            }
            for Field(name, kind, required) in fields.iter() {
                match map.get(*name).filter(|v| !is_absent(v)) {
                    Some(v) => walk(kind, v, &join(path, name))?,
                    None if *required => {
                        return Err(invalid(join(path, name), "required field is missing"))
                    }
                    None => {}
                }
            }
            return Ok(());
        }
        _ => false,
    };
    match fits {
        true => Ok(()),
        false => Err(invalid(
            path,
            format!("expected {}, found {}", expected(kind), found(value)),
        )),
    }
}

fn expected(kind: &Kind) -> String {
    let text = match kind {
        Kind::Str(_) => "a string",
        Kind::Bool => "a boolean",
        Kind::U32 => "an unsigned 32-bit integer",
        Kind::U64 => "an unsigned 64-bit integer",
        Kind::I64 => "a signed 64-bit integer",
        Kind::Int(lo, hi) => return format!("an integer from {lo} to {hi}"),
        Kind::List(Kind::Str(_)) => "an array of strings",
        Kind::List(Kind::U32) => "an array of unsigned 32-bit integers",
        Kind::List(_) => "an array of objects",
        Kind::Map(_) => "an object of strings",
        Kind::Obj(_) | Kind::Opaque | Kind::Refused(_) => "an object",
    };
    text.to_owned()
}

fn found(value: &Value) -> String {
    let text = match value {
        Value::Null => "null",
        Value::Bool(b) => return b.to_string(),
        Value::Number(n) => return n.to_string(),
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    text.to_owned()
}

fn is_absent(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn join(path: &str, key: &str) -> String {
    match path {
        "" => key.to_owned(),
        _ => format!("{path}.{key}"),
    }
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> SpecError {
    let (path, message) = (path.into(), message.into());
    SpecError::Invalid { path, message }
}

fn ensure(ok: bool, message: impl FnOnce() -> String) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(message())
    }
}

/// Whether `word` is one of the whitespace-separated `words`.
fn listed(words: &str, word: &str) -> bool {
    words.split_whitespace().any(|w| w == word)
}

fn one_of(v: &str, what: &str, words: &str) -> Result<(), String> {
    let list = || words.split_whitespace().collect::<Vec<_>>().join(", ");
    ensure(listed(words, v), || {
        format!("{v:?} is not {what} (supported: {})", list())
    })
}

fn oci_version(v: &str) -> Result<(), String> {
    ensure(v.starts_with("1."), || {
        format!("{v:?} is not a 1.x OCI version")
    })
}

fn non_empty(v: &str) -> Result<(), String> {
    ensure(!v.is_empty(), || "must not be empty".to_owned())
}

fn absolute(v: &str) -> Result<(), String> {
    ensure(v.starts_with('/'), || {
        format!("{v:?} is not an absolute path")
    })
}

fn env_entry(v: &str) -> Result<(), String> {
    ensure(v.contains('='), || {
        format!("{v:?} is not of the form NAME=value")
    })
}

fn propagation(v: &str) -> Result<(), String> {
    let words = PROPAGATIONS.map(|(w, _)| w).join(" ");
    one_of(v, "a mount propagation", &words)
}

fn namespace_type(v: &str) -> Result<(), String> {
    one_of(
        v,
        "supported by ringmon",
        "pid network mount ipc uts cgroup user",
    )
}

fn capability(v: &str) -> Result<(), String> {
    ensure(CAPABILITY_NAMES.contains(&v), || {
        format!("{v:?} is not a known capability")
    })
}

fn rlimit_type(v: &str) -> Result<(), String> {
    ensure(rlimit_resource(v).is_some(), || {
        format!("{v:?} is not a known rlimit")
    })
}

fn mount_destination(v: &str) -> Result<(), String> {
    absolute(v)?;
    ensure(!v.split('/').any(|c| c == ".."), || {
        format!("{v:?} has a \"..\" component")
    })
}

/// A cgroup path, absolute (under the hierarchy roots) or relative (under ringmon's parent),
/// that stays where it points: no "." or ".." and no empty component but a leading "/".
fn cgroups_path(v: &str) -> Result<(), String> {
    non_empty(v)?;
    ensure(!v.contains('\0'), || format!("{v:?} contains a NUL byte"))?;
    let rest = v.strip_prefix('/').unwrap_or(v);
    let bad = rest.split('/').find(|c| matches!(*c, "" | "." | ".."));
    ensure(bad.is_none(), || match bad {
        Some("") => format!("{v:?} has an empty component"),
        _ => format!("{v:?} has a \".\" or \"..\" component"),
    })
}

fn device_type(v: &str) -> Result<(), String> {
    one_of(v, "a device type", "a b c u p")
}

fn device_access(v: &str) -> Result<(), String> {
    let ok = !v.is_empty() && v.chars().all(|c| "rwm".contains(c));
    ensure(ok, || format!("{v:?} is not a combination of r, w and m"))
}

fn mount_type(v: &str) -> Result<(), String> {
    match v {
        "cgroup" | "cgroup2" => Err(format!(
            "{v:?} is not supported by ringmon yet (cgroup mounts are not implemented)"
        )),
        // The spec's own examples spell a bind mount "none"; check_mounts wants the option.
        "none" => Ok(()),
        _ => one_of(
            v,
            "supported by ringmon",
            &[FILESYSTEMS, &["bind"]].concat().join(" "),
        ),
    }
}

fn mount_option(v: &str) -> Result<(), String> {
    mount_options::word(v).map(drop)
}

/// Elements of the array at a JSON pointer; the walk has already checked their types.
fn array<'a>(doc: &'a Value, pointer: &str) -> &'a [Value] {
    doc.pointer(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// Each namespace type at most once; joining a mount or user namespace is refused.
fn check_namespaces(doc: &Value) -> Result<Vec<&str>, SpecError> {
    let mut seen = Vec::new();
    for (i, ns) in array(doc, "/linux/namespaces").iter().enumerate() {
        let ty = str_at(ns, "type").unwrap_or_default();
        if seen.contains(&ty) {
            let message = format!("{ty:?} appears more than once");
            return Err(invalid(format!("linux.namespaces[{i}].type"), message));
        }
        seen.push(ty);
        if str_at(ns, "path").is_some() && (ty == "mount" || ty == "user") {
            let message = format!("joining a {ty} namespace is not supported");
            return Err(invalid(format!("linux.namespaces[{i}].path"), message));
        }
    }
    Ok(seen)
}

/// A field that only makes sense in a namespace of the container's own needs that namespace
/// in linux.namespaces, and a new user namespace needs both id mappings (as in runc).
fn check_namespace_needs(doc: &Value, namespaces: &[&str]) -> Result<(), SpecError> {
    for (path, ns) in namespace_needs(doc)? {
        if !namespaces.contains(&ns) {
            let article = if ns == "ipc" { "an" } else { "a" };
            let message = format!("needs {article} {ns} namespace in linux.namespaces");
            return Err(invalid(path, message));
        }
    }
    for key in ["uidMappings", "gidMappings"] {
        if namespaces.contains(&"user") && array(doc, &format!("/linux/{key}")).is_empty() {
            let message = "required by the user namespace in linux.namespaces";
            return Err(invalid(format!("linux.{key}"), message));
        }
    }
    Ok(())
}

/// The fields set in `doc` that need a namespace, each with its namespace; a sysctl that no
/// namespace scopes is refused outright.
fn namespace_needs(doc: &Value) -> Result<Vec<(String, &'static str)>, SpecError> {
    const IPC: &str = "kernel.msgmax kernel.msgmnb kernel.msgmni kernel.sem kernel.shmall \
        kernel.shmmax kernel.shmmni kernel.shm_rmid_forced";
    let mut needs = Vec::new();
    for key in ["hostname", "domainname"] {
        if str_at(doc, key).is_some_and(|name| !name.is_empty()) {
            needs.push((key.to_owned(), "uts"));
        }
    }
    for key in ["uidMappings", "gidMappings"] {
        if !array(doc, &format!("/linux/{key}")).is_empty() {
            needs.push((format!("linux.{key}"), "user"));
        }
    }
    let sysctl = doc.pointer("/linux/sysctl").and_then(Value::as_object);
    for key in sysctl.into_iter().flat_map(|map| map.keys()) {
        let path = format!("linux.sysctl.{key:?}");
        let ns = if key.contains('/') || key.contains("..") {
            return Err(invalid(
                path,
                "must be a dotted name without \"/\" or \"..\"",
            ));
        } else if listed(IPC, key) || key.starts_with("fs.mqueue.") {
            "ipc"
        } else if key.starts_with("net.") {
            "network"
        } else if key == "kernel.hostname" || key == "kernel.domainname" {
            "uts"
        } else {
            return Err(invalid(path, "not a namespaced sysctl"));
        };
        needs.push((path, ns));
    }
    Ok(needs)
}

/// A mount without a type (or of type "none") must be a bind mount.
fn check_mounts(doc: &Value) -> Result<(), SpecError> {
    for (i, mount) in array(doc, "/mounts").iter().enumerate() {
        let options = array(mount, "/options");
        let bind = options
            .iter()
            .any(|o| matches!(o.as_str(), Some("bind" | "rbind")));
        if !bind && matches!(str_at(mount, "type"), None | Some("none")) {
            let message = "needed unless options contain \"bind\" or \"rbind\"";
            return Err(invalid(format!("mounts[{i}].type"), message));
        }
    }
    Ok(())
}

/// Each rlimit at most once, with soft <= hard.
fn check_rlimits(doc: &Value) -> Result<(), SpecError> {
    let mut seen = Vec::new();
    for (i, rlimit) in array(doc, "/process/rlimits").iter().enumerate() {
        let ty = str_at(rlimit, "type").unwrap_or_default();
        if seen.contains(&ty) {
            let message = format!("{ty} appears more than once");
            return Err(invalid(format!("process.rlimits[{i}].type"), message));
        }
        seen.push(ty);
        let limit = |key| rlimit.get(key).and_then(Value::as_u64).unwrap_or_default();
        let (soft, hard) = (limit("soft"), limit("hard"));
        if soft > hard {
            let message = format!("soft limit {soft} is above the hard limit {hard}");
            return Err(invalid(format!("process.rlimits[{i}].soft"), message));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::{prelude::*, sample};
    use serde_json::json;

    /// `runc spec` (runc 1.1) output, verbatim but for whitespace.
    fn runc_spec() -> Value {
        let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
        json!({
            "ociVersion": "1.0.2-dev",
            "process": {
                "terminal": true, "user": {"uid": 0, "gid": 0}, "args": ["sh"],
                "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        "TERM=xterm"],
                "cwd": "/",
                "capabilities": {"bounding": caps, "effective": caps, "permitted": caps,
                                 "ambient": caps},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
                "noNewPrivileges": true
            },
            "root": {"path": "rootfs", "readonly": true},
            "hostname": "runc",
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                 "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                             "gid=5"]},
                {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                 "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
                {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                 "options": ["nosuid", "noexec", "nodev"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                 "options": ["nosuid", "noexec", "nodev", "ro"]},
                {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                 "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
            ],
            "linux": {
                "resources": {"devices": [{"allow": false, "access": "rwm"}]},
                "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                               {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
                "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                    "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
                "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                  "/proc/sysrq-trigger"]
            }
        })
    }

    /// A small valid document with every namespace but user and cgroup, `patch` merged in.
    fn with(patch: &Value) -> Value {
        fn merge(base: &mut Value, patch: &Value) {
            match (base, patch) {
                (Value::Object(b), Value::Object(p)) => p
                    .iter()
                    .for_each(|(k, v)| merge(b.entry(k).or_insert(Value::Null), v)),
                (b, p) => *b = p.clone(),
            }
        }
        let mut doc = json!({
            "ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"args": ["sh"]},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"},
                                     {"type": "uts"}, {"type": "network"}]}
        });
        merge(&mut doc, patch);
        doc
    }

    /// Every field of the OCI spec's linux.resources.
    fn resources() -> Value {
        let dev = json!({"major": 8, "minor": 0, "rate": 1048576});
        json!({
            "memory": {"limit": 536870912, "reservation": -1, "swap": -1, "kernel": 0,
                       "kernelTCP": 0, "swappiness": 60, "disableOOMKiller": false,
                       "useHierarchy": true, "checkBeforeUpdate": false},
            "cpu": {"shares": 1024, "quota": -1, "burst": 0, "period": 100000,
                    "realtimeRuntime": -1, "realtimePeriod": 1000000, "cpus": "0-3", "mems": "0",
                    "idle": 0},
            "pids": {"limit": -1},
            "blockIO": {"weight": 500, "leafWeight": 300,
                        "weightDevice": [{"major": 8, "minor": 0, "weight": 10, "leafWeight": 10}],
                        "throttleReadBpsDevice": [dev], "throttleWriteBpsDevice": [dev],
                        "throttleReadIOPSDevice": [dev], "throttleWriteIOPSDevice": [dev]},
            "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}],
            "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
            "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
            "unified": {"memory.high": "max", "io.weight": "default 100"},
            "devices": [{"allow": false, "access": "rwm"},
                        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"},
                        {"allow": true, "type": "b", "major": 8}, {"allow": true, "type": "u"},
                        {"allow": false, "type": "p", "minor": 3, "access": "m"}]
        })
    }

    fn path_of(err: &SpecError) -> &str {
        match err {
            SpecError::Unsupported { path, .. } | SpecError::Invalid { path, .. } => path,
        }
    }

    #[test]
    fn runc_default_spec_is_refused_only_for_what_ringmon_lacks() {
        // Its linux.resources (a deny-all device rule) passes; the cgroup mount does not.
        let mut doc = runc_spec();
        assert_eq!(doc["linux"]["resources"]["devices"][0]["allow"], false);
        let err = check(&doc).expect_err("the cgroup mount is refused");
        assert_eq!(path_of(&err), "mounts[6].type");
        assert!(err
            .to_string()
            .contains("\"cgroup\" is not supported by ringmon yet"));
        doc["mounts"].as_array_mut().expect("an array").pop();
        assert_eq!(check(&doc), Ok(()));
    }

    #[test]
    fn a_document_using_everything_supported_passes() {
        let doc = with(&json!({
            "hostname": "box", "domainname": "example", "annotations": {"org.example/k": "v"},
            "process": {
                "terminal": false, "consoleSize": {"height": 24, "width": 80}, "cwd": "/srv",
                "user": {"uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [5, 10]},
                "env": ["A=", "B=c=d"], "capabilities": {"inheritable": ["CAP_CHECKPOINT_RESTORE"]},
                "rlimits": [{"type": "RLIMIT_CORE", "hard": u64::MAX, "soft": 0},
                            {"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024}],
                "noNewPrivileges": true, "oomScoreAdj": -1000
            },
            "mounts": [
                {"destination": "/data", "type": "none", "source": "/srv", "options": ["rbind"]},
                {"destination": "/etc/hosts", "source": "/etc/hosts", "options": ["bind", "ro"]},
                {"destination": "/run", "type": "tmpfs", "options": ["nr_inodes=1k", "mpol=local"]}
            ],
            "linux": {
                "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"},
                               {"type": "network", "path": "/run/netns/a"}, {"type": "cgroup"},
                               {"type": "user"}],
                "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                "sysctl": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "1",
                           "fs.mqueue.msg_max": "10", "kernel.domainname": "x"},
                "rootfsPropagation": "rslave", "maskedPaths": ["/proc/kcore"],
                "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "unchecked": ["here"]},
                "cgroupsPath": "/ringmon/box", "resources": resources()
            }
        }));
        assert_eq!(check(&doc), Ok(()));
        // The allowlist types linux.resources as oci-spec reads it.
        let typed = serde_json::from_value::<oci_spec::runtime::LinuxResources>(resources());
        assert!(typed.is_ok(), "{typed:?}");
        for path in ["ringmon/box", "system.slice:ringmon:box", "/a"] {
            assert_eq!(
                check(&with(&json!({"linux": {"cgroupsPath": path}}))),
                Ok(())
            );
        }
    }

    #[test]
    fn null_and_empty_values_count_as_absent() {
        let doc = with(&json!({
            "hooks": {}, "proccess": null, "vm": {}, "process": {"scheduler": null, "rlimits": []},
            "linux": {"devices": [], "resources": {}, "uidMappings": null}
        }));
        assert_eq!(check(&doc), Ok(()));
        let err = check(&with(&json!({"root": {"path": null}}))).expect_err("no root.path");
        assert_eq!(err.to_string(), "root.path: required field is missing");
    }

    #[test]
    fn unknown_and_unimplemented_fields_are_unsupported() {
        let cases = json!([
            [{"proccess": {"args": ["sh"]}}, "proccess"],
            [{"process": {"capabilites": {"bounding": ["x"]}, "cwd": "x"}}, "process.capabilites"],
            [{"mounts": [{"destination": "/x", "uidMappings": [1]}]}, "mounts[0].uidMappings"],
            [{"hooks": {"prestart": [{"path": "/bin/true"}]}}, "hooks"],
            [{"vm": {"hypervisor": {"path": "/qemu"}}}, "vm"],
            [{"process": {"apparmorProfile": "docker-default"}}, "process.apparmorProfile"],
            [{"process": {"ioPriority": {"class": "IOPRIO_CLASS_RT"}}}, "process.ioPriority"],
            [{"process": {"user": {"uid": 0, "username": "root"}}}, "process.user.username"],
            [{"linux": {"devices": [{"path": "/dev/fuse"}]}}, "linux.devices"],
            [{"linux": {"resources": {"memroy": {"limit": 1}}}}, "linux.resources.memroy"],
            [{"linux": {"resources": {"cpu": {"quotas": 1}}}}, "linux.resources.cpu.quotas"],
            [{"linux": {"resources": {"devices": [{"allow": true, "acess": "r"}]}}},
             "linux.resources.devices[0].acess"],
            [{"linux": {"resources": {"blockIO": {"throttleReadBpsDevice":
                [{"major": 8, "minor": 0, "rate": 1, "rates": 2}]}}}},
             "linux.resources.blockIO.throttleReadBpsDevice[0].rates"],
            [{"linux": {"timeOffsets": {"monotonic": {"secs": 1}}}}, "linux.timeOffsets"],
            [{"linux": {"intelRdt": {"closID": "a"}}}, "linux.intelRdt"]
        ]);
        for case in cases.as_array().expect("cases") {
            match check(&with(&case[0])) {
                Err(SpecError::Unsupported { path, .. }) => assert_eq!(path, case[1]),
                other => panic!("{}: expected Unsupported, got {other:?}", case[1]),
            }
        }
        let err = check(&with(&cases[14][0])).expect_err("intelRdt is refused");
        assert_eq!(
            err.to_string(),
            "linux.intelRdt is not supported by ringmon"
        );
        let err = check(&json!([])).expect_err("not an object");
        assert_eq!(
            err.to_string(),
            "config.json: expected an object, found an array"
        );
    }

    #[test]
    fn values_ringmon_cannot_honour_are_invalid() {
        let pid = json!([{"type": "pid"}]);
        let ns = |types: &[&str]| types.iter().map(|t| json!({"type": t})).collect::<Value>();
        let map = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
        let opts =
            |o: &[&str]| json!({"mounts": [{"destination": "/x", "type": "tmpfs", "options": o}]});
        let mnt = |m: Value| json!({"mounts": [m]});
        let rl = |t: &str, hard: u64, soft: u64| json!({"type": t, "hard": hard, "soft": soft});
        let groups = [
            json!([
                [{"linux": {"namespaces": ns(&["pid", "time"])}}, "linux.namespaces[1].type",
                 "\"time\" is not supported by ringmon (supported: pid, network, mount, ipc, uts, \
                  cgroup, user)"],
                [{"linux": {"namespaces": ns(&["pid", "pid"])}}, "linux.namespaces[1].type",
                 "\"pid\" appears more than once"],
                [{"linux": {"namespaces": [{"type": "mount", "path": "/proc/1/ns/mnt"}]}},
                 "linux.namespaces[0].path", "joining a mount namespace is not supported"],
                [{"linux": {"namespaces": [{"type": "user", "path": "/proc/1/ns/user"}]}},
                 "linux.namespaces[0].path", "joining a user namespace is not supported"],
                [{"linux": {"namespaces": [{"type": "ipc", "path": "ns/ipc"}]}},
                 "linux.namespaces[0].path", "\"ns/ipc\" is not an absolute path"],
                [{"hostname": "h", "linux": {"namespaces": pid}}, "hostname",
                 "needs a uts namespace"]
            ]),
            json!([
                [{"linux": {"sysctl": {"vm.swappiness": "0"}}}, "linux.sysctl.\"vm.swappiness\"",
                 "not a namespaced sysctl"],
                [{"linux": {"namespaces": pid, "sysctl": {"net.core.somaxconn": "1"}}},
                 "linux.sysctl.\"net.core.somaxconn\"",
                 "needs a network namespace in linux.namespaces"],
                [{"linux": {"namespaces": pid, "sysctl": {"kernel.sem": "1"}}},
                 "linux.sysctl.\"kernel.sem\"", "needs an ipc namespace"],
                [{"linux": {"sysctl": {"net/ipv4/ip_forward": "1"}}},
                 "linux.sysctl.\"net/ipv4/ip_forward\"", "dotted name"],
                [{"linux": {"uidMappings": map}}, "linux.uidMappings", "needs a user namespace"],
                [{"linux": {"namespaces": ns(&["user"]), "uidMappings": map}}, "linux.gidMappings",
                 "required by the user namespace"],
                [{"linux": {"rootfsPropagation": "slaved"}}, "linux.rootfsPropagation",
                 "\"slaved\" is not a mount propagation (supported: private, rprivate, slave"]
            ]),
            json!([
            [mnt(json!({"destination": "tmp", "type": "tmpfs"})), "mounts[0].destination",
             "\"tmp\" is not an absolute path"],
            [mnt(json!({"destination": "/a/../etc", "type": "tmpfs"})), "mounts[0].destination",
             "\"..\""],
            [mnt(json!({"destination": "/x", "type": "cgroup2"})), "mounts[0].type",
             "\"cgroup2\" is not supported by ringmon yet (cgroup mounts are not implemented)"],
            [mnt(json!({"destination": "/x", "type": "overlay"})), "mounts[0].type",
             "\"overlay\" is not supported by ringmon (supported: proc, sysfs"],
            [mnt(json!({"destination": "/x", "source": "/y", "options": ["ro"]})), "mounts[0].type",
             "needed unless options contain \"bind\" or \"rbind\""],
            [opts(&["ro", "rro"]), "mounts[0].options[1]",
             "\"rro\" is a recursive mount flag, which ringmon does not support"],
            [opts(&["idmap"]), "mounts[0].options[0]", "(idmapped mounts are not implemented)"],
            [opts(&["X-mount.mkdir=0755"]), "mounts[0].options[0]", "X-mount options"],
            [opts(&["nosuid", "tmpcopyup"]), "mounts[0].options[1]",
             "\"tmpcopyup\" is not a mount option ringmon supports"]
        ]),
            json!([
                [{"process": {"capabilities": {"bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_X"]}}},
                 "process.capabilities.bounding[2]", "\"CAP_X\" is not a known capability"],
                [{"process": {"rlimits": [rl("RLIMIT_FOO", 1, 1)]}}, "process.rlimits[0].type",
                 "\"RLIMIT_FOO\" is not a known rlimit"],
                [{"process": {"rlimits": [rl("RLIMIT_AS", 1, 2)]}}, "process.rlimits[0].soft",
                 "soft limit 2 is above the hard limit 1"],
                [{"process": {"rlimits": [rl("RLIMIT_AS", 1, 1), rl("RLIMIT_AS", 2, 2)]}},
                 "process.rlimits[1].type", "RLIMIT_AS appears more than once"],
                [{"process": {"oomScoreAdj": 1001}}, "process.oomScoreAdj",
                 "expected an integer from -1000 to 1000, found 1001"],
                [{"process": {"env": ["PATH=/bin", "TERM"]}}, "process.env[1]", "NAME=value"],
                [{"process": {"cwd": "tmp"}}, "process.cwd", "\"tmp\" is not an absolute path"],
                [{"ociVersion": "2.0.0"}, "ociVersion", "\"2.0.0\" is not a 1.x OCI version"]
            ]),
            json!([
                [{"root": {"path": ""}}, "root.path", "must not be empty"],
                [{"linux": {"uidMappings": [{"hostID": 1, "size": 1}]}},
                 "linux.uidMappings[0].containerID", "required field is missing"],
                [{"process": {"args": "sh"}}, "process.args",
                 "expected an array of strings, found a string"],
                [{"process": {"args": ["sh", 1]}}, "process.args[1]", "expected a string, found 1"],
                [{"process": {"user": {"uid": -1}}}, "process.user.uid",
                 "expected an unsigned 32-bit integer, found -1"],
                [{"annotations": {"a": true}}, "annotations.\"a\"",
                 "expected a string, found true"],
                [{"process": {"user": {"gid": 4_294_967_296u64}}}, "process.user.gid",
                 "expected an unsigned 32-bit integer, found 4294967296"],
                [{"linux": {"seccomp": "unconfined"}}, "linux.seccomp",
                 "expected an object, found a string"]
            ]),
            json!([
                [{"linux": {"cgroupsPath": ""}}, "linux.cgroupsPath", "must not be empty"],
                [{"linux": {"cgroupsPath": "/a/../b"}}, "linux.cgroupsPath",
                 "\"/a/../b\" has a \".\" or \"..\" component"],
                [{"linux": {"cgroupsPath": "a/./b"}}, "linux.cgroupsPath", "\".\" or \"..\""],
                [{"linux": {"cgroupsPath": "/a//b"}}, "linux.cgroupsPath",
                 "\"/a//b\" has an empty component"],
                [{"linux": {"cgroupsPath": "/a/"}}, "linux.cgroupsPath", "an empty component"],
                [{"linux": {"cgroupsPath": "/"}}, "linux.cgroupsPath", "an empty component"],
                [{"linux": {"cgroupsPath": "a\0b"}}, "linux.cgroupsPath",
                 "\"a\\0b\" contains a NUL byte"],
                [{"linux": {"cgroupsPath": 7}}, "linux.cgroupsPath", "expected a string, found 7"]
            ]),
            json!([
                [{"linux": {"resources": {"memory": {"limit": "1G"}}}},
                 "linux.resources.memory.limit",
                 "expected a signed 64-bit integer, found a string"],
                [{"linux": {"resources": {"memory": {"swappiness": -1}}}},
                 "linux.resources.memory.swappiness",
                 "expected an unsigned 64-bit integer, found -1"],
                [{"linux": {"resources": {"cpu": {"cpus": [0, 1]}}}}, "linux.resources.cpu.cpus",
                 "expected a string, found an array"],
                [{"linux": {"resources": {"pids": {"limit": true}}}}, "linux.resources.pids.limit",
                 "expected a signed 64-bit integer, found true"],
                [{"linux": {"resources": {"pids": {"limit": null, "x": null}, "memory": {}}}},
                 "linux.resources.pids.limit", "required field is missing"],
                [{"linux": {"resources": {"pids": {"limit": 9.5}, "memory": {"limit": 1.5}}}},
                 "linux.resources.memory.limit", "found 1.5"],
                [{"linux": {"resources": {"blockIO": {"weight": 70000}}}},
                 "linux.resources.blockIO.weight", "expected an integer from 0 to 65535"],
                [{"linux": {"resources": {"blockIO": {"weightDevice": [{"major": 8}]}}}},
                 "linux.resources.blockIO.weightDevice[0].minor", "required field is missing"],
                [{"linux": {"resources": {"hugepageLimits": [{"limit": 1}]}}},
                 "linux.resources.hugepageLimits[0].pageSize", "required field is missing"],
                [{"linux": {"resources": {"network": {"classID": -1}}}},
                 "linux.resources.network.classID", "expected an unsigned 32-bit integer"]
            ]),
            json!([
                [{"linux": {"resources": {"devices": [{"access": "rwm"}]}}},
                 "linux.resources.devices[0].allow", "required field is missing"],
                [{"linux": {"resources": {"devices": [{"allow": "yes"}]}}},
                 "linux.resources.devices[0].allow", "expected a boolean, found a string"],
                [{"linux": {"resources": {"devices": [{"allow": true, "type": "x"}]}}},
                 "linux.resources.devices[0].type",
                 "\"x\" is not a device type (supported: a, b, c, u, p)"],
                [{"linux": {"resources": {"devices": [{"allow": true, "access": "rwx"}]}}},
                 "linux.resources.devices[0].access", "\"rwx\" is not a combination of r, w and m"],
                [{"linux": {"resources": {"devices": [{"allow": true, "access": ""}]}}},
                 "linux.resources.devices[0].access", "\"\" is not a combination"],
                [{"linux": {"resources": {"unified": {"memory.high": 5}}}},
                 "linux.resources.unified.\"memory.high\"", "expected a string, found 5"],
                [{"linux": {"resources": {"rdma": ["mlx5_1"]}}}, "linux.resources.rdma",
                 "expected an object, found an array"]
            ]),
        ];
        for case in groups.iter().flat_map(|g| g.as_array().expect("cases")) {
            match check(&with(&case[0])) {
                Err(SpecError::Invalid { path, message }) => {
                    assert_eq!(path, case[1]);
                    let want = case[2].as_str().expect("a message");
                    assert!(message.contains(want), "{path}: {message:?} lacks {want:?}");
                }
                other => panic!("{}: expected Invalid, got {other:?}", case[1]),
            }
        }
        let err = check(&with(&groups[1][0][0])).expect_err("vm.swappiness is refused");
        assert_eq!(
            err.to_string(),
            "linux.sysctl.\"vm.swappiness\": not a namespaced sysctl"
        );
    }

    #[derive(Clone, Copy, Debug)]
    enum Step {
        Key(&'static str),
        First,
    }

    /// Every node of the allowlist, plus an unknown key in each object, with its kind.
    fn nodes(fields: &'static [Field], at: &[Step], out: &mut Vec<(Vec<Step>, &'static Kind)>) {
        out.push((
            [at, &[Step::Key("bogusKey")]].concat(),
            &Kind::Refused(None),
        ));
        for Field(name, kind, _) in fields {
            let path = [at, &[Step::Key(name)]].concat();
            match kind {
                Kind::Obj(inner) => nodes(inner, &path, out),
                Kind::List(Kind::Obj(inner)) => {
                    nodes(inner, &[&path[..], &[Step::First]].concat(), out)
                }
                _ => {}
            }
            out.push((path, kind));
        }
    }

    /// Present (non-absent) values that `kind` must refuse.
    fn wrong_values(kind: &Kind) -> Vec<Value> {
        match kind {
            Kind::Str(_) => vec![json!(7), json!(false), json!(["a"]), json!({"a": "b"})],
            Kind::Bool => vec![json!("true"), json!(1), json!([true])],
            Kind::U32 | Kind::U64 | Kind::Int(..) => vec![json!("1"), json!(1.5), json!(-5000)],
            Kind::I64 => vec![json!("1"), json!(1.5), json!(u64::MAX)],
            Kind::List(_) => vec![json!("a"), json!({"a": 1}), json!([null]), json!([[1]])],
            Kind::Map(_) => vec![json!("a"), json!(["a"]), json!({"k": 1})],
            Kind::Obj(_) | Kind::Opaque => vec![json!("a"), json!(3), json!(["a"])],
            Kind::Refused(_) => vec![json!("a"), json!({"a": 1}), json!(true)],
        }
    }

    /// Puts `value` at `steps`, making objects and one-element arrays on the way; gives up
    /// where an earlier value is in the way.
    fn insert(node: &mut Value, steps: &[Step], value: Value) {
        match (steps, node) {
            ([], node) => *node = value,
            ([Step::Key(k), rest @ ..], Value::Object(map)) => {
                let list = matches!(rest.first(), Some(Step::First));
                let fresh = if list { json!([]) } else { json!({}) };
                insert(map.entry(*k).or_insert(fresh), rest, value)
            }
            ([Step::First, rest @ ..], Value::Array(items)) => {
                if items.is_empty() {
                    items.push(json!({}));
                }
                insert(&mut items[0], rest, value)
            }
            _ => {}
        }
    }

    fn top(path: &str) -> &str {
        path.split(['.', '[']).next().unwrap_or_default()
    }

    proptest! {
        #[test]
        fn wrong_types_are_reported_under_their_top_level_key(
            picks in prop::collection::vec(any::<(sample::Index, sample::Index)>(), 1..6)
        ) {
            let mut all = Vec::new();
            nodes(TOP, &[], &mut all);
            let mut doc = json!({"ociVersion": "1.0.2", "root": {"path": "rootfs"}});
            let mut tops = Vec::new();
            for (node, value) in picks {
                let (steps, kind) = node.get(&all);
                insert(&mut doc, steps, value.get(&wrong_values(kind)).clone());
                if let Some(Step::Key(k)) = steps.first() {
                    tops.push(*k);
                }
            }
            let err = check(&doc).expect_err("a wrong value is never accepted");
            prop_assert!(tops.contains(&top(path_of(&err))), "{err} not under {tops:?} in {doc}");
        }
    }
}
