//! Seccomp: turns a spec's `linux.seccomp` section into a kernel filter, through libseccomp.
//!
//! Owns three steps: `validate` refuses what this module cannot implement, naming the field;
//! `compile` builds the filter and generates its whole BPF program once, so that every error
//! (an unknown architecture, a rule libseccomp refuses, a program over the kernel's 4096
//! instructions) surfaces before the container is reported created; `Filter::load` installs
//! it in the calling thread, in the container init right before execve. The module never sets
//! no_new_privs (libseccomp's automatic NNP is turned off: the caller sets it when
//! `process.noNewPrivileges` asks), never talks to a seccomp agent, and never loads a filter
//! anywhere but where the caller says.
//!
//! Semantics follow runc (`libcontainer/seccomp/seccomp_linux.go`):
//! - `SCMP_ACT_KILL` is `SCMP_ACT_KILL_THREAD`; ERRNO and TRACE take `errnoRet` (or
//!   `defaultErrnoRet`) and default to EPERM; `errnoRet` on any other action is refused, as
//!   the runtime spec requires. `SCMP_ACT_NOTIFY`, `listenerPath` and `listenerMetadata` need
//!   a seccomp agent and are refused.
//! - A syscall name libseccomp does not know is skipped: profiles list syscalls of newer
//!   kernels. libseccomp resolves a name known on any architecture (a pseudo-number when it
//!   is not native), so "unknown" means unknown on every architecture.
//! - A rule whose action equals the default action is skipped (libseccomp refuses it with
//!   EACCES, and it would change nothing).
//! - Conditions of one rule are ANDed, unless an argument index repeats: libseccomp compares
//!   each argument once per rule (EINVAL otherwise), so then every condition becomes a rule
//!   of its own and they are ORed.
//! - Flags: `SECCOMP_FILTER_FLAG_LOG`, `_SPEC_ALLOW` and `_TSYNC` map to libseccomp filter
//!   attributes; `_WAIT_KILLABLE_RECV` only matters for user notification and is refused.
//! - A syscall made under an architecture absent from the filter kills the thread
//!   (libseccomp's default bad-arch action). The native architecture is always present.

use std::io;

use libseccomp::error::SeccompError as LibError;
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, LinuxSyscall,
};

/// A syscall has at most six arguments (`syscall(2)`).
const SYSCALL_ARGS: usize = 6;
/// The kernel clamps SECCOMP_RET_ERRNO data to MAX_ERRNO (`kernel/seccomp.c`); refuse more
/// rather than have it silently changed.
const MAX_ERRNO: u32 = 4095;
/// BPF_MAXINSNS: the kernel refuses a longer classic BPF program with EINVAL.
const BPF_MAXINSNS: usize = 4096;
/// `sizeof(struct sock_filter)`.
const BPF_INSN_SIZE: usize = 8;
/// From this many rules, libseccomp's binary-tree layout (optimize level 2) makes the
/// per-syscall walk logarithmic. libseccomp 2.5.4 and older misbehave with it on an empty
/// rule set, so small filters keep the linear layout.
const BINARY_TREE_MIN_RULES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("{field}: {reason}")]
    Spec { field: String, reason: String },
    #[error("create seccomp filter with default action {action}: {source}")]
    NewFilter {
        action: LinuxSeccompAction,
        source: LibError,
    },
    #[error("set seccomp filter attribute {attr}: {source}")]
    SetAttr {
        attr: &'static str,
        source: LibError,
    },
    #[error("{field}: add architecture {arch} to seccomp filter: {source}")]
    AddArch {
        field: String,
        arch: Arch,
        source: LibError,
    },
    #[error("{field}: add seccomp rule for {name}: {source}")]
    AddRule {
        field: String,
        name: String,
        source: LibError,
    },
    #[error("memfd_create for the seccomp bpf program: {0}")]
    Memfd(rustix::io::Errno),
    #[error("generate seccomp bpf program: {0}")]
    Generate(LibError),
    #[error("fstat the seccomp bpf program's memfd: {0}")]
    Fstat(rustix::io::Errno),
    #[error("seccomp bpf program has {0} instructions, the kernel accepts at most {BPF_MAXINSNS}")]
    TooLong(usize),
    #[error("load seccomp filter (seccomp(2) via libseccomp): {0}")]
    Load(io::Error),
}

/// A compiled filter, ready to load.
#[derive(Debug)]
pub struct Filter {
    ctx: ScmpFilterContext,
}

impl Filter {
    /// Loads the filter into the calling thread (seccomp(2) via libseccomp); called in the
    /// container init right before execve, after no_new_privs was set (or while it still has
    /// CAP_SYS_ADMIN). The error names the step.
    pub fn load(&self) -> Result<(), SeccompError> {
        // SCMP_FLTATR_API_SYSRAWRC is set, so a failure carries the kernel's errno (EACCES
        // without no_new_privs or CAP_SYS_ADMIN) rather than libseccomp's ECANCELED.
        self.ctx.load().map_err(|e| {
            SeccompError::Load(match e.sysrawrc() {
                Some(rc) => io::Error::from_raw_os_error(rc.saturating_neg()),
                None => io::Error::other(e),
            })
        })
    }
}

/// Checks a spec's seccomp section for anything this module cannot implement; the error names
/// the field path, e.g. `linux.seccomp.syscalls[3].action: SCMP_ACT_NOTIFY is not supported`.
pub fn validate(s: &LinuxSeccomp) -> Result<(), SeccompError> {
    action(
        s.default_action(),
        s.default_errno_ret(),
        "linux.seccomp.defaultAction",
        "linux.seccomp.defaultErrnoRet",
    )?;
    if s.listener_path().is_some() {
        return Err(spec(
            "linux.seccomp.listenerPath",
            "a seccomp agent is not supported",
        ));
    }
    if s.listener_metadata().is_some() {
        return Err(spec(
            "linux.seccomp.listenerMetadata",
            "a seccomp agent is not supported",
        ));
    }
    for (i, flag) in s.flags().iter().flatten().enumerate() {
        if *flag == LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv {
            return Err(spec(
                &format!("linux.seccomp.flags[{i}]"),
                format!("{flag} is not supported (it only applies to SCMP_ACT_NOTIFY)"),
            ));
        }
    }
    validate_architectures(s.architectures().as_deref().unwrap_or_default())?;
    for (i, call) in s.syscalls().iter().flatten().enumerate() {
        validate_syscall(i, call)?;
    }
    Ok(())
}

/// Builds the filter (the whole BPF program is generated here, so every error surfaces before
/// the container is reported created). Must not load it.
pub fn compile(s: &LinuxSeccomp) -> Result<Filter, SeccompError> {
    validate(s)?;
    let default = action(
        s.default_action(),
        s.default_errno_ret(),
        "linux.seccomp.defaultAction",
        "linux.seccomp.defaultErrnoRet",
    )?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|source| SeccompError::NewFilter {
        action: s.default_action(),
        source,
    })?;
    // libseccomp would set no_new_privs itself before loading; the spec's
    // process.noNewPrivileges decides, so the caller does it.
    ctx.set_ctl_nnp(false)
        .map_err(attr("SCMP_FLTATR_CTL_NNP"))?;
    ctx.set_api_sysrawrc(true)
        .map_err(attr("SCMP_FLTATR_API_SYSRAWRC"))?;
    for (i, arch) in s.architectures().iter().flatten().enumerate() {
        ctx.add_arch(scmp_arch(*arch))
            .map_err(|source| SeccompError::AddArch {
                field: format!("linux.seccomp.architectures[{i}]"),
                arch: *arch,
                source,
            })?;
    }
    for (i, flag) in s.flags().iter().flatten().enumerate() {
        match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => {
                ctx.set_ctl_log(true).map_err(attr("SCMP_FLTATR_CTL_LOG"))?;
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                ctx.set_ctl_ssb(true).map_err(attr("SCMP_FLTATR_CTL_SSB"))?;
            }
            // The init is single-threaded when it loads, so TSYNC changes nothing there; it
            // is honoured anyway rather than dropped.
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => {
                ctx.set_ctl_tsync(true)
                    .map_err(attr("SCMP_FLTATR_CTL_TSYNC"))?;
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                return Err(spec(
                    &format!("linux.seccomp.flags[{i}]"),
                    format!("{flag} is not supported"),
                ));
            }
        }
    }
    let mut rules = 0;
    for (i, call) in s.syscalls().iter().flatten().enumerate() {
        rules += add_syscall(&mut ctx, default, i, call)?;
    }
    if rules >= BINARY_TREE_MIN_RULES {
        ctx.set_ctl_optimize(2)
            .map_err(attr("SCMP_FLTATR_CTL_OPTIMIZE"))?;
    }
    let instructions = generate(&ctx)?;
    if instructions > BPF_MAXINSNS {
        return Err(SeccompError::TooLong(instructions));
    }
    Ok(Filter { ctx })
}

fn spec(field: &str, reason: impl Into<String>) -> SeccompError {
    SeccompError::Spec {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

fn attr(name: &'static str) -> impl FnOnce(LibError) -> SeccompError {
    move |source| SeccompError::SetAttr { attr: name, source }
}

/// Refuses an architecture the linked libseccomp cannot put in a filter for this machine:
/// one it does not know (SuperH, LoongArch and m68k need libseccomp 2.6) or one whose
/// endianness differs from the native one (EDOM). The probe filter is never loaded.
fn validate_architectures(arches: &[Arch]) -> Result<(), SeccompError> {
    if arches.is_empty() {
        return Ok(());
    }
    let mut probe =
        ScmpFilterContext::new(ScmpAction::Allow).map_err(|source| SeccompError::NewFilter {
            action: LinuxSeccompAction::ScmpActAllow,
            source,
        })?;
    for (i, arch) in arches.iter().enumerate() {
        if let Err(e) = probe.add_arch(scmp_arch(*arch)) {
            let version = libseccomp::ScmpVersion::current()
                .map(|v| format!(" {}.{}.{}", v.major, v.minor, v.micro))
                .unwrap_or_default();
            return Err(spec(
                &format!("linux.seccomp.architectures[{i}]"),
                format!("{arch} is not supported by libseccomp{version} on this machine: {e}"),
            ));
        }
    }
    Ok(())
}

fn validate_syscall(i: usize, call: &LinuxSyscall) -> Result<(), SeccompError> {
    let field = format!("linux.seccomp.syscalls[{i}]");
    action(
        call.action(),
        call.errno_ret(),
        &format!("{field}.action"),
        &format!("{field}.errnoRet"),
    )?;
    if call.names().is_empty() {
        return Err(spec(
            &format!("{field}.names"),
            "must name at least one syscall",
        ));
    }
    if let Some(j) = call.names().iter().position(|n| n.is_empty()) {
        return Err(spec(&format!("{field}.names[{j}]"), "empty syscall name"));
    }
    for (j, arg) in call.args().iter().flatten().enumerate() {
        comparator(arg, &format!("{field}.args[{j}]"))?;
    }
    Ok(())
}

/// Adds the rules of `linux.seccomp.syscalls[i]`; returns how many it added.
fn add_syscall(
    ctx: &mut ScmpFilterContext,
    default: ScmpAction,
    i: usize,
    call: &LinuxSyscall,
) -> Result<usize, SeccompError> {
    let field = format!("linux.seccomp.syscalls[{i}]");
    let act = action(
        call.action(),
        call.errno_ret(),
        &format!("{field}.action"),
        &format!("{field}.errnoRet"),
    )?;
    if act == default {
        return Ok(0);
    }
    let args = call.args().as_deref().unwrap_or_default();
    let mut conditions = Vec::with_capacity(args.len());
    for (j, arg) in args.iter().enumerate() {
        conditions.push(comparator(arg, &format!("{field}.args[{j}]"))?);
    }
    // runc's rule: when an argument index repeats, every condition becomes a rule of its own
    // (ORed), since libseccomp refuses two comparisons of one argument in a rule; otherwise
    // one rule holds them all (ANDed).
    let mut per_index = [0usize; SYSCALL_ARGS];
    for arg in args {
        if let Some(n) = per_index.get_mut(arg.index()) {
            *n += 1;
        }
    }
    let groups: Vec<&[ScmpArgCompare]> = if per_index.iter().any(|n| *n > 1) {
        conditions.chunks(1).collect()
    } else {
        vec![&conditions[..]]
    };
    let mut added = 0;
    for name in call.names() {
        // Unknown to libseccomp on every architecture: a syscall of a newer kernel.
        let Ok(syscall) = ScmpSyscall::from_name(name) else {
            continue;
        };
        for group in &groups {
            ctx.add_rule_conditional(act, syscall, group)
                .map_err(|source| SeccompError::AddRule {
                    field: field.clone(),
                    name: name.clone(),
                    source,
                })?;
            added += 1;
        }
    }
    Ok(added)
}

/// Generates the BPF program into a memfd (closed on return) and returns its length in
/// instructions. libseccomp 2.5 has no `seccomp_precompute`, so `load` generates it again;
/// generation is deterministic, so what failed here is what would fail there.
fn generate(ctx: &ScmpFilterContext) -> Result<usize, SeccompError> {
    let fd = rustix::fs::memfd_create("ringmon-seccomp-bpf", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(SeccompError::Memfd)?;
    ctx.export_bpf(&fd).map_err(SeccompError::Generate)?;
    let size = rustix::fs::fstat(&fd).map_err(SeccompError::Fstat)?.st_size;
    Ok(usize::try_from(size).unwrap_or(usize::MAX) / BPF_INSN_SIZE)
}

/// Maps an action and its errno, refusing what cannot be implemented.
fn action(
    act: LinuxSeccompAction,
    errno_ret: Option<u32>,
    action_field: &str,
    errno_field: &str,
) -> Result<ScmpAction, SeccompError> {
    let no_errno = |scmp| match errno_ret {
        None => Ok(scmp),
        Some(_) => Err(spec(
            errno_field,
            format!("{act} takes no errno (only SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)"),
        )),
    };
    let eperm = libc::EPERM.unsigned_abs();
    match act {
        LinuxSeccompAction::ScmpActAllow => no_errno(ScmpAction::Allow),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            no_errno(ScmpAction::KillThread)
        }
        LinuxSeccompAction::ScmpActKillProcess => no_errno(ScmpAction::KillProcess),
        LinuxSeccompAction::ScmpActTrap => no_errno(ScmpAction::Trap),
        LinuxSeccompAction::ScmpActLog => no_errno(ScmpAction::Log),
        LinuxSeccompAction::ScmpActNotify => Err(spec(
            action_field,
            "SCMP_ACT_NOTIFY is not supported (it needs a seccomp agent)",
        )),
        LinuxSeccompAction::ScmpActErrno => {
            let errno = errno_ret.unwrap_or(eperm);
            match i32::try_from(errno) {
                Ok(e) if errno <= MAX_ERRNO => Ok(ScmpAction::Errno(e)),
                _ => Err(spec(
                    errno_field,
                    format!("errno {errno} is above MAX_ERRNO ({MAX_ERRNO})"),
                )),
            }
        }
        LinuxSeccompAction::ScmpActTrace => {
            let value = errno_ret.unwrap_or(eperm);
            u16::try_from(value).map(ScmpAction::Trace).map_err(|_| {
                spec(
                    errno_field,
                    format!("trace value {value} does not fit in 16 bits"),
                )
            })
        }
    }
}

/// Maps one argument condition. For SCMP_CMP_MASKED_EQ, `value` is the mask and `valueTwo`
/// the value compared with (`(arg & value) == valueTwo`, as in runc); other operators compare
/// with `value` and refuse a non-zero `valueTwo`, which they would ignore.
fn comparator(arg: &LinuxSeccompArg, field: &str) -> Result<ScmpArgCompare, SeccompError> {
    let index = match u32::try_from(arg.index()) {
        Ok(i) if arg.index() < SYSCALL_ARGS => i,
        _ => {
            return Err(spec(
                &format!("{field}.index"),
                format!(
                    "argument {} does not exist (a syscall has arguments 0 to {})",
                    arg.index(),
                    SYSCALL_ARGS - 1
                ),
            ))
        }
    };
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            let datum = arg.value_two().unwrap_or(0);
            return Ok(ScmpArgCompare::new(
                index,
                ScmpCompareOp::MaskedEqual(arg.value()),
                datum,
            ));
        }
    };
    if let Some(two) = arg.value_two().filter(|v| *v != 0) {
        return Err(spec(
            &format!("{field}.valueTwo"),
            format!(
                "{two} given, but only SCMP_CMP_MASKED_EQ uses it (op is {})",
                arg.op()
            ),
        ));
    }
    Ok(ScmpArgCompare::new(index, op, arg.value()))
}

fn scmp_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).expect("test profile is valid OCI JSON")
    }

    /// Asserts that `validate` and `compile` refuse the profile with a message that starts
    /// with `prefix` (the field path and what is wrong with it).
    fn assert_refused(json: &str, prefix: &str) {
        let s = profile(json);
        for result in [validate(&s), compile(&s).map(drop)] {
            match result {
                Err(e @ SeccompError::Spec { .. }) => {
                    let msg = e.to_string();
                    assert!(
                        msg.starts_with(prefix),
                        "{msg:?} should start with {prefix:?}"
                    );
                }
                other => panic!("expected a refusal starting with {prefix:?}, got {other:?}"),
            }
        }
    }

    /// A profile allowing everything but what `rules` (a `syscalls` array) says.
    fn allow_but(rules: &str) -> String {
        format!(r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": {rules}}}"#)
    }

    #[test]
    fn validate_refuses_notify_naming_the_field() {
        assert_refused(
            &allow_but(
                r#"[{"names": ["read"], "action": "SCMP_ACT_ERRNO"},
                    {"names": ["getcwd"], "action": "SCMP_ACT_NOTIFY"}]"#,
            ),
            "linux.seccomp.syscalls[1].action: SCMP_ACT_NOTIFY is not supported",
        );
        assert_refused(
            r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#,
            "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY is not supported",
        );
    }

    #[test]
    fn validate_refuses_a_seccomp_agent() {
        assert_refused(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"}"#,
            "linux.seccomp.listenerPath: ",
        );
        assert_refused(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "x"}"#,
            "linux.seccomp.listenerMetadata: ",
        );
    }

    #[test]
    fn validate_refuses_an_arch_of_the_other_endianness() {
        // libseccomp puts only architectures of the native endianness in one filter (EDOM).
        let other = if cfg!(target_endian = "little") {
            "SCMP_ARCH_S390X"
        } else {
            "SCMP_ARCH_X86_64"
        };
        assert_refused(
            &format!(
                r#"{{"defaultAction": "SCMP_ACT_ALLOW",
                    "architectures": ["SCMP_ARCH_NATIVE", "{other}"]}}"#
            ),
            &format!("linux.seccomp.architectures[1]: {other} is not supported by libseccomp"),
        );
    }

    #[test]
    fn validate_refuses_an_arch_unknown_to_this_libseccomp() {
        let version = libseccomp::ScmpVersion::current().expect("libseccomp version");
        if (version.major, version.minor) >= (2, 6) {
            println!("skipped: libseccomp {version:?} knows SCMP_ARCH_SH");
            return;
        }
        assert_refused(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_SH"]}"#,
            "linux.seccomp.architectures[0]: SCMP_ARCH_SH is not supported by libseccomp",
        );
    }

    #[test]
    fn validate_refuses_errno_on_actions_without_one() {
        assert_refused(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}"#,
            "linux.seccomp.defaultErrnoRet: SCMP_ACT_ALLOW takes no errno",
        );
        assert_refused(
            &allow_but(
                r#"[{"names": ["read"], "action": "SCMP_ACT_KILL_PROCESS", "errnoRet": 1}]"#,
            ),
            "linux.seccomp.syscalls[0].errnoRet: SCMP_ACT_KILL_PROCESS takes no errno",
        );
        assert_refused(
            &allow_but(r#"[{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 4096}]"#),
            "linux.seccomp.syscalls[0].errnoRet: errno 4096 is above MAX_ERRNO",
        );
    }

    #[test]
    fn validate_refuses_bad_names_args_and_flags() {
        let cases = [
            (
                r#"[{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                     "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                              {"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]"#,
                "linux.seccomp.syscalls[0].args[1].index: argument 6 does not exist",
            ),
            (
                r#"[{"names": ["read"], "action": "SCMP_ACT_ERRNO",
                     "args": [{"index": 0, "value": 1, "valueTwo": 2, "op": "SCMP_CMP_EQ"}]}]"#,
                "linux.seccomp.syscalls[0].args[0].valueTwo: ",
            ),
            (
                r#"[{"names": [], "action": "SCMP_ACT_ERRNO"}]"#,
                "linux.seccomp.syscalls[0].names: ",
            ),
            (
                r#"[{"names": ["read", ""], "action": "SCMP_ACT_ERRNO"}]"#,
                "linux.seccomp.syscalls[0].names[1]: ",
            ),
        ];
        for (rules, prefix) in cases {
            assert_refused(&allow_but(rules), prefix);
        }
        assert_refused(
            r#"{"defaultAction": "SCMP_ACT_ALLOW",
                "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#,
            "linux.seccomp.flags[1]: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is not supported",
        );
    }

    #[test]
    fn actions_and_comparators_map_like_runc() {
        use LinuxSeccompAction as A;
        let cases = [
            (A::ScmpActErrno, None, ScmpAction::Errno(libc::EPERM)),
            (A::ScmpActErrno, Some(38), ScmpAction::Errno(38)),
            (A::ScmpActTrace, None, ScmpAction::Trace(1)),
            (A::ScmpActTrace, Some(7), ScmpAction::Trace(7)),
            (A::ScmpActKill, None, ScmpAction::KillThread),
            (A::ScmpActKillThread, None, ScmpAction::KillThread),
            (A::ScmpActKillProcess, None, ScmpAction::KillProcess),
            (A::ScmpActLog, None, ScmpAction::Log),
            (A::ScmpActTrap, None, ScmpAction::Trap),
            (A::ScmpActAllow, None, ScmpAction::Allow),
        ];
        for (act, errno, want) in cases {
            let got = action(act, errno, "a", "e").expect("supported action");
            assert_eq!(got, want, "{act} errnoRet {errno:?}");
        }

        let arg = |json| serde_json::from_str::<LinuxSeccompArg>(json).expect("arg");
        let masked = arg(r#"{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}"#);
        assert_eq!(
            comparator(&masked, "f").expect("masked eq"),
            ScmpArgCompare::new(0, ScmpCompareOp::MaskedEqual(2114060288), 0)
        );
        let ge = arg(r#"{"index": 5, "value": 9, "valueTwo": 0, "op": "SCMP_CMP_GE"}"#);
        assert_eq!(
            comparator(&ge, "f").expect("ge"),
            ScmpArgCompare::new(5, ScmpCompareOp::GreaterEqual, 9)
        );
    }

    #[test]
    fn compile_builds_a_small_profile_without_loading_it() {
        let arches = if cfg!(target_arch = "aarch64") {
            r#"["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]"#
        } else {
            r#"["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]"#
        };
        let filter = compile(&profile(&format!(
            r#"{{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
                "architectures": {arches},
                "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                          "SECCOMP_FILTER_FLAG_TSYNC"],
                "syscalls": [
                  {{"names": ["read", "write", "exit_group", "socketcall"], "action": "SCMP_ACT_ALLOW"}},
                  {{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                    "args": [{{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}},
                             {{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}}]}},
                  {{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                    "args": [{{"index": 0, "value": 2114060288, "valueTwo": 0,
                               "op": "SCMP_CMP_MASKED_EQ"}}]}},
                  {{"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"}},
                  {{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}}]}}"#
        )))
        .expect("compile");
        assert!(!filter.ctx.get_ctl_nnp().expect("nnp attr"));
        assert!(filter.ctx.get_ctl_log().expect("log attr"));
        assert!(filter.ctx.get_ctl_ssb().expect("ssb attr"));
        assert!(filter.ctx.get_ctl_tsync().expect("tsync attr"));
        assert!(filter
            .ctx
            .is_arch_present(ScmpArch::native())
            .expect("arch"));
        let extra = if cfg!(target_arch = "aarch64") {
            ScmpArch::Arm
        } else {
            ScmpArch::X86
        };
        assert!(filter.ctx.is_arch_present(extra).expect("arch"));
        let instructions = generate(&filter.ctx).expect("generate");
        assert!(
            instructions > 20 && instructions <= BPF_MAXINSNS,
            "{instructions} instructions"
        );
        // Nothing was loaded into this process.
        std::env::current_dir().expect("getcwd still works after compile");
    }

    #[test]
    fn compile_skips_unknown_names_and_rules_equal_to_the_default() {
        // The skip is needed: libseccomp itself refuses a rule that repeats the default.
        let mut raw = ScmpFilterContext::new(ScmpAction::Errno(1)).expect("filter");
        let read = ScmpSyscall::from_name("read").expect("read");
        assert!(raw.add_rule(ScmpAction::Errno(1), read).is_err());

        let filter = compile(&profile(
            r#"{"defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [
                  {"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                  {"names": ["ringmon_no_such_syscall", "getcwd"], "action": "SCMP_ACT_ALLOW"}]}"#,
        ))
        .expect("compile");
        // Same action, other errno: a real rule, not skipped.
        compile(&profile(
            r#"{"defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2}]}"#,
        ))
        .expect("compile");
        let only_default =
            compile(&profile(r#"{"defaultAction": "SCMP_ACT_ERRNO"}"#)).expect("compile");
        assert!(
            generate(&filter.ctx).expect("generate") > generate(&only_default.ctx).expect("gen"),
            "the getcwd rule after the unknown name must be in the program"
        );
    }

    #[test]
    fn compile_refuses_a_program_over_bpf_maxinsns() {
        // 5000 ORed values of one argument: about one jump each, so over 4096.
        let args: Vec<String> = (0..5000)
            .map(|v| format!(r#"{{"index": 0, "value": {v}, "op": "SCMP_CMP_EQ"}}"#))
            .collect();
        let json = format!(
            r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                {{"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "args": [{}]}}]}}"#,
            args.join(",")
        );
        match compile(&profile(&json)) {
            Err(SeccompError::TooLong(n)) => assert!(n > BPF_MAXINSNS),
            other => panic!("expected TooLong, got {other:?}"),
        }
    }

    const CHILD_ENV: &str = "RINGMON_SECCOMP_TEST_CHILD";
    const CHILD_OK: &str = "ringmon-seccomp-child-ok";

    /// Runs `child_process` alone in a fresh copy of this test binary, so that the filter
    /// lands in a process of its own.
    fn run_child(scenario: &str) -> std::process::Output {
        let path = module_path!();
        let tests = path.split_once("::").map_or(path, |(_, rest)| rest);
        std::process::Command::new(std::env::current_exe().expect("test binary path"))
            .args([
                "--exact",
                &format!("{tests}::child_process"),
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, scenario)
            .output()
            .expect("run the test binary")
    }

    #[test]
    fn load_returns_the_rules_errnos_and_allows_the_rest() {
        let out = run_child("errno");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(CHILD_OK),
            "child: {:?}\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn load_kill_process_kills_with_sigsys() {
        use std::os::unix::process::ExitStatusExt;
        let out = run_child("kill");
        assert_eq!(
            out.status.signal(),
            Some(libc::SIGSYS),
            "child: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        );
    }

    /// The child side of the load tests; does nothing unless run by `run_child`.
    #[test]
    #[ignore = "run in a child process by the load_* tests"]
    fn child_process() {
        let Ok(scenario) = std::env::var(CHILD_ENV) else {
            println!("skipped: only meaningful in a child started by a load_* test");
            return;
        };
        // Whether loading can be shown to leave no_new_privs alone: only when it starts unset
        // and root's CAP_SYS_ADMIN lets the load go without it.
        let check_nnp = if rustix::process::geteuid().is_root() {
            !rustix::thread::no_new_privs().expect("PR_GET_NO_NEW_PRIVS")
        } else {
            println!("not root: setting no_new_privs, the no_new_privs check is skipped");
            rustix::thread::set_no_new_privs(true).expect("PR_SET_NO_NEW_PRIVS");
            false
        };
        match scenario.as_str() {
            "errno" => child_errno(check_nnp),
            "kill" => child_kill(),
            other => panic!("unknown scenario {other}"),
        }
    }

    fn errno_of<T: std::fmt::Debug>(r: rustix::io::Result<T>) -> i32 {
        r.expect_err("the filter must refuse this call")
            .raw_os_error()
    }

    /// Syscalls this test never makes; with them the filter has over `BINARY_TREE_MIN_RULES`
    /// rules, so the binary-tree layout is what gets loaded.
    const RARE: &str = "acct add_key bpf chroot delete_module finit_module fsmount fsopen \
        fspick init_module kexec_file_load kexec_load keyctl lookup_dcookie mount move_mount \
        nfsservctl open_tree perf_event_open pivot_root quotactl reboot request_key setns \
        swapoff swapon syslog umount2 unshare uselib userfaultfd vhangup vm86 vm86old";

    fn child_errno(check_nnp: bool) {
        use rustix::process::{getpgid, getpid, getpriority_process, test_kill_process, Pid};
        let me = getpid();
        let json = format!(
            r#"{{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_NATIVE"],
                "syscalls": [
                  {{"names": ["ringmon_no_such_syscall", "getcwd"], "action": "SCMP_ACT_ERRNO",
                    "errnoRet": 38}},
                  {{"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}},
                  {{"names": [{rare}], "action": "SCMP_ACT_ERRNO", "errnoRet": 67}},
                  {{"names": ["getpgid"], "action": "SCMP_ACT_ERRNO"}},
                  {{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33,
                    "args": [{{"index": 1, "value": 1, "op": "SCMP_CMP_EQ"}},
                             {{"index": 1, "value": {me}, "op": "SCMP_CMP_EQ"}}]}},
                  {{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 18,
                    "args": [{{"index": 0, "value": {me}, "op": "SCMP_CMP_EQ"}},
                             {{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}}]}}]}}"#,
            me = me.as_raw_nonzero(),
            rare = RARE
                .split_whitespace()
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(", "),
        );
        let filter = compile(&profile(&json)).expect("compile");
        assert_eq!(filter.ctx.get_ctl_optimize().expect("optimize attr"), 2);
        filter.load().expect("load");
        if check_nnp {
            assert!(
                !rustix::thread::no_new_privs().expect("PR_GET_NO_NEW_PRIVS"),
                "loading must not set no_new_privs"
            );
        }

        // Unconditional rule, after an unknown name in the same entry.
        let cwd = std::env::current_dir().expect_err("getcwd must fail");
        assert_eq!(cwd.raw_os_error(), Some(38));
        // ERRNO without errnoRet: EPERM.
        assert_eq!(errno_of(getpgid(None)), libc::EPERM);
        // Index 1 repeated: the conditions are ORed.
        assert_eq!(errno_of(getpriority_process(Some(Pid::INIT))), 33);
        assert_eq!(errno_of(getpriority_process(Some(me))), 33);
        getpriority_process(None).expect("getpriority of who=0 is not matched");
        // Different indexes: ANDed.
        assert_eq!(errno_of(test_kill_process(me)), 18);
        // kill(1, 0) matches one condition only (and may fail with EPERM when not root).
        let init = test_kill_process(Pid::INIT).err().map(|e| e.raw_os_error());
        assert_ne!(init, Some(18), "kill(1, 0) must not match the rule");
        rustix::process::kill_process(me, rustix::process::Signal::WINCH)
            .expect("kill(me, SIGWINCH) only matches one condition");
        // One of the many (binary tree) rules.
        assert_eq!(errno_of(rustix::process::chroot("/")), libc::ENOLINK);
        // Everything else still works.
        assert_eq!(getpid(), me);
        std::fs::metadata("/").expect("stat /");
        println!("{CHILD_OK}");
    }

    fn child_kill() {
        // SIGSYS dumps core by default; keep the test tree clean.
        rustix::process::setrlimit(
            rustix::process::Resource::Core,
            rustix::process::Rlimit {
                current: Some(0),
                maximum: Some(0),
            },
        )
        .expect("RLIMIT_CORE 0");
        let filter = compile(&profile(
            r#"{"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_KILL_PROCESS"}]}"#,
        ))
        .expect("compile");
        filter.load().expect("load");
        let r = std::env::current_dir();
        println!("still alive after getcwd: {r:?}");
    }
}
