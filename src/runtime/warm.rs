//! Warm inits: inits cloned ahead of the containers that will use them (docs/design/0010).
//!
//! A container's init is generic until its job arrives: the sealed binary's exec, the
//! runtime's start-up and the new namespaces (pid, ipc, uts, mount, net) are the same for
//! every container with the same namespace set. The daemon keeps a few such inits waiting
//! in their first receive; `create` takes one instead of cloning, and asks for its
//! replacement once the job is sent, while the taken init builds its container on the
//! other CPU. The zygote forks them (`runtime::zygote`, docs/design/0014): the daemon sends
//! a request and adds the init when the reply comes, never waiting for a clone itself. A
//! spec with other namespaces, or one that joins a pid namespace, is cloned for as before.
//!
//! A warm init's mount namespace is a copy of the daemon's from the moment of its clone.
//! Anything mounted on the host after that (a bundle's rootfs, a volume) may not propagate
//! into the copy, so the daemon watches its own mount table (`/proc/self/mountinfo` reports
//! each change to poll(2) as POLLPRI, once) and never hands out an init cloned before the
//! last change: a changed table discards the pool, and that create is cloned for.
//!
//! Each warm init also builds a root ahead: the daemon sends it the embedded default's
//! plan (`ToInit::Prebuild`) after the clone, and the init makes that root and its ~25
//! mounts (proc, dev and its nodes, devpts, shm, mqueue, sys, the masked and read-only
//! paths) on its staging tmpfs while it waits. A job whose root is the same
//! (`ContainerPlan::same_root`) uses it; any other job's init detaches it and builds its
//! own. The root is a non-recursive copy of the host's "/", so a later host mount does not
//! make it stale (and a changed mount table discards the pool anyway).
//!
//! After `SEAL_AFTER` creates in a row whose job a sealed init could run
//! (`ContainerPlan::needs_host_tree`), new inits are also told to seal that root
//! (`ToInit::Seal`, docs/design/0015): they detach the host's tree and enter the root
//! before their job. A create whose job needs the host's tree gives the sealed inits up
//! (`note_create`) and parks for an unsealed one.

use std::collections::VecDeque;

use super::handshake::{Encoded, ToInit};
use super::spawn::{clone_init, Booting, NewNamespaces};
use super::spec::plan::ContainerPlan;
use super::zygote::{Reply, Zygote};
use crate::fd_ledger::{Fd, Owner};

/// Zygotes started in a row without one forking an init, before refills clone inits
/// themselves.
const ZYGOTE_RETRIES: u32 = 3;

/// Creates in a row whose job a sealed init could run (`ContainerPlan::needs_host_tree`),
/// before new warm inits are sealed (docs/design/0015): a host that runs other jobs
/// (bundles, joined namespaces) keeps unsealed inits, which serve every job.
const SEAL_AFTER: u32 = 8;

/// What the daemon's maker of a warm init's own cgroup returns (`WarmInits::refill`).
pub type CgroupResult = Result<Option<crate::cgroups::CtrCgroup>, String>;

/// The namespaces a warm init may be made with, by their OCI names.
pub const NAMESPACES: [(&str, i32); 5] = [
    ("pid", libc::CLONE_NEWPID),
    ("ipc", libc::CLONE_NEWIPC),
    ("uts", libc::CLONE_NEWUTS),
    ("mount", libc::CLONE_NEWNS),
    ("network", libc::CLONE_NEWNET),
];

/// The embedded default spec's namespaces (`spec::defaults::host`).
pub const DEFAULT_NAMESPACES: &str = "pid,ipc,uts,mount";

/// Parses `--warm-namespaces` ("pid,ipc,uts,mount"): CLONE_NEW* flags. A mount namespace
/// is required (every container pivots into its own root).
pub fn parse_namespaces(list: &str) -> Result<i32, String> {
    let mut flags = 0;
    for name in list.split(',').map(str::trim) {
        let Some((_, f)) = NAMESPACES.iter().find(|(n, _)| *n == name) else {
            let known: Vec<&str> = NAMESPACES.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "--warm-namespaces: {name:?} is not one of {}",
                known.join(", ")
            ));
        };
        flags |= f;
    }
    if flags & libc::CLONE_NEWNS == 0 {
        return Err("--warm-namespaces: mount is required".into());
    }
    Ok(flags)
}

/// The OCI names of `flags`, in `NAMESPACES` order.
pub fn namespace_names(flags: i32) -> Vec<&'static str> {
    NAMESPACES
        .iter()
        .filter(|(_, f)| flags & f != 0)
        .map(|(n, _)| *n)
        .collect()
}

/// Counters for `stats`.
#[derive(Clone, Copy, Debug, Default, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct WarmCounts {
    /// Creates that took a warm init.
    pub taken: u64,
    /// Creates that cloned their own (other namespaces, a joined pid namespace, an empty
    /// or stale pool).
    pub cloned: u64,
    /// Warm inits discarded because the daemon's mount table changed after their clone.
    pub stale: u64,
    /// Warm inits found dead when taken (killed from outside).
    pub died: u64,
    /// Refills whose clone failed.
    pub refill_failed: u64,
    /// Containers whose init used the root it built ahead (`Prebuild`).
    #[serde(default)]
    pub root_built_ahead: u64,
    /// Containers whose init was in their cgroups before its job (its own, made under
    /// the id reserved for the container: `cgroups/warm.rs`).
    #[serde(default)]
    pub cgroup_joined_ahead: u64,
    /// Creates that found the pool empty and waited for the zygote's next fork instead of
    /// cloning their own (counted in `taken` too, once they got it).
    #[serde(default)]
    pub waited: u64,
    /// Warm inits told to seal their root (`ToInit::Seal`: the host's tree detached
    /// before the job).
    #[serde(default)]
    pub sealed: u64,
    /// Creates that took a sealed init.
    #[serde(default)]
    pub sealed_taken: u64,
    /// Sealed inits given up because a create's job needed the host's tree.
    #[serde(default)]
    pub sealed_given_up: u64,
}

pub struct WarmInits {
    want: usize,
    flags: i32,
    /// Where inits stage their mount namespace (`NewNamespaces::stage`).
    stage: std::path::PathBuf,
    inits: VecDeque<Booting>,
    /// The root every warm init builds ahead, encoded once (None: they build none), and
    /// its plan.
    prebuild: Option<(Encoded, ContainerPlan)>,
    /// Creates in a row, of those the pool serves, whose job a sealed init could run.
    fit_streak: u32,
    /// Inits out of the pool (stale, dead, shutdown), for the daemon to kill and reap
    /// (`take_gone`).
    gone: Vec<Booting>,
    /// `/proc/self/mountinfo`, polled for POLLPRI (None: not watchable, no pool).
    mounts: Option<Fd>,
    pub counts: WarmCounts,
    /// The last refill failure, reported once until a refill succeeds again.
    failing: bool,
    /// The same for a warm init's own cgroup.
    cgroup_failing: bool,
    /// Forks the inits (`runtime::zygote`): None until the first refill, and again after
    /// it died (the next refill starts another).
    zygote: Option<Zygote>,
    /// How many zygotes were started (its poll's token tells them apart).
    pub zygote_serial: u32,
    /// Set when a zygote could not be started: refills clone inits themselves from then on.
    zygote_off: bool,
    /// Zygotes that died since one last forked an init: at `ZYGOTE_RETRIES`, refills
    /// clone inits themselves (a zygote that cannot work is not restarted forever).
    zygote_deaths: u32,
    /// Requests sent to zygotes so far (`asked - pending` have been answered or dropped).
    asked: u64,
    /// Bumped whenever the mount table changed: an init forked for a request of an older
    /// epoch is stale when its reply comes.
    epoch: u64,
}

impl WarmInits {
    /// `want` inits with the namespaces of `flags`; none when `want` is 0 or the mount
    /// table cannot be watched (the error says why; a warning too when there is no root
    /// to build ahead).
    pub fn new(want: usize, flags: i32, stage: std::path::PathBuf) -> (Self, Option<String>) {
        let prebuild = default_root(&stage).and_then(|plan| {
            let msg = Encoded::new(&ToInit::Prebuild(Box::new(plan.clone())));
            msg.map(|m| (m, plan)).map_err(|e| e.to_string())
        });
        let (prebuild, why) = match prebuild {
            Ok(p) => (Some(p), None),
            Err(e) => (
                None,
                Some(format!(
                    "the embedded default's root: {e}: warm inits build no root ahead"
                )),
            ),
        };
        let mut w = Self {
            want,
            flags,
            stage,
            inits: VecDeque::new(),
            prebuild,
            fit_streak: 0,
            gone: Vec::new(),
            mounts: None,
            counts: WarmCounts::default(),
            failing: false,
            cgroup_failing: false,
            zygote: None,
            zygote_serial: 0,
            zygote_off: false,
            zygote_deaths: 0,
            asked: 0,
            epoch: 0,
        };
        if want == 0 {
            return (w, None);
        }
        // Without a root to build ahead the pool still serves (it only saves less).
        match rustix::fs::open(
            "/proc/self/mountinfo",
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        ) {
            Ok(fd) => {
                w.mounts = Some(Fd::new(fd, Owner::Daemon, "mount table watch"));
                (w, why)
            }
            Err(e) => {
                w.want = 0;
                let why = format!(
                    "openat /proc/self/mountinfo: {e}: no warm inits (every create clones its own)"
                );
                (w, Some(why))
            }
        }
    }

    pub fn pids(&self) -> Vec<i32> {
        self.inits.iter().map(|b| b.pid).collect()
    }

    /// The ids of the waiting inits that hold a cgroup of their own (`cgroups/warm.rs`).
    pub fn cgroup_ids(&self) -> Vec<String> {
        self.inits
            .iter()
            .filter(|b| b.cgroup.is_some())
            .filter_map(|b| b.warm_id.clone())
            .collect()
    }

    /// Fewer inits wait than are wanted.
    pub fn short(&self) -> bool {
        self.inits.len() < self.want
    }

    pub fn flags(&self) -> i32 {
        self.flags
    }

    /// A warm init for a clone with `ns`, handed to `owner`; None when the caller must
    /// clone its own. The caller discards a stale pool first (`drop_if_stale`), once per
    /// create.
    pub fn take(&mut self, ns: &NewNamespaces<'_>, owner: Owner) -> Option<Booting> {
        if !self.serves(ns) {
            self.counts.cloned += 1;
            return None;
        }
        while let Some(b) = self.inits.pop_front() {
            if b.waiting() {
                self.counts.taken += 1;
                self.counts.sealed_taken += u64::from(b.sealed);
                return Some(b.adopt(owner));
            }
            self.counts.died += 1;
            self.gone.push(b);
        }
        self.counts.cloned += 1;
        None
    }

    /// Whether an init that sealed the root built ahead could run a job with `plan` (its
    /// cgroup files filled in): nothing of it needs the host's tree.
    pub fn sealed_could_run(&self, plan: &ContainerPlan) -> bool {
        self.prebuild
            .as_ref()
            .is_some_and(|(_, ahead)| plan.needs_host_tree(ahead).is_none())
    }

    /// Hears of a create with `ns` before it parks or takes an init, and whether a sealed
    /// init could run its job (`sealed_could_run`). One that could not gives up the
    /// sealed inits waiting (they leave through `take_gone`; unsealed ones replace them)
    /// and stops the sealing of new ones until `SEAL_AFTER` creates in a row could. A
    /// parked create is heard again when it runs (`again`): it gives up sealed inits
    /// forked meanwhile, but counts once in the streak.
    pub fn note_create(&mut self, ns: &NewNamespaces<'_>, sealed_could_run: bool, again: bool) {
        if !self.serves(ns) {
            return;
        }
        if sealed_could_run {
            if !again {
                self.fit_streak = self.fit_streak.saturating_add(1);
            }
            return;
        }
        self.fit_streak = 0;
        let (sealed, unsealed): (VecDeque<Booting>, VecDeque<Booting>) =
            self.inits.drain(..).partition(|b| b.sealed);
        self.inits = unsealed;
        self.counts.sealed_given_up += sealed.len() as u64;
        self.gone.extend(sealed);
    }

    /// Whether the pool's inits can serve a clone with `ns`: its namespaces, none joined.
    fn serves(&self, ns: &NewNamespaces<'_>) -> bool {
        self.want > 0 && ns.pid_ns.is_none() && ns.clone_flags == self.flags
    }

    /// Asks the zygote for one init beyond the pool's own, for a create with `ns` that
    /// found the pool empty and waits for the reply (`Daemon::park_create`) instead of
    /// cloning its own init on the loop. False when it cannot: other namespaces than the
    /// pool's, no zygote running, or the request failed (the zygote is retired then).
    pub fn request_for(&mut self, ns: &NewNamespaces<'_>) -> bool {
        let asked = self.serves(ns) && self.ask_zygote();
        self.counts.waited += u64::from(asked);
        asked
    }

    /// Sends the running zygote a request for one init; false without a zygote, or when
    /// the send failed (the zygote is retired then).
    fn ask_zygote(&mut self) -> bool {
        let Some(z) = &mut self.zygote else {
            return false;
        };
        match z.request(self.flags, self.epoch) {
            Ok(()) => {
                self.asked += 1;
                true
            }
            Err(e) => {
                self.retire_zygote(Some(&e.to_string()));
                false
            }
        }
    }

    /// Inits beyond the pool's size leave it (one forked for a create that, in the end,
    /// took another or cloned its own): the daemon's children and fds are the pool's again.
    pub fn trim(&mut self) {
        if self.inits.len() > self.want {
            self.gone.extend(self.inits.drain(self.want..));
        }
    }

    /// Inits waiting in the pool.
    pub fn waiting(&self) -> usize {
        self.inits.len()
    }

    /// Asks the zygote for inits until `want` are waiting or asked for (never blocks;
    /// `on_zygote` adds them as its replies come). The zygote itself is started here the
    /// first time (a clone that suspends this thread until its exec, once). Without a
    /// zygote, inits are cloned here, as cold inits are (the daemon calls this where no
    /// container waits on the loop). Each new init is given the id of the container that
    /// will take it, and `cgroup` makes its cgroup under that id, which it is sent to join
    /// first.
    pub fn refill(&mut self, exe: &Fd, slot: &Fd, cgroup: impl Fn(&str) -> CgroupResult) {
        if self.want == 0 {
            return;
        }
        self.drop_if_stale();
        while self.inits.len() + self.pending() < self.want {
            if self.zygote.is_none() && !self.zygote_off {
                match Zygote::spawn(exe, slot, &self.stage) {
                    Ok(z) => {
                        self.zygote = Some(z);
                        self.zygote_serial = self.zygote_serial.wrapping_add(1);
                    }
                    Err(e) => {
                        eprintln!(
                            "ringmon daemon: warning: start the warm inits' zygote: {e}: the daemon clones them itself"
                        );
                        self.zygote_off = true;
                    }
                }
            }
            if self.ask_zygote() {
                continue;
            }
            match clone_init(exe, slot, &self.ns(), Owner::Warm) {
                Ok(b) => {
                    if !self.settle(b, &cgroup) {
                        // Given up at once: the next refill tries again, not this loop.
                        return;
                    }
                }
                Err(e) => {
                    self.counts.refill_failed += 1;
                    if !self.failing {
                        eprintln!("ringmon daemon: warning: clone a warm init: {e}");
                    }
                    self.failing = true;
                    return;
                }
            }
        }
    }

    /// The zygote's replies so far (never blocks): each forked init joins the pool, or is
    /// given up if the mount table changed since its request.
    pub fn on_zygote(&mut self, cgroup: impl Fn(&str) -> CgroupResult) {
        let Some(z) = &mut self.zygote else {
            return;
        };
        let (replies, gone) = z.replies();
        for r in replies {
            match r {
                Reply::Born(b, epoch) if epoch != self.epoch => {
                    self.counts.stale += 1;
                    self.gone.push(b);
                }
                Reply::Born(b, _) => {
                    self.zygote_deaths = 0;
                    let _ = self.settle(b, &cgroup);
                }
                Reply::Failed(e) => {
                    self.counts.refill_failed += 1;
                    if !self.failing {
                        eprintln!(
                            "ringmon daemon: warning: the zygote's clone3 of a warm init: {e}"
                        );
                    }
                    self.failing = true;
                }
            }
        }
        if let Some(why) = gone {
            self.retire_zygote(Some(&why));
        }
    }

    /// The zygote's socket to poll, and its serial, while one runs.
    pub fn zygote_sock(&self) -> Option<(std::os::fd::BorrowedFd<'_>, u32)> {
        self.zygote.as_ref().map(|z| (z.sock(), self.zygote_serial))
    }

    pub fn zygote_pid(&self) -> Option<i32> {
        self.zygote.as_ref().map(Zygote::pid)
    }

    /// Inits asked of the zygote and not yet in the pool.
    pub fn pending(&self) -> usize {
        self.zygote.as_ref().map_or(0, Zygote::pending)
    }

    /// How many requests were sent to zygotes so far.
    pub fn asked(&self) -> u64 {
        self.asked
    }

    /// How many of them are settled: answered, or dropped with a zygote that died.
    pub fn settled(&self) -> u64 {
        self.asked - self.pending() as u64
    }

    /// The zygote leaves: it died (`why`), or shutdown (None: its end is expected, not
    /// warned about). Its process is given up with the gone inits, its pending requests
    /// are dropped.
    fn retire_zygote(&mut self, why: Option<&str>) {
        if let Some(z) = self.zygote.take() {
            if let Some(why) = why {
                self.zygote_deaths += 1;
                self.zygote_off = self.zygote_deaths >= ZYGOTE_RETRIES;
                let then = match self.zygote_off {
                    true => "the daemon clones warm inits itself from now on",
                    false => "another is started",
                };
                eprintln!(
                    "ringmon daemon: warning: the warm inits' zygote {}: {why}: {then}",
                    z.pid()
                );
            }
            self.gone.push(z.into_process());
        }
    }

    fn ns(&self) -> NewNamespaces<'_> {
        NewNamespaces {
            clone_flags: self.flags,
            pid_ns: None,
            stage: Some(&self.stage),
        }
    }

    /// A new init joins the pool: the id of the container that will take it, its own
    /// cgroup to join while it waits, and the root to build ahead are sent to it. One
    /// that cannot be sent its cgroup (it died, most likely) is given up with that cgroup
    /// instead, which is then removed in the ring's workers once it is reaped, never on
    /// the loop: false.
    #[must_use]
    fn settle(&mut self, mut b: Booting, cgroup: &impl Fn(&str) -> CgroupResult) -> bool {
        // Without its own cgroup, the init joins the container's at its job.
        let joins = crate::supervisor::ids::new_id()
            .map_err(|e| format!("getrandom: {e}"))
            .and_then(|id| {
                let cg = cgroup(&id);
                b.warm_id = Some(id);
                cg
            });
        let joins = joins.and_then(|cg| match cg {
            Some(cg) => b.send_join(cg.clone()).map_err(|e| {
                b.cgroup = Some(cg);
                format!("send the warm init its cgroup: {e}")
            }),
            None => Ok(()),
        });
        if let Err(e) = joins {
            if !self.cgroup_failing {
                eprintln!("ringmon daemon: warning: warm init {}: {e}", b.pid);
            }
            self.cgroup_failing = true;
            if b.cgroup.is_some() {
                // Made, but the init was not told: it goes, and the cgroup with it.
                self.counts.refill_failed += 1;
                self.gone.push(b);
                return false;
            }
        } else {
            self.cgroup_failing = false;
        }
        // If the send fails (the init died, its socket buffer is full), the init
        // builds no root ahead: a datagram arrives whole or not at all.
        let prebuilds = self
            .prebuild
            .as_ref()
            .is_some_and(|(msg, _)| b.send_prebuild(msg).is_ok());
        // Sealed, it detaches the host's tree now rather than at its job: only an init
        // in its own cgroup, which its job then needs no host path to join.
        if prebuilds && b.cgroup.is_some() && self.fit_streak >= SEAL_AFTER {
            self.counts.sealed += u64::from(b.send_seal().is_ok());
        }
        self.inits.push_back(b);
        self.failing = false;
        true
    }

    /// The id reserved for the container that takes the next init, if one waits.
    pub fn next_id(&self) -> Option<String> {
        self.inits.front().and_then(|b| b.warm_id.clone())
    }

    /// A taken init that its create did not use after all (the request was refused before
    /// its job): first in line again, as it was.
    pub fn put_back(&mut self, b: Booting) {
        let b = b.adopt(Owner::Warm);
        self.counts.taken -= 1;
        self.counts.sealed_taken -= u64::from(b.sealed);
        self.inits.push_front(b);
    }

    /// Every waiting init leaves the pool, and the zygote with them (shutdown).
    pub fn drain(&mut self) {
        self.gone.extend(self.inits.drain(..));
        self.retire_zygote(None);
    }

    /// The inits that left the pool since the last call: the daemon kills and reaps them.
    pub fn take_gone(&mut self) -> Vec<Booting> {
        std::mem::take(&mut self.gone)
    }

    /// Discards the waiting inits if the mount table changed since the last look: they
    /// leave through `take_gone`.
    pub fn drop_if_stale(&mut self) {
        if self.mounts_changed() {
            self.counts.stale += self.inits.len() as u64;
            self.gone.extend(self.inits.drain(..));
            // The zygote shares the daemon's mount namespace: its later forks copy the new
            // table. Those forked before now are stale when their replies come.
            self.epoch += 1;
        }
    }

    /// Whether the daemon's mount table changed since the last call (poll resets the
    /// event: each change is reported once). An error counts as a change.
    fn mounts_changed(&self) -> bool {
        use rustix::event::{poll, PollFd, PollFlags};
        let Some(fd) = &self.mounts else {
            return true;
        };
        let mut fds = [PollFd::new(fd, PollFlags::PRI)];
        match poll(&mut fds, Some(&rustix::event::Timespec::default())) {
            Ok(_) => fds[0].revents().intersects(PollFlags::PRI | PollFlags::ERR),
            Err(_) => true,
        }
    }
}

/// The embedded default's container plan (what a create without bundle or rootfs gets,
/// up to its command, hostname and cgroups): the root warm inits build ahead.
pub fn default_root(stage: &std::path::Path) -> Result<ContainerPlan, String> {
    embedded_default(stage).map(|p| p.plan)
}

fn embedded_default(stage: &std::path::Path) -> Result<super::spec::Prepared, String> {
    let o = super::spec::Overrides {
        args: &["true".to_string()],
        ..Default::default()
    };
    super::spec::prepare(super::spec::Source::Host, &o, "warm", stage).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_namespaces_parse_by_their_oci_names() {
        assert_eq!(
            parse_namespaces(DEFAULT_NAMESPACES),
            Ok(libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWNS)
        );
        assert_eq!(
            namespace_names(parse_namespaces("mount,network").expect("parse")),
            ["mount", "network"]
        );
        let e = parse_namespaces("pid,user,mount").expect_err("user");
        assert!(e.contains("\"user\" is not one of"), "{e}");
        let e = parse_namespaces("pid").expect_err("no mount");
        assert!(e.contains("mount is required"), "{e}");
    }

    #[test]
    fn a_parked_create_counts_once_in_the_sealing_streak() {
        let flags = parse_namespaces(DEFAULT_NAMESPACES).expect("parse");
        let (mut w, _) = WarmInits::new(1, flags, std::path::PathBuf::from("/run/x/host-root"));
        let ns = NewNamespaces {
            clone_flags: flags,
            pid_ns: None,
            stage: None,
        };
        for _ in 0..3 {
            w.note_create(&ns, true, false);
            // The same create, parked, run again when its init is forked.
            w.note_create(&ns, true, true);
        }
        assert_eq!(w.fit_streak, 3);
        w.note_create(&ns, false, true);
        assert_eq!(
            w.fit_streak, 0,
            "a create that needs the host's tree breaks it"
        );
    }

    #[test]
    fn the_default_warm_namespaces_are_the_embedded_default_specs() {
        let p = embedded_default(std::path::Path::new("/run/x/host-root")).expect("prepare");
        assert_eq!(
            p.clone_flags,
            parse_namespaces(DEFAULT_NAMESPACES).expect("parse")
        );
    }
}
