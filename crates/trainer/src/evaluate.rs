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

/// `model` (one network or an ensemble) must be an inference copy (`model.valid()`), on `device`. With `mirror`, each
/// image's probabilities are the mean of its own and its mirror image's (horizontal flip):
/// clothes are left-right symmetric, so the two views disagree mostly where the model is
/// unsure.
pub fn predict(
    model: &impl Classifier,
    images: Arc<Images>,
    labels: Arc<Vec<u8>>,
    indices: Vec<usize>,
    batch_size: usize,
    device: &Device,
    mirror: bool,
) -> Predictions {
    let (plain, averaged) =
        predict_views(model, images, labels, indices, batch_size, device, mirror);
    averaged.unwrap_or(plain)
}

/// The plain predictions and, with `mirror`, the mirror-averaged ones, from one pass over the
/// images (the plain view is computed once for both).
pub fn predict_views(
    model: &impl Classifier,
    images: Arc<Images>,
    labels: Arc<Vec<u8>>,
    indices: Vec<usize>,
    batch_size: usize,
    device: &Device,
    mirror: bool,
) -> (Predictions, Option<Predictions>) {
    let empty = |n: usize| Predictions {
        labels: Vec::with_capacity(n),
        probabilities: Vec::with_capacity(n),
    };
    let mut plain = empty(indices.len());
    let mut averaged = mirror.then(|| empty(indices.len()));
    for batch in BatchStream::evaluation(images, labels, indices, batch_size) {
        let n = batch.len();
        let x = Tensor::<4>::from_data(TensorData::new(batch.images, [n, 1, SIDE, SIDE]), device);
        let batch_labels: Vec<usize> = batch.labels.iter().map(|&l| l as usize).collect();
        let (rows, flipped_rows) = if mirror {
            let flipped = probability_rows(model, x.clone().flip([3]), n);
            (probability_rows(model, x, n), Some(flipped))
        } else {
            (probability_rows(model, x, n), None)
        };
        if let (Some(avg), Some(flipped_rows)) = (averaged.as_mut(), flipped_rows) {
            avg.labels.extend(batch_labels.iter().copied());
            avg.probabilities.extend(
                rows.iter()
                    .zip(flipped_rows)
                    .map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x + y) / 2.0).collect()),
            );
        }
        plain.labels.extend(batch_labels);
        plain.probabilities.extend(rows);
    }
    (plain, averaged)
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

/// Whether the saved model predicts with mirror averaging (see [`predict`]). Decided after
/// training on VALIDATION, never on TEST: it is kept only if it is more accurate there.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MirrorChoice {
    pub enabled: bool,
    pub validation_accuracy_plain: f64,
    pub validation_accuracy_mirrored: f64,
    /// Time the decision took (one pass over VALIDATION, both views), after the budget.
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
        let (plain, mirrored) =
            predict_views(model, images, labels, validation, batch_size, device, true);
        let plain = plain.accuracy();
        let mirrored = mirrored.map_or(plain, |m| m.accuracy());
        MirrorChoice {
            enabled: mirrored > plain,
            validation_accuracy_plain: plain,
            validation_accuracy_mirrored: mirrored,
            seconds: start.elapsed().as_secs_f64(),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "mirror averaging {}: validation accuracy {:.2}% with it, {:.2}% without",
            if self.enabled { "on" } else { "off" },
            self.validation_accuracy_mirrored * 100.0,
            self.validation_accuracy_plain * 100.0
        )
    }
}
