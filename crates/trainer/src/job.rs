//! The main job end to end: find or fetch the data, split it, train within the budget,
//! evaluate once on TEST, and write the model and the reports.

use crate::artifacts::{
    self, ArtifactError, CheckpointDir, DatasetInfo, MetricsReport, ModelCard, RunPaths, RunSpec,
};
use crate::backend::Compute;
use crate::budget::format_duration;
use crate::evaluate::{EvaluationCost, MirrorChoice, Temperature, Views, predict};
use crate::reporting::{write_index, write_report};
use crate::search::{Plan, SearchMode, SearchPlan, SearchSummary, StageKind, TrialRecord};
use crate::stages::Stages;
use crate::train::{
    EpochRecord, Session, StopReason, TrainConfig, TrainData, TrainError, TrainObserver,
};
use burn::prelude::*;
use fmnist::{
    CLASS_NAMES, DataError, DownloadProgress, ExpectedDigests, FashionMnist, LocateOptions,
    VALIDATION_SIZE,
};
use metrics::MetricsError;
use model::CnnConfig;
use report::{ReferenceResults, ReportError, RunSummary};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum JobError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    Model(#[from] model::ModelError),
    #[error("evaluating on the test set failed: {0}")]
    Metrics(#[from] MetricsError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    RunFile(#[from] report::RunFileError),
    #[error(transparent)]
    Chart(#[from] report::ChartError),
    #[error(
        "invalid run name {0:?}: use letters, digits, '.', '_' and '-' only, not starting with '.'"
    )]
    RunName(String),
    #[error(
        "a run named {name:?} already exists in {dir}; pick another --run-name, or --resume {name} to continue it"
    )]
    RunExists { name: String, dir: PathBuf },
    #[error("cannot resume {name:?}: {reason}")]
    Resume { name: String, reason: String },
    #[error("{0}")]
    Inconsistent(String),
    #[error("stopped before the search finished its first training; `--resume {0}` continues it")]
    SearchInterrupted(String),
}

/// Where the dataset may come from.
#[derive(Debug, Clone)]
pub struct DataOptions {
    pub data_dir: Option<PathBuf>,
    pub env_dir: Option<PathBuf>,
    pub project_root: PathBuf,
    pub offline: bool,
    pub allow_unverified: bool,
    pub base_url: String,
}

pub struct JobOptions {
    /// Train on the images an AutoML CSV lists instead of Fashion-MNIST.
    pub csv: Option<PathBuf>,
    pub budget_text: String,
    pub budget: Duration,
    /// The opened backend; a resumed run continues on it, whatever the interrupted one used
    /// (checkpoints are backend-free).
    pub compute: Compute,
    pub seed: u64,
    pub run_name: Option<String>,
    pub resume: Option<String>,
    pub data: DataOptions,
    pub models_dir: PathBuf,
    pub reports_dir: PathBuf,
    pub model: CnnConfig,
    pub training: TrainConfig,
    /// Whether to search (decided by the budget under `auto`).
    pub search: SearchMode,
    /// The width factor the user gave `model` (`--width`); `None` lets the budget widen the
    /// single model (see [`crate::recipe::auto_width`]).
    pub width: Option<f64>,
    /// The label smoothing the user gave (`--label-smoothing`); `None` lets a budget that
    /// widens the model smooth its labels (see [`crate::recipe::WIDE_LABEL_SMOOTHING`]).
    pub label_smoothing: Option<f32>,
}

pub struct JobOutcome {
    /// Things the user should know that did not stop the job.
    pub notes: Vec<String>,
    pub run_name: String,
    pub paths: RunPaths,
    pub card: ModelCard,
    pub report: MetricsReport,
    pub comparison: String,
}

/// The test-set evaluation of a model: its predictions in t10k order and their metrics.
pub struct TestEvaluation {
    pub indices: Vec<usize>,
    pub predictions: crate::evaluate::Predictions,
    pub metrics: metrics::Metrics,
}

fn evaluate_on_test(
    model: &impl model::Classifier,
    images: Arc<fmnist::Images>,
    labels: Arc<Vec<u8>>,
    batch_size: usize,
    device: &Device,
    readout: Option<&MirrorChoice>,
    num_classes: usize,
) -> Result<TestEvaluation, JobError> {
    let indices: Vec<usize> = (0..images.count).collect();
    let mut predictions = predict(
        model,
        images,
        labels,
        indices.clone(),
        batch_size,
        device,
        readout.map_or(Views::Plain, MirrorChoice::views),
    );
    if let Some(choice) = readout {
        choice.calibrate(&mut predictions.probabilities);
    }
    let metrics = metrics::evaluate(&predictions.labels, &predictions.probabilities, num_classes)?;
    Ok(TestEvaluation {
        indices,
        predictions,
        metrics,
    })
}

/// Saves a model's test evaluation (`metrics.json`, `test_predictions.csv`), then rebuilds its
/// report and the list of runs. Returns the saved metrics and notes for the user.
fn publish_test_evaluation(
    paths: &RunPaths,
    card: &ModelCard,
    test: TestEvaluation,
    test_images: &fmnist::Images,
    (models_dir, reports_dir): (&std::path::Path, &std::path::Path),
    reference: &ReferenceResults,
) -> Result<(MetricsReport, Vec<String>), JobError> {
    let report = MetricsReport::for_card(card, test.metrics);
    artifacts::write_json(&paths.metrics(), &report)?;
    artifacts::write_atomic(
        &paths.predictions(),
        artifacts::predictions_csv(&test.predictions, &test.indices).as_bytes(),
    )?;
    let mut notes = write_report(paths, reference, Some(test_images))?;
    notes.extend(refresh_index(models_dir, reports_dir, reference));
    Ok((report, notes))
}

/// Rebuilds `reports/index.html`; a failure there becomes a note, since the run itself is
/// saved by then.
pub fn refresh_index(
    models_dir: &std::path::Path,
    reports_dir: &std::path::Path,
    reference: &ReferenceResults,
) -> Vec<String> {
    match write_index(models_dir, reports_dir, reference) {
        Ok(_) => Vec::new(),
        Err(e) => vec![format!("the list of runs was not rebuilt: {e}")],
    }
}

pub struct EvaluateOptions {
    pub run_name: String,
    pub compute: Compute,
    pub data: DataOptions,
    pub models_dir: PathBuf,
    pub reports_dir: PathBuf,
}

pub struct EvaluateOutcome {
    pub paths: RunPaths,
    pub report: MetricsReport,
    /// Test accuracy in the `metrics.json` this evaluation replaced, if there was one.
    pub previous_accuracy: Option<f64>,
    pub notes: Vec<String>,
}

/// Re-evaluates a saved model on the test set: `metrics.json` and `test_predictions.csv` are
/// rewritten from the model's own predictions, then the report and the list of runs.
pub fn evaluate_saved(
    options: EvaluateOptions,
    download: &mut dyn DownloadProgress,
) -> Result<EvaluateOutcome, JobError> {
    validate_run_name(&options.run_name)?;
    let paths = RunPaths::new(&options.models_dir, &options.reports_dir, &options.run_name);
    let mut card: ModelCard = artifacts::read_json(&paths.model_card())?;
    let device = options.compute.device.clone();
    let model = artifacts::load_model(&paths, &card.model, &card.ensemble, &device)?;
    let reference = ReferenceResults::bundled()?;
    let mut quiet = NoNotes;
    let dataset = load_run_data(
        card.dataset.csv.as_deref(),
        card.seed,
        &options.data,
        &mut quiet,
        download,
    )?;
    let previous_accuracy = artifacts::read_json::<MetricsReport>(&paths.metrics())
        .ok()
        .map(|r| r.metrics.accuracy);
    let mut notes = Vec::new();
    let train_images = Arc::new(dataset.train_images);
    let train_labels = Arc::new(dataset.train_labels);
    if card
        .test_time_mirror
        .is_none_or(|c| c.validation_accuracy_shifted.is_none() && c.views_tried.is_none())
    {
        // Saved before mirror averaging or the shifted views existed: decide it now, on
        // VALIDATION, as training does, and record the decision in the model card. (A run
        // whose budget left no time for every view keeps the views it chose.)
        let choice = MirrorChoice::decide(
            &model,
            train_images,
            train_labels,
            dataset.split.validation,
            card.training.eval_batch_size,
            &device,
            // No budget here: every set is tried.
            Views::MirrorShifted,
            card.best_validation
                .as_ref()
                .map_or(0.0, |b| b.validation_accuracy),
        );
        notes.push(choice.describe());
        card.test_time_mirror = Some(choice);
        artifacts::write_json(&paths.model_card(), &card)?;
    } else if let Some(choice) = card
        .test_time_mirror
        .as_mut()
        .filter(|c| c.temperature.is_none())
    {
        // Saved before temperature scaling, or by a budget that left no time for it: fit it
        // now on VALIDATION, for the views the model keeps.
        let validation = predict(
            &model,
            train_images,
            train_labels,
            dataset.split.validation,
            card.training.eval_batch_size,
            &device,
            choice.views(),
        );
        choice.temperature = Some(Temperature::fit(&validation));
        notes.push(choice.describe());
        artifacts::write_json(&paths.model_card(), &card)?;
    }
    let test_images = Arc::new(dataset.test_images);
    let test = evaluate_on_test(
        &model,
        test_images.clone(),
        Arc::new(dataset.test_labels),
        card.training.eval_batch_size,
        &device,
        card.test_time_mirror.as_ref(),
        card.class_names.len(),
    )?;
    let (report, more_notes) = publish_test_evaluation(
        &paths,
        &card,
        test,
        &test_images,
        (&options.models_dir, &options.reports_dir),
        &reference,
    )?;
    notes.extend(more_notes);
    Ok(EvaluateOutcome {
        paths,
        report,
        previous_accuracy,
        notes,
    })
}

/// The seeded TRAIN/VALIDATION split of the training images, as every run makes it.
pub fn validation_split(train_images: usize, seed: u64) -> Result<fmnist::Split, JobError> {
    Ok(fmnist::split_train_validation(
        train_images,
        VALIDATION_SIZE.min(train_images / 6).max(1),
        seed,
    )?)
}

pub fn validate_run_name(name: &str) -> Result<(), JobError> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(JobError::RunName(name.to_string()))
    }
}

/// An observer for loading data again (evaluation): the notes were given at training.
struct NoNotes;

impl TrainObserver for NoNotes {}

/// A run's images, split, and what the model card says about them.
struct RunData {
    train_images: fmnist::Images,
    train_labels: Vec<u8>,
    split: fmnist::Split,
    test_images: fmnist::Images,
    test_labels: Vec<u8>,
    class_names: Vec<String>,
    info: DatasetInfo,
}

/// Fashion-MNIST with the benchmark's split, or the images and split an AutoML CSV gives.
fn load_run_data(
    csv: Option<&std::path::Path>,
    seed: u64,
    data: &DataOptions,
    observer: &mut dyn TrainObserver,
    download: &mut dyn DownloadProgress,
) -> Result<RunData, JobError> {
    if let Some(csv) = csv {
        let d = fmnist::load_automl_csv(csv, seed)?;
        observer.note(&format!(
            "{}: {} classes; {} TRAIN, {} VALIDATION, {} TEST images ({} UNASSIGNED split 80/10/10; {} with a light background negated). AutoML's rows in the comparison are Fashion-MNIST's results",
            csv.display(),
            d.class_names.len(),
            d.train.len(),
            d.validation.len(),
            d.test_images.count,
            d.unassigned,
            d.inverted
        ));
        let info = DatasetInfo {
            dir: csv.parent().map(|p| p.to_path_buf()).unwrap_or_default(),
            downloaded: false,
            verified: false,
            digests: Vec::new(),
            train_images: d.train.len(),
            validation_images: d.validation.len(),
            test_images: d.test_images.count,
            csv: Some(csv.to_path_buf()),
        };
        return Ok(RunData {
            split: fmnist::Split {
                train: d.train,
                validation: d.validation,
            },
            train_images: d.train_images,
            train_labels: d.train_labels,
            test_images: d.test_images,
            test_labels: d.test_labels,
            class_names: d.class_names,
            info,
        });
    }
    let (dataset, downloaded, data_dir) = load_dataset(data, download)?;
    if !dataset.verified {
        observer.note("the dataset does not match the official digests (--allow-unverified-data): results are not comparable with Fashion-MNIST's");
    }
    let FashionMnist {
        train_images,
        train_labels,
        test_images,
        test_labels,
        digests,
        verified,
    } = dataset;
    let split = validation_split(train_images.count, seed)?;
    let info = DatasetInfo {
        dir: data_dir,
        downloaded,
        verified,
        digests,
        train_images: split.train.len(),
        validation_images: split.validation.len(),
        test_images: test_images.count,
        csv: None,
    };
    Ok(RunData {
        train_images,
        train_labels,
        split,
        test_images,
        test_labels,
        class_names: CLASS_NAMES.iter().map(|s| s.to_string()).collect(),
        info,
    })
}

/// Finds the dataset (or downloads it) and loads it.
pub fn load_dataset(
    options: &DataOptions,
    progress: &mut dyn DownloadProgress,
) -> Result<(FashionMnist, bool, PathBuf), JobError> {
    let locate = LocateOptions::standard(
        options.data_dir.clone(),
        options.env_dir.clone(),
        &options.project_root,
    );
    let expected = ExpectedDigests::official();
    let require_official = !options.allow_unverified;
    let (located, downloaded) = match fmnist::locate(&locate) {
        Ok(found) => (found, false),
        Err(not_found) if options.offline || options.data_dir.is_some() => {
            return Err(not_found.into());
        }
        Err(_) => {
            let target = options.project_root.join("data").join("fashion-mnist");
            let located = fmnist::download_all(
                &options.base_url,
                &target,
                &expected,
                require_official,
                progress,
            )?;
            (located, true)
        }
    };
    let data = FashionMnist::load(&located, &expected, require_official)?;
    Ok((data, downloaded, located.dir))
}

pub fn run_job(
    options: JobOptions,
    stop: &AtomicBool,
    observer: &mut dyn TrainObserver,
    download: &mut dyn DownloadProgress,
) -> Result<JobOutcome, JobError> {
    let job_start = Instant::now();
    let (created_at, default_name) = artifacts::utc_now();
    let reference = ReferenceResults::bundled()?;

    // Settle the run's identity and spec: a fresh one, or the one being resumed.
    let (mut spec, resume) = match &options.resume {
        Some(name) => {
            validate_run_name(name)?;
            let paths = RunPaths::new(&options.models_dir, &options.reports_dir, name);
            if !paths.checkpoint_dir().exists() && paths.model_card().exists() {
                return Err(JobError::Resume {
                    name: name.clone(),
                    reason: format!(
                        "it already finished ({}); start a new run with another --run-name",
                        paths.model_card().display()
                    ),
                });
            }
            let dir = CheckpointDir {
                dir: paths.checkpoint_dir(),
                pending_spec: None,
            };
            let cannot = |e: ArtifactError| JobError::Resume {
                name: name.clone(),
                reason: format!(
                    "{e} (only a run that was interrupted after its first validation pass can be resumed)"
                ),
            };
            let spec: RunSpec = artifacts::read_json(&dir.spec_path()).map_err(cannot)?;
            // A search resumes stage by stage (`stages`), not from one training state.
            let resume = match spec.search {
                Some(_) => None,
                None => Some(dir.load_progress().map_err(cannot)?),
            };
            if resume.as_ref().is_some_and(|r| {
                r.state
                    .stop_reason
                    .is_some_and(|r| r != StopReason::Interrupted)
            }) {
                return Err(JobError::Resume {
                    name: name.clone(),
                    reason: "it already finished".into(),
                });
            }
            let spec = RunSpec {
                backend: options.compute.backend,
                ..spec
            };
            (spec, resume)
        }
        None => {
            let name = options.run_name.clone().unwrap_or(default_name);
            validate_run_name(&name)?;
            let paths = RunPaths::new(&options.models_dir, &options.reports_dir, &name);
            if paths.model_dir.exists() {
                return Err(JobError::RunExists {
                    name,
                    dir: paths.model_dir,
                });
            }
            let spec = RunSpec {
                run_name: name,
                model: options.model.clone(),
                training: options.training.clone(),
                seed: options.seed,
                budget: options.budget_text.clone(),
                budget_seconds: options.budget.as_secs_f64(),
                backend: options.compute.backend,
                // Absolute, so that `evaluate` finds the images again from any folder.
                csv: options
                    .csv
                    .as_deref()
                    .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())),
                search: None,
            };
            (spec, None)
        }
    };
    spec.model.validate()?;
    let paths = RunPaths::new(&options.models_dir, &options.reports_dir, &spec.run_name);
    let resumed = options.resume.is_some();

    let RunData {
        train_images,
        train_labels,
        split,
        test_images,
        test_labels,
        class_names,
        info: dataset_info,
    } = load_run_data(
        spec.csv.as_deref(),
        spec.seed,
        &options.data,
        observer,
        download,
    )?;
    if spec.model.num_classes != class_names.len() {
        if resumed {
            return Err(JobError::Inconsistent(format!(
                "the interrupted run had {} classes, the data now has {}",
                spec.model.num_classes,
                class_names.len()
            )));
        }
        spec.model.num_classes = class_names.len();
    }
    let data = TrainData {
        images: Arc::new(train_images),
        labels: Arc::new(train_labels),
        train: split.train.clone(),
        validation: split.validation.clone(),
    };

    let device = options.compute.device.clone();
    // The search's clock starts here: measuring the machine for the plan is part of it.
    let search_started = Instant::now();
    let loading = job_start.elapsed();
    let (eval_batch, budget_seconds, test_count) = (
        spec.training.eval_batch_size,
        spec.budget_seconds,
        test_images.count,
    );
    let evaluation_for = |model: &CnnConfig, members: usize| {
        plan_evaluation(
            model,
            members,
            &data,
            test_count,
            eval_batch,
            &device,
            budget_seconds,
        )
    };
    if !resumed {
        spec.search = match plan_for(&options, &spec, &device, data.train.len()) {
            Plan::Single { reason } => {
                let width = choose_width(&options, &mut spec, &device, data.train.len());
                // `--search off` promises one model.
                let copies = match (options.search, width.epoch_seconds) {
                    (SearchMode::Auto, Some(epoch_seconds)) if width.copies > 1 => {
                        Some(SearchPlan::copies(
                            spec.budget_seconds,
                            epoch_seconds,
                            &spec.model,
                            &spec.training,
                            width.copies,
                        ))
                    }
                    _ => None,
                };
                let head = if copies.is_some() {
                    "no search"
                } else {
                    "train one model"
                };
                observer.note(&format!("plan: {head} ({reason}); {}", width.words));
                // One model plans its evaluation when it starts training (below).
                copies.map(|plan| {
                    let evaluation = evaluation_for(&spec.model, plan.finalists);
                    let plan = plan.reserve(loading.as_secs_f64() + evaluation.seconds);
                    for line in plan.describe() {
                        observer.note(&line);
                    }
                    observer.note(&evaluation.describe());
                    plan
                })
            }
            Plan::Search(mut plan) => {
                plan.widen_finals = options.width.is_none();
                plan.smooth_widened_finals = options.label_smoothing.is_none();
                // The finalists are settled after the rungs: plan for the widest they may be.
                let finals_model = if plan.widen_finals {
                    spec.model.widened(crate::recipe::WIDER_WIDTHS[0])
                } else {
                    spec.model.clone()
                };
                let evaluation = evaluation_for(&finals_model, plan.finalists);
                let mut plan = plan.reserve(loading.as_secs_f64() + evaluation.seconds);
                if plan.widen_finals {
                    let at_base_width = evaluation_for(&spec.model, plan.finalists);
                    plan =
                        plan.reserve_at_base_width(loading.as_secs_f64() + at_base_width.seconds);
                }
                for line in plan.describe() {
                    observer.note(&line);
                }
                observer.note(&evaluation.describe());
                Some(plan)
            }
        };
    }
    let trained = match spec.search.clone() {
        None => {
            let evaluation = evaluation_for(&spec.model, 1);
            observer.note(&evaluation.describe());
            // The plan's timing (`auto`'s probe, the evaluation's batch) is part of the
            // budget too, and so are loading and the report; the evaluation's passes are
            // kept by the training loop, timed as its own are.
            let probe = search_started.elapsed();
            let outside = loading + Duration::from_secs_f64(REPORT_SECONDS);
            train_single(
                &spec,
                probe,
                outside,
                evaluation.passes,
                &paths,
                resume,
                &data,
                &device,
                stop,
                observer,
            )?
        }
        Some(plan) => {
            if !resumed {
                // Written first: a search killed at any point can be resumed.
                artifacts::write_json(
                    &CheckpointDir {
                        dir: paths.checkpoint_dir(),
                        pending_spec: None,
                    }
                    .spec_path(),
                    &spec,
                )?;
            }
            train_search(
                &spec,
                &plan,
                &paths,
                &data,
                &device,
                stop,
                observer,
                search_started,
            )?
        }
    };

    // The whole run so far: this process's loading, then training on the run's clock
    // (earlier processes of a resumed run included), then what follows.
    let training_ended = Instant::now();
    let before_evaluation = loading + trained.training_time;
    let whole_run = || (before_evaluation + training_ended.elapsed()).as_secs_f64();
    // The views that still fit in what is left of the budget (a search's ensemble may have
    // more members than planned), never more than the share evaluation may take.
    let cost = EvaluationCost {
        validation_pass_seconds: crate::evaluate::pass_seconds(
            &trained.model,
            data.images.clone(),
            data.labels.clone(),
            &data.validation,
            spec.training.eval_batch_size,
            &device,
        ),
        validation_images: data.validation.len(),
        test_images: test_images.count,
    };
    // Half the run's tolerance absorbs an estimate a little short.
    let slack = crate::budget::tolerance(Duration::from_secs_f64(spec.budget_seconds)) / 2;
    let left = spec.budget_seconds - whole_run() - REPORT_SECONDS + slack.as_secs_f64();
    let widest = cost.widest_within(left.min(EVALUATION_SHARE * spec.budget_seconds));
    let mirror = MirrorChoice::decide(
        &trained.model,
        data.images.clone(),
        data.labels.clone(),
        data.validation.clone(),
        spec.training.eval_batch_size,
        &device,
        widest,
        trained.validation_accuracy,
    );
    observer.note(&mirror.describe());

    // TEST is looked at once, by the final model only.
    let test_images = Arc::new(test_images);
    let test = evaluate_on_test(
        &trained.model,
        test_images.clone(),
        Arc::new(test_labels),
        spec.training.eval_batch_size,
        &device,
        Some(&mirror),
        class_names.len(),
    )?;
    let history = &trained.history;
    let throughput = {
        let rates: Vec<f64> = history
            .iter()
            .map(|r| r.train_images_per_second)
            .filter(|r| r.is_finite() && *r > 0.0)
            .collect();
        rates.iter().sum::<f64>() / rates.len().max(1) as f64
    };
    let primary = &trained.members[0];
    let card = ModelCard {
        format_version: 1,
        run_name: spec.run_name.clone(),
        created_at,
        trainer_version: env!("CARGO_PKG_VERSION").to_string(),
        class_names: class_names.clone(),
        parameters: trained.model.num_params(),
        model: primary.model.clone(),
        training: primary.training.clone(),
        backend: spec.backend,
        adapter: options.compute.adapter.clone(),
        machine: Some(options.compute.machine.clone()),
        seed: spec.seed,
        budget: spec.budget.clone(),
        budget_seconds: spec.budget_seconds,
        dataset: dataset_info,
        stop_reason: trained.stop_reason,
        epochs_completed: history.last().map_or(0.0, |r| r.epochs_completed),
        steps: trained.steps,
        training_seconds: trained.training_time.as_secs_f64(),
        total_seconds: whole_run(),
        resumed,
        train_images_per_second: throughput,
        peak_rss_bytes: artifacts::peak_rss_bytes(),
        best_validation: trained.best.clone(),
        test_time_mirror: Some(mirror),
        ensemble: trained.members[1..]
            .iter()
            .enumerate()
            .map(|(i, m)| artifacts::EnsembleMember {
                weights: format!("member-{}.bpk", i + 2),
                stage: m.stage.clone(),
                model: m.model.clone(),
                training: m.training.clone(),
                validation_accuracy: m.validation_accuracy,
            })
            .collect(),
        search: trained.search.clone(),
    };
    artifacts::write_atomic(&paths.model_weights(), &primary.bytes)?;
    for (member, described) in trained.members[1..].iter().zip(&card.ensemble) {
        artifacts::write_atomic(&paths.member_weights(&described.weights), &member.bytes)?;
    }
    artifacts::write_json(&paths.model_card(), &card)?;
    artifacts::write_atomic(&paths.history(), artifacts::history_csv(history).as_bytes())?;
    if let Some(summary) = &trained.search {
        artifacts::write_atomic(
            &paths.trials(),
            report::trials_csv(&trial_rows(&trained.trials, summary)).as_bytes(),
        )?;
    }
    let (report, notes) = publish_test_evaluation(
        &paths,
        &card,
        test,
        &test_images,
        (&options.models_dir, &options.reports_dir),
        &reference,
    )?;
    // An interrupted run keeps its checkpoint so that --resume can finish it.
    if trained.stop_reason != StopReason::Interrupted {
        let _ = std::fs::remove_dir_all(paths.checkpoint_dir());
    }
    let summary = RunSummary {
        name: format!("this run ({})", spec.backend),
        budget: spec.budget.clone(),
        time_used: format_duration(trained.training_time),
        average_precision_micro: report.metrics.average_precision_micro,
        average_precision_macro: report.metrics.average_precision_macro,
        roc_auc_macro_ovr: report.metrics.roc_auc_macro_ovr,
        precision_at_0_5: report.metrics.precision_at_0_5_micro,
        recall_at_0_5: report.metrics.recall_at_0_5_micro,
        accuracy: report.metrics.accuracy,
    };
    let comparison = report::comparison_table(&reference, &[summary]);
    Ok(JobOutcome {
        notes,
        run_name: spec.run_name,
        paths,
        card,
        report,
        comparison,
    })
}

/// One model of what a run saves.
struct TrainedMember {
    stage: String,
    model: CnnConfig,
    training: TrainConfig,
    bytes: Vec<u8>,
    validation_accuracy: f64,
}

/// What training hands to evaluation and the model card, from one model or a search.
struct Trained {
    /// The saved model: one network, or the ensemble of `members`.
    model: model::Ensemble,
    /// The best single model first.
    members: Vec<TrainedMember>,
    /// Validation passes of the first member, on the run's clock.
    history: Vec<EpochRecord>,
    best: Option<EpochRecord>,
    steps: u64,
    stop_reason: StopReason,
    training_time: Duration,
    /// The saved model's, one view per image.
    validation_accuracy: f64,
    search: Option<SearchSummary>,
    trials: Vec<TrialRecord>,
}

/// The largest share of the budget the evaluation after training may take. A judgement:
/// ten views gained about 0.2 points on the saved models, about what a tenth more training
/// time gave at 5 to 20 minutes (README, "Scaling with the budget").
const EVALUATION_SHARE: f64 = 0.1;

/// Kept for what follows the test pass: the metrics, the saved files and the report
/// (about a second on 2 cores).
const REPORT_SECONDS: f64 = 2.0;

/// What a run keeps for its evaluation, planned before training.
struct EvaluationPlan {
    widest: Views,
    /// Its forward passes, in plain passes over VALIDATION (decision and test pass).
    passes: f64,
    /// Their estimated time, with the report's.
    seconds: f64,
}

impl EvaluationPlan {
    fn describe(&self) -> String {
        let views = match self.widest {
            Views::Plain => {
                "the image alone (more views would take over a tenth of the budget)".to_string()
            }
            widest => format!(
                "up to {} views per image, as validation decides{}",
                widest.count(),
                if widest == Views::MirrorShifted {
                    ""
                } else {
                    " (more would take over a tenth of the budget)"
                }
            ),
        };
        format!(
            "evaluation after training: {views}; {} of the budget kept for it and the report",
            format_duration(Duration::from_secs_f64(self.seconds))
        )
    }
}

/// The widest test-time views `members` models of `model` can be evaluated with inside
/// [`EVALUATION_SHARE`] of the budget, timed on a batch of VALIDATION with fresh weights
/// (the time does not depend on them), and the seconds that takes with the report.
fn plan_evaluation(
    model: &CnnConfig,
    members: usize,
    data: &TrainData,
    test_images: usize,
    batch_size: usize,
    device: &Device,
    budget_seconds: f64,
) -> EvaluationPlan {
    let pass = model.init(device).map_or(0.0, |network| {
        crate::evaluate::pass_seconds(
            &network,
            data.images.clone(),
            data.labels.clone(),
            &data.validation,
            batch_size,
            device,
        )
    });
    let cost = EvaluationCost {
        validation_pass_seconds: pass * members.max(1) as f64,
        validation_images: data.validation.len(),
        test_images,
    };
    let widest = cost.widest_within(EVALUATION_SHARE * budget_seconds);
    EvaluationPlan {
        widest,
        passes: cost.passes(widest),
        seconds: cost.seconds(widest) + REPORT_SECONDS,
    }
}

/// The budget's plan. `auto` measures the default model's speed on this device first (a
/// few steps) when the budget is long enough for the answer to matter.
fn plan_for(options: &JobOptions, spec: &RunSpec, device: &Device, train_images: usize) -> Plan {
    let budget = spec.budget_seconds;
    let epoch_seconds = crate::search::needs_speed(options.search, budget)
        .then(|| epoch_seconds(device, &spec.model, spec.training.batch_size, train_images))
        .flatten();
    crate::search::decide(
        options.search,
        budget,
        epoch_seconds,
        (&spec.model, &spec.training),
        spec.seed,
    )
}

/// Seconds per epoch of `model` on `device`, from a few timed steps; `None` if they failed.
pub(crate) fn epoch_seconds(
    device: &Device,
    model: &CnnConfig,
    batch: usize,
    images: usize,
) -> Option<f64> {
    crate::bench::training_images_per_second(device, model, batch)
        .ok()
        .filter(|rate| *rate > 0.0)
        .map(|rate| images as f64 / rate)
}

/// The model the plan without a search trains: its width, and how many copies share the
/// budget.
struct WidthPlan {
    /// The plan's words for it.
    words: String,
    copies: usize,
    /// The chosen model's measured epoch time, when it was measured.
    epoch_seconds: Option<f64>,
}

/// Widens the single model as `--width` or the budget says.
fn choose_width(
    options: &JobOptions,
    spec: &mut RunSpec,
    device: &Device,
    train_images: usize,
) -> WidthPlan {
    let fixed = |words: String| WidthPlan {
        words,
        copies: 1,
        epoch_seconds: None,
    };
    if let Some(factor) = options.width {
        return fixed(format!("width {factor} (--width)"));
    }
    let budget = spec.budget_seconds;
    if budget < crate::search::AUTO_MIN_SECONDS {
        return fixed(format!(
            "width 1: budgets under {} are not measured for a wider model",
            format_duration(Duration::from_secs_f64(crate::search::AUTO_MIN_SECONDS))
        ));
    }
    let base = spec.model.clone();
    let batch = spec.training.batch_size;
    let choice = crate::recipe::auto_width(|factor| {
        epoch_seconds(device, &base.widened(factor), batch, train_images).map(|e| budget / e)
    });
    spec.model = base.widened(choice.factor);
    let mut words = choice.describe();
    if choice.factor > 1.0 && options.label_smoothing.is_none() {
        spec.training.label_smoothing = crate::recipe::WIDE_LABEL_SMOOTHING;
        words += &format!(
            ", with label smoothing {} (--label-smoothing 0 turns it off)",
            crate::recipe::WIDE_LABEL_SMOOTHING
        );
    }
    WidthPlan {
        words,
        copies: choice.copies(),
        epoch_seconds: choice.epochs.map(|e| budget / e.max(1e-9)),
    }
}

/// `probe`: the plan's timing (part of `training_time`); `outside`: the rest of the run
/// outside training; `evaluation_passes`: kept by the training loop.
#[allow(clippy::too_many_arguments)]
fn train_single(
    spec: &RunSpec,
    probe: Duration,
    outside: Duration,
    evaluation_passes: f64,
    paths: &RunPaths,
    resume: Option<crate::train::Resume>,
    data: &TrainData,
    device: &Device,
    stop: &AtomicBool,
    observer: &mut dyn TrainObserver,
) -> Result<Trained, JobError> {
    let mut sink = CheckpointDir {
        dir: paths.checkpoint_dir(),
        pending_spec: resume.is_none().then(|| spec.clone()),
    };
    let outcome = Session {
        model_config: &spec.model,
        config: &spec.training,
        seed: spec.seed,
        budget: Duration::from_secs_f64(spec.budget_seconds).saturating_sub(probe + outside),
        evaluation_passes,
        data,
        device,
        stop,
        observer,
        checkpoints: Some(&mut sink),
    }
    .run(resume)?;
    Ok(Trained {
        members: vec![TrainedMember {
            stage: "single".into(),
            model: spec.model.clone(),
            training: spec.training.clone(),
            bytes: outcome.model_bytes,
            validation_accuracy: outcome.validation.accuracy(),
        }],
        validation_accuracy: outcome.validation.accuracy(),
        model: model::Ensemble::new(vec![outcome.model])?,
        history: outcome.state.history,
        best: outcome.state.best,
        steps: outcome.state.steps,
        stop_reason: outcome.stop_reason,
        training_time: outcome.training_time + probe,
        search: None,
        trials: Vec::new(),
    })
}

#[allow(clippy::too_many_arguments)]
fn train_search(
    spec: &RunSpec,
    plan: &crate::search::SearchPlan,
    paths: &RunPaths,
    data: &TrainData,
    device: &Device,
    stop: &AtomicBool,
    observer: &mut dyn TrainObserver,
    started: Instant,
) -> Result<Trained, JobError> {
    let progress = Stages::progress(&paths.checkpoint_dir())?;
    if !progress.records.is_empty() {
        observer.note(&format!(
            "resuming the search: {} trainings already finished, {} of the budget used",
            progress.records.len(),
            format_duration(Duration::from_secs_f64(progress.clock_seconds))
        ));
    }
    let mut stages = Stages {
        checkpoint_dir: paths.checkpoint_dir(),
        data,
        device,
        stop,
        observer,
        clock_at_start: progress.clock_seconds,
        started,
        finals: progress.finals.clone(),
    };
    let outcome = crate::search::run_search(
        plan,
        spec.seed,
        progress.records,
        progress.finals,
        &mut stages,
    )?;
    let summary = outcome.summary;
    let record = |name: &String| outcome.records.iter().find(|r| &r.name == name);
    let mut members = Vec::new();
    let mut networks = Vec::new();
    for name in &summary.members {
        let Some(r) = record(name) else { continue };
        let (network, bytes) = stages.load_model(name, &r.candidate)?;
        networks.push(network);
        members.push(TrainedMember {
            stage: name.clone(),
            model: r.candidate.model.clone(),
            training: r.candidate.training.clone(),
            bytes,
            validation_accuracy: r.validation_accuracy,
        });
    }
    let Some(primary) = summary.members.first().and_then(record) else {
        return Err(JobError::SearchInterrupted(spec.run_name.clone()));
    };
    // The first member's curve, placed where it ran on the run's clock.
    let history: Vec<EpochRecord> = primary
        .history
        .iter()
        .map(|h| EpochRecord {
            elapsed_seconds: h.elapsed_seconds + primary.started_at,
            ..h.clone()
        })
        .collect();
    let best = history
        .iter()
        .max_by(|a, b| a.validation_accuracy.total_cmp(&b.validation_accuracy))
        .cloned();
    let training_time = Duration::from_secs_f64(crate::search::StageTrainer::clock(&stages));
    Ok(Trained {
        model: model::Ensemble::new(networks)?,
        members,
        steps: history.last().map_or(0, |h| h.steps),
        history,
        best,
        stop_reason: if summary.interrupted {
            StopReason::Interrupted
        } else {
            StopReason::BudgetReached
        },
        training_time,
        validation_accuracy: if summary.members.len() > 1 {
            summary.ensemble_validation_accuracy
        } else {
            summary.single_validation_accuracy
        },
        search: Some(summary),
        trials: outcome.records,
    })
}

fn trial_rows(records: &[TrialRecord], summary: &SearchSummary) -> Vec<report::TrialRow> {
    records
        .iter()
        .map(|r| report::TrialRow {
            name: r.name.clone(),
            kind: match r.kind {
                StageKind::Trial => "trial",
                StageKind::Final => "final",
            }
            .into(),
            rung: r.rung,
            candidate: r.candidate.id,
            config: r.candidate.describe(),
            budget_seconds: r.budget_seconds,
            seconds_used: r.seconds_used,
            started_at: r.started_at,
            ended_at: r.ended_at,
            epochs: r.epochs,
            validation_accuracy: r.validation_accuracy,
            validation_loss: r.validation_loss,
            promoted: r.promoted,
            chosen: summary.members.contains(&r.name),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_evaluation_applies_the_chosen_temperature() {
        let device = Device::flex();
        let model = CnnConfig {
            stages: vec![model::StageConfig {
                channels: 4,
                convs: 1,
            }],
            ..CnnConfig::default()
        }
        .init(&device)
        .unwrap();
        let images = Arc::new(fmnist::Images {
            count: 10,
            pixels: (0..10 * fmnist::PIXELS)
                .map(|i| ((i * 37 + (i / fmnist::PIXELS) * 101) % 256) as u8)
                .collect(),
        });
        let labels = Arc::new((0..10).collect::<Vec<u8>>());
        let choice = |temperature| MirrorChoice {
            enabled: false,
            validation_accuracy_plain: 0.5,
            validation_accuracy_mirrored: 0.5,
            validation_accuracy_shifted: None,
            shifted: false,
            seconds: 0.0,
            views_tried: None,
            temperature,
        };
        let evaluate = |readout: &MirrorChoice| {
            evaluate_on_test(
                &model,
                images.clone(),
                labels.clone(),
                4,
                &device,
                Some(readout),
                10,
            )
            .unwrap()
        };
        let unscaled = evaluate(&choice(None));
        let sharpened = evaluate(&choice(Some(Temperature {
            value: 0.5,
            validation_loss_before: 1.0,
            validation_loss_after: 0.9,
        })));
        // T = 0.5 squares each probability before renormalising: same ranking, sharper.
        for (before, after) in unscaled
            .predictions
            .probabilities
            .iter()
            .zip(&sharpened.predictions.probabilities)
        {
            let total: f64 = before.iter().map(|p| p * p).sum();
            for (b, a) in before.iter().zip(after) {
                assert!((b * b / total - a).abs() < 1e-9, "{before:?} -> {after:?}");
            }
        }
        assert_eq!(unscaled.metrics.accuracy, sharpened.metrics.accuracy);
        assert_ne!(unscaled.metrics.log_loss, sharpened.metrics.log_loss);
    }

    #[test]
    fn run_names_cannot_escape_their_folder() {
        for ok in ["run-20261128-093000", "a.b_c-1"] {
            assert!(validate_run_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", "../x", "a/b", ".hidden", "a b", "x\\y"] {
            assert!(validate_run_name(bad).is_err(), "{bad}");
        }
    }
}
