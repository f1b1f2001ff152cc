//! The bench's result: latency percentiles from the merged histograms, and the one JSON line
//! a script reads.

use std::collections::BTreeMap;
use std::fmt::Write;

use hdrhistogram::Histogram;

/// Latencies above this (in ns) are recorded as this: a minute is already a stuck server.
const LATENCY_NS_MAX: u64 = 60_000_000_000;

/// A histogram for latencies in nanoseconds, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts: low >= 1, high >= 2 * low, sigfig <= 5.
    Histogram::new_with_bounds(1, LATENCY_NS_MAX, 3).expect("valid histogram bounds")
}

/// Latency percentiles, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

impl Latency {
    /// The summary of a histogram of nanoseconds; all zeros when it is empty.
    pub fn of(latency_ns: &Histogram<u64>) -> Latency {
        if latency_ns.is_empty() {
            return Latency::default();
        }
        let us = |ns: u64| ns as f64 / 1000.0;
        Latency {
            p50_us: us(latency_ns.value_at_quantile(0.5)),
            p90_us: us(latency_ns.value_at_quantile(0.9)),
            p99_us: us(latency_ns.value_at_quantile(0.99)),
            p999_us: us(latency_ns.value_at_quantile(0.999)),
            max_us: us(latency_ns.max()),
            mean_us: latency_ns.mean() / 1000.0,
        }
    }
}

/// Everything the JSON line says.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    pub op: &'static str,
    pub clients: usize,
    pub pipeline: usize,
    pub value_size: usize,
    /// Only for mixed.
    pub read_ratio: Option<f64>,
    /// The measured window.
    pub duration_s: f64,
    /// Replies in the window, errors included.
    pub ops: u64,
    pub latency: Latency,
    /// Non-zero reply codes over the whole run, by code.
    pub errors: BTreeMap<i32, u64>,
    pub servers: Vec<String>,
    /// Clients whose connection failed before the end.
    pub lost_clients: usize,
}

impl Report {
    pub fn throughput(&self) -> f64 {
        if self.duration_s > 0.0 { self.ops as f64 / self.duration_s } else { 0.0 }
    }

    /// One line of JSON, no trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(512);
        // Writing to a String cannot fail.
        let _ = write!(s, "{{\"op\":\"{}\",\"clients\":{},\"pipeline\":{}", self.op, self.clients, self.pipeline);
        let _ = write!(s, ",\"value_size\":{}", self.value_size);
        if let Some(ratio) = self.read_ratio {
            let _ = write!(s, ",\"read_ratio\":{}", number(ratio, 3));
        }
        let _ = write!(s, ",\"duration_s\":{},\"ops\":{}", number(self.duration_s, 3), self.ops);
        let _ = write!(s, ",\"throughput\":{}", number(self.throughput(), 1));
        let l = &self.latency;
        let _ = write!(
            s,
            ",\"latency_us\":{{\"p50\":{},\"p90\":{},\"p99\":{},\"p999\":{},\"max\":{},\"mean\":{}}}",
            number(l.p50_us, 1),
            number(l.p90_us, 1),
            number(l.p99_us, 1),
            number(l.p999_us, 1),
            number(l.max_us, 1),
            number(l.mean_us, 1)
        );
        let errors: Vec<String> = self.errors.iter().map(|(code, n)| format!("\"{code}\":{n}")).collect();
        let _ = write!(s, ",\"errors\":{{{}}}", errors.join(","));
        let servers: Vec<String> = self.servers.iter().map(|server| quoted(server)).collect();
        let _ = write!(s, ",\"servers\":[{}],\"lost_clients\":{}}}", servers.join(","), self.lost_clients);
        s
    }
}

/// A JSON number with `decimals` places; JSON has no NaN or infinity, so those are 0.
fn number(value: f64, decimals: usize) -> String {
    if value.is_finite() { format!("{value:.decimals$}") } else { "0".into() }
}

/// A JSON string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_uniform_spread() {
        let mut h = new_histogram();
        for us in 1..=1000u64 {
            h.record(us * 1000).unwrap();
        }
        let l = Latency::of(&h);
        // Three significant digits: each figure is within 0.1% of the exact one.
        let near = |got: f64, want: f64| (got - want).abs() <= want * 0.001 + 0.001;
        assert!(near(l.p50_us, 500.0), "{l:?}");
        assert!(near(l.p90_us, 900.0), "{l:?}");
        assert!(near(l.p99_us, 990.0), "{l:?}");
        assert!(near(l.p999_us, 999.0), "{l:?}");
        assert!(near(l.max_us, 1000.0), "{l:?}");
        assert!(near(l.mean_us, 500.5), "{l:?}");
    }

    #[test]
    fn one_slow_reply_shows_only_in_the_tail() {
        let mut h = new_histogram();
        for _ in 0..9_999 {
            h.record(50_000).unwrap();
        }
        h.record(20_000_000).unwrap();
        let l = Latency::of(&h);
        assert!((l.p50_us - 50.0).abs() < 0.1 && (l.p999_us - 50.0).abs() < 0.1, "{l:?}");
        assert!((l.max_us - 20_000.0).abs() <= 20.0, "{l:?}");
    }

    #[test]
    fn merged_histograms_and_saturation() {
        let mut a = new_histogram();
        let mut b = new_histogram();
        a.record(1_000).unwrap();
        b.saturating_record(u64::MAX);
        a.add(&b).unwrap();
        assert_eq!(a.len(), 2);
        let l = Latency::of(&a);
        assert!((l.max_us - LATENCY_NS_MAX as f64 / 1000.0).abs() <= l.max_us * 0.001, "{l:?}");
        assert_eq!(Latency::of(&new_histogram()), Latency::default(), "empty: zeros");
    }

    fn report() -> Report {
        Report {
            op: "mixed",
            clients: 8,
            pipeline: 4,
            value_size: 1024,
            read_ratio: Some(0.9),
            duration_s: 2.0,
            ops: 1001,
            latency: Latency { p50_us: 12.34, p90_us: 20.0, p99_us: 30.0, p999_us: 40.0, max_us: 50.0, mean_us: 13.0 },
            errors: BTreeMap::from([(-110, 3), (-101, 1)]),
            servers: vec!["127.0.0.1:2181".into(), "odd\"name\\".into()],
            lost_clients: 0,
        }
    }

    #[test]
    fn the_json_line_has_every_field() {
        assert_eq!(
            report().to_json(),
            "{\"op\":\"mixed\",\"clients\":8,\"pipeline\":4,\"value_size\":1024,\"read_ratio\":0.900,\
             \"duration_s\":2.000,\"ops\":1001,\"throughput\":500.5,\
             \"latency_us\":{\"p50\":12.3,\"p90\":20.0,\"p99\":30.0,\"p999\":40.0,\"max\":50.0,\"mean\":13.0},\
             \"errors\":{\"-110\":3,\"-101\":1},\"servers\":[\"127.0.0.1:2181\",\"odd\\\"name\\\\\"],\"lost_clients\":0}"
        );
    }

    #[test]
    fn the_json_line_parses_and_survives_odd_values() {
        let mut r = report();
        r.duration_s = 0.0;
        r.read_ratio = None;
        r.errors.clear();
        r.latency.mean_us = f64::NAN;
        r.servers.push("tab\there".into());
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["throughput"], 0.0, "no window, no throughput");
        assert_eq!(json["latency_us"]["mean"], 0);
        assert_eq!(json["errors"], serde_json::json!({}));
        assert_eq!(json["servers"][2], "tab\there");
        assert!(json.get("read_ratio").is_none());
    }
}
