//! Latency samples and their percentiles.

use std::time::Duration;

/// Collected latencies.
#[derive(Debug, Default, Clone)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    /// Adds a sample.
    pub fn push(&mut self, sample: Duration) {
        self.0.push(sample);
    }

    /// Adds all samples of `other`.
    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank.min(sorted.len() - 1)]
    }

    /// Median, formatted in ms.
    pub fn p50(&self) -> String {
        format_ms(self.percentile(50.0))
    }

    /// 99th percentile, formatted in ms.
    pub fn p99(&self) -> String {
        format_ms(self.percentile(99.0))
    }
}

fn format_ms(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
}

/// One send run: how many, how long, and each request's latency.
#[derive(Debug)]
pub struct SendRun {
    /// Messages sent.
    pub count: usize,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Per-request latencies.
    pub latencies: Latencies,
}

impl SendRun {
    /// Events per second.
    pub fn throughput(&self) -> f64 {
        self.count as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}
