//! Any picture of a garment, in any size, colour and common format, as the 28x28 grayscale
//! image the model was trained on. Fashion-MNIST's own recipe (its paper, section 2): trim
//! the product's background, resize the longest edge to 28, centre it, convert to grayscale
//! and negate the intensities, so garments are light on a black background.

use image::{DynamicImage, GrayImage, ImageFormat, Luma};
use std::io::Cursor;

pub const SIDE: usize = 28;

/// Pixels of one 28x28 image, row by row, light on dark like Fashion-MNIST.
pub type Pixels = [u8; SIDE * SIDE];

/// Larger pictures are refused before decoding: a small file can claim a huge canvas.
const MAX_SIDE: u32 = 16_384;
const MAX_DECODED_BYTES: u64 = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("not an image in a supported format (PNG, JPEG, BMP or GIF): {0}")]
    Unsupported(String),
    #[error("the image could not be decoded: {0}")]
    Decode(String),
    #[error("the image is empty (0 pixels wide or high)")]
    Empty,
}

/// What was done to a picture to make it look like Fashion-MNIST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    pub pixels: Pixels,
    pub format: ImageFormat,
    pub original_width: u32,
    pub original_height: u32,
    /// The background was light (a photo on white), so intensities were negated.
    pub inverted: bool,
}

/// Decodes `bytes` (the format is read from the content, not a file name; a GIF gives its
/// first frame) and prepares it like Fashion-MNIST.
pub fn prepare(bytes: &[u8]) -> Result<Prepared, ImageError> {
    let reader = image::io::Reader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::Decode(e.to_string()))?;
    let format = match reader.format() {
        Some(f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Bmp | ImageFormat::Gif)) => f,
        Some(other) => return Err(ImageError::Unsupported(format!("{other:?}"))),
        None => {
            return Err(ImageError::Unsupported(
                "the content matches no known image format".into(),
            ));
        }
    };
    let mut reader = reader;
    let mut limits = image::io::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    reader.limits(limits);
    let decoded = reader
        .decode()
        .map_err(|e| ImageError::Decode(e.to_string()))?;
    let (original_width, original_height) = (decoded.width(), decoded.height());
    if original_width == 0 || original_height == 0 {
        return Err(ImageError::Empty);
    }
    let (pixels, inverted) = fashion_mnist_style(&decoded);
    Ok(Prepared {
        pixels,
        format,
        original_width,
        original_height,
        inverted,
    })
}

/// Grayscale, light-on-dark, trimmed, longest edge 28, centred on black. A 28x28 picture
/// that is already light on dark (a Fashion-MNIST image, e.g. from `export-automl`) is used
/// as it is: trimming would enlarge garments that leave a margin, like sandals.
fn fashion_mnist_style(picture: &DynamicImage) -> (Pixels, bool) {
    let gray = flatten_on_white(picture);
    let background = border_mean(&gray);
    let inverted = background > 127.0;
    let mut gray = gray;
    if !inverted && gray.dimensions() == (SIDE as u32, SIDE as u32) {
        let mut pixels = [0u8; SIDE * SIDE];
        pixels.copy_from_slice(gray.as_raw());
        return (pixels, false);
    }
    if inverted {
        image::imageops::invert(&mut gray);
    }
    let background = if inverted {
        255.0 - background
    } else {
        background
    };
    let (x0, y0, w, h) = content_box(&gray, background);
    let content = image::imageops::crop_imm(&gray, x0, y0, w, h).to_image();
    // Fashion-MNIST's images fill the frame along their longest edge.
    let scale = SIDE as f64 / w.max(h) as f64;
    let new_w = ((w as f64 * scale).round() as u32).clamp(1, SIDE as u32);
    let new_h = ((h as f64 * scale).round() as u32).clamp(1, SIDE as u32);
    let resized = image::imageops::resize(
        &content,
        new_w,
        new_h,
        image::imageops::FilterType::Triangle,
    );
    let mut canvas = GrayImage::from_pixel(SIDE as u32, SIDE as u32, Luma([0]));
    let (left, top) = ((SIDE as u32 - new_w) / 2, (SIDE as u32 - new_h) / 2);
    image::imageops::overlay(&mut canvas, &resized, left.into(), top.into());
    let mut pixels = [0u8; SIDE * SIDE];
    pixels.copy_from_slice(canvas.as_raw());
    (pixels, inverted)
}

/// Grayscale, with transparent parts shown as white: a product cut out of its photo keeps the
/// white background it was shot on.
fn flatten_on_white(picture: &DynamicImage) -> GrayImage {
    let with_alpha = picture.to_luma_alpha8();
    GrayImage::from_fn(with_alpha.width(), with_alpha.height(), |x, y| {
        let [l, a] = with_alpha.get_pixel(x, y).0;
        let a = a as u32;
        Luma([((l as u32 * a + 255 * (255 - a)) / 255) as u8])
    })
}

/// Mean intensity of the outermost pixels: what the picture's background looks like.
fn border_mean(gray: &GrayImage) -> f64 {
    let (w, h) = gray.dimensions();
    let mut sum = 0u64;
    let mut count = 0u64;
    for (x, y, p) in gray.enumerate_pixels() {
        if x == 0 || y == 0 || x == w - 1 || y == h - 1 {
            sum += p.0[0] as u64;
            count += 1;
        }
    }
    sum as f64 / count.max(1) as f64
}

/// The smallest box holding every pixel that stands out from the background; the whole
/// picture when nothing does.
fn content_box(gray: &GrayImage, background: f64) -> (u32, u32, u32, u32) {
    const STANDS_OUT: f64 = 32.0;
    let (w, h) = gray.dimensions();
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    for (x, y, p) in gray.enumerate_pixels() {
        if (p.0[0] as f64 - background).abs() > STANDS_OUT {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    if x0 > x1 {
        (0, 0, w, h)
    } else {
        (x0, y0, x1 - x0 + 1, y1 - y0 + 1)
    }
}

/// Writes a 28x28 image as PNG (for `export-automl`).
pub fn png_bytes(pixels: &Pixels) -> Result<Vec<u8>, ImageError> {
    let image = GrayImage::from_raw(SIDE as u32, SIDE as u32, pixels.to_vec())
        .ok_or_else(|| ImageError::Decode("not 28x28 pixels".into()))?;
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, ImageFormat::Png)
        .map_err(|e| ImageError::Decode(e.to_string()))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    fn encode(picture: DynamicImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        picture.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    /// A dark-red 60x30 "garment" on a white 200x100 photo, off centre.
    fn product_photo() -> DynamicImage {
        let mut photo = RgbImage::from_pixel(200, 100, Rgb([250, 250, 250]));
        for y in 10..40 {
            for x in 20..80 {
                photo.put_pixel(x, y, Rgb([120, 20, 20]));
            }
        }
        DynamicImage::ImageRgb8(photo)
    }

    fn at(p: &Pixels, x: usize, y: usize) -> u8 {
        p[y * SIDE + x]
    }

    #[test]
    fn a_photo_on_white_becomes_a_light_garment_on_black_filling_the_frame() {
        for format in [
            ImageFormat::Png,
            ImageFormat::Jpeg,
            ImageFormat::Bmp,
            ImageFormat::Gif,
        ] {
            let prepared = prepare(&encode(product_photo(), format)).unwrap();
            assert_eq!(prepared.format, format);
            assert_eq!(
                (prepared.original_width, prepared.original_height),
                (200, 100)
            );
            assert!(prepared.inverted, "{format:?}");
            let p = &prepared.pixels;
            // 60x30 trimmed and scaled to 28x14, centred: rows 7..21 hold it.
            assert!(at(p, 14, 14) > 150, "{format:?}: centre {}", at(p, 14, 14));
            assert!(
                at(p, 1, 14) > 150 && at(p, 26, 14) > 150,
                "{format:?}: fills the width"
            );
            assert!(
                at(p, 14, 2) < 30 && at(p, 14, 25) < 30,
                "{format:?}: black above and below"
            );
        }
    }

    #[test]
    fn light_on_dark_pictures_are_not_inverted() {
        let mut picture = RgbImage::from_pixel(28, 28, Rgb([0, 0, 0]));
        for y in 4..24 {
            for x in 8..20 {
                picture.put_pixel(x, y, Rgb([200, 200, 200]));
            }
        }
        let prepared =
            prepare(&encode(DynamicImage::ImageRgb8(picture), ImageFormat::Png)).unwrap();
        assert!(!prepared.inverted);
        assert!(at(&prepared.pixels, 14, 14) > 150);
        assert!(at(&prepared.pixels, 1, 14) < 30);
    }

    #[test]
    fn transparency_counts_as_white_background() {
        let mut picture = RgbaImage::from_pixel(40, 40, Rgba([0, 0, 0, 0]));
        for y in 10..30 {
            for x in 10..30 {
                picture.put_pixel(x, y, Rgba([30, 30, 30, 255]));
            }
        }
        let prepared =
            prepare(&encode(DynamicImage::ImageRgba8(picture), ImageFormat::Png)).unwrap();
        assert!(prepared.inverted);
        assert!(at(&prepared.pixels, 14, 14) > 200);
    }

    #[test]
    fn a_fashion_mnist_image_round_trips_through_png_and_prepare() {
        // A small garment with a margin: prepared as it is, not trimmed and enlarged.
        let pixels: Pixels = std::array::from_fn(|i| {
            let (x, y) = (i % SIDE, i / SIDE);
            if (10..18).contains(&x) && (6..22).contains(&y) {
                (40 + x * 9) as u8
            } else {
                0
            }
        });
        let bytes = png_bytes(&pixels).unwrap();
        let decoded = image::load_from_memory(&bytes).unwrap().to_luma8();
        assert_eq!(decoded.as_raw().as_slice(), pixels.as_slice());
        let prepared = prepare(&bytes).unwrap();
        assert!(!prepared.inverted);
        assert_eq!(prepared.pixels, pixels);
    }

    #[test]
    fn garbage_and_unsupported_formats_are_refused() {
        assert!(matches!(
            prepare(b"hello, not an image"),
            Err(ImageError::Unsupported(_))
        ));
        let mut png = encode(product_photo(), ImageFormat::Png);
        png.truncate(60);
        assert!(matches!(prepare(&png), Err(ImageError::Decode(_))));
    }
}
