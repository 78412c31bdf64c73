//! Criterion micro-benchmarks of the provider's native work: C = A·B (exact
//! integer matmul, rayon) and the output commitment cm_C (native Poseidon).
//!
//! ```text
//! cargo bench -p veriflop-bench --bench matmul
//! ```

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use veriflop_circuits::{commit, execute, Dtype, InputMatrix, Shape};

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

criterion_group!(benches, matmul, commit_output);
criterion_main!(benches);
