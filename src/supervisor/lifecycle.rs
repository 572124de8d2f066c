//! Lifecycle calls and the events that move a container through its states.

use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use crate::api::proto::{ApiError, CreateParams, CreateResult, ErrorCode, ExecFailure};
use crate::daemon::token::{ctr, Kind, Token};
use crate::daemon::{Daemon, POLLIN};
use crate::fd_ledger::Fd;
use crate::logs::cri::Stream;
use crate::logs::writer::LogWriter;
use crate::runtime::handshake::{self, FromInit, HandshakeError, Job, ToInit};
use crate::runtime::spawn::{clone_init, InitJob, NewNamespaces};
use crate::runtime::spec;
use crate::supervisor::container::{
    set_status, Container, ExitRecord, OutStream, ReplyTo, Status, StdinSink,
};
use crate::supervisor::ids;
use crate::sys::uring::Completion;

pub fn now_rfc3339() -> String {
    let mut out = Vec::with_capacity(32);
    let (s, n) = crate::logs::cri::Clock::now();
    crate::logs::cri::Clock::default().write_timestamp(s, n, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::BadRequest, msg)
}

impl Daemon {
    pub fn ctr_token(&self, key: usize, sub: u8) -> u64 {
        Token::encode(Kind::Ctr, sub, self.containers[key].generation(), key)
    }

    /// Finds a container by full id, unique id prefix (at least 4 characters) or name.
    pub fn lookup(&self, what: &str) -> Result<usize, ApiError> {
        if let Some(&k) = self.by_id.get(what).or_else(|| self.by_name.get(what)) {
            return Ok(k);
        }
        if what.len() >= 4 {
            let mut hits = self.by_id.iter().filter(|(id, _)| id.starts_with(what));
            if let Some((_, &k)) = hits.next() {
                if hits.next().is_none() {
                    return Ok(k);
                }
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("id prefix {what:?} matches more than one container"),
                ));
            }
        }
        Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no such container: {what}"),
        ))
    }

    fn validate_create(&self, p: &CreateParams) -> Result<(), ApiError> {
        if self.shutting_down {
            return Err(ApiError::new(
                ErrorCode::InvalidState,
                "the daemon is shutting down",
            ));
        }
        if p.bundle.is_none() && p.args.is_empty() {
            return Err(bad("args: a command is required"));
        }
        if p.args.first().is_some_and(|a| a.is_empty()) {
            return Err(bad("args: the command is empty"));
        }
        if p.bundle.is_some() && p.rootfs.is_some() {
            return Err(bad("bundle and rootfs: give one or the other"));
        }
        for (what, path) in [("bundle", &p.bundle), ("rootfs", &p.rootfs)] {
            if let Some(path) = path {
                if !path.starts_with('/') || path.contains('\0') {
                    return Err(bad(format!("{what}: {path:?} must be an absolute path")));
                }
            }
        }
        if let Some(a) = p.args.iter().find(|a| a.contains('\0')) {
            return Err(bad(format!("args: {a:?} contains a NUL byte")));
        }
        for e in &p.env {
            if !e.contains('=') || e.starts_with('=') || e.contains('\0') {
                return Err(bad(format!("env: {e:?} is not KEY=VALUE")));
            }
        }
        if let Some(cwd) = &p.cwd {
            if !cwd.starts_with('/') || cwd.contains('\0') {
                return Err(bad(format!("cwd: {cwd:?} must be an absolute path")));
            }
        }
        if let Some(lp) = &p.log_path {
            if !lp.starts_with('/') || lp.contains('\0') {
                return Err(bad(format!("log_path: {lp:?} must be an absolute path")));
            }
        }
        if let Some((r, c)) = p.winsize {
            if r == 0 || c == 0 {
                return Err(bad("winsize: rows and cols must be positive"));
            }
        }
        // The encoded job's size is checked once it is built (create).
        if let Some(name) = &p.name {
            ids::validate_name(name).map_err(bad)?;
            if self.by_name.contains_key(name)
                || self
                    .parked
                    .iter()
                    .any(|(q, _)| q.name.as_ref() == Some(name))
            {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("container name {name:?} is already in use"),
                ));
            }
        }
        use crate::daemon::startup::{FDS_PER_CREATE, RESERVED_FDS};
        // O(1): the ledger keeps its counts (this runs with thousands of fds held).
        let held = crate::fd_ledger::count_not_clients() as u64;
        if held + FDS_PER_CREATE > self.nofile.saturating_sub(RESERVED_FDS) {
            return Err(ApiError::new(
                ErrorCode::LimitReached,
                format!(
                    "{} containers, the daemon and its warm inits hold {held} fds: RLIMIT_NOFILE {} (with {RESERVED_FDS} kept for clients) leaves no room for another",
                    self.containers.len(),
                    self.nofile
                ),
            ));
        }
        Ok(())
    }

    /// What a container has on the host besides its processes and its cgroup: its state
    /// directory and its log. Made after the job is sent, while the init builds the
    /// container on another CPU (the init touches neither). On failure, whatever of them
    /// was made is removed again.
    fn make_state(
        &mut self,
        dir: &Path,
        log_path: Option<&str>,
        owner: crate::fd_ledger::Owner,
    ) -> Result<(PathBuf, LogWriter), ApiError> {
        std::fs::create_dir(dir).map_err(|e| {
            ApiError::new(ErrorCode::Internal, format!("mkdir {}: {e}", dir.display()))
        })?;
        let log_path = log_path
            .map(PathBuf::from)
            .unwrap_or_else(|| dir.join("container.log"));
        match LogWriter::open(&log_path, owner) {
            Ok(log) => Ok((log_path, log)),
            Err(e) => {
                let _ = std::fs::remove_dir_all(dir);
                Err(ApiError::new(
                    ErrorCode::BadRequest,
                    format!("log_path: {e}"),
                ))
            }
        }
    }

    pub fn create(&mut self, p: CreateParams, reply: ReplyTo) -> Result<(), ApiError> {
        self.create_or_park(p, reply, true)
    }

    /// A create; with `may_park`, one that would clone its own init waits for the
    /// zygote's next fork instead (`park_create`). A parked create is run again, from the
    /// start, without it (`serve_parked`).
    pub(crate) fn create_or_park(
        &mut self,
        p: CreateParams,
        reply: ReplyTo,
        may_park: bool,
    ) -> Result<(), ApiError> {
        self.validate_create(&p)?;
        let fresh_id = || {
            ids::new_id().map_err(|e| ApiError::new(ErrorCode::Internal, format!("getrandom: {e}")))
        };
        // The create that takes the first waiting init gets the id its cgroup was made
        // under (cgroups/warm.rs); the take below settles it.
        let mut id = match self.warm.next_id() {
            Some(id) => id,
            None => fresh_id()?,
        };
        let serial = self.next_serial();
        let owner = crate::fd_ledger::Owner::Container(serial);
        let source = match (&p.bundle, &p.rootfs) {
            (Some(b), _) => spec::Source::Bundle(Path::new(b)),
            (None, Some(r)) => spec::Source::Rootfs(Path::new(r)),
            (None, None) => spec::Source::Host,
        };
        let overrides = spec::Overrides {
            args: &p.args,
            env: &p.env,
            cwd: p.cwd.as_deref(),
            // A bundle's process.terminal stands unless the caller asked for a tty.
            tty: (p.bundle.is_none() || p.tty).then_some(p.tty),
            user: p.user.as_deref(),
            hostname: p.hostname.as_deref(),
            volumes: &p.volumes,
            resources: p.resources.as_ref(),
        };
        let bad = |msg: String| ApiError::new(ErrorCode::BadRequest, msg);
        let stage = self.cfg.host_root_staging();
        let mut prepared =
            spec::prepare(source, &overrides, &id[..12], &stage).map_err(|e| bad(e.to_string()))?;
        let mut warning = None;
        if prepared.shares_pid_ns && !self.cgroups.usable() && p.allow_partial_kill {
            let w = "the container shares a pid namespace and has no cgroup: kill, stop and rm -f reach only its init, and its other processes may survive it".to_string();
            warning = Some(w);
        }
        if prepared.shares_pid_ns && !self.cgroups.usable() && !p.allow_partial_kill {
            let why = self.cgroups.unusable.as_deref().unwrap_or("");
            return Err(bad(format!(
                "linux.namespaces: the container shares a pid namespace, and without a cgroup ({why}) kill cannot reach its processes (only its init); refused (allow_partial_kill accepts it)"
            )));
        }
        let stop_signal = match &p.stop_signal {
            Some(s) => crate::supervisor::signals::parse_str(s)
                .map_err(|e| bad(format!("stop_signal: {e}")))?,
            None => prepared.stop_signal.unwrap_or(libc::SIGTERM),
        };
        if self.cgroups.usable() && prepared.clone_flags & libc::CLONE_NEWCGROUP != 0 {
            // The namespace's root is the cgroup the init is in when it unshares: the init
            // makes it after joining the container's cgroup, not the clone before.
            prepared.clone_flags &= !libc::CLONE_NEWCGROUP;
            prepared.plan.unshare_cgroup_ns = true;
        }
        let ns = NewNamespaces {
            clone_flags: prepared.clone_flags,
            pid_ns: prepared.pid_ns.as_deref(),
            stage: Some(&stage),
        };
        // The cgroup is planned under the id of the init this create expects to take
        // (planned again below if it takes another): whether a sealed init could run the
        // job depends on which cgroups it joins.
        let (mut cgroup_writes, mut planned) = self.plan_cgroup(&id, &prepared).map_err(bad)?;
        self.set_cgroup_joins(&mut prepared.plan, &planned, &id);
        let sealed_could_run = self.warm.sealed_could_run(&prepared.plan);
        // A parked create runs again without `may_park`.
        self.discard_unfit_warm(&ns, sealed_could_run, !may_park);
        // With the pool empty, the create waits for the zygote's next fork (it is run
        // again then) rather than clone its own init here.
        if may_park && self.park_create(&ns) {
            self.parked.push_back((p, reply));
            return Ok(());
        }
        // A warm init with these namespaces, if one is waiting (runtime::warm). If it is not
        // the one the id was reserved for (other namespaces, a stale or dead pool), the
        // container takes the id of the init it gets, or a fresh one.
        let warm = self.take_warm(&ns, owner);
        let taken_id = warm.as_ref().and_then(|b| b.warm_id.clone());
        if taken_id.as_deref() != Some(id.as_str()) {
            id = match taken_id {
                Some(t) => t,
                None => match fresh_id() {
                    Ok(id) => id,
                    Err(e) => {
                        self.put_back_warm(warm);
                        return Err(e);
                    }
                },
            };
            if matches!(source, spec::Source::Host) && p.hostname.is_none() {
                prepared.plan.hostname = Some(id[..12].to_string());
            }
            (cgroup_writes, planned) = match self.plan_cgroup(&id, &prepared) {
                Ok(planned) => planned,
                Err(e) => {
                    self.put_back_warm(warm);
                    return Err(bad(e));
                }
            };
            self.set_cgroup_joins(&mut prepared.plan, &planned, &id);
        }
        let name = p.name.clone().unwrap_or_else(|| id[..12].to_string());
        if let Some(w) = &warning {
            eprintln!("ringmon daemon: warning: {name}: {w}");
        }
        let tty = prepared.tty;
        let args = prepared.args;
        let job = match InitJob::new(Job {
            args: args.clone(),
            env: prepared.env,
            cwd: prepared.cwd,
            tty,
            stdin: p.stdin && !tty,
            winsize: p.winsize.or(prepared.winsize),
            container: prepared.plan,
        }) {
            Ok(job) => job,
            Err(e) => {
                self.put_back_warm(warm);
                return Err(match e {
                    HandshakeError::TooLarge(size) => bad(format!(
                        "args, env and cwd: {size} bytes encoded is more than the {} a container's command may take",
                        crate::runtime::handshake::MAX_MESSAGE
                    )),
                    e => ApiError::new(ErrorCode::Internal, format!("encode job: {e}")),
                });
            }
        };
        // Everything the caller could get wrong is checked. Without a warm init, the init
        // is cloned now, so that its exec and runtime start-up run on another CPU while
        // this thread makes the cgroup; the init waits for its job before it touches it.
        let mut booting = match warm {
            Some(b) => b,
            None => clone_init(&self.exe, &self.spawn_slot, &ns, owner)
                .map_err(|e| ApiError::new(ErrorCode::SpawnFailed, e.to_string()))?,
        };
        // A warm init's own cgroup becomes the container's (cgroups/warm.rs).
        let warm_cgroup = booting.cgroup.take();
        let cgroup = match self.make_cgroup(&planned, &cgroup_writes, warm_cgroup) {
            Ok(cg) => cg,
            Err((msg, left)) => {
                // What the init may still be in goes once it is reaped.
                booting.cgroup = Some(left);
                self.give_up(
                    booting,
                    Some((reply, ApiError::new(ErrorCode::BadRequest, msg))),
                );
                self.refill_warm();
                return Ok(());
            }
        };
        // The job goes out as soon as the cgroup it joins exists; the state directory and
        // the log are made while the init builds the container. The pool's replacement
        // is cloned later if nothing else is in setup (`defer_refill`).
        let spawned = match booting.send_job(&job) {
            Ok(s) => s,
            Err(b) => {
                let (e, mut booting) = *b;
                // Removed once the init, which may have joined it ahead, is reaped.
                booting.cgroup = Some(cgroup);
                let e = ApiError::new(ErrorCode::SpawnFailed, e.to_string());
                self.give_up(booting, Some((reply, e)));
                self.refill_warm();
                return Ok(());
            }
        };
        let dir = self.cfg.containers_dir().join(&id);
        let state = self.make_state(&dir, p.log_path.as_deref(), owner);
        if self.in_setup == 0 {
            self.defer_refill();
        } else {
            // Other creates and starts are under way: no quiet moment is coming, and the
            // next create would clone its own init. Refill now, while this init works.
            self.refill_warm();
        }
        // A state that could not be made fails the create once the init, which has its
        // job, is killed and reaped: the container goes the way of one whose init failed.
        let (log_path, log, create_error) = match state {
            Ok((log_path, log)) => (log_path, log, None),
            Err(e) => (PathBuf::new(), LogWriter::closed(), Some(e)),
        };
        let mut streams = Vec::new();
        if let Some(fd) = spawned.stdout {
            streams.push(Some(new_stream(fd, Stream::Stdout)));
        }
        if let Some(fd) = spawned.stderr {
            streams.push(Some(new_stream(fd, Stream::Stderr)));
        }
        let stdin = if tty || spawned.stdin.is_some() {
            Some(StdinSink {
                pipe: spawned.stdin,
                queue: Vec::new(),
                poll: None,
                eof_requested: false,
            })
        } else {
            None
        };
        let c = Container {
            serial,
            id: id.clone(),
            name: name.clone(),
            status: Status::Creating,
            pid: spawned.pid,
            args,
            tty,
            created_at: now_rfc3339(),
            started_at: None,
            dir,
            log_path,
            pidfd: Some(spawned.pidfd),
            sync: Some(spawned.sync),
            sync_poll: None,
            sync_eof: false,
            streams,
            stdin,
            log,
            exit: None,
            exec_failure: None,
            setup_error: create_error.as_ref().map(|e| e.message.clone()),
            create_error,
            drain_deadline: None,
            kill_deadline: None,
            ops: 0,
            pending_create: Some(reply),
            pending_start: None,
            waiters: Vec::new(),
            attached: Vec::new(),
            pending_delete: Vec::new(),
            removal_waiters: Vec::new(),
            failed_create: None,
            followers: Vec::new(),
            auto_remove: p.auto_remove,
            removing: false,
            cgroup,
            oom_killed: false,
            shares_pid_ns: prepared.shares_pid_ns,
            stop_signal,
            stop_waiters: Vec::new(),
            stop_timer: None,
            stop_at: None,
            freeze_kill: None,
            freeze_poll: None,
            cgroup_retry: None,
            cgroup_rmdirs: 0,
            cgroup_removed: Vec::new(),
            cgroup_rmdir_error: None,
            log_timer: None,
            cgroup_backoff_ms: 1,
            kill_error: None,
            exit_record: ExitRecord::None,
            warning,
        };
        let key = self.containers.insert(c);
        self.in_setup += 1;
        self.by_id.insert(id, key);
        self.by_name.insert(name, key);
        self.by_pid.insert(self.containers[key].pid, key);
        // Wait on "ready", "init exited" and "init reported an error" together.
        let t = self.ctr_token(key, ctr::SYNC);
        let c = &mut self.containers[key];
        c.sync_poll = c
            .sync
            .as_ref()
            .map(|s| self.ring.poll(s.as_fd(), POLLIN, true, t));
        c.ops += 1;
        let t = self.ctr_token(key, ctr::WAIT);
        let c = &mut self.containers[key];
        if let Some(pidfd) = &c.pidfd {
            self.ring.waitid_pidfd(pidfd.as_fd(), t);
            c.ops += 1;
        }
        for idx in 0..self.containers[key].streams.len() {
            self.arm_output(key, idx);
        }
        if self.containers[key].create_error.is_some() {
            let _ = self.signal_container(key, libc::SIGKILL);
        }
        Ok(())
    }

    pub fn start(&mut self, key: usize, reply: ReplyTo) -> Result<(), ApiError> {
        let c = &mut self.containers[key];
        if c.status != Status::Created {
            return Err(ApiError::new(
                ErrorCode::InvalidState,
                format!("container {} is {}, not created", c.name, c.status.as_str()),
            ));
        }
        let Some(sync) = &c.sync else {
            return Err(ApiError::new(
                ErrorCode::Internal,
                "the init's handshake socket is gone",
            ));
        };
        handshake::send(sync.as_fd(), &ToInit::Start, &[])
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("start {}: {e}", c.name)))?;
        set_status(&mut self.in_setup, c, Status::Starting);
        c.pending_start = Some(reply);
        Ok(())
    }

    /// Sends `sig` to the container's init through its pidfd (never by a recycled pid).
    pub fn signal_container(&mut self, key: usize, sig: i32) -> io::Result<()> {
        let c = &self.containers[key];
        match &c.pidfd {
            Some(pidfd) => match crate::sys::process::pidfd_send_signal(pidfd.as_fd(), sig) {
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
                other => other,
            },
            None => Ok(()),
        }
    }

    /// `kill`: the init (through its pidfd), or with `all` every process of the container.
    pub fn kill(&mut self, key: usize, sig: i32, all: bool) -> Result<(), ApiError> {
        let c = &self.containers[key];
        let leftovers = all && c.status == Status::Stopped && !c.cgroup.pids().is_empty();
        if (c.status == Status::Stopped || c.exit.is_some()) && !leftovers {
            return Err(ApiError::new(
                ErrorCode::InvalidState,
                format!("container {} is not running", c.name),
            ));
        }
        if all {
            self.kill_all(key, sig);
            return Ok(());
        }
        self.signal_container(key, sig).map_err(|e| {
            ApiError::new(
                ErrorCode::Internal,
                format!("pidfd_send_signal {}: {e}", self.containers[key].pid),
            )
        })
    }

    /// delete: answers once everything the container held is released.
    pub fn delete(&mut self, key: usize, force: bool, reply: ReplyTo) -> Result<(), ApiError> {
        let c = &self.containers[key];
        let live = matches!(c.status, Status::Running | Status::Starting) && c.exit.is_none();
        if live && !force {
            return Err(ApiError::new(
                ErrorCode::InvalidState,
                format!(
                    "container {} is running: stop it first or use force",
                    c.name
                ),
            ));
        }
        // Also while output drains after the init's exit: stragglers may hold it open.
        if c.status != Status::Stopped {
            self.kill_all(key, libc::SIGKILL);
            self.arm_kill_deadline(key);
        }
        let c = &mut self.containers[key];
        c.removing = true;
        c.kill_error = None;
        // A new attempt kills again if the cgroup is still busy.
        c.cgroup_backoff_ms = 1;
        c.pending_delete.push(reply);
        self.maybe_free_container(key);
        Ok(())
    }

    pub fn on_ctr_completion(&mut self, t: Token, mut c: Completion) {
        let key = t.key as usize;
        match self.containers.get_mut(key) {
            Some(ct) if ct.generation() == t.generation => {
                if !c.more {
                    ct.ops -= 1;
                }
            }
            _ => return,
        }
        match t.sub {
            ctr::SYNC => self.on_sync(key, &c),
            ctr::WAIT => self.on_exit(key, &c),
            s if s == ctr::OUT || s == ctr::OUT + 1 => {
                self.on_output(key, (s - ctr::OUT) as usize, &c)
            }
            ctr::LOG_WRITE => self.on_log_write(key, &mut c),
            ctr::STDIN => self.on_stdin_writable(key, &c),
            ctr::DRAIN_DEADLINE => self.on_drain_deadline(key, &c),
            ctr::KILL_DEADLINE => self.on_kill_deadline(key, &c),
            ctr::STOP_GRACE => self.on_stop_grace(key, &c),
            ctr::CGROUP_RETRY => self.on_cgroup_retry(key),
            ctr::CGROUP_RMDIR => self.on_cgroup_rmdir(key, &c),
            ctr::EXIT_RECORD => self.on_exit_record(key, &c),
            ctr::LOG_FLUSH => {
                self.containers[key].log_timer = None;
                self.submit_log(key);
            }
            ctr::FREEZE_POLL => self.on_freeze_poll(key, &c),
            _ => {}
        }
        self.try_stop(key);
        self.maybe_free_container(key);
    }

    fn on_sync(&mut self, key: usize, c: &Completion) {
        if !c.more {
            self.containers[key].sync_poll = None;
        }
        self.drain_sync(key);
        let ct = &mut self.containers[key];
        match (ct.sync_eof, ct.sync_poll) {
            // Close the socket only once the kernel is done with the poll on it.
            (true, Some(op)) => self.ring.cancel(op),
            (true, None) => ct.sync = None,
            (false, None) if ct.sync.is_some() => {
                let t = self.ctr_token(key, ctr::SYNC);
                let ct = &mut self.containers[key];
                ct.sync_poll = ct
                    .sync
                    .as_ref()
                    .map(|s| self.ring.poll(s.as_fd(), POLLIN, true, t));
                ct.ops += 1;
            }
            _ => {}
        }
    }

    /// Reads every message the init has sent so far.
    pub(crate) fn drain_sync(&mut self, key: usize) {
        let mut buf = Vec::new();
        while !self.containers[key].sync_eof {
            let Some(sync) = &self.containers[key].sync else {
                break;
            };
            match handshake::recv::<FromInit>(sync.as_fd(), &mut buf) {
                Ok(Some((msg, fds))) => self.on_init_message(key, msg, fds),
                Ok(None) => self.on_sync_closed(key),
                Err(HandshakeError::Recv(e)) if e.raw_os_error() == Some(libc::EAGAIN) => break,
                Err(e) => {
                    let ct = &mut self.containers[key];
                    ct.setup_error
                        .get_or_insert_with(|| format!("handshake: {e}"));
                    self.on_sync_closed(key);
                }
            }
        }
    }

    fn on_init_message(&mut self, key: usize, msg: FromInit, fds: Vec<std::os::fd::OwnedFd>) {
        match msg {
            FromInit::Ready {
                root_built_ahead,
                cgroup_joined_ahead,
            } => {
                self.warm.counts.root_built_ahead += u64::from(root_built_ahead);
                self.warm.counts.cgroup_joined_ahead += u64::from(cgroup_joined_ahead);
                let ct = &mut self.containers[key];
                if ct.tty {
                    let Some(master) = fds.into_iter().next() else {
                        ct.setup_error = Some("init sent ready without the pty master".into());
                        let _ = self.signal_container(key, libc::SIGKILL);
                        return;
                    };
                    let nb = rustix::fs::fcntl_getfl(&master).and_then(|fl| {
                        rustix::fs::fcntl_setfl(&master, fl | rustix::fs::OFlags::NONBLOCK)
                    });
                    let fd = Fd::new(master, ct.owner(), "pty master");
                    if let Err(e) = nb {
                        ct.setup_error = Some(format!("fcntl O_NONBLOCK pty master: {e}"));
                    }
                    ct.streams.push(Some(new_stream(fd, Stream::Stdout)));
                    let idx = ct.streams.len() - 1;
                    self.arm_output(key, idx);
                }
                let ct = &mut self.containers[key];
                // A create that failed in the daemon (`create_error`) answers once its
                // killed init is reaped, never with Ready.
                if ct.status == Status::Creating && ct.create_error.is_none() {
                    set_status(&mut self.in_setup, ct, Status::Created);
                    if let Some(r) = ct.pending_create.take() {
                        let res = CreateResult {
                            id: ct.id.clone(),
                            name: ct.name.clone(),
                            pid: ct.pid,
                            tty: ct.tty,
                            warning: ct.warning.clone(),
                        };
                        self.reply_ok(r, serde_json::to_value(res).unwrap_or_default());
                    }
                }
            }
            FromInit::SetupFailed { step, message } => {
                self.containers[key].setup_error = Some(format!("init: {step}: {message}"));
            }
            FromInit::ExecFailed {
                binary,
                errno,
                message,
                exit_code,
            } => {
                let ct = &mut self.containers[key];
                ct.exec_failure = Some(ExecFailure {
                    binary,
                    errno,
                    exit_code,
                });
                ct.setup_error = Some(message.clone());
                if let Some(r) = ct.pending_start.take() {
                    let mut err = ApiError::new(ErrorCode::ExecFailed, message);
                    err.exec = ct.exec_failure.clone();
                    self.reply_err(r, err);
                }
            }
        }
    }

    /// The init's end closed: on a successful exec (close-on-exec), or because it died.
    fn on_sync_closed(&mut self, key: usize) {
        let ct = &mut self.containers[key];
        ct.sync_eof = true;
        if ct.status == Status::Starting && ct.exec_failure.is_none() {
            set_status(&mut self.in_setup, ct, Status::Running);
            ct.started_at = Some(now_rfc3339());
            if let Some(r) = ct.pending_start.take() {
                self.reply_ok(r, serde_json::json!({}));
            }
        }
        self.refill_warm();
    }
}

fn new_stream(fd: Fd, stream: Stream) -> OutStream {
    OutStream {
        fd,
        stream,
        poll: None,
        done: false,
        paused: false,
        hung_up: false,
    }
}
