//! The fd ledger: every fd the daemon holds, with its owner and purpose.
//!
//! An fd enters the daemon only as a [`Fd`], which registers itself on creation and
//! unregisters on drop, so the ledger cannot drift from what is really open. Tests and
//! `ringmon stats` compare the ledger with /proc/self/fd: after a container is deleted both
//! counts are back to where they were before it was created. The ledger never closes or
//! opens anything itself.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

/// Who an fd belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    Daemon,
    /// A container, by its serial number (never reused within a daemon's life).
    Container(u64),
    /// An API connection, by its serial number.
    Client(u64),
    /// A warm init: cloned ahead of any container, waiting for a job (`runtime::warm`).
    Warm,
}

impl Owner {
    /// The owner's kind, as `stats` counts them.
    pub fn kind(&self) -> &'static str {
        match self {
            Owner::Daemon => "daemon",
            Owner::Container(_) => "containers",
            Owner::Client(_) => "clients",
            Owner::Warm => "warm_inits",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    owner: Owner,
    purpose: &'static str,
}

/// The fds, and how many each owner holds and each purpose has (kept with every change,
/// so that the counts `create`, `inspect` and `stats` ask for cost O(1), not O(fds held)).
#[derive(Default)]
struct Ledger {
    fds: HashMap<RawFd, Entry, BuildHasherDefault<FdHasher>>,
    per_owner: HashMap<Owner, usize>,
    per_purpose: HashMap<&'static str, usize>,
}

/// fd numbers are small, dense and not chosen by anyone hostile: a multiplication spreads
/// them over the hash's high bits (which hashbrown's control bytes use) at a fraction of
/// SipHash's cost, which `stats` paid once per fd held.
#[derive(Default)]
struct FdHasher(u64);

impl std::hash::Hasher for FdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_i32(&mut self, n: i32) {
        self.0 = (n as u32 as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// One less of `key` in `counts`, dropping it at zero.
fn decrement<K: std::hash::Hash + Eq>(counts: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

impl Ledger {
    fn add(&mut self, owner: Owner) {
        *self.per_owner.entry(owner).or_insert(0) += 1;
    }

    fn sub(&mut self, owner: Owner) {
        decrement(&mut self.per_owner, &owner);
    }
}

thread_local! {
    static LEDGER: RefCell<Ledger> = RefCell::new(Ledger::default());
}

fn register(fd: RawFd, owner: Owner, purpose: &'static str) {
    LEDGER.with(|l| {
        let mut l = l.borrow_mut();
        let prev = l.fds.insert(fd, Entry { owner, purpose });
        debug_assert!(prev.is_none(), "fd {fd} ({purpose}) registered twice");
        if let Some(p) = prev {
            l.sub(p.owner);
            decrement(&mut l.per_purpose, &p.purpose);
        }
        l.add(owner);
        *l.per_purpose.entry(purpose).or_insert(0) += 1;
    });
}

fn unregister(fd: RawFd) {
    LEDGER.with(|l| {
        let mut l = l.borrow_mut();
        if let Some(e) = l.fds.remove(&fd) {
            l.sub(e.owner);
            decrement(&mut l.per_purpose, &e.purpose);
        }
    });
}

/// An owned fd that is accounted for in the ledger for as long as it is open.
#[derive(Debug)]
pub struct Fd {
    fd: OwnedFd,
}

impl Fd {
    pub fn new(fd: OwnedFd, owner: Owner, purpose: &'static str) -> Self {
        register(fd.as_raw_fd(), owner, purpose);
        Self { fd }
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Hands the fd to another owner (a warm init's fds become its container's).
    pub fn reown(&self, owner: Owner) {
        LEDGER.with(|l| {
            let mut l = l.borrow_mut();
            let Some(e) = l.fds.get_mut(&self.fd.as_raw_fd()) else {
                return;
            };
            let old = std::mem::replace(&mut e.owner, owner);
            l.sub(old);
            l.add(owner);
        });
    }
}

impl AsFd for Fd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        unregister(self.fd.as_raw_fd());
    }
}

/// An fd that some other object owns (the io_uring fd inside the ring, stdio), recorded for
/// as long as this guard lives.
#[derive(Debug)]
pub struct Borrowed {
    fd: RawFd,
}

impl Borrowed {
    pub fn new(fd: RawFd, owner: Owner, purpose: &'static str) -> Self {
        register(fd, owner, purpose);
        Self { fd }
    }
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        unregister(self.fd);
    }
}

/// Number of fds in the ledger.
pub fn count() -> usize {
    LEDGER.with(|l| l.borrow().fds.len())
}

/// Number of fds owned by `owner`.
pub fn count_owned_by(owner: Owner) -> usize {
    LEDGER.with(|l| l.borrow().per_owner.get(&owner).copied().unwrap_or(0))
}

/// Counts by owner kind ("daemon", "containers", "clients", "warm_inits"), for stats.
pub fn by_owner_kind() -> std::collections::BTreeMap<String, usize> {
    let mut m = std::collections::BTreeMap::new();
    LEDGER.with(|l| {
        for (owner, n) in &l.borrow().per_owner {
            *m.entry(owner.kind().to_string()).or_insert(0) += n;
        }
    });
    m
}

/// Every fd but the API clients': what `create` weighs against RLIMIT_NOFILE.
pub fn count_not_clients() -> usize {
    LEDGER.with(|l| {
        let l = l.borrow();
        let clients: usize = l
            .per_owner
            .iter()
            .filter(|(o, _)| matches!(o, Owner::Client(_)))
            .map(|(_, n)| n)
            .sum();
        l.fds.len() - clients
    })
}

/// Counts by purpose, for stats.
pub fn by_purpose() -> std::collections::BTreeMap<&'static str, usize> {
    LEDGER.with(|l| {
        l.borrow()
            .per_purpose
            .iter()
            .map(|(p, n)| (*p, *n))
            .collect()
    })
}

/// fds open in this process, as the kernel's fd table has them (what /proc/self/fd
/// lists; `sys::exec::open_fds`).
pub fn proc_fds() -> std::io::Result<Vec<RawFd>> {
    crate::sys::exec::open_fds()
}

/// Of `open` (from `proc_fds`), the fds that are not in the ledger (should always be
/// none in the daemon).
pub fn unaccounted(open: &[RawFd]) -> Vec<RawFd> {
    LEDGER.with(|l| {
        let l = l.borrow();
        open.iter()
            .copied()
            .filter(|fd| !l.fds.contains_key(fd))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_registers_and_unregisters() {
        let before = count();
        let (a, b) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe");
        let a = Fd::new(a, Owner::Container(7), "test pipe r");
        let b = Fd::new(b, Owner::Container(7), "test pipe w");
        assert_eq!(count(), before + 2);
        assert_eq!(count_owned_by(Owner::Container(7)), 2);
        assert_eq!(by_purpose().get("test pipe r"), Some(&1));
        drop(a);
        assert_eq!(count(), before + 1);
        assert_eq!(by_purpose().get("test pipe r"), None);
        assert_eq!(by_purpose().get("test pipe w"), Some(&1));
        drop(b);
        assert_eq!(count(), before);
        assert_eq!(count_owned_by(Owner::Container(7)), 0);
        assert_eq!(by_purpose().get("test pipe w"), None);
    }

    #[test]
    fn reown_moves_an_fd_to_its_new_owner() {
        let (a, _b) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe");
        let a = Fd::new(a, Owner::Warm, "test pipe");
        let (c, _d) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe");
        let c = Fd::new(c, Owner::Client(3), "test client");
        let not_clients = count_not_clients();
        assert_eq!(not_clients + 1, count());
        a.reown(Owner::Container(9));
        assert_eq!(count_owned_by(Owner::Warm), 0);
        assert_eq!(count_owned_by(Owner::Container(9)), 1);
        assert_eq!(by_owner_kind().get("containers"), Some(&1));
        assert_eq!(count_not_clients(), not_clients, "reown keeps the totals");
        drop(a);
        drop(c);
        assert_eq!(count_owned_by(Owner::Container(9)), 0);
        assert_eq!(count_owned_by(Owner::Client(3)), 0);
        assert_eq!(by_owner_kind().get("containers"), None);
    }

    #[test]
    fn proc_fds_sees_a_new_fd_and_not_a_closed_one() {
        let (a, _b) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe");
        // Far above the lowest free numbers (and past the probe's first batch), where the
        // other tests of this process do not reach.
        let high = rustix::io::fcntl_dupfd_cloexec(&a, 3000).expect("F_DUPFD_CLOEXEC");
        let n = high.as_raw_fd();
        assert!(n >= 3000);
        let fds = proc_fds().expect("proc fds");
        assert!(fds.contains(&a.as_raw_fd()));
        assert!(fds.contains(&n), "{n} not seen");
        assert!(fds.windows(2).all(|w| w[0] < w[1]), "not in order");
        drop(high);
        assert!(
            !proc_fds().expect("proc fds").contains(&n),
            "{n} seen after close"
        );
    }
}
