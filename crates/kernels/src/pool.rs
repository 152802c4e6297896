//! 2x2 max pooling with stride 2 (odd trailing rows and columns dropped, as burn's
//! `MaxPool2d` with a 2x2 kernel does) on plain NCHW f32 slices.
//!
//! flex pools through a general 3-D max pool that also writes an i64 index per output, and
//! scatters the gradient back through those indices. Here the backward step finds the maximum
//! again in the saved input: four comparisons per output instead of an index tensor twice the
//! input's size in bytes.

use rayon::prelude::*;

/// Row-major position (0..4) of the first maximum of a window `[a, b; c, d]`.
#[inline(always)]
fn argmax4(a: f32, b: f32, c: f32, d: f32) -> usize {
    let (top, top_at) = if b > a { (b, 1) } else { (a, 0) };
    let (bottom, bottom_at) = if d > c { (d, 3) } else { (c, 2) };
    if bottom > top { bottom_at } else { top_at }
}

/// `x [n, c, h, w]` -> `[n, c, h / 2, w / 2]`.
pub fn max_pool2x2_f32(x: &[f32], [n, c, h, w]: [usize; 4]) -> Vec<f32> {
    let (oh, ow) = (h / 2, w / 2);
    let mut out = vec![0.0f32; n * c * oh * ow];
    if out.is_empty() {
        return out;
    }
    out.par_chunks_mut(oh * ow)
        .zip(x.par_chunks(h * w))
        .for_each(|(out_plane, plane)| {
            for (oy, out_row) in out_plane.chunks_exact_mut(ow).enumerate() {
                let top = &plane[2 * oy * w..][..w];
                let bottom = &plane[(2 * oy + 1) * w..][..w];
                for (ox, o) in out_row.iter_mut().enumerate() {
                    let (a, b) = (top[2 * ox], top[2 * ox + 1]);
                    let (c, d) = (bottom[2 * ox], bottom[2 * ox + 1]);
                    *o = [a, b, c, d][argmax4(a, b, c, d)];
                }
            }
        });
    out
}

/// The input gradient: each output's gradient goes to the first maximum of its window, the
/// rest of the input gets zero.
pub fn max_pool2x2_backward_f32(x: &[f32], [n, c, h, w]: [usize; 4], dy: &[f32]) -> Vec<f32> {
    let (oh, ow) = (h / 2, w / 2);
    let mut dx = vec![0.0f32; n * c * h * w];
    if oh * ow == 0 {
        return dx;
    }
    dx.par_chunks_mut(h * w)
        .zip(x.par_chunks(h * w))
        .zip(dy.par_chunks(oh * ow))
        .for_each(|((dx_plane, plane), dy_plane)| {
            for (oy, dy_row) in dy_plane.chunks_exact(ow).enumerate() {
                let top = &plane[2 * oy * w..][..w];
                let bottom = &plane[(2 * oy + 1) * w..][..w];
                let (dx_top, dx_bottom) = dx_plane[2 * oy * w..][..2 * w].split_at_mut(w);
                for (ox, &g) in dy_row.iter().enumerate() {
                    let (a, b) = (top[2 * ox], top[2 * ox + 1]);
                    let (c, d) = (bottom[2 * ox], bottom[2 * ox + 1]);
                    match argmax4(a, b, c, d) {
                        0 => dx_top[2 * ox] = g,
                        1 => dx_top[2 * ox + 1] = g,
                        2 => dx_bottom[2 * ox] = g,
                        _ => dx_bottom[2 * ox + 1] = g,
                    }
                }
            }
        });
    dx
}
