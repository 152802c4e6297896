//! The search's trainings on the real data, each in its own folder under the run's
//! checkpoint (`checkpoint/stages/NAME/`), so that a killed run resumes where it stopped:
//! finished stages are kept (`search.json` lists them, `weights.bpk` holds the model), and the
//! stage that was running continues from its last checkpoint.

use crate::artifacts::{self, CheckpointDir};
use crate::evaluate::{Predictions, predict};
use crate::job::JobError;
use crate::search::{Candidate, FinalsChoice, StageResult, StageTrainer, TrialRecord};
use crate::train::{Session, TrainData, TrainObserver};
use burn::prelude::*;
use model::Cnn;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// `checkpoint/search.json`: the finished stages and the budget they used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchProgress {
    pub clock_seconds: f64,
    pub records: Vec<TrialRecord>,
    /// How the finals train, once the rungs are over.
    #[serde(default)]
    pub finals: Option<FinalsChoice>,
}

/// `checkpoint/stages/NAME/stage.json`: fixed when the stage starts, so a resumed stage keeps
/// its budget (and with it its learning-rate schedule).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StagePlan {
    budget_seconds: f64,
    seed: u64,
}

pub struct Stages<'a> {
    pub checkpoint_dir: PathBuf,
    pub data: &'a TrainData,
    pub device: &'a Device,
    pub stop: &'a AtomicBool,
    pub observer: &'a mut dyn TrainObserver,
    /// Budget used before this process started (finished stages and the interrupted one).
    pub clock_at_start: f64,
    pub started: Instant,
    /// The finals' choice, saved with the progress.
    pub finals: Option<FinalsChoice>,
}

impl<'a> Stages<'a> {
    /// Reads what an interrupted search had done; an empty progress for a new run. The clock
    /// includes the time the interrupted stage had used by its last checkpoint.
    pub fn progress(checkpoint_dir: &Path) -> Result<SearchProgress, JobError> {
        let path = checkpoint_dir.join("search.json");
        let mut progress: SearchProgress = if path.is_file() {
            artifacts::read_json(&path)?
        } else {
            SearchProgress::default()
        };
        let stages = checkpoint_dir.join("stages");
        if let Ok(entries) = std::fs::read_dir(&stages) {
            for entry in entries.filter_map(|e| e.ok()) {
                let name = entry.file_name().to_string_lossy().into_owned();
                if progress.records.iter().any(|r| r.name == name) {
                    continue;
                }
                let dir = CheckpointDir {
                    dir: entry.path(),
                    pending_spec: None,
                };
                if let Ok(resume) = dir.load_progress() {
                    progress.clock_seconds += resume.state.elapsed_seconds;
                }
            }
        }
        Ok(progress)
    }

    fn stage_dir(&self, name: &str) -> PathBuf {
        self.checkpoint_dir.join("stages").join(name)
    }

    fn weights_path(&self, name: &str) -> PathBuf {
        self.stage_dir(name).join("weights.bpk")
    }

    /// The model a finished stage saved, and its weights as saved.
    pub fn load_model(
        &self,
        name: &str,
        candidate: &Candidate,
    ) -> Result<(Cnn, Vec<u8>), JobError> {
        let path = self.weights_path(name);
        let bytes = artifacts::read_bytes(&path)?;
        let model = candidate
            .model
            .init(self.device)?
            .load_bytes(bytes.clone(), &path)?;
        Ok((model, bytes))
    }
}

impl StageTrainer for Stages<'_> {
    type Error = JobError;

    fn train(
        &mut self,
        name: &str,
        candidate: &Candidate,
        seed: u64,
        budget_seconds: f64,
    ) -> Result<StageResult, JobError> {
        let dir = self.stage_dir(name);
        let plan_path = dir.join("stage.json");
        let checkpoint = CheckpointDir {
            dir: dir.clone(),
            pending_spec: None,
        };
        // A stage an earlier process started goes on with its own budget and seed.
        let (plan, resume) = match artifacts::read_json::<StagePlan>(&plan_path) {
            Ok(plan) => (plan, checkpoint.load_progress().ok()),
            Err(_) => {
                let plan = StagePlan {
                    budget_seconds,
                    seed,
                };
                artifacts::write_json(&plan_path, &plan)?;
                (plan, None)
            }
        };
        let trained_before_seconds = resume.as_ref().map_or(0.0, |r| r.state.elapsed_seconds);
        let mut sink = checkpoint;
        let outcome = Session {
            model_config: &candidate.model,
            config: &candidate.training,
            seed: plan.seed,
            budget: std::time::Duration::from_secs_f64(plan.budget_seconds),
            // The plan keeps the evaluation out of the search's clock.
            evaluation_passes: 0.0,
            data: self.data,
            device: self.device,
            stop: self.stop,
            observer: &mut *self.observer,
            checkpoints: Some(&mut sink),
        }
        .run(resume)?;
        let interrupted = outcome.stop_reason == crate::train::StopReason::Interrupted;
        if !interrupted {
            artifacts::write_atomic(&self.weights_path(name), &outcome.model_bytes)?;
            // Only the model is needed from now on; the training state was for resuming.
            for file in ["model.bpk", "optimizer.bpk", "best.bpk", "state.json"] {
                let _ = std::fs::remove_file(dir.join(file));
            }
        }
        let history = outcome.state.history;
        Ok(StageResult {
            epochs: history.last().map_or(0.0, |r| r.epochs_completed),
            validation: outcome.validation,
            history,
            stop_reason: outcome.stop_reason,
            budget_seconds: plan.budget_seconds,
            trained_before_seconds,
        })
    }

    fn validation_of(&mut self, record: &TrialRecord) -> Result<Predictions, JobError> {
        let (model, _) = self.load_model(&record.name, &record.candidate)?;
        Ok(predict(
            &model,
            self.data.images.clone(),
            self.data.labels.clone(),
            self.data.validation.clone(),
            record.candidate.training.eval_batch_size,
            self.device,
            crate::evaluate::Views::Plain,
        ))
    }

    fn clock(&self) -> f64 {
        self.clock_at_start + self.started.elapsed().as_secs_f64()
    }

    fn finished(&mut self, records: &[TrialRecord]) -> Result<(), JobError> {
        let progress = SearchProgress {
            clock_seconds: self.clock(),
            records: records.to_vec(),
            finals: self.finals.clone(),
        };
        artifacts::write_json(&self.checkpoint_dir.join("search.json"), &progress)?;
        Ok(())
    }

    fn note(&mut self, message: &str) {
        self.observer.note(message);
    }

    fn epochs_in(
        &mut self,
        model: &model::CnnConfig,
        batch_size: usize,
        seconds: f64,
    ) -> Option<f64> {
        crate::job::epoch_seconds(self.device, model, batch_size, self.data.train.len())
            .map(|epoch| seconds / epoch.max(1e-9))
    }

    fn finals_chosen(&mut self, choice: &FinalsChoice) {
        self.finals = Some(choice.clone());
    }
}
