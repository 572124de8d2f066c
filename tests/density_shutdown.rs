//! 2000 concurrently running `sleep` processes (1000 with a tty) in one daemon; stats show
//! the memory per process; SIGTERM to the daemon stops every one of them and it exits 0.

mod common;

use common::TestDaemon;

#[test]
fn two_thousand_sleepers_then_sigterm_stops_them_all() {
    let pty_max: u64 = std::fs::read_to_string("/proc/sys/kernel/pty/max")
        .expect("pty max")
        .trim()
        .parse()
        .expect("number");
    if pty_max.saturating_sub(common::host_ptys()) < 1100 {
        eprintln!("SKIPPED: kernel.pty.max {pty_max} leaves no room for 1000 ptys");
        return;
    }
    let d = TestDaemon::start_with(&["--stop-timeout", "5"]);
    let ptys_before = common::host_ptys();
    let mut c = d.client();
    // Pipeline the creates, then the starts: one round trip per batch, not per container.
    let mut ids = Vec::new();
    for batch in 0..20 {
        let reqs: Vec<u64> = (0..100)
            .map(|i| {
                let tty = (batch * 100 + i) % 2 == 0;
                c.send(
                    "create",
                    serde_json::json!({"args": ["sleep", "1000"], "tty": tty}),
                )
                .expect("send")
            })
            .collect();
        for r in reqs {
            let v = c.wait_reply(r).expect("create");
            ids.push(v["id"].as_str().expect("id").to_string());
        }
    }
    let starts: Vec<u64> = ids
        .iter()
        .map(|id| {
            c.send("start", serde_json::json!({"id": id}))
                .expect("send")
        })
        .collect();
    for r in starts {
        c.wait_reply(r).expect("start");
    }
    let stats = c.call("stats", serde_json::json!({})).expect("stats");
    assert_eq!(stats["containers"]["running"], 2000, "{stats}");
    assert_eq!(stats["processes"], 2000);
    assert_eq!(stats["ptys_held"], 1000);
    assert!(stats["rss_per_process_bytes"].as_u64().expect("rss") > 0);
    assert_eq!(common::host_ptys() - ptys_before, 1000);
    eprintln!(
        "2000 processes: daemon RSS {} KiB, PSS {} KiB, {} bytes RSS per process, {} fds",
        stats["rss_bytes"].as_u64().unwrap_or(0) / 1024,
        stats["pss_bytes"].as_u64().unwrap_or(0) / 1024,
        stats["rss_per_process_bytes"],
        stats["proc_fds"]
    );
    let out = d.cli().arg("stats").output().expect("cli stats");
    assert!(String::from_utf8_lossy(&out.stdout).contains("memory per process"));
    let pids: Vec<i32> = ids
        .iter()
        .map(|id| {
            c.call("inspect", serde_json::json!({"id": id}))
                .expect("inspect")["pid"]
                .as_i64()
                .expect("pid") as i32
        })
        .collect();
    drop(c);
    let status = d.stop();
    assert!(status.success(), "daemon exit {status:?}");
    for pid in pids {
        // The daemon reaped them all before it exited, so none can exist as our grandchild;
        // a live pid now would have to be a recycled number belonging to someone else.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            !stat.starts_with("sleep\u{0}1000"),
            "sleep {pid} survived the daemon's SIGTERM"
        );
    }
    assert_eq!(common::host_ptys(), ptys_before, "ptys left behind");
}
