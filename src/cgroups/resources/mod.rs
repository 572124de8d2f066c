//! Turns an OCI `linux.resources` into the cgroup file writes that enforce it.
//!
//! Each controller is served by cgroup v1 or v2 on a host ([`Host`] says which), and one field
//! becomes different files and values on each, as runc's `fs` and `fs2` drivers write them
//! (a memory+swap total becomes a swap extra in `memory.swap.max`, cpu shares become a
//! weight). Whatever the host cannot enforce is refused with the field's JSON path and why,
//! never dropped: a limit the user believes in must exist. This module only plans; it never
//! touches the filesystem and learns about the host only through [`Host`].

use std::collections::HashMap;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxHugepageLimit, LinuxMemory,
    LinuxNetwork, LinuxResources, LinuxThrottleDevice,
};

use crate::cgroups::controller::Controller::{
    self, Cpu, Cpuset, Devices, Hugetlb, Io, Memory, NetCls, NetPrio, Pids, Rdma,
};
use crate::cgroups::controller::Version::{self, V1, V2};

/// One write into a container's cgroup: `value` into `file` of the directory that serves
/// `controller`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub controller: Controller,
    pub version: Version,
    pub file: String,
    pub value: String,
}

/// What the host offers, asked through closures so tests can fake it.
pub struct Host<'a> {
    /// Which cgroup version serves this controller on this host for containers, or None when
    /// the host has no usable such controller.
    pub version: &'a dyn Fn(Controller) -> Option<Version>,
    /// Whether a controller's interface file exists on this host (e.g.
    /// "memory.memsw.limit_in_bytes", "cpu.rt_runtime_us", "blkio.bfq.weight",
    /// "memory.swap.max"); asked only for optional files.
    pub has_file: &'a dyn Fn(Controller, &str) -> bool,
    /// Whether a unified (cgroup2) directory exists for the container (pure v2 or hybrid);
    /// `linux.resources.unified` needs it.
    pub unified: bool,
}

const RES: &str = "linux.resources";

/// Device nodes ringmon's init creates (/dev/null, zero, full, random, urandom, tty) or opens
/// after joining the cgroup (/dev/ptmx, /dev/pts/*), allowed after the spec's own rules as
/// runc appends its AllowedDevices.
const INIT_DEVICES: [&str; 8] = [
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
];

/// blockIO's throttle lists: the field, its v1 file after "blkio.throttle.", its io.max key.
const THROTTLES: [(&str, &str, &str); 4] = [
    ("throttleReadBpsDevice", "read_bps_device", "rbps"),
    ("throttleWriteBpsDevice", "write_bps_device", "wbps"),
    ("throttleReadIOPSDevice", "read_iops_device", "riops"),
    ("throttleWriteIOPSDevice", "write_iops_device", "wiops"),
];

/// Returns `Err("<path>: <why>")` from the enclosing function.
macro_rules! refuse {
    ($path:expr, $($why:tt)+) => {
        return Err(format!("{}: {}", $path, format_args!($($why)+)))
    };
}

/// The controllers the resources need (besides the ones ringmon always uses).
pub fn controllers_needed(res: &LinuxResources) -> Vec<Controller> {
    let cpu = res.cpu().as_ref();
    let net = res.network().as_ref();
    let prios = net.is_some_and(|n| !list(n.priorities()).is_empty());
    let io = |b: &LinuxBlockIo| {
        let lists = throttles(b).map(|t| list(t).len());
        b.weight().is_some()
            || b.leaf_weight().is_some()
            || !list(b.weight_device()).is_empty()
            || lists.iter().any(|n| *n > 0)
    };
    let memory = res.memory().is_some_and(|m| m != LinuxMemory::default());
    let mut needed: Vec<Controller> = [
        (Cpuset, cpu.is_some_and(|c| set(c.cpus()) || set(c.mems()))),
        (Memory, memory),
        (Cpu, cpu.is_some_and(uses_cpu)),
        (Pids, res.pids().is_some()),
        (Io, res.block_io().as_ref().is_some_and(io)),
        (Hugetlb, !list(res.hugepage_limits()).is_empty()),
        (NetCls, net.is_some_and(|n| n.class_id().is_some())),
        (NetPrio, prios),
        (Rdma, res.rdma().as_ref().is_some_and(|r| !r.is_empty())),
        (Devices, !list(res.devices()).is_empty()),
    ]
    .into_iter()
    .filter_map(|(c, needed)| needed.then_some(c))
    .collect();
    let unified = res.unified().iter().flatten();
    needed.extend(unified.filter_map(|(key, _)| unified_controller(key)));
    needed.sort();
    needed.dedup();
    needed
}

/// The writes that enforce `res`, in the order they must be applied; Err names the first
/// field the host cannot enforce: "linux.resources.memory.swap: ..." .
pub fn plan(res: &LinuxResources, host: &Host<'_>) -> Result<Vec<Write>, String> {
    let mut p = Plan {
        host,
        writes: Vec::new(),
    };
    if let Some(cpu) = res.cpu() {
        p.cpuset(cpu)?;
    }
    if let Some(memory) = res.memory() {
        p.memory(memory)?;
    }
    if let Some(cpu) = res.cpu() {
        p.cpu(cpu)?;
    }
    if let Some(pids) = res.pids() {
        let v = p.version(Pids, &format!("{RES}.pids.limit"))?;
        // As runc: 0 and negative limits mean no limit.
        let limit = pids.limit();
        let limit = if limit > 0 {
            limit.to_string()
        } else {
            "max".into()
        };
        p.write(Pids, v, "pids.max", limit);
    }
    if let Some(block_io) = res.block_io() {
        p.block_io(block_io)?;
    }
    p.hugepages(list(res.hugepage_limits()))?;
    if let Some(network) = res.network() {
        p.network(network)?;
    }
    if res.rdma().as_ref().is_some_and(|r| !r.is_empty()) {
        refuse!(format!("{RES}.rdma"), "not supported by ringmon");
    }
    p.devices(list(res.devices()))?;
    if let Some(unified) = res.unified() {
        p.unified(unified)?;
    }
    Ok(p.writes)
}

/// A weight's version, file, and value as that file counts it.
type Weight = (Version, &'static str, u64);

struct Plan<'h, 'a> {
    host: &'h Host<'a>,
    writes: Vec<Write>,
}

impl Plan<'_, '_> {
    /// The version serving `c`, or the refusal of the field at `path` that needs it.
    fn version(&self, c: Controller, path: &str) -> Result<Version, String> {
        (self.host.version)(c).ok_or_else(|| {
            let (v1, v2) = (c.v1_name(), c.v2_name());
            let name = match v2 {
                Some(v2) if v2 != v1 => format!("{v1} or {v2}"),
                _ => v1.to_owned(),
            };
            let why = match v2 {
                None if self.host.unified => " (not available on cgroup v2)",
                _ => "",
            };
            format!("{path}: this host has no usable {name} controller{why}")
        })
    }

    /// Like [`Plan::version`] for a controller that exists only in cgroup v1.
    fn v1_only(&self, c: Controller, path: &str) -> Result<(), String> {
        match self.version(c, path)? {
            V1 => Ok(()),
            V2 => refuse!(path, "not available on cgroup v2"),
        }
    }

    fn has(&self, c: Controller, file: &str) -> bool {
        (self.host.has_file)(c, file)
    }

    fn write(&mut self, c: Controller, v: Version, file: &str, value: impl ToString) {
        let (file, value) = (file.to_owned(), value.to_string());
        self.writes.push(Write {
            controller: c,
            version: v,
            file,
            value,
        });
    }

    fn cpuset(&mut self, cpu: &LinuxCpu) -> Result<(), String> {
        for (field, value) in [("cpus", cpu.cpus()), ("mems", cpu.mems())] {
            let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else {
                continue;
            };
            let p = format!("{RES}.cpu.{field}");
            let list = |c: char| c.is_ascii_digit() || ",-:/".contains(c);
            if !value.chars().all(list) {
                refuse!(p, "{value:?} is not a list such as \"0-3,6\"");
            }
            let v = self.version(Cpuset, &p)?;
            self.write(Cpuset, v, &format!("cpuset.{field}"), value);
        }
        Ok(())
    }

    fn memory(&mut self, m: &LinuxMemory) -> Result<(), String> {
        let path = |field: &str| format!("{RES}.memory.{field}");
        for (field, value) in [("kernel", m.kernel()), ("kernelTCP", m.kernel_tcp())] {
            if value.is_some() {
                let why = "kernel memory limits are deprecated and not enforced by Linux 6.x";
                refuse!(path(field), "{why}");
            }
        }
        if m.use_hierarchy() == Some(false) {
            let why = "the kernel always accounts memory hierarchically";
            refuse!(path("useHierarchy"), "false is not supported ({why})");
        }
        let limit = m.limit();
        if let Some(limit) = limit {
            let p = path("limit");
            if limit <= 0 && limit != -1 {
                refuse!(p, "{limit} is neither a positive byte count nor -1");
            }
            let v = self.version(Memory, &p)?;
            let file = pick(v, "memory.limit_in_bytes", "memory.max");
            self.write(Memory, v, file, bytes(v, limit));
        }
        // As runc: an unlimited memory without a swap setting means unlimited swap too.
        let implicit = m.swap().is_none() && limit == Some(-1);
        if let Some(swap) = m.swap().or(implicit.then_some(-1)) {
            self.swap(swap, limit)?;
        }
        if let Some(reservation) = m.reservation() {
            let p = path("reservation");
            if reservation < -1 {
                refuse!(p, "{reservation} is neither a byte count nor -1");
            }
            let v = self.version(Memory, &p)?;
            let file = pick(v, "memory.soft_limit_in_bytes", "memory.low");
            self.write(Memory, v, file, bytes(v, reservation));
        }
        if let Some(swappiness) = m.swappiness() {
            let p = path("swappiness");
            match self.version(Memory, &p)? {
                V2 => refuse!(p, "cgroup v2 has no per-cgroup swappiness"),
                V1 if swappiness > 100 => refuse!(p, "{swappiness} is above 100"),
                V1 => self.write(Memory, V1, "memory.swappiness", swappiness),
            }
        }
        if m.disable_oom_killer() == Some(true) {
            let p = path("disableOOMKiller");
            match self.version(Memory, &p)? {
                V2 => refuse!(p, "cgroup v2 cannot disable the OOM killer"),
                V1 => self.write(Memory, V1, "memory.oom_control", "1"),
            }
        }
        Ok(())
    }

    /// `swap` is the memory+swap total (-1: unlimited); v2 limits only the swap beyond memory.
    fn swap(&mut self, swap: i64, limit: Option<i64>) -> Result<(), String> {
        let p = format!("{RES}.memory.swap");
        let extra = match (swap, limit) {
            (-1, _) => None,
            (..=-2, _) => refuse!(p, "{swap} is neither a byte count nor -1"),
            (_, None | Some(-1)) => refuse!(p, "needs a memory.limit to add to"),
            (_, Some(limit)) if swap < limit => {
                let why = "swap is the memory+swap total";
                refuse!(p, "{swap} is below memory.limit {limit} ({why})");
            }
            (_, Some(limit)) => Some(swap - limit),
        };
        let v = self.version(Memory, &p)?;
        let file = pick(v, "memory.memsw.limit_in_bytes", "memory.swap.max");
        if !self.has(Memory, file) {
            // Without swap accounting, "no extra swap" and "unlimited" hold anyway (runc fs2).
            if extra.is_some_and(|extra| extra > 0) {
                let why = "swap accounting is off";
                refuse!(
                    p,
                    "this host has no {file} ({why}), so swap cannot be limited"
                );
            }
            return Ok(());
        }
        let value = match (v, extra) {
            (V1, _) => swap.to_string(),
            (V2, None) => "max".to_owned(),
            (V2, Some(extra)) => extra.to_string(),
        };
        self.write(Memory, v, file, value);
        Ok(())
    }

    fn cpu(&mut self, c: &LinuxCpu) -> Result<(), String> {
        let path = |field: &str| format!("{RES}.cpu.{field}");
        let rt_period = c.realtime_period().map(|n| n.to_string());
        let rt_runtime = c.realtime_runtime().map(|n| n.to_string());
        let realtime = [
            ("realtimePeriod", "cpu.rt_period_us", rt_period),
            ("realtimeRuntime", "cpu.rt_runtime_us", rt_runtime),
        ];
        for (field, file, value) in realtime {
            let Some(value) = value else { continue };
            let p = path(field);
            match self.version(Cpu, &p)? {
                V2 => refuse!(p, "cgroup v2 has no realtime cpu limits"),
                V1 if !self.has(Cpu, file) => {
                    refuse!(p, "this host has no {file} (no CONFIG_RT_GROUP_SCHED)")
                }
                V1 => self.write(Cpu, V1, file, value),
            }
        }
        if let Some(shares) = c.shares().filter(|s| *s != 0) {
            match self.version(Cpu, &path("shares"))? {
                V1 => self.write(Cpu, V1, "cpu.shares", shares),
                V2 => self.write(Cpu, V2, "cpu.weight", shares_to_weight(shares)),
            }
        }
        // As runc, 0 leaves a quota or period unset; a negative quota is no quota.
        let quota = c.quota().filter(|q| *q != 0);
        let period = c.period().filter(|p| *p != 0);
        if let Some(period) = period.filter(|p| !(1000..=1_000_000).contains(p)) {
            refuse!(
                path("period"),
                "{period} is not from 1000 to 1000000 microseconds"
            );
        }
        if let Some(quota) = quota.filter(|q| (1..1000).contains(q)) {
            refuse!(
                path("quota"),
                "{quota} is below the kernel's 1000 microseconds"
            );
        }
        if quota.is_some() || period.is_some() {
            let field = if quota.is_some() { "quota" } else { "period" };
            match self.version(Cpu, &path(field))? {
                V1 => {
                    if let Some(period) = period {
                        self.write(Cpu, V1, "cpu.cfs_period_us", period);
                    }
                    if let Some(quota) = quota {
                        self.write(Cpu, V1, "cpu.cfs_quota_us", quota.max(-1));
                    }
                }
                V2 => {
                    let quota = quota.filter(|q| *q > 0);
                    let quota = quota.map_or("max".to_owned(), |q| q.to_string());
                    let max = format!("{quota} {}", period.unwrap_or(100_000));
                    self.write(Cpu, V2, "cpu.max", max);
                }
            }
        }
        if let Some(burst) = c.burst() {
            let p = path("burst");
            let v = self.version(Cpu, &p)?;
            let file = pick(v, "cpu.cfs_burst_us", "cpu.max.burst");
            if !self.has(Cpu, file) {
                refuse!(p, "this host has no {file}");
            }
            if let Some(quota) = quota.filter(|q| *q > 0 && burst > q.unsigned_abs()) {
                refuse!(p, "{burst} is above cpu.quota {quota}");
            }
            self.write(Cpu, v, file, burst);
        }
        if let Some(idle) = c.idle() {
            let p = path("idle");
            let v = self.version(Cpu, &p)?;
            if idle != 0 && idle != 1 {
                refuse!(p, "{idle} is neither 0 nor 1");
            }
            if !self.has(Cpu, "cpu.idle") {
                refuse!(p, "this host has no cpu.idle (Linux 5.15 added it)");
            }
            self.write(Cpu, v, "cpu.idle", idle);
        }
        Ok(())
    }

    fn block_io(&mut self, b: &LinuxBlockIo) -> Result<(), String> {
        let path = |field: &str| format!("{RES}.blockIO.{field}");
        let leaf = "leaf weights went with the CFQ scheduler (Linux 5.0)";
        if b.leaf_weight().is_some() {
            refuse!(path("leafWeight"), "{leaf}");
        }
        let devices = list(b.weight_device());
        if let Some(i) = devices.iter().position(|d| d.leaf_weight().is_some()) {
            refuse!(path(&format!("weightDevice[{i}].leafWeight")), "{leaf}");
        }
        if let Some(weight) = b.weight() {
            let (v, file, weight) = self.weight(&path("weight"), weight, false)?;
            let value = match v {
                V1 => weight.to_string(),
                V2 => format!("default {weight}"),
            };
            self.write(Io, v, file, value);
        }
        for (i, d) in devices.iter().enumerate() {
            let Some(weight) = d.weight() else { continue };
            let p = path(&format!("weightDevice[{i}]"));
            let dev = device(d.major(), d.minor(), &p)?;
            let (v, file, weight) = self.weight(&format!("{p}.weight"), weight, true)?;
            self.write(Io, v, file, format!("{dev} {weight}"));
        }
        for ((field, v1_file, key), throttles) in THROTTLES.into_iter().zip(throttles(b)) {
            for (i, t) in list(throttles).iter().enumerate() {
                let p = path(&format!("{field}[{i}]"));
                let dev = device(t.major(), t.minor(), &p)?;
                let v = self.version(Io, &p)?;
                let v1_file = format!("blkio.throttle.{v1_file}");
                let file = pick(v, &v1_file, "io.max");
                if !self.has(Io, file) {
                    refuse!(p, "this host has no {file} (no CONFIG_BLK_DEV_THROTTLING)");
                }
                // A rate of 0 removes the limit in v1; v2 spells that "max".
                let rate = Some(t.rate()).filter(|r| *r > 0);
                let value = match v {
                    V1 => format!("{dev} {}", t.rate()),
                    V2 => format!(
                        "{dev} {key}={}",
                        rate.map_or("max".into(), |r| r.to_string())
                    ),
                };
                self.write(Io, v, file, value);
            }
        }
        Ok(())
    }

    /// The file a proportional io weight goes to (a per-device one if `device`) and the
    /// weight as that file counts it. As runc: v1 prefers CFQ's file to BFQ's, v2 prefers
    /// BFQ's (OCI's own 10..=1000 scale) to iocost's `io.weight` (1..=10000).
    fn weight(&self, p: &str, weight: u16, device: bool) -> Result<Weight, String> {
        if !(10..=1000).contains(&weight) {
            refuse!(p, "{weight} is not from 10 to 1000");
        }
        let v = self.version(Io, p)?;
        let files = match (v, device) {
            (V1, false) => ["blkio.weight", "blkio.bfq.weight"],
            (V1, true) => ["blkio.weight_device", "blkio.bfq.weight_device"],
            (V2, _) => ["io.bfq.weight", "io.weight"],
        };
        let Some(file) = files.into_iter().find(|f| self.has(Io, f)) else {
            let [a, b] = files;
            refuse!(
                p,
                "this host has neither {a} nor {b} (no proportional io scheduler)"
            );
        };
        let weight = u64::from(weight);
        match file {
            "io.weight" => Ok((v, file, 1 + (weight - 10) * 9999 / 990)),
            _ => Ok((v, file, weight)),
        }
    }

    fn hugepages(&mut self, limits: &[LinuxHugepageLimit]) -> Result<(), String> {
        for (i, h) in limits.iter().enumerate() {
            let p = format!("{RES}.hugepageLimits[{i}]");
            let (size, limit) = (h.page_size(), h.limit());
            if !page_size(size) {
                refuse!(
                    format!("{p}.pageSize"),
                    "{size:?} is not a size such as \"2MB\""
                );
            }
            if limit < -1 {
                refuse!(
                    format!("{p}.limit"),
                    "{limit} is neither a byte count nor -1"
                );
            }
            let v = self.version(Hugetlb, &p)?;
            let suffix = pick(v, "limit_in_bytes", "max");
            let file = format!("hugetlb.{size}.{suffix}");
            if !self.has(Hugetlb, &file) {
                refuse!(
                    format!("{p}.pageSize"),
                    "this host has no {file} (no {size} pages)"
                );
            }
            self.write(Hugetlb, v, &file, bytes(v, limit));
            // Reservations count against the limit too where the kernel has them (runc).
            let rsvd = format!("hugetlb.{size}.rsvd.{suffix}");
            if self.has(Hugetlb, &rsvd) {
                self.write(Hugetlb, v, &rsvd, bytes(v, limit));
            }
        }
        Ok(())
    }

    fn network(&mut self, n: &LinuxNetwork) -> Result<(), String> {
        if let Some(id) = n.class_id() {
            self.v1_only(NetCls, &format!("{RES}.network.classID"))?;
            self.write(NetCls, V1, "net_cls.classid", id);
        }
        for (i, prio) in list(n.priorities()).iter().enumerate() {
            let p = format!("{RES}.network.priorities[{i}]");
            let name = prio.name();
            if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '/') {
                refuse!(format!("{p}.name"), "{name:?} is not an interface name");
            }
            self.v1_only(NetPrio, &p)?;
            let value = format!("{name} {}", prio.priority());
            self.write(NetPrio, V1, "net_prio.ifpriomap", value);
        }
        Ok(())
    }

    fn devices(&mut self, rules: &[LinuxDeviceCgroup]) -> Result<(), String> {
        if rules.is_empty() {
            return Ok(());
        }
        let p = format!("{RES}.devices");
        let ebpf =
            "cgroup v2 filters devices with an eBPF program, which ringmon does not implement";
        match (self.host.version)(Devices) {
            Some(V1) => {}
            Some(V2) => refuse!(p, "{ebpf}"),
            None if self.host.unified => refuse!(p, "{ebpf}"),
            None => return self.version(Devices, &p).map(drop),
        }
        for (i, rule) in rules.iter().enumerate() {
            let value = device_rule(rule).map_err(|m| format!("{p}[{i}].{m}"))?;
            let file = if rule.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            };
            self.write(Devices, V1, file, value);
        }
        for rule in INIT_DEVICES {
            self.write(Devices, V1, "devices.allow", rule);
        }
        Ok(())
    }

    fn unified(&mut self, unified: &HashMap<String, String>) -> Result<(), String> {
        let mut entries: Vec<_> = unified.iter().collect();
        entries.sort();
        for (key, value) in entries {
            let p = format!("{RES}.unified.{key:?}");
            if !self.host.unified {
                refuse!(p, "this host has no cgroup v2 hierarchy for the container");
            }
            if key.contains('/') || key.contains("..") || key.starts_with("cgroup.") {
                refuse!(p, "not a controller's interface file");
            }
            let Some(c) = unified_controller(key) else {
                let prefix = key.split('.').next().unwrap_or_default();
                refuse!(p, "{prefix:?} is not a cgroup v2 controller");
            };
            if (self.host.version)(c) != Some(V2) {
                let name = c.v2_name().unwrap_or_else(|| c.v1_name());
                refuse!(p, "the {name} controller is not on cgroup v2 on this host");
            }
            self.write(c, V2, key, value);
        }
        Ok(())
    }
}

fn set(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| !v.is_empty())
}

fn list<T>(value: &Option<Vec<T>>) -> &[T] {
    value.as_deref().unwrap_or_default()
}

fn throttles(b: &LinuxBlockIo) -> [&Option<Vec<LinuxThrottleDevice>>; 4] {
    [
        b.throttle_read_bps_device(),
        b.throttle_write_bps_device(),
        b.throttle_read_iops_device(),
        b.throttle_write_iops_device(),
    ]
}

fn uses_cpu(c: &LinuxCpu) -> bool {
    let ints = [c.quota(), c.realtime_runtime(), c.idle()];
    let uints = [c.shares(), c.burst(), c.period(), c.realtime_period()];
    ints.iter().any(Option::is_some) || uints.iter().any(Option::is_some)
}

/// "2MB", "1GB", "64KB": the sizes hugetlb file names spell.
fn page_size(size: &str) -> bool {
    let number = ["KB", "MB", "GB"].iter().find_map(|u| size.strip_suffix(u));
    number.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn unified_controller(key: &str) -> Option<Controller> {
    let (prefix, _) = key.split_once('.')?;
    Controller::from_v2_name(prefix)
}

fn pick<'s>(v: Version, v1: &'s str, v2: &'s str) -> &'s str {
    match v {
        V1 => v1,
        V2 => v2,
    }
}

/// A byte count, or -1 for unlimited, as each version spells it.
fn bytes(v: Version, n: i64) -> String {
    match n {
        ..=-1 => pick(v, "-1", "max").to_owned(),
        _ => n.to_string(),
    }
}

/// runc's ConvertCPUSharesToCgroupV2Value, with shares clamped to the range v1 accepts
/// (2..=262144) so the weight stays in v2's 1..=10000.
fn shares_to_weight(shares: u64) -> u64 {
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

/// "MAJ:MIN" of a device, refused at `path` unless both are device numbers.
fn device(major: i64, minor: i64, path: &str) -> Result<String, String> {
    for (field, n) in [("major", major), ("minor", minor)] {
        if u32::try_from(n).is_err() {
            refuse!(format!("{path}.{field}"), "{n} is not a device number");
        }
    }
    Ok(format!("{major}:{minor}"))
}

/// "TYPE MAJ:MIN ACCESS" for devices.allow or devices.deny; the error starts with the field.
fn device_rule(rule: &LinuxDeviceCgroup) -> Result<String, String> {
    let access = rule.access().as_deref().unwrap_or("rwm");
    if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
        refuse!("access", "{access:?} is not a combination of r, w and m");
    }
    let number = |n: Option<i64>, field: &str| match n {
        None | Some(-1) => Ok("*".to_owned()),
        Some(n) => match u32::try_from(n) {
            Ok(n) => Ok(n.to_string()),
            Err(_) => refuse!(field, "{n} is not a device number"),
        },
    };
    let major = number(rule.major(), "major")?;
    let minor = number(rule.minor(), "minor")?;
    let ty = match rule.typ().unwrap_or_default() {
        LinuxDeviceType::A => {
            // The kernel reads any rule that starts with "a" as every device, every access.
            let all = major == "*" && minor == "*" && "rwm".chars().all(|c| access.contains(c));
            if !all {
                refuse!(
                    "type",
                    "\"a\" means every device: no major, minor or partial access"
                );
            }
            return Ok("a".to_owned());
        }
        LinuxDeviceType::B => "b",
        // An unbuffered character device is a character device to the devices cgroup.
        LinuxDeviceType::C | LinuxDeviceType::U => "c",
        LinuxDeviceType::P => refuse!("type", "\"p\" (a fifo) is not under the devices cgroup"),
    };
    Ok(format!("{ty} {major}:{minor} {access}"))
}

#[cfg(test)]
mod tests;
