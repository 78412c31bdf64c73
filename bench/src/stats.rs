//! Summaries of repeated measurements: median and spread.

use serde::{Deserialize, Serialize};

/// One timed figure over its repetitions (seconds unless the field says otherwise).
/// Warm-up runs are never in `samples`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// First and third quartiles (linear interpolation between order statistics).
    pub p25: f64,
    pub p75: f64,
    /// Every measured repetition, in run order.
    pub samples: Vec<f64>,
}

impl Stat {
    /// Summary of `samples` (must not be empty).
    pub fn from_samples(samples: Vec<f64>) -> Stat {
        assert!(!samples.is_empty(), "a figure needs at least one sample");
        let mut s = samples.clone();
        s.sort_by(|a, b| a.total_cmp(b));
        Stat {
            median: quantile(&s, 0.5),
            min: s[0],
            max: s[s.len() - 1],
            p25: quantile(&s, 0.25),
            p75: quantile(&s, 0.75),
            samples,
        }
    }

    /// Spread as a fraction of the median: (max − min) / median.
    pub fn relative_spread(&self) -> f64 {
        if self.median > 0.0 {
            (self.max - self.min) / self.median
        } else {
            0.0
        }
    }
}

/// Quantile of sorted data, linear interpolation (type 7, as numpy's default).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = h.ceil() as usize;
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Least-squares slope of log(y) against log(x): the empirical exponent of y ∝ x^slope.
pub fn loglog_slope(points: &[(f64, f64)]) -> Option<f64> {
    let pts: Vec<(f64, f64)> =
        points.iter().filter(|(x, y)| *x > 0.0 && *y > 0.0).map(|(x, y)| (x.ln(), y.ln())).collect();
    if pts.len() < 2 {
        return None;
    }
    let n = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_quartiles() {
        let s = Stat::from_samples(vec![4.0, 1.0, 3.0, 2.0]);
        assert_eq!(s.median, 2.5);
        assert_eq!((s.min, s.max), (1.0, 4.0));
        assert_eq!((s.p25, s.p75), (1.75, 3.25));
        assert_eq!(s.samples, vec![4.0, 1.0, 3.0, 2.0]);
        let one = Stat::from_samples(vec![7.0]);
        assert_eq!((one.median, one.p25, one.p75), (7.0, 7.0, 7.0));
    }

    #[test]
    fn slope_of_a_power_law() {
        let pts: Vec<(f64, f64)> = [8.0, 16.0, 32.0, 64.0].iter().map(|&n: &f64| (n, 3.0 * n * n)).collect();
        assert!((loglog_slope(&pts).unwrap() - 2.0).abs() < 1e-9);
        assert_eq!(loglog_slope(&pts[..1]), None);
    }
}
