//! Multi-scalar multiplication over BN254 G1: Σ v_i·P_i for small signed
//! integers v_i (matrix entries: the commitments and the committed prover) and
//! for full field elements (the prover's other G1 MSMs).
//!
//! Pippenger's buckets over w-bit windows, with a twist that suits a CPU with
//! few cores: each window sorts the points by digit, then sums every bucket by
//! pairwise additions in affine coordinates, a whole level of pairs sharing one
//! field inversion (Montgomery's trick). That is about 6 field multiplications
//! per addition, against 11 for the mixed Jacobian additions of a classic
//! bucket loop and ~6 plus an inversion per 64 for schedulers that batch only a
//! few buckets at a time. Buckets are combined by running sums; with many small
//! groups (one MSM per matrix column) those run in lockstep across the groups,
//! so that they share inversions too.

use std::ops::Range;

use ark_bn254::{Fq, Fr, G1Affine, G1Projective};
use ark_ec::AdditiveGroup;
use ark_ff::{Field, One, PrimeField, Zero};
use rayon::prelude::*;

/// Σ v_i·P_i (|v_i| < 2^127), in parallel over chunks of the input.
pub fn small_msm(bases: &[G1Affine], values: &[i128]) -> G1Projective {
    assert_eq!(bases.len(), values.len(), "one base per value");
    let chunk = (values.len() / (4 * rayon::current_num_threads()).max(1)).max(1 << 12);
    let ranges: Vec<Range<usize>> =
        (0..values.len()).step_by(chunk).map(|s| s..(s + chunk).min(values.len())).collect();
    ranges.par_iter().map(|r| small_sums(bases, values, std::slice::from_ref(r))[0]).sum()
}

/// [`small_msm`] of each run of `group` consecutive bases and values, in
/// parallel over batches of groups.
pub fn small_msm_groups(bases: &[G1Affine], values: &[i128], group: usize) -> Vec<G1Projective> {
    assert_eq!(bases.len(), values.len(), "one base per value");
    assert!(group > 0 && values.len() % group == 0, "whole groups");
    let groups = values.len() / group;
    let per_task = (groups / (4 * rayon::current_num_threads())).clamp(1, (1 << 16) / group + 1);
    let ranges: Vec<Range<usize>> = (0..groups).map(|g| g * group..(g + 1) * group).collect();
    ranges.par_chunks(per_task).flat_map_iter(|ranges| small_sums(bases, values, ranges)).collect()
}

/// Σ s_i·P_i for field elements s_i, in parallel over the windows. Digits are
/// signed (Booth recoding), so a w-bit window needs 2^(w−1) buckets.
pub fn msm(bases: &[G1Affine], scalars: &[Fr]) -> G1Projective {
    assert_eq!(bases.len(), scalars.len(), "one base per scalar");
    let scalars: Vec<_> = scalars.par_iter().map(|s| s.into_bigint()).collect();
    // Scalars are below r < 2^254, so the top window's carry bit is zero.
    let bits = Fr::MODULUS_BIT_SIZE as usize + 1;
    // Windows run in parallel, so count rounds of them, not windows: on 2
    // threads 16 windows of 16 bits beat 15 of 17 bits.
    let threads = rayon::current_num_threads();
    let w = (4..=20)
        .min_by_key(|w| bits.div_ceil(*w).div_ceil(threads) * (scalars.len() + (2 << w)))
        .expect("nonempty range");
    let all = [0..scalars.len()];
    let windows: Vec<G1Projective> = (0..bits.div_ceil(w))
        .into_par_iter()
        .map(|win| {
            // Bits wc−1 … wc+w−1 as (carry in, w bits): digit = bits + carry − 2^w·top.
            let digit = |i: usize| {
                let chunk = bits_at(&scalars[i].0, (win * w) as isize - 1, w + 1) as i64;
                ((chunk >> 1) + (chunk & 1)) - ((chunk >> w) << w)
            };
            Sorted::default().window_sums(bases, &all, 1 << (w - 1), digit)[0]
        })
        .collect();
    windows.iter().rev().fold(G1Projective::zero(), |mut acc, s| {
        for _ in 0..w {
            acc.double_in_place();
        }
        acc + s
    })
}

/// `len` ≤ 63 bits of a little-endian integer from bit `from` (bits below 0
/// and above the top read as zero).
fn bits_at(limbs: &[u64; 4], from: isize, len: usize) -> u64 {
    if from < 0 {
        return bits_at(limbs, 0, len - 1) << 1;
    }
    let (limb, offset) = (from as usize / 64, from as usize % 64);
    let low = limbs.get(limb).map_or(0, |l| l >> offset);
    let high = match (offset, limbs.get(limb + 1)) {
        (1.., Some(l)) => l << (64 - offset),
        _ => 0,
    };
    (low | high) & ((1 << len) - 1)
}

/// Bits of the largest |v|.
fn bits(values: &[i128]) -> usize {
    values.iter().map(|v| 128 - v.unsigned_abs().leading_zeros()).max().unwrap_or(0) as usize
}

/// Σ v_i·P_i over each range, the ranges processed together, by windows of |v|.
fn small_sums(bases: &[G1Affine], values: &[i128], ranges: &[Range<usize>]) -> Vec<G1Projective> {
    let bits = ranges.iter().map(|r| bits(&values[r.clone()])).max().unwrap_or(0);
    let longest = ranges.iter().map(|r| r.len()).max().unwrap_or(0);
    // Per window: one affine addition per value, two projective ones (≈ four
    // affine) per bucket.
    let w = (4..=16).min_by_key(|w| bits.div_ceil(*w) * (longest + (4 << w))).expect("nonempty range");
    let mask = (1u128 << w) - 1;
    let mut acc = vec![G1Projective::zero(); ranges.len()];
    let mut sorted = Sorted::default();
    for win in (0..bits.div_ceil(w)).rev() {
        let digit = |i: usize| {
            let d = ((values[i].unsigned_abs() >> (w * win)) & mask) as i64;
            if values[i] < 0 {
                -d
            } else {
                d
            }
        };
        let totals = sorted.window_sums(bases, ranges, (1 << w) - 1, digit);
        for (acc, total) in acc.iter_mut().zip(totals) {
            for _ in 0..w {
                acc.double_in_place();
            }
            *acc += total;
        }
    }
    acc
}

/// A window's points sorted into buckets, one per (range, |digit|), and the
/// buffers that sum them; reused across windows.
#[derive(Default)]
struct Sorted {
    /// The window's digit of each base, range after range.
    digits: Vec<i64>,
    /// Base indices, the sign in the top bit, by bucket.
    order: Vec<u32>,
    /// Bucket s holds order[bounds[s]..bounds[s + 1]].
    bounds: Vec<usize>,
    /// Each bucket's sum (the identity when empty).
    sums: Vec<G1Affine>,
    // A batch of buckets being summed: points, segments, and the next level.
    points: Vec<G1Affine>,
    segments: Vec<usize>,
    next: Vec<G1Affine>,
    next_segments: Vec<usize>,
    inverses: Vec<Fq>,
    scratch: Vec<Fq>,
}

const NEGATIVE: u32 = 1 << 31;

/// Points gathered and summed together: enough to share each inversion widely,
/// few enough (≈ 4 MiB) to stay in cache while the levels run.
const BATCH: usize = 1 << 16;

impl Sorted {
    /// For each range, Σ_d d·(Σ of the points with digit ±d, negated for −d),
    /// for digits |d| ≤ `buckets`.
    fn window_sums(
        &mut self,
        bases: &[G1Affine],
        ranges: &[Range<usize>],
        buckets: usize,
        digit: impl Fn(usize) -> i64,
    ) -> Vec<G1Projective> {
        assert!(bases.len() < NEGATIVE as usize, "fewer than 2^31 bases");
        self.sort(bases, ranges, buckets, &digit);
        self.sums.clear();
        self.sums.resize(ranges.len() * buckets, G1Affine::identity());
        let mut first = 0;
        while first < self.sums.len() {
            let mut last = first + 1;
            while last < self.sums.len() && self.bounds[last + 1] - self.bounds[first] <= BATCH {
                last += 1;
            }
            self.sum_buckets(bases, first..last);
            first = last;
        }
        self.combine(ranges.len(), buckets)
    }

    /// Counting sort of the nonzero digits; identity bases add nothing.
    fn sort(&mut self, bases: &[G1Affine], ranges: &[Range<usize>], buckets: usize, digit: &impl Fn(usize) -> i64) {
        self.digits.clear();
        self.digits.extend(ranges.iter().flat_map(|r| r.clone()).map(|i| if bases[i].infinity { 0 } else { digit(i) }));
        self.bounds.clear();
        self.bounds.resize(ranges.len() * buckets + 1, 0);
        let mut digits = self.digits.iter();
        for (g, r) in ranges.iter().enumerate() {
            for &d in digits.by_ref().take(r.len()) {
                if d != 0 {
                    self.bounds[g * buckets + d.unsigned_abs() as usize] += 1;
                }
            }
        }
        for s in 1..self.bounds.len() {
            self.bounds[s] += self.bounds[s - 1];
        }
        let mut cursor = self.bounds.clone();
        self.order.clear();
        self.order.resize(self.bounds[self.bounds.len() - 1], 0);
        let mut digits = self.digits.iter();
        for (g, r) in ranges.iter().enumerate() {
            for (i, &d) in r.clone().zip(digits.by_ref()) {
                if d != 0 {
                    let slot = &mut cursor[g * buckets + d.unsigned_abs() as usize - 1];
                    self.order[*slot] = i as u32 | if d < 0 { NEGATIVE } else { 0 };
                    *slot += 1;
                }
            }
        }
    }

    /// Sums the buckets `which`: gathers their points, then halves every
    /// bucket per level until one point (or none) is left in each.
    fn sum_buckets(&mut self, bases: &[G1Affine], which: Range<usize>) {
        self.points.clear();
        self.points.extend(self.order[self.bounds[which.start]..self.bounds[which.end]].iter().map(|&i| {
            let p = bases[(i & !NEGATIVE) as usize];
            if i & NEGATIVE != 0 {
                -p
            } else {
                p
            }
        }));
        self.segments.clear();
        self.segments.extend(self.bounds[which.clone()].iter().map(|b| b - self.bounds[which.start]));
        self.segments.push(self.points.len());
        while self.segments.windows(2).any(|s| s[1] - s[0] > 1) {
            self.halve();
        }
        for (sum, s) in self.sums[which].iter_mut().zip(self.segments.windows(2)) {
            if s[0] < s[1] {
                *sum = self.points[s[0]];
            }
        }
    }

    /// One level: the points of every segment added in pairs, which halves
    /// each segment.
    fn halve(&mut self) {
        self.inverses.clear();
        for s in self.segments.windows(2) {
            for i in (s[0]..s[1].saturating_sub(1)).step_by(2) {
                self.inverses.push(denominator(&self.points[i], &self.points[i + 1]));
            }
        }
        invert_all(&mut self.inverses, &mut self.scratch);
        self.next.clear();
        self.next_segments.clear();
        self.next_segments.push(0);
        let mut inverses = self.inverses.iter();
        for s in self.segments.windows(2) {
            let mut i = s[0];
            while i + 1 < s[1] {
                let inv = inverses.next().expect("one inverse per pair");
                if let Some(sum) = finish(&self.points[i], &self.points[i + 1], inv) {
                    self.next.push(sum);
                }
                i += 2;
            }
            if i < s[1] {
                self.next.push(self.points[i]);
            }
            self.next_segments.push(self.next.len());
        }
        std::mem::swap(&mut self.points, &mut self.next);
        std::mem::swap(&mut self.segments, &mut self.next_segments);
    }

    /// Per range, Σ d·S_d over its bucket sums S_d, by running sums.
    fn combine(&mut self, ranges: usize, buckets: usize) -> Vec<G1Projective> {
        let bucket = |g: usize, d: usize| {
            let p = self.sums[g * buckets + d - 1];
            (!p.infinity).then_some(p)
        };
        if ranges < 16 {
            return (0..ranges)
                .map(|g| {
                    let (mut running, mut total) = (G1Projective::zero(), G1Projective::zero());
                    for d in (1..=buckets).rev() {
                        if let Some(p) = bucket(g, d) {
                            running += p;
                        }
                        total += running;
                    }
                    total
                })
                .collect();
        }
        // Many ranges: the same running sums, one affine addition per range and
        // step sharing one inversion.
        let mut running = vec![G1Affine::identity(); ranges];
        let mut total = vec![G1Affine::identity(); ranges];
        let top = (0..ranges).flat_map(|g| (1..=buckets).rev().find(|&d| bucket(g, d).is_some())).max().unwrap_or(0);
        let (mut inverses, mut scratch) = (Vec::new(), Vec::new());
        for d in (1..=top).rev() {
            let step: Vec<G1Affine> = (0..ranges).map(|g| bucket(g, d).unwrap_or(G1Affine::identity())).collect();
            add_in_place(&mut running, &step, &mut inverses, &mut scratch);
            add_in_place(&mut total, &running, &mut inverses, &mut scratch);
        }
        total.into_iter().map(G1Projective::from).collect()
    }
}

/// Inverts every nonzero element with one field inversion and three
/// multiplications each (Montgomery's trick; arkworks' `batch_inversion` costs
/// one more and splits the slice over threads, which here are already busy).
fn invert_all(v: &mut [Fq], before: &mut Vec<Fq>) {
    before.clear();
    let mut acc = Fq::one();
    for x in v.iter() {
        before.push(acc);
        if !x.is_zero() {
            acc *= x;
        }
    }
    let mut inv = acc.inverse().expect("a product of nonzero elements");
    for (x, before) in v.iter_mut().zip(before.iter()).rev() {
        if !x.is_zero() {
            let rest = inv * *x;
            *x = inv * before;
            inv = rest;
        }
    }
}

/// The slope's denominator for p + q (p, q not the identity): x_q − x_p, or
/// 2·y_p to double; zero when q = −p.
fn denominator(p: &G1Affine, q: &G1Affine) -> Fq {
    if p.x != q.x {
        q.x - p.x
    } else if p.y == q.y {
        p.y.double()
    } else {
        Fq::zero()
    }
}

/// p + q from the inverse of [`denominator`]; `None` for the identity.
fn finish(p: &G1Affine, q: &G1Affine, inverse: &Fq) -> Option<G1Affine> {
    let lambda = if p.x != q.x {
        (q.y - p.y) * inverse
    } else if p.y == q.y {
        let x2 = p.x.square();
        (x2.double() + x2) * inverse
    } else {
        return None;
    };
    let x = lambda.square() - p.x - q.x;
    let y = lambda * (p.x - x) - p.y;
    Some(G1Affine::new_unchecked(x, y))
}

/// acc_i += add_i for every i, sharing one inversion.
fn add_in_place(acc: &mut [G1Affine], add: &[G1Affine], inverses: &mut Vec<Fq>, scratch: &mut Vec<Fq>) {
    inverses.clear();
    inverses.extend(acc.iter().zip(add).map(
        |(p, q)| {
            if p.infinity || q.infinity {
                Fq::zero()
            } else {
                denominator(p, q)
            }
        },
    ));
    invert_all(inverses, scratch);
    for ((p, q), inv) in acc.iter_mut().zip(add).zip(inverses.iter()) {
        if q.infinity {
            continue;
        }
        *p = if p.infinity { *q } else { finish(p, q, inv).unwrap_or(G1Affine::identity()) };
    }
}

#[cfg(test)]
mod tests {
    use ark_bn254::{Fr, G1Projective};
    use ark_ec::{CurveGroup, VariableBaseMSM};
    use ark_ff::{Field, UniformRand};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::circuit::fr_from_i128;

    fn reference(bases: &[G1Affine], values: &[i128]) -> G1Projective {
        let scalars: Vec<Fr> = values.iter().map(|&v| fr_from_i128(v)).collect();
        G1Projective::msm(bases, &scalars).unwrap()
    }

    fn random_bases(rng: &mut ChaCha20Rng, n: usize) -> Vec<G1Affine> {
        G1Projective::normalize_batch(&(0..n).map(|_| G1Projective::rand(rng)).collect::<Vec<_>>())
    }

    #[test]
    fn matches_generic_msm_for_every_size_and_width() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        for n in [0usize, 1, 2, 3, 17, 1000, 5000] {
            let bases = random_bases(&mut rng, n);
            for bits in [1u32, 8, 24, 64, 126] {
                let lim = 1i128 << (bits - 1);
                let values: Vec<i128> = (0..n)
                    .map(|i| match i % 5 {
                        0 => 0,
                        1 => -lim,
                        2 => lim - 1,
                        _ => rng.gen_range(-lim..lim),
                    })
                    .collect();
                assert_eq!(small_msm(&bases, &values), reference(&bases, &values), "n={n} bits={bits}");
            }
        }
    }

    #[test]
    fn groups_match_per_group_msms() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        for (groups, group) in [(1usize, 1usize), (3, 5), (40, 64), (70, 300)] {
            let bases = random_bases(&mut rng, groups * group);
            let values: Vec<i128> = (0..groups * group).map(|_| rng.gen_range(-128..128)).collect();
            let got = small_msm_groups(&bases, &values, group);
            let want: Vec<G1Projective> =
                bases.chunks(group).zip(values.chunks(group)).map(|(b, v)| reference(b, v)).collect();
            assert_eq!(got, want, "{groups} groups of {group}");
        }
    }

    #[test]
    fn full_scalars_match_generic_msm() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        for n in [0usize, 1, 2, 3, 100, 5000, 40_000] {
            let bases = random_bases(&mut rng, n);
            let mut scalars: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
            // Edge scalars: 0, 1, −1 (all bits up to 253 set), 2^253, 2^64 − 1.
            let edges = [Fr::zero(), Fr::one(), -Fr::one(), Fr::from(2u8).pow([253]), Fr::from(u64::MAX)];
            for (s, e) in scalars.iter_mut().zip(edges) {
                *s = e;
            }
            assert_eq!(msm(&bases, &scalars), G1Projective::msm(&bases, &scalars).unwrap(), "n={n}");
        }
        // Repeated, opposite and identity bases.
        let p = random_bases(&mut rng, 2);
        let bases = vec![p[0], p[0], -p[0], G1Affine::identity(), p[1], p[1]];
        let s = Fr::rand(&mut rng);
        for scalars in [vec![s; 6], vec![s, -s, s, s, Fr::one(), -Fr::one()], vec![Fr::zero(); 6]] {
            assert_eq!(msm(&bases, &scalars), G1Projective::msm(&bases, &scalars).unwrap());
        }
    }

    /// Equal points (doubling), opposite points (cancellation), the identity
    /// and zero values, all inside one bucket and across groups.
    #[test]
    fn handles_repeated_opposite_and_identity_bases() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let p = random_bases(&mut rng, 4);
        let bases = vec![p[0], p[0], p[0], -p[0], p[1], G1Affine::identity(), p[1], -p[1], p[2], p[3], p[3], p[2]];
        for values in [
            vec![5i128, 5, 5, 5, 3, 9, -3, 3, 0, 7, 7, -7],
            vec![1; 12],
            vec![-1; 12],
            vec![0; 12],
            vec![127, -128, 127, 127, 1, 1, 2, -2, 4, 4, 4, 4],
        ] {
            assert_eq!(small_msm(&bases, &values), reference(&bases, &values), "{values:?}");
            for group in [1, 2, 3, 4, 6, 12] {
                let big: Vec<G1Affine> = bases.iter().cycle().take(12 * 20).copied().collect();
                let vals: Vec<i128> = values.iter().cycle().take(12 * 20).copied().collect();
                let want: Vec<G1Projective> =
                    big.chunks(group).zip(vals.chunks(group)).map(|(b, v)| reference(b, v)).collect();
                assert_eq!(small_msm_groups(&big, &vals, group), want, "group {group}: {values:?}");
            }
        }
    }
}
