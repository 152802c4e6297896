//! Would more test-time views than the mirror help? A development probe: for each saved model
//! named in MODELS (comma-separated, under MODELS_DIR, default `models`), the VALIDATION
//! accuracy of its split with each set of views the trainer can choose (the image alone, with
//! its mirror, and the ten with one-pixel shifts), without touching TEST or the model's files.
//!
//!     MODELS=wide-intel-1h,intel-1h cargo run -p trainer --example tta_probe
//!
//! With several models (all of one seed's split), it also prints the accuracy of their
//! averaged probabilities, pair by pair and all together: what an ensemble of copies gains.
use fmnist::{ExpectedDigests, FashionMnist, Located};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use trainer::artifacts::{self, ModelCard, RunPaths};
use trainer::evaluate::{Predictions, Views, predict_views};
use trainer::search::averaged_accuracy;

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
    let mut all: Vec<(String, Vec<Predictions>)> = Vec::new();
    for name in models.split(',') {
        let paths = RunPaths::new(&models_dir, Path::new("reports"), name);
        let card: ModelCard = artifacts::read_json(&paths.model_card())?;
        let model = artifacts::load_model(&paths, &card.model, &card.ensemble, &device)?;
        let split = trainer::job::validation_split(images.count, card.seed)?;
        let sets = predict_views(
            &model,
            images.clone(),
            labels.clone(),
            split.validation,
            card.training.eval_batch_size,
            &device,
            Views::MirrorShifted,
        );
        let accuracies: Vec<String> = sets
            .iter()
            .map(|set| format!("{:.2}%", 100.0 * Predictions::accuracy(set)))
            .collect();
        println!(
            "{name}: plain, mirror, mirror + one-pixel shifts (10 views): {}",
            accuracies.join(", ")
        );
        all.push((name.to_string(), sets));
    }
    // The search's own ensemble rule, view set by view set: `by_view[v][m]` is model m's
    // predictions with the v-th set of views.
    let names: Vec<String> = all.iter().map(|(name, _)| name.clone()).collect();
    let mut by_view: Vec<Vec<(String, Predictions)>> = Vec::new();
    for (name, sets) in all {
        for (view, set) in sets.into_iter().enumerate() {
            if by_view.len() <= view {
                by_view.push(Vec::new());
            }
            by_view[view].push((name.clone(), set));
        }
    }
    let averaged = |chosen: &[usize]| -> String {
        by_view
            .iter()
            .map(|models| format!("{:.2}%", 100.0 * averaged_accuracy(models, chosen)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for a in 0..names.len() {
        for b in a + 1..names.len() {
            println!("{} + {}: {}", names[a], names[b], averaged(&[a, b]));
        }
    }
    if names.len() > 2 {
        let everyone: Vec<usize> = (0..names.len()).collect();
        println!("all {}: {}", names.len(), averaged(&everyone));
    }
    Ok(())
}
