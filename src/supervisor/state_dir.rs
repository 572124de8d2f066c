//! Removing a deleted container's state directory through the ring.
//!
//! The directory holds what the daemon put there: the log (`container.log`, unless the
//! create named a log path of its own) and `exit.json`. Unlinking a log drops its page
//! cache, which takes milliseconds per tens of MB, and ext4's rmdir writes the directory
//! block: both run in the ring's workers (IORING_OP_UNLINKAT), never on the loop. The
//! files go first, in parallel, then the directory; `delete` is answered once it is gone.
//! Anything else found in it (ENOTEMPTY) is removed the old way, synchronously.

use std::path::PathBuf;

use crate::api::proto::ApiError;
use crate::daemon::token::{Kind, Token};
use crate::daemon::Daemon;
use crate::supervisor::container::ReplyTo;
use crate::sys::uring::Completion;

/// What an unlink completion is for.
const FILE: u8 = 1;
const DIR: u8 = 2;

/// A state directory being removed, and the deletes waiting for it.
pub struct Removal {
    dir: PathBuf,
    files_left: usize,
    replies: Vec<(ReplyTo, Result<serde_json::Value, ApiError>)>,
}

impl Daemon {
    /// Removes `dir` (with `files` in it), then answers `replies`. The files' fds must be
    /// closed already, so that the last reference goes in the worker's unlink.
    pub fn remove_state_dir(
        &mut self,
        dir: PathBuf,
        files: &[PathBuf],
        replies: Vec<(ReplyTo, Result<serde_json::Value, ApiError>)>,
    ) {
        let key = self.removals.insert(Removal {
            dir,
            files_left: 0,
            replies,
        });
        for f in files {
            let t = Token::encode(Kind::Removal, FILE, 0, key);
            if self.ring.unlinkat(f, false, t).is_some() {
                self.removals[key].files_left += 1;
            }
        }
        if self.removals[key].files_left == 0 {
            self.remove_dir_now(key);
        }
    }

    fn remove_dir_now(&mut self, key: usize) {
        let t = Token::encode(Kind::Removal, DIR, 0, key);
        let dir = self.removals[key].dir.clone();
        if self.ring.unlinkat(&dir, true, t).is_none() {
            let _ = std::fs::remove_dir_all(&dir);
            self.removal_done(key);
        }
    }

    pub fn on_removal(&mut self, t: Token, c: &Completion) {
        let key = t.key as usize;
        if !self.removals.contains(key) {
            return;
        }
        match t.sub {
            FILE => {
                let r = &mut self.removals[key];
                r.files_left = r.files_left.saturating_sub(1);
                if r.files_left == 0 {
                    self.remove_dir_now(key);
                }
            }
            DIR => {
                match -c.result {
                    0 | libc::ENOENT => {}
                    libc::ENOTEMPTY | libc::EEXIST => {
                        let _ = std::fs::remove_dir_all(&self.removals[key].dir);
                    }
                    e => eprintln!(
                        "ringmon daemon: rmdir {}: {}",
                        self.removals[key].dir.display(),
                        std::io::Error::from_raw_os_error(e)
                    ),
                }
                self.removal_done(key);
            }
            _ => {}
        }
    }

    fn removal_done(&mut self, key: usize) {
        let r = self.removals.remove(key);
        for (reply, res) in r.replies {
            match res {
                Ok(v) => self.reply_ok(reply, v),
                Err(e) => self.reply_err(reply, e),
            }
        }
    }
}
