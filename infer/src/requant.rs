//! Requantization: how a layer turns its int32 accumulator into int8.
//!
//! onnxruntime's CPU kernels (QGemm, QLinearMatMul; MLAS's requantize output
//! processor) compute, in IEEE float32 with round-to-nearest-even:
//!
//! ```text
//! v = f32(acc) × scale                       (one rounded product)
//! v = min(max(v, lo − zp), hi − zp)          (clamp, in float)
//! y = round_half_even(v) + zp
//! ```
//!
//! with `scale = (α·s_x·s_w) / s_y` computed in float32 from the tensors'
//! scales. Its fixed-point (gemmlowp) path exists only as an ARM64 option, so the
//! float path is the reference we are bit-identical to.
//!
//! Every step is monotone non-decreasing in `acc` (int→float conversion,
//! multiplication by a positive constant, clamping and rounding), so the whole
//! map is a non-decreasing step function from int32 to `[lo, hi]`. It is
//! therefore fixed by at most 255 *thresholds* `T(v) = min{acc : y(acc) ≥ v}`,
//! and `y(acc) = v ⇔ T(v) ≤ acc < T(v+1)`. That is what a circuit proves
//! ([`Requant::thresholds`]): no float arithmetic, and no rounding mode, in the
//! relation — only two comparisons against a public per-layer table. The
//! table also absorbs ReLU, which is a higher floor `lo`.

use serde::{Deserialize, Serialize};

use crate::Error;

/// One layer's requantization: int32 accumulator → int8 in `[lo, hi]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Requant {
    /// The float32 multiplier `(α·s_x·s_w) / s_y` (finite, positive, normal).
    pub scale: f32,
    /// The output's zero point.
    pub zero_point: i8,
    /// Smallest output: −128, or higher after a ReLU.
    pub lo: i8,
    /// Largest output (127).
    pub hi: i8,
}

/// The smallest accumulator value: every threshold lies in `(ACC_MIN, ACC_MAX]`
/// or is [`Thresholds::NEVER`].
pub const ACC_MIN: i64 = i32::MIN as i64;
pub const ACC_MAX: i64 = i32::MAX as i64;

impl Requant {
    pub fn new(scale: f32, zero_point: i8, lo: i8, hi: i8) -> Result<Self, Error> {
        if !(scale.is_normal() && scale > 0.0) {
            return Err(Error::Model(format!("requantization scale {scale:e} is not a positive normal float32")));
        }
        if lo > hi {
            return Err(Error::Model(format!("requantization range [{lo}, {hi}] is empty")));
        }
        Ok(Requant { scale, zero_point, lo, hi })
    }

    /// The output for accumulator `acc`, exactly as onnxruntime computes it.
    pub fn apply(&self, acc: i32) -> i8 {
        let zp = self.zero_point as i32;
        // onnxruntime clamps in float, against bounds shifted by the zero point.
        let min = (self.lo as i32 - zp) as f32;
        let max = (self.hi as i32 - zp) as f32;
        let v = (acc as f32 * self.scale).max(min).min(max);
        (v.round_ties_even() as i32 + zp) as i8
    }

    /// The thresholds of [`Requant::apply`] (see the module doc).
    pub fn thresholds(&self) -> Thresholds {
        let mut t = Vec::with_capacity((self.hi as i32 - self.lo as i32) as usize);
        for v in (self.lo as i32 + 1)..=(self.hi as i32) {
            t.push(self.first_reaching(v as i8));
        }
        Thresholds { lo: self.lo, t }
    }

    /// min{acc : apply(acc) ≥ v}, or [`Thresholds::NEVER`] if no int32 reaches v.
    fn first_reaching(&self, v: i8) -> i64 {
        if self.apply(i32::MAX) < v {
            return Thresholds::NEVER;
        }
        if self.apply(i32::MIN) >= v {
            return ACC_MIN;
        }
        // apply(lo) < v ≤ apply(hi); monotone, so bisect.
        let (mut lo, mut hi) = (ACC_MIN, ACC_MAX);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.apply(mid as i32) >= v {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi
    }
}

/// A requantization as a step function: `y(acc) = lo + #{i : t[i] ≤ acc}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    pub lo: i8,
    /// `t[i] = T(lo + 1 + i)`, non-decreasing; [`Thresholds::NEVER`] where no
    /// int32 accumulator reaches the value.
    pub t: Vec<i64>,
}

impl Thresholds {
    /// Above every int32: the value is never produced.
    pub const NEVER: i64 = ACC_MAX + 1;

    /// The output for `acc` read off the table (equal to [`Requant::apply`]).
    pub fn eval(&self, acc: i32) -> i8 {
        let n = self.t.partition_point(|&t| t <= acc as i64);
        (self.lo as i32 + n as i32) as i8
    }

    /// The interval `[T(v), T(v+1))` of accumulators that give `v`, with
    /// `T(lo) = ACC_MIN` and `T(hi+1) = NEVER`: what a proof checks `acc` against.
    pub fn interval(&self, v: i8) -> Option<(i64, i64)> {
        let i = (v as i32 - self.lo as i32) as usize;
        if v < self.lo || i > self.t.len() {
            return None;
        }
        let start = if i == 0 { ACC_MIN } else { self.t[i - 1] };
        let end = self.t.get(i).copied().unwrap_or(Self::NEVER);
        (start < end).then_some((start, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn requant() -> impl Strategy<Value = Requant> {
        (1e-6f32..1.0, any::<i8>(), any::<bool>()).prop_map(|(s, zp, relu)| {
            let lo = if relu { zp } else { -128 };
            Requant::new(s, zp, lo, 127).unwrap()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The table gives the same output as the float computation for every
        /// accumulator: random ones, and the ones on both sides of every threshold.
        #[test]
        fn thresholds_reproduce_apply(rq in requant(), accs in proptest::collection::vec(any::<i32>(), 64)) {
            let th = rq.thresholds();
            for a in accs {
                prop_assert_eq!(th.eval(a), rq.apply(a));
            }
            for &t in &th.t {
                for a in [t - 1, t, t + 1] {
                    if (ACC_MIN..=ACC_MAX).contains(&a) {
                        prop_assert_eq!(th.eval(a as i32), rq.apply(a as i32), "acc {}", a);
                    }
                }
            }
            for v in rq.lo..=rq.hi {
                if let Some((s, e)) = th.interval(v) {
                    prop_assert_eq!(rq.apply(s as i32), v);
                    prop_assert_eq!(rq.apply((e - 1) as i32), v);
                }
            }
        }
    }

    /// Float32 rounding is reproduced, not real-number rounding: −2021 × s is
    /// −167.4999937 in real numbers (→ −167) but rounds to −167.5 in float32,
    /// which then rounds to even (→ −168); plus the zero point 100: −68, as
    /// onnxruntime outputs.
    #[test]
    fn double_rounding_is_float32s() {
        let s = f32::from_bits(1034534109);
        let rq = Requant::new(s, 100, -128, 127).unwrap();
        assert_eq!(-2021f32 * s, -167.5);
        assert_eq!(rq.apply(-2021), -68);
        assert_eq!(rq.thresholds().interval(-68).map(|(a, b)| a <= -2021 && -2021 < b), Some(true));
        // Exact halves round to even: 0.5 → 0, 1.5 → 2, 2.5 → 2.
        let half = Requant::new(0.5, 0, -128, 127).unwrap();
        assert_eq!((half.apply(1), half.apply(3), half.apply(5), half.apply(-1), half.apply(-3)), (0, 2, 2, 0, -2));
        let th = half.thresholds();
        assert_eq!(th.interval(2), Some((3, 6)));
        assert_eq!(th.interval(0), Some((-1, 2)));
    }

    #[test]
    fn clamps_and_relu() {
        let rq = Requant::new(1.0, 10, 10, 127).unwrap();
        assert_eq!(rq.apply(-1000), 10);
        assert_eq!(rq.apply(1000), 127);
        assert_eq!(rq.apply(5), 15);
        assert_eq!(rq.thresholds().interval(10), Some((ACC_MIN, 1)));
        assert_eq!(rq.thresholds().interval(127), Some((117, Thresholds::NEVER)));
        assert_eq!(rq.thresholds().interval(9), None);
        assert!(Requant::new(0.0, 0, -128, 127).is_err());
        assert!(Requant::new(f32::NAN, 0, -128, 127).is_err());
        assert!(Requant::new(1.0, 0, 5, 4).is_err());
    }
}
