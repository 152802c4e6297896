//! 2x2 max pooling with stride 2 (odd trailing rows and columns dropped, as burn's
//! `MaxPool2d` with a 2x2 kernel does) on plain NCHW f32 slices.
//!
//! flex pools through a general 3-D max pool that also writes an i64 index per output, and
//! scatters the gradient back through those indices. Here the backward step finds the maximum
//! again in the saved input: four comparisons per output instead of an index tensor twice the
//! input's size in bytes.

use crate::buffer::{assume_written, uninit_buffer};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Row-major position (0..4) of the first maximum of a window `[a, b; c, d]`.
#[inline(always)]
fn argmax4(a: f32, b: f32, c: f32, d: f32) -> usize {
    let (top, top_at) = if b > a { (b, 1) } else { (a, 0) };
    let (bottom, bottom_at) = if d > c { (d, 3) } else { (c, 2) };
    if bottom > top { bottom_at } else { top_at }
}

simd_dispatched! {
    /// One output row from its two input rows: each window's first maximum.
    fn pool_row(out: &mut [MaybeUninit<f32>], top: &[f32], bottom: &[f32]) {
        for ((o, t), b) in out.iter_mut().zip(top.chunks_exact(2)).zip(bottom.chunks_exact(2)) {
            o.write([t[0], t[1], b[0], b[1]][argmax4(t[0], t[1], b[0], b[1])]);
        }
    }
}

simd_dispatched! {
    /// The gradient of one output row into its two input rows: each output's gradient to its
    /// window's first maximum, zero to the other three.
    fn unpool_row(
        dx_top: &mut [MaybeUninit<f32>],
        dx_bottom: &mut [MaybeUninit<f32>],
        top: &[f32],
        bottom: &[f32],
        dy: &[f32],
    ) {
        let windows = top.chunks_exact(2).zip(bottom.chunks_exact(2));
        let targets = dx_top.chunks_exact_mut(2).zip(dx_bottom.chunks_exact_mut(2));
        for (((t, b), (dt, db)), &g) in windows.zip(targets).zip(dy) {
            let at = argmax4(t[0], t[1], b[0], b[1]);
            dt[0].write(if at == 0 { g } else { 0.0 });
            dt[1].write(if at == 1 { g } else { 0.0 });
            db[0].write(if at == 2 { g } else { 0.0 });
            db[1].write(if at == 3 { g } else { 0.0 });
        }
    }
}

/// `x [n, c, h, w]` -> `[n, c, h / 2, w / 2]`.
pub fn max_pool2x2_f32(x: &[f32], [n, c, h, w]: [usize; 4]) -> Vec<f32> {
    let (oh, ow) = (h / 2, w / 2);
    if n * c * oh * ow == 0 {
        return Vec::new();
    }
    assert_eq!(
        x.len(),
        n * c * h * w,
        "max pool: input is not [n, c, h, w]"
    );
    let mut out = uninit_buffer(n * c * oh * ow);
    out.par_chunks_mut(oh * ow)
        .zip(x.par_chunks(h * w))
        .for_each(|(out_plane, plane)| {
            for (oy, out_row) in out_plane.chunks_exact_mut(ow).enumerate() {
                let top = &plane[2 * oy * w..][..2 * ow];
                let bottom = &plane[(2 * oy + 1) * w..][..2 * ow];
                pool_row(out_row, top, bottom);
            }
        });
    // SAFETY: `x` holds `n * c` planes, one per output plane, and each output value of each
    // plane was written above.
    unsafe { assume_written(out) }
}

/// The input gradient: each output's gradient goes to the first maximum of its window, the
/// rest of the input gets zero.
pub fn max_pool2x2_backward_f32(x: &[f32], [n, c, h, w]: [usize; 4], dy: &[f32]) -> Vec<f32> {
    let (oh, ow) = (h / 2, w / 2);
    if oh * ow == 0 || n * c == 0 {
        return vec![0.0f32; n * c * h * w];
    }
    assert!(
        x.len() == n * c * h * w && dy.len() == n * c * oh * ow,
        "max pool backward: input or output gradient has the wrong size"
    );
    let mut dx = uninit_buffer(n * c * h * w);
    dx.par_chunks_mut(h * w)
        .zip(x.par_chunks(h * w))
        .zip(dy.par_chunks(oh * ow))
        .for_each(|((dx_plane, plane), dy_plane)| {
            for (oy, dy_row) in dy_plane.chunks_exact(ow).enumerate() {
                let top = &plane[2 * oy * w..][..2 * ow];
                let bottom = &plane[(2 * oy + 1) * w..][..2 * ow];
                let (dx_top, dx_bottom) = dx_plane[2 * oy * w..][..2 * w].split_at_mut(w);
                unpool_row(
                    &mut dx_top[..2 * ow],
                    &mut dx_bottom[..2 * ow],
                    top,
                    bottom,
                    dy_row,
                );
                // An odd width's last column is in no window.
                if w % 2 == 1 {
                    dx_top[w - 1].write(0.0);
                    dx_bottom[w - 1].write(0.0);
                }
            }
            // An odd height's last row is in no window.
            if h % 2 == 1 {
                dx_plane[(h - 1) * w..].fill(MaybeUninit::new(0.0));
            }
        });
    // SAFETY: the sizes were checked, so every plane has its `oh` pairs of rows written whole
    // above, plus the odd last column and row.
    unsafe { assume_written(dx) }
}
