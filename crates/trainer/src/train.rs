//! The training loop: budget-aware schedule, a clock checked after every step, validation
//! with early stopping, best-on-validation weights, and checkpoints to resume from.

use crate::budget::format_duration;
use crate::evaluate::{Predictions, predict};
use crate::schedule::LrSchedule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, OptimizerRecord, SgdConfig};
use burn::prelude::*;
use fmnist::{Augmentation, BatchStream, Images, SIDE};
use model::{Cnn, CnnConfig, ModelError};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum TrainError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(
        "training diverged: the loss became {loss} at step {step}; lower the learning rate (--lr)"
    )]
    Diverged { loss: f64, step: u64 },
    #[error("the training set ({images} images) is smaller than one batch ({batch})")]
    TooLittleData { images: usize, batch: usize },
    #[error("cannot {action}: {reason}")]
    Checkpoint { action: String, reason: String },
}

/// How to train, apart from the model and the budget. Saved with every model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub batch_size: usize,
    pub eval_batch_size: usize,
    pub schedule: LrSchedule,
    /// SGD with Nesterov momentum; weight decay as an L2 penalty on every parameter.
    pub momentum: f64,
    pub weight_decay: f64,
    pub label_smoothing: f32,
    pub augmentation: Augmentation,
    /// Stop after this many validation passes without a better validation accuracy.
    pub patience: Option<usize>,
    /// Stop after this many epochs even if budget is left: fixes the amount of work and,
    /// with it, the schedule (the budget still applies).
    pub max_epochs: Option<usize>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            batch_size: 128,
            eval_batch_size: 500,
            schedule: LrSchedule::default(),
            momentum: 0.9,
            weight_decay: 5e-4,
            label_smoothing: 0.0,
            augmentation: Augmentation::default(),
            patience: Some(10),
            max_epochs: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The deadline came: the budget was used.
    BudgetReached,
    /// Validation accuracy stopped improving (early stopping).
    Converged,
    /// `--max-epochs` epochs were done.
    MaxEpochs,
    /// The user pressed Ctrl-C.
    Interrupted,
}

impl StopReason {
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::BudgetReached => "budget reached",
            StopReason::Converged => "converged (early stopping on validation)",
            StopReason::MaxEpochs => "maximum number of epochs reached",
            StopReason::Interrupted => "interrupted (Ctrl-C)",
        }
    }
}

/// One validation pass, with the training that led to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based; a pass at the deadline may fall inside an epoch.
    pub epoch: usize,
    pub epochs_completed: f64,
    pub steps: u64,
    pub elapsed_seconds: f64,
    pub learning_rate: f64,
    /// Mean training loss over the steps since the previous pass.
    pub train_loss: f64,
    pub validation_loss: f64,
    pub validation_accuracy: f64,
    /// Images per second of training compute over the steps since the previous pass.
    pub train_images_per_second: f64,
    /// The data pipeline since the previous pass, per training step: time the worker thread
    /// spent building a batch, and time the training loop waited for one (0 when the worker
    /// keeps ahead). Absent from runs saved before they were measured.
    #[serde(default)]
    pub data_build_ms_per_step: f64,
    #[serde(default)]
    pub data_wait_ms_per_step: f64,
    #[serde(default)]
    pub step_ms: f64,
}

/// The training since the last validation pass: what the next pass's record reports. One
/// window for every figure, so that a pass right after an epoch boundary (no step yet in the
/// new epoch) still reports the steps that led to it.
#[derive(Debug, Default)]
struct PipelineClock {
    /// Batches fetched (a batch fetched at the deadline is not trained).
    steps: u32,
    trained_steps: u32,
    images: u64,
    loss_sum: f64,
    /// The worker's time building batches (in parallel with `compute`, on the other core).
    build: Duration,
    /// The loop's time blocked waiting for a batch.
    wait: Duration,
    /// Forward, backward and optimizer steps.
    compute: Duration,
}

impl PipelineClock {
    fn per_step_ms(&self, total: Duration) -> f64 {
        total.as_secs_f64() * 1000.0 / f64::from(self.steps.max(1))
    }

    fn mean_loss(&self) -> f64 {
        self.loss_sum / f64::from(self.trained_steps.max(1))
    }

    fn images_per_second(&self) -> f64 {
        self.images as f64 / self.compute.as_secs_f64().max(1e-9)
    }
}

/// Everything needed to continue a run where its last checkpoint left it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub next_epoch: usize,
    pub steps: u64,
    pub images_seen: u64,
    pub elapsed_seconds: f64,
    pub history: Vec<EpochRecord>,
    pub best: Option<EpochRecord>,
    pub passes_since_best: usize,
    pub validation_seconds: f64,
    pub stop_reason: Option<StopReason>,
}

impl TrainState {
    fn new() -> Self {
        Self {
            next_epoch: 0,
            steps: 0,
            images_seen: 0,
            elapsed_seconds: 0.0,
            history: Vec::new(),
            best: None,
            passes_since_best: 0,
            validation_seconds: 0.0,
            stop_reason: None,
        }
    }
}

/// What a resumed run starts from.
pub struct Resume {
    pub state: TrainState,
    pub model: Vec<u8>,
    pub optimizer: Vec<u8>,
    pub best_model: Vec<u8>,
}

/// What a finished run hands back.
pub struct TrainOutcome {
    /// The best weights on validation, as an inference model.
    pub model: Cnn,
    pub model_bytes: Vec<u8>,
    /// That model's predictions on VALIDATION (plain view).
    pub validation: Predictions,
    pub state: TrainState,
    pub stop_reason: StopReason,
    /// Wall time from the first step to the end of the last validation pass, resumed runs
    /// included.
    pub training_time: Duration,
}

/// The images and the split the loop trains and validates on.
pub struct TrainData {
    pub images: Arc<Images>,
    pub labels: Arc<Vec<u8>>,
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
}

/// What the progress display sees after each step.
pub struct StepProgress {
    pub epoch: usize,
    pub step_in_epoch: usize,
    pub steps_in_epoch: usize,
    pub mean_loss: f64,
    pub learning_rate: f64,
    pub elapsed: Duration,
    pub budget: Duration,
    pub last_validation_accuracy: Option<f64>,
}

pub trait TrainObserver {
    fn epoch_started(&mut self, _epoch: usize, _steps_in_epoch: usize) {}
    fn step(&mut self, _progress: &StepProgress) {}
    fn validation_started(&mut self) {}
    fn validated(&mut self, _record: &EpochRecord, _budget: Duration) {}
    fn note(&mut self, _message: &str) {}
}

/// Where the loop writes its checkpoints (the files `--resume` reads).
pub trait CheckpointSink {
    fn save(
        &mut self,
        state: &TrainState,
        model: &[u8],
        optimizer: &[u8],
        best_model: &[u8],
    ) -> Result<(), TrainError>;
}

pub struct Session<'a> {
    pub model_config: &'a CnnConfig,
    pub config: &'a TrainConfig,
    pub seed: u64,
    pub budget: Duration,
    /// Plain passes over VALIDATION to keep inside the budget after training's final one:
    /// the evaluation that follows (the test-time views' decision, the test pass), timed as
    /// the validation passes are.
    pub evaluation_passes: f64,
    pub data: &'a TrainData,
    /// The inference device; training uses its autodiff twin.
    pub device: &'a Device,
    pub stop: &'a AtomicBool,
    pub observer: &'a mut dyn TrainObserver,
    pub checkpoints: Option<&'a mut dyn CheckpointSink>,
}

fn optimizer(config: &TrainConfig) -> ModuleOptimizer {
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig {
            momentum: config.momentum,
            dampening: 0.0,
            nesterov: true,
        }))
        .with_weight_decay((config.weight_decay > 0.0).then_some(WeightDecayConfig {
            penalty: config.weight_decay as f32,
        }))
        .init()
}

fn checkpoint_error(action: &str) -> impl Fn(burn::store::RecordError) -> TrainError + '_ {
    move |e| TrainError::Checkpoint {
        action: action.to_string(),
        reason: e.to_string(),
    }
}

impl Session<'_> {
    /// Trains until the budget, early stopping, `max_epochs` or Ctrl-C, whichever is first.
    pub fn run(mut self, resume: Option<Resume>) -> Result<TrainOutcome, TrainError> {
        let cfg = self.config;
        let batch = cfg.batch_size.max(1);
        let steps_in_epoch = self.data.train.len() / batch;
        if steps_in_epoch == 0 {
            return Err(TrainError::TooLittleData {
                images: self.data.train.len(),
                batch,
            });
        }
        let train_device = self.device.clone().autodiff();
        self.device.seed(self.seed);
        train_device.seed(self.seed);
        let mut model = self.model_config.init(&train_device)?;
        let mut optim = optimizer(cfg);
        let mut best_predictions = None;
        let (mut state, mut best_bytes) = match resume {
            Some(r) => {
                model = model.load_bytes(r.model, Path::new("checkpoint model"))?;
                let record =
                    OptimizerRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(r.optimizer))
                        .map_err(checkpoint_error("read the optimizer checkpoint"))?;
                optim = optim.load_record(record);
                (r.state, r.best_model)
            }
            None => (TrainState::new(), Vec::new()),
        };
        let loss_fn = CrossEntropyLossConfig::new()
            .with_smoothing((cfg.label_smoothing > 0.0).then_some(cfg.label_smoothing))
            .init(&train_device);

        // Until a real validation pass has been timed, estimate one from a small timed batch,
        // so the deadline for the last step leaves room for the final pass.
        if state.validation_seconds == 0.0 {
            state.validation_seconds = self.estimate_validation_seconds(&model);
        }
        let budget = self.budget;
        // A resumed run's clock starts where its checkpoint left it.
        let already_used = Duration::from_secs_f64(state.elapsed_seconds);
        let start = Instant::now();
        let elapsed = || already_used + start.elapsed();
        let margin = Duration::from_millis(250);
        let evaluation_passes = self.evaluation_passes;
        // The latest pass times the evaluation: the slowest (`validation_seconds`, which
        // guards the final pass) would keep back more than it needs.
        let mut latest_pass = state.validation_seconds;
        let step_deadline = |validation_seconds: f64, latest_pass: f64| {
            budget.saturating_sub(
                Duration::from_secs_f64(
                    validation_seconds * 1.15 + latest_pass * evaluation_passes,
                ) + margin,
            )
        };
        let mut step_seconds = 0.0f64;
        let mut stop = None;
        let mut last_validation_at = state.history.last().map_or(0.0, |r| r.elapsed_seconds);
        let mut last_lr = cfg.schedule.at(0.0);
        let mut pipeline = PipelineClock::default();

        'epochs: while stop.is_none() {
            if cfg.max_epochs.is_some_and(|m| state.next_epoch >= m) {
                stop = Some(StopReason::MaxEpochs);
                break;
            }
            let epoch = state.next_epoch;
            self.observer.epoch_started(epoch + 1, steps_in_epoch);
            let stream = BatchStream::training(
                self.data.images.clone(),
                self.data.labels.clone(),
                &self.data.train,
                batch,
                cfg.augmentation.clone(),
                self.seed,
                epoch as u64,
            );
            let (mut loss_sum, mut loss_count) = (0.0f64, 0usize);
            let mut stream = stream.enumerate();
            loop {
                let wait_start = Instant::now();
                let Some((i, b)) = stream.next() else {
                    break;
                };
                pipeline.wait += wait_start.elapsed();
                pipeline.build += Duration::from_secs_f64(b.build_seconds);
                pipeline.steps += 1;
                let deadline = step_deadline(state.validation_seconds, latest_pass);
                if self.stop.load(Ordering::Relaxed) {
                    stop = Some(StopReason::Interrupted);
                    break;
                }
                // Stop before, not after, a step that would cross the deadline.
                if elapsed() + Duration::from_secs_f64(step_seconds) > deadline {
                    stop = Some(StopReason::BudgetReached);
                    break;
                }
                let step_start = Instant::now();
                // The schedule ends at whichever comes first: the deadline or, with
                // `max_epochs`, the last step. When the epoch cap binds, the schedule then
                // depends on the step count alone, not on the machine's speed.
                let clock = elapsed().as_secs_f64() / deadline.as_secs_f64().max(1e-9);
                let work = cfg.max_epochs.map_or(0.0, |m| {
                    state.steps as f64 / (m.max(1) * steps_in_epoch) as f64
                });
                let progress = clock.max(work);
                let lr = cfg.schedule.at(progress);
                let n = b.len();
                let x = Tensor::<4>::from_data(
                    TensorData::new(b.images, [n, 1, SIDE, SIDE]),
                    &train_device,
                );
                let y = Tensor::<1, Int>::from_data(TensorData::new(b.labels, [n]), &train_device);
                let loss = loss_fn.forward(model.forward(x), y);
                let loss_value = loss.clone().into_scalar::<f32>() as f64;
                if !loss_value.is_finite() {
                    return Err(TrainError::Diverged {
                        loss: loss_value,
                        step: state.steps,
                    });
                }
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                model = optim.step(lr, model, grads);
                let took = step_start.elapsed();
                // A slow step (a page fault storm, another process) should not be forgotten
                // at once: the estimate decides whether the next step still fits.
                step_seconds = if step_seconds == 0.0 {
                    took.as_secs_f64()
                } else {
                    (0.8 * step_seconds + 0.2 * took.as_secs_f64()).max(took.as_secs_f64() * 0.5)
                };
                pipeline.compute += took;
                pipeline.trained_steps += 1;
                pipeline.images += n as u64;
                pipeline.loss_sum += loss_value;
                state.steps += 1;
                state.images_seen += n as u64;
                last_lr = lr;
                loss_sum += loss_value;
                loss_count += 1;
                self.observer.step(&StepProgress {
                    epoch: epoch + 1,
                    step_in_epoch: i + 1,
                    steps_in_epoch,
                    mean_loss: loss_sum / loss_count as f64,
                    learning_rate: lr,
                    elapsed: elapsed(),
                    budget,
                    last_validation_accuracy: state.history.last().map(|r| r.validation_accuracy),
                });
            }
            let epoch_done = stop.is_none();
            if epoch_done {
                state.next_epoch += 1;
            }
            // A pass between epochs must leave time for the final one at the deadline, and
            // passes are spaced at least 1/25 of the budget apart so that short epochs in a
            // long budget do not spend a large share of it on validation.
            let now = elapsed().as_secs_f64();
            let room = now + 2.2 * state.validation_seconds + latest_pass * evaluation_passes
                < budget.as_secs_f64();
            let spaced = now - last_validation_at >= budget.as_secs_f64() / 25.0;
            let last_epoch = cfg.max_epochs.is_some_and(|m| state.next_epoch >= m);
            let validate_now =
                pipeline.trained_steps > 0 && (!epoch_done || last_epoch || (room && spaced));
            if !validate_now {
                continue 'epochs;
            }
            let epochs_completed = state.images_seen as f64 / (steps_in_epoch * batch) as f64;
            self.observer.validation_started();
            let (predictions, seconds) = self.validate(&model);
            state.validation_seconds = state.validation_seconds.max(seconds);
            latest_pass = seconds;
            last_validation_at = elapsed().as_secs_f64();
            let (validation_loss, validation_accuracy) =
                (predictions.loss(), predictions.accuracy());
            let record = EpochRecord {
                epoch: epoch + 1,
                epochs_completed,
                steps: state.steps,
                elapsed_seconds: elapsed().as_secs_f64(),
                learning_rate: last_lr,
                train_loss: pipeline.mean_loss(),
                validation_loss,
                validation_accuracy,
                train_images_per_second: pipeline.images_per_second(),
                data_build_ms_per_step: pipeline.per_step_ms(pipeline.build),
                data_wait_ms_per_step: pipeline.per_step_ms(pipeline.wait),
                step_ms: pipeline.per_step_ms(pipeline.compute),
            };
            pipeline = PipelineClock::default();
            self.observer.validated(&record, budget);
            let improved = state.best.as_ref().is_none_or(|b| {
                record.validation_accuracy > b.validation_accuracy
                    || (record.validation_accuracy == b.validation_accuracy
                        && record.validation_loss < b.validation_loss)
            });
            if improved {
                best_bytes = model.to_bytes()?;
                best_predictions = Some(predictions);
                state.best = Some(record.clone());
                state.passes_since_best = 0;
            } else {
                state.passes_since_best += 1;
            }
            state.history.push(record);
            if stop.is_none() && cfg.patience.is_some_and(|p| state.passes_since_best >= p) {
                stop = Some(StopReason::Converged);
                self.observer.note(&format!(
                    "validation accuracy has not improved for {} passes: stopping early",
                    state.passes_since_best
                ));
            }
            state.elapsed_seconds = elapsed().as_secs_f64();
            state.stop_reason = stop;
            if let Some(sink) = self.checkpoints.as_deref_mut() {
                let optimizer_bytes = optim
                    .to_record()
                    .into_bytes()
                    .map_err(checkpoint_error("serialise the optimizer state"))?;
                sink.save(&state, &model.to_bytes()?, &optimizer_bytes, &best_bytes)?;
            }
        }
        let training_time = elapsed();
        let stop_reason = stop.unwrap_or(StopReason::BudgetReached);
        state.stop_reason = Some(stop_reason);
        state.elapsed_seconds = training_time.as_secs_f64();
        if best_bytes.is_empty() {
            best_bytes = model.to_bytes()?;
        }
        let best = self
            .model_config
            .init(self.device)?
            .load_bytes(best_bytes.clone(), Path::new("best weights"))?;
        // A resumed run whose best pass came before the interruption predicts again.
        let validation = match best_predictions {
            Some(p) => p,
            None => self.predict_validation(&best),
        };
        if let Some(b) = &state.best {
            self.observer.note(&format!(
                "stopped: {}; best validation accuracy {:.2}% after {} (epoch {})",
                stop_reason.describe(),
                b.validation_accuracy * 100.0,
                format_duration(Duration::from_secs_f64(b.elapsed_seconds)),
                b.epoch
            ));
        }
        Ok(TrainOutcome {
            model: best,
            model_bytes: best_bytes,
            validation,
            state,
            stop_reason,
            training_time,
        })
    }

    fn validate(&self, model: &Cnn) -> (Predictions, f64) {
        let start = Instant::now();
        let predictions = self.predict_validation(&model.valid());
        (predictions, start.elapsed().as_secs_f64())
    }

    /// `model` must be an inference copy.
    fn predict_validation(&self, model: &Cnn) -> Predictions {
        predict(
            model,
            self.data.images.clone(),
            self.data.labels.clone(),
            self.data.validation.clone(),
            self.config.eval_batch_size,
            self.device,
            crate::evaluate::Views::Plain,
        )
    }

    fn estimate_validation_seconds(&self, model: &Cnn) -> f64 {
        crate::evaluate::pass_seconds(
            &model.valid(),
            self.data.images.clone(),
            self.data.labels.clone(),
            &self.data.validation,
            self.config.eval_batch_size,
            self.device,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::StageConfig;

    /// Asks to stop after the last step of the first epoch: the loop then sees the request at
    /// the first step of the second epoch, before training it.
    struct StopAtEpochEnd<'a>(&'a AtomicBool);

    impl TrainObserver for StopAtEpochEnd<'_> {
        fn step(&mut self, progress: &StepProgress) {
            if progress.step_in_epoch == progress.steps_in_epoch {
                self.0.store(true, Ordering::Relaxed);
            }
        }
    }

    #[test]
    fn a_pass_after_an_epoch_boundary_reports_the_steps_before_it() {
        let images = 48;
        let data = TrainData {
            images: Arc::new(fmnist::Images {
                count: images,
                pixels: (0..images * fmnist::PIXELS)
                    .map(|i| (i % 251) as u8)
                    .collect(),
            }),
            labels: Arc::new((0..images).map(|i| (i % 10) as u8).collect()),
            train: (0..32).collect(),
            validation: (32..images).collect(),
        };
        let model_config = CnnConfig {
            stages: vec![StageConfig {
                channels: 4,
                convs: 1,
            }],
            ..CnnConfig::default()
        };
        let config = TrainConfig {
            batch_size: 8,
            eval_batch_size: 16,
            ..TrainConfig::default()
        };
        let stop = AtomicBool::new(false);
        let mut observer = StopAtEpochEnd(&stop);
        let outcome = Session {
            model_config: &model_config,
            config: &config,
            seed: 1,
            // Long enough that no pass is due at the end of the first epoch.
            budget: Duration::from_secs(3600),
            evaluation_passes: 0.0,
            data: &data,
            device: &Device::flex(),
            stop: &stop,
            observer: &mut observer,
            checkpoints: None,
        }
        .run(None)
        .expect("trains");
        assert_eq!(outcome.stop_reason, StopReason::Interrupted);
        let [record] = outcome.state.history.as_slice() else {
            panic!("one pass expected: {:?}", outcome.state.history);
        };
        assert_eq!((record.epoch, record.steps), (2, 4));
        assert!(
            record.train_loss.is_finite() && record.train_loss > 0.0,
            "{record:?}"
        );
        assert!(record.train_images_per_second > 0.0, "{record:?}");
        // NaN would be written as null, and the saved card could not be read back.
        let json = serde_json::to_string(record).expect("serialises");
        let back: EpochRecord = serde_json::from_str(&json).expect("reads back");
        assert_eq!(&back, record);
    }
}
