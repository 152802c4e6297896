//! The misclassified test images of the most confused class pairs, the model's most
//! confident mistakes first.

use crate::charts::{Chart, ChartError, FONT, draw_both_sized};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// Side of a Fashion-MNIST image, in pixels.
pub const IMAGE_SIDE: usize = 28;
const SCALE: usize = 3;
const PER_ROW: usize = 8;
const ROW_HEIGHT: i32 = 150;
const HEADER: i32 = 60;

/// A (true class, predicted class) pair and its worst examples.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfusedPair {
    pub true_class: usize,
    pub predicted: usize,
    /// Test images of `true_class` predicted as `predicted`.
    pub count: usize,
    pub examples: Vec<Misclassified>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Misclassified {
    /// Position of the image in the t10k files.
    pub index: usize,
    /// The probability the model gave the wrong class.
    pub score: f64,
}

/// The `pairs` most frequent confusions (ties: lower class numbers first), each with up to
/// `per_pair` images, highest wrong score first.
pub fn most_confused(
    indices: &[usize],
    labels: &[usize],
    probabilities: &[Vec<f64>],
    pairs: usize,
    per_pair: usize,
) -> Vec<ConfusedPair> {
    let mut found: std::collections::BTreeMap<(usize, usize), Vec<Misclassified>> =
        Default::default();
    for ((&index, &label), p) in indices.iter().zip(labels).zip(probabilities) {
        let predicted = metrics::argmax(p);
        if predicted != label {
            found
                .entry((label, predicted))
                .or_default()
                .push(Misclassified {
                    index,
                    score: p[predicted],
                });
        }
    }
    let mut ranked: Vec<ConfusedPair> = found
        .into_iter()
        .map(|((true_class, predicted), mut examples)| {
            examples.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
            let count = examples.len();
            examples.truncate(per_pair);
            ConfusedPair {
                true_class,
                predicted,
                count,
                examples,
            }
        })
        .collect();
    // Stable: among equal counts the map's (true, predicted) order stays.
    ranked.sort_by_key(|p| std::cmp::Reverse(p.count));
    ranked.truncate(pairs);
    ranked
}

/// Size of a gallery of `rows` confused pairs.
pub fn gallery_size(rows: usize) -> (u32, u32) {
    (1000, (HEADER + ROW_HEIGHT * rows.max(1) as i32 + 10) as u32)
}

/// Draws the gallery. `image(index)` gives the 28x28 grayscale pixels of a test image; an
/// image it cannot give is an error.
pub fn gallery_chart(
    class_names: &[String],
    pairs: &[ConfusedPair],
    image: &dyn Fn(usize) -> Option<Vec<u8>>,
    stem: &Path,
) -> Result<(), ChartError> {
    let name = |c: usize| class_names.get(c).cloned().unwrap_or_else(|| c.to_string());
    let mut rows = Vec::with_capacity(pairs.len());
    for pair in pairs {
        let mut pictures = Vec::with_capacity(pair.examples.len());
        for example in &pair.examples {
            let pixels = image(example.index)
                .filter(|p| p.len() == IMAGE_SIDE * IMAGE_SIDE)
                .ok_or_else(|| ChartError::Draw {
                    path: stem.with_extension("svg"),
                    reason: format!("test image {} is not available", example.index),
                })?;
            pictures.push((*example, upscale(&pixels)));
        }
        rows.push(GalleryRow {
            caption: format!(
                "true {}, predicted {}: {} test image{}",
                name(pair.true_class),
                name(pair.predicted),
                pair.count,
                if pair.count == 1 { "" } else { "s" }
            ),
            pictures,
        });
    }
    draw_both_sized(stem, gallery_size(rows.len()), &Gallery { rows })
}

/// Grayscale to RGB, each pixel a SCALE x SCALE block.
fn upscale(pixels: &[u8]) -> Vec<u8> {
    let side = IMAGE_SIDE * SCALE;
    let mut rgb = Vec::with_capacity(side * side * 3);
    for y in 0..side {
        for x in 0..side {
            let v = pixels[(y / SCALE) * IMAGE_SIDE + x / SCALE];
            rgb.extend_from_slice(&[v, v, v]);
        }
    }
    rgb
}

struct GalleryRow {
    caption: String,
    pictures: Vec<(Misclassified, Vec<u8>)>,
}

struct Gallery {
    rows: Vec<GalleryRow>,
}

impl Chart for Gallery {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let style = |size: u32, h: HPos| {
            (FONT, size)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(h, VPos::Top))
        };
        root.draw(&Text::new(
            "Misclassified test images: the most frequent confusions, most confident first"
                .to_string(),
            (500, 16),
            style(20, HPos::Center),
        ))
        .map_err(err)?;
        if self.rows.is_empty() {
            root.draw(&Text::new(
                "No test image is misclassified.".to_string(),
                (500, HEADER + 20),
                style(16, HPos::Center),
            ))
            .map_err(err)?;
        }
        let side = (IMAGE_SIDE * SCALE) as i32;
        let step = 1000 / PER_ROW as i32;
        for (r, row) in self.rows.iter().enumerate() {
            let top = HEADER + r as i32 * ROW_HEIGHT;
            root.draw(&Text::new(
                row.caption.clone(),
                (24, top),
                style(16, HPos::Left),
            ))
            .map_err(err)?;
            for (i, (example, rgb)) in row.pictures.iter().enumerate() {
                let x = 24 + i as i32 * step;
                let y = top + 26;
                let bitmap = BitMapElement::<(i32, i32)>::with_owned_buffer(
                    (x, y),
                    (side as u32, side as u32),
                    rgb.clone(),
                )
                .ok_or("an image buffer has the wrong size")?;
                root.draw(&bitmap).map_err(err)?;
                root.draw(&Text::new(
                    format!("#{}  p={:.2}", example.index, example.score),
                    (x + side / 2, y + side + 6),
                    style(13, HPos::Center),
                ))
                .map_err(err)?;
            }
        }
        root.present().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::test_support::{assert_png, read_svg};

    #[test]
    fn picks_the_most_frequent_confusions_and_the_most_confident_examples() {
        // Class 1 taken for 0 three times, 2 for 0 once, one image right.
        let indices = vec![10, 11, 12, 13, 14];
        let labels = vec![1, 1, 1, 2, 0];
        let probs = vec![
            vec![0.6, 0.4, 0.0],
            vec![0.9, 0.1, 0.0],
            vec![0.7, 0.2, 0.1],
            vec![0.5, 0.2, 0.3],
            vec![0.8, 0.1, 0.1],
        ];
        let pairs = most_confused(&indices, &labels, &probs, 5, 2);
        assert_eq!(pairs.len(), 2);
        assert_eq!(
            (pairs[0].true_class, pairs[0].predicted, pairs[0].count),
            (1, 0, 3)
        );
        assert_eq!(
            pairs[0].examples,
            vec![
                Misclassified {
                    index: 11,
                    score: 0.9
                },
                Misclassified {
                    index: 12,
                    score: 0.7
                }
            ]
        );
        assert_eq!((pairs[1].true_class, pairs[1].count), (2, 1));
        assert_eq!(most_confused(&indices, &labels, &probs, 1, 8).len(), 1);
    }

    #[test]
    fn gallery_embeds_the_images_and_names_the_classes() {
        let names: Vec<String> = ["T-shirt/top", "Shirt"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let pairs = vec![ConfusedPair {
            true_class: 1,
            predicted: 0,
            count: 12,
            examples: vec![
                Misclassified {
                    index: 7,
                    score: 0.93,
                },
                Misclassified {
                    index: 42,
                    score: 0.61,
                },
            ],
        }];
        let image = |index: usize| Some(vec![(index * 3 % 256) as u8; IMAGE_SIDE * IMAGE_SIDE]);
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("misclassified");
        gallery_chart(&names, &pairs, &image, &stem).unwrap();
        let size = gallery_size(1);
        let svg = read_svg(&stem, size);
        for text in [
            "true Shirt, predicted T-shirt/top: 12 test images",
            "#7  p=0.93",
            "#42  p=0.61",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
        // Images go in as embedded PNGs, not one rectangle per pixel.
        assert_eq!(svg.matches("data:image/png;base64,").count(), 2);
        assert!(svg.len() < 200_000, "{} bytes", svg.len());
        assert_png(&stem, size);

        let missing = |_: usize| None;
        let err = gallery_chart(&names, &pairs, &missing, &stem)
            .unwrap_err()
            .to_string();
        assert!(err.contains("test image 7"), "{err}");
    }

    #[test]
    fn upscaling_repeats_each_pixel() {
        let mut pixels = vec![0u8; IMAGE_SIDE * IMAGE_SIDE];
        pixels[1] = 200;
        let rgb = upscale(&pixels);
        let side = IMAGE_SIDE * SCALE;
        assert_eq!(rgb.len(), side * side * 3);
        let at = |x: usize, y: usize| rgb[(y * side + x) * 3];
        assert_eq!((at(3, 0), at(5, 2), at(6, 0), at(2, 0)), (200, 200, 0, 0));
    }
}
