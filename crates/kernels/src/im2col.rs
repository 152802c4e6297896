//! The arithmetic on plain NCHW f32 slices: im2col of a 3x3, padding-1 window and the GEMMs
//! on it. The batch is cut into one contiguous chunk of images per thread, and each GEMM runs
//! single-threaded on its chunk: images are independent, so this parallelises without any
//! synchronisation, and every thread reuses one im2col buffer.

use crate::buffer::{as_uninit, assume_written, uninit_buffer};
use crate::images_per_task;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Output columns (pixels) that the forward GEMM gathers from consecutive images.
///
/// gemm vectorises the pixels, 64 rows of its micro-tile at a time (`x4x6` with AVX-512):
/// a 7x7 image alone fills 49 of those 64 rows and makes GEMMs too small to amortise the
/// packing. On their own, several 7x7 images side by side ran these GEMMs 15-30% faster
/// (`cargo run -p kernels --example gemm_shapes`, the 1.5x model's shapes), but the im2col
/// block grows with them and falls out of the core's 2 MB L2 before gemm reads it: in
/// training steps (`ARCHS=24x1,96x2,192x2 cargo run -p trainer --example arch_probe`, Intel
/// machine, 2026-11-30, three rounds) 49 columns (one image) gave 615-645 images/s, 196 gave
/// 656-662, 294 650-669, 392 638-659, 588 627-645 and 784 549-580. So six 7x7 images, and
/// 14x14 and 28x28 images one at a time. (Again once the columns were padded and read in
/// place, below: 196 to 588 columns within the runs' noise of each other, 626-713.)
const GEMM_COLUMNS: usize = 294;

/// The GEMM's columns are padded to a multiple of this, one AVX-512 register of f32, so that
/// gemm can read the im2col block where it is (below).
pub(crate) const COLUMN_MULTIPLE: usize = 16;

/// Lets gemm's micro-kernel read an im2col block in place instead of packing it first.
///
/// gemm copies ("packs") its left operand, which for these products is the im2col block seen
/// column by column, whenever more than 8 x 6 output channels will reuse it (single-threaded
/// default). But that block was just written by im2col, lies in L2, and already has the
/// layout the micro-kernel reads: each depth step's pixels contiguous, in whole 16-float
/// vectors once the columns are padded. Raising the threshold to gemm's maximum (256 x 6
/// columns, more than any layer here has) skips that copy, 9% of a training step in the
/// profile. Measured 2026-11-30, Intel machine, 1.5x model, 60-s training runs alternating
/// with the padded-columns binary: 702 and 719 against 670 and 683 images/s. The setting is
/// process-wide: burn's own matrix products on flex also go through gemm (in these models,
/// the small linear classifier).
pub(crate) fn read_im2col_blocks_in_place() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| gemm::set_lhs_packing_threshold_single_thread(256));
}

/// Images whose im2col matrices go side by side into one forward GEMM.
fn images_per_gemm(hw: usize) -> usize {
    (GEMM_COLUMNS / hw.max(1)).max(1)
}

/// im2col of a 3x3, padding-1 window over `h x w` images, with its scratch space (one per
/// thread, reused for every image).
///
/// Rows `(ci, kh, kw)`, columns the `h * w` output pixels: `col[(ci*9 + kh*3 + kw), (y, x)]`
/// is the input pixel `(ci, y + kh - 1, x + kw - 1)`, or 0 in the padding. Each row is the
/// input plane shifted by `(kh - 1) * w + (kw - 1)` in flattened order with the pixels whose
/// source is in the padding masked to zero: one vectorised pass per row, no library call.
/// (Copying each row with `copy_from_slice` and zeroing the padding after it cost about 12% of
/// a training step in `memmove` calls on rows of 49 to 784 values.)
struct Im2col {
    h: usize,
    w: usize,
    /// Per tap `kh * 3 + kw`, over the output pixels: all bits set where the source pixel
    /// lies inside the image, zero where it is in the padding.
    masks: Vec<u32>,
    /// One input plane with `w + 1` zeros before and after it, so that every tap's source
    /// index is inside it (the masks discard the ones outside the image).
    plane: Vec<f32>,
}

impl Im2col {
    fn new(h: usize, w: usize) -> Self {
        let mut masks = Vec::with_capacity(9 * h * w);
        for (kh, kw) in (0..3).flat_map(|kh| (0..3).map(move |kw| (kh, kw))) {
            for (y, x) in (0..h).flat_map(|y| (0..w).map(move |x| (y, x))) {
                let inside = (1..=h).contains(&(y + kh)) && (1..=w).contains(&(x + kw));
                masks.push(if inside { u32::MAX } else { 0 });
            }
        }
        Self {
            h,
            w,
            masks,
            plane: vec![0.0; h * w + 2 * (w + 1)],
        }
    }

    /// Writes the rows of `image`'s first `channels` planes; row `r` starts at
    /// `col[r * row_stride]`, so that several images' matrices can sit side by side. Every
    /// element of every row is written: the buffer holds other images' values from before.
    fn write(&mut self, image: &[f32], channels: usize, col: &mut [f32], row_stride: usize) {
        let (w, hw) = (self.w, self.h * self.w);
        for (c, source) in image.chunks_exact(hw).take(channels).enumerate() {
            self.plane[w + 1..][..hw].copy_from_slice(source);
            for (tap, mask) in self.masks.chunks_exact(hw).enumerate() {
                // Output pixel `p` reads `p + (kh - 1) * w + (kw - 1)` of the plane, which is
                // `p + kh * w + kw` here.
                let shifted = &self.plane[(tap / 3) * w + tap % 3..][..hw];
                masked_copy(&mut col[(c * 9 + tap) * row_stride..][..hw], shifted, mask);
            }
        }
    }
}

simd_dispatched! {
    /// `out[p] = source[p]` where `mask[p]` has all bits set, `+0.0` where it is zero.
    fn masked_copy(out: &mut [f32], source: &[f32], mask: &[u32]) {
        for ((o, &v), &m) in out.iter_mut().zip(source).zip(mask) {
            *o = f32::from_bits(v.to_bits() & m);
        }
    }
}

/// Where a GEMM's result goes: written over memory that need not be initialised, or added to
/// what is there.
pub(crate) enum Destination<'a> {
    Overwrite(&'a mut [MaybeUninit<f32>]),
    Accumulate(&'a mut [f32]),
}

/// `dst[m, n] (+)= lhs[m, k] · rhs[k, n]`, all row-major with the given row strides, except
/// that `rhs_transposed` reads `rhs` as an `[n, k]` row-major matrix.
pub(crate) fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: Destination<'_>,
    lhs: &[f32],
    rhs: &[f32],
    rhs_transposed: bool,
) {
    let (dst, dst_len, accumulate) = match dst {
        Destination::Overwrite(dst) => (dst.as_mut_ptr().cast::<f32>(), dst.len(), false),
        Destination::Accumulate(dst) => (dst.as_mut_ptr(), dst.len(), true),
    };
    assert!(dst_len >= m * n && lhs.len() >= m * k && rhs.len() >= k * n);
    let (rhs_cs, rhs_rs) = if rhs_transposed {
        (k as isize, 1)
    } else {
        (1, n as isize)
    };
    // SAFETY: the slices hold at least m*n, m*k and k*n elements (asserted above) and the
    // strides stay inside them; `dst` is exclusively borrowed and does not alias the inputs.
    // Without `accumulate` gemm only writes `dst` (it reads it only to add to it), so it may
    // be uninitialised.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            accumulate,
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

/// Forward convolution: `x [n, c_in, h, w]`, `weight [c_out, c_in, 3, 3]` -> `[n, c_out, h, w]`.
///
/// By im2col and one GEMM of depth `9 c_in`, or, when [`crate::use_winograd`] turned it on
/// and the input has enough channels for its 16 GEMMs of depth `c_in`, by F(2x2, 3x3)
/// (`winograd.rs`).
pub fn conv3x3_f32(x: &[f32], dims: [usize; 4], weight: &[f32], c_out: usize) -> Vec<f32> {
    conv3x3_choosing(x, dims, weight, c_out, crate::winograd_enabled())
}

/// [`conv3x3_f32`] with the choice of F(2x2, 3x3) given instead of read from the process-wide
/// switch, which tests running in parallel must not flip.
pub(crate) fn conv3x3_choosing(
    x: &[f32],
    dims @ [_, c_in, h, w]: [usize; 4],
    weight: &[f32],
    c_out: usize,
    winograd: bool,
) -> Vec<f32> {
    let [n, hw] = [dims[0], h * w];
    if n == 0 || hw == 0 || c_out == 0 || c_in == 0 {
        return vec![0.0f32; n * c_out * hw];
    }
    assert_eq!(
        x.len(),
        n * c_in * hw,
        "conv3x3: input is not [n, c_in, h, w]"
    );
    if winograd && crate::winograd::pays_off(c_in, h, w) {
        crate::winograd::conv3x3_winograd_f32(x, dims, weight, c_out)
    } else {
        conv3x3_im2col_f32(x, dims, weight, c_out)
    }
}

/// [`conv3x3_f32`] by im2col and one GEMM, on non-empty, checked input.
pub(crate) fn conv3x3_im2col_f32(
    x: &[f32],
    [n, c_in, h, w]: [usize; 4],
    weight: &[f32],
    c_out: usize,
) -> Vec<f32> {
    let hw = h * w;
    let mut out = uninit_buffer(n * c_out * hw);
    let chunk = images_per_task(n);
    let group = images_per_gemm(hw).min(chunk);
    let depth = c_in * 9;
    let padded = |images: usize| (images * hw).next_multiple_of(COLUMN_MULTIPLE);
    read_im2col_blocks_in_place();
    out.par_chunks_mut(chunk * c_out * hw)
        .zip(x.par_chunks(chunk * c_in * hw))
        .for_each(|(out_chunk, x_chunk)| {
            // Columns past the images' pixels pad a GEMM to whole vectors; they are computed
            // and dropped (each output column depends on its own column of `col` only).
            let mut col = vec![0.0f32; depth * padded(group)];
            let mut im2col = Im2col::new(h, w);
            // The GEMM's `[c_out, images x pixels]` result, before it goes image by image
            // into NCHW: a copy of one value per `depth` multiply-adds.
            let mut gathered = vec![0.0f32; c_out * padded(group)];
            for (out_group, x_group) in out_chunk
                .chunks_mut(group * c_out * hw)
                .zip(x_chunk.chunks(group * c_in * hw))
            {
                let images = x_group.len() / (c_in * hw);
                let columns = padded(images);
                for (offset, image) in x_group.chunks_exact(c_in * hw).enumerate() {
                    im2col.write(image, c_in, &mut col[offset * hw..], columns);
                }
                let col = &col[..depth * columns];
                if images == 1 && columns == hw {
                    let dst = Destination::Overwrite(out_group);
                    matmul((c_out, columns, depth), dst, weight, col, false);
                    continue;
                }
                let result = &mut gathered[..c_out * columns];
                // SAFETY: gemm writes only computed values into it.
                let dst = Destination::Overwrite(unsafe { as_uninit(result) });
                matmul((c_out, columns, depth), dst, weight, col, false);
                for (offset, y) in out_group.chunks_exact_mut(c_out * hw).enumerate() {
                    for (plane, row) in y.chunks_exact_mut(hw).zip(result.chunks_exact(columns)) {
                        plane.write_copy_of_slice(&row[offset * hw..][..hw]);
                    }
                }
            }
        });
    // SAFETY: every image's output went through `matmul`'s overwrite, alone or gathered and
    // copied plane by plane.
    unsafe { assume_written(out) }
}

/// Input gradient: the convolution of `dy [n, c_out, h, w]` with the weights transposed
/// (`c_in` <-> `c_out`) and flipped in both spatial axes.
pub fn conv3x3_input_grad_f32(
    dy: &[f32],
    [n, c_out, h, w]: [usize; 4],
    weight: &[f32],
    c_in: usize,
) -> Vec<f32> {
    let flipped = flipped_transposed(weight, c_out, c_in);
    conv3x3_f32(dy, [n, c_out, h, w], &flipped, c_in)
}

/// `weight [c_out, c_in, 3, 3]` -> `[c_in, c_out, 3, 3]`, each kernel flipped in both axes.
pub(crate) fn flipped_transposed(weight: &[f32], c_out: usize, c_in: usize) -> Vec<f32> {
    let mut flipped = vec![0.0f32; weight.len()];
    for co in 0..c_out {
        for ci in 0..c_in {
            for t in 0..9 {
                flipped[(ci * c_out + co) * 9 + (8 - t)] = weight[(co * c_in + ci) * 9 + t];
            }
        }
    }
    flipped
}

/// Weight gradient: `dW [c_out, c_in*9] = Σ_images dy [c_out, h*w] · col(x)ᵀ [h*w, c_in*9]`,
/// one partial sum per thread, added at the end.
pub fn conv3x3_weight_grad_f32(
    x: &[f32],
    [n, c_in, h, w]: [usize; 4],
    dy: &[f32],
    c_out: usize,
) -> Vec<f32> {
    let hw = h * w;
    let size = c_out * c_in * 9;
    if n == 0 || hw == 0 || size == 0 {
        return vec![0.0; size];
    }
    let chunk = images_per_task(n);
    x.par_chunks(chunk * c_in * hw)
        .zip(dy.par_chunks(chunk * c_out * hw))
        .map(|(x_chunk, dy_chunk)| {
            let mut col = vec![0.0f32; c_in * 9 * hw];
            let mut im2col = Im2col::new(h, w);
            let mut partial = vec![0.0f32; size];
            for (image, grad) in x_chunk
                .chunks_exact(c_in * hw)
                .zip(dy_chunk.chunks_exact(c_out * hw))
            {
                im2col.write(image, c_in, &mut col, hw);
                let dst = Destination::Accumulate(&mut partial);
                matmul((c_out, c_in * 9, hw), dst, grad, &col, true);
            }
            partial
        })
        .reduce(
            || vec![0.0f32; size],
            |mut total, partial| {
                total.iter_mut().zip(&partial).for_each(|(t, p)| *t += p);
                total
            },
        )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The definition, loop by loop.
    pub(crate) fn naive_conv(
        x: &[f32],
        [n, c_in, h, w]: [usize; 4],
        weight: &[f32],
        c_out: usize,
    ) -> Vec<f32> {
        let mut out = vec![0.0; n * c_out * h * w];
        for b in 0..n {
            for co in 0..c_out {
                for y in 0..h {
                    for xx in 0..w {
                        let mut sum = 0.0;
                        for ci in 0..c_in {
                            for kh in 0..3 {
                                for kw in 0..3 {
                                    let (sy, sx) = (y + kh, xx + kw);
                                    if sy < 1 || sx < 1 || sy > h || sx > w {
                                        continue;
                                    }
                                    sum += x[((b * c_in + ci) * h + sy - 1) * w + sx - 1]
                                        * weight[((co * c_in + ci) * 3 + kh) * 3 + kw];
                                }
                            }
                        }
                        out[((b * c_out + co) * h + y) * w + xx] = sum;
                    }
                }
            }
        }
        out
    }

    pub(crate) fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let v = (i as u32)
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(seed * 97);
                (v % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn im2col_writes_every_element_of_its_rows() {
        for (h, w) in [(7, 7), (1, 1), (1, 4), (6, 1), (3, 2)] {
            let channels = 2;
            let image = values(channels * h * w, 3);
            let stride = 2 * h * w + 1;
            let mut col = vec![f32::NAN; channels * 9 * stride];
            Im2col::new(h, w).write(&image, channels, &mut col[1..], stride);
            for c in 0..channels {
                for (kh, kw) in (0..3).flat_map(|kh| (0..3).map(move |kw| (kh, kw))) {
                    for (y, x) in (0..h).flat_map(|y| (0..w).map(move |x| (y, x))) {
                        let (sy, sx) = (y + kh, x + kw);
                        let want = if sy < 1 || sx < 1 || sy > h || sx > w {
                            0.0
                        } else {
                            image[(c * h + sy - 1) * w + sx - 1]
                        };
                        let got = col[1 + (c * 9 + kh * 3 + kw) * stride + y * w + x];
                        assert_eq!(
                            got, want,
                            "{h}x{w}, c {c}, tap ({kh}, {kw}), pixel ({y}, {x})"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn forward_matches_the_definition_on_odd_shapes() {
        for dims @ [n, c_in, h, w] in [
            [3, 2, 5, 7],
            [1, 1, 1, 1],
            [2, 3, 1, 4],
            [2, 3, 6, 1],
            [5, 4, 3, 2],
            [2, 3, 28, 28],
            // 7x7 images six to a GEMM, the last group not full (one or two threads).
            [35, 2, 7, 7],
        ] {
            let c_out = 3;
            let x = values(n * c_in * h * w, 1);
            let weight = values(c_out * c_in * 9, 2);
            let fast = conv3x3_im2col_f32(&x, dims, &weight, c_out);
            let slow = naive_conv(&x, dims, &weight, c_out);
            for (a, b) in fast.iter().zip(&slow) {
                assert!((a - b).abs() < 1e-4, "{dims:?}: {a} vs {b}");
            }
        }
    }
}
