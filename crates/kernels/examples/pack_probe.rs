use std::time::Instant;
fn run(m: usize, k: usize, n: usize, reps: usize) -> f64 {
    let lhs = vec![0.5f32; m * k];
    let rhs = vec![0.25f32; k * n];
    let mut dst = vec![0.0f32; m * n];
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..reps {
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    dst.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    lhs.as_ptr(),
                    1,
                    k as isize,
                    rhs.as_ptr(),
                    1,
                    n as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    2.0 * (m * k * n * reps) as f64 / best / 1e9
}
fn main() {
    for (m, k, n) in [
        (192, 1728, 294),
        (192, 1728, 304),
        (192, 1728, 196),
        (192, 1728, 208),
        (192, 1728, 392),
        (192, 1728, 400),
        (96, 1728, 304),
        (192, 864, 304),
        (96, 864, 196),
        (96, 864, 208),
        (96, 864, 392),
        (96, 864, 400),
        (24, 864, 208),
        (96, 216, 208),
        (24, 9, 784),
    ] {
        gemm::set_lhs_packing_threshold_single_thread(8);
        let a = run(m, k, n, 20);
        gemm::set_lhs_packing_threshold_single_thread(256);
        let b = run(m, k, n, 20);
        println!("{m} x {k} x {n}: packed {a:.1}, threshold 256 {b:.1}");
    }
}
