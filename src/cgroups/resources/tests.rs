//! The resources planner on fake v1, v2 and hybrid hosts: every conversion and refusal.

use super::*;
use proptest::prelude::*;
use serde_json::{json, Value};

/// A fake host: `versions` names its layout ("v1", "v2", "hybrid": systemd's hybrid with
/// hugetlb moved to v2, "bare": no controllers), `missing` the optional files it lacks.
fn plan_on(versions: &str, missing: &Value, res: &Value) -> Result<Vec<Write>, String> {
    let versions = |c: Controller| match versions {
        "v1" => Some(V1),
        "v2" => c.v2_name().map(|_| V2),
        "hybrid" if c == Hugetlb => Some(V2),
        "hybrid" => [Memory, Pids, Cpu, Cpuset, Io, Devices]
            .contains(&c)
            .then_some(V1),
        _ => None,
    };
    let has_file =
        |_: Controller, file: &str| !missing.as_array().is_some_and(|m| m.contains(&json!(file)));
    let unified = Controller::ALL.iter().any(|c| versions(*c) == Some(V2));
    let res: LinuxResources = serde_json::from_value(res.clone()).expect("valid resources");
    let host = Host {
        version: &versions,
        has_file: &has_file,
        unified,
    };
    plan(&res, &host)
}

/// The planned writes as "file=value".
fn writes(versions: &str, missing: &Value, res: &Value) -> Vec<String> {
    let planned = plan_on(versions, missing, res).unwrap_or_else(|e| panic!("{res}: {e}"));
    planned
        .iter()
        .map(|w| format!("{}={}", w.file, w.value))
        .collect()
}

#[test]
fn every_field_becomes_its_files_on_each_version() {
    let groups = [
        json!([
            ["v1", [], {"memory": {"limit": 100, "swap": 300, "reservation": 50,
                "swappiness": 10, "disableOOMKiller": true, "useHierarchy": true,
                "checkBeforeUpdate": true}},
             ["memory.limit_in_bytes=100", "memory.memsw.limit_in_bytes=300",
              "memory.soft_limit_in_bytes=50", "memory.swappiness=10", "memory.oom_control=1"]],
            ["v2", [], {"memory": {"limit": 100, "swap": 300, "reservation": 50}},
             ["memory.max=100", "memory.swap.max=200", "memory.low=50"]],
            ["v2", [], {"memory": {"limit": 100, "swap": 100}},
             ["memory.max=100", "memory.swap.max=0"]],
            ["v1", [], {"memory": {"limit": -1}},
             ["memory.limit_in_bytes=-1", "memory.memsw.limit_in_bytes=-1"]],
            ["v2", [], {"memory": {"limit": -1, "reservation": -1}},
             ["memory.max=max", "memory.swap.max=max", "memory.low=max"]],
            ["v2", ["memory.swap.max"], {"memory": {"limit": 100, "swap": 100}},
             ["memory.max=100"]],
            ["v1", ["memory.memsw.limit_in_bytes"], {"memory": {"limit": 9, "swap": -1}},
             ["memory.limit_in_bytes=9"]]
        ]),
        json!([
            ["v1", [], {"pids": {"limit": 0}}, ["pids.max=max"]],
            ["v2", [], {"pids": {"limit": -1}}, ["pids.max=max"]],
            ["v2", [], {"pids": {"limit": 64}}, ["pids.max=64"]],
            ["v1", [], {"cpu": {"shares": 1024, "quota": 50000, "period": 100000, "burst": 1000,
                "realtimeRuntime": 950000, "realtimePeriod": 1000000,
                "cpus": "0-1", "mems": "0", "idle": 0}},
             ["cpuset.cpus=0-1", "cpuset.mems=0", "cpu.rt_period_us=1000000",
              "cpu.rt_runtime_us=950000", "cpu.shares=1024", "cpu.cfs_period_us=100000",
              "cpu.cfs_quota_us=50000", "cpu.cfs_burst_us=1000", "cpu.idle=0"]],
            ["v2", [], {"cpu": {"shares": 1024, "quota": 50000, "burst": 1000, "cpus": "0-3,6",
                "mems": "", "idle": 1}},
             ["cpuset.cpus=0-3,6", "cpu.weight=39", "cpu.max=50000 100000",
              "cpu.max.burst=1000", "cpu.idle=1"]],
            ["v2", [], {"cpu": {"period": 50000, "shares": 0}}, ["cpu.max=max 50000"]],
            ["v2", [], {"cpu": {"quota": -1}}, ["cpu.max=max 100000"]],
            ["v1", [], {"cpu": {"quota": -5, "period": 0}}, ["cpu.cfs_quota_us=-1"]]
        ]),
        json!([
            ["v1", [], {"blockIO": {"weight": 500,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 300},
                                 {"major": 8, "minor": 1}],
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 0}]}},
             ["blkio.weight=500", "blkio.weight_device=8:0 300",
              "blkio.throttle.read_bps_device=8:0 1000",
              "blkio.throttle.write_iops_device=8:16 0"]],
            ["v1", ["blkio.weight", "blkio.weight_device"], {"blockIO": {"weight": 500,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 300}]}},
             ["blkio.bfq.weight=500", "blkio.bfq.weight_device=8:0 300"]],
            ["v2", [], {"blockIO": {"weight": 500,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 300}],
                "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 5}],
                "throttleReadIOPSDevice": [{"major": 8, "minor": 16, "rate": 0}]}},
             ["io.bfq.weight=default 500", "io.bfq.weight=8:0 300", "io.max=8:0 wbps=5",
              "io.max=8:16 riops=max"]],
            ["v2", ["io.bfq.weight"], {"blockIO": {"weight": 10, "weightDevice": [
                {"major": 8, "minor": 0, "weight": 1000},
                {"major": 8, "minor": 1, "weight": 500}]}},
             ["io.weight=default 1", "io.weight=8:0 10000", "io.weight=8:1 4950"]],
            ["v1", [], {"hugepageLimits": [{"pageSize": "2MB", "limit": 1024},
                                           {"pageSize": "1GB", "limit": -1}]},
             ["hugetlb.2MB.limit_in_bytes=1024", "hugetlb.2MB.rsvd.limit_in_bytes=1024",
              "hugetlb.1GB.limit_in_bytes=-1", "hugetlb.1GB.rsvd.limit_in_bytes=-1"]],
            ["v2", ["hugetlb.2MB.rsvd.max"],
             {"hugepageLimits": [{"pageSize": "2MB", "limit": -1}]},
             ["hugetlb.2MB.max=max"]],
            ["hybrid", ["memory.memsw.limit_in_bytes", "hugetlb.64KB.rsvd.max"],
             {"memory": {"limit": 4096},
              "hugepageLimits": [{"pageSize": "64KB", "limit": 65536}]},
             ["memory.limit_in_bytes=4096", "hugetlb.64KB.max=65536"]],
            ["v1", [], {"network": {"classID": 1048577, "priorities": [
                {"name": "eth0", "priority": 5}, {"name": "lo", "priority": 0}]}},
             ["net_cls.classid=1048577", "net_prio.ifpriomap=eth0 5",
              "net_prio.ifpriomap=lo 0"]]
        ]),
        json!([
            ["v2", [], {"unified": {"pids.max": "10", "io.weight": "default 100",
                "memory.high": "1G"}, "rdma": {}, "devices": []},
             ["io.weight=default 100", "memory.high=1G", "pids.max=10"]]
        ]),
    ];
    for case in groups.iter().flat_map(|g| g.as_array().expect("cases")) {
        let host = case[0].as_str().expect("a host");
        let want: Vec<String> = serde_json::from_value(case[3].clone()).expect("strings");
        assert_eq!(writes(host, &case[1], &case[2]), want, "{}", case[2]);
    }
}

#[test]
fn device_rules_keep_their_order_and_end_with_what_init_needs() {
    let res = json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 200, "access": "rw"},
        {"allow": true, "type": "b", "major": 8},
        {"allow": false, "type": "u", "major": 4, "minor": -1, "access": "m"},
        {"allow": true, "type": "a", "major": -1}
    ]});
    let spec = [
        "devices.deny=a",
        "devices.allow=c 10:200 rw",
        "devices.allow=b 8:* rwm",
        "devices.deny=c 4:* m",
        "devices.allow=a",
    ];
    let init = INIT_DEVICES.map(|d| format!("devices.allow={d}"));
    let want: Vec<String> = spec.iter().map(|s| s.to_string()).chain(init).collect();
    assert_eq!(writes("v1", &json!([]), &res), want);
    assert_eq!(
        want.last().map(String::as_str),
        Some("devices.allow=c 136:* rwm")
    );
    let planned = plan_on("hybrid", &json!([]), &res).expect("devices are v1 on hybrid");
    assert!(planned
        .iter()
        .all(|w| (w.controller, w.version) == (Devices, V1)));
    assert_eq!(planned.len(), want.len());
}

#[test]
fn writes_name_the_controller_and_version_that_serve_them() {
    let res = json!({"memory": {"limit": 4096}, "pids": {"limit": 5}, "cpu": {"mems": "0"},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 0}], "blockIO": {"weight": 100}});
    let missing = json!(["memory.memsw.limit_in_bytes", "hugetlb.2MB.rsvd.max"]);
    let planned = plan_on("hybrid", &missing, &res).expect("a hybrid host enforces these");
    let served: Vec<_> = planned.iter().map(|w| (w.controller, w.version)).collect();
    let want = [
        (Cpuset, V1),
        (Memory, V1),
        (Pids, V1),
        (Io, V1),
        (Hugetlb, V2),
    ];
    assert_eq!(served, want);
    let unified = json!({"unified": {"memory.high": "max", "cpu.max": "max"}});
    let planned = plan_on("v2", &json!([]), &unified).expect("a v2 host");
    let (file, value) = ("cpu.max".to_owned(), "max".to_owned());
    let cpu = Write {
        controller: Cpu,
        version: V2,
        file,
        value,
    };
    assert_eq!(planned[0], cpu);
    assert_eq!((planned[1].controller, planned[1].version), (Memory, V2));
}

#[test]
fn what_the_host_cannot_enforce_is_refused_with_its_path() {
    let groups = [
        json!([
            ["v1", ["memory.memsw.limit_in_bytes"], {"memory": {"limit": 100, "swap": 200}},
             "linux.resources.memory.swap: this host has no memory.memsw.limit_in_bytes (swap \
              accounting is off), so swap cannot be limited"],
            ["v2", ["memory.swap.max"], {"memory": {"limit": 1, "swap": 2}},
             "linux.resources.memory.swap: this host has no memory.swap.max"],
            ["v2", [], {"memory": {"limit": 100, "swap": 50}},
             "linux.resources.memory.swap: 50 is below memory.limit 100 (swap is the \
              memory+swap total)"],
            ["v1", [], {"memory": {"swap": 50}},
             "linux.resources.memory.swap: needs a memory.limit"],
            ["v1", [], {"memory": {"limit": 5, "swap": -2}},
             "linux.resources.memory.swap: -2 is"],
            ["v1", [], {"memory": {"limit": 0}},
             "linux.resources.memory.limit: 0 is neither a positive byte count nor -1"],
            ["v1", [], {"memory": {"reservation": -3}},
             "linux.resources.memory.reservation: -3"],
            ["v1", [], {"memory": {"swappiness": 101}},
             "linux.resources.memory.swappiness: 101 is above 100"],
            ["v2", [], {"memory": {"swappiness": 0}},
             "linux.resources.memory.swappiness: cgroup v2 has no per-cgroup swappiness"]
        ]),
        json!([
            ["v2", [], {"memory": {"disableOOMKiller": true}},
             "linux.resources.memory.disableOOMKiller: cgroup v2 cannot disable the OOM \
              killer"],
            ["v1", [], {"memory": {"limit": 1, "kernel": 1}},
             "linux.resources.memory.kernel: kernel memory limits are deprecated and not \
              enforced by Linux 6.x"],
            ["v2", [], {"memory": {"kernelTCP": -1}},
             "linux.resources.memory.kernelTCP: kernel"],
            ["v1", [], {"memory": {"useHierarchy": false}},
             "linux.resources.memory.useHierarchy: false is not supported"],
            ["bare", [], {"memory": {"reservation": 1}},
             "linux.resources.memory.reservation: this host has no usable memory controller"],
            ["bare", [], {"blockIO": {"weight": 100}},
             "linux.resources.blockIO.weight: this host has no usable blkio or io controller"],
            ["bare", [], {"pids": {"limit": 1}},
             "linux.resources.pids.limit: this host has no usable pids controller"],
            ["v2", [], {"cpu": {"realtimeRuntime": 1}},
             "linux.resources.cpu.realtimeRuntime: cgroup v2 has no realtime cpu limits"],
            ["v1", ["cpu.rt_period_us"], {"cpu": {"realtimePeriod": 1}},
             "linux.resources.cpu.realtimePeriod: this host has no cpu.rt_period_us (no \
              CONFIG_RT_GROUP_SCHED)"],
            ["v1", ["cpu.cfs_burst_us"], {"cpu": {"burst": 1}},
             "linux.resources.cpu.burst: this host has no cpu.cfs_burst_us"]
        ]),
        json!([
            ["v2", [], {"cpu": {"quota": 2000, "burst": 3000}},
             "linux.resources.cpu.burst: 3000 is above cpu.quota 2000"],
            ["v1", [], {"cpu": {"period": 999}},
             "linux.resources.cpu.period: 999 is not from 1000 to 1000000 microseconds"],
            ["v2", [], {"cpu": {"quota": 999}}, "linux.resources.cpu.quota: 999 is below"],
            ["v2", [], {"cpu": {"idle": 2}}, "linux.resources.cpu.idle: 2 is neither 0 nor 1"],
            ["v2", ["cpu.idle"], {"cpu": {"idle": 1}},
             "linux.resources.cpu.idle: this host has no cpu.idle"],
            ["v2", [], {"cpu": {"cpus": "0-1\n"}},
             "linux.resources.cpu.cpus: \"0-1\\n\" is not a"],
            ["bare", [], {"cpu": {"mems": "0"}},
             "linux.resources.cpu.mems: this host has no usable cpuset controller"],
            ["v1", [], {"blockIO": {"leafWeight": 10}},
             "linux.resources.blockIO.leafWeight: leaf weights went with the CFQ scheduler"],
            ["v1", [], {"blockIO": {"weightDevice": [{"major": 8, "minor": 0},
                {"major": 8, "minor": 1, "leafWeight": 10}]}},
             "linux.resources.blockIO.weightDevice[1].leafWeight: leaf weights"],
            ["v1", [], {"blockIO": {"weight": 5}},
             "linux.resources.blockIO.weight: 5 is not from 10 to 1000"]
        ]),
        json!([
            ["v1", ["blkio.weight", "blkio.bfq.weight"], {"blockIO": {"weight": 10}},
             "linux.resources.blockIO.weight: this host has neither blkio.weight nor \
              blkio.bfq.weight (no proportional io scheduler)"],
            ["v2", ["io.weight", "io.bfq.weight"],
             {"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": 10}]}},
             "linux.resources.blockIO.weightDevice[0].weight: this host has neither io.bfq"],
            ["v1", [], {"blockIO": {"throttleReadBpsDevice": [{"major": -1, "minor": 0,
                "rate": 1}]}},
             "linux.resources.blockIO.throttleReadBpsDevice[0].major: -1 is not a device \
              number"],
            ["v2", ["io.max"], {"blockIO": {"throttleWriteIOPSDevice": [{"major": 8, "minor": 0,
                "rate": 1}]}},
             "linux.resources.blockIO.throttleWriteIOPSDevice[0]: this host has no io.max (no \
              CONFIG_BLK_DEV_THROTTLING)"],
            ["v1", [], {"hugepageLimits": [{"pageSize": "2MB/../x", "limit": 1}]},
             "linux.resources.hugepageLimits[0].pageSize: \"2MB/../x\" is not a size"],
            ["v2", ["hugetlb.3MB.max"], {"hugepageLimits": [{"pageSize": "3MB", "limit": 1}]},
             "linux.resources.hugepageLimits[0].pageSize: this host has no hugetlb.3MB.max (no \
              3MB pages)"],
            ["v1", [], {"hugepageLimits": [{"pageSize": "2MB", "limit": -2}]},
             "linux.resources.hugepageLimits[0].limit: -2 is neither"],
            ["v2", [], {"network": {"classID": 1}},
             "linux.resources.network.classID: this host has no usable net_cls controller (not \
              available on cgroup v2)"],
            ["hybrid", [], {"network": {"priorities": [{"name": "eth0", "priority": 1}]}},
             "linux.resources.network.priorities[0]: this host has no usable net_prio"],
            ["v1", [], {"network": {"priorities": [{"name": "eth 0", "priority": 1}]}},
             "linux.resources.network.priorities[0].name: \"eth 0\" is not an interface name"]
        ]),
        json!([
            ["v1", [], {"rdma": {"mlx5_1": {"hcaHandles": 3}}},
             "linux.resources.rdma: not supported by ringmon"],
            ["v2", [], {"devices": [{"allow": false, "access": "rwm"}]},
             "linux.resources.devices: cgroup v2 filters devices with an eBPF program, which \
              ringmon does not implement"],
            ["bare", [], {"devices": [{"allow": false}]},
             "linux.resources.devices: this host has no usable devices controller"],
            ["v1", [], {"devices": [{"allow": true, "type": "c", "access": "rwx"}]},
             "linux.resources.devices[0].access: \"rwx\" is not a combination of r, w and m"],
            ["v1", [], {"devices": [{"allow": true, "type": "c", "access": ""}]},
             "linux.resources.devices[0].access: \"\""],
            ["v1", [], {"devices": [{"allow": true}, {"allow": false, "major": 1}]},
             "linux.resources.devices[1].type: \"a\" means every device"],
            ["v1", [], {"devices": [{"allow": false, "access": "r"}]},
             "linux.resources.devices[0].type: \"a\" means every device"],
            ["v1", [], {"devices": [{"allow": true, "type": "p"}]},
             "linux.resources.devices[0].type: \"p\" (a fifo)"],
            ["v1", [], {"devices": [{"allow": true, "type": "c", "minor": -7}]},
             "linux.resources.devices[0].minor: -7 is not a device number"],
            ["v1", [], {"unified": {"memory.high": "1"}},
             "linux.resources.unified.\"memory.high\": this host has no cgroup v2 hierarchy"]
        ]),
        json!([
            ["v2", [], {"unified": {"cgroup.procs": "1"}},
             "linux.resources.unified.\"cgroup.procs\": not a controller's interface file"],
            ["v2", [], {"unified": {"../memory.max": "1"}},
             "linux.resources.unified.\"../memory.max\": not a controller's"],
            ["v2", [], {"unified": {"foo.bar": "1"}},
             "linux.resources.unified.\"foo.bar\": \"foo\" is not a cgroup v2 controller"],
            ["v2", [], {"unified": {"nodot": "1"}},
             "linux.resources.unified.\"nodot\": \"nodot\" is not a cgroup v2 controller"],
            ["hybrid", [], {"unified": {"memory.high": "1"}},
             "linux.resources.unified.\"memory.high\": the memory controller is not on cgroup \
              v2 on this host"]
        ]),
    ];
    for case in groups.iter().flat_map(|g| g.as_array().expect("cases")) {
        let (host, want) = (case[0].as_str().expect("a host"), &case[3]);
        let err = plan_on(host, &case[1], &case[2]).expect_err("refused");
        let want = want.as_str().expect("a message");
        assert!(err.starts_with(want), "{}: {err:?} lacks {want:?}", case[2]);
        assert!(!err.ends_with('.'), "{err}");
    }
}

#[test]
fn needed_controllers_follow_the_fields_set() {
    let res = |v: Value| -> LinuxResources { serde_json::from_value(v).expect("resources") };
    let all = res(
        json!({"memory": {"swappiness": 1}, "cpu": {"cpus": "0", "idle": 1},
        "pids": {"limit": 1}, "blockIO": {"throttleReadBpsDevice": [{"major": 1, "minor": 1,
        "rate": 1}]}, "hugepageLimits": [{"pageSize": "2MB", "limit": 1}],
        "network": {"classID": 1, "priorities": [{"name": "lo", "priority": 1}]},
        "rdma": {"x": {}}, "devices": [{"allow": true}], "unified": {"pids.max": "1"}}),
    );
    let mut want = Controller::ALL.to_vec();
    want.retain(|c| ![Controller::Cpuacct, Controller::Freezer].contains(c));
    want.sort();
    assert_eq!(controllers_needed(&all), want);
    let some = res(
        json!({"cpu": {"mems": "0"}, "memory": {}, "blockIO": {"weightDevice": []},
        "unified": {"io.max": "8:0 rbps=1", "foo.x": "1"}, "devices": []}),
    );
    assert_eq!(controllers_needed(&some), [Cpuset, Io]);
    assert_eq!(controllers_needed(&res(json!({}))), []);
}

proptest! {
    #[test]
    fn cpu_weight_stays_in_range_and_grows_with_shares(shares in 2u64..=262_144) {
        let weight = shares_to_weight(shares);
        prop_assert!((1..=10_000).contains(&weight));
        prop_assert!(shares_to_weight(shares + 1) >= weight);
        let cpu = json!({"cpu": {"shares": shares}});
        prop_assert_eq!(writes("v2", &json!([]), &cpu), vec![format!("cpu.weight={weight}")]);
    }

    #[test]
    fn v2_swap_max_is_the_swap_beyond_memory(limit in 1i64..1 << 40, extra in 0i64..1 << 40) {
        let res = json!({"memory": {"limit": limit, "swap": limit + extra}});
        let want = vec![format!("memory.max={limit}"), format!("memory.swap.max={extra}")];
        prop_assert_eq!(writes("v2", &json!([]), &res), want);
        let total = format!("memory.memsw.limit_in_bytes={}", limit + extra);
        prop_assert_eq!(&writes("v1", &json!([]), &res)[1], &total);
    }
}
