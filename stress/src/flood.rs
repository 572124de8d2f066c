//! `flood`: N containers writing output as fast as they can. Reports the aggregate bytes/s
//! into the logs, the daemon's CPU seconds per MB logged, bytes written vs bytes logged
//! (they must be equal: a lost byte fails the run), and the daemon's RSS through the flood
//! (it must stay within what its per-container log buffers allow).
//!
//! In the same run, the same writers on ptys (or pipes) of this process, read by one thread
//! with a bare poll(2) + read(2) loop that discards the bytes: the floor of what reading
//! that much output costs. The ratio of the two CPU-per-MB figures is the daemon's
//! overhead for reading *and* logging.
//!
//! Two more references keep the bytes, each writer's in a file of its own on the file system
//! the daemon's logs are on, gathered and written in 64 KiB pieces as the daemon writes its
//! logs: raw (no framing), the cost of reading and storing the output at all; and as the
//! same CRI records the daemon writes (`logs::cri::format_chunk`, about 1.4 bytes of record
//! per byte of output for these 102-byte lines), the cost of reading and storing the logs
//! themselves with no loop, ring or API around it, below which no CRI logger can go.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;

use crate::daemon::Daemon;
use crate::report::{median, Output};

#[derive(Args, Debug, Clone)]
pub struct FloodArgs {
    /// Containers writing at once
    #[arg(long, default_value_t = 16)]
    pub count: usize,
    /// Containers with a terminal
    #[arg(long)]
    pub tty: bool,
    /// MiB each container writes
    #[arg(long, default_value_t = 32)]
    pub mib: u64,
    /// Rounds of the daemon's flood and the bare loops, one after the other; the ratios
    /// reported are their medians (the CPU figures of one run vary by 10-20% here)
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
}

/// One line of the output: 100 bytes and a newline.
const LINE: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyzAB";
const LINE_BYTES: u64 = LINE.len() as u64 + 1;

/// Every container's command: whole lines, `lines` of them.
fn writer_command(lines: u64) -> Vec<String> {
    vec![
        "/bin/sh".into(),
        "-c".into(),
        format!("yes {LINE} | head -n {lines}"),
    ]
}

/// The bytes a reader gets: on a pty, the line discipline's ONLCR makes each "\n" "\r\n".
fn expected_bytes(lines: u64, tty: bool) -> u64 {
    lines * LINE_BYTES + if tty { lines } else { 0 }
}

/// utime + stime of a process (all its threads, io_uring workers included), in seconds.
fn cpu_seconds(pid: i32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("read /proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = stat.rsplit_once(')').context("/proc/PID/stat: no ')'")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>()? + f[12].parse::<u64>()?;
    Ok(ticks as f64 / clock_ticks() as f64)
}

fn clock_ticks() -> u64 {
    rustix::param::clock_ticks_per_second()
}

/// VmRSS of a process, in bytes.
fn rss_bytes(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

/// Samples the daemon's RSS every 10 ms until stopped; returns the maximum. (A
/// measurement, not a wait: nothing depends on when a sample is taken.)
fn rss_sampler(pid: i32, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut max = 0;
        while !stop.load(Ordering::SeqCst) {
            max = max.max(rss_bytes(pid));
            std::thread::sleep(Duration::from_millis(10));
        }
        max.max(rss_bytes(pid))
    })
}

/// The bytes of a CRI log's records put back together (P runs joined, F lines with "\n").
fn logged_bytes(path: &Path) -> Result<u64> {
    let log = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    let mut n = 0u64;
    ringmon::logs::cri::reassemble(&log, |_, _, line| n += line.len() as u64)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(n)
}

struct Measured {
    bytes: u64,
    seconds: f64,
    cpu: f64,
}

impl Measured {
    fn cpu_per_mb(&self) -> f64 {
        self.cpu / (self.bytes as f64 / 1e6)
    }
    fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.seconds
    }
    fn json(&self) -> serde_json::Value {
        json!({"bytes": self.bytes, "seconds": self.seconds, "mb_per_second": self.mb_per_s(),
               "cpu_seconds": self.cpu, "cpu_ms_per_mb": self.cpu_per_mb() * 1000.0})
    }
}

/// One round: the daemon's flood, then the three bare loops over the same writers.
struct Round {
    ringmon: Measured,
    rss: Rss,
    /// poll + read, the bytes discarded.
    bare: Measured,
    /// poll + read + write of the raw bytes.
    stored: Measured,
    /// poll + read + write of the same CRI records as the daemon's.
    cri: Measured,
}

impl Round {
    /// ringmon's CPU per MB over `other`'s.
    fn ratio(&self, other: &Measured) -> f64 {
        self.ringmon.cpu_per_mb() / other.cpu_per_mb()
    }

    fn json(&self) -> serde_json::Value {
        let m = &self.ringmon;
        json!({"seconds": m.seconds, "mb_per_second": m.mb_per_s(),
            "daemon_cpu_seconds": m.cpu, "daemon_cpu_ms_per_mb": m.cpu_per_mb() * 1000.0,
            "rss_before": self.rss.before, "rss_max": self.rss.max,
            "bare": self.bare.json(), "bare_write": self.stored.json(),
            "bare_cri_write": self.cri.json(),
            "cpu_per_mb_ratio": self.ratio(&self.bare),
            "cpu_per_mb_ratio_bare_write": self.ratio(&self.stored),
            "cpu_per_mb_ratio_bare_cri_write": self.ratio(&self.cri)})
    }
}

pub fn run(d: &Daemon, a: &FloodArgs) -> Result<Output> {
    let lines = a.mib * 1024 * 1024 / LINE_BYTES;
    let want = expected_bytes(lines, a.tty);
    let cmd = writer_command(lines);
    let sink = tempfile::Builder::new()
        .prefix("ringmon-stress-bare-")
        .tempdir_in(d.socket.parent().unwrap_or(Path::new("/")))
        .context(
            "a directory for the bare loop's files in the daemon's root, where its logs are",
        )?;
    let mut rounds = Vec::new();
    for r in 0..a.rounds.max(1) {
        let (ringmon, rss) = flood_daemon(d, a, &cmd, want)?;
        let bare = bare_loop(a, &cmd, want, None)?;
        let dir = sink.path().join(format!("round-{r}"));
        std::fs::create_dir(&dir).with_context(|| format!("mkdir {}", dir.display()))?;
        let stored = bare_loop(a, &cmd, want, Some((&dir, Framing::Raw)))?;
        let cri = bare_loop(a, &cmd, want, Some((&dir, Framing::Cri)))?;
        std::fs::remove_dir_all(&dir).with_context(|| format!("rm -r {}", dir.display()))?;
        rounds.push(Round {
            ringmon,
            rss,
            bare,
            stored,
            cri,
        });
    }
    drop(sink);
    let med = |f: &dyn Fn(&Round) -> f64| median(&rounds.iter().map(f).collect::<Vec<_>>());
    let ratio = med(&|r| r.ratio(&r.bare));
    let stored_ratio = med(&|r| r.ratio(&r.stored));
    let cri_ratio = med(&|r| r.ratio(&r.cri));
    let stored_floor = med(&|r| r.stored.cpu_per_mb() / r.bare.cpu_per_mb());
    let cri_floor = med(&|r| r.cri.cpu_per_mb() / r.bare.cpu_per_mb());
    let logged: u64 = rounds.iter().map(|r| r.ringmon.bytes).sum();
    let written = want * a.count as u64 * rounds.len() as u64;
    let rss_before = rounds[0].rss.before;
    let rss_max = rounds.iter().map(|r| r.rss.max).max().unwrap_or(0);
    let rss_bound = rounds[0].rss.bound;
    let mut table = format!(
        "flood: {} containers, tty={}, each {} lines of {LINE_BYTES} bytes ({} bytes read per container); \
         {} rounds of ringmon, then bare loops over the same writers: poll+read, +write of the \
         raw bytes, +write of the same CRI records as the daemon's\n",
        a.count,
        a.tty,
        lines,
        want,
        rounds.len()
    );
    for (i, r) in rounds.iter().enumerate() {
        table.push_str(&format!(
            "  round {}: ringmon {:.1} MB/s, CPU {:.3} s = {:.2} ms/MB; bare read {:.2}, \
             +write {:.2}, +CRI+write {:.2} ms/MB: ringmon/read {:.2}x, ringmon/CRI {:.2}x \
             (CRI/read {:.2}x)\n",
            i + 1,
            r.ringmon.mb_per_s(),
            r.ringmon.cpu,
            r.ringmon.cpu_per_mb() * 1000.0,
            r.bare.cpu_per_mb() * 1000.0,
            r.stored.cpu_per_mb() * 1000.0,
            r.cri.cpu_per_mb() * 1000.0,
            r.ratio(&r.bare),
            r.ratio(&r.cri),
            r.cri.cpu_per_mb() / r.bare.cpu_per_mb()
        ));
    }
    table.push_str(&format!(
        "  ringmon: {logged} of {written} bytes logged; daemon RSS {:.1} MiB before, at most \
         {:.1} MiB during (bound {:.1} MiB)\n",
        rss_before as f64 / 1048576.0,
        rss_max as f64 / 1048576.0,
        rss_bound as f64 / 1048576.0
    ));
    table.push_str(&format!(
        "  ringmon/bare CPU per MB, medians of {} rounds: {ratio:.2}x (reading and logging vs \
         reading); {stored_ratio:.2}x against reading and writing (read+write over read \
         alone: {stored_floor:.2}x); {cri_ratio:.2}x against reading and writing the same CRI \
         records (those over read alone: {cri_floor:.2}x)\n",
        rounds.len()
    ));
    let ms_per_mb = med(&|r| r.ringmon.cpu_per_mb() * 1000.0);
    let json = json!({"scenario": "flood", "tty": a.tty, "count": a.count,
        "bytes_per_container": want, "bytes_written": written, "bytes_logged": logged,
        "rss_before": rss_before, "rss_max": rss_max, "rss_bound": rss_bound,
        "daemon_cpu_ms_per_mb": ms_per_mb,
        "cpu_per_mb_ratio": ratio, "cpu_per_mb_ratio_bare_write": stored_ratio,
        "cpu_per_mb_ratio_bare_cri_write": cri_ratio,
        "bare_write_over_bare": stored_floor, "bare_cri_write_over_bare": cri_floor,
        "rounds": rounds.iter().map(Round::json).collect::<Vec<_>>()});
    Ok(Output { table, json })
}

struct Rss {
    before: u64,
    max: u64,
    bound: u64,
}

/// The flood through the daemon: create all, start all, wait all, count the logs, delete.
fn flood_daemon(d: &Daemon, a: &FloodArgs, cmd: &[String], want: u64) -> Result<(Measured, Rss)> {
    let mut c = d.client()?;
    let mut ids = Vec::new();
    for _ in 0..a.count {
        let id = c.call("create", json!({"args": cmd, "tty": a.tty}))?["id"]
            .as_str()
            .context("create: id")?
            .to_string();
        ids.push(id);
    }
    let rss_before = rss_bytes(d.pid);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = rss_sampler(d.pid, stop.clone());
    let cpu0 = cpu_seconds(d.pid)?;
    let t = Instant::now();
    for id in &ids {
        c.call("start", json!({ "id": id }))?;
    }
    // `wait` answers once every byte is in the log.
    let waits: Vec<u64> = ids
        .iter()
        .map(|id| c.send("wait", json!({ "id": id })))
        .collect::<Result<_, _>>()?;
    let mut pending = waits.len();
    while pending > 0 {
        let m = c.next_message()?;
        if m.id.is_some_and(|i| waits.contains(&i)) && m.event.is_none() {
            let exit = ringmon::api::client::into_result(m)?;
            if exit["exit_code"] != 0 {
                bail!("a flood container exited with {exit}");
            }
            pending -= 1;
        }
    }
    let seconds = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds(d.pid)? - cpu0;
    stop.store(true, Ordering::SeqCst);
    let rss_max = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("the RSS sampler panicked"))?;
    let mut bytes = 0;
    for id in &ids {
        let info = c.call("inspect", json!({ "id": id }))?;
        let path = info["log_path"].as_str().context("inspect: log_path")?;
        let got = logged_bytes(Path::new(path))?;
        if got != want {
            bail!("container {id}: {got} bytes logged of the {want} it wrote");
        }
        bytes += got;
    }
    for id in &ids {
        c.call("delete", json!({ "id": id }))?;
    }
    // Each container's log writer holds at most two buffers of 2 x LOG_BUFFER_CAP (pending
    // and the one in flight); the rest is the allocator's slack.
    let per = 4 * ringmon::logs::writer::LOG_BUFFER_CAP as u64;
    let bound = rss_before + a.count as u64 * per + 16 * 1024 * 1024;
    if rss_max > bound {
        bail!("daemon RSS reached {rss_max} bytes during the flood, above the bound {bound}");
    }
    Ok((
        Measured {
            bytes,
            seconds,
            cpu,
        },
        Rss {
            before: rss_before,
            max: rss_max,
            bound,
        },
    ))
}

/// How a bare loop stores what it reads.
#[derive(Clone, Copy, PartialEq)]
enum Framing {
    /// The bytes as read.
    Raw,
    /// CRI records, as the daemon's logs hold them.
    Cri,
}

impl Framing {
    /// The file name extension of a bare loop's file.
    fn ext(self) -> &'static str {
        match self {
            Framing::Raw => "out",
            Framing::Cri => "log",
        }
    }
}

/// The daemon's log batch: a writer's bytes are written once this many are gathered.
const SINK_BATCH: usize = ringmon::stdio::output::LOG_BATCH_BYTES;

/// One writer's file in a bare loop, with the bytes gathered for its next write.
struct SinkFile {
    path: std::path::PathBuf,
    framing: Framing,
    file: std::fs::File,
    pending: Vec<u8>,
}

impl SinkFile {
    fn flush(&mut self) -> Result<()> {
        self.file
            .write_all(&self.pending)
            .context("write a bare-loop file")?;
        self.pending.clear();
        Ok(())
    }
}

/// The same writers on this process's ptys or pipes, read by this thread with poll + read;
/// with `sink`, every chunk is also stored, framed as asked, in a file of its own in that
/// directory.
fn bare_loop(
    a: &FloodArgs,
    cmd: &[String],
    want: u64,
    sink: Option<(&Path, Framing)>,
) -> Result<Measured> {
    use rustix::event::{poll, PollFd, PollFlags};
    let mut readers: Vec<OwnedFd> = Vec::new();
    let mut files: Vec<SinkFile> = Vec::new();
    let mut children = Vec::new();
    let mut clock = ringmon::logs::cri::Clock::default();
    for i in 0..a.count {
        if let Some((dir, framing)) = sink {
            let path = dir.join(format!("writer-{i}.{}", framing.ext()));
            let file = std::fs::OpenOptions::new()
                .append(true)
                .create_new(true)
                .open(&path)
                .with_context(|| format!("create {}", path.display()))?;
            files.push(SinkFile {
                path,
                framing,
                file,
                pending: Vec::with_capacity(2 * SINK_BATCH),
            });
        }
        let (reader, writer) = if a.tty { pty()? } else { pipe()? };
        let child = Command::new(&cmd[0])
            .args(&cmd[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::from(writer))
            .stderr(Stdio::null())
            .spawn()
            .context("spawn a bare-loop writer")?;
        readers.push(reader);
        children.push(child);
    }
    let cpu0 = thread_cpu_seconds();
    let t = Instant::now();
    let mut got = vec![0u64; readers.len()];
    let mut open: Vec<usize> = (0..readers.len()).collect();
    let mut buf = vec![0u8; 64 * 1024];
    while !open.is_empty() {
        let mut fds: Vec<PollFd> = open
            .iter()
            .map(|&i| PollFd::new(&readers[i], PollFlags::IN))
            .collect();
        poll(&mut fds, None)?;
        let ready: Vec<usize> = fds
            .iter()
            .zip(&open)
            .filter(|(f, _)| !f.revents().is_empty())
            .map(|(_, &i)| i)
            .collect();
        drop(fds);
        for i in ready {
            match rustix::io::read(readers[i].as_fd(), &mut buf) {
                Ok(0) | Err(rustix::io::Errno::IO) => {
                    open.retain(|&j| j != i);
                    if let Some(f) = files.get_mut(i) {
                        f.flush()?;
                    }
                }
                Ok(n) => {
                    got[i] += n as u64;
                    if let Some(f) = files.get_mut(i) {
                        match f.framing {
                            Framing::Raw => f.pending.extend_from_slice(&buf[..n]),
                            Framing::Cri => {
                                let now = ringmon::logs::cri::Clock::now();
                                let stream = ringmon::logs::cri::Stream::Stdout;
                                ringmon::logs::cri::format_chunk(
                                    &mut clock,
                                    now,
                                    stream,
                                    &buf[..n],
                                    &mut f.pending,
                                );
                            }
                        }
                        if f.pending.len() >= SINK_BATCH {
                            f.flush()?;
                        }
                    }
                }
                Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e).context("read a bare-loop writer"),
            }
        }
    }
    let seconds = t.elapsed().as_secs_f64();
    let cpu = thread_cpu_seconds() - cpu0;
    for mut ch in children {
        let st = ch.wait()?;
        if !st.success() {
            bail!("a bare-loop writer exited with {st}");
        }
    }
    if let Some(g) = got.iter().find(|&&g| g != want) {
        bail!("the bare loop read {g} bytes of a writer's {want}");
    }
    for f in files.iter().filter(|f| f.framing == Framing::Cri) {
        let logged = logged_bytes(&f.path)?;
        if logged != want {
            bail!(
                "{}: the bare loop's CRI records hold {logged} bytes of {want}",
                f.path.display()
            );
        }
    }
    Ok(Measured {
        bytes: got.iter().sum(),
        seconds,
        cpu,
    })
}

/// This thread's CPU time (user + system), in seconds.
fn thread_cpu_seconds() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
}

/// A new pty: the master (reader) and its peer, the slave (the writer's stdout).
fn pty() -> Result<(OwnedFd, OwnedFd)> {
    use rustix::pty::{grantpt, ioctl_tiocgptpeer, openpt, unlockpt, OpenptFlags};
    let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
    let master = openpt(flags).context("open /dev/ptmx")?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let slave = ioctl_tiocgptpeer(&master, flags).context("TIOCGPTPEER")?;
    Ok((master, slave))
}
