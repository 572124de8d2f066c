//! The container's spec, from one of three sources: a bundle's config.json, the default spec
//! ringmon generates for `--rootfs DIR`, or the embedded host-root default. The caller's
//! overrides (args, env, cwd, tty, user, hostname, volumes) are applied to the JSON, the
//! result is checked against what ringmon implements (`validate`), parsed with oci-spec and
//! reduced to the `ContainerPlan` the init executes.
//!
//! Everything here runs at create, in the daemon, before a process exists: an unsupported
//! field, a bad option or a missing rootfs is an API error naming it. Reading config.json
//! and resolving the rootfs are small synchronous filesystem calls on the loop (noted in
//! docs/architecture.md with the other metadata operations).

pub mod defaults;
pub mod mount_options;
pub mod plan;
pub mod validate;

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde_json::{json, Value};

use plan::{Capabilities, ContainerPlan, MountPlan, NsJoin, Rlimit};

/// Where the container's spec comes from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    Bundle(&'a Path),
    Rootfs(&'a Path),
    /// The embedded default: the host's root read-only.
    Host,
}

/// Flags of create/run that override the spec.
#[derive(Clone, Debug, Default)]
pub struct Overrides<'a> {
    pub args: &'a [String],
    pub env: &'a [String],
    pub cwd: Option<&'a str>,
    pub tty: Option<bool>,
    pub user: Option<&'a str>,
    pub hostname: Option<&'a str>,
    /// `SRC:DST[:ro|rw]` bind mounts.
    pub volumes: &'a [String],
    /// OCI linux.resources merged over the spec's (objects merge key by key).
    pub resources: Option<&'a Value>,
}

/// The process and the container, ready for the init.
#[derive(Debug)]
pub struct Prepared {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub tty: bool,
    pub winsize: Option<(u16, u16)>,
    pub plan: ContainerPlan,
    /// CLONE_NEW* flags of the namespaces the clone creates.
    pub clone_flags: i32,
    /// A pid namespace to join: the daemon enters it around the clone.
    pub pid_ns: Option<String>,
    /// No pid namespace of its own (the host's, or one joined by path): killing the init
    /// does not kill the rest, so kill-all needs the cgroup.
    pub shares_pid_ns: bool,
    /// linux.resources, enforced through the container's cgroup.
    pub resources: Option<oci_spec::runtime::LinuxResources>,
    /// linux.cgroupsPath.
    pub cgroups_path: Option<String>,
    /// The stop signal from the `org.opencontainers.image.stopSignal` annotation.
    pub stop_signal: Option<i32>,
}

/// The annotation that names a container's stop signal (as in an image's StopSignal).
pub const STOP_SIGNAL_ANNOTATION: &str = "org.opencontainers.image.stopSignal";

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Parse(PathBuf, serde_json::Error),
    #[error("{0}: {1}")]
    Check(String, validate::SpecError),
    #[error("{0}")]
    Invalid(String),
}

fn invalid(s: impl Into<String>) -> SpecError {
    SpecError::Invalid(s.into())
}

/// Loads, overrides, validates and plans a container's spec.
pub fn prepare(
    source: Source<'_>,
    o: &Overrides<'_>,
    default_hostname: &str,
    host_root_staging: &Path,
) -> Result<Prepared, SpecError> {
    let tty = o.tty.unwrap_or(false);
    let (mut doc, label, bundle) = match source {
        Source::Bundle(dir) => {
            let path = dir.join("config.json");
            let bytes = std::fs::read(&path).map_err(|e| SpecError::Read(path.clone(), e))?;
            let doc: Value =
                serde_json::from_slice(&bytes).map_err(|e| SpecError::Parse(path.clone(), e))?;
            (doc, path.display().to_string(), Some(dir))
        }
        Source::Rootfs(dir) => (
            defaults::runc_like(tty, &dir.display().to_string()),
            "the default spec for --rootfs".to_string(),
            None,
        ),
        Source::Host => (
            defaults::host(tty, default_hostname),
            "the embedded default spec".to_string(),
            None,
        ),
    };
    apply_overrides(&mut doc, o)?;
    validate::check(&doc).map_err(|e| SpecError::Check(label.clone(), e))?;
    let spec: Spec = serde_json::from_value(doc).map_err(|e| invalid(format!("{label}: {e}")))?;
    // `validate` leaves the inside of linux.seccomp to the module that compiles it.
    if let Some(s) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) {
        crate::init::seccomp::validate(s).map_err(|e| invalid(format!("{label}: {e}")))?;
    }
    to_prepared(&spec, bundle.unwrap_or(Path::new("/")), host_root_staging)
        .map_err(|e| invalid(format!("{label}: {e}")))
}

fn apply_overrides(doc: &mut Value, o: &Overrides<'_>) -> Result<(), SpecError> {
    if !doc.is_object() {
        return Err(invalid("config.json must hold a JSON object"));
    }
    if !doc["process"].is_object() {
        doc["process"] = json!({"user": {"uid": 0, "gid": 0}, "cwd": "/"});
    }
    let p = &mut doc["process"];
    if !o.args.is_empty() {
        p["args"] = json!(o.args);
    }
    if let Some(tty) = o.tty {
        p["terminal"] = json!(tty);
    }
    let tty = p["terminal"].as_bool().unwrap_or(false);
    let mut env: Vec<String> = match &p["env"] {
        Value::Array(a) => a
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    // Malformed entries are refused by `validate` (process.env[i] needs '=').
    for kv in o.env {
        let key = kv.split('=').next().unwrap_or("");
        env.retain(|b| b.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={}", defaults::DEFAULT_PATH));
    }
    if tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    p["env"] = json!(env);
    if let Some(cwd) = o.cwd {
        p["cwd"] = json!(cwd);
    }
    if let Some(user) = o.user {
        let (uid, gid) = parse_user(user)?;
        p["user"]["uid"] = json!(uid);
        p["user"]["gid"] = json!(gid);
        if let Some(obj) = p["user"].as_object_mut() {
            obj.remove("additionalGids");
        }
    }
    if let Some(h) = o.hostname {
        doc["hostname"] = json!(h);
    }
    if let Some(res) = o.resources {
        if !res.is_object() {
            return Err(invalid(
                "resources: expected an object (OCI linux.resources)",
            ));
        }
        if !doc["linux"].is_object() {
            doc["linux"] = json!({});
        }
        merge(&mut doc["linux"]["resources"], res);
    }
    for v in o.volumes {
        let m = parse_volume(v)?;
        match doc["mounts"].as_array_mut() {
            Some(a) => a.push(m),
            None => doc["mounts"] = json!([m]),
        }
    }
    Ok(())
}

/// Merges `over` into `base`: objects key by key, anything else replaced.
fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// `UID[:GID]`, numeric (names would need the container's /etc/passwd).
fn parse_user(s: &str) -> Result<(u32, u32), SpecError> {
    let mut it = s.splitn(2, ':');
    let num = |v: &str| {
        v.parse::<u32>().map_err(|_| {
            invalid(format!(
                "user: {s:?} is not UID[:GID] (numeric ids; names are not resolved)"
            ))
        })
    };
    let uid = num(it.next().unwrap_or(""))?;
    let gid = match it.next() {
        Some(g) => num(g)?,
        None => uid,
    };
    Ok((uid, gid))
}

/// `SRC:DST[:ro|rw]` as docker's -v takes it (absolute host path), as an rbind mount.
fn parse_volume(s: &str) -> Result<Value, SpecError> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || {
        invalid(format!(
            "volume {s:?} is not SRC:DST[:ro|rw] with absolute paths"
        ))
    };
    let (src, dst, mode) = match parts.as_slice() {
        [src, dst] => (*src, *dst, "rw"),
        [src, dst, mode] if *mode == "ro" || *mode == "rw" => (*src, *dst, *mode),
        _ => return Err(bad()),
    };
    if !src.starts_with('/') || !dst.starts_with('/') {
        return Err(bad());
    }
    Ok(json!({"destination": dst, "type": "bind", "source": src,
              "options": ["rbind", mode, "rprivate"]}))
}

fn to_prepared(spec: &Spec, base: &Path, staging: &Path) -> Result<Prepared, String> {
    let process = spec.process().as_ref().ok_or("process: missing")?;
    let args = process.args().clone().unwrap_or_default();
    if args.is_empty() {
        return Err(
            "process.args: no command (give one on the command line or in config.json)".into(),
        );
    }
    let cwd = process.cwd().display().to_string();
    if !cwd.starts_with('/') {
        return Err(format!("process.cwd: {cwd:?} must be an absolute path"));
    }
    let root = spec.root().as_ref().ok_or("root: missing")?;
    let rootfs = base.join(root.path());
    let rootfs = std::fs::canonicalize(&rootfs)
        .map_err(|e| format!("root.path: {}: {e}", rootfs.display()))?;
    if !rootfs.is_dir() {
        return Err(format!(
            "root.path: {} is not a directory",
            rootfs.display()
        ));
    }
    let host_root_at = (rootfs == Path::new("/")).then(|| staging.display().to_string());

    let linux = spec.linux().as_ref();
    let mut clone_flags = 0;
    let mut pid_ns = None;
    let mut join = Vec::new();
    let mut has_mount_ns = false;
    for ns in linux
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
    {
        let kind = ns.typ();
        let flag = kind as i32;
        match (kind, ns.path()) {
            (LinuxNamespaceType::User, _) => {
                return Err(
                    "linux.namespaces: user namespaces are not supported by ringmon yet".into(),
                )
            }
            (LinuxNamespaceType::Time, _) => {
                return Err("linux.namespaces: time namespaces are not supported by ringmon".into())
            }
            (LinuxNamespaceType::Mount, Some(_)) => {
                return Err("linux.namespaces: joining a mount namespace is not supported".into())
            }
            (LinuxNamespaceType::Mount, None) => {
                has_mount_ns = true;
                clone_flags |= flag;
            }
            (LinuxNamespaceType::Pid, Some(p)) => pid_ns = Some(p.display().to_string()),
            (_, Some(p)) => join.push(NsJoin {
                kind: kind.to_string(),
                flag,
                path: p.display().to_string(),
            }),
            (_, None) => clone_flags |= flag,
        }
    }
    if !has_mount_ns {
        return Err("linux.namespaces: a mount namespace is required (ringmon pivots into the container's root)".into());
    }

    let mut mounts = Vec::new();
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        let dest = m.destination().display().to_string();
        let mut plan: MountPlan = mount_options::parse(
            &dest,
            m.typ().as_deref(),
            m.source().as_ref().and_then(|s| s.to_str()),
            m.options().as_deref().unwrap_or(&[]),
        )
        .map_err(|e| format!("mounts[{i}] ({dest}): {e}"))?;
        if plan.bind && !Path::new(&plan.source).exists() {
            return Err(format!(
                "mounts[{i}] ({dest}): bind source {}: no such file or directory",
                plan.source
            ));
        }
        plan.destination = dest;
        mounts.push(plan);
    }

    let root_propagation = match linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        Some(p) => mount_options::propagation(p)
            .ok_or_else(|| format!("linux.rootfsPropagation: {p:?} is not a propagation type"))?,
        None => mount_options::MS_SLAVE | mount_options::MS_REC,
    };

    let caps = match process.capabilities() {
        Some(c) => {
            let set = |s: &Option<oci_spec::runtime::Capabilities>| {
                let names: Vec<String> = s.iter().flatten().map(|c| c.to_string()).collect();
                plan::cap_mask(&names)
            };
            Some(Capabilities {
                bounding: set(c.bounding())?,
                effective: set(c.effective())?,
                permitted: set(c.permitted())?,
                inheritable: set(c.inheritable())?,
                ambient: set(c.ambient())?,
            })
        }
        None => None,
    };
    let mut rlimits = Vec::new();
    for r in process.rlimits().iter().flatten() {
        let name = serde_json::to_value(r.typ())
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        if plan::rlimit_resource(&name).is_none() {
            return Err(format!("process.rlimits: {name} is not supported"));
        }
        rlimits.push(Rlimit {
            name,
            soft: r.soft(),
            hard: r.hard(),
        });
    }
    let user = process.user();
    let plan = ContainerPlan {
        rootfs: rootfs.display().to_string(),
        host_root_at,
        readonly_root: root.readonly().unwrap_or(false),
        root_propagation,
        join,
        mounts,
        masked_paths: linux
            .and_then(|l| l.masked_paths().clone())
            .unwrap_or_default(),
        readonly_paths: linux
            .and_then(|l| l.readonly_paths().clone())
            .unwrap_or_default(),
        hostname: spec.hostname().clone().filter(|h| !h.is_empty()),
        domainname: spec.domainname().clone().filter(|h| !h.is_empty()),
        sysctl: linux
            .and_then(|l| l.sysctl().clone())
            .map(|m| {
                let mut v: Vec<_> = m.into_iter().collect();
                v.sort();
                v
            })
            .unwrap_or_default(),
        rlimits,
        oom_score_adj: process.oom_score_adj(),
        umask: user.umask(),
        uid: user.uid(),
        gid: user.gid(),
        additional_gids: user.additional_gids().clone().unwrap_or_default(),
        capabilities: caps,
        no_new_privileges: process.no_new_privileges().unwrap_or(false),
        seccomp: linux.and_then(|l| l.seccomp().clone()),
        cgroup_procs: Vec::new(),
        cgroup_ahead: Vec::new(),
        unshare_cgroup_ns: false,
    };
    let stop_signal = match spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(STOP_SIGNAL_ANNOTATION))
    {
        Some(s) => Some(
            crate::supervisor::signals::parse_str(s)
                .map_err(|e| format!("annotations.{STOP_SIGNAL_ANNOTATION:?}: {e}"))?,
        ),
        None => None,
    };
    let winsize = process
        .console_size()
        .map(|b| (b.height() as u16, b.width() as u16))
        .filter(|(h, w)| *h > 0 && *w > 0);
    Ok(Prepared {
        args,
        env: process.env().clone().unwrap_or_default(),
        cwd,
        tty: process.terminal().unwrap_or(false),
        winsize,
        plan,
        shares_pid_ns: pid_ns.is_some() || clone_flags & libc::CLONE_NEWPID == 0,
        clone_flags,
        pid_ns,
        resources: linux.and_then(|l| l.resources().clone()),
        cgroups_path: linux
            .and_then(|l| l.cgroups_path().as_ref().map(|p| p.display().to_string())),
        stop_signal,
    })
}
