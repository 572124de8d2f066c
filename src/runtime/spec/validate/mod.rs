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
    walk(&Kind::Obj(TOP), doc, &At::Root)?;
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

/// Where `walk` is in the document, rendered ("linux.namespaces[2].type") only for an
/// error: building the label of every value eagerly was a third of a create's spec work.
enum At<'a> {
    Root,
    Field(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
    Key(&'a At<'a>, &'a str),
}

impl std::fmt::Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            At::Root => Ok(()),
            At::Field(At::Root, name) => f.write_str(name),
            At::Field(up, name) => write!(f, "{up}.{name}"),
            At::Index(up, i) => write!(f, "{up}[{i}]"),
            At::Key(up, k) => write!(f, "{up}.{k:?}"),
        }
    }
}

fn walk(kind: &Kind, value: &Value, path: &At<'_>) -> Result<(), SpecError> {
    let fits = match (kind, value) {
        (Kind::Str(Some(check)), Value::String(s)) => {
            return check(s).map_err(|m| invalid(path.to_string(), m))
        }
        (Kind::Str(None), _) => value.is_string(),
        (Kind::Bool, _) => value.is_boolean(),
        (Kind::U32, _) => value.as_u64().is_some_and(|n| u32::try_from(n).is_ok()),
        (Kind::U64, _) => value.as_u64().is_some(),
        (Kind::I64, _) => value.as_i64().is_some(),
        (Kind::Int(lo, hi), _) => value.as_i64().is_some_and(|n| (*lo..=*hi).contains(&n)),
        (Kind::Opaque, _) => value.is_object(),
        (Kind::Refused(reason), _) => {
            return Err(SpecError::Unsupported {
                path: path.to_string(),
                reason: *reason,
            });
        }
        (Kind::List(inner), Value::Array(items)) => {
            let mut items = items.iter().enumerate();
            return items.try_for_each(|(i, v)| walk(inner, v, &At::Index(path, i)));
        }
        (Kind::Map(inner), Value::Object(map)) => {
            return map
                .iter()
                .try_for_each(|(k, v)| walk(inner, v, &At::Key(path, k)));
        }
        (Kind::Obj(fields), Value::Object(map)) => {
            // Unknown keys first: a typo is the likeliest cause of anything else.
            let known = |k: &str| fields.iter().any(|f| f.0 == k);
            if let Some((key, _)) = map.iter().find(|(k, v)| !is_absent(v) && !known(k)) {
                let path = At::Field(path, key).to_string();
                return Err(SpecError::Unsupported { path, reason: None });
            }
            for Field(name, kind, required) in fields.iter() {
                let at = At::Field(path, name);
                match map.get(*name).filter(|v| !is_absent(v)) {
                    Some(v) => walk(kind, v, &at)?,
                    None if *required => {
                        return Err(invalid(at.to_string(), "required field is missing"))
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
            path.to_string(),
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
mod tests;
