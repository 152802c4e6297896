//! Would more test-time views than the mirror help? A development probe: for each saved model
//! named in MODELS (comma-separated, under MODELS_DIR, default `models`), the VALIDATION
//! accuracy of its split with each set of views the trainer can choose (the image alone, with
//! its mirror, and the ten with one-pixel shifts), without touching TEST or the model's files.
//!
//!     MODELS=wide-intel-1h,intel-1h cargo run -p trainer --example tta_probe
use fmnist::{ExpectedDigests, FashionMnist, Located};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use trainer::artifacts::{self, ModelCard, RunPaths};
use trainer::evaluate::{Predictions, Views, predict_views};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let models = std::env::var("MODELS").unwrap_or_else(|_| "wide-intel-1h".into());
    let models_dir = PathBuf::from(std::env::var("MODELS_DIR").unwrap_or_else(|_| "models".into()));
    let data_dir =
        std::env::var("DATA_DIR").unwrap_or_else(|_| "/usr/share/datasets/fashion-mnist".into());
    let located = Located::in_dir(Path::new(&data_dir)).ok_or("no Fashion-MNIST in DATA_DIR")?;
    let data = FashionMnist::load(&located, &ExpectedDigests::official(), true)?;
    let images = Arc::new(data.train_images);
    let labels = Arc::new(data.train_labels);
    let device = burn::prelude::Device::flex();
    for name in models.split(',') {
        let paths = RunPaths::new(&models_dir, Path::new("reports"), name);
        let card: ModelCard = artifacts::read_json(&paths.model_card())?;
        let model = artifacts::load_model(&paths, &card.model, &card.ensemble, &device)?;
        let split = trainer::job::validation_split(images.count, card.seed)?;
        let accuracies: Vec<String> = predict_views(
            &model,
            images.clone(),
            labels.clone(),
            split.validation,
            card.training.eval_batch_size,
            &device,
            Views::MirrorShifted,
        )
        .iter()
        .map(|set| format!("{:.2}%", 100.0 * Predictions::accuracy(set)))
        .collect();
        println!(
            "{name}: plain, mirror, mirror + one-pixel shifts (10 views): {}",
            accuracies.join(", ")
        );
    }
    Ok(())
}
