//! A small file written whole in the ring's workers: `openat` of a temporary name into a
//! direct descriptor, `write`, `renameat` over the final name, `close`, linked so that each
//! starts when the one before it has finished. None of it runs on the loop (on ext4 an
//! `O_CREAT` open and a rename wait for the journal), and the caller gets one completion
//! for the whole chain.
//!
//! Direct descriptors live in the ring's registered file table, never in the process's fd
//! table: they need no `O_CLOEXEC` (the kernel refuses it for them) and count against no
//! `RLIMIT_NOFILE`. The table has [`DIRECT_SLOTS`] slots; a chain that finds none free
//! waits for one, in order.
//!
//! A failed link cancels the rest of the chain. The rename is hard-linked to the close, so
//! a failed rename still closes the file; a failed open leaves nothing open; a failed (or
//! short) write cancels the close too, and the file is then closed by a close of its own
//! before the chain reports.

use std::ffi::CString;
use std::io;
use std::path::Path;

use io_uring::{opcode, squeue, types};

use super::{Completion, Group, OpId, OpKind, Resource, Ring, KEY_BITS, KEY_MASK};

/// Chains that can be in flight at once.
pub(super) const DIRECT_SLOTS: u32 = 64;

/// The steps of a chain, as the 8 bits of `user_data` above the slot key.
const OPEN: u8 = 1;
const WRITE: u8 = 2;
const RENAME: u8 = 3;
const CLOSE: u8 = 4;
/// The close of a file whose chain was cut after its open.
const RECLOSE: u8 = 5;

/// One file being written: the memory its chain points at, and how far it got.
pub struct FileWrite {
    tmp: CString,
    path: CString,
    buf: Vec<u8>,
    direct: Option<u32>,
    /// Completions still to come.
    left: u8,
    opened: bool,
    closed: bool,
    reclosing: bool,
    /// The first step that failed, with its result: a negative errno, or the bytes a short
    /// write wrote.
    failure: Option<(u8, i32)>,
}

impl FileWrite {
    /// Records one step's completion; true once the chain has none left to come.
    pub(super) fn on_step(&mut self, step: u8, res: i32) -> bool {
        self.left = self.left.saturating_sub(1);
        match step {
            OPEN if res >= 0 => self.opened = true,
            WRITE if res >= 0 && res as usize == self.buf.len() => {}
            RENAME if res >= 0 => {}
            CLOSE | RECLOSE if res >= 0 => self.closed = true,
            // Cut off by an earlier failure: that one is what went wrong.
            _ if res == -libc::ECANCELED && self.failure.is_some() => {}
            _ => {
                self.failure.get_or_insert((step, res));
            }
        }
        self.left == 0
    }

    /// The chain's result: 0, or the first failure's negative errno (`-EIO` for a short
    /// write).
    fn result(&self) -> i32 {
        match self.failure {
            None => 0,
            Some((_, r)) if r < 0 => r,
            Some(_) => -libc::EIO,
        }
    }

    /// What went wrong, naming the syscall and the path; None if the file is in place.
    pub fn error(&self) -> Option<String> {
        let (step, res) = self.failure?;
        let tmp = self.tmp.to_string_lossy();
        let errno = || io::Error::from_raw_os_error(-res);
        Some(match step {
            OPEN => format!("openat {tmp}: {}", errno()),
            WRITE if res >= 0 => format!("write {tmp}: wrote {res} of {} bytes", self.buf.len()),
            WRITE => format!("write {tmp}: {}", errno()),
            RENAME => format!(
                "renameat {tmp} -> {}: {}",
                self.path.to_string_lossy(),
                errno()
            ),
            _ => format!("close {tmp}: {}", errno()),
        })
    }
}

fn c_path(p: &Path) -> Option<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).ok()
}

impl Completion {
    /// What went wrong in a finished `write_file`, naming the syscall and the path.
    pub fn file_write_error(&self) -> Option<String> {
        match &self.resource {
            Resource::FileWrite(fw) => fw.error(),
            _ => None,
        }
    }
}

impl Ring {
    /// Writes `buf` to `tmp` (created or truncated, mode 0644), then renames it over
    /// `path`, all in the ring's workers. One completion under `token` (kind `FileWrite`)
    /// comes when every step is done: result 0, or the first failure's negative errno
    /// (`-EIO` for a short write), which `Completion::file_write_error` names. A path with
    /// a NUL byte cannot be named: None, and nothing is submitted.
    pub fn write_file(
        &mut self,
        tmp: &Path,
        path: &Path,
        buf: Vec<u8>,
        token: u64,
    ) -> Option<OpId> {
        let fw = Box::new(FileWrite {
            tmp: c_path(tmp)?,
            path: c_path(path)?,
            buf,
            direct: None,
            left: 0,
            opened: false,
            closed: false,
            reclosing: false,
            failure: None,
        });
        let (ud, _) = self.slot(token, OpKind::FileWrite, Resource::FileWrite(fw));
        let key = (ud & KEY_MASK) as usize;
        match self.direct_free.pop() {
            Some(direct) => self.submit_file_write(key, direct),
            None => self.file_waiting.push_back(key),
        }
        Some(OpId(ud))
    }

    fn submit_file_write(&mut self, key: usize, direct: u32) {
        let slot = &mut self.slots[key];
        let ud = ((slot.generation as u64) << 32) | key as u64;
        let step = |s: u8| ud | (s as u64) << KEY_BITS;
        let Resource::FileWrite(fw) = &mut slot.resource else {
            unreachable!("a write_file slot holds its FileWrite")
        };
        fw.direct = Some(direct);
        fw.left = 4;
        let dest = types::DestinationSlot::try_from_slot_target(direct)
            .expect("DIRECT_SLOTS is far below the kernel's largest file index");
        let cwd = types::Fd(libc::AT_FDCWD);
        // The pointers are into the slot's boxed FileWrite, which stays until the chain's
        // last completion.
        let chain = vec![
            opcode::OpenAt::new(cwd, fw.tmp.as_ptr())
                .file_index(Some(dest))
                .flags(libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC)
                .mode(0o644)
                .build()
                .flags(squeue::Flags::IO_LINK)
                .user_data(step(OPEN)),
            opcode::Write::new(types::Fixed(direct), fw.buf.as_ptr(), fw.buf.len() as u32)
                .offset(0)
                .build()
                .flags(squeue::Flags::IO_LINK)
                .user_data(step(WRITE)),
            opcode::RenameAt::new(cwd, fw.tmp.as_ptr(), cwd, fw.path.as_ptr())
                .build()
                .flags(squeue::Flags::IO_HARDLINK)
                .user_data(step(RENAME)),
            opcode::Close::new(types::Fixed(direct))
                .build()
                .user_data(step(CLOSE)),
        ];
        self.push_group(Group::Chain(chain));
    }

    /// A chain's last completion has come (`drain`): close what a cut chain left open, or
    /// report, free its direct descriptor and start the next chain waiting for one.
    pub(super) fn file_write_steps_done(&mut self, key: usize, out: &mut Vec<Completion>) {
        let slot = &mut self.slots[key];
        let ud = ((slot.generation as u64) << 32) | key as u64;
        let Resource::FileWrite(fw) = &mut slot.resource else {
            return;
        };
        let direct = fw.direct.expect("a chain that ran had a direct descriptor");
        if fw.opened && !fw.closed && !fw.reclosing {
            fw.reclosing = true;
            fw.left = 1;
            let close = opcode::Close::new(types::Fixed(direct))
                .build()
                .user_data(ud | (RECLOSE as u64) << KEY_BITS);
            self.push(close);
            return;
        }
        let result = fw.result();
        let slot = self.slots.remove(key);
        // Were even the close to fail, the next open into this slot replaces (and closes)
        // what is left in it.
        self.direct_free.push(direct);
        out.push(Completion {
            token: slot.token,
            kind: OpKind::FileWrite,
            result,
            more: false,
            resource: slot.resource,
        });
        if let Some(next) = self.file_waiting.pop_front() {
            let direct = self.direct_free.pop().expect("one was just freed");
            self.submit_file_write(next, direct);
        }
    }

    /// Files left in the registered table, from the ring's fdinfo (`UserFiles:`): 0 when
    /// every chain has closed what it opened.
    pub fn direct_files_open(&self) -> io::Result<usize> {
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", self.raw_fd()))?;
        // "UserFiles:\t64" then one "   N: name" line per occupied slot.
        Ok(info
            .lines()
            .skip_while(|l| !l.starts_with("UserFiles:"))
            .skip(1)
            .take_while(|l| l.starts_with(' '))
            .count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_all(ring: &mut Ring, want: usize) -> Vec<Completion> {
        let mut out = Vec::new();
        while out.len() < want {
            ring.submit_and_wait(1).expect("io_uring_enter");
            ring.drain(&mut out);
        }
        out
    }

    fn tmpdir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("ringmon-fw-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn more_files_than_direct_slots_are_all_written_and_closed() {
        let mut ring = Ring::new(64).expect("io_uring");
        let dir = tmpdir("many");
        let n = DIRECT_SLOTS as usize * 3 + 5;
        for i in 0..n {
            let body = format!("{{\"n\":{i}}}").into_bytes();
            let (tmp, path) = (dir.join(format!("{i}.tmp")), dir.join(format!("{i}.json")));
            ring.write_file(&tmp, &path, body, i as u64).unwrap();
        }
        let out = run_all(&mut ring, n);
        assert_eq!(out.len(), n);
        for c in &out {
            assert_eq!(c.kind, OpKind::FileWrite);
            assert_eq!(c.result, 0, "{:?}", c.file_write_error());
            let path = dir.join(format!("{}.json", c.token));
            let body = std::fs::read_to_string(&path).unwrap();
            assert_eq!(body, format!("{{\"n\":{}}}", c.token));
            assert!(!dir.join(format!("{}.tmp", c.token)).exists());
        }
        assert_eq!(ring.direct_files_open().unwrap(), 0);
        assert_eq!(ring.in_flight(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_step_is_named_and_leaves_nothing_open() {
        let mut ring = Ring::new(64).expect("io_uring");
        let dir = tmpdir("fail");
        // The open fails: no such directory.
        let missing = dir.join("no/such/dir/x.tmp");
        ring.write_file(&missing, &dir.join("x"), b"{}".to_vec(), 1)
            .unwrap();
        // The write fails after the open: oom_score_adj takes only a number (and this
        // process's value is left as it was).
        let adj = Path::new("/proc/self/oom_score_adj");
        let before = std::fs::read_to_string(adj).unwrap();
        ring.write_file(adj, &dir.join("y"), b"not a number".to_vec(), 2)
            .unwrap();
        // The rename fails: a file cannot replace a directory.
        std::fs::create_dir(dir.join("z")).unwrap();
        ring.write_file(&dir.join("z.tmp"), &dir.join("z"), b"{}".to_vec(), 3)
            .unwrap();
        let mut out = run_all(&mut ring, 3);
        out.sort_by_key(|c| c.token);
        let errs: Vec<String> = out.iter().map(|c| c.file_write_error().unwrap()).collect();
        assert_eq!(out[0].result, -libc::ENOENT);
        assert!(
            errs[0].starts_with("openat ") && errs[0].contains("no/such/dir/x.tmp"),
            "{}",
            errs[0]
        );
        assert_eq!(out[1].result, -libc::EINVAL);
        assert!(
            errs[1].starts_with("write /proc/self/oom_score_adj"),
            "{}",
            errs[1]
        );
        assert_eq!(out[2].result, -libc::EISDIR);
        assert!(
            errs[2].starts_with("renameat ") && errs[2].contains("z.tmp -> "),
            "{}",
            errs[2]
        );
        assert_eq!(std::fs::read_to_string(adj).unwrap(), before);
        assert!(!dir.join("y").exists());
        // The write's chain was cut before its close: it was closed on its own.
        assert_eq!(ring.direct_files_open().unwrap(), 0);
        assert_eq!(ring.in_flight(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
