//! docker-style resource flags of `create` and `run`, turned into OCI `linux.resources`.

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{json, Map, Value};

#[derive(Args, Debug, Clone, Default)]
pub struct LimitArgs {
    /// Memory limit (bytes, or with a unit: 512k, 64m, 2g)
    #[arg(short = 'm', long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Memory plus swap limit; -1 for unlimited swap
    #[arg(long, value_name = "BYTES")]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long, value_name = "BYTES")]
    pub memory_reservation: Option<String>,
    /// Most processes at once; -1 for unlimited
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// CPUs' worth of time (1.5 = one and a half CPUs), as quota/period
    #[arg(long, value_name = "N")]
    pub cpus: Option<f64>,
    /// Relative CPU weight (cgroup v1 shares, 2..262144)
    #[arg(short = 'c', long, value_name = "N")]
    pub cpu_shares: Option<u64>,
    /// CPU quota in microseconds per period
    #[arg(long, value_name = "US", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU period in microseconds
    #[arg(long, value_name = "US")]
    pub cpu_period: Option<u64>,
    /// CPUs the container may run on (0-1, 0,2)
    #[arg(long, value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use
    #[arg(long, value_name = "LIST")]
    pub cpuset_mems: Option<String>,
}

/// "64m" -> 67108864; "-1" -> -1.
pub fn parse_bytes(s: &str) -> Result<i64> {
    if s == "-1" {
        return Ok(-1);
    }
    let lower = s.to_ascii_lowercase();
    let t = lower.trim_end_matches('b');
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n > 0.0)
        .with_context(|| format!("{s:?} is not a size (bytes, or a number with k, m, g or t)"))?;
    let v = n * mult as f64;
    if v >= i64::MAX as f64 {
        bail!("{s:?} is too large");
    }
    Ok(v as i64)
}

impl LimitArgs {
    /// The flags as OCI linux.resources; None when no flag was given.
    pub fn resources(&self) -> Result<Option<Value>> {
        let mut memory = Map::new();
        let mut put = |key: &str, v: &Option<String>, flag: &str| -> Result<()> {
            if let Some(v) = v {
                let n = parse_bytes(v).with_context(|| format!("--{flag}"))?;
                memory.insert(key.into(), json!(n));
            }
            Ok(())
        };
        put("limit", &self.memory, "memory")?;
        put("swap", &self.memory_swap, "memory-swap")?;
        put(
            "reservation",
            &self.memory_reservation,
            "memory-reservation",
        )?;
        let mut cpu = Map::new();
        if let Some(n) = self.cpus {
            if !(n.is_finite() && n > 0.0) {
                bail!("--cpus {n}: give a positive number of CPUs");
            }
            let period = self.cpu_period.unwrap_or(100_000);
            cpu.insert("period".into(), json!(period));
            cpu.insert("quota".into(), json!((n * period as f64).round() as i64));
        }
        if let Some(q) = self.cpu_quota {
            cpu.insert("quota".into(), json!(q));
        }
        if let Some(p) = self.cpu_period {
            cpu.insert("period".into(), json!(p));
        }
        if let Some(s) = self.cpu_shares {
            cpu.insert("shares".into(), json!(s));
        }
        if let Some(c) = &self.cpuset_cpus {
            cpu.insert("cpus".into(), json!(c));
        }
        if let Some(m) = &self.cpuset_mems {
            cpu.insert("mems".into(), json!(m));
        }
        let mut res = Map::new();
        if !memory.is_empty() {
            res.insert("memory".into(), Value::Object(memory));
        }
        if !cpu.is_empty() {
            res.insert("cpu".into(), Value::Object(cpu));
        }
        if let Some(p) = self.pids_limit {
            res.insert("pids".into(), json!({ "limit": p }));
        }
        Ok((!res.is_empty()).then_some(Value::Object(res)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_flags_become_oci_resources() {
        assert_eq!(parse_bytes("64m").expect("64m"), 64 << 20);
        assert_eq!(parse_bytes("1G").expect("1G"), 1 << 30);
        assert_eq!(parse_bytes("512kb").expect("512kb"), 512 << 10);
        assert_eq!(parse_bytes("1000").expect("1000"), 1000);
        assert_eq!(parse_bytes("-1").expect("-1"), -1);
        for bad in ["", "m", "12x", "-5", "0"] {
            assert!(parse_bytes(bad).is_err(), "{bad:?}");
        }
        let a = LimitArgs {
            memory: Some("16m".into()),
            pids_limit: Some(64),
            cpus: Some(0.5),
            ..Default::default()
        };
        assert_eq!(
            a.resources().expect("resources"),
            Some(json!({"memory": {"limit": 16 << 20}, "pids": {"limit": 64},
                        "cpu": {"period": 100000, "quota": 50000}}))
        );
        assert_eq!(LimitArgs::default().resources().expect("none"), None);
    }
}
