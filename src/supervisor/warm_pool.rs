//! The daemon's side of the warm pool (`runtime::warm`, docs/design/0010 and 0014): taking
//! an init for a create, asking the zygote for replacements at the moments ADR 0010's
//! addendum chose, hearing its replies through the ring, and giving up the inits that left.

use crate::daemon::token::{Kind, Token};
use crate::daemon::Daemon;
use crate::runtime::spawn::NewNamespaces;

/// How long after a take the warm pool is refilled if no container has exec'd or died
/// by then (a create that is not started at once): longer than a create -> running here.
const WARM_REFILL_AFTER: std::time::Duration = std::time::Duration::from_millis(20);

impl Daemon {
    /// Gives up the waiting inits if the daemon's mount table changed since they were
    /// forked, and the sealed ones if this create's job needs the host's tree
    /// (`WarmInits::note_create`): for each create with `ns`, before it parks or takes one,
    /// and `again` when a parked one runs.
    pub(crate) fn discard_unfit_warm(
        &mut self,
        ns: &NewNamespaces<'_>,
        sealed_could_run: bool,
        again: bool,
    ) {
        self.warm.drop_if_stale();
        self.warm.note_create(ns, sealed_could_run, again);
        self.give_up_gone_warm();
    }

    /// A warm init for `ns`, if one is waiting (`runtime::warm`); those found dead on the
    /// way are given up.
    pub(crate) fn take_warm(
        &mut self,
        ns: &NewNamespaces<'_>,
        owner: crate::fd_ledger::Owner,
    ) -> Option<crate::runtime::spawn::Booting> {
        let b = self.warm.take(ns, owner);
        self.give_up_gone_warm();
        b
    }

    /// Whether a create with `ns` that would clone its own init waits for the zygote's
    /// next fork instead: the pool is empty, or other creates already wait for it (they
    /// are served first). Cloning on the loop suspends this thread until the child's exec
    /// (0.3-0.5 ms here), and that init then runs the runtime's whole start-up, where a
    /// forked one starts warm; with several creates in flight the pool of one is often
    /// empty. The zygote is asked for one init per parked create; `serve_parked` runs them
    /// as the replies come.
    pub(crate) fn park_create(&mut self, ns: &NewNamespaces<'_>) -> bool {
        if self.shutting_down || (self.parked.is_empty() && self.warm.waiting() > 0) {
            return false;
        }
        let parked = self.warm.request_for(ns);
        if !parked {
            // A zygote retired by the failed request takes the other parked creates'
            // requests (and its poll) with it.
            self.after_pool_change();
        }
        parked
    }

    /// After the pool or its zygote changed (a refill, the zygote's replies, a retired
    /// zygote, shutdown): the parked creates are served, the ring polls the zygote that
    /// runs now, and each `stats` whose requests are settled is answered.
    pub(crate) fn after_pool_change(&mut self) {
        self.serve_parked();
        self.arm_zygote();
        self.answer_waiting_stats();
    }

    /// Runs the parked creates that an init waits for, in order, and those that no request
    /// covers any more (the zygote died, a fork failed, the mount table changed): they
    /// clone their own. Once none waits, inits beyond the pool's size leave it.
    fn serve_parked(&mut self) {
        while self.warm.waiting() > 0 || self.parked.len() > self.warm.pending() {
            let Some((p, r)) = self.parked.pop_front() else {
                break;
            };
            if let Err(e) = self.create_or_park(p, r, false) {
                self.reply_err(r, e);
            }
        }
        if self.parked.is_empty() {
            self.warm.trim();
        }
        self.give_up_gone_warm();
    }

    /// A warm init taken by a create that was then refused goes back to the pool.
    pub(crate) fn put_back_warm(&mut self, b: Option<crate::runtime::spawn::Booting>) {
        if let Some(b) = b {
            self.warm.put_back(b);
        }
    }

    /// Asks for the warm pool to be refilled at the end of this loop turn
    /// (`refill_if_due`), once the turn's replies are out. The new init (and, settling it,
    /// its cgroup's mkdir on this thread) competes with the containers in setup, and
    /// without a zygote the clone suspends this thread until the child's exec (0.3-0.5 ms
    /// here), so it is asked for where no container waits on the loop: when one has just
    /// exec'd its command or died (`on_sync_closed`, `on_exit`), after a failed create,
    /// or on the refill timer (`defer_refill`).
    pub fn refill_warm(&mut self) {
        self.refill_due = true;
    }

    /// The refill asked for in this turn, after its replies were flushed: a start's reply,
    /// queued when the container exec'd, does not wait for the init that replaces the one
    /// it took. When the refill clones (the zygote's first start or restart, or no zygote),
    /// what the turn queued on the ring is submitted first, so the kernel works on it while
    /// this thread is in the clone; a request to a running zygote does not stall.
    pub fn refill_if_due(&mut self) -> std::io::Result<()> {
        if !std::mem::take(&mut self.refill_due) || self.shutting_down || !self.warm.short() {
            return Ok(());
        }
        if self.warm.zygote_pid().is_none() {
            self.ring.submit_and_wait(0)?;
        }
        self.clone_warm();
        Ok(())
    }

    /// Fills the warm pool (`WarmInits::refill`: requests to the zygote, which the loop
    /// hears back from in `on_zygote`), each init with a cgroup of its own to join while it
    /// waits (`cgroups/warm.rs`).
    pub fn clone_warm(&mut self) {
        self.warm
            .refill(&self.exe, &self.spawn_slot, warm_cgroup(&self.cgroups));
        // A zygote retired here takes its pending requests with it.
        self.after_pool_change();
    }

    /// The zygote's socket is readable: its replies join the pool. A `stats` that waited
    /// for them is answered once none is pending.
    pub fn on_zygote(&mut self, serial: u32, more: bool) {
        if serial != self.warm.zygote_serial {
            return;
        }
        if !more {
            self.zygote_poll = None;
        }
        self.warm.on_zygote(warm_cgroup(&self.cgroups));
        if self.warm.zygote_pid().is_none() && !self.shutting_down {
            // It died: the next refill starts another; the pool may be short now.
            self.refill_warm();
        }
        self.after_pool_change();
    }

    /// Polls the running zygote's socket; a poll of one that is gone is cancelled (it would
    /// hold that socket in the ring).
    fn arm_zygote(&mut self) {
        let now = self.warm.zygote_sock();
        let current = now.as_ref().map(|(_, serial)| *serial);
        if let Some((op, serial)) = self.zygote_poll {
            if Some(serial) == current {
                return;
            }
            self.ring.cancel(op);
            self.zygote_poll = None;
        }
        if let Some((fd, serial)) = now {
            let t = Token::encode(Kind::Zygote, 0, 0, serial as usize);
            let op = self.ring.poll(fd, libc::POLLIN as u32, true, t);
            self.zygote_poll = Some((op, serial));
        }
    }

    /// `stats` without an id while inits are pending waits for those asked for before it
    /// (the zygote answers in order): what it reports (the pool's pids, the daemon's
    /// children and fds) is then settled, unless later creates asked for more.
    pub(crate) fn answer_waiting_stats(&mut self) {
        let settled = self.warm.settled();
        let due = |d: &Self, asked: u64, gu: u64| asked <= settled && !d.given_up_rmdirs_upto(gu);
        if !self
            .stats_waiting
            .iter()
            .any(|&(_, asked, gu)| due(self, asked, gu))
        {
            return;
        }
        let v = serde_json::to_value(self.stats()).unwrap_or_default();
        let (ready, later) = std::mem::take(&mut self.stats_waiting)
            .into_iter()
            .partition(|&(_, asked, gu)| due(self, asked, gu));
        self.stats_waiting = later;
        for (r, _, _) in ready {
            self.reply_ok(r, v.clone());
        }
    }

    /// After a take with no other container in setup: the pool is refilled once the
    /// container is running (its init's job and exec go on without the loop stalled in a
    /// clone), or by this timer if it is not started soon.
    pub(crate) fn defer_refill(&mut self) {
        if self.refill_timer.is_some() || !self.warm.short() {
            return;
        }
        let t = Token::encode(Kind::Timer, crate::daemon::token::timer::WARM_REFILL, 0, 0);
        self.refill_timer = Some(self.ring.timeout(WARM_REFILL_AFTER, t));
    }

    fn give_up_gone_warm(&mut self) {
        for b in self.warm.take_gone() {
            self.give_up(b, None);
        }
    }
}

/// Makes a warm init's own cgroup under `id`, when cgroups are usable.
fn warm_cgroup(
    cgroups: &crate::cgroups::Cgroups,
) -> impl Fn(&str) -> crate::runtime::warm::CgroupResult + '_ {
    move |id| {
        if !cgroups.usable() {
            return Ok(None);
        }
        cgroups
            .make(&cgroups.warm_plan(id), &[], None)
            .map(Some)
            .map_err(|b| format!("its own cgroup: {}", b.0))
    }
}
