//! Turning stored `u8` images into normalised `f32` model inputs, with the training-time
//! augmentation: random crop from a zero-padded image, horizontal flip, random erasing.

use crate::{PIXELS, SIDE};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Mean and standard deviation of Fashion-MNIST's training pixels (scaled to 0..1).
const MEAN: f32 = 0.2860;
const STD: f32 = 0.3530;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Augmentation {
    /// Maximum shift in pixels of the random crop (the padding around the image).
    pub crop_padding: usize,
    pub horizontal_flip: bool,
    /// Probability of erasing one random rectangle (0 turns it off).
    pub random_erasing: f32,
}

impl Default for Augmentation {
    fn default() -> Self {
        Self {
            crop_padding: 2,
            horizontal_flip: true,
            random_erasing: 0.0,
        }
    }
}

fn normalize(pixel: u8) -> f32 {
    (pixel as f32 / 255.0 - MEAN) / STD
}

/// The evaluation-time input: the image, normalised, nothing else.
pub fn normalize_into(image: &[u8], out: &mut [f32]) {
    for (o, &p) in out.iter_mut().zip(image) {
        *o = normalize(p);
    }
}

/// The training-time input; `rng` decides every random choice.
pub fn augment_into(image: &[u8], aug: &Augmentation, rng: &mut impl Rng, out: &mut [f32]) {
    debug_assert_eq!(image.len(), PIXELS);
    let pad = aug.crop_padding as i32;
    let (dy, dx) = if pad > 0 {
        (
            rng.random_range(-pad..=pad) as isize,
            rng.random_range(-pad..=pad) as isize,
        )
    } else {
        (0, 0)
    };
    let flip = aug.horizontal_flip && rng.random_bool(0.5);
    translate_into(image, out, (-dy, -dx), flip, normalize);
    if aug.random_erasing > 0.0 && rng.random_bool(aug.random_erasing.clamp(0.0, 1.0) as f64) {
        erase_rectangle(rng, out);
    }
}

/// Normalised images (`SIDE x SIDE` each, as [`normalize_into`] writes them) with their content
/// moved `dy` rows down and `dx` columns right, the uncovered border black: the test-time
/// counterpart of the training crops.
pub fn shift_normalized(images: &[f32], dy: isize, dx: isize) -> Vec<f32> {
    let mut out = vec![0.0; images.len()];
    for (src, dst) in images
        .chunks_exact(PIXELS)
        .zip(out.chunks_exact_mut(PIXELS))
    {
        translate_into(src, dst, (dy, dx), false, |v| v);
    }
    out
}

/// One image's pixels, mirrored left-right when `flip`, then moved `dy` rows down and `dx`
/// columns right, each turned into the network's input by `value`; the uncovered border is
/// black ([`normalize`] of 0). Training crops and test-time shifts are both this.
fn translate_into<P: Copy>(
    image: &[P],
    out: &mut [f32],
    (dy, dx): (isize, isize),
    flip: bool,
    value: impl Fn(P) -> f32,
) {
    let side = SIDE as isize;
    let background = normalize(0);
    for y in 0..side {
        for x in 0..side {
            let sx = if flip { side - 1 - x } else { x } - dx;
            let sy = y - dy;
            out[(y * side + x) as usize] = if (0..side).contains(&sx) && (0..side).contains(&sy) {
                value(image[(sy * side + sx) as usize])
            } else {
                background
            };
        }
    }
}

/// Zhong et al.'s random erasing: a rectangle of 2-25% of the area, aspect 0.3-3.3, set to
/// the mean (0 after normalisation).
fn erase_rectangle(rng: &mut impl Rng, out: &mut [f32]) {
    let area = (SIDE * SIDE) as f32;
    for _ in 0..10 {
        let target = rng.random_range(0.02..0.25) * area;
        let aspect = rng.random_range(0.3f32.ln()..3.3f32.ln()).exp();
        let h = (target * aspect).sqrt().round() as usize;
        let w = (target / aspect).sqrt().round() as usize;
        if h == 0 || w == 0 || h >= SIDE || w >= SIDE {
            continue;
        }
        let top = rng.random_range(0..=SIDE - h);
        let left = rng.random_range(0..=SIDE - w);
        for y in top..top + h {
            out[y * SIDE + left..y * SIDE + left + w].fill(0.0);
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn gradient_image() -> Vec<u8> {
        (0..PIXELS).map(|i| (i % SIDE * 9) as u8).collect()
    }

    #[test]
    fn shifts_move_the_content_and_blacken_the_border() {
        let mut two = vec![0.0; 2 * PIXELS];
        // Every pixel differs from its neighbours in both directions.
        let diagonal: Vec<u8> = (0..PIXELS)
            .map(|i| ((i / SIDE) * 7 + (i % SIDE) * 2) as u8)
            .collect();
        normalize_into(&diagonal, &mut two[..PIXELS]);
        normalize_into(&vec![200; PIXELS], &mut two[PIXELS..]);
        let right = shift_normalized(&two, 0, 1);
        let up = shift_normalized(&two, -1, 0);
        for image in 0..2 {
            let at = |v: &[f32], y: usize, x: usize| v[image * PIXELS + y * SIDE + x];
            for y in 0..SIDE {
                assert_eq!(at(&right, y, 0), normalize(0));
                assert_eq!(at(&up, SIDE - 1, y), normalize(0));
                for x in 1..SIDE {
                    assert_eq!(at(&right, y, x), at(&two, y, x - 1));
                }
                if y + 1 < SIDE {
                    assert_eq!(at(&up, y, 5), at(&two, y + 1, 5));
                }
            }
        }
        assert_eq!(shift_normalized(&two, 0, 0), two);
    }

    #[test]
    fn no_augmentation_is_plain_normalisation() {
        let img = gradient_image();
        let aug = Augmentation {
            crop_padding: 0,
            horizontal_flip: false,
            random_erasing: 0.0,
        };
        let mut a = vec![0.0; PIXELS];
        let mut b = vec![0.0; PIXELS];
        augment_into(&img, &aug, &mut ChaCha8Rng::seed_from_u64(1), &mut a);
        normalize_into(&img, &mut b);
        assert_eq!(a, b);
        assert!((b[0] - (-MEAN / STD)).abs() < 1e-6);
    }

    #[test]
    fn augmentation_is_seeded_and_stays_in_range() {
        let img = gradient_image();
        let aug = Augmentation {
            random_erasing: 1.0,
            ..Augmentation::default()
        };
        let run = |seed| {
            let mut out = vec![0.0; PIXELS];
            augment_into(&img, &aug, &mut ChaCha8Rng::seed_from_u64(seed), &mut out);
            out
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        let (lo, hi) = (normalize(0), normalize(255));
        assert!(run(5).iter().all(|v| (lo..=hi).contains(v) || *v == 0.0));
    }

    #[test]
    fn flip_mirrors_columns() {
        let img = gradient_image();
        let aug = Augmentation {
            crop_padding: 0,
            horizontal_flip: true,
            random_erasing: 0.0,
        };
        let mut plain = vec![0.0; PIXELS];
        normalize_into(&img, &mut plain);
        let mut seen_flip = false;
        for seed in 0..16 {
            let mut out = vec![0.0; PIXELS];
            augment_into(&img, &aug, &mut ChaCha8Rng::seed_from_u64(seed), &mut out);
            if out != plain {
                seen_flip = true;
                assert_eq!(out[0], plain[SIDE - 1]);
            }
        }
        assert!(seen_flip);
    }
}
