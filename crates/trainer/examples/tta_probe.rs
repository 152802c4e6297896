//! Would more test-time views than the mirror help? A development probe: for each saved model
//! named in MODELS (comma-separated, under MODELS_DIR, default `models`), the VALIDATION
//! accuracy of its split when the probabilities average the image alone, with its mirror
//! image, and with copies shifted by one pixel (the crops training saw reach two).
//!
//!     MODELS=wide-intel-1h,intel-1h cargo run -p trainer --example tta_probe
use burn::prelude::*;
use burn::tensor::activation::softmax;
use fmnist::{BatchStream, ExpectedDigests, FashionMnist, Located, SIDE};
use model::Classifier;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use trainer::artifacts::{self, ModelCard, RunPaths};

/// Normalised value of a black pixel: what a shift brings in at the border.
const BACKGROUND: f32 = (0.0 - 0.2860) / 0.3530;

fn shifted(images: &[f32], n: usize, dy: isize, dx: isize) -> Vec<f32> {
    let side = SIDE as isize;
    let mut out = vec![BACKGROUND; images.len()];
    for i in 0..n {
        let (src, dst) = (&images[i * SIDE * SIDE..], i * SIDE * SIDE);
        for y in 0..side {
            for x in 0..side {
                let (sy, sx) = (y - dy, x - dx);
                if (0..side).contains(&sy) && (0..side).contains(&sx) {
                    out[dst + (y * side + x) as usize] = src[(sy * side + sx) as usize];
                }
            }
        }
    }
    out
}

fn probabilities(model: &impl Classifier, images: Vec<f32>, n: usize, device: &Device) -> Vec<f32> {
    let x = Tensor::<4>::from_data(TensorData::new(images, [n, 1, SIDE, SIDE]), device);
    softmax(model.logits(x), 1)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap_or_default()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let models = std::env::var("MODELS").unwrap_or_else(|_| "wide-intel-1h".into());
    let models_dir = PathBuf::from(std::env::var("MODELS_DIR").unwrap_or_else(|_| "models".into()));
    let data_dir =
        std::env::var("DATA_DIR").unwrap_or_else(|_| "/usr/share/datasets/fashion-mnist".into());
    let located = Located::in_dir(Path::new(&data_dir)).ok_or("no Fashion-MNIST in DATA_DIR")?;
    let data = FashionMnist::load(&located, &ExpectedDigests::official(), true)?;
    let images = Arc::new(data.train_images);
    let labels = Arc::new(data.train_labels);
    let device = Device::flex();
    // (dy, dx) of each view besides the image itself; `true`: also its mirror image.
    let shifts: [(isize, isize); 4] = [(0, 1), (0, -1), (1, 0), (-1, 0)];
    for name in models.split(',') {
        let paths = RunPaths::new(&models_dir, Path::new("reports"), name);
        let card: ModelCard = artifacts::read_json(&paths.model_card())?;
        let model = artifacts::load_model(&paths, &card.model, &card.ensemble, &device)?;
        let split = trainer::job::validation_split(images.count, card.seed)?;
        let classes = card.class_names.len();
        // Sums of probabilities per image for: plain, +mirror, +4 shifts, +4 shifted mirrors.
        let mut sums = [vec![], vec![], vec![], vec![]];
        let mut truth = Vec::new();
        for batch in BatchStream::evaluation(
            images.clone(),
            labels.clone(),
            split.validation.clone(),
            500,
        ) {
            let n = batch.len();
            let mirror = |v: &[f32]| -> Vec<f32> {
                v.chunks(SIDE)
                    .flat_map(|row| row.iter().rev().copied())
                    .collect()
            };
            let plain = probabilities(&model, batch.images.clone(), n, &device);
            let flipped = probabilities(&model, mirror(&batch.images), n, &device);
            let mut moved = vec![0.0f32; plain.len()];
            let mut moved_flipped = vec![0.0f32; plain.len()];
            for &(dy, dx) in &shifts {
                let s = shifted(&batch.images, n, dy, dx);
                let p = probabilities(&model, s.clone(), n, &device);
                let q = probabilities(&model, mirror(&s), n, &device);
                moved.iter_mut().zip(&p).for_each(|(m, v)| *m += v);
                moved_flipped.iter_mut().zip(&q).for_each(|(m, v)| *m += v);
            }
            for i in 0..plain.len() {
                let two = plain[i] + flipped[i];
                sums[0].push(plain[i]);
                sums[1].push(two);
                sums[2].push(two + moved[i]);
                sums[3].push(two + moved[i] + moved_flipped[i]);
            }
            truth.extend(batch.labels.iter().map(|&l| l as usize));
        }
        let accuracy = |s: &[f32]| {
            let correct = s
                .chunks(classes)
                .zip(&truth)
                .filter(|(row, l)| {
                    metrics::argmax(&row.iter().map(|&v| v as f64).collect::<Vec<_>>()) == **l
                })
                .count();
            100.0 * correct as f64 / truth.len() as f64
        };
        println!(
            "{name}: plain {:.2}%, mirror {:.2}%, mirror + 4 shifts {:.2}%, mirror + 4 shifts + their mirrors {:.2}%",
            accuracy(&sums[0]),
            accuracy(&sums[1]),
            accuracy(&sums[2]),
            accuracy(&sums[3])
        );
    }
    Ok(())
}
