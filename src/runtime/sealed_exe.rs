//! One sealed memfd copy of the daemon's own binary, made once at start (CVE-2019-5736).
//!
//! Every container init is exec'd from it, so a container can never reach the binary on
//! disk through /proc/PID/exe, and the copy itself cannot be written (F_SEAL_WRITE), resized
//! or made writable again. The init checks these seals before it does anything else.

use std::io;
use std::os::fd::AsFd;

use rustix::fs::{MemfdFlags, OFlags, SealFlags};

use crate::fd_ledger::{Fd, Owner};

/// Seals the init insists on.
pub const REQUIRED_SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("open /proc/self/exe: {0}")]
    OpenSelf(io::Error),
    #[error("memfd_create ringmon: {0}")]
    Create(io::Error),
    #[error("sendfile /proc/self/exe -> memfd: {0}")]
    Copy(io::Error),
    #[error("fcntl F_ADD_SEALS on memfd: {0}")]
    Seal(io::Error),
    #[error("fcntl F_GET_SEALS on /proc/self/exe: {0}")]
    GetSeals(io::Error),
    #[error("fcntl F_DUPFD_CLOEXEC of the memfd (the spawn slot): {0}")]
    Dup(io::Error),
    #[error("refusing to run: /proc/self/exe is not a sealed memfd (seals {0:?})")]
    NotSealed(SealFlags),
}

/// Copies /proc/self/exe into a new sealed memfd (O_CLOEXEC).
pub fn make() -> Result<Fd, SealError> {
    let src = rustix::fs::open("/proc/self/exe", OFlags::RDONLY | OFlags::CLOEXEC, 0.into())
        .map_err(|e| SealError::OpenSelf(e.into()))?;
    let base = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    // MFD_EXEC (6.3+) keeps the memfd executable even where vm.memfd_noexec defaults to
    // no-exec; older kernels reject the flag with EINVAL.
    let memfd = rustix::fs::memfd_create("ringmon", base | MemfdFlags::EXEC)
        .or_else(|_| rustix::fs::memfd_create("ringmon", base))
        .map_err(|e| SealError::Create(e.into()))?;
    let size = rustix::fs::fstat(&src)
        .map_err(|e| SealError::Copy(e.into()))?
        .st_size as usize;
    // copy_file_range from ext4 into a memfd is EXDEV here; sendfile works.
    let mut copied = 0usize;
    while copied < size {
        let n = rustix::fs::sendfile(&memfd, &src, None, size - copied)
            .map_err(|e| SealError::Copy(e.into()))?;
        if n == 0 {
            return Err(SealError::Copy(io::Error::other("short copy")));
        }
        copied += n;
    }
    // F_SEAL_EXEC (6.3+) also freezes the exec bits; older kernels reject it.
    if rustix::fs::fcntl_add_seals(&memfd, REQUIRED_SEALS | SealFlags::EXEC).is_err() {
        rustix::fs::fcntl_add_seals(&memfd, REQUIRED_SEALS)
            .map_err(|e| SealError::Seal(e.into()))?;
    }
    Ok(Fd::new(memfd, Owner::Daemon, "sealed exe memfd"))
}

/// Checks that the running binary is a memfd with the required seals (the init's first step).
pub fn verify_self() -> Result<SealFlags, SealError> {
    let exe = rustix::fs::open("/proc/self/exe", OFlags::RDONLY | OFlags::CLOEXEC, 0.into())
        .map_err(|e| SealError::OpenSelf(e.into()))?;
    let seals = rustix::fs::fcntl_get_seals(exe.as_fd()).map_err(|e| {
        if e == rustix::io::Errno::INVAL {
            SealError::NotSealed(SealFlags::empty())
        } else {
            SealError::GetSeals(e.into())
        }
    })?;
    if !seals.contains(REQUIRED_SEALS) {
        return Err(SealError::NotSealed(seals));
    }
    Ok(seals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_copy_refuses_writes() {
        let fd = make().expect("sealed memfd");
        let seals = rustix::fs::fcntl_get_seals(&fd).expect("get seals");
        assert!(seals.contains(REQUIRED_SEALS));
        let err = rustix::io::write(&fd, b"x").expect_err("write must fail");
        assert_eq!(err, rustix::io::Errno::PERM);
        assert!(rustix::fs::ftruncate(&fd, 0).is_err());
    }

    #[test]
    fn the_test_binary_itself_is_not_sealed() {
        assert!(matches!(verify_self(), Err(SealError::NotSealed(_))));
    }
}
