//! Criterion micro-benchmarks of the MSM and NTT backends, through the
//! `Backend` trait (so a GPU backend registered in `veriflop_bench::backends`
//! is measured by the same code).
//!
//! ```text
//! cargo bench -p veriflop-bench --bench backends
//! cargo bench -p veriflop-bench --bench backends -- msm_g1      # one group
//! ```

use ark_bn254::{Fr, G1Projective, G2Projective};
use ark_ff::UniformRand;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use veriflop_bench::backends;
use veriflop_bench::case::seeded_points;
use veriflop_prover::backend::Ntt;
use veriflop_prover::Backend;

fn available() -> Vec<(&'static str, Box<dyn Backend>)> {
    backends::registry().into_iter().filter_map(|b| (b.open)().ok().map(|backend| (b.id, backend))).collect()
}

fn msm(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let sizes = [1usize << 10, 1 << 12, 1 << 14];
    let max = *sizes.last().unwrap();
    let g1 = seeded_points::<G1Projective>(max, &mut rng);
    let g2 = seeded_points::<G2Projective>(1 << 12, &mut rng);
    let scalars: Vec<Fr> = (0..max).map(|_| Fr::rand(&mut rng)).collect();
    for (id, backend) in available() {
        let mut group = c.benchmark_group("msm_g1");
        group.sample_size(10);
        for &n in &sizes {
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new(id, n), &n, |b, &n| {
                b.iter(|| backend.msm_g1(&g1[..n], &scalars[..n]).unwrap())
            });
        }
        group.finish();
        let mut group = c.benchmark_group("msm_g2");
        group.sample_size(10);
        for n in [1usize << 10, 1 << 12] {
            group.throughput(Throughput::Elements(n as u64));
            group.bench_with_input(BenchmarkId::new(id, n), &n, |b, &n| {
                b.iter(|| backend.msm_g2(&g2[..n], &scalars[..n]).unwrap())
            });
        }
        group.finish();
    }
}

fn ntt(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let sizes = [1usize << 12, 1 << 14, 1 << 16];
    let values: Vec<Fr> = (0..*sizes.last().unwrap()).map(|_| Fr::rand(&mut rng)).collect();
    for (id, backend) in available() {
        for (name, kind) in [("ntt_forward", Ntt::Forward), ("ntt_coset_forward", Ntt::CosetForward)] {
            let mut group = c.benchmark_group(name);
            group.sample_size(10);
            for &n in &sizes {
                group.throughput(Throughput::Elements(n as u64));
                group.bench_with_input(BenchmarkId::new(id, n), &n, |b, &n| {
                    b.iter_batched(
                        || values[..n].to_vec(),
                        |mut v| backend.ntt(&mut v, kind).unwrap(),
                        BatchSize::LargeInput,
                    )
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, msm, ntt);
criterion_main!(benches);
