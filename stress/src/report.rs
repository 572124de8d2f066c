//! Percentiles and the two outputs every scenario gives: a table and JSON.

use std::time::Duration;

/// A scenario's result.
pub struct Output {
    pub table: String,
    pub json: serde_json::Value,
}

/// The median of ratios taken pair by pair or round by round (0 without any); of an even
/// count, the upper middle one.
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Latency samples of one phase.
#[derive(Default, Clone)]
pub struct Samples(pub Vec<Duration>);

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    /// The q-quantile (0.5 = median) in milliseconds; 0 without samples.
    pub fn ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let mut v = self.0.clone();
        v.sort();
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        v[i.min(v.len() - 1)].as_secs_f64() * 1000.0
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({"n": self.0.len(), "p50_ms": self.ms(0.5),
                           "p90_ms": self.ms(0.9), "p99_ms": self.ms(0.99)})
    }

    pub fn row(&self, name: &str) -> String {
        format!(
            "  {name:<24} p50 {:>8.3} ms   p90 {:>8.3} ms   p99 {:>8.3} ms   (n={})\n",
            self.ms(0.5),
            self.ms(0.9),
            self.ms(0.99),
            self.0.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_the_nearest_rank() {
        let s = Samples((1..=100).map(Duration::from_millis).collect());
        assert_eq!(s.ms(0.5), 51.0);
        assert_eq!(s.ms(0.99), 99.0);
        assert_eq!(s.ms(0.0), 1.0);
        assert_eq!(Samples::default().ms(0.5), 0.0);
    }
}
