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
    let averaged = |members: &[&Vec<Predictions>]| -> Vec<String> {
        (0..members[0].len())
            .map(|view| {
                let first = &members[0][view];
                let probabilities = (0..first.labels.len())
                    .map(|i| {
                        (0..first.probabilities[i].len())
                            .map(|c| {
                                members
                                    .iter()
                                    .map(|m| m[view].probabilities[i][c])
                                    .sum::<f64>()
                                    / members.len() as f64
                            })
                            .collect()
                    })
                    .collect();
                let set = Predictions {
                    labels: first.labels.clone(),
                    probabilities,
                };
                format!("{:.2}%", 100.0 * set.accuracy())
            })
            .collect()
    };
    for a in 0..all.len() {
        for b in a + 1..all.len() {
            println!(
                "{} + {}: {}",
                all[a].0,
                all[b].0,
                averaged(&[&all[a].1, &all[b].1]).join(", ")
            );
        }
    }
    if all.len() > 2 {
        let members: Vec<&Vec<Predictions>> = all.iter().map(|(_, s)| s).collect();
        println!("all {}: {}", all.len(), averaged(&members).join(", "));
    }
    Ok(())
}
