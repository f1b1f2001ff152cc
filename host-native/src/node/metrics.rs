//! Timings as ZooKeeper keeps them (its `AvgMinMaxCounter` and `AvgMinMaxPercentileCounter`:
//! mntr's `zk_{avg,min,max,cnt,sum}_<name>` and `zk_p50/p95/p99/p999_<name>`), each also a
//! Prometheus histogram of the same name, and the Prometheus exposition of everything mntr
//! prints (`metricsProvider.*`, served by [`crate::net::admin`]).

use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde_json::Value;

/// Bucket bounds of the millisecond histograms: from half a millisecond to a minute.
const MS_BUCKETS: [f64; 16] =
    [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 30000.0, 60000.0];

/// One timing in milliseconds since the start (or `srst`, for the request latencies).
pub struct Summary {
    name: &'static str,
    /// mntr prints percentiles of it (ZooKeeper's percentile counters).
    percentiles: bool,
    count: u64,
    sum: u64,
    min: u64,
    max: u64,
    /// For the percentiles; values above an hour are taken as an hour.
    recent: hdrhistogram::Histogram<u64>,
    /// The Prometheus side: never reset (Prometheus computes rates itself).
    histogram: Histogram,
}

/// Values are kept to 2 significant digits up to an hour (in ms).
const HDR_MAX_MS: u64 = 3_600_000;

impl Summary {
    pub fn new(name: &'static str, percentiles: bool) -> Summary {
        Summary {
            name,
            percentiles,
            count: 0,
            sum: 0,
            min: 0,
            max: 0,
            recent: hdrhistogram::Histogram::new_with_max(HDR_MAX_MS, 2).expect("valid histogram bounds"),
            histogram: Histogram::new(MS_BUCKETS),
        }
    }

    /// A timing of `ms` milliseconds (fractions count in the histogram, mntr takes whole ms).
    pub fn record(&mut self, ms: f64) {
        let whole = ms as u64;
        self.min = if self.count == 0 { whole } else { self.min.min(whole) };
        self.max = self.max.max(whole);
        self.sum += whole;
        self.count += 1;
        if self.percentiles {
            let _ = self.recent.record(whole.min(HDR_MAX_MS));
        }
        self.histogram.observe(ms);
    }

    /// mntr's counters start again; the histogram keeps going.
    pub fn reset(&mut self) {
        *self = Summary { histogram: self.histogram.clone(), ..Summary::new(self.name, self.percentiles) };
    }

    /// mntr's keys of this timing, in ZooKeeper's order.
    pub fn mntr(&self, out: &mut Vec<(String, Value)>) {
        let n = self.name;
        let avg = if self.count == 0 { 0.0 } else { self.sum as f64 / self.count as f64 };
        out.push((format!("avg_{n}"), avg.into()));
        out.push((format!("min_{n}"), self.min.into()));
        out.push((format!("max_{n}"), self.max.into()));
        out.push((format!("cnt_{n}"), self.count.into()));
        out.push((format!("sum_{n}"), self.sum.into()));
        if self.percentiles {
            for (key, q) in [("p50", 50.0), ("p95", 95.0), ("p99", 99.0), ("p999", 99.9)] {
                let value = if self.count == 0 { 0 } else { self.recent.value_at_percentile(q) };
                out.push((format!("{key}_{n}"), value.into()));
            }
        }
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(self.name, format!("{} in milliseconds", self.name), self.histogram.clone());
    }
}

/// A timing measured on another thread (the storage writer's fsyncs).
pub type Shared = Arc<Mutex<Summary>>;

/// The timings a node keeps.
pub struct Timings {
    /// Reads, from the request read to its reply queued (`readlatency`).
    pub read: Summary,
    /// Writes, the same (`updatelatency`).
    pub update: Summary,
    /// Each fdatasync of the log (`fsynctime`), measured on the storage writer's thread.
    pub fsync: Shared,
    /// From looking to a leader chosen (`election_time`).
    pub election: Summary,
    /// On the leader, from a txn's first PROPOSAL to its commit, decided by a quorum's acks
    /// (`quorum_ack_latency`; ZooKeeper counts from the request's arrival at the leader).
    pub quorum_ack: Summary,
    /// fdatasyncs slower than `fsync.warningthresholdms` (`fsync_threshold_exceed_count`).
    pub fsync_slow: Arc<std::sync::atomic::AtomicU64>,
}

impl Default for Timings {
    fn default() -> Timings {
        Timings {
            read: Summary::new("readlatency", true),
            update: Summary::new("updatelatency", true),
            fsync: Arc::new(Mutex::new(Summary::new("fsynctime", false))),
            election: Summary::new("election_time", false),
            quorum_ack: Summary::new("quorum_ack_latency", true),
            fsync_slow: Arc::default(),
        }
    }
}

impl Timings {
    /// mntr's summary keys.
    pub fn mntr(&self, out: &mut Vec<(String, Value)>) {
        if let Ok(fsync) = self.fsync.lock() {
            fsync.mntr(out);
        }
        self.election.mntr(out);
        self.quorum_ack.mntr(out);
        self.read.mntr(out);
        self.update.mntr(out);
    }

    /// `srst` starts the request latencies again.
    pub fn reset_latencies(&mut self) {
        self.read.reset();
        self.update.reset();
    }
}

/// The Prometheus exposition (OpenMetrics text): every number mntr prints as a gauge of its
/// name without `zk_` (ZooKeeper's names), the timings as histograms, and each learner's lag
/// behind the leader in txns (`learner_lag{sid}`, on a leader).
pub fn exposition(values: &[(String, Value)], timings: &Timings, lags: &[(u64, u64)]) -> String {
    let mut registry = Registry::default();
    let timed = [&timings.read, &timings.update, &timings.election, &timings.quorum_ack].map(|t| t.name);
    let prefixes = ["avg_", "min_", "max_", "cnt_", "sum_", "p50_", "p95_", "p99_", "p999_"];
    for (key, value) in values {
        // mntr's summaries of the timings are the histograms here.
        let summary = |name: &str| prefixes.iter().any(|p| key.strip_prefix(p) == Some(name));
        if timed.iter().any(|n| summary(n)) || summary("fsynctime") {
            continue;
        }
        match value {
            Value::Number(n) if n.is_f64() => {
                let gauge = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
                gauge.set(n.as_f64().unwrap_or_default());
                registry.register(key.as_str(), key.as_str(), gauge);
            }
            Value::Number(n) => {
                let gauge = Gauge::<i64>::default();
                gauge.set(n.as_i64().unwrap_or(i64::MAX));
                registry.register(key.as_str(), key.as_str(), gauge);
            }
            _ => {}
        }
    }
    timings.read.register(&mut registry);
    timings.update.register(&mut registry);
    timings.election.register(&mut registry);
    timings.quorum_ack.register(&mut registry);
    if let Ok(fsync) = timings.fsync.lock() {
        fsync.register(&mut registry);
    }
    if !lags.is_empty() {
        let family = Family::<Vec<(String, String)>, Gauge>::default();
        for (sid, lag) in lags {
            family.get_or_create(&vec![("sid".to_string(), sid.to_string())]).set(*lag as i64);
        }
        registry.register("learner_lag", "txns a learner is behind the leader's last proposal", family);
    }
    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_print_zookeepers_keys_and_reset_apart_from_the_histogram() {
        let mut timings = Timings::default();
        let s = &mut timings.read;
        for ms in [1.0, 2.0, 3.0, 10.0] {
            s.record(ms);
        }
        let mut out = Vec::new();
        s.mntr(&mut out);
        let keys: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "avg_readlatency",
                "min_readlatency",
                "max_readlatency",
                "cnt_readlatency",
                "sum_readlatency",
                "p50_readlatency",
                "p95_readlatency",
                "p99_readlatency",
                "p999_readlatency"
            ]
        );
        assert_eq!(out[0].1, Value::from(4.0));
        assert_eq!((out[1].1.as_u64(), out[2].1.as_u64(), out[3].1.as_u64()), (Some(1), Some(10), Some(4)));
        assert_eq!(out[8].1.as_u64(), Some(10));
        s.reset();
        assert_eq!(s.count, 0);
        let text = exposition(&[], &timings, &[]);
        assert!(text.lines().any(|l| l == "readlatency_count 4"), "the histogram keeps counting: {text}");
    }

    #[test]
    fn the_exposition_names_gauges_as_zookeeper_and_timings_as_histograms() {
        let values = vec![
            ("znode_count".to_string(), Value::from(5)),
            ("avg_latency".to_string(), Value::from(0.5)),
            ("version".to_string(), Value::from("x")),
            ("avg_fsynctime".to_string(), Value::from(1.0)),
        ];
        let timings = Timings::default();
        timings.fsync.lock().unwrap().record(0.7);
        let text = exposition(&values, &timings, &[(2, 3)]);
        for line in [
            "# TYPE znode_count gauge",
            "znode_count 5",
            "avg_latency 0.5",
            "fsynctime_count 1",
            "learner_lag{sid=\"2\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
        }
        assert!(text.contains("fsynctime_bucket{le=\"1.0\"} 1"), "{text}");
        assert!(!text.contains("avg_fsynctime") && !text.contains("version"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
