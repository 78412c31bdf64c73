//! Criterion micro-benchmarks of the provider's native work: C = A·B (exact
//! integer matmul, rayon), the output commitment cm_C of the Poseidon
//! constructions (native Poseidon), and the Pedersen commitments of the
//! committed construction (small-scalar MSMs of an input and of the output).
//!
//! ```text
//! cargo bench -p veriflop-bench --bench matmul
//! ```

use ark_bn254::{G1Affine, G1Projective};
use ark_ec::CurveGroup;
use ark_ff::UniformRand;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rand::SeedableRng;
use veriflop_circuits::{commit, cp, execute, Dtype, InputMatrix, Shape};

fn matmul(c: &mut Criterion) {
    for dtype in [Dtype::Int8, Dtype::Int32] {
        let mut group = c.benchmark_group(format!("matmul_{dtype}"));
        group.sample_size(10);
        for n in [64u32, 128, 256] {
            let shape = Shape::square(n, dtype).unwrap();
            let a = InputMatrix::random(n as usize, n as usize, dtype, 1).unwrap();
            let b = InputMatrix::random(n as usize, n as usize, dtype, 2).unwrap();
            group.throughput(Throughput::Elements(shape.macs()));
            group.bench_with_input(BenchmarkId::from_parameter(n), &n, |bench, _| {
                bench.iter(|| execute::matmul(&shape, &a, &b).unwrap())
            });
        }
        group.finish();
    }
}

fn commit_output(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit_output_int8");
    group.sample_size(10);
    for n in [64u32, 128] {
        let shape = Shape::square(n, Dtype::Int8).unwrap();
        let a = InputMatrix::random(n as usize, n as usize, Dtype::Int8, 1).unwrap();
        let b = InputMatrix::random(n as usize, n as usize, Dtype::Int8, 2).unwrap();
        let out = execute::matmul(&shape, &a, &b).unwrap();
        group.throughput(Throughput::Elements((n * n) as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |bench, _| {
            bench.iter(|| commit::commit_output(&shape, &out))
        });
    }
    group.finish();
}

/// `count` distinct points P_0 + i·Q (as costly to add as key points, cheap to make).
fn bases(count: usize) -> Vec<G1Affine> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
    let step = G1Projective::rand(&mut rng);
    let mut acc = G1Projective::rand(&mut rng);
    let proj: Vec<G1Projective> = (0..count)
        .map(|_| {
            acc += step;
            acc
        })
        .collect();
    G1Projective::normalize_batch(&proj)
}

fn commit_pedersen(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit_pedersen_int8");
    group.sample_size(10);
    for n in [64u32, 128, 256] {
        let shape = Shape::square(n, Dtype::Int8).unwrap();
        let a = InputMatrix::random(n as usize, n as usize, Dtype::Int8, 1).unwrap();
        let b = InputMatrix::random(n as usize, n as usize, Dtype::Int8, 2).unwrap();
        let out = execute::matmul(&shape, &a, &b).unwrap();
        let g = bases((n * n) as usize);
        group.throughput(Throughput::Elements((n * n) as u64));
        group.bench_with_input(BenchmarkId::new("input", n), &n, |bench, _| {
            bench.iter(|| cp::commit_entries(&g, &a.data))
        });
        group.bench_with_input(BenchmarkId::new("output", n), &n, |bench, _| {
            bench.iter(|| veriflop_circuits::msm::small_msm(&g, &out.data))
        });
    }
    group.finish();
}

criterion_group!(benches, matmul, commit_output, commit_pedersen);
criterion_main!(benches);
