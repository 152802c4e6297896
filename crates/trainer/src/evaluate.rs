//! Running a trained model over a set of images.

use burn::prelude::*;
use burn::tensor::activation::softmax;
use fmnist::{BatchStream, Images, SIDE};
use model::Cnn;
use std::sync::Arc;

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

/// `model` must be an inference copy (`model.valid()`), on `device`.
pub fn predict(
    model: &Cnn,
    images: Arc<Images>,
    labels: Arc<Vec<u8>>,
    indices: Vec<usize>,
    batch_size: usize,
    device: &Device,
) -> Predictions {
    let mut out = Predictions {
        labels: Vec::with_capacity(indices.len()),
        probabilities: Vec::with_capacity(indices.len()),
    };
    for batch in BatchStream::evaluation(images, labels, indices, batch_size) {
        let n = batch.len();
        let x = Tensor::<4>::from_data(TensorData::new(batch.images, [n, 1, SIDE, SIDE]), device);
        let probs = softmax(model.forward(x), 1).into_data().convert::<f32>();
        // After `convert` the element type is f32 by construction.
        let values: Vec<f32> = probs.try_into_vec().unwrap_or_default();
        let classes = values.len() / n.max(1);
        out.labels.extend(batch.labels.iter().map(|&l| l as usize));
        out.probabilities.extend(
            values
                .chunks(classes.max(1))
                .map(|row| row.iter().map(|&v| v as f64).collect()),
        );
    }
    out
}
