//! Does this CPU's AVX-512 BF16 dot product (`vdpbf16ps`: two multiply-adds per 32-bit lane)
//! out-run its f32 fused multiply-add (`vfmadd231ps`: one)? Twelve independent accumulators
//! each way, so the loop measures throughput, not latency.
//!
//!     rustc -O benches/bf16_probe.rs -o /tmp/bf16_probe && taskset -c 0 /tmp/bf16_probe
//!
//! Standalone on purpose (no cargo, no dependencies): it answers one question about the
//! machine before anyone writes a bf16 GEMM for it. README, "Speed benchmark".

use std::arch::x86_64::*;
use std::time::Instant;

const ACCUMULATORS: usize = 12;

#[target_feature(enable = "avx512f,avx512bf16")]
fn bf16_dot_products(iterations: u64) -> f32 {
    // Each 32-bit lane holds two bf16 values of 1.0 (0x3f80).
    let ones: __m512bh = unsafe { std::mem::transmute(_mm512_set1_epi32(0x3f80_3f80)) };
    let mut acc = [_mm512_setzero_ps(); ACCUMULATORS];
    for _ in 0..iterations {
        for a in &mut acc {
            *a = _mm512_dpbf16_ps(*a, ones, ones);
        }
    }
    _mm512_reduce_add_ps(acc.iter().fold(_mm512_setzero_ps(), |s, a| _mm512_add_ps(s, *a)))
}

#[target_feature(enable = "avx512f")]
fn f32_multiply_adds(iterations: u64) -> f32 {
    let (x, y) = (_mm512_set1_ps(1.0001), _mm512_set1_ps(0.9999));
    let mut acc = [_mm512_setzero_ps(); ACCUMULATORS];
    for _ in 0..iterations {
        for a in &mut acc {
            *a = _mm512_fmadd_ps(x, y, *a);
        }
    }
    _mm512_reduce_add_ps(acc.iter().fold(_mm512_setzero_ps(), |s, a| _mm512_add_ps(s, *a)))
}

fn main() {
    if !(is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16")) {
        eprintln!("this CPU lacks AVX-512 BF16: nothing to compare");
        std::process::exit(1);
    }
    let iterations = 50_000_000u64;
    let instructions = (iterations * ACCUMULATORS as u64) as f64;
    for round in 1..=3 {
        let start = Instant::now();
        // SAFETY: the features were detected above.
        let f32_sum = unsafe { f32_multiply_adds(iterations) };
        let f32_s = start.elapsed().as_secs_f64();
        let start = Instant::now();
        // SAFETY: as above.
        let bf16_sum = unsafe { bf16_dot_products(iterations) };
        let bf16_s = start.elapsed().as_secs_f64();
        println!(
            "round {round}: vfmadd231ps {:.2} G/s ({:.0} GFLOP/s), vdpbf16ps {:.2} G/s ({:.0} GFLOP/s), bf16 / f32 {:.2}x (sums {f32_sum:.0}, {bf16_sum:.0})",
            instructions / f32_s / 1e9,
            instructions * 32.0 / f32_s / 1e9,
            instructions / bf16_s / 1e9,
            instructions * 64.0 / bf16_s / 1e9,
            f32_s / bf16_s * 2.0,
        );
    }
}
