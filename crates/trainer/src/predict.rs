//! Using a saved model: `predict` on image files, the model behind `serve`, and
//! `export-automl` (the dataset as image files plus AutoML's CSV).

use crate::artifacts::{self, ArtifactError, ModelCard, RunPaths};
use crate::backend::Compute;
use crate::evaluate::predict;
use crate::job::{JobError, validate_run_name, validation_split};
use burn::prelude::*;
use fmnist::{FashionMnist, Images};
use model::Ensemble;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    #[error(
        "no trained model in {0}: train one first (`cargo run -p trainer -- --budget 5m`), or point --models-dir at yours"
    )]
    NoModels(PathBuf),
    #[error(
        "no model {name:?} in {dir}: the trained models there are {available:?}; pass one of them to --model"
    )]
    UnknownModel {
        name: String,
        dir: PathBuf,
        available: Vec<String>,
    },
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    Model(#[from] model::ModelError),
    #[error("{path}: {message}")]
    Export { path: PathBuf, message: String },
}

/// A saved model, ready to classify 28x28 images.
pub struct Predictor {
    pub name: String,
    pub card: ModelCard,
    // burn modules are not shareable across threads for inference; one at a time is also
    // what the CPU backends want (each inference already uses every core).
    model: Mutex<Ensemble>,
    device: Device,
}

impl Predictor {
    pub fn load(models_dir: &Path, name: &str, compute: &Compute) -> Result<Self, PredictError> {
        validate_run_name(name)?;
        let paths = RunPaths::new(models_dir, Path::new(""), name);
        if !paths.model_card().is_file() || !paths.model_weights().is_file() {
            return Err(PredictError::UnknownModel {
                name: name.to_string(),
                dir: models_dir.to_path_buf(),
                available: trained_models(models_dir)
                    .into_iter()
                    .map(|(n, _)| n)
                    .collect(),
            });
        }
        let card: ModelCard = artifacts::read_json(&paths.model_card())?;
        let model = artifacts::load_model(&paths, &card.model, &card.ensemble, &compute.device)?;
        Ok(Self {
            name: name.to_string(),
            card,
            model: Mutex::new(model),
            device: compute.device.clone(),
        })
    }

    /// Class probabilities for each image, with the model's own test-time views (the mirror
    /// image and one-pixel shifts, as far as validation chose them).
    pub fn probabilities(&self, images: &[images::Pixels]) -> Vec<Vec<f32>> {
        if images.is_empty() {
            return Vec::new();
        }
        let pixels = images.iter().flat_map(|p| p.iter().copied()).collect();
        let images = Arc::new(Images {
            count: images.len(),
            pixels,
        });
        let labels = Arc::new(vec![0u8; images.count]);
        let model = self.model.lock().unwrap_or_else(|p| p.into_inner());
        let mut probabilities = predict(
            &*model,
            images.clone(),
            labels,
            (0..images.count).collect(),
            self.card.training.eval_batch_size,
            &self.device,
            self.card.views(),
        )
        .probabilities;
        // The card's views decided on VALIDATION, and the temperature fitted there for them.
        self.card.calibrate(&mut probabilities);
        probabilities
            .into_iter()
            .map(|row| row.into_iter().map(|p| p as f32).collect())
            .collect()
    }
}

impl serve::ImageClassifier for Predictor {
    fn class_names(&self) -> &[String] {
        &self.card.class_names
    }
    fn classify(&self, images: &[images::Pixels]) -> Result<Vec<Vec<f32>>, String> {
        Ok(self.probabilities(images))
    }
}

/// Finished models under `models_dir` (a `model.json` and a `model.bpk`), with their
/// creation times, oldest first.
pub fn trained_models(models_dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(models_dir) else {
        return Vec::new();
    };
    let mut models: Vec<(String, String)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_string();
            let paths = RunPaths::new(models_dir, Path::new(""), &name);
            if !paths.model_weights().is_file() {
                return None;
            }
            let card: ModelCard = artifacts::read_json(&paths.model_card()).ok()?;
            Some((name, card.created_at))
        })
        .collect();
    models.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    models
}

/// The most recently trained model: what `predict` and `serve` use without `--model`.
pub fn newest_model(models_dir: &Path) -> Result<String, PredictError> {
    trained_models(models_dir)
        .pop()
        .map(|(name, _)| name)
        .ok_or_else(|| PredictError::NoModels(models_dir.to_path_buf()))
}

/// Label names as AutoML accepts them (letters, digits and underscores), one per class.
pub fn automl_label(class_name: &str) -> String {
    let mut label = String::new();
    for c in class_name.chars() {
        if c.is_ascii_alphanumeric() {
            label.push(c.to_ascii_lowercase());
        } else if !label.ends_with('_') {
            label.push('_');
        }
    }
    label.trim_matches('_').to_string()
}

/// What `export-automl` wrote.
pub struct Export {
    pub csv: PathBuf,
    pub train: usize,
    pub validation: usize,
    pub test: usize,
}

/// Writes every image as a PNG under `out/images/` and the AutoML CSV `out/automl.csv`
/// (`TRAIN|VALIDATION|TEST,path,label`, paths relative to the CSV, no header), with the same
/// seeded TRAIN/VALIDATION split as training. The CSV is written last, atomically: an
/// interrupted export has no CSV.
pub fn export_automl(data: &FashionMnist, seed: u64, out: &Path) -> Result<Export, PredictError> {
    let split = validation_split(data.train_images.count, seed)?;
    let labels: Vec<String> = fmnist::CLASS_NAMES
        .iter()
        .map(|c| automl_label(c))
        .collect();
    let mut csv = String::new();
    let mut write_set = |set: &str,
                         folder: &str,
                         images: &Images,
                         label_of: &[u8],
                         indices: &[usize]|
     -> Result<(), PredictError> {
        let dir = out.join("images").join(folder);
        std::fs::create_dir_all(&dir).map_err(|e| PredictError::Export {
            path: dir.clone(),
            message: e.to_string(),
        })?;
        for &i in indices {
            let mut pixels = [0u8; images::SIDE * images::SIDE];
            pixels.copy_from_slice(images.image(i));
            let file = format!("{i:05}.png");
            let path = dir.join(&file);
            let png = images::png_bytes(&pixels).map_err(|e| PredictError::Export {
                path: path.clone(),
                message: e.to_string(),
            })?;
            std::fs::write(&path, png).map_err(|e| PredictError::Export {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let label = &labels[label_of[i] as usize];
            csv.push_str(&format!("{set},images/{folder}/{file},{label}\n"));
        }
        Ok(())
    };
    write_set(
        "TRAIN",
        "train",
        &data.train_images,
        &data.train_labels,
        &split.train,
    )?;
    write_set(
        "VALIDATION",
        "train",
        &data.train_images,
        &data.train_labels,
        &split.validation,
    )?;
    let test: Vec<usize> = (0..data.test_images.count).collect();
    write_set("TEST", "test", &data.test_images, &data.test_labels, &test)?;
    let csv_path = out.join("automl.csv");
    artifacts::write_atomic(&csv_path, csv.as_bytes())?;
    Ok(Export {
        csv: csv_path,
        train: split.train.len(),
        validation: split.validation.len(),
        test: test.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automl_labels_are_letters_digits_and_underscores() {
        let labels: Vec<String> = fmnist::CLASS_NAMES
            .iter()
            .map(|c| automl_label(c))
            .collect();
        assert_eq!(labels[0], "t_shirt_top");
        assert_eq!(labels[9], "ankle_boot");
        let unique: std::collections::BTreeSet<_> = labels.iter().collect();
        assert_eq!(unique.len(), 10);
    }

    #[test]
    fn the_newest_finished_model_is_the_default() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            newest_model(dir.path()),
            Err(PredictError::NoModels(_))
        ));
        // The committed reference run's card, with other creation times.
        let reference = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../models/reference-1h/model.json"
        );
        let mut card: serde_json::Value =
            serde_json::from_slice(&std::fs::read(reference).unwrap()).unwrap();
        for (name, created, finished) in [
            ("old", "2026-01-01T00:00:00Z", true),
            ("new", "2026-06-01T00:00:00Z", true),
            ("unfinished", "2026-12-01T00:00:00Z", false),
        ] {
            let model_dir = dir.path().join(name);
            std::fs::create_dir_all(&model_dir).unwrap();
            card["created_at"] = created.into();
            std::fs::write(model_dir.join("model.json"), card.to_string()).unwrap();
            if finished {
                std::fs::write(model_dir.join("model.bpk"), b"x").unwrap();
            }
        }
        assert_eq!(newest_model(dir.path()).unwrap(), "new");
        let names: Vec<_> = trained_models(dir.path())
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["old", "new"]);
    }
}
