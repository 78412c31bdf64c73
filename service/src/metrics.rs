//! Prometheus text-format metrics, kept by hand (a few counters and histograms).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Upper bounds (seconds) of the latency histogram buckets.
pub const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0];

#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, secs: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((secs * 1e6) as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {}", self.counts[i].load(Ordering::Relaxed));
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

#[derive(Default)]
pub struct Metrics {
    pub verifications_valid: AtomicU64,
    pub verifications_invalid: AtomicU64,
    pub jobs_registered: AtomicU64,
    pub releases: AtomicU64,
    pub refunds: AtomicU64,
    pub verify_in_flight: AtomicU64,
    /// Expired jobs refunded by the scheduled sweep.
    pub scheduled_refunds: AtomicU64,
    /// Connections open now.
    pub connections_open: AtomicU64,
    /// Connections closed at once because their address had too many open.
    pub connections_refused: AtomicU64,
    /// Failed `accept` calls (e.g. out of file descriptors).
    pub accept_errors: AtomicU64,
    /// Bytes of uploads stored (inputs and results) and of downloads served.
    pub uploaded_bytes: AtomicU64,
    pub downloaded_bytes: AtomicU64,
    /// Leases granted.
    pub claims: AtomicU64,
    rejections: Mutex<BTreeMap<&'static str, u64>>,
    /// Time of the Groth16 check alone (on the blocking pool).
    pub verify_seconds: Histogram,
    /// Whole proof submission, from request to answer.
    pub submit_seconds: Histogram,
}

impl Metrics {
    pub fn reject(&self, code: &'static str) {
        let mut m = self.rejections.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(code).or_default() += 1;
    }

    pub fn rejections(&self, code: &str) -> u64 {
        let m = self.rejections.lock().unwrap_or_else(|p| p.into_inner());
        m.get(code).copied().unwrap_or(0)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP veriflop_verifications_total Groth16 verifications run, by result.\n# TYPE veriflop_verifications_total counter\n\
             veriflop_verifications_total{{result=\"valid\"}} {}\nveriflop_verifications_total{{result=\"invalid\"}} {}",
            c(&self.verifications_valid),
            c(&self.verifications_invalid)
        );
        let _ = writeln!(out, "# HELP veriflop_rejections_total Rejected requests, by error code.\n# TYPE veriflop_rejections_total counter");
        for (code, n) in self.rejections.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(out, "veriflop_rejections_total{{reason=\"{code}\"}} {n}");
        }
        for (name, help, v) in [
            ("veriflop_jobs_registered_total", "Jobs registered (escrow locked).", &self.jobs_registered),
            ("veriflop_releases_total", "Escrows released by this instance.", &self.releases),
            ("veriflop_refunds_total", "Escrows refunded by this instance.", &self.refunds),
            (
                "veriflop_scheduled_refunds_total",
                "Expired jobs refunded by the scheduled sweep.",
                &self.scheduled_refunds,
            ),
            (
                "veriflop_connections_refused_total",
                "Connections refused because their address had too many open.",
                &self.connections_refused,
            ),
            ("veriflop_accept_errors_total", "Failed accepts (e.g. out of file descriptors).", &self.accept_errors),
            ("veriflop_uploaded_bytes_total", "Bytes of matrices stored (inputs and results).", &self.uploaded_bytes),
            ("veriflop_downloaded_bytes_total", "Bytes of matrices served.", &self.downloaded_bytes),
            ("veriflop_claims_total", "Leases granted to providers.", &self.claims),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", c(v));
        }
        let _ = writeln!(
            out,
            "# HELP veriflop_verify_in_flight Verifications running or queued.\n# TYPE veriflop_verify_in_flight gauge\nveriflop_verify_in_flight {}",
            c(&self.verify_in_flight)
        );
        let _ = writeln!(
            out,
            "# HELP veriflop_connections_open HTTP connections open.\n# TYPE veriflop_connections_open gauge\nveriflop_connections_open {}",
            c(&self.connections_open)
        );
        self.verify_seconds.render(&mut out, "veriflop_verify_seconds", "Groth16 verification time.");
        self.submit_seconds.render(&mut out, "veriflop_submit_seconds", "Proof submission latency, request to answer.");
        out
    }
}
