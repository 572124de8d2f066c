//! `churn`: short containers through their whole life, at a given concurrency; and `api`:
//! `inspect` and `list` latency while such a churn runs.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine;
use clap::Args;
use ringmon::api::client::{into_result, Client};
use serde_json::json;

use crate::daemon::Daemon;
use crate::floor::{Floor, FloorRun};
use crate::report::{median, Output, Samples};

#[derive(Args, Debug, Clone)]
pub struct ChurnArgs {
    /// Containers with a terminal
    #[arg(long)]
    pub tty: bool,
    /// Containers in all
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// Containers in flight at once (one API connection each)
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Run each container in this OCI bundle instead of the embedded default
    #[arg(long)]
    pub bundle: Option<String>,
}

/// `churn`'s own flags beside the churn that `api` shares.
#[derive(Args, Debug, Clone)]
pub struct ChurnCmd {
    #[command(flatten)]
    pub churn: ChurnArgs,
    /// Then run the same churn with conmon + runc, started as podman does, and add ratios
    #[arg(long)]
    pub compare: bool,
    /// After each container, run the kernel floor once (clone3 with the same namespaces +
    /// execve of /bin/echo hello, no daemon) and report ringmon/floor pair by pair
    #[arg(long)]
    pub floor: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ApiArgs {
    #[command(flatten)]
    pub churn: ChurnArgs,
    /// inspect and list requests to time
    #[arg(long, default_value_t = 2000)]
    pub requests: usize,
}

/// One container's phases.
#[derive(Default, Clone)]
pub(crate) struct Phases {
    pub(crate) create: Samples,
    pub(crate) start: Samples,
    pub(crate) run: Samples,
    pub(crate) delete: Samples,
    pub(crate) total: Samples,
    /// create sent -> running (start answered): the create + start of the table.
    pub(crate) to_running: Samples,
    /// With `--floor`: the floor run after each container, and the per-pair ratios.
    pub(crate) floor: FloorPairs,
}

/// The kernel floor, one run after each container, and ringmon/floor for each pair.
#[derive(Default, Clone)]
pub(crate) struct FloorPairs {
    pub(crate) exec: Samples,
    pub(crate) reaped: Samples,
    /// create -> running over clone3 -> exec done.
    pub(crate) running_ratio: Vec<f64>,
    /// create -> exit reported over clone3 -> exit reaped.
    pub(crate) exit_ratio: Vec<f64>,
}

impl FloorPairs {
    fn extend(&mut self, o: FloorPairs) {
        self.exec.extend(o.exec);
        self.reaped.extend(o.reaped);
        self.running_ratio.extend(o.running_ratio);
        self.exit_ratio.extend(o.exit_ratio);
    }
}

impl Phases {
    pub(crate) fn extend(&mut self, o: Phases) {
        self.create.extend(o.create);
        self.start.extend(o.start);
        self.run.extend(o.run);
        self.delete.extend(o.delete);
        self.total.extend(o.total);
        self.to_running.extend(o.to_running);
        self.floor.extend(o.floor);
    }

    /// One container's instants: asked to create, created, running, exit seen, deleted.
    pub(crate) fn record(&mut self, [t0, t1, t2, t3, t4]: [Instant; 5]) {
        self.create.push(t1 - t0);
        self.start.push(t2 - t1);
        self.run.push(t3 - t2);
        self.delete.push(t4 - t3);
        self.total.push(t4 - t0);
        self.to_running.push(t2 - t0);
    }

    /// A floor run right after the container whose instants were recorded last.
    fn record_floor(&mut self, f: FloorRun) {
        let (Some(running), Some(run)) = (self.to_running.0.last(), self.run.0.last()) else {
            return;
        };
        let to_exit = *running + *run;
        self.floor.exec.push(f.exec);
        self.floor.reaped.push(f.reaped);
        self.floor
            .running_ratio
            .push(running.as_secs_f64() / f.exec.as_secs_f64());
        self.floor
            .exit_ratio
            .push(to_exit.as_secs_f64() / f.reaped.as_secs_f64());
    }
}

/// create -> attach -> start -> exit -> delete of `echo hello`; checks the output.
fn one(c: &mut Client, a: &ChurnArgs, p: &mut Phases) -> Result<()> {
    let t0 = Instant::now();
    let mut params = json!({"args": ["echo", "hello"], "tty": a.tty});
    if let Some(b) = &a.bundle {
        params["bundle"] = json!(b);
    }
    let id = c.call("create", params)?["id"]
        .as_str()
        .context("create: id")?
        .to_string();
    let t1 = Instant::now();
    let attach = c.send("attach", json!({ "id": id }))?;
    c.call("start", json!({ "id": id }))?;
    let t2 = Instant::now();
    let mut out = Vec::new();
    let exit = loop {
        let m = c.next_message()?;
        if m.id != Some(attach) {
            continue;
        }
        if m.event.as_deref() == Some("output") {
            let d = m.rest["data"].as_str().unwrap_or("");
            out.extend(base64::engine::general_purpose::STANDARD.decode(d)?);
        } else if m.event.is_none() {
            break into_result(m)?;
        }
    };
    let t3 = Instant::now();
    c.call("delete", json!({ "id": id }))?;
    let t4 = Instant::now();
    let want: &[u8] = if a.tty { b"hello\r\n" } else { b"hello\n" };
    if exit["exit_code"] != 0 || out != want {
        bail!(
            "container {id}: exit {exit}, output {:?}",
            String::from_utf8_lossy(&out)
        );
    }
    p.record([t0, t1, t2, t3, t4]);
    Ok(())
}

/// Runs `a.count` containers on `a.concurrency` connections; stops early if `stop` is set.
/// With `floor`, each worker runs the floor once after each of its containers.
fn churn(
    d: &Daemon,
    a: &ChurnArgs,
    stop: Option<Arc<AtomicBool>>,
    floor: Option<Arc<Floor>>,
) -> Result<(Phases, Duration)> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..a.concurrency.max(1))
        .map(|_| {
            let (next, stop, a, floor) = (next.clone(), stop.clone(), a.clone(), floor.clone());
            let socket = d.socket.clone();
            std::thread::spawn(move || -> Result<Phases> {
                let mut c = Client::connect(&socket)?;
                let mut p = Phases::default();
                while next.fetch_add(1, Ordering::SeqCst) < a.count {
                    if stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst)) {
                        break;
                    }
                    one(&mut c, &a, &mut p)?;
                    if let Some(f) = &floor {
                        p.record_floor(f.once()?);
                    }
                }
                Ok(p)
            })
        })
        .collect();
    let joined = workers.into_iter().map(|w| w.join());
    Ok((join_all(joined, "churn")?, started.elapsed()))
}

/// Merges the phases of joined churn workers; the first error wins.
pub(crate) fn join_all(
    joined: impl IntoIterator<Item = std::thread::Result<Result<Phases>>>,
    what: &str,
) -> Result<Phases> {
    let mut all = Phases::default();
    for j in joined {
        let p = j.map_err(|_| anyhow::anyhow!("a {what} worker panicked"))??;
        all.extend(p);
    }
    Ok(all)
}

/// The table rows of the phases.
pub(crate) fn rows(p: &Phases) -> String {
    [
        ("create -> created", &p.create),
        ("start -> running", &p.start),
        ("running -> exit reported", &p.run),
        ("delete", &p.delete),
        ("whole life", &p.total),
        ("create -> running", &p.to_running),
    ]
    .iter()
    .map(|(name, s)| s.row(name))
    .collect()
}

pub fn run(d: &Daemon, c: &ChurnCmd) -> Result<Output> {
    let a = &c.churn;
    let floor = c
        .floor
        .then(|| Floor::new(false, &["/bin/echo".into(), "hello".into()]))
        .transpose()?
        .map(Arc::new);
    let (p, wall) = churn(d, a, None, floor.clone())?;
    let n = p.total.0.len();
    // The floor runs interleaved with the containers are not the daemon's time: each
    // worker's share comes off the wall time.
    let floor_time: Duration = p.floor.reaped.0.iter().sum();
    let wall = wall.saturating_sub(floor_time / a.concurrency.max(1) as u32);
    let rate = n as f64 / wall.as_secs_f64();
    let mut table = format!(
        "churn: {n} `echo hello` containers, tty={}, concurrency {}: {rate:.1} containers/s ({:.2} s)\n",
        a.tty,
        a.concurrency,
        wall.as_secs_f64()
    );
    table.push_str(&rows(&p));
    let mut json = json!({"scenario": "churn", "tty": a.tty, "count": n,
        "concurrency": a.concurrency, "seconds": wall.as_secs_f64(),
        "containers_per_second": rate, "create": p.create.json(), "start": p.start.json(),
        "run": p.run.json(), "delete": p.delete.json(), "total": p.total.json(),
        "to_running": p.to_running.json()});
    if let Some(f) = &floor {
        let fp = &p.floor;
        let (rr, er) = (median(&fp.running_ratio), median(&fp.exit_ratio));
        table.push_str(&format!(
            "floor after each container: {} (no daemon)\n",
            f.label
        ));
        table.push_str(&fp.exec.row("clone3 -> exec done"));
        table.push_str(&fp.reaped.row("clone3 -> exit reaped"));
        table.push_str(&format!(
            "  ringmon/floor, median of {} pairs: create -> running / exec done {rr:.2}x, \
             create -> exit reported / exit reaped {er:.2}x\n",
            fp.running_ratio.len()
        ));
        json["floor"] = json!({"command": f.label, "exec": fp.exec.json(),
            "reaped": fp.reaped.json(), "pairs": fp.running_ratio.len(),
            "running_ratio_median": rr, "exit_ratio_median": er});
    }
    if c.compare {
        let mut peers = Vec::new();
        for rt in crate::peers::RUNTIMES {
            let peer = crate::peers::churn(rt, a, rate)?;
            table.push_str(&peer.table);
            peers.push(json!({"peer": peer.peer, "ratios": peer.ratios}));
        }
        json["peers"] = json!(peers);
    }
    Ok(Output { table, json })
}

pub fn run_api(d: &Daemon, a: &ApiArgs) -> Result<Output> {
    let mut c = d.client()?;
    let target = c.call("create", json!({"args": ["sleep", "1000"]}))?["id"]
        .as_str()
        .context("create: id")?
        .to_string();
    c.call("start", json!({ "id": target }))?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut churn_args = a.churn.clone();
    churn_args.count = usize::MAX / 2;
    let bg = {
        let (stop, socket) = (stop.clone(), d.socket.clone());
        let d2 = Daemon::attach_to(&socket, d.pid);
        std::thread::spawn(move || churn(&d2, &churn_args, Some(stop), None))
    };
    let (mut inspect, mut list) = (Samples::default(), Samples::default());
    for i in 0..a.requests {
        let t = Instant::now();
        if i % 2 == 0 {
            c.call("inspect", json!({ "id": target }))?;
            inspect.push(t.elapsed());
        } else {
            c.call("list", json!({}))?;
            list.push(t.elapsed());
        }
    }
    stop.store(true, Ordering::SeqCst);
    let (p, wall) = bg
        .join()
        .map_err(|_| anyhow::anyhow!("the churn thread panicked"))??;
    c.call("delete", json!({"id": target, "force": true}))?;
    let rate = p.total.0.len() as f64 / wall.as_secs_f64();
    let mut table = format!(
        "api: {} requests while a churn (concurrency {}) ran {rate:.1} containers/s\n",
        a.requests, a.churn.concurrency
    );
    table.push_str(&inspect.row("inspect"));
    table.push_str(&list.row("list"));
    let json = json!({"scenario": "api", "requests": a.requests,
        "churn_containers_per_second": rate, "inspect": inspect.json(), "list": list.json()});
    Ok(Output { table, json })
}
