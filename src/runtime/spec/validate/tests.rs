//! The allowlist: runc's default spec, every supported field, typos, wrong types, refusals.

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
    let groups =
        [
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
