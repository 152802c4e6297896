//! Running a trained model over a set of images.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use fmnist::{BatchStream, Images, SIDE};
use model::Classifier;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;

/// Class probabilities for each image of `indices`, in that order, plus the labels.
pub struct Predictions {
    pub labels: Vec<usize>,
    pub probabilities: Vec<Vec<f64>>,
}

impl Predictions {
    pub fn accuracy(&self) -> f64 {
        let correct = self
            .labels
            .iter()
            .zip(&self.probabilities)
            .filter(|(l, p)| metrics::argmax(p) == **l)
            .count();
        correct as f64 / self.labels.len().max(1) as f64
    }

    /// Mean cross-entropy of the true class (no label smoothing).
    pub fn loss(&self) -> f64 {
        let total: f64 = self
            .labels
            .iter()
            .zip(&self.probabilities)
            .map(|(&l, p)| -p[l].max(1e-12).ln())
            .sum();
        total / self.labels.len().max(1) as f64
    }
}

/// Which views of each image a model's probabilities average. Clothes are left-right
/// symmetric and training saw crops shifted by up to two pixels, so the views disagree mostly
/// where the model is unsure; which set a saved model uses is decided on VALIDATION
/// ([`MirrorChoice`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Views {
    /// The image alone.
    Plain,
    /// The image and its mirror image (horizontal flip).
    Mirror,
    /// The image and its mirror, each also shifted one pixel up, down, left and right: ten
    /// forward passes per image.
    MirrorShifted,
}

/// The one-pixel shifts (rows down, columns right) of [`Views::MirrorShifted`].
const SHIFTS: [(isize, isize); 4] = [(0, 1), (0, -1), (1, 0), (-1, 0)];

/// `model` (one network or an ensemble) must be an inference copy (`model.valid()`), on
/// `device`. Each image's probabilities are the mean over `views`.
pub fn predict(
    model: &impl Classifier,
    images: Arc<Images>,
    labels: Arc<Vec<u8>>,
    indices: Vec<usize>,
    batch_size: usize,
    device: &Device,
    views: Views,
) -> Predictions {
    let mut all = predict_views(model, images, labels, indices, batch_size, device, views);
    all.pop().unwrap_or_else(|| Predictions {
        labels: Vec::new(),
        probabilities: Vec::new(),
    })
}

/// The predictions of every set of views up to `widest`, from one pass over the images (each
/// forward pass computed once): `[plain]`, `[plain, mirror]` or `[plain, mirror,
/// mirror-shifted]`.
pub fn predict_views(
    model: &impl Classifier,
    images: Arc<Images>,
    labels: Arc<Vec<u8>>,
    indices: Vec<usize>,
    batch_size: usize,
    device: &Device,
    widest: Views,
) -> Vec<Predictions> {
    // One set per variant up to `widest`, in declaration order.
    let mut out: Vec<Predictions> = (0..=widest as usize)
        .map(|_| Predictions {
            labels: Vec::with_capacity(indices.len()),
            probabilities: Vec::with_capacity(indices.len()),
        })
        .collect();
    let tensor = |pixels: Vec<f32>, n: usize| {
        Tensor::<4>::from_data(TensorData::new(pixels, [n, 1, SIDE, SIDE]), device)
    };
    for batch in BatchStream::evaluation(images, labels, indices, batch_size) {
        let n = batch.len();
        let shifted: Vec<Vec<f32>> = if widest == Views::MirrorShifted {
            SHIFTS
                .iter()
                .map(|&(dy, dx)| fmnist::shift_normalized(&batch.images, dy, dx))
                .collect()
        } else {
            Vec::new()
        };
        let x = tensor(batch.images, n);
        let mut sets = vec![probability_rows(model, x.clone(), n)];
        // The running sum is only needed (and the plain rows only copied) beyond one view:
        // validation during training asks for the plain view alone, every pass.
        if widest >= Views::Mirror {
            let mut sum = sets[0].clone();
            add_rows(&mut sum, probability_rows(model, x.flip([3]), n));
            sets.push(scaled(&sum, 2));
            if widest == Views::MirrorShifted {
                for pixels in shifted {
                    let x = tensor(pixels, n);
                    add_rows(&mut sum, probability_rows(model, x.clone(), n));
                    add_rows(&mut sum, probability_rows(model, x.flip([3]), n));
                }
                sets.push(scaled(&sum, 2 + 2 * SHIFTS.len()));
            }
        }
        for (set, rows) in out.iter_mut().zip(sets) {
            set.labels.extend(batch.labels.iter().map(|&l| l as usize));
            set.probabilities.extend(rows);
        }
    }
    out
}

fn add_rows(sum: &mut [Vec<f64>], rows: Vec<Vec<f64>>) {
    for (s, row) in sum.iter_mut().zip(rows) {
        s.iter_mut().zip(row).for_each(|(a, b)| *a += b);
    }
}

fn scaled(sum: &[Vec<f64>], views: usize) -> Vec<Vec<f64>> {
    sum.iter()
        .map(|row| row.iter().map(|v| v / views as f64).collect())
        .collect()
}

fn probability_rows(model: &impl Classifier, x: Tensor<4>, n: usize) -> Vec<Vec<f64>> {
    let probs = softmax(model.logits(x), 1).into_data().convert::<f32>();
    // After `convert` the element type is f32 by construction.
    let values: Vec<f32> = probs.try_into_vec().unwrap_or_default();
    let classes = values.len() / n.max(1);
    values
        .chunks(classes.max(1))
        .map(|row| row.iter().map(|&v| v as f64).collect())
        .collect()
}

/// Which views the saved model averages (see [`Views`]). Decided after training on
/// VALIDATION, never on TEST: the most accurate set there, ties going to fewer views.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MirrorChoice {
    /// The image and its mirror image.
    pub enabled: bool,
    pub validation_accuracy_plain: f64,
    pub validation_accuracy_mirrored: f64,
    /// [`Views::MirrorShifted`]: absent in cards saved before it existed, which `trainer
    /// evaluate` then measures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_accuracy_shifted: Option<f64>,
    /// The ten views won.
    #[serde(default)]
    pub shifted: bool,
    /// Time the decision took (one pass over VALIDATION, every view), after the budget.
    pub seconds: f64,
}

impl MirrorChoice {
    pub fn decide(
        model: &impl Classifier,
        images: Arc<Images>,
        labels: Arc<Vec<u8>>,
        validation: Vec<usize>,
        batch_size: usize,
        device: &Device,
    ) -> Self {
        let start = Instant::now();
        let accuracies: Vec<f64> = predict_views(
            model,
            images,
            labels,
            validation,
            batch_size,
            device,
            Views::MirrorShifted,
        )
        .iter()
        .map(Predictions::accuracy)
        .collect();
        let (plain, mirrored, shifted) = match accuracies[..] {
            [plain, mirrored, shifted] => (plain, mirrored, shifted),
            _ => (0.0, 0.0, 0.0),
        };
        MirrorChoice {
            enabled: mirrored > plain,
            validation_accuracy_plain: plain,
            validation_accuracy_mirrored: mirrored,
            validation_accuracy_shifted: Some(shifted),
            shifted: shifted > plain.max(mirrored),
            seconds: start.elapsed().as_secs_f64(),
        }
    }

    pub fn views(&self) -> Views {
        if self.shifted {
            Views::MirrorShifted
        } else if self.enabled {
            Views::Mirror
        } else {
            Views::Plain
        }
    }

    pub fn describe(&self) -> String {
        let pct = |a: f64| format!("{:.2}%", a * 100.0);
        let (plain, mirrored) = (
            pct(self.validation_accuracy_plain),
            pct(self.validation_accuracy_mirrored),
        );
        match self.validation_accuracy_shifted {
            Some(shifted) if self.shifted => format!(
                "test-time views: 10 (the image and its mirror, each also shifted one pixel each \
                 way): validation accuracy {}, against {mirrored} with the mirror alone and \
                 {plain} plain",
                pct(shifted)
            ),
            shifted => format!(
                "mirror averaging {}: validation accuracy {mirrored} with it, {plain} without{}",
                if self.enabled { "on" } else { "off" },
                shifted.map_or(String::new(), |s| format!(
                    "; {} with one-pixel shifts too (10 views, not kept)",
                    pct(s)
                ))
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fmnist::PIXELS;
    use model::{CnnConfig, StageConfig};

    /// Three images that differ from their mirror images and from their shifts.
    fn images() -> Images {
        let pixels = (0..3 * PIXELS)
            .map(|i| ((i * 37 + i / PIXELS * 11 + (i % 28) * (i % 5)) % 256) as u8)
            .collect();
        Images { count: 3, pixels }
    }

    /// `f` applied to every image, as a new set.
    fn each(images: &Images, f: impl Fn(&[u8], usize, usize) -> u8) -> Images {
        let mut pixels = Vec::with_capacity(images.pixels.len());
        for image in images.pixels.chunks_exact(PIXELS) {
            for y in 0..SIDE {
                for x in 0..SIDE {
                    pixels.push(f(image, y, x));
                }
            }
        }
        Images {
            count: images.count,
            pixels,
        }
    }

    /// Moved `dy` rows down and `dx` columns right, black where nothing moved in.
    fn shift(images: &Images, dy: isize, dx: isize) -> Images {
        each(images, |image, y, x| {
            let (sy, sx) = (y as isize - dy, x as isize - dx);
            let inside = |v: isize| (0..SIDE as isize).contains(&v);
            if inside(sy) && inside(sx) {
                image[sy as usize * SIDE + sx as usize]
            } else {
                0
            }
        })
    }

    fn mirror(images: &Images) -> Images {
        each(images, |image, y, x| image[y * SIDE + SIDE - 1 - x])
    }

    #[test]
    fn each_set_of_views_is_the_mean_of_its_forward_passes() {
        let device = Device::flex();
        let model = CnnConfig {
            stages: vec![
                StageConfig {
                    channels: 4,
                    convs: 1,
                },
                StageConfig {
                    channels: 8,
                    convs: 1,
                },
            ],
            ..CnnConfig::default()
        }
        .init(&device)
        .unwrap();
        let labels = Arc::new(vec![1u8, 2, 3]);
        let plain_of = |set: Images| {
            predict(
                &model,
                Arc::new(set),
                labels.clone(),
                vec![0, 1, 2],
                2,
                &device,
                Views::Plain,
            )
            .probabilities
        };
        let base = images();
        let mut views = vec![plain_of(images()), plain_of(mirror(&base))];
        for (dy, dx) in SHIFTS {
            views.push(plain_of(shift(&base, dy, dx)));
            views.push(plain_of(mirror(&shift(&base, dy, dx))));
        }
        let mean = |n: usize| -> Vec<Vec<f64>> {
            (0..3)
                .map(|i| {
                    (0..10)
                        .map(|c| views[..n].iter().map(|v| v[i][c]).sum::<f64>() / n as f64)
                        .collect()
                })
                .collect()
        };
        let sets = predict_views(
            &model,
            Arc::new(base),
            labels.clone(),
            vec![0, 1, 2],
            2,
            &device,
            Views::MirrorShifted,
        );
        assert_eq!(sets.len(), 3);
        for (set, n) in sets.iter().zip([1, 2, 10]) {
            assert_eq!(set.labels, vec![1, 2, 3]);
            for (got, want) in set
                .probabilities
                .iter()
                .flatten()
                .zip(mean(n).iter().flatten())
            {
                assert!((got - want).abs() < 1e-6, "{n} views: {got} against {want}");
            }
        }
        // The views differ, so each set is its own average.
        assert!(sets[0].probabilities != sets[1].probabilities);
        assert!(sets[1].probabilities != sets[2].probabilities);
    }

    #[test]
    fn the_choice_maps_to_views_and_old_cards_keep_their_mirror() {
        let old: MirrorChoice = serde_json::from_str(
            r#"{"enabled": true, "validation_accuracy_plain": 0.94,
                "validation_accuracy_mirrored": 0.945, "seconds": 9.0}"#,
        )
        .unwrap();
        assert_eq!(old.validation_accuracy_shifted, None);
        assert_eq!(old.views(), Views::Mirror);
        assert!(!old.describe().contains("shifts"), "{}", old.describe());
        let shifted = MirrorChoice {
            validation_accuracy_shifted: Some(0.951),
            shifted: true,
            ..old
        };
        assert_eq!(shifted.views(), Views::MirrorShifted);
        assert!(
            shifted.describe().contains("validation accuracy 95.10%"),
            "{}",
            shifted.describe()
        );
        let plain = MirrorChoice {
            enabled: false,
            validation_accuracy_shifted: Some(0.93),
            ..old
        };
        assert_eq!(plain.views(), Views::Plain);
        assert!(
            plain
                .describe()
                .contains("93.00% with one-pixel shifts too (10 views, not kept)")
        );
    }
}
