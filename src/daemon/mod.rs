//! The daemon: one thread, one io_uring, a hand-written completion loop.
//!
//! `Daemon` is the hub every component extends with `impl Daemon` blocks: the supervisor
//! (lifecycle), stdio (output, stdin), the reaper, the API dispatcher. The loop submits,
//! waits for at least one completion, dispatches each by its token, flushes connections,
//! and frees containers and connections whose last op has completed. Nothing in it blocks:
//! the only waits are `io_uring_enter`, and the vfork-style clone, which suspends the loop
//! only until the child's execveat (~0.5 ms, independent of the daemon's size).

pub mod config;
pub mod startup;
pub mod stats;
pub mod token;

use std::collections::HashMap;
use std::io;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use slab::Slab;

pub use config::Config;
use startup::StartupError;
use token::{Kind, Token};

use crate::api::conn::Conn;
use crate::fd_ledger::{Borrowed, Fd, Owner};
use crate::logs::cri::Clock;
use crate::supervisor::container::Container;
use crate::sys::uring::{Completion, OpId, Ring};

pub const POLLIN: u32 = libc::POLLIN as u32;
pub const POLLOUT: u32 = libc::POLLOUT as u32;

pub struct Daemon {
    pub cfg: Config,
    pub ring: Ring,
    _ring_fd: Borrowed,
    _stdio: Vec<Borrowed>,
    pub exe: Fd,
    /// A low fd number reserved for the child's end of each init's handshake socket during
    /// its clone (`runtime::spawn::clone_init`); between spawns, a duplicate of `exe`.
    pub spawn_slot: Fd,
    listener: Option<Fd>,
    accept_op: Option<OpId>,
    signals: Fd,
    signal_poll: Option<OpId>,
    pub containers: Slab<Container>,
    pub by_id: HashMap<String, usize>,
    pub by_name: HashMap<String, usize>,
    /// Tracked init pids (their pidfd waits are pending), so the orphan sweep skips them.
    pub by_pid: HashMap<i32, usize>,
    pub conns: Slab<Conn>,
    pub serial: u64,
    pub clock: Clock,
    pub scratch: Vec<u8>,
    completions: Vec<Completion>,
    pub dirty_conns: Vec<usize>,
    /// Connections with data left over from their read budget.
    pub read_again: Vec<usize>,
    pub shutting_down: bool,
    shutdown_timer: Option<OpId>,
    /// The warm pool's refill timer (`Daemon::defer_refill`), while armed.
    pub(crate) refill_timer: Option<OpId>,
    /// A refill asked for in this loop turn (`Daemon::refill_warm`), done at its end.
    pub(crate) refill_due: bool,
    /// Containers in setup (`Status::in_setup`), kept by `container::set_status`.
    pub(crate) in_setup: usize,
    pub started: Instant,
    pub nofile: u64,
    pub orphans_reaped: u64,
    /// Containers whose output was cut at the drain deadline (`on_drain_deadline`).
    pub drains_cut: u64,
    pub warnings: Vec<String>,
    /// Set when shutdown gave up on survivors; names them.
    gave_up: Option<String>,
    pub cgroups: crate::cgroups::Cgroups,
    /// One fd that reports OOM kills of any container: a v1 eventfd registered in each
    /// container's memory cgroup, or the v2 parent's memory.events.
    pub oom_watch: Option<Fd>,
    pub oom_watch_is_eventfd: bool,
    pub oom_poll: Option<OpId>,
    /// Inits cloned ahead of the creates that take them.
    pub warm: crate::runtime::warm::WarmInits,
    /// The serial of the zygote whose socket is polled (multishot), while armed.
    pub(crate) zygote_poll: Option<(OpId, u32)>,
    /// `stats` requests waiting for the zygote's replies, each until the requests sent
    /// before it (the count of `WarmInits::asked` then) are settled, and the cgroup rmdirs
    /// of the given-up inits reaped before it (`given_up_seq` then) are done
    /// (`answer_waiting_stats`).
    pub(crate) stats_waiting: Vec<(crate::supervisor::container::ReplyTo, u64, u64)>,
    /// Given-up inits reaped so far whose cgroup had directories to remove.
    pub(crate) given_up_seq: u64,
    /// Creates waiting for an init the zygote was asked to fork for them, first come
    /// first served (`Daemon::park_create`).
    pub(crate) parked: std::collections::VecDeque<(
        crate::api::proto::CreateParams,
        crate::supervisor::container::ReplyTo,
    )>,
    /// Inits killed before they became containers (a failed create's, or out of the warm
    /// pool), each reaped by a WaitId of its own (`Daemon::give_up`); shutdown waits for
    /// them.
    pub given_up: Slab<crate::supervisor::given_up::GivenUp>,
    /// State directories of deleted containers being removed (`supervisor::state_dir`).
    pub removals: Slab<crate::supervisor::state_dir::Removal>,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error("io_uring_enter: {0}")]
    Enter(io::Error),
    #[error("stopping: containers still present after SIGKILL and {0:?}: {1}")]
    Survivors(Duration, String),
}

/// How long the daemon waits past the grace period and the kill deadline before it gives up
/// on survivors.
const SHUTDOWN_GIVE_UP: Duration = Duration::from_secs(2);
/// Back-off before re-arming a failed accept.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Starts the daemon and serves until SIGTERM/SIGINT has stopped every container.
pub fn run(cfg: Config) -> Result<(), DaemonError> {
    let mut d = Daemon::boot(cfg)?;
    let served = d.serve();
    d.finish();
    served
}

impl Daemon {
    fn boot(cfg: Config) -> Result<Self, DaemonError> {
        // Nothing is open yet but stdio: drop whatever the parent leaked to us, so that the
        // ledger accounts for every fd we hold.
        if let Err(e) = crate::sys::exec::close_inherited_from(3) {
            eprintln!("ringmon daemon: warning: close_range 3..: {e}");
        }
        let nofile = startup::raise_nofile()?;
        startup::become_subreaper()?;
        let mut warnings = Vec::new();
        if let Some(w) = startup::protect_from_oom() {
            eprintln!("ringmon daemon: warning: {w}");
            warnings.push(w);
        }
        let signals = crate::sys::signals::block_and_signalfd(&[
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGCHLD,
            libc::SIGHUP,
        ])
        .map_err(StartupError::Signals)?;
        let signals = Fd::new(signals, Owner::Daemon, "signalfd");
        let ring = Ring::new(cfg.ring_entries).map_err(StartupError::Ring)?;
        let missing = ring.missing_ops().map_err(StartupError::Ring)?;
        if !missing.is_empty() {
            return Err(StartupError::MissingOps(missing.join(", ")).into());
        }
        let ring_fd = Borrowed::new(ring.raw_fd(), Owner::Daemon, "io_uring");
        let stdio = (0..3)
            .filter(|fd| {
                rustix::io::fcntl_getfd(crate::sys::exec::borrow_raw_for_probe(*fd)).is_ok()
            })
            .map(|fd| Borrowed::new(fd, Owner::Daemon, "stdio"))
            .collect();
        let exe = crate::runtime::sealed_exe::make().map_err(StartupError::Sealed)?;
        let spawn_slot = rustix::io::fcntl_dupfd_cloexec(&exe, 0)
            .map(|fd| Fd::new(fd, Owner::Daemon, "spawn slot"))
            .map_err(|e| {
                StartupError::Sealed(crate::runtime::sealed_exe::SealError::Dup(e.into()))
            })?;
        startup::make_dir(&cfg.root)?;
        startup::make_dir(&cfg.containers_dir())?;
        startup::make_dir(&cfg.host_root_staging())?;
        if let Some(parent) = cfg.socket.parent() {
            startup::make_dir(parent)?;
        }
        let listener = startup::bind_socket(&cfg.socket)?;
        let cgroups = startup::cgroups(&cfg);
        if let Some(why) = &cgroups.unusable {
            let w = format!("containers get no cgroup: {why}");
            eprintln!("ringmon daemon: warning: {w}");
            warnings.push(w);
        }
        if cgroups.usable() {
            let features =
                std::fs::read_to_string("/sys/kernel/cgroup/features").unwrap_or_default();
            let hint = startup::favordynmods_hint(&features, &cgroups.layout);
            if let Some(w) = hint {
                eprintln!("ringmon daemon: warning: {w}");
                warnings.push(w);
            }
        }
        let (oom_watch, oom_watch_is_eventfd) = match startup::oom_watch(&cgroups) {
            Ok(w) => w,
            Err(w) => {
                eprintln!("ringmon daemon: warning: {w}");
                warnings.push(w);
                (None, false)
            }
        };
        let (warm, why) = crate::runtime::warm::WarmInits::new(
            cfg.warm_inits,
            cfg.warm_flags,
            cfg.host_root_staging(),
        );
        if let Some(w) = why {
            eprintln!("ringmon daemon: warning: {w}");
            warnings.push(w);
        }
        let ceiling = startup::container_ceiling(nofile);
        if ceiling == 0 {
            let w = format!(
                "RLIMIT_NOFILE {nofile} is below the {} fds kept for API clients: no container can be created",
                startup::RESERVED_FDS
            );
            eprintln!("ringmon daemon: warning: {w}");
            warnings.push(w);
        }
        eprintln!(
            "ringmon daemon: pid {} serving {} (RLIMIT_NOFILE {nofile}: room for about {ceiling} tty containers)",
            std::process::id(),
            cfg.socket.display()
        );
        let mut d = Self {
            cfg,
            ring,
            _ring_fd: ring_fd,
            _stdio: stdio,
            exe,
            spawn_slot,
            listener: Some(listener),
            accept_op: None,
            signals,
            signal_poll: None,
            containers: Slab::with_capacity(1024),
            by_id: HashMap::new(),
            by_name: HashMap::new(),
            by_pid: HashMap::new(),
            conns: Slab::with_capacity(64),
            serial: 0,
            clock: Clock::default(),
            scratch: vec![0u8; 64 * 1024],
            completions: Vec::with_capacity(256),
            dirty_conns: Vec::new(),
            read_again: Vec::new(),
            shutting_down: false,
            shutdown_timer: None,
            refill_timer: None,
            refill_due: false,
            in_setup: 0,
            started: Instant::now(),
            nofile,
            orphans_reaped: 0,
            drains_cut: 0,
            warnings,
            gave_up: None,
            cgroups,
            oom_watch,
            oom_watch_is_eventfd,
            oom_poll: None,
            warm,
            zygote_poll: None,
            stats_waiting: Vec::new(),
            given_up_seq: 0,
            parked: std::collections::VecDeque::new(),
            given_up: Slab::new(),
            removals: Slab::new(),
        };
        // The pool is full before the daemon says it is ready; no client waits yet.
        d.clone_warm();
        d.arm_accept();
        d.arm_signals();
        d.arm_oom_watch();
        if d.cfg.ready_stdout {
            signal_ready();
        }
        Ok(d)
    }

    pub fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    fn arm_accept(&mut self) {
        if let Some(l) = &self.listener {
            let t = Token::encode(Kind::Listener, 0, 0, 0);
            self.accept_op = Some(self.ring.accept_multi(l.as_fd(), t));
        }
    }

    fn arm_signals(&mut self) {
        let t = Token::encode(Kind::Signals, 0, 0, 0);
        self.signal_poll = Some(self.ring.poll(self.signals.as_fd(), POLLIN, true, t));
    }

    fn serve(&mut self) -> Result<(), DaemonError> {
        loop {
            self.read_pending_conns();
            self.flush_dirty_conns();
            self.refill_if_due().map_err(DaemonError::Enter)?;
            if self.shutting_down
                && self.containers.is_empty()
                && self.given_up.is_empty()
                && self.removals.is_empty()
            {
                return Ok(());
            }
            if let Some(survivors) = self.gave_up.take() {
                return Err(DaemonError::Survivors(self.cfg.kill_timeout, survivors));
            }
            // Work left over from a read budget: collect what is ready, but do not sleep.
            let want = if self.read_again.is_empty() { 1 } else { 0 };
            self.ring
                .submit_and_wait(want)
                .map_err(DaemonError::Enter)?;
            let mut batch = std::mem::take(&mut self.completions);
            self.ring.drain(&mut batch);
            for c in batch.drain(..) {
                self.dispatch(c);
            }
            self.completions = batch;
        }
    }

    fn dispatch(&mut self, c: Completion) {
        let t = Token::parse(c.token);
        match t.kind {
            k if k == Kind::Listener as u8 => self.on_accept(c),
            k if k == Kind::Signals as u8 => self.on_signals(c),
            k if k == Kind::Conn as u8 => self.on_conn_completion(t, c),
            k if k == Kind::Ctr as u8 => self.on_ctr_completion(t, c),
            k if k == Kind::Timer as u8 => self.on_daemon_timer(t, c),
            k if k == Kind::Oom as u8 => self.on_oom_event(c),
            k if k == Kind::GivenUp as u8 => self.on_given_up(t, &c),
            k if k == Kind::Removal as u8 => self.on_removal(t, &c),
            k if k == Kind::Zygote as u8 => self.on_zygote(t.key, c.more),
            _ => {}
        }
    }

    fn on_accept(&mut self, mut c: Completion) {
        if !c.more {
            self.accept_op = None;
        }
        let failed = c.result < 0 && c.result != -libc::ECANCELED && c.result != -libc::EAGAIN;
        if let Some(fd) = c.take_fd() {
            self.add_conn(fd);
        } else if failed {
            eprintln!(
                "ringmon daemon: accept {}: {}",
                self.cfg.socket.display(),
                io::Error::from_raw_os_error(-c.result)
            );
        }
        if self.accept_op.is_none() && !self.shutting_down {
            if failed {
                // Out of fds (EMFILE/ENFILE) fails again at once: retry a little later.
                let t = Token::encode(Kind::Timer, token::timer::ACCEPT_RETRY, 0, 0);
                self.ring.timeout(ACCEPT_RETRY, t);
            } else {
                self.arm_accept();
            }
        }
    }

    fn on_signals(&mut self, c: Completion) {
        if !c.more {
            self.signal_poll = None;
        }
        let mut buf = [0u8; 128];
        let mut chld = false;
        while let Ok(n) = rustix::io::read(&self.signals, &mut buf) {
            if n < 128 {
                break;
            }
            // struct signalfd_siginfo starts with u32 ssi_signo, i32 ssi_errno, i32
            // ssi_code, u32 ssi_pid.
            let word = |i: usize| u32::from_ne_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
            match word(0) as i32 {
                libc::SIGTERM | libc::SIGINT => self.begin_shutdown(),
                // A tracked child's exit is reaped by its WaitId, whose completion sweeps
                // (`on_exit`): the sweep walks every child, so it runs here only for a
                // child we do not track. Signals that coalesced with a tracked one are
                // swept then.
                libc::SIGCHLD => chld |= !self.is_tracked(word(12) as i32),
                _ => {}
            }
        }
        if chld {
            self.sweep_orphans();
        }
        if self.signal_poll.is_none() {
            self.arm_signals();
        }
    }

    /// SIGTERM/SIGINT: stop accepting, stop every container the way `stop` does (its stop
    /// signal, the grace period, SIGKILL to everything, the kill deadline), and leave the
    /// loop once all are drained and gone, or give up after the deadlines naming survivors.
    fn begin_shutdown(&mut self) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        eprintln!(
            "ringmon daemon: stopping {} containers (grace {:?})",
            self.containers.len(),
            self.cfg.stop_timeout
        );
        if let Some(op) = self.accept_op.take() {
            self.ring.cancel(op);
        }
        if let Some(op) = self.oom_poll.take() {
            self.ring.cancel(op);
        }
        self.warm.drain();
        // Creates waiting for an init are refused now, as new ones are.
        self.after_pool_change();
        let keys: Vec<usize> = self.containers.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.containers[key].removing = true;
            self.stop_container(key, self.cfg.stop_timeout, None, None);
            self.maybe_free_container(key);
        }
        let give_up = self
            .cfg
            .stop_timeout
            .saturating_add(self.cfg.kill_timeout)
            .saturating_add(SHUTDOWN_GIVE_UP);
        let t = Token::encode(Kind::Timer, token::timer::SHUTDOWN_GIVE_UP, 0, 0);
        self.shutdown_timer = Some(self.ring.timeout(give_up, t));
    }

    fn on_daemon_timer(&mut self, t: Token, c: Completion) {
        if t.sub == token::timer::WARM_REFILL {
            self.refill_timer = None;
        }
        if c.result != -libc::ETIME {
            return;
        }
        match t.sub {
            token::timer::SHUTDOWN_GIVE_UP => {
                self.shutdown_timer = None;
                let mut survivors: Vec<String> = self
                    .containers
                    .iter()
                    .map(|(_, c)| match (&c.pidfd, &c.kill_error) {
                        (_, Some(e)) => e.clone(),
                        (Some(_), None) => format!("{} (pid {} not reaped)", c.name, c.pid),
                        (None, None) => format!("{} (output still draining)", c.name),
                    })
                    .collect();
                survivors.extend(
                    self.given_up
                        .iter()
                        .map(|(_, g)| format!("init {} ({})", g.pid, g.waiting_for())),
                );
                self.gave_up = Some(survivors.join(", "));
            }
            token::timer::ACCEPT_RETRY if !self.shutting_down && self.accept_op.is_none() => {
                self.arm_accept();
            }
            token::timer::WARM_REFILL => self.refill_warm(),
            _ => {}
        }
    }

    fn finish(&mut self) {
        self.flush_dirty_conns();
        if let Some(op) = self.shutdown_timer.take() {
            self.ring.cancel_timeout(op);
        }
        let _ = std::fs::remove_file(&self.cfg.socket);
        self.cgroups.remove_parents();
        eprintln!("ringmon daemon: stopped");
    }
}

/// Tells the CLI that started us that the socket is live, then lets go of its pipe.
fn signal_ready() {
    let mut out = std::io::stdout();
    let _ = std::io::Write::write_all(
        &mut out,
        format!("ready {}\n", std::process::id()).as_bytes(),
    );
    let _ = std::io::Write::flush(&mut out);
    if let Ok(null) = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) {
        let _ = rustix::stdio::dup2_stdout(&null);
    }
}
