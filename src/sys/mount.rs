//! mount_setattr(2), which rustix does not offer.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `struct mount_attr` (MOUNT_ATTR_SIZE_VER0).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// Makes the mount `tree` names (an `open_tree` fd, attached or not) read-only, and only
/// that mount, keeping its other flags (nosuid, nodev, noexec, atime): what a bind
/// remount read-only does, with no path to look up and no statvfs first.
pub fn set_readonly(tree: BorrowedFd<'_>) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: `attr` is an initialised mount_attr of the size passed, alive for the call;
    // the empty path with AT_EMPTY_PATH names `tree` itself; nothing is written back.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
