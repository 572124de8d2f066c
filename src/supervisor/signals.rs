//! Signal names and numbers as users write them: "TERM", "SIGTERM", "15", 15, "RTMIN+1".

const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// Parses a signal; the error names what was wrong.
pub fn parse(v: &serde_json::Value) -> Result<i32, String> {
    let n = match v {
        serde_json::Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("invalid signal {n}: not an integer"))?,
        serde_json::Value::String(s) => return parse_str(s),
        other => return Err(format!("invalid signal {other}: use a name or a number")),
    };
    from_number(n)
}

pub fn parse_str(s: &str) -> Result<i32, String> {
    if let Ok(n) = s.parse::<i64>() {
        return from_number(n);
    }
    let up = s.to_ascii_uppercase();
    let bare = up.strip_prefix("SIG").unwrap_or(&up);
    if let Some(rest) = bare.strip_prefix("RTMIN+") {
        let k: i64 = rest.parse().map_err(|_| format!("unknown signal {s:?}"))?;
        return from_number(libc::SIGRTMIN() as i64 + k);
    }
    NAMES
        .iter()
        .find(|(n, _)| *n == bare)
        .map(|(_, num)| *num)
        .ok_or_else(|| format!("unknown signal {s:?}"))
}

fn from_number(n: i64) -> Result<i32, String> {
    if n <= 0 || n > libc::SIGRTMAX() as i64 {
        return Err(format!(
            "invalid signal number {n}: must be 1..={}",
            libc::SIGRTMAX()
        ));
    }
    Ok(n as i32)
}

pub fn name(signo: i32) -> String {
    NAMES
        .iter()
        .find(|(_, n)| *n == signo)
        .map(|(s, _)| format!("SIG{s}"))
        .unwrap_or_else(|| format!("signal {signo}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        for v in [
            serde_json::json!("TERM"),
            serde_json::json!("sigterm"),
            serde_json::json!(15),
            serde_json::json!("15"),
        ] {
            assert_eq!(parse(&v).expect("term"), libc::SIGTERM);
        }
        assert!(parse(&serde_json::json!("NOPE"))
            .unwrap_err()
            .contains("NOPE"));
        assert!(parse(&serde_json::json!(0)).is_err());
        assert!(parse(&serde_json::json!(99)).is_err());
        assert!(parse(&serde_json::json!([1])).is_err());
        assert_eq!(parse_str("RTMIN+1").expect("rt"), libc::SIGRTMIN() + 1);
    }
}
