//! Who the user's process is: rlimits, user and groups, the five capability sets,
//! no_new_privs and umask.
//!
//! Order (runc's `finalizeNamespace`): rlimits while the init may still raise them; bounding
//! set; keep-caps across the uid change; supplementary groups, gid, uid; then effective,
//! permitted and inheritable; then ambient (which needs the cap in permitted and
//! inheritable); then no_new_privs. The kernel decides what survives execve: for a non-root
//! user with no file capabilities, permitted and effective become the ambient set.

use rustix::io::Errno;
use rustix::process::{Gid, Uid};
use rustix::thread::{CapabilitySet, CapabilitySets};

use crate::runtime::spec::plan::{self, Capabilities, ContainerPlan};

#[derive(Debug, thiserror::Error)]
#[error("{call} {what}: {err}")]
pub struct IdentityError {
    call: &'static str,
    what: String,
    err: Errno,
}

fn fail(call: &'static str, what: impl Into<String>) -> impl FnOnce(Errno) -> IdentityError {
    let what = what.into();
    move |err| IdentityError { call, what, err }
}

pub fn rlimits(plan: &ContainerPlan) -> Result<(), IdentityError> {
    for r in &plan.rlimits {
        let Some(res) = plan::rlimit_resource(&r.name) else {
            return Err(IdentityError {
                call: "setrlimit",
                what: r.name.clone(),
                err: Errno::INVAL,
            });
        };
        let lim = rustix::process::Rlimit {
            current: Some(r.soft).filter(|v| *v != u64::MAX),
            maximum: Some(r.hard).filter(|v| *v != u64::MAX),
        };
        rustix::process::setrlimit(res, lim).map_err(fail(
            "setrlimit",
            format!("{} soft={} hard={}", r.name, r.soft, r.hard),
        ))?;
    }
    Ok(())
}

/// Switches to the spec's user with the spec's capabilities and sets no_new_privs.
pub fn switch(plan: &ContainerPlan) -> Result<(), IdentityError> {
    if let Some(c) = &plan.capabilities {
        drop_bounding(c.bounding)?;
    }
    rustix::thread::set_keep_capabilities(true).map_err(fail("prctl", "PR_SET_KEEPCAPS 1"))?;
    let gids: Vec<Gid> = plan
        .additional_gids
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    rustix::thread::set_thread_groups(&gids)
        .map_err(fail("setgroups", format!("{:?}", plan.additional_gids)))?;
    let gid = Gid::from_raw(plan.gid);
    rustix::thread::set_thread_res_gid(gid, gid, gid)
        .map_err(fail("setresgid", plan.gid.to_string()))?;
    let uid = Uid::from_raw(plan.uid);
    rustix::thread::set_thread_res_uid(uid, uid, uid)
        .map_err(fail("setresuid", plan.uid.to_string()))?;
    rustix::thread::set_keep_capabilities(false).map_err(fail("prctl", "PR_SET_KEEPCAPS 0"))?;
    if let Some(c) = &plan.capabilities {
        set_caps(c)?;
    }
    if plan.no_new_privileges {
        rustix::thread::set_no_new_privs(true).map_err(fail("prctl", "PR_SET_NO_NEW_PRIVS"))?;
    }
    Ok(())
}

fn drop_bounding(keep: u64) -> Result<(), IdentityError> {
    for bit in 0..64u32 {
        if keep & (1 << bit) != 0 {
            continue;
        }
        match rustix::thread::remove_capability_from_bounding_set(CapabilitySet::from_bits_retain(
            1 << bit,
        )) {
            Ok(()) => {}
            // Beyond the kernel's last capability (cap_last_cap, 40 here): so is every
            // higher bit.
            Err(Errno::INVAL) => break,
            Err(e) => return Err(fail("prctl PR_CAPBSET_DROP", cap_name(bit))(e)),
        }
    }
    Ok(())
}

fn set_caps(c: &Capabilities) -> Result<(), IdentityError> {
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: CapabilitySet::from_bits_retain(c.effective),
            permitted: CapabilitySet::from_bits_retain(c.permitted),
            inheritable: CapabilitySet::from_bits_retain(c.inheritable),
        },
    )
    .map_err(fail("capset", "effective, permitted, inheritable"))?;
    for bit in 0..64u32 {
        if c.ambient & (1 << bit) != 0 {
            rustix::thread::configure_capability_in_ambient_set(
                CapabilitySet::from_bits_retain(1 << bit),
                true,
            )
            .map_err(fail("prctl PR_CAP_AMBIENT_RAISE", cap_name(bit)))?;
        }
    }
    Ok(())
}

fn cap_name(bit: u32) -> String {
    plan::CAPABILITY_NAMES
        .get(bit as usize)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("capability {bit}"))
}
