//! Micro-benchmarks of the daemon's hot paths.
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ringmon::logs::cri::{format_chunk, Clock, Stream};

fn log_format(c: &mut Criterion) {
    let mut clock = Clock::default();
    let chunk = b"hello world, this is a line of output\nand a second one\npartial".repeat(8);
    let mut out = Vec::with_capacity(64 * 1024);
    // A flood's read: 40 lines of 101 bytes (`yes` of a 100-character line), 4 KiB.
    let flood = [[b'y'; 100].as_slice(), b"\n"].concat().repeat(40);
    for (name, chunk) in [
        ("cri_format_4KiB_of_101B_lines", &flood),
        ("cri_format_512B_chunk", &chunk),
    ] {
        c.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                format_chunk(
                    &mut clock,
                    (1_700_000_000, 123),
                    Stream::Stdout,
                    black_box(chunk),
                    &mut out,
                )
            })
        });
    }
}

fn protocol(c: &mut Criterion) {
    let line = br#"{"v":1,"id":42,"method":"create","params":{"args":["sh","-c","echo hello"],"tty":true,"env":["A=b"]}}"#;
    c.bench_function("api_decode_create_request", |b| {
        b.iter(|| {
            let env: ringmon::api::proto::Envelope =
                serde_json::from_slice(black_box(line)).expect("parse");
            let p: ringmon::api::proto::CreateParams =
                serde_json::from_value(env.params).expect("params");
            black_box(p)
        })
    });
    let chunk = vec![b'x'; 4096];
    c.bench_function("api_encode_output_event_4KiB", |b| {
        use base64::Engine;
        let mut out = Vec::with_capacity(8192);
        b.iter(|| {
            out.clear();
            let ev = serde_json::json!({"id": 7, "event": "output", "stream": "stdout",
                "data": base64::engine::general_purpose::STANDARD.encode(black_box(&chunk))});
            serde_json::to_writer(&mut out, &ev).expect("encode");
        })
    });
}

/// A create's spec work for the embedded default (the largest piece of the daemon's own
/// CPU in a create, `perf record` of a tty churn): build the default document, apply the
/// request's overrides, validate, deserialize into oci-spec and plan the container.
fn spec_prepare(c: &mut Criterion) {
    use ringmon::runtime::spec::{prepare, Overrides, Source};
    let args = vec!["echo".to_string(), "hello".to_string()];
    let stage = std::path::Path::new("/run/ringmon/stage");
    c.bench_function("spec_prepare_embedded_default_tty", |b| {
        b.iter(|| {
            let o = Overrides {
                args: black_box(&args),
                env: &[],
                cwd: None,
                tty: Some(true),
                user: None,
                hostname: None,
                volumes: &[],
                resources: None,
            };
            black_box(prepare(Source::Host, &o, "0123456789ab", stage).expect("prepare"))
        })
    });
}

/// One turn of the daemon's loop with N completions ready: submit N ops (NOPs, which
/// complete at once), enter the kernel once, move the N completions out of the ring with
/// their slots freed. The dispatch that follows is the handlers' own cost.
fn loop_turn(c: &mut Criterion) {
    let mut ring = match ringmon::sys::uring::Ring::new(4096) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("loop_turn: skipped, io_uring_setup failed: {e}");
            return;
        }
    };
    let mut out = Vec::with_capacity(1024);
    for n in [1usize, 64, 1024] {
        c.bench_function(&format!("loop_turn_{n}_completions"), |b| {
            b.iter(|| {
                for i in 0..n {
                    ring.nop(i as u64);
                }
                ring.submit_and_wait(n).expect("io_uring_enter");
                out.clear();
                while out.len() < n {
                    ring.drain(&mut out);
                    if out.len() < n {
                        ring.submit_and_wait(n - out.len()).expect("io_uring_enter");
                    }
                }
                black_box(out.len())
            })
        });
    }
}

criterion_group!(benches, log_format, protocol, spec_prepare, loop_turn);
criterion_main!(benches);
