//! Completion tokens: what an io_uring completion is about.
//!
//! Layout: kind (8 bits) | sub (8) | generation (16) | key (32). `key` indexes the
//! container or connection slab; `generation` (from the object's serial) guards against a
//! completion for an object whose slab slot has been reused.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Listener = 1,
    Signals = 2,
    Conn = 3,
    Ctr = 4,
    Timer = 5,
    /// The daemon-wide OOM watch (v1 eventfd or v2 memory.events).
    Oom = 6,
    /// An init given up after a failed create, reaped before the create is answered.
    GivenUp = 7,
    /// A deleted container's state directory, unlinked through the ring.
    Removal = 8,
    /// The warm pool's zygote: its replies (key: its serial).
    Zygote = 9,
}

/// What a container op is.
pub mod ctr {
    pub const SYNC: u8 = 1;
    pub const WAIT: u8 = 2;
    pub const OUT: u8 = 3; // OUT + stream index (0 stdout/pty, 1 stderr)
    pub const LOG_WRITE: u8 = 5;
    pub const STDIN: u8 = 6;
    pub const DRAIN_DEADLINE: u8 = 7;
    pub const KILL_DEADLINE: u8 = 8;
    /// `stop`: the grace period after the stop signal.
    pub const STOP_GRACE: u8 = 9;
    /// Delete: retry removing a cgroup whose last tasks are still exiting.
    pub const CGROUP_RETRY: u8 = 10;
    /// v1 kill-all: check whether the freezer has frozen the cgroup.
    pub const FREEZE_POLL: u8 = 11;
    /// A small log buffer's write, held back for more output (`stdio::output`).
    pub const LOG_FLUSH: u8 = 12;
    /// Delete: one cgroup directory's rmdir, in the ring's workers.
    pub const CGROUP_RMDIR: u8 = 13;
    /// Stop: `exit.json` written, in the ring's workers.
    pub const EXIT_RECORD: u8 = 14;
}

/// What a connection op is.
pub mod conn {
    pub const IN: u8 = 1;
    pub const OUT: u8 = 2;
    pub const LOG_READ: u8 = 3;
}

/// Daemon-wide timers.
pub mod timer {
    /// After the final SIGKILL: give up on survivors and exit with an error naming them.
    pub const SHUTDOWN_GIVE_UP: u8 = 2;
    /// Re-arm accept after it failed (EMFILE/ENFILE) instead of spinning.
    pub const ACCEPT_RETRY: u8 = 3;
    /// Refill the warm pool after a take whose container has not exec'd yet.
    pub const WARM_REFILL: u8 = 4;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: u8,
    pub sub: u8,
    pub generation: u16,
    pub key: u32,
}

impl Token {
    pub fn encode(kind: Kind, sub: u8, generation: u16, key: usize) -> u64 {
        ((kind as u64) << 56) | ((sub as u64) << 48) | ((generation as u64) << 32) | key as u64
    }

    pub fn parse(t: u64) -> Self {
        Self {
            kind: (t >> 56) as u8,
            sub: (t >> 48) as u8,
            generation: (t >> 32) as u16,
            key: t as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = Token::parse(Token::encode(Kind::Ctr, ctr::OUT + 1, 0xbeef, 123_456));
        assert_eq!(t.kind, Kind::Ctr as u8);
        assert_eq!(t.sub, ctr::OUT + 1);
        assert_eq!(t.generation, 0xbeef);
        assert_eq!(t.key, 123_456);
    }
}
