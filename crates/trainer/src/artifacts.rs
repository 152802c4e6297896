//! Everything a run leaves on disk, each file written atomically: a temporary file in the
//! same folder, synced, then renamed over the target. A killed run leaves the previous
//! version of every file intact, never half of one.

use crate::backend::{Backend, GpuAdapter, Machine};
use crate::evaluate::Predictions;
use crate::train::{CheckpointSink, EpochRecord, StopReason, TrainConfig, TrainError, TrainState};
use fmnist::Digest;
use metrics::Metrics;
use model::CnnConfig;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ArtifactError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid: {reason}")]
    Parse { path: PathBuf, reason: String },
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    report::files::write_atomic(path, bytes).map_err(|source| ArtifactError::Write {
        path: path.to_path_buf(),
        source,
    })
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ArtifactError> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| ArtifactError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

pub fn read_bytes(path: &Path) -> Result<Vec<u8>, ArtifactError> {
    std::fs::read(path).map_err(|source| ArtifactError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, ArtifactError> {
    let bytes = read_bytes(path)?;
    serde_json::from_slice(&bytes).map_err(|e| ArtifactError::Parse {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// Where one run's files go.
#[derive(Debug, Clone)]
pub struct RunPaths {
    pub model_dir: PathBuf,
    pub report_dir: PathBuf,
}

impl RunPaths {
    pub fn new(models: &Path, reports: &Path, run_name: &str) -> Self {
        Self {
            model_dir: models.join(run_name),
            report_dir: reports.join(run_name),
        }
    }
    pub fn model_weights(&self) -> PathBuf {
        self.model_dir.join("model.bpk")
    }
    pub fn model_card(&self) -> PathBuf {
        self.model_dir.join("model.json")
    }
    /// Weights of an ensemble's further members, by the file name the model card gives.
    pub fn member_weights(&self, file: &str) -> PathBuf {
        self.model_dir.join(file)
    }
    pub fn trials(&self) -> PathBuf {
        self.report_dir.join("trials.csv")
    }
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.model_dir.join("checkpoint")
    }
    pub fn metrics(&self) -> PathBuf {
        self.report_dir.join("metrics.json")
    }
    pub fn predictions(&self) -> PathBuf {
        self.report_dir.join("test_predictions.csv")
    }
    pub fn history(&self) -> PathBuf {
        self.report_dir.join("history.csv")
    }
    pub fn report_markdown(&self) -> PathBuf {
        self.report_dir.join("report.md")
    }
    pub fn report_page(&self) -> PathBuf {
        self.report_dir.join("index.html")
    }
}

/// What a run was asked to do: enough to resume it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    pub run_name: String,
    pub model: CnnConfig,
    pub training: TrainConfig,
    pub seed: u64,
    pub budget: String,
    pub budget_seconds: f64,
    pub backend: Backend,
    /// The AutoML CSV the run trains on; Fashion-MNIST when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<PathBuf>,
    /// The search a large budget runs; absent for a single model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<crate::search::SearchPlan>,
}

/// A further model of an ensemble (the first is `model.bpk` with the card's `model`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleMember {
    /// File name in the model's folder.
    pub weights: String,
    /// The search stage that trained it.
    pub stage: String,
    pub model: CnnConfig,
    pub training: TrainConfig,
    pub validation_accuracy: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    pub dir: PathBuf,
    pub downloaded: bool,
    pub verified: bool,
    pub digests: Vec<Digest>,
    pub train_images: usize,
    pub validation_images: usize,
    pub test_images: usize,
    /// The AutoML CSV the images came from; Fashion-MNIST's files when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csv: Option<PathBuf>,
}

/// `model.json`: what produced `model.bpk` and how well it did on validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub format_version: u32,
    pub run_name: String,
    pub created_at: String,
    pub trainer_version: String,
    pub class_names: Vec<String>,
    pub model: CnnConfig,
    pub parameters: usize,
    pub training: TrainConfig,
    pub backend: Backend,
    /// The GPU adapter of a wgpu run (absent on the CPU backends and in older cards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<GpuAdapter>,
    /// The computer that trained the model (for a resumed run, the one that finished it);
    /// absent in cards written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<Machine>,
    pub seed: u64,
    pub budget: String,
    pub budget_seconds: f64,
    pub dataset: DatasetInfo,
    pub stop_reason: StopReason,
    pub epochs_completed: f64,
    pub steps: u64,
    pub training_seconds: f64,
    /// The whole run until the model card is written: loading the data, the plan, training,
    /// the views' decision and the test pass (a resumed run adds its earlier processes'
    /// training clock). The budget holds it.
    pub total_seconds: f64,
    pub resumed: bool,
    pub train_images_per_second: f64,
    pub peak_rss_bytes: Option<u64>,
    pub best_validation: Option<EpochRecord>,
    /// Which test-time views the model averages (the field's name is from when the mirror
    /// was the only one). Absent in cards written before mirror averaging existed: those
    /// predict plainly.
    #[serde(default)]
    pub test_time_mirror: Option<crate::evaluate::MirrorChoice>,
    /// The ensemble's further members: the saved model averages their probabilities with
    /// `model.bpk`'s. Empty for a single model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ensemble: Vec<EnsembleMember>,
    /// What the search did and why it chose these models (search runs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<crate::search::SearchSummary>,
}

/// Loads the model a card describes (`card.model`, `card.ensemble`): `model.bpk`, with the
/// ensemble's further members.
pub fn load_model(
    paths: &RunPaths,
    first: &CnnConfig,
    further: &[EnsembleMember],
    device: &burn::prelude::Device,
) -> Result<model::Ensemble, crate::job::JobError> {
    first.validate()?;
    let weights = read_bytes(&paths.model_weights())?;
    let mut members = vec![
        first
            .init(device)?
            .load_bytes(weights, &paths.model_weights())?,
    ];
    for member in further {
        // The name comes from a file a user may edit: it must stay inside the model folder.
        if Path::new(&member.weights).file_name() != Some(std::ffi::OsStr::new(&member.weights)) {
            return Err(ArtifactError::Parse {
                path: paths.model_card(),
                reason: format!(
                    "ensemble member file {:?} is not a plain file name",
                    member.weights
                ),
            }
            .into());
        }
        member.model.validate()?;
        let path = paths.member_weights(&member.weights);
        let bytes = read_bytes(&path)?;
        members.push(member.model.init(device)?.load_bytes(bytes, &path)?);
    }
    Ok(model::Ensemble::new(members)?)
}

impl ModelCard {
    pub fn views(&self) -> crate::evaluate::Views {
        self.test_time_mirror
            .map_or(crate::evaluate::Views::Plain, |c| c.views())
    }

    /// Scales probabilities of [`ModelCard::views`] by the temperature fitted on VALIDATION
    /// (none in cards saved before it existed).
    pub fn calibrate(&self, probabilities: &mut [Vec<f64>]) {
        if let Some(choice) = &self.test_time_mirror {
            choice.calibrate(probabilities);
        }
    }
}

/// `metrics.json`: the test-set evaluation of the saved model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricsReport {
    pub run_name: String,
    pub split: String,
    pub class_names: Vec<String>,
    pub budget: String,
    pub budget_seconds: f64,
    pub training_seconds: f64,
    pub stop_reason: StopReason,
    pub backend: Backend,
    #[serde(flatten)]
    pub metrics: Metrics,
}

impl MetricsReport {
    /// The test metrics of the model `card` describes; the run's facts come from the card.
    pub fn for_card(card: &ModelCard, metrics: Metrics) -> Self {
        Self {
            run_name: card.run_name.clone(),
            split: "test".into(),
            class_names: card.class_names.clone(),
            budget: card.budget.clone(),
            budget_seconds: card.budget_seconds,
            training_seconds: card.training_seconds,
            stop_reason: card.stop_reason,
            backend: card.backend,
            metrics,
        }
    }
}

pub fn predictions_csv(predictions: &Predictions, indices: &[usize]) -> String {
    let classes = predictions.probabilities.first().map_or(0, Vec::len);
    let mut out = String::from("index,label,predicted");
    for k in 0..classes {
        let _ = write!(out, ",p{k}");
    }
    out.push('\n');
    for ((index, label), probs) in indices
        .iter()
        .zip(&predictions.labels)
        .zip(&predictions.probabilities)
    {
        let _ = write!(out, "{index},{label},{}", metrics::argmax(probs));
        for p in probs {
            let _ = write!(out, ",{p:.6e}");
        }
        out.push('\n');
    }
    out
}

pub fn history_csv(history: &[EpochRecord]) -> String {
    let mut out = String::from(
        "epoch,epochs_completed,steps,elapsed_seconds,learning_rate,train_loss,validation_loss,validation_accuracy,train_images_per_second,step_ms,data_build_ms_per_step,data_wait_ms_per_step\n",
    );
    for r in history {
        let _ = writeln!(
            out,
            "{},{:.4},{},{:.3},{:.6e},{:.6},{:.6},{:.6},{:.1},{:.2},{:.2},{:.3}",
            r.epoch,
            r.epochs_completed,
            r.steps,
            r.elapsed_seconds,
            r.learning_rate,
            r.train_loss,
            r.validation_loss,
            r.validation_accuracy,
            r.train_images_per_second,
            r.step_ms,
            r.data_build_ms_per_step,
            r.data_wait_ms_per_step
        );
    }
    out
}

/// Checkpoints in `models/NAME/checkpoint/`: the state last, so a state file always
/// describes weights that are already on disk.
pub struct CheckpointDir {
    pub dir: PathBuf,
    /// Written with the first checkpoint, so a run that fails before it leaves nothing.
    pub pending_spec: Option<RunSpec>,
}

impl CheckpointDir {
    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    pub fn spec_path(&self) -> PathBuf {
        self.file("run.json")
    }
    pub fn load(&self) -> Result<(RunSpec, crate::train::Resume), ArtifactError> {
        Ok((read_json(&self.spec_path())?, self.load_progress()?))
    }

    /// The training state of the last checkpoint, without the run's spec.
    pub fn load_progress(&self) -> Result<crate::train::Resume, ArtifactError> {
        Ok(crate::train::Resume {
            state: read_json(&self.file("state.json"))?,
            model: read_bytes(&self.file("model.bpk"))?,
            optimizer: read_bytes(&self.file("optimizer.bpk"))?,
            best_model: read_bytes(&self.file("best.bpk"))?,
        })
    }
}

impl CheckpointSink for CheckpointDir {
    fn save(
        &mut self,
        state: &TrainState,
        model: &[u8],
        optimizer: &[u8],
        best_model: &[u8],
    ) -> Result<(), TrainError> {
        let wrap = |e: ArtifactError| TrainError::Checkpoint {
            action: "write a checkpoint".into(),
            reason: e.to_string(),
        };
        if let Some(spec) = &self.pending_spec {
            write_json(&self.spec_path(), spec).map_err(wrap)?;
            self.pending_spec = None;
        }
        write_atomic(&self.file("model.bpk"), model).map_err(wrap)?;
        write_atomic(&self.file("optimizer.bpk"), optimizer).map_err(wrap)?;
        write_atomic(&self.file("best.bpk"), best_model).map_err(wrap)?;
        write_json(&self.file("state.json"), state).map_err(wrap)
    }
}

/// Peak resident memory of this process so far (Linux; `None` elsewhere).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// UTC time as `2026-11-28T09:30:00Z`, and a run name derived from it.
pub fn utc_now() -> (String, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    let (y, mo, d) = civil_from_days(days as i64);
    (
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z"),
        format!("run-{y:04}{mo:02}{d:02}-{h:02}{m:02}{s:02}"),
    )
}

/// Howard Hinnant's days-to-civil-date algorithm (proleptic Gregorian calendar).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_files_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("a.json");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn atomic_write_into_an_unwritable_place_fails_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let err = write_atomic(&blocker.join("inside.json"), b"y").unwrap_err();
        assert!(err.to_string().contains("inside.json"), "{err}");
    }

    #[test]
    fn an_ensemble_loads_every_member_and_no_file_outside_its_folder() {
        use burn::prelude::*;
        let dir = tempfile::tempdir().unwrap();
        let paths = RunPaths::new(dir.path(), dir.path(), "ens");
        let device = Device::flex();
        let config = CnnConfig {
            stages: vec![model::StageConfig {
                channels: 4,
                convs: 1,
            }],
            ..CnnConfig::default()
        };
        let (a, b) = (config.init(&device).unwrap(), config.init(&device).unwrap());
        write_atomic(&paths.model_weights(), &a.to_bytes().unwrap()).unwrap();
        write_atomic(
            &paths.member_weights("member-2.bpk"),
            &b.to_bytes().unwrap(),
        )
        .unwrap();
        let member = |file: &str| EnsembleMember {
            weights: file.into(),
            stage: "final-1".into(),
            model: config.clone(),
            training: TrainConfig::default(),
            validation_accuracy: 0.9,
        };
        let loaded = load_model(&paths, &config, &[member("member-2.bpk")], &device).unwrap();
        assert_eq!(loaded.len(), 2);
        let x = Tensor::<4>::random([2, 1, 28, 28], burn::tensor::Distribution::Default, &device);
        let want = model::Ensemble::new(vec![a, b])
            .unwrap()
            .forward(x.clone())
            .into_data();
        assert_eq!(loaded.forward(x).into_data(), want);
        assert_eq!(load_model(&paths, &config, &[], &device).unwrap().len(), 1);
        for bad in ["../member-2.bpk", "/etc/passwd"] {
            let err = load_model(&paths, &config, &[member(bad)], &device).unwrap_err();
            assert!(err.to_string().contains("plain file name"), "{err}");
        }
        let err = load_model(&paths, &config, &[member("missing.bpk")], &device).unwrap_err();
        assert!(err.to_string().contains("missing.bpk"), "{err}");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_420), (2025, 11, 28));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn predictions_csv_has_header_and_one_row_per_image() {
        let p = Predictions {
            labels: vec![1, 0],
            probabilities: vec![vec![0.25, 0.75], vec![0.5, 0.5]],
        };
        let csv = predictions_csv(&p, &[7, 9]);
        let lines: Vec<_> = csv.lines().collect();
        assert_eq!(lines[0], "index,label,predicted,p0,p1");
        assert!(lines[1].starts_with("7,1,1,2.5"));
        assert!(lines[2].starts_with("9,0,0,"));
        assert_eq!(lines.len(), 3);
    }
}
