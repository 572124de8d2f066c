//! Micro-benchmarks of the daemon's hot paths.
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ringmon::logs::cri::{format_chunk, Clock, Stream};

fn log_format(c: &mut Criterion) {
    let mut clock = Clock::default();
    let chunk = b"hello world, this is a line of output\nand a second one\npartial".repeat(8);
    let mut out = Vec::with_capacity(64 * 1024);
    c.bench_function("cri_format_512B_chunk", |b| {
        b.iter(|| {
            out.clear();
            format_chunk(
                &mut clock,
                (1_700_000_000, 123),
                Stream::Stdout,
                black_box(&chunk),
                &mut out,
            )
        })
    });
}

criterion_group!(benches, log_format);
criterion_main!(benches);
