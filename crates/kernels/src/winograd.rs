//! The 3x3 convolution by Winograd's minimal filtering algorithm F(2x2, 3x3) (Lavin & Gray,
//! "Fast Algorithms for Convolutional Neural Networks", CVPR 2016).
//!
//! Each 2x2 block of output pixels ("tile") is computed from the 4x4 block of input around it
//! with 16 multiplications per input channel instead of 36: the input block `d` and the 3x3
//! kernel `g` are transformed to 4x4 blocks `V = Bᵀ d B` and `U = G g Gᵀ`, multiplied element
//! by element and summed over the input channels, and the sum `M` is transformed back,
//! `Y = Aᵀ M A`. Summed over the channels, each of the 16 positions of `M` is a matrix
//! product, `M[e][co, tile] = U[e][co, ci] · V[e][ci, tile]`, so the multiplications run as 16
//! GEMMs of depth `c_in` instead of one of depth `9 c_in`: 2.25x fewer multiply-adds on even
//! sizes (14x14), 1.72x on 7x7 images (computed as 8x8, whose last row and column are
//! dropped). The transforms are additions and exact halvings: F(2x2, 3x3)'s constants (0, ±1, ±1/2) keep
//! the rounding error at that of the direct sum (the tests hold it to the same tolerance).
//!
//! The transforms' matrices, with `d` read from the input padded by one pixel:
//!
//! ```text
//! Bᵀ = | 1  0 -1  0 |    G = | 1    0    0  |    Aᵀ = | 1  1  1  0 |
//!      | 0  1  1  0 |        | 1/2  1/2  1/2 |         | 0  1 -1 -1 |
//!      | 0 -1  1  0 |        | 1/2 -1/2  1/2 |
//!      | 0  1  0 -1 |        | 0    0    1  |
//! ```

use crate::buffer::{as_uninit, assume_written, uninit_buffer};
use crate::im2col::{COLUMN_MULTIPLE, Destination, matmul, read_im2col_blocks_in_place};
use crate::images_per_task;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// The 4x4 positions of a transformed tile: one GEMM each.
const POSITIONS: usize = 16;

/// Tiles that a GEMM gathers from consecutive images (columns of `V` and `M`). `V` holds 16
/// values per tile and input channel: with 256 or 512 tiles it outgrows the 512 KB L2 of the
/// AMD machine, where the default model trained at 515 and 491 images/s against 615 and 622
/// with 64 and 128 (`trainer bench --convs winograd`, one round each, 2026-11-30); 96 lies
/// between those two, where the rounds' noise (~10%) hid any difference.
const GEMM_TILES: usize = 96;

/// Input channels from which F(2x2, 3x3) is worth trying: its GEMMs have depth `c_in` and
/// write 16 values per tile and output channel, so with fewer channels they are bound by
/// memory (the default model's first convolution has one, and stays im2col).
const MIN_CHANNELS: usize = 16;

/// Whether a convolution of `c_in`-channel `h x w` images is one F(2x2, 3x3) takes when it is
/// switched on.
pub(crate) fn pays_off(c_in: usize, h: usize, w: usize) -> bool {
    c_in >= MIN_CHANNELS && h >= 2 && w >= 2
}

/// `weight [c_out, c_in, 3, 3]` -> `U [16][c_out, c_in]`, `U = G g Gᵀ` per kernel.
fn transform_weights(weight: &[f32], c_out: usize, c_in: usize) -> Vec<f32> {
    let matrix = c_out * c_in;
    let mut u = vec![0.0f32; POSITIONS * matrix];
    for (kernel, g) in weight.chunks_exact(9).take(matrix).enumerate() {
        let row = |r: usize| [g[3 * r], g[3 * r + 1], g[3 * r + 2]];
        let (g0, g1, g2) = (row(0), row(1), row(2));
        // G g: four rows of three.
        let gg: [[f32; 3]; 4] = [
            g0,
            std::array::from_fn(|c| 0.5 * (g0[c] + g1[c] + g2[c])),
            std::array::from_fn(|c| 0.5 * (g0[c] - g1[c] + g2[c])),
            g2,
        ];
        for (i, [a0, a1, a2]) in gg.into_iter().enumerate() {
            let transformed = [a0, 0.5 * (a0 + a1 + a2), 0.5 * (a0 - a1 + a2), a2];
            for (j, value) in transformed.into_iter().enumerate() {
                u[(4 * i + j) * matrix + kernel] = value;
            }
        }
    }
    u
}

/// Tiles computed side by side in the output transform: one AVX-512 register of f32, two AVX2
/// ones.
const LANES: usize = 16;

/// `V = Bᵀ d B` for every tile of a plane, with its scratch space (one per thread).
///
/// The plane, padded with one pixel of zeros, is split into its four polyphase components
/// `X[a][b][y'][u] = padded[2y' + a][2u + b]`, each `tiles_high + 1` rows of
/// `S = tiles_wide + 1`. The 4x4 input block of tile `(ty, tx)` is then
/// `d[i][j] = X[i % 2][j % 2][ty + i / 2][tx + j / 2]`: for [`CHUNK`] tiles side by side in a
/// row, each `d[i][j]` is one vector load
/// from a component, at an offset of 0, 1, `S` or `S + 1`, and the whole transform runs in
/// registers. (Gathering each tile's 16 values first, then transforming them, cost as much
/// as the GEMMs saved; so did storing the transform's rows and reading them back shifted.)
struct InputTransform {
    w: usize,
    tiles_high: usize,
    tiles_wide: usize,
    /// Component `(a, b)` at `phases[(2a + b) * phase_len..]`, flattened, then [`CHUNK`]
    /// zeros so that every vector load stays inside it. The padding is zeroed once; every
    /// plane writes the same interior.
    phases: Vec<f32>,
    phase_len: usize,
}

/// Tiles transformed side by side, one vector of f32 on AVX2.
const CHUNK: usize = 8;

impl InputTransform {
    fn new(h: usize, w: usize) -> Self {
        let (tiles_high, tiles_wide) = (h.div_ceil(2), w.div_ceil(2));
        let phase_len = (tiles_high + 1) * (tiles_wide + 1) + CHUNK;
        Self {
            w,
            tiles_high,
            tiles_wide,
            phases: vec![0.0; 4 * phase_len],
            phase_len,
        }
    }

    /// Writes the transformed tiles of `plane`: position `e` of tile `t` goes to
    /// `v[offset + e * position_stride + t]`.
    fn write(&mut self, plane: &[f32], v: &mut [f32], offset: usize, position_stride: usize) {
        let (w, tiles_high, tiles_wide) = (self.w, self.tiles_high, self.tiles_wide);
        let (stride, phase_len) = (tiles_wide + 1, self.phase_len);
        // Image pixel (y, x) is padded pixel (y + 1, x + 1): even x land in column phase 1 at
        // u = x / 2, odd x in phase 0 at u = (x + 1) / 2.
        for (y, row) in plane.chunks_exact(w).enumerate() {
            let (a, first) = ((y + 1) % 2, y.div_ceil(2) * stride);
            let even_x = &mut self.phases[(2 * a + 1) * phase_len + first..][..w.div_ceil(2)];
            for (u, to) in even_x.iter_mut().enumerate() {
                *to = row[2 * u];
            }
            let odd_x = &mut self.phases[2 * a * phase_len + first + 1..][..w / 2];
            for (u, to) in odd_x.iter_mut().enumerate() {
                *to = row[2 * u + 1];
            }
        }
        let tiles = tiles_high * tiles_wide;
        let mut rows = v[offset..]
            .chunks_mut(position_stride)
            .map(|row| &mut row[..tiles]);
        let mut outputs: [&mut [f32]; POSITIONS] = std::array::from_fn(|_| {
            rows.next()
                .expect("the caller's `v` holds 16 positions of `position_stride` values")
        });
        transform_phases(
            &self.phases,
            phase_len,
            tiles_high,
            tiles_wide,
            &mut outputs,
        );
    }
}

/// `Bᵀ d B` of `N` tiles at once: `d[e][l]` is position `e` of tile `l`'s input block.
///
/// Plain loops over fixed-size arrays, which LLVM turns into vector instructions (the
/// iterator machinery of `std::array::from_fn` was not inlined here and ran element by
/// element).
#[inline(always)]
fn input_lanes<const N: usize>(d: &[[f32; N]; POSITIONS]) -> [[f32; N]; POSITIONS] {
    // Bᵀ d: row r of the result at q[4r + c].
    let mut q = [[0.0f32; N]; POSITIONS];
    for c in 0..4 {
        for l in 0..N {
            q[c][l] = d[c][l] - d[8 + c][l];
            q[4 + c][l] = d[4 + c][l] + d[8 + c][l];
            q[8 + c][l] = d[8 + c][l] - d[4 + c][l];
            q[12 + c][l] = d[4 + c][l] - d[12 + c][l];
        }
    }
    // (Bᵀ d) B.
    let mut v = [[0.0f32; N]; POSITIONS];
    for r in 0..4 {
        for l in 0..N {
            v[4 * r][l] = q[4 * r][l] - q[4 * r + 2][l];
            v[4 * r + 1][l] = q[4 * r + 1][l] + q[4 * r + 2][l];
            v[4 * r + 2][l] = q[4 * r + 2][l] - q[4 * r + 1][l];
            v[4 * r + 3][l] = q[4 * r + 1][l] - q[4 * r + 3][l];
        }
    }
    v
}

simd_dispatched! {
    /// `V = Bᵀ d B` for every tile of a plane from its polyphase components (see
    /// [`InputTransform`]); `outputs[e][t]` receives position `e` of tile `t`.
    ///
    /// A row of tiles goes in chunks of [`CHUNK`]; a chunk's lanes past the row's last tile
    /// hold values for no tile, and are stored anyway where they fall on tiles that a later
    /// chunk writes again (the tiles go in order), and dropped at the plane's end.
    fn transform_phases(
        phases: &[f32],
        phase_len: usize,
        tiles_high: usize,
        tiles_wide: usize,
        outputs: &mut [&mut [f32]; POSITIONS],
    ) {
        let stride = tiles_wide + 1;
        let tiles = tiles_high * tiles_wide;
        let component = |p: usize| &phases[p * phase_len..][..phase_len];
        let x = [component(0), component(1), component(2), component(3)];
        for ty in 0..tiles_high {
            for tx in (0..tiles_wide).step_by(CHUNK) {
                let k = ty * stride + tx;
                let mut d = [[0.0f32; CHUNK]; POSITIONS];
                for (e, lanes) in d.iter_mut().enumerate() {
                    let (i, j) = (e / 4, e % 4);
                    let at = k + (i / 2) * stride + j / 2;
                    lanes.copy_from_slice(&x[2 * (i % 2) + j % 2][at..][..CHUNK]);
                }
                let transformed = input_lanes(&d);
                let t = ty * tiles_wide + tx;
                if t + CHUNK <= tiles {
                    for (output, values) in outputs.iter_mut().zip(&transformed) {
                        output[t..t + CHUNK].copy_from_slice(values);
                    }
                } else {
                    for (output, values) in outputs.iter_mut().zip(&transformed) {
                        for (to, value) in output[t..].iter_mut().zip(values) {
                            *to = *value;
                        }
                    }
                }
            }
        }
    }
}

/// `Aᵀ M A` of `N` tiles at once: the output pixels `[2a + b][l]` of tile `l`.
#[inline(always)]
fn output_lanes<const N: usize>(m: &[[f32; N]; POSITIONS]) -> [[f32; N]; 4] {
    // Aᵀ M: two rows of four, s[4a + c].
    let mut s = [[0.0f32; N]; 8];
    for c in 0..4 {
        for l in 0..N {
            s[c][l] = m[c][l] + m[4 + c][l] + m[8 + c][l];
            s[4 + c][l] = m[4 + c][l] - m[8 + c][l] - m[12 + c][l];
        }
    }
    let mut y = [[0.0f32; N]; 4];
    for a in 0..2 {
        for l in 0..N {
            y[2 * a][l] = s[4 * a][l] + s[4 * a + 1][l] + s[4 * a + 2][l];
            y[2 * a + 1][l] = s[4 * a + 1][l] - s[4 * a + 2][l] - s[4 * a + 3][l];
        }
    }
    y
}

simd_dispatched! {
    /// `Y = Aᵀ M A` over a run of tiles: `m[e]` holds position `e` of every tile, `pixels[2a +
    /// b][t]` receives pixel `(a, b)` of tile `t`'s 2x2 output.
    fn transform_output_tiles(m: &[&[f32]; POSITIONS], pixels: &mut [&mut [f32]; 4]) {
        let tiles = pixels[0].len();
        let mut t = 0;
        while t + LANES <= tiles {
            let mut block = [[0.0f32; LANES]; POSITIONS];
            for (lanes, row) in block.iter_mut().zip(m) {
                lanes.copy_from_slice(&row[t..t + LANES]);
            }
            for (pixel, values) in pixels.iter_mut().zip(&output_lanes(&block)) {
                pixel[t..t + LANES].copy_from_slice(values);
            }
            t += LANES;
        }
        for t in t..tiles {
            let mut block = [[0.0f32; 1]; POSITIONS];
            for (lane, row) in block.iter_mut().zip(m) {
                lane[0] = row[t];
            }
            for (pixel, value) in pixels.iter_mut().zip(&output_lanes(&block)) {
                pixel[t] = value[0];
            }
        }
    }
}

/// Writes one output plane (`h x w`) from its tiles' 2x2 pixels, `pixels[2a + b][t]` for tile
/// `t`, dropping the second row and column of the last tiles on odd sizes.
fn scatter_tiles(
    pixels: &[&[f32]; 4],
    (h, w): (usize, usize),
    tiles_wide: usize,
    plane: &mut [MaybeUninit<f32>],
) {
    for (y, row) in plane.chunks_exact_mut(w).take(h).enumerate() {
        let (ty, a) = (y / 2, y % 2);
        let left = &pixels[2 * a][ty * tiles_wide..][..tiles_wide];
        let right = &pixels[2 * a + 1][ty * tiles_wide..][..w / 2];
        for (tx, (&l, &r)) in left.iter().zip(right).enumerate() {
            row[2 * tx].write(l);
            row[2 * tx + 1].write(r);
        }
        if w % 2 == 1 {
            row[w - 1].write(left[tiles_wide - 1]);
        }
    }
}

/// Forward convolution as [`crate::conv3x3_f32`], by F(2x2, 3x3), on non-empty input whose
/// length the caller checked: `x [n, c_in, h, w]`,
/// `weight [c_out, c_in, 3, 3]` -> `[n, c_out, h, w]`.
pub(crate) fn conv3x3_winograd_f32(
    x: &[f32],
    [n, c_in, h, w]: [usize; 4],
    weight: &[f32],
    c_out: usize,
) -> Vec<f32> {
    let hw = h * w;
    assert_eq!(
        weight.len(),
        c_out * c_in * 9,
        "conv3x3: weight is not [c_out, c_in, 3, 3]"
    );
    let tiles_wide = w.div_ceil(2);
    let tiles = h.div_ceil(2) * tiles_wide;
    let u = transform_weights(weight, c_out, c_in);
    let chunk = images_per_task(n);
    let group = (GEMM_TILES / tiles).max(1).min(chunk);
    let padded = |images: usize| (images * tiles).next_multiple_of(COLUMN_MULTIPLE);
    read_im2col_blocks_in_place();
    let mut out = uninit_buffer(n * c_out * hw);
    out.par_chunks_mut(chunk * c_out * hw)
        .zip(x.par_chunks(chunk * c_in * hw))
        .for_each(|(out_chunk, x_chunk)| {
            // Columns past the images' tiles pad the GEMMs to whole vectors; they hold earlier
            // values (finite) and are computed and dropped.
            let mut v = vec![0.0f32; POSITIONS * c_in * padded(group)];
            let mut m = vec![0.0f32; POSITIONS * c_out * padded(group)];
            let mut input = InputTransform::new(h, w);
            let mut pixels: [Vec<f32>; 4] = std::array::from_fn(|_| vec![0.0f32; tiles * group]);
            for (out_group, x_group) in out_chunk
                .chunks_mut(group * c_out * hw)
                .zip(x_chunk.chunks(group * c_in * hw))
            {
                let images = x_group.len() / (c_in * hw);
                let columns = padded(images);
                for (image, planes) in x_group.chunks_exact(c_in * hw).enumerate() {
                    for (ci, plane) in planes.chunks_exact(hw).enumerate() {
                        let offset = ci * columns + image * tiles;
                        input.write(plane, &mut v, offset, c_in * columns);
                    }
                }
                for e in 0..POSITIONS {
                    let result = &mut m[e * c_out * columns..][..c_out * columns];
                    // SAFETY: gemm writes only computed values into it.
                    let dst = Destination::Overwrite(unsafe { as_uninit(result) });
                    let lhs = &u[e * c_out * c_in..][..c_out * c_in];
                    let rhs = &v[e * c_in * columns..][..c_in * columns];
                    matmul((c_out, columns, c_in), dst, lhs, rhs, false);
                }
                let used = images * tiles;
                for co in 0..c_out {
                    let rows: [&[f32]; POSITIONS] =
                        std::array::from_fn(|e| &m[(e * c_out + co) * columns..][..used]);
                    let mut run = pixels.each_mut().map(|p| &mut p[..used]);
                    transform_output_tiles(&rows, &mut run);
                    let run = run.map(|p| &*p);
                    for (image, planes) in out_group.chunks_exact_mut(c_out * hw).enumerate() {
                        let tile_pixels = run.map(|p| &p[image * tiles..][..tiles]);
                        let plane = &mut planes[co * hw..][..hw];
                        scatter_tiles(&tile_pixels, (h, w), tiles_wide, plane);
                    }
                }
            }
        });
    // SAFETY: every group covers whole images and every output channel of each is visited;
    // `scatter_tiles` writes each of a plane's `h` rows whole (its `w / 2` pixel pairs, then
    // the last pixel on odd widths).
    unsafe { assume_written(out) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::im2col::tests::{naive_conv, values};
    use crate::im2col::{conv3x3_choosing, conv3x3_im2col_f32, flipped_transposed};

    #[test]
    fn matches_the_definition_on_odd_and_even_shapes() {
        for (dims @ [n, c_in, h, w], c_out) in [
            ([3, 2, 5, 7], 3),
            ([1, 1, 1, 1], 2),
            ([2, 3, 1, 4], 3),
            ([2, 3, 6, 1], 1),
            ([5, 4, 3, 2], 3),
            ([2, 3, 28, 28], 4),
            ([3, 16, 14, 14], 8),
            // 7x7 images six to a GEMM (96 tiles), the last group not full (one or two
            // threads); 16x16 images, whose rows of 8 tiles are exactly one chunk.
            ([37, 5, 7, 7], 6),
            ([2, 3, 16, 16], 2),
            ([1, 2, 40, 34], 3),
        ] {
            let x = values(n * c_in * h * w, 1);
            let weight = values(c_out * c_in * 9, 2);
            let fast = conv3x3_winograd_f32(&x, dims, &weight, c_out);
            let slow = naive_conv(&x, dims, &weight, c_out);
            assert_eq!(fast.len(), slow.len());
            for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
                assert!(
                    (a - b).abs() < 1e-4,
                    "{dims:?} -> {c_out} [{i}]: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn input_gradient_shapes_match_im2col() {
        // As the input gradient runs it: the output gradient convolved with the weights
        // transposed and flipped, 7x7 and 14x14 planes with more channels than the forward.
        for (dims @ [n, c_out, h, w], c_in) in [([5, 24, 7, 7], 16), ([3, 32, 14, 14], 20)] {
            let dy = values(n * c_out * h * w, 5);
            let weight = values(c_out * c_in * 9, 6);
            let flipped = flipped_transposed(&weight, c_out, c_in);
            let fast = conv3x3_winograd_f32(&dy, dims, &flipped, c_in);
            let reference = conv3x3_im2col_f32(&dy, dims, &flipped, c_in);
            let scale = reference.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            for (i, (a, b)) in fast.iter().zip(&reference).enumerate() {
                assert!((a - b).abs() <= 2e-5 * scale, "{dims:?} [{i}]: {a} vs {b}");
            }
        }
    }

    #[test]
    fn switched_on_it_takes_the_convolutions_with_enough_channels() {
        let run = |dims @ [n, c_in, h, w]: [usize; 4], c_out: usize| {
            let x = values(n * c_in * h * w, 7);
            let weight = values(c_out * c_in * 9, 8);
            let chosen = conv3x3_choosing(&x, dims, &weight, c_out, true);
            let winograd = conv3x3_winograd_f32(&x, dims, &weight, c_out);
            let im2col = conv3x3_im2col_f32(&x, dims, &weight, c_out);
            (chosen, winograd, im2col)
        };
        let (chosen, winograd, im2col) = run([2, 16, 14, 14], 4);
        assert_eq!(chosen, winograd);
        assert_ne!(chosen, im2col, "the two differ in their last bits");
        // One input channel (the first convolution), and images a pixel wide: im2col.
        for dims in [[2, 1, 28, 28], [2, 16, 5, 1]] {
            let (chosen, _, im2col) = run(dims, 4);
            assert_eq!(chosen, im2col, "{dims:?}");
        }
        // Switched off, everything is im2col.
        let x = values(2 * 16 * 14 * 14, 7);
        let weight = values(4 * 16 * 9, 8);
        let off = conv3x3_choosing(&x, [2, 16, 14, 14], &weight, 4, false);
        assert_eq!(off, conv3x3_im2col_f32(&x, [2, 16, 14, 14], &weight, 4));
    }
}
