//! GFLOP/s of the `gemm` crate on the convolution GEMMs of the 1.5x model, on one thread (as
//! the kernels run them, one run of images per core): one image per GEMM against several
//! images side by side, which is how `conv3x3_f32` chose its `GEMM_COLUMNS`.
//!
//! `cargo run -p kernels --example gemm_shapes`

use std::time::Instant;

/// Images one thread handles in a training step of batch 128 on two cores.
const IMAGES: usize = 64;

/// `dst[m, n] = lhs[m, k] · rhs[k, n]` (row-major), or `dst += lhs · rhsᵀ` for the weight
/// gradient's shape, where `rhs` is `[n, k]`.
fn gemm_once(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    lhs: &[f32],
    rhs: &[f32],
    weight_grad: bool,
) {
    assert!(dst.len() >= m * n && lhs.len() >= m * k && rhs.len() >= k * n);
    let (rhs_cs, rhs_rs) = if weight_grad {
        (k as isize, 1)
    } else {
        (1, n as isize)
    };
    // SAFETY: the slices hold the m*n, m*k and k*n elements the strides address (asserted).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            weight_grad,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.as_ptr(),
            rhs_cs,
            rhs_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The best of five timings of `run`, in seconds.
fn best_seconds(mut run: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    // (what, c_out or m, depth k, pixels n): the forward pass and the input gradient.
    let products = [
        ("conv2 forward", 96, 216, 196),
        ("conv3 forward", 96, 864, 196),
        ("conv4 forward", 192, 864, 49),
        ("conv5 forward", 192, 1728, 49),
        ("conv5 input grad", 192, 1728, 49),
        ("conv4 input grad", 96, 1728, 49),
        ("conv3 input grad", 96, 864, 196),
        ("conv2 input grad", 24, 864, 196),
    ];
    println!("images per GEMM:            1      2      4      8     16     64  (GFLOP/s)");
    for (what, m, k, n) in products {
        let lhs = vec![0.5f32; m * k];
        let rhs = vec![0.25f32; k * n * IMAGES];
        let mut dst = vec![0.0f32; m * n * IMAGES];
        let flops = 2.0 * (m * k * n * IMAGES) as f64;
        let rates: Vec<String> = [1, 2, 4, 8, 16, IMAGES]
            .into_iter()
            .map(|group| {
                let seconds = best_seconds(|| {
                    for first in (0..IMAGES).step_by(group) {
                        let (dst, rhs) = (&mut dst[first * m * n..], &rhs[first * k * n..]);
                        gemm_once((m, n * group, k), dst, &lhs, rhs, false);
                    }
                });
                format!("{:6.1}", flops / seconds / 1e9)
            })
            .collect();
        println!("{what:18} {m:4} x {k:4} x {n:3}: {}", rates.join(" "));
    }
    // The weight gradient sums over pixels: images side by side lengthen the GEMM's depth.
    for (what, m, n, k) in [
        ("conv3 weight grad", 96, 864, 196),
        ("conv5 weight grad", 192, 1728, 49),
    ] {
        let dy = vec![0.5f32; m * k * IMAGES];
        let col = vec![0.25f32; n * k * IMAGES];
        let mut dst = vec![0.0f32; m * n];
        let flops = 2.0 * (m * k * n * IMAGES) as f64;
        let per_image = best_seconds(|| {
            for image in 0..IMAGES {
                gemm_once(
                    (m, n, k),
                    &mut dst,
                    &dy[image * m * k..],
                    &col[image * n * k..],
                    true,
                );
            }
        });
        let all = best_seconds(|| gemm_once((m, n, k * IMAGES), &mut dst, &dy, &col, true));
        println!(
            "{what:18} {m:4} x {n:4} x {k:3}: {:6.1} per image, {:6.1} all {IMAGES} images in one",
            flops / per_image / 1e9,
            flops / all / 1e9
        );
    }
}
