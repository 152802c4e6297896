//! The large-budget plan, as AutoML's paid tier sold it: a search over a small space of CNNs
//! and training recipes by successive halving, the winners trained again with most of the
//! budget, and an ensemble of the best models when it wins on VALIDATION. Every decision here
//! looks at VALIDATION only; TEST is the job's, once, at the end.
//!
//! Each trial's learning-rate schedule is fitted to the trial's own time (see `schedule`), so
//! a short trial is a complete, if short, training, not the start of a long one cut off.

use crate::budget::format_duration;
use crate::evaluate::Predictions;
use crate::recipe::{EPOCHS_PER_COPY, WIDER_WIDTHS, copies_for};
use crate::train::{EpochRecord, StopReason, TrainConfig};
use model::{CnnConfig, StageConfig};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `--search`: whether a run searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Train one model, whatever the budget: the default model, as wide as `--width` or the
    /// budget says.
    Off,
    /// Search when the budget buys at least 200 epochs of the default model on this machine;
    /// shorter budgets train one model, which an hour of search on 2 CPU cores has not beaten.
    Auto,
    /// Search whatever the budget.
    On,
}

/// Share of the budget the successive-halving rungs use once the budget buys
/// [`AUTO_MIN_EPOCHS`] epochs of the base model (less below, see [`search_seconds`]); the rest
/// trains the finalists.
pub const SEARCH_SHARE: f64 = 0.3;
/// Successive halving keeps the best third of each rung and gives it three times the time.
pub const ETA: usize = 3;
/// The first rung's trials get at least this many epochs' worth of time (of the default
/// model; wider candidates see fewer images in the same time, which is the point).
pub const MIN_RUNG_EPOCHS: f64 = 0.5;
/// A network shape (width, convolutions per later stage) is sampled only when a first-rung
/// trial buys it at least this many of its own epochs, estimated from its multiply-adds
/// against the base model's (on the AMD machine without AVX-512, 1.72x the arithmetic took
/// 1.77x the time, 2.25x took 2.3x, 3.99x took 4.6x). Why: in the 24-hour search's first
/// rung on 2 cores (2026-12-01, 64 s trials) none of the 41 trials that saw 0.2 epochs or less
/// (twice as wide, or 1.5x with three convolutions per later stage) was promoted, against
/// 27 of the 40 that saw 0.29 or more: they were half the rung's trials, spent on
/// shapes that could not win it. Wider models still get their chance where it is fair: the
/// finals train a base-width winner wider when the time left buys it (`choose_finals`), and
/// a faster machine or a longer first rung admits them to the search itself.
pub const MIN_FIRST_TRIAL_EPOCHS: f64 = 0.25;
/// `--search auto` searches when the budget buys at least this many epochs of the default
/// model on this machine. Measured on 2 CPU cores: an hour (~68 epochs) searching reached
/// 93.70% on TEST against 94.07% for the default model trained the whole hour (both 94.5%
/// on VALIDATION): the first rung's 40-second trials cannot show what a wider model would do
/// in 40 minutes, so the search kept the default model and only had less time to train it.
/// With the AVX-512 GEMM (92 epochs in the hour) and two finalists the hour of search did no
/// better: 93.73% against 94.32% (validation 94.48% against 94.69%), no ensemble joined.
/// The threshold is set well above that hour; where the search starts to win was not
/// measured (README, "Large budgets"). Since the fused kernels the hour buys ~148 epochs
/// here, and the few steps that measure the speed can read 15% fast: 200 keeps the hour on
/// one model. With the finals settled after the rungs (one default-model final of 53
/// epochs on a machine half as fast) the hour of search drew level with the default model
/// (94.00% against 93.93%) and stayed under the hour's single-model plan (94.28%).
pub const AUTO_MIN_EPOCHS: f64 = 200.0;
/// Budgets below this never search under `auto`, and are not even measured for it.
pub const AUTO_MIN_SECONDS: f64 = 600.0;
pub const MAX_RUNGS: usize = 5;
/// Most models an ensemble averages.
pub const MAX_MEMBERS: usize = 5;
/// A model joins the ensemble only if validation accuracy rises by at least this much
/// (10 of Fashion-MNIST's 10,000 validation images): smaller gains are noise that would not
/// carry to TEST. (A 2-minute test run once "gained" 8 images by adding an untrained model.)
pub const MIN_ENSEMBLE_GAIN: f64 = 0.001;
/// Only models within this much of the best single model's validation accuracy may join.
pub const ENSEMBLE_POOL_MARGIN: f64 = 0.03;

/// One point of the search space: a network and its training recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub id: usize,
    pub model: CnnConfig,
    pub training: TrainConfig,
}

/// A network's shape: `16-64-128 x1-2-2` (channels, then convolutions, of each stage).
pub fn describe_shape(model: &CnnConfig) -> String {
    let join = |f: &dyn Fn(&StageConfig) -> usize| {
        model
            .stages
            .iter()
            .map(|s| f(s).to_string())
            .collect::<Vec<_>>()
            .join("-")
    };
    format!("{} x{}", join(&|s| s.channels), join(&|s| s.convs))
}

impl Candidate {
    /// `16-64-128 x1-2-2 plain, dropout 0.1, lr 0.1, wd 5e-4, crop 2, erase 0, smooth 0`.
    pub fn describe(&self) -> String {
        let t = &self.training;
        format!(
            "{} {}, dropout {}, lr {}, wd {:e}, crop {}, erase {}, smooth {}",
            describe_shape(&self.model),
            if self.model.residual {
                "residual"
            } else {
                "plain"
            },
            self.model.dropout,
            t.schedule.peak,
            t.weight_decay,
            t.augmentation.crop_padding,
            t.augmentation.random_erasing,
            t.label_smoothing
        )
    }
}

const WIDTHS: [f64; 3] = [1.0, 1.5, 2.0];
const LATER_STAGE_CONVS: [usize; 2] = [2, 3];
const DROPOUTS: [f64; 4] = [0.0, 0.1, 0.2, 0.3];
const LR_FACTORS: [f64; 3] = [0.5, 1.0, 1.5];
const WEIGHT_DECAYS: [f64; 3] = [2.5e-4, 5e-4, 1e-3];
const CROP_PADDINGS: [usize; 3] = [1, 2, 3];
const RANDOM_ERASING: [f32; 3] = [0.0, 0.25, 0.5];
const LABEL_SMOOTHING: [f32; 2] = [0.0, 0.1];

/// Every network shape of the search space: the base model's widened by each of [`WIDTHS`],
/// with each of [`LATER_STAGE_CONVS`] convolutions in the stages after the first.
pub fn search_shapes(base_model: &CnnConfig) -> Vec<CnnConfig> {
    WIDTHS
        .iter()
        .flat_map(|&width| {
            LATER_STAGE_CONVS.iter().map(move |&convs| {
                let mut model = base_model.widened(width);
                for stage in model.stages.iter_mut().skip(1) {
                    stage.convs = convs;
                }
                model
            })
        })
        .collect()
}

/// How many times the base model's time an epoch of `model` takes, by their arithmetic.
fn relative_cost(base_model: &CnnConfig, model: &CnnConfig) -> f64 {
    model.forward_macs() as f64 / base_model.forward_macs().max(1) as f64
}

/// `count` distinct candidates: the base (the default model and recipe, or the user's) first,
/// so the search always weighs the single-model plan too, then random draws from the space,
/// their networks drawn from `shapes` (see [`search_shapes`]).
pub fn sample_candidates(
    base_model: &CnnConfig,
    base_training: &TrainConfig,
    shapes: &[CnnConfig],
    count: usize,
    seed: u64,
) -> Vec<Candidate> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x005e_a2c4_u64);
    let mut out = vec![Candidate {
        id: 0,
        model: base_model.clone(),
        training: base_training.clone(),
    }];
    let mut attempts = 0;
    while out.len() < count && attempts < 10_000 {
        attempts += 1;
        let pick = |rng: &mut rand_chacha::ChaCha8Rng, n: usize| rng.random_range(0..n);
        let Some(shape) = shapes.choose(&mut rng) else {
            break;
        };
        let mut model = shape.clone();
        model.residual = rng.random_bool(0.5);
        model.dropout = *DROPOUTS.choose(&mut rng).unwrap_or(&0.1);
        let mut training = base_training.clone();
        let lr = base_training.schedule.peak * LR_FACTORS[pick(&mut rng, LR_FACTORS.len())];
        // Rounded so that configs print as the numbers they are (0.15, not 0.15000000000000002).
        training.schedule.peak = (lr * 1e6).round() / 1e6;
        training.weight_decay = WEIGHT_DECAYS[pick(&mut rng, WEIGHT_DECAYS.len())];
        training.augmentation.crop_padding = CROP_PADDINGS[pick(&mut rng, CROP_PADDINGS.len())];
        training.augmentation.random_erasing = RANDOM_ERASING[pick(&mut rng, RANDOM_ERASING.len())];
        training.label_smoothing = LABEL_SMOOTHING[pick(&mut rng, LABEL_SMOOTHING.len())];
        let candidate = Candidate {
            id: out.len(),
            model,
            training,
        };
        let seen = out
            .iter()
            .any(|c| c.model == candidate.model && c.training == candidate.training);
        if !seen {
            out.push(candidate);
        }
    }
    out
}

/// Seconds of `budget_seconds` the rungs use: [`SEARCH_SHARE`] of it when it buys at least
/// [`AUTO_MIN_EPOCHS`] epochs of the base model, a share shrinking in proportion to the epochs
/// below that, and never less than one first rung ([`ETA`] trials of [`MIN_RUNG_EPOCHS`]) nor
/// more than the full share. Why: what the rungs use, the finals lose, and the finals' epochs
/// are worth most where they are few. Every hour of search on 2 cores with the full share
/// (18 minutes of rungs, the finals 42) kept the default model at every rung and then trained
/// it for less time than the plan without a search, and none beat that plan on its machine
/// (93.69-94.10% on TEST; README, "Scaling with the budget"); below the epochs where
/// `--search auto` starts to search, a search that `--search on` forces is therefore kept in
/// proportion.
pub fn search_seconds(budget_seconds: f64, default_epoch_seconds: f64) -> f64 {
    let full = budget_seconds * SEARCH_SHARE;
    let epochs = budget_seconds / default_epoch_seconds.max(1e-9);
    let scaled = full * (epochs / AUTO_MIN_EPOCHS).min(1.0);
    let one_rung = ETA as f64 * MIN_RUNG_EPOCHS * default_epoch_seconds;
    scaled.max(one_rung).min(full)
}

/// One rung of successive halving: how many trials, each with how much time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rung {
    pub trials: usize,
    pub seconds_each: f64,
}

/// What a search run will do, fixed before its first trial and saved with the run (a resumed
/// run follows the same plan). Without rungs it is no search: copies of one model, each with
/// its own seed, averaged when that wins on VALIDATION ([`SearchPlan::copies`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchPlan {
    pub budget_seconds: f64,
    /// The base model's measured epoch time on this machine and backend (the default model
    /// for a search, the copied model otherwise).
    pub default_epoch_seconds: f64,
    pub rungs: Vec<Rung>,
    pub finalists: usize,
    /// Time planned for each finalist's training (what is left decides in the end).
    pub final_seconds_each: f64,
    pub candidates: Vec<Candidate>,
    /// Whether a winner at the base width may be trained wider in the finals (not when
    /// `--width` fixed the width; runs saved before this existed did not).
    #[serde(default)]
    pub widen_finals: bool,
    /// Whether a finalist trained wider also gets the wider model's label smoothing, as the
    /// plan without a search gives it (not when `--label-smoothing` fixed it; runs saved
    /// before this existed did not).
    #[serde(default)]
    pub smooth_widened_finals: bool,
    /// Seconds of the budget outside the search's clock: loading the data before it, and
    /// after it the evaluation (the test-time views chosen on VALIDATION, the test pass, the
    /// report). Absent in runs saved before the whole run counted.
    #[serde(default)]
    pub reserved_seconds: f64,
    /// The reserve when the finals keep the base model's arithmetic: `reserved_seconds` plans
    /// the evaluation of finalists widened by [`WIDER_WIDTHS`]' factor, and the base model's
    /// costs less, so the difference goes to their training instead of ending the run early.
    /// `None`: the same reserve (finals that cannot widen; runs saved before this existed).
    #[serde(default)]
    pub base_width_reserved_seconds: Option<f64>,
    /// Shapes of the space the first rung is too short for ([`MIN_FIRST_TRIAL_EPOCHS`]), as
    /// [`describe_shape`] writes them; none in runs saved before shapes were left out.
    #[serde(default)]
    pub left_out_shapes: Vec<String>,
}

impl SearchPlan {
    /// Successive halving over [`search_seconds`] of the budget: as many rungs as fit while
    /// the first rung's trials keep `MIN_RUNG_EPOCHS`; the rest of the budget for the
    /// finalists.
    pub fn new(
        budget_seconds: f64,
        default_epoch_seconds: f64,
        base_model: &CnnConfig,
        base_training: &TrainConfig,
        seed: u64,
    ) -> Self {
        Self::with_rungs_seconds(
            budget_seconds,
            default_epoch_seconds,
            search_seconds(budget_seconds, default_epoch_seconds),
            base_model,
            base_training,
            seed,
        )
    }

    /// [`SearchPlan::new`] with the rungs' seconds given.
    fn with_rungs_seconds(
        budget_seconds: f64,
        default_epoch_seconds: f64,
        search: f64,
        base_model: &CnnConfig,
        base_training: &TrainConfig,
        seed: u64,
    ) -> Self {
        let shortest = MIN_RUNG_EPOCHS * default_epoch_seconds;
        // R rungs cost R * ETA^(R-1) first-rung trials' worth of time.
        let cost = |r: usize| (r * ETA.pow(r as u32 - 1)) as f64;
        let rung_count = (1..=MAX_RUNGS)
            .take_while(|&r| r == 1 || cost(r) * shortest <= search)
            .last()
            .unwrap_or(1);
        // A single rung still compares a few candidates.
        let first_trials = ETA.pow(rung_count as u32 - 1).max(ETA);
        let first_seconds = search / (first_trials as f64 * rung_count as f64);
        let own_epochs = |model: &CnnConfig| {
            first_seconds / (default_epoch_seconds.max(1e-9) * relative_cost(base_model, model))
        };
        let (mut shapes, mut left_out): (Vec<CnnConfig>, Vec<CnnConfig>) =
            search_shapes(base_model)
                .into_iter()
                .partition(|shape| own_epochs(shape) >= MIN_FIRST_TRIAL_EPOCHS);
        // A first rung too short for any shape still compares recipes on the cheapest.
        if shapes.is_empty()
            && let Some(cheapest) = (0..left_out.len()).min_by_key(|&i| left_out[i].forward_macs())
        {
            shapes.push(left_out.remove(cheapest));
        }
        let left_out_shapes = left_out.iter().map(describe_shape).collect();
        let rungs = (0..rung_count)
            .map(|i| Rung {
                trials: (first_trials / ETA.pow(i as u32)).max(1),
                seconds_each: first_seconds * ETA.pow(i as u32) as f64,
            })
            .collect();
        let final_seconds = budget_seconds - search;
        let final_epochs = final_seconds / default_epoch_seconds.max(1e-9);
        // A first estimate, at the base model's speed; the rungs' winner decides in the end.
        let finalists = copies_for(final_epochs);
        Self {
            budget_seconds,
            default_epoch_seconds,
            rungs,
            finalists,
            final_seconds_each: final_seconds / finalists as f64,
            candidates: sample_candidates(base_model, base_training, &shapes, first_trials, seed),
            widen_finals: true,
            smooth_widened_finals: true,
            reserved_seconds: 0.0,
            base_width_reserved_seconds: None,
            left_out_shapes,
        }
    }

    /// No search: `copies` trainings of one model and recipe, the budget shared equally, each
    /// with its own seed so that they err on different images; the ensemble choice then
    /// averages them when that wins on VALIDATION. `epoch_seconds` is that model's.
    pub fn copies(
        budget_seconds: f64,
        epoch_seconds: f64,
        model: &CnnConfig,
        training: &TrainConfig,
        copies: usize,
    ) -> Self {
        let copies = copies.max(1);
        Self {
            budget_seconds,
            default_epoch_seconds: epoch_seconds,
            rungs: Vec::new(),
            finalists: copies,
            final_seconds_each: budget_seconds / copies as f64,
            candidates: vec![
                Candidate {
                    id: 0,
                    model: model.clone(),
                    training: training.clone(),
                };
                copies
            ],
            widen_finals: false,
            smooth_widened_finals: false,
            reserved_seconds: 0.0,
            base_width_reserved_seconds: None,
            left_out_shapes: Vec::new(),
        }
    }

    /// Keeps `seconds` of the budget out of the search's clock: the finalists share what
    /// the rungs and the reserve leave.
    pub fn reserve(mut self, seconds: f64) -> Self {
        let rungs = self.rungs_seconds();
        self.reserved_seconds = seconds.max(0.0);
        self.final_seconds_each =
            (self.budget_seconds - rungs - self.reserved_seconds).max(0.0) / self.finalists as f64;
        self
    }

    /// What to keep out of the search's clock instead when no finalist costs more than the
    /// base model; never more than [`SearchPlan::reserve`] kept.
    pub fn reserve_at_base_width(mut self, seconds: f64) -> Self {
        self.base_width_reserved_seconds = Some(seconds.clamp(0.0, self.reserved_seconds));
        self
    }

    /// The search clock's budget: the run's, less what is reserved.
    pub fn clock_seconds(&self) -> f64 {
        self.budget_seconds - self.reserved_seconds
    }

    /// The search clock's budget for finals that cost no more than the base model.
    fn base_width_clock_seconds(&self) -> f64 {
        self.budget_seconds
            - self
                .base_width_reserved_seconds
                .unwrap_or(self.reserved_seconds)
    }

    pub fn trial_count(&self) -> usize {
        self.rungs.iter().map(|r| r.trials).sum()
    }

    /// Seconds the rungs take, all trials together.
    pub fn rungs_seconds(&self) -> f64 {
        self.rungs
            .iter()
            .map(|r| r.trials as f64 * r.seconds_each)
            .sum()
    }

    /// The plan in a few lines, printed before training starts.
    pub fn describe(&self) -> Vec<String> {
        let epochs = |s: f64| s / self.default_epoch_seconds.max(1e-9);
        let reserve = (self.reserved_seconds > 0.0).then(|| {
            let at_base_width = self
                .base_width_reserved_seconds
                .filter(|&base| base < self.reserved_seconds)
                .map_or(String::new(), |base| {
                    format!(
                        "; {} if the finals keep the base width",
                        format_duration(Duration::from_secs_f64(base))
                    )
                });
            format!(
                "  kept out of training: {} (loading the data, then evaluation and report){at_base_width}",
                format_duration(Duration::from_secs_f64(self.reserved_seconds))
            )
        });
        if self.rungs.is_empty() {
            let mut lines = vec![format!(
                "plan: {} trainings of this model, each with its own seed, for ~{} (~{:.0} epochs) each, then their average if it wins on validation",
                self.finalists,
                format_duration(Duration::from_secs_f64(self.final_seconds_each)),
                epochs(self.final_seconds_each)
            )];
            lines.extend(reserve);
            return lines;
        }
        let mut lines = vec![format!(
            "plan: search ({} trials by successive halving in {}, then {} trained for ~{}{} (settled after the rungs: one per {:.0} epochs of the winner, at the base width trained {}x wider when that still gets them), then an ensemble if it wins on validation); the default model takes {:.1}s per epoch here",
            self.trial_count(),
            format_duration(Duration::from_secs_f64(self.rungs_seconds())),
            if self.finalists == 1 {
                "the best candidate".to_string()
            } else {
                format!("the best {}", self.finalists)
            },
            format_duration(Duration::from_secs_f64(self.final_seconds_each)),
            if self.finalists == 1 { "" } else { " each" },
            EPOCHS_PER_COPY,
            WIDER_WIDTHS[0],
            self.default_epoch_seconds
        )];
        for (i, r) in self.rungs.iter().enumerate() {
            lines.push(format!(
                "  rung {}: {} trial{} of {} (~{:.1} default-model epochs)",
                i + 1,
                r.trials,
                if r.trials == 1 { "" } else { "s" },
                format_duration(Duration::from_secs_f64(r.seconds_each)),
                epochs(r.seconds_each)
            ));
        }
        if !self.left_out_shapes.is_empty() {
            lines.push(format!(
                "  left out of the search: {} (a first-rung trial would give them under {MIN_FIRST_TRIAL_EPOCHS} of their own epochs; the finals may still widen the winner)",
                self.left_out_shapes.join(", ")
            ));
        }
        lines.extend(reserve);
        lines
    }
}

/// How the finals train, settled when the rungs are over and saved with the run's progress,
/// so that a resumed run trains the same finals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FinalsChoice {
    pub count: usize,
    /// Channels of a finalist at the base width are multiplied by this.
    pub width_factor: f64,
    /// The choice in words, for the progress output and the report.
    pub reason: String,
    /// The search clock's budget the finals share, when it is not the plan's
    /// ([`SearchPlan::clock_seconds`]): finals at the base width need less evaluation.
    #[serde(default)]
    pub clock_seconds: Option<f64>,
}

impl FinalsChoice {
    /// `candidate` as the finals train it: wider when it is at the base width, and then
    /// with the wider model's label smoothing unless it has its own.
    fn apply(&self, plan: &SearchPlan, candidate: &Candidate) -> Candidate {
        let mut finalist = candidate.clone();
        if self.width_factor > 1.0 && at_base_width(plan, candidate) {
            finalist.model = candidate.model.widened(self.width_factor);
            if smoothed_when_widened(plan, candidate) {
                finalist.training.label_smoothing = crate::recipe::WIDE_LABEL_SMOOTHING;
            }
        }
        finalist
    }
}

/// Whether `candidate`, trained wider in the finals, takes the wider model's label smoothing:
/// unless the user fixed the smoothing, or the candidate has its own.
fn smoothed_when_widened(plan: &SearchPlan, candidate: &Candidate) -> bool {
    plan.smooth_widened_finals && candidate.training.label_smoothing == 0.0
}

fn at_base_width(plan: &SearchPlan, candidate: &Candidate) -> bool {
    let channels =
        |c: &Candidate| -> Vec<usize> { c.model.stages.iter().map(|s| s.channels).collect() };
    plan.candidates
        .first()
        .is_some_and(|base| channels(base) == channels(candidate))
}

/// The finals, by the rule the plan without a search follows (`recipe`): a winner at the base
/// width trains [`WIDER_WIDTHS`]' factor wider when the time left still buys that model
/// [`crate::recipe::WIDE_MIN_EPOCHS`] epochs, and the time is shared by one finalist per
/// [`EPOCHS_PER_COPY`] epochs of the winner as it will train. Why: the rungs are short (about
/// 1 and 3 minutes in an hour on 2 cores), too short for a wider model to win one, yet trained
/// for 30 epochs it beats the base width (README, "Choosing the default model"); and every
/// hour of search on 2 cores kept the default model at every rung.
fn choose_finals<T: StageTrainer>(
    plan: &SearchPlan,
    contenders: &[Candidate],
    trainer: &mut T,
) -> FinalsChoice {
    let left = (plan.clock_seconds() - trainer.clock()).max(0.0);
    let base_rate = |seconds: f64| seconds / plan.default_epoch_seconds.max(1e-9);
    let Some(winner) = contenders.first() else {
        return FinalsChoice {
            count: copies_for(base_rate(left)),
            width_factor: 1.0,
            reason: "finals: no trial finished".into(),
            clock_seconds: None,
        };
    };
    let batch = winner.training.batch_size;
    let mut words = String::new();
    if plan.widen_finals && at_base_width(plan, winner) {
        let wider = crate::recipe::auto_width(|factor| {
            trainer.epochs_in(&winner.model.widened(factor), batch, left)
        });
        if wider.factor > 1.0 {
            let count = wider.copies();
            let smoothing = if smoothed_when_widened(plan, winner) {
                format!(
                    ", with label smoothing {}",
                    crate::recipe::WIDE_LABEL_SMOOTHING
                )
            } else {
                String::new()
            };
            return FinalsChoice {
                count,
                width_factor: wider.factor,
                reason: format!(
                    "finals: {count} for the {} left, the winner at {}{smoothing}",
                    format_duration(Duration::from_secs_f64(left)),
                    wider.describe()
                ),
                clock_seconds: None,
            };
        }
        words = format!(", {}", wider.describe());
    }
    // Timed once (a few training steps of the budget), then scaled.
    let epochs_per_second = trainer
        .epochs_in(&winner.model, batch, 1.0)
        .unwrap_or_else(|| base_rate(1.0));
    let finals_in = |seconds: f64| {
        let epochs = epochs_per_second * seconds;
        (epochs, copies_for(epochs))
    };
    let mut left = left;
    let (mut epochs, mut count) = finals_in(left);
    // The reserve planned the evaluation of as many finalists at the wider width; finals
    // that cost no more than the base model (all of them: the ensemble averages them) and
    // are no more numerous need less of it, and train with the difference.
    let base_width_clock = plan.base_width_clock_seconds();
    let returned = base_width_clock - plan.clock_seconds();
    let mut clock_seconds = None;
    if plan.widen_finals && returned > 0.0 {
        let (more_epochs, more_count) = finals_in(left + returned);
        let base_cost = plan.candidates.first().map(|c| c.model.forward_macs());
        let cheap = contenders
            .iter()
            .take(more_count)
            .all(|c| Some(c.model.forward_macs()) <= base_cost);
        if cheap && more_count <= plan.finalists {
            (epochs, count) = (more_epochs, more_count);
            left = (base_width_clock - trainer.clock()).max(0.0);
            clock_seconds = Some(base_width_clock);
            words.push_str(&format!(
                "; their evaluation needs {} less than the wider model's, given to their training",
                format_duration(Duration::from_secs_f64(returned))
            ));
        }
    }
    FinalsChoice {
        count,
        width_factor: 1.0,
        reason: format!(
            "finals: {count} for the {} left, in which the winner trains ~{epochs:.0} epochs{words}",
            format_duration(Duration::from_secs_f64(left))
        ),
        clock_seconds,
    }
}

/// What the budget buys: one model, or a search.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Single { reason: String },
    Search(SearchPlan),
}

/// Whether `auto` needs the machine's speed to decide (it does not for short budgets).
pub fn needs_speed(mode: SearchMode, budget_seconds: f64) -> bool {
    match mode {
        SearchMode::Off => false,
        SearchMode::On => true,
        SearchMode::Auto => budget_seconds >= AUTO_MIN_SECONDS,
    }
}

/// The budget decides, unless `--search` does. `default_epoch_seconds` is the measured epoch
/// time of the default model (needed when [`needs_speed`]).
pub fn decide(
    mode: SearchMode,
    budget_seconds: f64,
    default_epoch_seconds: Option<f64>,
    base: (&CnnConfig, &TrainConfig),
    seed: u64,
) -> Plan {
    let search = |epoch_seconds: f64| {
        Plan::Search(SearchPlan::new(
            budget_seconds,
            epoch_seconds,
            base.0,
            base.1,
            seed,
        ))
    };
    match (mode, default_epoch_seconds) {
        (SearchMode::Off, _) => Plan::Single {
            reason: "--search off".into(),
        },
        (SearchMode::On, Some(e)) => search(e),
        (SearchMode::Auto, Some(e)) => {
            let epochs = budget_seconds / e.max(1e-9);
            if epochs >= AUTO_MIN_EPOCHS {
                search(e)
            } else {
                Plan::Single {
                    reason: format!(
                        "the budget buys ~{epochs:.0} epochs of the base model here (the default model, or as --width sets it); a search starts at {AUTO_MIN_EPOCHS:.0} (--search on forces one)"
                    ),
                }
            }
        }
        (SearchMode::On, None) => Plan::Single {
            reason: "the default model's speed on this device could not be measured, so no search could be planned".into(),
        },
        (SearchMode::Auto, None) => Plan::Single {
            reason: format!(
                "budgets under {} train one model (--search on forces a search)",
                format_duration(Duration::from_secs_f64(AUTO_MIN_SECONDS))
            ),
        },
    }
}

/// Which part of the search a training belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageKind {
    Trial,
    Final,
}

/// One finished training of the search: a line of `trials.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// `trial-07`, `final-1`: also its folder under the checkpoint.
    pub name: String,
    pub kind: StageKind,
    /// 1-based rung of a trial; finals have the rung after the last.
    pub rung: usize,
    pub candidate: Candidate,
    pub seed: u64,
    pub budget_seconds: f64,
    /// Wall time of the stage, its validation passes included.
    pub seconds_used: f64,
    /// Search clock (seconds since the run started) when it began and ended.
    pub started_at: f64,
    pub ended_at: f64,
    pub epochs: f64,
    pub validation_accuracy: f64,
    pub validation_loss: f64,
    pub promoted: bool,
    pub history: Vec<EpochRecord>,
}

/// What a stage's training reports back to the search.
pub struct StageResult {
    pub epochs: f64,
    pub validation: Predictions,
    pub history: Vec<EpochRecord>,
    pub stop_reason: StopReason,
    /// The budget the stage trained under: the one it was given when it first started, which a
    /// resumed stage keeps (the search would offer it what is left of the run instead).
    pub budget_seconds: f64,
    /// Seconds it had trained in earlier processes before this one resumed it (0 if fresh).
    pub trained_before_seconds: f64,
}

/// Trains one stage; the job's implementation trains on the real data and keeps the models.
pub trait StageTrainer {
    type Error;
    /// Trains `candidate` for `budget_seconds` (its schedule fitted to them) as stage `name`.
    fn train(
        &mut self,
        name: &str,
        candidate: &Candidate,
        seed: u64,
        budget_seconds: f64,
    ) -> Result<StageResult, Self::Error>;
    /// Validation predictions of a stage finished in an earlier process (a resumed run).
    fn validation_of(&mut self, record: &TrialRecord) -> Result<Predictions, Self::Error>;
    /// The search clock: seconds of the budget used so far, earlier processes included.
    fn clock(&self) -> f64;
    /// Called after every finished stage, with every record so far, so that an interrupted
    /// run can resume without redoing them.
    fn finished(&mut self, records: &[TrialRecord]) -> Result<(), Self::Error>;
    /// Reports progress to the user.
    fn note(&mut self, message: &str);
    /// Epochs `model` trains in `seconds` on this machine, from a few timed steps (their time
    /// is the budget's); `None` if they could not be timed.
    fn epochs_in(&mut self, model: &CnnConfig, batch_size: usize, seconds: f64) -> Option<f64>;
    /// Keeps the finals' choice with the progress that the next [`StageTrainer::finished`]
    /// saves.
    fn finals_chosen(&mut self, choice: &FinalsChoice);
}

/// The members the search chose and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchSummary {
    pub plan: SearchPlan,
    /// Stage names of the ensemble's members, the best single model first.
    pub members: Vec<String>,
    pub single_validation_accuracy: f64,
    pub ensemble_validation_accuracy: f64,
    /// Sentences for the report: what was chosen and why.
    pub explanation: Vec<String>,
    pub interrupted: bool,
    /// How the finals were trained (searches since the finals are settled after the rungs).
    #[serde(default)]
    pub finals: Option<FinalsChoice>,
}

pub struct SearchOutcome {
    pub records: Vec<TrialRecord>,
    pub summary: SearchSummary,
}

/// Runs the plan: successive halving, the finalists, the ensemble choice. `done` are the
/// stages an earlier process finished (a resumed run); they are not trained again.
pub fn run_search<T: StageTrainer>(
    plan: &SearchPlan,
    seed: u64,
    mut done: Vec<TrialRecord>,
    finals: Option<FinalsChoice>,
    trainer: &mut T,
) -> Result<SearchOutcome, T::Error> {
    let budget = plan.clock_seconds();
    let mut validations: Vec<(String, Predictions)> = Vec::new();
    let mut interrupted = false;
    // Time the finalists need at least: half their plan. A search slower than planned
    // (startup, slow trials) gives up trials before it eats into that.
    let final_floor = 0.5 * plan.final_seconds_each * plan.finalists as f64;

    let mut contenders: Vec<Candidate> = plan.candidates.clone();
    let mut stage_number = 0usize;
    let mut stop_searching = false;
    for (r, rung) in plan.rungs.iter().enumerate() {
        let mut results: Vec<(Candidate, f64, f64)> = Vec::new();
        for candidate in contenders.iter().take(rung.trials) {
            stage_number += 1;
            let name = format!("trial-{stage_number:02}");
            let record = match done.iter().find(|d| d.name == name) {
                Some(d) => d.clone(),
                None => {
                    let left = budget - trainer.clock() - final_floor;
                    if left < rung.seconds_each * 0.5 {
                        trainer.note(&format!(
                            "search: {name} and later trials skipped, the budget is needed for the finalists"
                        ));
                        stop_searching = true;
                        break;
                    }
                    let request = StageRequest {
                        name: name.clone(),
                        kind: StageKind::Trial,
                        rung: r + 1,
                        candidate,
                        seed,
                        seconds: rung.seconds_each.min(left),
                    };
                    match run_stage(trainer, request, &mut done, &mut validations)? {
                        Some(record) => record,
                        None => {
                            interrupted = true;
                            stop_searching = true;
                            break;
                        }
                    }
                }
            };
            results.push((
                candidate.clone(),
                record.validation_accuracy,
                record.validation_loss,
            ));
        }
        results.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.total_cmp(&b.2)));
        // The ranking: this rung's results, then those it did not train in the order the
        // rungs below left them, so that finalists beyond the top rung's few trials are the
        // best of the rung below (rung 3 of a 1h plan has one trial, the finals want two or
        // three).
        let ranked: Vec<Candidate> = results.into_iter().map(|(c, ..)| c).collect();
        let untried: Vec<Candidate> = contenders
            .into_iter()
            .filter(|c| ranked.iter().all(|r| r.id != c.id))
            .collect();
        contenders = ranked.into_iter().chain(untried).collect();
        // Who goes on: the best of this rung, as many as the next rung (or the finals) take.
        let keep = plan
            .rungs
            .get(r + 1)
            .map_or(plan.finalists, |next| next.trials);
        let promoted: Vec<usize> = contenders.iter().take(keep).map(|c| c.id).collect();
        for d in done.iter_mut().filter(|d| d.rung == r + 1) {
            d.promoted = promoted.contains(&d.candidate.id);
        }
        // Out of time or interrupted: the finalists come from what this rung did finish.
        if stop_searching {
            break;
        }
    }

    // The finalists: the best candidates of the highest rung reached (then of the rungs
    // below), trained again with what is left of the budget, shared between them. A
    // different seed each, so that they also differ from their own trials (what an ensemble
    // wants).
    // Copies (no rungs) were settled with the plan; a resumed search keeps its choice.
    let mut finals = finals;
    if !interrupted && !plan.rungs.is_empty() && finals.is_none() {
        let choice = choose_finals(plan, &contenders, trainer);
        trainer.note(&format!("search: {}", choice.reason));
        trainer.finals_chosen(&choice);
        trainer.finished(&done)?;
        finals = Some(choice);
    }
    if !interrupted {
        let finalists = finals
            .as_ref()
            .map_or(plan.finalists, |c| c.count)
            .min(contenders.len());
        let budget = finals
            .as_ref()
            .and_then(|c| c.clock_seconds)
            .unwrap_or(budget);
        for (f, candidate) in contenders.iter().enumerate().take(finalists) {
            let candidate = &finals
                .as_ref()
                .map_or_else(|| candidate.clone(), |c| c.apply(plan, candidate));
            let name = format!("final-{}", f + 1);
            if done.iter().any(|d| d.name == name) {
                continue;
            }
            let left = budget - trainer.clock();
            let seconds = left / (finalists - f) as f64;
            if seconds < 1.0 {
                break;
            }
            let request = StageRequest {
                name,
                kind: StageKind::Final,
                rung: plan.rungs.len() + 1,
                candidate,
                seed: seed.wrapping_add(1 + f as u64),
                seconds,
            };
            if run_stage(trainer, request, &mut done, &mut validations)?.is_none() {
                interrupted = true;
                break;
            }
        }
    }

    let (members, single, ensemble) = choose_ensemble(&done, &mut validations, trainer)?;
    let mut explanation = explain(&done, &members, single, ensemble);
    if let Some(reason) = finals
        .as_ref()
        .and_then(|c| c.reason.strip_prefix("finals: "))
    {
        explanation.insert(1, format!("Finals: {reason}."));
    }
    Ok(SearchOutcome {
        summary: SearchSummary {
            plan: plan.clone(),
            members,
            single_validation_accuracy: single,
            ensemble_validation_accuracy: ensemble,
            explanation,
            interrupted,
            finals,
        },
        records: done,
    })
}

/// One training of the search, about to run.
struct StageRequest<'c> {
    name: String,
    kind: StageKind,
    rung: usize,
    candidate: &'c Candidate,
    seed: u64,
    seconds: f64,
}

/// Trains one stage and, unless it was interrupted, records it as finished: saved for a
/// resume, its validation predictions kept for the ensemble, reported to the user. `None`
/// when it was interrupted.
fn run_stage<T: StageTrainer>(
    trainer: &mut T,
    request: StageRequest,
    done: &mut Vec<TrialRecord>,
    validations: &mut Vec<(String, Predictions)>,
) -> Result<Option<TrialRecord>, T::Error> {
    let StageRequest {
        name,
        kind,
        rung,
        candidate,
        seed,
        seconds,
    } = request;
    let resumed_at = trainer.clock();
    let result = trainer.train(&name, candidate, seed, seconds)?;
    let ended_at = trainer.clock();
    if result.stop_reason == StopReason::Interrupted {
        return Ok(None);
    }
    // A stage spread over several processes is recorded whole, from its first start.
    let started_at = resumed_at - result.trained_before_seconds;
    let record = TrialRecord {
        name: name.clone(),
        kind,
        rung,
        candidate: candidate.clone(),
        seed,
        budget_seconds: result.budget_seconds,
        seconds_used: ended_at - started_at,
        started_at,
        ended_at,
        epochs: result.epochs,
        validation_accuracy: result.validation.accuracy(),
        validation_loss: result.validation.loss(),
        promoted: false,
        history: result.history,
    };
    validations.push((name.clone(), result.validation));
    done.push(record.clone());
    trainer.finished(done)?;
    let stage = match kind {
        StageKind::Trial => format!("{name} (rung {rung})"),
        StageKind::Final => name,
    };
    trainer.note(&format!(
        "search: {stage} {:.2}% on validation after {:.1} epochs: {}",
        record.validation_accuracy * 100.0,
        record.epochs,
        candidate.describe()
    ));
    Ok(Some(record))
}

/// The ensemble's pool: every final and the trials of the two highest rungs (the models that
/// trained longest) within [`ENSEMBLE_POOL_MARGIN`] of the best, at most eight, best on
/// validation first.
fn ensemble_pool(records: &[TrialRecord]) -> Vec<&TrialRecord> {
    let top_rung = records
        .iter()
        .filter(|r| r.kind == StageKind::Trial)
        .map(|r| r.rung)
        .max()
        .unwrap_or(0);
    let mut pool: Vec<&TrialRecord> = records
        .iter()
        .filter(|r| r.kind == StageKind::Final || r.rung + 1 >= top_rung)
        .collect();
    pool.sort_by(|a, b| {
        b.validation_accuracy
            .total_cmp(&a.validation_accuracy)
            .then(a.validation_loss.total_cmp(&b.validation_loss))
    });
    pool.truncate(8);
    if let Some(best) = pool.first().map(|r| r.validation_accuracy) {
        pool.retain(|r| r.validation_accuracy >= best - ENSEMBLE_POOL_MARGIN);
    }
    pool
}

/// Greedy forward selection (Caruana et al., 2004): start from the best single model, add
/// the model that raises validation accuracy of the averaged probabilities most, stop when
/// none raises it by [`MIN_ENSEMBLE_GAIN`]. Returns (members, single, ensemble accuracy).
fn choose_ensemble<T: StageTrainer>(
    records: &[TrialRecord],
    validations: &mut Vec<(String, Predictions)>,
    trainer: &mut T,
) -> Result<(Vec<String>, f64, f64), T::Error> {
    let pool = ensemble_pool(records);
    let Some(best) = pool.first() else {
        return Ok((Vec::new(), 0.0, 0.0));
    };
    let mut probabilities: Vec<(String, Predictions)> = Vec::new();
    for record in &pool {
        let p = match validations.iter().position(|(n, _)| *n == record.name) {
            Some(i) => validations.swap_remove(i).1,
            None => trainer.validation_of(record)?,
        };
        probabilities.push((record.name.clone(), p));
    }
    let single = best.validation_accuracy;
    let mut chosen = vec![0usize];
    let mut current = single;
    while chosen.len() < MAX_MEMBERS {
        let mut best_addition: Option<(usize, f64)> = None;
        for i in (0..probabilities.len()).filter(|i| !chosen.contains(i)) {
            let mut with: Vec<usize> = chosen.clone();
            with.push(i);
            let accuracy = averaged_accuracy(&probabilities, &with);
            if best_addition.is_none_or(|(_, a)| accuracy > a) {
                best_addition = Some((i, accuracy));
            }
        }
        match best_addition {
            Some((i, accuracy)) if accuracy >= current + MIN_ENSEMBLE_GAIN => {
                chosen.push(i);
                current = accuracy;
            }
            _ => break,
        }
    }
    let members = chosen.iter().map(|&i| probabilities[i].0.clone()).collect();
    Ok((members, single, current))
}

/// Accuracy of the mean of the `chosen` models' probabilities (all over the same images).
pub fn averaged_accuracy(models: &[(String, Predictions)], chosen: &[usize]) -> f64 {
    let Some(&first) = chosen.first() else {
        return 0.0;
    };
    let labels = &models[first].1.labels;
    let correct = (0..labels.len())
        .filter(|&image| {
            let classes = models[first].1.probabilities[image].len();
            let mean: Vec<f64> = (0..classes)
                .map(|k| {
                    chosen
                        .iter()
                        .map(|&m| models[m].1.probabilities[image][k])
                        .sum::<f64>()
                })
                .collect();
            metrics::argmax(&mean) == labels[image]
        })
        .count();
    correct as f64 / labels.len().max(1) as f64
}

fn explain(records: &[TrialRecord], members: &[String], single: f64, ensemble: f64) -> Vec<String> {
    let trials = records
        .iter()
        .filter(|r| r.kind == StageKind::Trial)
        .count();
    let find = |name: &str| records.iter().find(|r| r.name == name);
    let finals = records.len() - trials;
    let plural = if finals == 1 { "" } else { "s" };
    let mut lines = vec![if trials == 0 {
        format!(
            "No search: {finals} training{plural} of one model, each with its own seed; every choice made on VALIDATION."
        )
    } else {
        format!(
            "{trials} trials by successive halving, then {finals} final training{plural}; every choice made on VALIDATION."
        )
    }];
    if let Some(best) = members.first().and_then(|n| find(n)) {
        lines.push(format!(
            "Best single model: {} ({}), {:.2}% on validation after {:.1} epochs in {}.",
            best.name,
            best.candidate.describe(),
            best.validation_accuracy * 100.0,
            best.epochs,
            format_duration(Duration::from_secs_f64(best.seconds_used))
        ));
    }
    if members.len() > 1 {
        lines.push(format!(
            "Ensemble of {} models ({}), averaging their probabilities: {:.2}% on validation against {:.2}% for the best one alone, so the ensemble is the saved model.",
            members.len(),
            members.join(", "),
            ensemble * 100.0,
            single * 100.0
        ));
    } else {
        lines.push(format!(
            "No ensemble: adding any other model raised validation accuracy by less than {:.2} points, so the best single model is the saved model.",
            MIN_ENSEMBLE_GAIN * 100.0
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> (CnnConfig, TrainConfig) {
        (CnnConfig::default(), TrainConfig::default())
    }

    #[test]
    fn small_budgets_train_one_model_and_large_ones_search() {
        let (m, t) = base();
        let auto =
            |budget: f64, epoch: Option<f64>| decide(SearchMode::Auto, budget, epoch, (&m, &t), 1);
        assert!(matches!(auto(300.0, None), Plan::Single { .. }));
        assert!(!needs_speed(SearchMode::Auto, 300.0));
        // One hour at 52 s per epoch: 69 epochs, not enough; 24 hours is.
        assert!(matches!(auto(3600.0, Some(52.0)), Plan::Single { .. }));
        assert!(matches!(auto(86_400.0, Some(52.0)), Plan::Search(_)));
        // Today's kernels (~24 s per epoch; a probe reading 15% fast) still train one model.
        assert!(matches!(
            auto(3600.0, Some(24.3 / 1.15)),
            Plan::Single { .. }
        ));
        // 20 minutes on a machine 20x faster buys a search.
        assert!(matches!(auto(1200.0, Some(2.6)), Plan::Search(_)));
        assert!(matches!(auto(1200.0, Some(52.0)), Plan::Single { .. }));
        assert!(matches!(
            decide(SearchMode::Off, 86_400.0, Some(52.0), (&m, &t), 1),
            Plan::Single { .. }
        ));
        assert!(matches!(
            decide(SearchMode::On, 60.0, Some(52.0), (&m, &t), 1),
            Plan::Search(_)
        ));
    }

    #[test]
    fn plans_grow_with_the_budget_and_fit_inside_it() {
        let (m, t) = base();
        let plan = |hours: f64| SearchPlan::new(hours * 3600.0, 52.0, &m, &t, 1);
        let (one, day) = (plan(1.0), plan(24.0));
        assert!(day.trial_count() > one.trial_count());
        assert!(day.rungs.len() > one.rungs.len());
        assert!(day.finalists >= one.finalists);
        for p in [&one, &day] {
            let search = p.rungs_seconds();
            assert!((search - search_seconds(p.budget_seconds, 52.0)).abs() < 1e-6);
            let finals = p.final_seconds_each * p.finalists as f64;
            assert!((search + finals - p.budget_seconds).abs() < 1e-6);
            assert_eq!(p.candidates.len(), p.rungs[0].trials);
            for pair in p.rungs.windows(2) {
                assert_eq!(pair[1].trials * ETA, pair[0].trials);
                assert!(pair[1].seconds_each > pair[0].seconds_each);
            }
            assert!(p.rungs[0].seconds_each >= MIN_RUNG_EPOCHS * 52.0);
        }
        // One hour at 52 s per epoch (69 epochs) searches with a tenth of it: 3 trials, then
        // the best again; 24 hours with the full share.
        assert_eq!(
            one.rungs.iter().map(|r| r.trials).collect::<Vec<_>>(),
            [3, 1]
        );
        assert!((day.rungs_seconds() - day.budget_seconds * SEARCH_SHARE).abs() < 1e-6);
    }

    #[test]
    fn the_search_share_grows_with_the_epochs_the_budget_buys() {
        let share = |budget: f64, epoch: f64| search_seconds(budget, epoch) / budget;
        // From AUTO_MIN_EPOCHS epochs on, the full share.
        assert!((share(AUTO_MIN_EPOCHS * 10.0, 10.0) - SEARCH_SHARE).abs() < 1e-9);
        assert!((share(86_400.0, 52.0) - SEARCH_SHARE).abs() < 1e-9);
        // Half those epochs, half the share.
        let half = share(AUTO_MIN_EPOCHS / 2.0 * 10.0, 10.0);
        assert!((half - SEARCH_SHARE / 2.0).abs() < 1e-9, "{half}");
        // Rising with the budget in between.
        let shares: Vec<f64> = [1800.0, 3600.0, 7200.0]
            .iter()
            .map(|&b| share(b, 52.0))
            .collect();
        assert!(shares.windows(2).all(|w| w[0] < w[1]), "{shares:?}");
        // A tiny budget still gets one first rung of half-epoch trials, and never more than
        // the full share.
        let epoch = 52.0;
        assert!((search_seconds(600.0, epoch) - ETA as f64 * MIN_RUNG_EPOCHS * epoch).abs() < 1e-9);
        assert!((search_seconds(100.0, epoch) - 100.0 * SEARCH_SHARE).abs() < 1e-9);
    }

    #[test]
    fn candidates_are_distinct_start_with_the_base_and_depend_on_the_seed() {
        let (m, t) = base();
        let shapes = search_shapes(&m);
        let a = sample_candidates(&m, &t, &shapes, 27, 7);
        assert_eq!(a.len(), 27);
        assert_eq!((&a[0].model, &a[0].training), (&m, &t));
        for (i, c) in a.iter().enumerate() {
            assert_eq!(c.id, i);
            c.model.validate().unwrap();
            for d in &a[..i] {
                assert!(c.model != d.model || c.training != d.training);
            }
        }
        assert_eq!(a, sample_candidates(&m, &t, &shapes, 27, 7));
        assert_ne!(a, sample_candidates(&m, &t, &shapes, 27, 8));
        assert!(a.iter().any(|c| c.model.residual));
        assert!(
            a.iter()
                .any(|c| c.training.augmentation.random_erasing > 0.0)
        );
    }

    #[test]
    fn shapes_a_first_rung_trial_is_too_short_for_are_left_out() {
        let (m, t) = base();
        let shape_of = |c: &Candidate| describe_shape(&c.model);
        // 24 hours at the AMD machine's 77 s per default-model epoch: 81 trials of 64 s.
        let amd = SearchPlan::new(86_400.0, 77.0, &m, &t, 1);
        let first = amd.rungs[0].seconds_each;
        for c in &amd.candidates {
            let own_epochs = first / (77.0 * relative_cost(&m, &c.model));
            assert!(own_epochs >= MIN_FIRST_TRIAL_EPOCHS, "{}", c.describe());
        }
        let shapes: Vec<String> = amd.candidates.iter().map(shape_of).collect();
        for kept in ["16-64-128 x1-2-2", "16-64-128 x1-3-3", "24-96-192 x1-2-2"] {
            assert!(shapes.iter().any(|s| s == kept), "{kept} never drawn");
        }
        assert_eq!(
            amd.left_out_shapes,
            ["24-96-192 x1-3-3", "32-128-256 x1-2-2", "32-128-256 x1-3-3"]
        );
        assert!(
            amd.describe()
                .iter()
                .any(|l| l.contains("left out of the search: 24-96-192 x1-3-3"))
        );
        // A machine 20x faster affords every shape, the widest included.
        let fast = SearchPlan::new(86_400.0, 77.0 / 20.0, &m, &t, 1);
        assert!(fast.left_out_shapes.is_empty());
        assert!(
            fast.candidates
                .iter()
                .any(|c| shape_of(c) == "32-128-256 x1-3-3")
        );
        assert!(!fast.describe().iter().any(|l| l.contains("left out")));
        // A first rung too short for any shape still compares recipes on the cheapest one.
        let tiny = SearchPlan::new(60.0, 52.0, &m, &t, 1);
        assert!(tiny.candidates.len() > 1);
        assert!(
            tiny.candidates
                .iter()
                .all(|c| shape_of(c) == "16-64-128 x1-2-2")
        );
        assert_eq!(tiny.left_out_shapes.len(), search_shapes(&m).len() - 1);
    }

    /// A trainer whose validation accuracy is a fixed function of the candidate and time:
    /// accuracy grows with training time, and with the candidate's id.
    struct Fake {
        clock: f64,
        trained: Vec<(String, usize, f64)>,
        models: Vec<CnnConfig>,
        saved: Vec<TrialRecord>,
        finals: Option<FinalsChoice>,
        interrupt_at: Option<usize>,
        /// The interrupted stage trains half its budget first, as a killed final does.
        interrupt_halfway: bool,
        /// A stage left half trained: its name, budget and seconds trained (its checkpoint).
        unfinished: Option<(String, f64, f64)>,
        /// Seconds per epoch of the default model; others take longer by their arithmetic.
        epoch_seconds: f64,
    }

    impl Fake {
        fn new() -> Self {
            Fake {
                clock: 0.0,
                trained: Vec::new(),
                models: Vec::new(),
                saved: Vec::new(),
                finals: None,
                interrupt_at: None,
                interrupt_halfway: false,
                unfinished: None,
                epoch_seconds: 52.0,
            }
        }
    }

    /// Predictions of 100 images of which `correct` are right; which ones depends on `shift`,
    /// so two models err on different images.
    fn predictions(correct: usize, shift: usize) -> Predictions {
        let labels: Vec<usize> = (0..100).map(|i| i % 2).collect();
        let probabilities = labels
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                let right = (i + shift) % 100 < correct;
                let p = if right { 0.7 } else { 0.4 };
                if l == 0 {
                    vec![p, 1.0 - p]
                } else {
                    vec![1.0 - p, p]
                }
            })
            .collect();
        Predictions {
            labels,
            probabilities,
        }
    }

    impl StageTrainer for Fake {
        type Error = String;
        fn train(
            &mut self,
            name: &str,
            candidate: &Candidate,
            _seed: u64,
            budget_seconds: f64,
        ) -> Result<StageResult, String> {
            if self.interrupt_at == Some(self.trained.len()) {
                if self.interrupt_halfway {
                    self.clock += budget_seconds / 2.0;
                    self.unfinished =
                        Some((name.to_string(), budget_seconds, budget_seconds / 2.0));
                }
                return Ok(StageResult {
                    epochs: 0.1,
                    validation: predictions(10, 0),
                    history: Vec::new(),
                    stop_reason: StopReason::Interrupted,
                    budget_seconds,
                    trained_before_seconds: 0.0,
                });
            }
            let (budget_seconds, trained_before_seconds) = match self.unfinished.take() {
                Some((stage, budget, trained)) if stage == name => (budget, trained),
                _ => (budget_seconds, 0.0),
            };
            self.trained
                .push((name.to_string(), candidate.id, budget_seconds));
            self.models.push(candidate.model.clone());
            self.clock += budget_seconds - trained_before_seconds;
            let correct = (50.0 + candidate.id as f64 + budget_seconds / 100.0).min(95.0) as usize;
            Ok(StageResult {
                epochs: budget_seconds / 52.0,
                validation: predictions(correct, 7 * self.trained.len()),
                history: Vec::new(),
                stop_reason: StopReason::BudgetReached,
                budget_seconds,
                trained_before_seconds,
            })
        }
        fn validation_of(&mut self, record: &TrialRecord) -> Result<Predictions, String> {
            Ok(predictions(
                (record.validation_accuracy * 100.0).round() as usize,
                3,
            ))
        }
        fn clock(&self) -> f64 {
            self.clock
        }
        fn finished(&mut self, records: &[TrialRecord]) -> Result<(), String> {
            self.saved = records.to_vec();
            Ok(())
        }
        fn note(&mut self, _message: &str) {}
        fn epochs_in(&mut self, model: &CnnConfig, _batch: usize, seconds: f64) -> Option<f64> {
            let arithmetic =
                model.forward_macs() as f64 / CnnConfig::default().forward_macs() as f64;
            Some(seconds / (self.epoch_seconds * arithmetic))
        }
        fn finals_chosen(&mut self, choice: &FinalsChoice) {
            self.finals = Some(choice.clone());
        }
    }

    /// An hour's plan with the rungs at the full [`SEARCH_SHARE`], as every search plan had
    /// them before the share grew with the budget: three rungs (9, 3 and 1 trials at 52 s
    /// per epoch), enough for the tests of how the rungs and finals run.
    fn hour_at_full_share(default_epoch_seconds: f64) -> SearchPlan {
        let (m, t) = base();
        SearchPlan::with_rungs_seconds(
            3600.0,
            default_epoch_seconds,
            3600.0 * SEARCH_SHARE,
            &m,
            &t,
            1,
        )
    }

    #[test]
    fn successive_halving_promotes_the_best_and_stays_in_budget() {
        // 30 s per epoch: the 42 minutes after the rungs buy two finalists' 30 epochs each.
        let mut plan = hour_at_full_share(30.0);
        plan.widen_finals = false;
        let mut fake = Fake::new();
        // The fake's winner is the highest id, whatever its arithmetic: at the default
        // model's 30 s it would also train 30 s per epoch.
        let winner = &plan.candidates[plan.candidates.len() - 1].model;
        fake.epoch_seconds =
            30.0 * CnnConfig::default().forward_macs() as f64 / winner.forward_macs() as f64;
        let out = run_search(&plan, 1, Vec::new(), None, &mut fake).unwrap();
        assert_eq!(fake.trained.len(), plan.trial_count() + plan.finalists);
        assert!(fake.clock <= 3600.0 + 1e-6, "{}", fake.clock);
        // In this fake, the highest id wins every rung: rung 2 runs ids 8, 7, 6; rung 3 id 8;
        // the finals take rung 3's winner, then rung 2's runner-up.
        let rung = |r: usize| -> Vec<usize> {
            out.records
                .iter()
                .filter(|x| x.rung == r && x.kind == StageKind::Trial)
                .map(|x| x.candidate.id)
                .collect()
        };
        assert_eq!(rung(2), [8, 7, 6]);
        assert_eq!(rung(3), [8]);
        let promoted: Vec<usize> = out
            .records
            .iter()
            .filter(|x| x.rung == 1 && x.promoted)
            .map(|x| x.candidate.id)
            .collect();
        assert_eq!(promoted.len(), 3);
        let finals: Vec<&TrialRecord> = out
            .records
            .iter()
            .filter(|x| x.kind == StageKind::Final)
            .collect();
        assert_eq!(plan.finalists, 2);
        let final_ids: Vec<usize> = finals.iter().map(|f| f.candidate.id).collect();
        assert_eq!(final_ids, [8, 7]);
        assert_ne!(finals[0].seed, finals[1].seed);
        assert_eq!(fake.saved.len(), out.records.len());
        assert!(!out.summary.members.is_empty());
        assert!(out.summary.ensemble_validation_accuracy >= out.summary.single_validation_accuracy);
    }

    #[test]
    fn copies_train_one_model_with_their_own_seeds_and_are_averaged_when_that_wins() {
        let (m, t) = base();
        let plan = SearchPlan::copies(3600.0, 48.0, &m, &t, 2);
        assert_eq!(plan.trial_count(), 0);
        let described = plan.describe();
        assert!(
            described[0].contains("2 trainings") && described[0].contains("~38 epochs"),
            "{described:?}"
        );
        let mut fake = Fake::new();
        let out = run_search(&plan, 42, Vec::new(), None, &mut fake).unwrap();
        let trained: Vec<(&str, usize, f64)> = fake
            .trained
            .iter()
            .map(|(n, id, s)| (n.as_str(), *id, *s))
            .collect();
        assert_eq!(trained, [("final-1", 0, 1800.0), ("final-2", 0, 1800.0)]);
        assert_ne!(out.records[0].seed, out.records[1].seed);
        // The fake's two copies err on different images: their average wins.
        assert_eq!(out.summary.members.len(), 2);
        assert!(
            out.summary.ensemble_validation_accuracy
                >= out.summary.single_validation_accuracy + MIN_ENSEMBLE_GAIN
        );
        assert!(
            out.summary.explanation[0].starts_with("No search: 2 trainings of one model"),
            "{:?}",
            out.summary.explanation
        );
    }

    #[test]
    fn what_is_reserved_stays_out_of_the_search_clock() {
        let (m, t) = base();
        let plan = SearchPlan::copies(3600.0, 48.0, &m, &t, 2).reserve(200.0);
        assert_eq!(plan.final_seconds_each, 1700.0);
        assert!(
            plan.describe()
                .iter()
                .any(|l| l.contains("kept out of training: 3m20s"))
        );
        let mut fake = Fake::new();
        run_search(&plan, 42, Vec::new(), None, &mut fake).unwrap();
        let seconds: Vec<f64> = fake.trained.iter().map(|t| t.2).collect();
        assert_eq!(seconds, [1700.0, 1700.0]);
        assert!((fake.clock - 3400.0).abs() < 1e-6, "{}", fake.clock);

        // A search keeps its rungs; the finalists give up the reserve.
        let full = hour_at_full_share(30.0);
        let mut reserved = full.clone().reserve(300.0);
        assert_eq!(reserved.rungs, full.rungs);
        let finals = |p: &SearchPlan| p.final_seconds_each * p.finalists as f64;
        assert!((finals(&full) - finals(&reserved) - 300.0).abs() < 1e-6);
        reserved.widen_finals = false;
        let mut fake = Fake::new();
        run_search(&reserved, 1, Vec::new(), None, &mut fake).unwrap();
        assert!(fake.clock <= 3300.0 + 1e-6, "{}", fake.clock);
        assert!(fake.clock >= 3300.0 - 1.0, "{}", fake.clock);
    }

    #[test]
    fn a_resumed_search_does_not_redo_finished_trials() {
        let plan = hour_at_full_share(52.0);
        let mut first = Fake::new();
        first.interrupt_at = Some(5);
        let out = run_search(&plan, 1, Vec::new(), None, &mut first).unwrap();
        assert!(out.summary.interrupted);
        assert_eq!(first.saved.len(), 5);

        let mut second = Fake::new();
        second.clock = first.clock;
        let resumed = run_search(
            &plan,
            1,
            first.saved.clone(),
            first.finals.clone(),
            &mut second,
        )
        .unwrap();
        let retrained: Vec<&str> = second.trained.iter().map(|t| t.0.as_str()).collect();
        assert_eq!(retrained.first(), Some(&"trial-06"));
        assert!(
            !retrained
                .iter()
                .any(|n| first.saved.iter().any(|s| s.name == *n))
        );
        assert_eq!(resumed.records.len(), plan.trial_count() + plan.finalists);

        // The same trials, decisions and finalist as a run never interrupted.
        let mut whole = Fake::new();
        let straight = run_search(&plan, 1, Vec::new(), None, &mut whole).unwrap();
        let ids = |o: &SearchOutcome| -> Vec<(String, usize)> {
            o.records
                .iter()
                .map(|r| (r.name.clone(), r.candidate.id))
                .collect()
        };
        assert_eq!(ids(&resumed), ids(&straight));
    }

    #[test]
    fn the_finals_train_a_base_width_winner_wider_when_the_time_left_buys_it_thirty_epochs() {
        let (m, _) = base();
        let plan = hour_at_full_share(52.0);
        let wide = m.widened(WIDER_WIDTHS[0]);
        let base_first = plan.candidates.clone();
        let choose =
            |epoch_seconds: f64, clock: f64, plan: &SearchPlan, contenders: &[Candidate]| {
                let mut fake = Fake::new();
                fake.epoch_seconds = epoch_seconds;
                fake.clock = clock;
                choose_finals(plan, contenders, &mut fake)
            };
        // 42 minutes left: the 1.5x model (2.2x the arithmetic) at 20 s per default epoch
        // trains ~57 epochs, one finalist's worth; at 10 s, three.
        let fast = choose(20.0, 1080.0, &plan, &base_first);
        assert_eq!(
            (fast.count, fast.width_factor),
            (1, WIDER_WIDTHS[0]),
            "{fast:?}"
        );
        assert_eq!(choose(10.0, 1080.0, &plan, &base_first).count, 3);
        assert_eq!(fast.apply(&plan, &base_first[0]).model, wide);
        // Trained wider, the finalist is smoothed as the plan without a search smooths the
        // wider model; when the user fixed the smoothing (here: to none), it is left alone.
        assert_eq!(base_first[0].training.label_smoothing, 0.0);
        assert_eq!(
            fast.apply(&plan, &base_first[0]).training.label_smoothing,
            crate::recipe::WIDE_LABEL_SMOOTHING
        );
        assert!(
            fast.reason.contains("with label smoothing"),
            "{}",
            fast.reason
        );
        let mut user_fixed = plan.clone();
        user_fixed.smooth_widened_finals = false;
        assert_eq!(
            fast.apply(&user_fixed, &base_first[0]).training,
            base_first[0].training
        );
        // At 52 s it would train ~22: the winner keeps its width, and its ~48 epochs make one
        // finalist (the first search plan at this speed had two).
        let slow = choose(52.0, 1080.0, &plan, &base_first);
        assert_eq!((slow.count, slow.width_factor), (1, 1.0), "{slow:?}");
        assert!(
            slow.reason.contains("would train only ~22 epochs"),
            "{}",
            slow.reason
        );
        assert_eq!(slow.apply(&plan, &base_first[0]), base_first[0]);
        // A winner of another width, or a width the user fixed, is trained as it is.
        let other = plan
            .candidates
            .iter()
            .find(|c| !at_base_width(&plan, c))
            .expect("the space has other widths")
            .clone();
        let by_other = choose(20.0, 1080.0, &plan, std::slice::from_ref(&other));
        assert_eq!(by_other.width_factor, 1.0);
        assert_eq!(fast.apply(&plan, &other).model, other.model);
        let mut fixed = plan.clone();
        fixed.widen_finals = false;
        assert_eq!(choose(20.0, 1080.0, &fixed, &base_first).width_factor, 1.0);

        // A whole search at 20 s per epoch whose winner (the fake's highest id) is the base
        // model: its final trains wider.
        let mut fake = Fake::new();
        fake.epoch_seconds = 20.0;
        let mut plan20 = hour_at_full_share(20.0);
        let last = plan20.candidates.len() - 1;
        let base_model = plan20.candidates[0].model.clone();
        plan20.candidates[last].model = base_model.clone();
        let out = run_search(&plan20, 1, Vec::new(), None, &mut fake).unwrap();
        let finals: Vec<&CnnConfig> = out
            .records
            .iter()
            .filter(|r| r.kind == StageKind::Final)
            .map(|r| &r.candidate.model)
            .collect();
        assert_eq!(finals.first(), Some(&&base_model.widened(WIDER_WIDTHS[0])));
        let first_final = out.records.iter().find(|r| r.kind == StageKind::Final);
        assert_eq!(
            first_final.map(|r| r.candidate.training.label_smoothing),
            Some(crate::recipe::WIDE_LABEL_SMOOTHING)
        );
        assert!(fake.finals.is_some());
        assert!(
            out.summary.explanation[1].starts_with("Finals: "),
            "{:?}",
            out.summary.explanation
        );
        assert!(fake.clock <= 3600.0 + 1e-6);
    }

    #[test]
    fn finals_kept_at_the_base_width_train_with_the_evaluation_the_wider_model_would_have_needed() {
        // Five minutes kept for the 1.5x finalist's evaluation, two for the default width's.
        let planned = |epoch_seconds: f64| {
            let mut plan = hour_at_full_share(epoch_seconds)
                .reserve(300.0)
                .reserve_at_base_width(120.0);
            let last = plan.candidates.len() - 1;
            plan.candidates[last].model = plan.candidates[0].model.clone();
            plan
        };
        let search = |plan: &SearchPlan| {
            let mut fake = Fake::new();
            fake.epoch_seconds = plan.default_epoch_seconds;
            let out = run_search(plan, 1, Vec::new(), None, &mut fake).unwrap();
            (fake, out)
        };
        assert!(
            planned(52.0)
                .describe()
                .iter()
                .any(|l| l.contains("kept out of training: 5m00s")
                    && l.contains("; 2m00s if the finals keep the base width")),
            "{:?}",
            planned(52.0).describe()
        );

        // At 52 s per epoch the wider model would not get its 30 epochs: the final keeps the
        // base width and trains until 2 minutes before the end, not 5.
        let (slow, out) = search(&planned(52.0));
        let finals = slow.finals.clone().expect("the finals were chosen");
        assert_eq!(finals.width_factor, 1.0);
        assert_eq!(finals.clock_seconds, Some(3480.0));
        assert!(finals.reason.contains("3m00s less"), "{}", finals.reason);
        assert!((slow.clock - 3480.0).abs() < 1e-6, "{}", slow.clock);
        let final_seconds: f64 = out
            .records
            .iter()
            .filter(|r| r.kind == StageKind::Final)
            .map(|r| r.budget_seconds)
            .sum();
        assert!(
            (final_seconds - (3480.0 - 1080.0)).abs() < 1e-6,
            "{final_seconds}"
        );

        // At 20 s it does: the wider final keeps the whole reserve.
        let (fast, _) = search(&planned(20.0));
        let finals = fast.finals.expect("the finals were chosen");
        assert_eq!(finals.width_factor, WIDER_WIDTHS[0]);
        assert_eq!(finals.clock_seconds, None);
        assert!((fast.clock - 3300.0).abs() < 1e-6, "{}", fast.clock);

        // A winner at the base width but deeper costs more to evaluate than the base model
        // the reserve timed: it keeps the whole reserve.
        let mut deeper = planned(52.0);
        let last = deeper.candidates.len() - 1;
        deeper.candidates[last].model.stages[2].convs += 1;
        let (fake, _) = search(&deeper);
        let finals = fake.finals.clone().expect("the finals were chosen");
        assert_eq!((finals.width_factor, finals.clock_seconds), (1.0, None));
        assert!((fake.clock - 3300.0).abs() < 1e-6, "{}", fake.clock);

        // A reserve at the base width never exceeds the plan's; without one nothing changes.
        let capped = hour_at_full_share(52.0)
            .reserve(100.0)
            .reserve_at_base_width(400.0);
        assert_eq!(capped.base_width_reserved_seconds, Some(100.0));
        let mut unchanged = planned(52.0);
        unchanged.base_width_reserved_seconds = None;
        let (fake, _) = search(&unchanged);
        assert!((fake.clock - 3300.0).abs() < 1e-6, "{}", fake.clock);
    }

    #[test]
    fn a_resumed_search_keeps_the_finals_it_chose() {
        let plan = hour_at_full_share(20.0);
        let mut first = Fake::new();
        first.epoch_seconds = 20.0;
        first.interrupt_at = Some(plan.trial_count());
        let out = run_search(&plan, 1, Vec::new(), None, &mut first).unwrap();
        assert!(out.summary.interrupted);
        let chosen = first.finals.clone().expect("chosen before the first final");
        // The machine reads slower after the restart: without the saved choice the finals
        // would differ; with it they do not.
        let mut second = Fake::new();
        second.epoch_seconds = 200.0;
        second.clock = first.clock;
        run_search(
            &plan,
            1,
            first.saved.clone(),
            Some(chosen.clone()),
            &mut second,
        )
        .unwrap();
        let trained_finals = second
            .trained
            .iter()
            .filter(|(name, ..)| name.starts_with("final-"))
            .count();
        assert_eq!(trained_finals, chosen.count.min(plan.candidates.len()));
        assert_eq!(
            second.finals, None,
            "a resumed search does not choose again"
        );
        let mut fresh = Fake::new();
        fresh.epoch_seconds = 200.0;
        fresh.clock = first.clock;
        assert_ne!(choose_finals(&plan, &plan.candidates, &mut fresh), chosen);
    }

    #[test]
    fn a_final_resumed_midway_is_recorded_whole() {
        let plan = hour_at_full_share(20.0);
        let mut first = Fake::new();
        first.epoch_seconds = 20.0;
        first.interrupt_at = Some(plan.trial_count());
        first.interrupt_halfway = true;
        let out = run_search(&plan, 1, Vec::new(), None, &mut first).unwrap();
        assert!(out.summary.interrupted);
        let (stage, budget, trained) = first.unfinished.clone().expect("final-1 half trained");
        assert_eq!(stage, "final-1");
        let first_start = first.clock - trained;

        let mut second = Fake::new();
        second.epoch_seconds = 20.0;
        second.clock = first.clock;
        second.unfinished = first.unfinished.clone();
        let resumed = run_search(
            &plan,
            1,
            first.saved.clone(),
            first.finals.clone(),
            &mut second,
        )
        .unwrap();
        let record = resumed
            .records
            .iter()
            .find(|r| r.name == "final-1")
            .expect("final-1 finished");
        assert!((record.budget_seconds - budget).abs() < 1e-9, "{record:?}");
        assert!((record.started_at - first_start).abs() < 1e-9, "{record:?}");
        assert!((record.seconds_used - budget).abs() < 1e-9, "{record:?}");
        assert!((record.ended_at - (first_start + budget)).abs() < 1e-9);
    }

    #[test]
    fn the_ensemble_takes_a_model_only_when_validation_improves() {
        let record = |name: &str, accuracy: f64| TrialRecord {
            name: name.into(),
            kind: StageKind::Final,
            rung: 2,
            candidate: sample_candidates(&base().0, &base().1, &[], 1, 1).remove(0),
            seed: 1,
            budget_seconds: 1.0,
            seconds_used: 1.0,
            started_at: 0.0,
            ended_at: 1.0,
            epochs: 1.0,
            validation_accuracy: accuracy,
            validation_loss: 1.0 - accuracy,
            promoted: false,
            history: Vec::new(),
        };
        let records = vec![record("a", 0.80), record("b", 0.80), record("c", 0.80)];
        // Errors on disjoint images: any two together are right where either is confident.
        let mut validations = vec![
            ("a".to_string(), predictions(80, 0)),
            ("b".to_string(), predictions(80, 20)),
            ("c".to_string(), predictions(80, 40)),
        ];
        let (members, single, ensemble) =
            choose_ensemble(&records, &mut validations, &mut Fake::new()).unwrap();
        assert!(members.len() >= 2, "{members:?}");
        assert!(ensemble > single + MIN_ENSEMBLE_GAIN);

        // Identical models add nothing: one member.
        let mut same = vec![
            ("a".to_string(), predictions(80, 0)),
            ("b".to_string(), predictions(80, 0)),
            ("c".to_string(), predictions(80, 0)),
        ];
        let (members, single, ensemble) =
            choose_ensemble(&records, &mut same, &mut Fake::new()).unwrap();
        assert_eq!(members, ["a"]);
        assert_eq!(single, ensemble);
    }

    /// `--help` states the threshold in words; it must be the one `decide` applies.
    #[test]
    fn the_help_for_auto_names_the_threshold_decide_uses() {
        use clap::ValueEnum;
        let help = SearchMode::Auto
            .to_possible_value()
            .and_then(|v| v.get_help().map(|h| h.to_string()))
            .unwrap_or_default();
        assert!(
            help.contains(&format!("{AUTO_MIN_EPOCHS:.0} epochs")),
            "{help}"
        );
        assert!(!help.contains('`'), "rustdoc markup in --help: {help}");
    }
}
