//! A safe io_uring: every submission's memory is owned by its in-flight slot.
//!
//! A submission may point only at memory owned by the slot that its `user_data` names
//! (buffers, the timespec, the siginfo of a WaitId), and the slot is freed only when the
//! final completion (one without IORING_CQE_F_MORE) arrives, even if whoever asked for the
//! operation is long gone. Buffers come back to the caller with that completion. `user_data`
//! carries a generation so a stale cancel can never hit a reused slot.
//! This module never decides what an operation means: callers pass a `token` and get it back.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use io_uring::{cqueue, opcode, squeue, types, IoUring, Probe};
use slab::Slab;

mod file_write;
pub use file_write::FileWrite;

/// Identifies one submitted operation (its `user_data`), for cancellation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpId(u64);

/// user_data of cancel and timeout-remove requests: their completions are dropped.
const INTERNAL: u64 = u64::MAX;

/// Memory an operation owns while the kernel may still use it.
pub enum Resource {
    None,
    /// A buffer: read into its spare capacity, or written from `buf[start..]`.
    Buf {
        buf: Vec<u8>,
        start: usize,
    },
    Timespec(Box<types::Timespec>),
    SigInfo(Box<libc::siginfo_t>),
    /// A path the op names (its heap bytes do not move while the slot owns them).
    Path(std::ffi::CString),
    /// A whole file written through a chain of ops (`write_file`).
    FileWrite(Box<FileWrite>),
}

/// Which operation a slot is for, so that completion accessors can refuse to
/// misinterpret another op's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    Poll,
    Accept,
    Read,
    Write,
    Timeout,
    WaitId,
    Nop,
    Unlink,
    /// openat, write, renameat and close of one file, reported as one completion.
    FileWrite,
}

struct Slot {
    generation: u32,
    token: u64,
    kind: OpKind,
    resource: Resource,
}

/// One completion, with the token it was submitted under.
pub struct Completion {
    pub token: u64,
    pub kind: OpKind,
    pub result: i32,
    /// More completions will follow for this (multishot) operation.
    pub more: bool,
    /// The operation's memory, returned with its final completion.
    pub resource: Resource,
}

impl Completion {
    /// The path an unlinkat completion named.
    pub fn path(&self) -> Option<&std::path::Path> {
        use std::os::unix::ffi::OsStrExt;
        match &self.resource {
            Resource::Path(p) => Some(std::path::Path::new(std::ffi::OsStr::from_bytes(
                p.as_bytes(),
            ))),
            _ => None,
        }
    }

    /// The read buffer of a finished Read, with its length set to the bytes read.
    pub fn take_read_buf(&mut self) -> Option<Vec<u8>> {
        if self.kind != OpKind::Read {
            return None;
        }
        match std::mem::replace(&mut self.resource, Resource::None) {
            Resource::Buf { mut buf, .. } => {
                let spare = buf.capacity() - buf.len();
                if self.result > 0 && self.result as usize <= spare {
                    // SAFETY: this is a Read completion (checked above) whose buffer is the
                    // one submitted; the kernel wrote `result` bytes into its spare
                    // capacity, and `result` does not exceed that capacity (checked).
                    unsafe { buf.set_len(buf.len() + self.result as usize) };
                }
                Some(buf)
            }
            _ => None,
        }
    }

    /// The siginfo of a finished WaitId.
    pub fn siginfo(&self) -> Option<ExitInfo> {
        if self.kind != OpKind::WaitId || self.result < 0 {
            return None;
        }
        match &self.resource {
            Resource::SigInfo(info) => {
                // SAFETY: the kernel filled the siginfo for a successful waitid; si_status
                // and si_pid are valid for SIGCHLD siginfo (si_code CLD_*).
                let (status, pid) = unsafe { (info.si_status(), info.si_pid()) };
                Some(ExitInfo {
                    code: info.si_code,
                    status,
                    pid,
                })
            }
            _ => None,
        }
    }
}

/// The fields of a SIGCHLD siginfo that matter: si_code (CLD_EXITED, CLD_KILLED, ...),
/// si_status and si_pid.
#[derive(Clone, Copy, Debug)]
pub struct ExitInfo {
    pub code: i32,
    pub status: i32,
    pub pid: i32,
}

pub struct Ring {
    ring: IoUring,
    slots: Slab<Slot>,
    generation: u32,
    /// Entries that did not fit the submission queue; pushed at the next submit. A linked
    /// chain is one group: it must reach the kernel in one submission, or its links break.
    backlog: VecDeque<Group>,
    /// Free slots of the registered file table (direct descriptors), for `write_file`.
    direct_free: Vec<u32>,
    /// `write_file` chains (their slot keys) waiting for a direct descriptor.
    file_waiting: VecDeque<usize>,
}

/// Entries that go to the kernel together: one, or a linked chain (without a heap
/// allocation for the common single entry).
enum Group {
    One(squeue::Entry),
    Chain(Vec<squeue::Entry>),
}

impl Group {
    fn entries(&self) -> &[squeue::Entry] {
        match self {
            Group::One(e) => std::slice::from_ref(e),
            Group::Chain(v) => v,
        }
    }
}

/// The bits of `user_data` that hold a slot's key; the next 8 bits name the step of a
/// chain (`file_write`), the top 32 the slot's generation.
const KEY_BITS: u32 = 24;
const KEY_MASK: u64 = (1 << KEY_BITS) - 1;

/// Opcodes the daemon relies on, probed at start.
pub const REQUIRED_OPS: &[(u8, &str)] = &[
    (opcode::PollAdd::CODE, "IORING_OP_POLL_ADD"),
    (opcode::AsyncCancel::CODE, "IORING_OP_ASYNC_CANCEL"),
    (opcode::Timeout::CODE, "IORING_OP_TIMEOUT"),
    (opcode::TimeoutRemove::CODE, "IORING_OP_TIMEOUT_REMOVE"),
    (opcode::Read::CODE, "IORING_OP_READ"),
    (opcode::Write::CODE, "IORING_OP_WRITE"),
    (opcode::AcceptMulti::CODE, "IORING_OP_ACCEPT"),
    (opcode::WaitId::CODE, "IORING_OP_WAITID"),
    (opcode::UnlinkAt::CODE, "IORING_OP_UNLINKAT"),
    (opcode::OpenAt::CODE, "IORING_OP_OPENAT"),
    (opcode::RenameAt::CODE, "IORING_OP_RENAMEAT"),
    (opcode::Close::CODE, "IORING_OP_CLOSE"),
];

impl Ring {
    /// Sets up a ring; prefers SINGLE_ISSUER|DEFER_TASKRUN (one thread, completions run only
    /// when we wait) and falls back to a plain ring on kernels without them.
    pub fn new(entries: u32) -> io::Result<Self> {
        let ring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_cqsize(entries * 4)
            .build(entries)
            .or_else(|_| IoUring::builder().setup_cqsize(entries * 4).build(entries))?;
        // A sparse file table: direct descriptors live only in the ring, never in the
        // process's fd table (so they need no O_CLOEXEC and count against no limit).
        ring.submitter()
            .register_files_sparse(file_write::DIRECT_SLOTS)
            .map_err(|e| io::Error::new(e.kind(), format!("IORING_REGISTER_FILES2: {e}")))?;
        Ok(Self {
            ring,
            slots: Slab::with_capacity(1024),
            generation: 0,
            backlog: VecDeque::new(),
            direct_free: (0..file_write::DIRECT_SLOTS).rev().collect(),
            file_waiting: VecDeque::new(),
        })
    }

    /// Names of the required opcodes this kernel lacks.
    pub fn missing_ops(&self) -> io::Result<Vec<&'static str>> {
        let mut probe = Probe::new();
        self.ring.submitter().register_probe(&mut probe)?;
        Ok(REQUIRED_OPS
            .iter()
            .filter(|(code, _)| !probe.is_supported(*code))
            .map(|(_, name)| *name)
            .collect())
    }

    /// The ring's own fd, for the fd ledger.
    pub fn raw_fd(&self) -> RawFd {
        self.ring.as_raw_fd()
    }

    /// Operations in flight.
    pub fn in_flight(&self) -> usize {
        self.slots.len()
    }

    fn slot(&mut self, token: u64, kind: OpKind, resource: Resource) -> (u64, &Slot) {
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let key = self.slots.insert(Slot {
            generation,
            token,
            kind,
            resource,
        });
        // 2^24 operations in flight would take gigabytes of slots: the key always fits.
        assert!(
            (key as u64) <= KEY_MASK,
            "io_uring slot key {key} out of range"
        );
        let user_data = ((generation as u64) << 32) | key as u64;
        (user_data, &self.slots[key])
    }

    fn push(&mut self, entry: squeue::Entry) {
        self.push_group(Group::One(entry));
    }

    /// Queues `group` whole: all of its entries in the submission queue, or all in the
    /// backlog.
    fn push_group(&mut self, group: Group) {
        if !self.backlog.is_empty() {
            self.backlog.push_back(group);
            return;
        }
        // SAFETY: every pointer in the entries refers to memory owned by the slot named in
        // their user_data (or is null/static), and slots are freed only on final completion.
        if unsafe { self.ring.submission().push_multiple(group.entries()) }.is_err() {
            self.backlog.push_back(group);
        }
    }

    /// Multishot (or one-shot) poll for `events` (POLLIN, POLLOUT, ...).
    pub fn poll(&mut self, fd: BorrowedFd<'_>, events: u32, multi: bool, token: u64) -> OpId {
        let (ud, _) = self.slot(token, OpKind::Poll, Resource::None);
        let entry = opcode::PollAdd::new(types::Fd(fd.as_raw_fd()), events)
            .multi(multi)
            .build()
            .user_data(ud);
        self.push(entry);
        OpId(ud)
    }

    /// Multishot accept4 with SOCK_CLOEXEC|SOCK_NONBLOCK: every result is a new fd the
    /// caller must take ownership of at once.
    pub fn accept_multi(&mut self, fd: BorrowedFd<'_>, token: u64) -> OpId {
        let (ud, _) = self.slot(token, OpKind::Accept, Resource::None);
        let entry = opcode::AcceptMulti::new(types::Fd(fd.as_raw_fd()))
            .flags(libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK)
            .build()
            .user_data(ud);
        self.push(entry);
        OpId(ud)
    }

    /// Reads into the spare capacity of `buf` at `offset` (u64::MAX: the file position).
    pub fn read(&mut self, fd: BorrowedFd<'_>, buf: Vec<u8>, offset: u64, token: u64) -> OpId {
        let (ud, slot) = self.slot(token, OpKind::Read, Resource::Buf { buf, start: 0 });
        let Resource::Buf { buf, .. } = &slot.resource else {
            unreachable!("slot was just created with a buffer")
        };
        let spare = (buf.capacity() - buf.len()) as u32;
        // The Vec's heap memory does not move while the slot owns it.
        let ptr = buf.as_ptr().wrapping_add(buf.len()) as *mut u8;
        let entry = opcode::Read::new(types::Fd(fd.as_raw_fd()), ptr, spare)
            .offset(offset)
            .build()
            .user_data(ud);
        self.push(entry);
        OpId(ud)
    }

    /// Writes `buf[start..]` at `offset` (u64::MAX: the file position, i.e. append for an
    /// O_APPEND file). The buffer comes back with the completion.
    pub fn write(
        &mut self,
        fd: BorrowedFd<'_>,
        buf: Vec<u8>,
        start: usize,
        offset: u64,
        token: u64,
    ) -> OpId {
        let (ud, slot) = self.slot(token, OpKind::Write, Resource::Buf { buf, start });
        let Resource::Buf { buf, start } = &slot.resource else {
            unreachable!("slot was just created with a buffer")
        };
        let data = &buf[*start..];
        let entry = opcode::Write::new(types::Fd(fd.as_raw_fd()), data.as_ptr(), data.len() as u32)
            .offset(offset)
            .build()
            .user_data(ud);
        self.push(entry);
        OpId(ud)
    }

    /// A relative timeout; completes with -ETIME when it expires, -ECANCELED when removed.
    pub fn timeout(&mut self, after: Duration, token: u64) -> OpId {
        let ts = Box::new(
            types::Timespec::new()
                .sec(after.as_secs())
                .nsec(after.subsec_nanos()),
        );
        let (ud, slot) = self.slot(token, OpKind::Timeout, Resource::Timespec(ts));
        let Resource::Timespec(ts) = &slot.resource else {
            unreachable!("slot was just created with a timespec")
        };
        let entry = opcode::Timeout::new(&**ts as *const types::Timespec)
            .build()
            .user_data(ud);
        self.push(entry);
        OpId(ud)
    }

    /// waitid(P_PIDFD, pidfd, WEXITED) through the ring; the siginfo comes with the
    /// completion. Reaps the child.
    pub fn waitid_pidfd(&mut self, pidfd: BorrowedFd<'_>, token: u64) -> OpId {
        // SAFETY: siginfo_t is plain old data; all-zero is a valid value.
        let info: Box<libc::siginfo_t> = Box::new(unsafe { std::mem::zeroed() });
        let (ud, slot) = self.slot(token, OpKind::WaitId, Resource::SigInfo(info));
        let Resource::SigInfo(info) = &slot.resource else {
            unreachable!("slot was just created with a siginfo")
        };
        let entry = opcode::WaitId::new(
            libc::P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            libc::WEXITED,
        )
        .infop(&**info as *const libc::siginfo_t)
        .build()
        .user_data(ud);
        self.push(entry);
        OpId(ud)
    }

    /// unlinkat(AT_FDCWD, path, dir ? AT_REMOVEDIR : 0) in the ring's workers: removing a
    /// file drops its page cache (milliseconds for a log of tens of MB), which must not
    /// stall the loop. A path with a NUL byte cannot be named: the caller removes it
    /// itself.
    pub fn unlinkat(&mut self, path: &std::path::Path, dir: bool, token: u64) -> Option<OpId> {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
        let (ud, slot) = self.slot(token, OpKind::Unlink, Resource::Path(path));
        let Resource::Path(path) = &slot.resource else {
            unreachable!("slot was just created with a path")
        };
        let entry = opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), path.as_ptr())
            .flags(if dir { libc::AT_REMOVEDIR } else { 0 })
            .build()
            .user_data(ud);
        self.push(entry);
        Some(OpId(ud))
    }

    /// A no-op: completes at once with result 0 (the loop-turn benchmark's unit of work).
    pub fn nop(&mut self, token: u64) -> OpId {
        let (ud, _) = self.slot(token, OpKind::Nop, Resource::None);
        self.push(opcode::Nop::new().build().user_data(ud));
        OpId(ud)
    }

    /// Asks the kernel to cancel `op`; its final completion still arrives (-ECANCELED, or its
    /// normal result if it raced) and frees its slot.
    pub fn cancel(&mut self, op: OpId) {
        let entry = opcode::AsyncCancel::new(op.0).build().user_data(INTERNAL);
        self.push(entry);
    }

    /// Removes a pending timeout.
    pub fn cancel_timeout(&mut self, op: OpId) {
        let entry = opcode::TimeoutRemove::new(op.0).build().user_data(INTERNAL);
        self.push(entry);
    }

    /// Submits everything queued and waits for at least `want` completions.
    pub fn submit_and_wait(&mut self, want: usize) -> io::Result<()> {
        loop {
            while let Some(group) = self.backlog.pop_front() {
                // SAFETY: as in `push_group`.
                if unsafe { self.ring.submission().push_multiple(group.entries()) }.is_err() {
                    self.backlog.push_front(group);
                    break;
                }
            }
            let wait = if self.backlog.is_empty() { want } else { 0 };
            match self.ring.submit_and_wait(wait) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    // CQ overflow pressure: let the caller drain completions first.
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
            if self.backlog.is_empty() {
                return Ok(());
            }
        }
    }

    /// Moves every available completion into `out`.
    pub fn drain(&mut self, out: &mut Vec<Completion>) {
        let mut chains_done = Vec::new();
        let Self { ring, slots, .. } = self;
        for cqe in ring.completion() {
            let (ud, result, flags) = (cqe.user_data(), cqe.result(), cqe.flags());
            if ud == INTERNAL {
                continue;
            }
            let key = (ud & KEY_MASK) as usize;
            let generation = (ud >> 32) as u32;
            let Some(slot) = slots.get_mut(key) else {
                continue;
            };
            if slot.generation != generation {
                continue;
            }
            if let Resource::FileWrite(fw) = &mut slot.resource {
                // One step of a chain: the chain reports once, when all of it is done.
                if fw.on_step(((ud >> KEY_BITS) & 0xff) as u8, result) {
                    chains_done.push(key);
                }
                continue;
            }
            let more = cqueue::more(flags);
            let token = slot.token;
            let kind = slot.kind;
            let resource = if more {
                Resource::None
            } else {
                slots.remove(key).resource
            };
            out.push(Completion {
                token,
                kind,
                result,
                more,
                resource,
            });
        }
        for key in chains_done {
            self.file_write_steps_done(key, out);
        }
    }
}

impl Completion {
    /// The fd an accept completion installed, owned at once. Returns it only once.
    pub fn take_fd(&mut self) -> Option<std::os::fd::OwnedFd> {
        use std::os::fd::FromRawFd;
        if self.kind != OpKind::Accept || self.result < 0 {
            return None;
        }
        let fd = self.result;
        self.result = -libc::EBADF;
        // SAFETY: this is a successful accept completion (checked above), so `fd` is a new
        // fd the kernel installed in our table for this request; nothing else owns it, and
        // `result` was overwritten so a second call cannot hand it out again.
        Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
    }
}
