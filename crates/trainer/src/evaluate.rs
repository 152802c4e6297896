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

/// Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", 2017): each
/// image's probabilities raised to the power 1/T and renormalised, which is the softmax of the
/// logits divided by T for a single view. It never changes which class ranks first, so
/// accuracy stays; it corrects how sure the model says it is. A model trained with label
/// smoothing is underconfident (its targets were never above 0.91): smooth-intel-1h's ten
/// views had a log loss of 0.223 on VALIDATION, 0.143 at the fitted T = 0.60.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Temperature {
    #[serde(deserialize_with = "positive_temperature")]
    pub value: f64,
    /// The chosen views' mean cross-entropy on VALIDATION before and after scaling.
    pub validation_loss_before: f64,
    pub validation_loss_after: f64,
}

/// A `model.json` can be edited by hand: a temperature that is not a positive number would
/// flatten every score to one value or reverse every ranking, so it is refused when read.
fn positive_temperature<'de, D: serde::Deserializer<'de>>(reader: D) -> Result<f64, D::Error> {
    let value = f64::deserialize(reader)?;
    if value.is_finite() && value > 0.0 {
        Ok(value)
    } else {
        Err(serde::de::Error::custom(format!(
            "the temperature must be a positive number, got {value}"
        )))
    }
}

/// Probabilities are floored here before their logarithm: a float32 softmax can underflow
/// to exactly zero, which has none.
const PROBABILITY_FLOOR: f64 = 1e-30;
/// The range of 1/T the fit searches: far wider than any model here needs (0.6-1.1 seen).
const INVERSE_TEMPERATURE_RANGE: (f64, f64) = (0.1, 10.0);

impl Temperature {
    /// The temperature that minimises the mean cross-entropy of `predictions` (VALIDATION,
    /// never TEST). At 1/T = b an image's loss is logsumexp(b ln p) - b ln p[label]: convex
    /// in b (a one-feature logistic regression on the log probabilities), so a golden-section
    /// search over b finds its minimum. Rows with a non-finite probability are left out.
    pub fn fit(predictions: &Predictions) -> Self {
        let logs: Vec<(usize, Vec<f64>)> = predictions
            .labels
            .iter()
            .zip(&predictions.probabilities)
            .filter(|(_, row)| row.iter().all(|p| p.is_finite()))
            .map(|(&label, row)| (label, log_probabilities(row)))
            .collect();
        let loss_at = |inverse: f64| {
            let total: f64 = logs
                .iter()
                .map(|(label, row)| -scaled_log_softmax(row, inverse)[*label])
                .sum();
            total / logs.len().max(1) as f64
        };
        let golden = (5f64.sqrt() - 1.0) / 2.0;
        let (mut low, mut high) = INVERSE_TEMPERATURE_RANGE;
        let mut a = high - golden * (high - low);
        let mut b = low + golden * (high - low);
        let (mut loss_a, mut loss_b) = (loss_at(a), loss_at(b));
        // Each step keeps 0.618 of the interval: 60 of them leave it far under 1e-9.
        for _ in 0..60 {
            if loss_a <= loss_b {
                high = b;
                b = a;
                loss_b = loss_a;
                a = high - golden * (high - low);
                loss_a = loss_at(a);
            } else {
                low = a;
                a = b;
                loss_a = loss_b;
                b = low + golden * (high - low);
                loss_b = loss_at(b);
            }
        }
        let before = loss_at(1.0);
        let inverse = (low + high) / 2.0;
        let after = loss_at(inverse);
        // The bracket holds 1/T = 1: a scaling that does not beat none is not kept.
        let (value, after) = if after < before {
            (1.0 / inverse, after)
        } else {
            (1.0, before)
        };
        Temperature {
            value,
            validation_loss_before: before,
            validation_loss_after: after,
        }
    }

    /// Rescales each row of `probabilities` in place.
    pub fn apply(&self, probabilities: &mut [Vec<f64>]) {
        if self.value != 1.0 {
            rescale(probabilities, 1.0 / self.value);
        }
    }
}

/// Each row raised to the power `inverse_temperature` and renormalised, in the log domain.
/// A row with a non-finite probability (a diverged model) is left as it is, for the metrics'
/// check to name, rather than turned into plausible scores.
fn rescale(probabilities: &mut [Vec<f64>], inverse_temperature: f64) {
    for row in probabilities {
        if !row.iter().all(|p| p.is_finite()) {
            continue;
        }
        let scaled = scaled_log_softmax(&log_probabilities(row), inverse_temperature);
        for (p, l) in row.iter_mut().zip(scaled) {
            *p = l.exp();
        }
    }
}

fn log_probabilities(row: &[f64]) -> Vec<f64> {
    row.iter().map(|p| p.max(PROBABILITY_FLOOR).ln()).collect()
}

/// log softmax(`inverse` x `logs`): the log probabilities of a row raised to the power
/// `inverse` and renormalised, computed stably (the largest term factored out).
fn scaled_log_softmax(logs: &[f64], inverse: f64) -> Vec<f64> {
    let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max) * inverse;
    let log_total = logs
        .iter()
        .map(|l| (l * inverse - top).exp())
        .sum::<f64>()
        .ln();
    logs.iter().map(|l| l * inverse - top - log_total).collect()
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

impl Views {
    /// Forward passes per image.
    pub fn count(self) -> usize {
        match self {
            Views::Plain => 1,
            Views::Mirror => 2,
            Views::MirrorShifted => 2 + 2 * SHIFTS.len(),
        }
    }
}

/// What the evaluation after training costs: choosing the views on VALIDATION, then the test
/// pass, in units of one plain pass of the saved model (every member of an ensemble) over
/// VALIDATION.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvaluationCost {
    pub validation_pass_seconds: f64,
    pub validation_images: usize,
    pub test_images: usize,
}

impl EvaluationCost {
    /// Forward passes, in plain passes over VALIDATION, to decide among the sets up to
    /// `widest` and to predict TEST with the widest (the decision may pick fewer views; this
    /// is the most it can take). With the image alone there is nothing to decide.
    pub fn passes(&self, widest: Views) -> f64 {
        let views = widest.count() as f64;
        let decision = if widest == Views::Plain { 0.0 } else { views };
        decision + views * self.test_images as f64 / self.validation_images.max(1) as f64
    }

    /// [`EvaluationCost::passes`] in seconds.
    pub fn seconds(&self, widest: Views) -> f64 {
        self.passes(widest) * self.validation_pass_seconds
    }

    /// The widest set whose evaluation fits in `seconds`; the image alone when none does
    /// (TEST is always predicted).
    pub fn widest_within(&self, seconds: f64) -> Views {
        [Views::MirrorShifted, Views::Mirror]
            .into_iter()
            .find(|&v| self.seconds(v) <= seconds)
            .unwrap_or(Views::Plain)
    }
}

/// Seconds one plain pass of `model` (an inference copy) over `indices` takes, from a timed
/// batch scaled to their number.
pub fn pass_seconds(
    model: &impl Classifier,
    images: Arc<Images>,
    labels: Arc<Vec<u8>>,
    indices: &[usize],
    batch_size: usize,
    device: &Device,
) -> f64 {
    let sample: Vec<usize> = indices.iter().take(batch_size.max(1)).copied().collect();
    if sample.is_empty() {
        return 0.0;
    }
    let timed_pass = || {
        let start = Instant::now();
        let _ = predict(
            model,
            images.clone(),
            labels.clone(),
            sample.clone(),
            batch_size,
            device,
            Views::Plain,
        );
        start.elapsed().as_secs_f64()
    };
    // The first batch through a fresh model pays one-off costs (buffers, worker threads)
    // that the passes do not: timed alone, it put the first pass at twice its real time
    // on a slower 2-core machine. The faster of the next two stands for the rest.
    timed_pass();
    timed_pass().min(timed_pass()) * indices.len() as f64 / sample.len() as f64
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
    /// Time the decision took (one pass over VALIDATION, every view tried).
    pub seconds: f64,
    /// Views per image of the widest set tried, when the budget left no time for all
    /// three (1 or 2); absent when all were tried (and in cards saved before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub views_tried: Option<usize>,
    /// Temperature scaling of the chosen views' probabilities, fitted on VALIDATION; absent
    /// when only the image alone was tried (nothing was predicted) and in cards saved before
    /// it existed, which predict unscaled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<Temperature>,
}

impl MirrorChoice {
    /// Decides among the sets up to `widest`. `plain_accuracy` (the model's own on
    /// VALIDATION, known from training) stands for every figure when `widest` is the image
    /// alone: nothing is predicted then.
    #[allow(clippy::too_many_arguments)]
    pub fn decide(
        model: &impl Classifier,
        images: Arc<Images>,
        labels: Arc<Vec<u8>>,
        validation: Vec<usize>,
        batch_size: usize,
        device: &Device,
        widest: Views,
        plain_accuracy: f64,
    ) -> Self {
        let start = Instant::now();
        let sets = if widest == Views::Plain {
            Vec::new()
        } else {
            predict_views(
                model, images, labels, validation, batch_size, device, widest,
            )
        };
        let accuracies: Vec<f64> = if sets.is_empty() {
            vec![plain_accuracy]
        } else {
            sets.iter().map(Predictions::accuracy).collect()
        };
        let plain = accuracies.first().copied().unwrap_or(plain_accuracy);
        let mirrored = accuracies.get(1).copied().unwrap_or(plain);
        let shifted = accuracies.get(2).copied();
        let shifted_wins = shifted.is_some_and(|s| s > plain.max(mirrored));
        let mut choice = MirrorChoice {
            enabled: mirrored > plain,
            validation_accuracy_plain: plain,
            validation_accuracy_mirrored: mirrored,
            validation_accuracy_shifted: shifted,
            shifted: shifted_wins,
            seconds: 0.0,
            views_tried: (widest != Views::MirrorShifted).then(|| widest.count()),
            temperature: None,
        };
        choice.temperature = sets.get(choice.views() as usize).map(Temperature::fit);
        choice.seconds = start.elapsed().as_secs_f64();
        choice
    }

    /// Scales `probabilities` (of the chosen views) by the fitted temperature, if any.
    pub fn calibrate(&self, probabilities: &mut [Vec<f64>]) {
        if let Some(temperature) = self.temperature {
            temperature.apply(probabilities);
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
        let views = self.describe_views();
        match self.temperature {
            Some(t) if t.value != 1.0 => format!(
                "{views}; probabilities scaled by temperature {:.3}, fitted on validation \
                 (log loss there {:.4} -> {:.4})",
                t.value, t.validation_loss_before, t.validation_loss_after
            ),
            Some(_) => {
                format!("{views}; no temperature scaling (none lowered the validation log loss)")
            }
            None => views,
        }
    }

    fn describe_views(&self) -> String {
        let pct = |a: f64| format!("{:.2}%", a * 100.0);
        let (plain, mirrored) = (
            pct(self.validation_accuracy_plain),
            pct(self.validation_accuracy_mirrored),
        );
        let untried = " (more views did not fit in the budget's share for evaluation)";
        if self.views_tried == Some(1) {
            return format!(
                "test-time views: the image alone, validation accuracy {plain}{untried}"
            );
        }
        let untried = if self.views_tried.is_some() {
            untried
        } else {
            ""
        };
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
                shifted.map_or(untried.to_string(), |s| format!(
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
        assert_eq!(old.temperature, None, "saved before temperature scaling");
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

    /// Labels drawn from softmax(logits / `truth`) for `n` images of ten classes, with the
    /// model's probabilities softmax(logits): a model `truth` times too sure of itself
    /// (`truth` > 1) or too unsure (< 1).
    fn miscalibrated(n: usize, truth: f64) -> Predictions {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut uniform = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let softmax = |logits: &[f64], t: f64| {
            let e: Vec<f64> = logits.iter().map(|l| (l / t).exp()).collect();
            let total: f64 = e.iter().sum();
            e.into_iter().map(|v| v / total).collect::<Vec<f64>>()
        };
        let mut labels = Vec::with_capacity(n);
        let mut probabilities = Vec::with_capacity(n);
        for _ in 0..n {
            let logits: Vec<f64> = (0..10).map(|_| 6.0 * uniform()).collect();
            let draw = uniform();
            let mut cumulative = 0.0;
            let truth_probs = softmax(&logits, truth);
            let label = truth_probs
                .iter()
                .position(|p| {
                    cumulative += p;
                    draw < cumulative
                })
                .unwrap_or(9);
            labels.push(label);
            probabilities.push(softmax(&logits, 1.0));
        }
        Predictions {
            labels,
            probabilities,
        }
    }

    #[test]
    fn temperature_scaling_finds_the_temperature_that_generated_the_labels() {
        for truth in [0.5, 1.0, 2.0] {
            let predictions = miscalibrated(20_000, truth);
            let fitted = Temperature::fit(&predictions);
            assert!(
                (fitted.value / truth - 1.0).abs() < 0.1,
                "labels drawn at temperature {truth}, fitted {}",
                fitted.value
            );
            if truth != 1.0 {
                assert!(
                    fitted.validation_loss_after < fitted.validation_loss_before - 0.01,
                    "{fitted:?}"
                );
            }
        }
        // A diverged row is left out of the fit, not allowed to decide it.
        let mut broken = miscalibrated(20_000, 2.0);
        broken.probabilities[0] = vec![f64::NAN; 10];
        let fitted = Temperature::fit(&broken);
        assert!((fitted.value / 2.0 - 1.0).abs() < 0.1, "{fitted:?}");
        assert!(fitted.validation_loss_before.is_finite());
    }

    #[test]
    fn a_temperature_read_from_a_card_must_be_positive() {
        let read = |value: &str| {
            serde_json::from_str::<Temperature>(&format!(
                r#"{{"value": {value}, "validation_loss_before": 0.2, "validation_loss_after": 0.1}}"#
            ))
        };
        assert_eq!(read("0.6").unwrap().value, 0.6);
        for bad in ["0", "-0.5"] {
            let error = read(bad).unwrap_err().to_string();
            assert!(error.contains("positive number"), "{bad}: {error}");
        }
    }

    #[test]
    fn temperature_scaling_keeps_each_images_ranking_and_its_probabilities_a_distribution() {
        let predictions = miscalibrated(200, 1.0);
        for t in [0.3, 1.0, 3.0] {
            let mut scaled = predictions.probabilities.clone();
            Temperature {
                value: t,
                validation_loss_before: 0.0,
                validation_loss_after: 0.0,
            }
            .apply(&mut scaled);
            for (before, after) in predictions.probabilities.iter().zip(&scaled) {
                assert!((after.iter().sum::<f64>() - 1.0).abs() < 1e-9);
                for i in 0..10 {
                    for j in 0..10 {
                        if before[i] > before[j] {
                            assert!(after[i] > after[j], "t {t}: {before:?} -> {after:?}");
                        }
                    }
                }
                let top = metrics::argmax(before);
                // A temperature under 1 sharpens, over 1 flattens, 1 leaves them.
                match t {
                    t if t < 1.0 => assert!(after[top] > before[top]),
                    t if t > 1.0 => assert!(after[top] < before[top]),
                    _ => assert!((after[top] - before[top]).abs() < 1e-12),
                }
            }
        }
        // A diverged model's row stays as it is, for the metrics to refuse.
        let mut diverged = vec![vec![f64::NAN, 0.5, 0.5], vec![0.2, 0.3, 0.5]];
        Temperature {
            value: 0.5,
            validation_loss_before: 0.0,
            validation_loss_after: 0.0,
        }
        .apply(&mut diverged);
        assert!(diverged[0][0].is_nan() && diverged[0][1] == 0.5);
        assert!(diverged[1][2] > 0.5);
        // A float32 softmax can underflow to zero: it stays finite.
        let mut zeros = vec![vec![1.0, 0.0, 0.0]];
        Temperature {
            value: 2.0,
            validation_loss_before: 0.0,
            validation_loss_after: 0.0,
        }
        .apply(&mut zeros);
        assert!(zeros[0].iter().all(|p| p.is_finite()), "{zeros:?}");
        assert!(zeros[0][0] > 0.99);
    }

    #[test]
    fn the_evaluation_fits_the_widest_views_the_time_allows() {
        // Twice as many test images as validation images: a test pass is two passes.
        let cost = EvaluationCost {
            validation_pass_seconds: 2.0,
            validation_images: 5_000,
            test_images: 10_000,
        };
        assert_eq!(
            cost.seconds(Views::Plain),
            4.0,
            "no decision, one test pass"
        );
        assert_eq!(cost.seconds(Views::Mirror), 2.0 * (2.0 + 4.0));
        assert_eq!(cost.seconds(Views::MirrorShifted), 2.0 * (10.0 + 20.0));
        assert_eq!(cost.widest_within(60.0), Views::MirrorShifted);
        assert_eq!(cost.widest_within(59.9), Views::Mirror);
        assert_eq!(cost.widest_within(12.0), Views::Mirror);
        assert_eq!(cost.widest_within(11.9), Views::Plain);
        assert_eq!(
            cost.widest_within(0.0),
            Views::Plain,
            "TEST is still predicted"
        );
    }

    #[test]
    fn a_decision_tries_only_the_views_it_is_given() {
        let device = Device::flex();
        let model = CnnConfig {
            stages: vec![StageConfig {
                channels: 4,
                convs: 1,
            }],
            ..CnnConfig::default()
        }
        .init(&device)
        .unwrap();
        let decide = |widest| {
            MirrorChoice::decide(
                &model,
                Arc::new(images()),
                Arc::new(vec![1u8, 2, 3]),
                vec![0, 1, 2],
                2,
                &device,
                widest,
                0.5,
            )
        };
        // Nothing predicted: the known accuracy stands for the image alone, and there is
        // nothing to fit a temperature to.
        let alone = decide(Views::Plain);
        assert_eq!(alone.views(), Views::Plain);
        assert_eq!(alone.views_tried, Some(1));
        assert_eq!(alone.temperature, None);
        assert_eq!(alone.validation_accuracy_plain, 0.5);
        assert!(
            alone.describe().contains("did not fit"),
            "{}",
            alone.describe()
        );
        let two = decide(Views::Mirror);
        assert_eq!(two.views_tried, Some(2));
        assert_eq!(two.validation_accuracy_shifted, None);
        assert_ne!(two.views(), Views::MirrorShifted);
        assert!(two.describe().contains("did not fit"), "{}", two.describe());
        assert!(two.temperature.is_some(), "fitted to the predictions made");
        let all = decide(Views::MirrorShifted);
        assert_eq!(all.views_tried, None);
        let temperature = all.temperature.unwrap();
        assert!(temperature.value > 0.0 && temperature.value.is_finite());
        let scaled = MirrorChoice {
            temperature: Some(Temperature {
                value: 0.604,
                validation_loss_before: 0.2229,
                validation_loss_after: 0.1429,
            }),
            ..all
        };
        assert!(
            scaled
                .describe()
                .ends_with("scaled by temperature 0.604, fitted on validation (log loss there 0.2229 -> 0.1429)"),
            "{}",
            scaled.describe()
        );
        assert!(all.validation_accuracy_shifted.is_some());
        assert!(
            !all.describe().contains("did not fit"),
            "{}",
            all.describe()
        );
        // Three images: every accuracy is a third, measured, not the figure passed in.
        for a in [
            two.validation_accuracy_plain,
            all.validation_accuracy_mirrored,
        ] {
            assert!([0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0].contains(&a), "{a}");
        }
    }
}
