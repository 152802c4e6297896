//! Batch norm, optionally followed by ReLU, on plain NCHW f32 slices. In training: the batch
//! statistics in one pass, the output in a second, and the backward step in two more; at
//! inference (given statistics): one pass.
//!
//! burn's generic `batch_norm_train` (what flex runs) transposes the activation to
//! `[channels, rest]` twice to take the mean and the variance, and then makes separate passes
//! for subtract, divide, scale, shift and the ReLU; its backward step makes about fifteen.
//! Here each pass reads every element once, with no transposed copy: a channel's values are
//! `n` contiguous planes of `h * w`.
//!
//! The per-plane loops are compiled three times, for AVX-512, AVX2 and the baseline, and the
//! CPU picks at run time (`simd_dispatched!`). No path fuses a multiply and an add, so all
//! three give the same bits.

use crate::buffer::{assume_written, uninit_buffer};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Lanes of the partial sums: one AVX-512 register of independent accumulators instead of one
/// serial chain of additions.
const LANES: usize = 16;

/// `x * scale + shift`: written once so that the backward step's ReLU mask is bit-for-bit the
/// forward's.
#[inline(always)]
fn affine(x: f32, scale: f32, shift: f32) -> f32 {
    x * scale + shift
}

/// Adds a 16-lane accumulator in f64.
#[inline(always)]
fn total(lanes: &[f32; LANES]) -> f64 {
    lanes.iter().map(|&v| f64::from(v)).sum()
}

simd_dispatched! {
    /// `(Σ d, Σ d²)` with `d = v - reference` over one plane. The lanes are f32: a plane holds
    /// at most a few thousand values; planes are added in f64 by the caller.
    fn shifted_sums(plane: &[f32], reference: f32) -> (f64, f64) {
        let (mut sum, mut squares) = ([0.0f32; LANES], [0.0f32; LANES]);
        let chunks = plane.chunks_exact(LANES);
        let tail = chunks.remainder();
        for chunk in chunks {
            for lane in 0..LANES {
                let d = chunk[lane] - reference;
                sum[lane] += d;
                squares[lane] += d * d;
            }
        }
        let (mut s, mut q) = (total(&sum), total(&squares));
        for &v in tail {
            let d = f64::from(v - reference);
            s += d;
            q += d * d;
        }
        (s, q)
    }
}

simd_dispatched! {
    /// One plane of the output: `x * scale + shift`, then the ReLU when `RELU`.
    fn normalize_plane<const RELU: bool>(
        out: &mut [MaybeUninit<f32>],
        x: &[f32],
        scale: f32,
        shift: f32,
    ) {
        for (o, &v) in out.iter_mut().zip(x) {
            let y = affine(v, scale, shift);
            o.write(if RELU { y.max(0.0) } else { y });
        }
    }
}

/// The output gradient where the ReLU passed its input on, all of it without the ReLU.
///
/// A multiplication by 0 or 1, not a branch: the compiler turns a branch, a select or a bit
/// mask alike into a load of `dy` only where the mask is set, one lane at a time (slower
/// than the whole pass without the ReLU). The product differs from a select only for an
/// infinite or NaN gradient, where training has already failed.
#[inline(always)]
fn masked<const RELU: bool>(x: f32, dy: f32, scale: f32, shift: f32) -> f32 {
    if !RELU {
        return dy;
    }
    dy * f32::from(u8::from(affine(x, scale, shift) > 0.0))
}

/// One channel's parameters and statistics, as the backward step uses them.
#[derive(Clone, Copy)]
struct Channel {
    scale: f32,
    shift: f32,
    mean: f32,
    inv_std: f32,
}

simd_dispatched! {
    /// `(Σ g, Σ g · x̂)` over one plane, `g` the masked output gradient, `x̂ = (x - μ) / σ`.
    fn gradient_sums<const RELU: bool>(x: &[f32], dy: &[f32], ch: Channel) -> (f64, f64) {
        let (mut sum_g, mut sum_gx) = ([0.0f32; LANES], [0.0f32; LANES]);
        let (x_chunks, dy_chunks) = (x.chunks_exact(LANES), dy.chunks_exact(LANES));
        let (x_tail, dy_tail) = (x_chunks.remainder(), dy_chunks.remainder());
        for (xs, ds) in x_chunks.zip(dy_chunks) {
            for lane in 0..LANES {
                let g = masked::<RELU>(xs[lane], ds[lane], ch.scale, ch.shift);
                sum_g[lane] += g;
                sum_gx[lane] += g * ((xs[lane] - ch.mean) * ch.inv_std);
            }
        }
        let (mut a, mut b) = (total(&sum_g), total(&sum_gx));
        for (&v, &d) in x_tail.iter().zip(dy_tail) {
            let g = masked::<RELU>(v, d, ch.scale, ch.shift);
            a += f64::from(g);
            b += f64::from(g * ((v - ch.mean) * ch.inv_std));
        }
        (a, b)
    }
}

simd_dispatched! {
    /// One plane of `dx = γ/σ · (g - mean(g) - x̂ · mean(g · x̂))`.
    fn input_gradient_plane<const RELU: bool>(
        dx: &mut [MaybeUninit<f32>],
        x: &[f32],
        dy: &[f32],
        ch: Channel,
        mean_g: f32,
        mean_gx: f32,
    ) {
        for ((d, &v), &grad) in dx.iter_mut().zip(x).zip(dy) {
            let g = masked::<RELU>(v, grad, ch.scale, ch.shift);
            d.write(ch.scale * (g - mean_g - (v - ch.mean) * ch.inv_std * mean_gx));
        }
    }
}

/// Per channel, the pair `plane_sums(image, channel)` gives, added over the batch's images.
///
/// Image by image, one contiguous run of images per thread with its own per-channel totals,
/// added at the end: reading one channel's planes across the batch instead jumps a whole
/// image between planes of a few hundred bytes, and those passes took twice as long as the
/// passes that also write (10% of a training step between them, 2026-11-30 profile).
fn per_channel_sums(
    [n, c, _]: [usize; 3],
    plane_sums: impl Fn(usize, usize) -> (f64, f64) + Sync,
) -> Vec<(f64, f64)> {
    let per_task = crate::images_per_task(n);
    let add = |mut total: Vec<(f64, f64)>, part: Vec<(f64, f64)>| {
        for (t, p) in total.iter_mut().zip(part) {
            *t = (t.0 + p.0, t.1 + p.1);
        }
        total
    };
    (0..n.div_ceil(per_task))
        .into_par_iter()
        .map(|task| {
            let mut totals = vec![(0.0, 0.0); c];
            for image in task * per_task..((task + 1) * per_task).min(n) {
                for (channel, total) in totals.iter_mut().enumerate() {
                    let (a, b) = plane_sums(image, channel);
                    *total = (total.0 + a, total.1 + b);
                }
            }
            totals
        })
        .reduce(|| vec![(0.0, 0.0); c], add)
}

/// Per channel: `1 / sqrt(σ² + ε)`, `scale = γ / sqrt(σ² + ε)` and `shift = β - μ · scale`.
fn channels(
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    variance: &[f32],
    epsilon: f64,
) -> Vec<Channel> {
    gamma
        .iter()
        .zip(beta)
        .zip(mean.iter().zip(variance))
        .map(|((&g, &b), (&m, &v))| {
            let inv_std = 1.0 / (f64::from(v) + epsilon).sqrt();
            let scale = (f64::from(g) * inv_std) as f32;
            Channel {
                scale,
                shift: (f64::from(b) - f64::from(m) * f64::from(scale)) as f32,
                mean: m,
                inv_std: inv_std as f32,
            }
        })
        .collect()
}

/// What [`batch_norm_train_f32`] returns: the output and the batch statistics it used.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormOutput {
    pub output: Vec<f32>,
    pub mean: Vec<f32>,
    /// Biased (divided by the count), as burn's `batch_norm_train` returns it.
    pub variance: Vec<f32>,
}

/// Batch norm with the batch's own statistics over `x [n, c, hw]`, then the ReLU when `relu`.
pub fn batch_norm_train_f32(
    x: &[f32],
    dims @ [n, c, hw]: [usize; 3],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
    relu: bool,
) -> BatchNormOutput {
    let count = (n * hw) as f64;
    if count == 0.0 {
        return BatchNormOutput {
            output: Vec::new(),
            mean: vec![0.0; c],
            variance: vec![0.0; c],
        };
    }
    // Sums of `x - reference` with the channel's first value as the reference: the variance
    // from `E[d²] - E[d]²` then does not lose precision to a large mean.
    let references: Vec<f32> = (0..c).map(|channel| x[channel * hw]).collect();
    let sums = per_channel_sums(dims, |image, channel| {
        shifted_sums(&x[(image * c + channel) * hw..][..hw], references[channel])
    });
    let (mean, variance): (Vec<f32>, Vec<f32>) = sums
        .iter()
        .zip(&references)
        .map(|(&(sum, squares), &reference)| {
            let shifted_mean = sum / count;
            let variance = (squares / count - shifted_mean * shifted_mean).max(0.0);
            (
                (f64::from(reference) + shifted_mean) as f32,
                variance as f32,
            )
        })
        .unzip();
    let params = channels(gamma, beta, &mean, &variance, epsilon);
    let output = normalize(x, hw, &params, relu);
    BatchNormOutput {
        output,
        mean,
        variance,
    }
}

/// Batch norm with given statistics (the running ones, at inference) over `x [n, c, hw]`,
/// then the ReLU when `relu`: one pass.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_inference_f32(
    x: &[f32],
    [_, _, hw]: [usize; 3],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    variance: &[f32],
    epsilon: f64,
    relu: bool,
) -> Vec<f32> {
    let params = channels(gamma, beta, mean, variance, epsilon);
    normalize(x, hw, &params, relu)
}

/// `x * scale + shift` per channel (then the ReLU), image by image in parallel.
fn normalize(x: &[f32], hw: usize, params: &[Channel], relu: bool) -> Vec<f32> {
    let image_len = params.len() * hw;
    if x.is_empty() || image_len == 0 {
        return vec![0.0; x.len()];
    }
    assert_eq!(
        x.len() % image_len,
        0,
        "batch norm: input is not whole images"
    );
    let mut output = uninit_buffer(x.len());
    output
        .par_chunks_mut(image_len)
        .zip(x.par_chunks(image_len))
        .for_each(|(out_image, x_image)| {
            for ((out, x), ch) in out_image
                .chunks_exact_mut(hw)
                .zip(x_image.chunks_exact(hw))
                .zip(params)
            {
                if relu {
                    normalize_plane::<true>(out, x, ch.scale, ch.shift);
                } else {
                    normalize_plane::<false>(out, x, ch.scale, ch.shift);
                }
            }
        });
    // SAFETY: `x` is whole images of `params.len()` planes, so the planes above cover the
    // output, and `normalize_plane` writes each of its values.
    unsafe { assume_written(output) }
}

/// The gradients of [`batch_norm_train_f32`]: `(dx, dγ, dβ)` from the forward's input,
/// parameters and statistics and the output gradient `dy`.
///
/// With `g = dy` where the output was positive (or everywhere without the ReLU),
/// `x̂ = (x - μ) / σ` and `m = n · h · w`: `dβ = Σ g`, `dγ = Σ g · x̂` and
/// `dx = γ / σ · (g - dβ / m - x̂ · dγ / m)`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_train_backward_f32(
    x: &[f32],
    dims @ [n, c, hw]: [usize; 3],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    variance: &[f32],
    epsilon: f64,
    relu: bool,
    dy: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let count = (n * hw) as f64;
    if count == 0.0 {
        return (Vec::new(), vec![0.0; c], vec![0.0; c]);
    }
    let params = channels(gamma, beta, mean, variance, epsilon);
    let sums = per_channel_sums(dims, |image, channel| {
        let at = (image * c + channel) * hw;
        let (x_plane, dy_plane, ch) = (&x[at..][..hw], &dy[at..][..hw], params[channel]);
        if relu {
            gradient_sums::<true>(x_plane, dy_plane, ch)
        } else {
            gradient_sums::<false>(x_plane, dy_plane, ch)
        }
    });
    let (beta_grad, gamma_grad): (Vec<f32>, Vec<f32>) =
        sums.iter().map(|&(g, gx)| (g as f32, gx as f32)).unzip();
    assert!(
        x.len() == n * c * hw && dy.len() == x.len(),
        "batch norm backward: input or output gradient is not [n, c, hw]"
    );
    let mut x_grad = uninit_buffer(x.len());
    x_grad
        .par_chunks_mut(c * hw)
        .zip(x.par_chunks(c * hw))
        .zip(dy.par_chunks(c * hw))
        .for_each(|((dx_image, x_image), dy_image)| {
            for (channel, ((dx, x), dy)) in dx_image
                .chunks_exact_mut(hw)
                .zip(x_image.chunks_exact(hw))
                .zip(dy_image.chunks_exact(hw))
                .enumerate()
            {
                let ch = params[channel];
                let mean_g = (f64::from(beta_grad[channel]) / count) as f32;
                let mean_gx = (f64::from(gamma_grad[channel]) / count) as f32;
                if relu {
                    input_gradient_plane::<true>(dx, x, dy, ch, mean_g, mean_gx);
                } else {
                    input_gradient_plane::<false>(dx, x, dy, ch, mean_g, mean_gx);
                }
            }
        });
    // SAFETY: `count > 0`, so `x` is whole images of `c` planes of `hw`; every plane above got
    // each of its values from `input_gradient_plane`.
    let x_grad = unsafe { assume_written(x_grad) };
    (x_grad, gamma_grad, beta_grad)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The planes of channel `channel` in an `[n, c, hw]` slice.
    fn channel_planes(
        values: &[f32],
        [n, c, hw]: [usize; 3],
        channel: usize,
    ) -> impl Iterator<Item = &[f32]> {
        (0..n).map(move |image| &values[(image * c + channel) * hw..][..hw])
    }

    /// Mean and biased variance of each channel of `[n, c, hw]`, in f64, by the definition.
    fn statistics(x: &[f32], [n, c, hw]: [usize; 3]) -> Vec<(f64, f64)> {
        (0..c)
            .map(|channel| {
                let values: Vec<f64> = channel_planes(x, [n, c, hw], channel)
                    .flatten()
                    .map(|&v| f64::from(v))
                    .collect();
                let mean = values.iter().sum::<f64>() / values.len() as f64;
                let variance =
                    values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
                (mean, variance)
            })
            .collect()
    }

    #[test]
    fn statistics_keep_their_precision_under_a_large_mean() {
        // Values around 1000 that vary by about 0.01: E[x²] - E[x]² straight in f32 would
        // cancel to noise; the shifted sums must not.
        let dims @ [n, c, hw] = [8, 3, 49];
        let x: Vec<f32> = (0..n * c * hw)
            .map(|i| 1000.0 + ((i * 7919) % 101) as f32 * 2e-4 + (i % c) as f32)
            .collect();
        let result = batch_norm_train_f32(&x, dims, &[1.0; 3], &[0.0; 3], 1e-5, false);
        for (channel, (mean, variance)) in statistics(&x, dims).into_iter().enumerate() {
            let (ours_mean, ours_variance) = (result.mean[channel], result.variance[channel]);
            assert!(
                (f64::from(ours_mean) - mean).abs() <= 1e-4 * mean.abs(),
                "channel {channel}: mean {ours_mean} vs {mean}"
            );
            assert!(
                (f64::from(ours_variance) - variance).abs() <= 1e-3 * variance,
                "channel {channel}: variance {ours_variance} vs {variance}"
            );
        }
    }

    #[test]
    fn planes_not_a_multiple_of_the_lanes_are_summed_whole() {
        // 7x7 planes: three full 16-lane chunks and a tail of one, as the last stage has.
        let dims @ [n, c, hw] = [3, 2, 49];
        let x: Vec<f32> = (0..n * c * hw).map(|i| (i % 13) as f32 - 6.0).collect();
        let result = batch_norm_train_f32(&x, dims, &[1.0; 2], &[0.0; 2], 1e-5, true);
        for (channel, (mean, variance)) in statistics(&x, dims).into_iter().enumerate() {
            assert!((f64::from(result.mean[channel]) - mean).abs() < 1e-5);
            assert!((f64::from(result.variance[channel]) - variance).abs() < 1e-4);
        }
        assert!(result.output.iter().all(|&v| v >= 0.0), "the ReLU ran");
    }
}
