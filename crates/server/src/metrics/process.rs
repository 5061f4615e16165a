//! The process's own figures, read from `/proc/self` at each scrape (Linux): resident
//! memory, CPU time, open files, threads and start time, under Prometheus's usual
//! `process_*` names. Elsewhere nothing is reported.

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge},
};

/// Clock ticks per second of `/proc/self/stat` times: 100 on every Linux Accord runs on.
const TICKS_PER_SECOND: f64 = 100.0;
const PAGE_SIZE: u64 = 4096;

#[derive(Debug)]
pub(super) struct ProcessFigures;

struct Stat {
    cpu_seconds: f64,
    threads: i64,
    resident_bytes: i64,
    virtual_bytes: i64,
    start_ticks: u64,
}

/// Fields of `/proc/self/stat` after the command name (which may hold spaces).
fn read_stat() -> Option<Stat> {
    let text = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field numbers of proc(5) minus 3 (pid, comm and state come before `rest`'s index 1).
    let number = |index: usize| fields.get(index).and_then(|field| field.parse::<u64>().ok());
    let ticks = number(11)? + number(12)?;
    Some(Stat {
        cpu_seconds: ticks as f64 / TICKS_PER_SECOND,
        threads: i64::try_from(number(17)?).ok()?,
        start_ticks: number(19)?,
        virtual_bytes: i64::try_from(number(20)?).ok()?,
        resident_bytes: i64::try_from(number(21)? * PAGE_SIZE).ok()?,
    })
}

/// Seconds since the epoch the machine booted, for the process start time.
fn boot_time() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

fn open_files() -> Option<i64> {
    Some(i64::try_from(std::fs::read_dir("/proc/self/fd").ok()?.count()).unwrap_or(i64::MAX))
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for ProcessFigures {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(stat) = read_stat() {
            let cpu = ConstCounter::new(stat.cpu_seconds);
            cpu.encode(encoder.encode_descriptor(
                "process_cpu_seconds",
                "CPU time used, user and system",
                None,
                cpu.metric_type(),
            )?)?;
            gauge(
                &mut encoder,
                "process_resident_memory_bytes",
                "Resident memory",
                stat.resident_bytes,
            )?;
            gauge(
                &mut encoder,
                "process_virtual_memory_bytes",
                "Virtual memory",
                stat.virtual_bytes,
            )?;
            gauge(&mut encoder, "process_threads", "Threads", stat.threads)?;
            if let Some(boot) = boot_time() {
                let started = boot as f64 + stat.start_ticks as f64 / TICKS_PER_SECOND;
                let metric = ConstGauge::new(started);
                metric.encode(encoder.encode_descriptor(
                    "process_start_time_seconds",
                    "When the process started, seconds since the epoch",
                    None,
                    metric.metric_type(),
                )?)?;
            }
        }
        if let Some(files) = open_files() {
            gauge(&mut encoder, "process_open_fds", "Open file descriptors", files)?;
        }
        Ok(())
    }
}
