use anyhow::{Context, Result};
// Training allocates and frees tensors of the same few sizes at every step; the system
// allocator hands large blocks back to the kernel, so each step pays page faults and zeroing
// again (about a fifth of the time in a profile). mimalloc keeps and reuses them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use trainer::artifacts::RunPaths;
use trainer::backend::{BackendChoice, Compute};
use trainer::bench::{BenchPlan, run_bench};
use trainer::budget::{format_duration, parse_budget, tolerance};
use trainer::job::{
    DataOptions, EvaluateOptions, JobOptions, evaluate_saved, load_dataset, run_job,
    validate_run_name,
};
use trainer::progress::{Mode, Progress};
use trainer::reporting::{saved_run_names, write_index, write_report};
use trainer::train::TrainConfig;

/// Train a CNN on Fashion-MNIST within a wall-clock budget, evaluate it on the official test
/// set, and compare it with Google AutoML Vision's published results.
#[derive(Parser, Debug)]
#[command(version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    train: Args,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Rebuild the reports (charts, report.md, index.html) from saved files, without
    /// retraining, then reports/index.html.
    Report {
        /// The run to rebuild (repeatable); default: every run under --reports-dir.
        #[arg(long = "run", value_name = "NAME")]
        runs: Vec<String>,
        /// Folder with the dataset files, for the misclassified-images chart (default: the
        /// usual places; without them, an existing chart is kept).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        #[arg(long, default_value = "models")]
        models_dir: PathBuf,
        #[arg(long, default_value = "reports")]
        reports_dir: PathBuf,
    },
    /// Re-evaluate a saved model on the test set and refresh its report.
    Evaluate {
        /// The run whose model to evaluate (models/NAME).
        #[arg(long = "model", value_name = "NAME")]
        model: String,
        /// Compute backend for the evaluation (any backend reads any saved model).
        #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
        backend: BackendChoice,
        #[command(flatten)]
        data: DataArgs,
        #[arg(long, default_value = "models")]
        models_dir: PathBuf,
        #[arg(long, default_value = "reports")]
        reports_dir: PathBuf,
    },
    /// Measure training and inference throughput (images/s) of the default model and the
    /// reference nets A and B on each CPU backend (random data, fixed steps after warm-up).
    Bench {
        #[command(flatten)]
        plan: BenchPlan,
        /// Print the rows as a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn bench(plan: BenchPlan, json: bool) -> Result<()> {
    anyhow::ensure!(plan.batch > 0, "--batch must be at least 1");
    anyhow::ensure!(plan.steps != Some(0), "--steps must be at least 1");
    let rows = run_bench(&plan, &mut |r| {
        eprintln!(
            "{} on {}: train {:.0} img/s, inference {:.0} img/s",
            r.model, r.backend, r.train_img_s, r.infer_img_s
        )
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!("{}", trainer::bench::table(&rows));
    }
    Ok(())
}

/// Where the dataset comes from.
#[derive(clap::Args, Debug)]
struct DataArgs {
    /// Folder with the four dataset files; used alone, no other place is searched.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Never download the dataset.
    #[arg(long)]
    offline: bool,
    /// Use dataset files whose content differs from the official Fashion-MNIST.
    #[arg(long)]
    allow_unverified_data: bool,
    /// Base URL the dataset is downloaded from when no local copy is found.
    #[arg(long, default_value = fmnist::DEFAULT_BASE_URL)]
    download_url: String,
}

impl DataArgs {
    fn options(self) -> DataOptions {
        DataOptions {
            data_dir: self.data_dir,
            env_dir: std::env::var_os("FASHION_MNIST_DIR").map(PathBuf::from),
            project_root: PathBuf::from("."),
            offline: self.offline,
            allow_unverified: self.allow_unverified_data,
            base_url: self.download_url,
        }
    }
}

fn rebuild_reports(
    runs: Vec<String>,
    data_dir: Option<PathBuf>,
    models_dir: PathBuf,
    reports_dir: PathBuf,
) -> Result<()> {
    let runs = if runs.is_empty() {
        saved_run_names(&reports_dir)?
    } else {
        runs
    };
    anyhow::ensure!(
        !runs.is_empty(),
        "no runs with a metrics.json under {}",
        reports_dir.display()
    );
    let reference = report::ReferenceResults::bundled()?;
    // The gallery of misclassified images needs the test images; a report is still worth
    // rebuilding without them.
    let data = DataArgs {
        data_dir,
        offline: true,
        allow_unverified_data: false,
        download_url: String::new(),
    }
    .options();
    let test_images = match load_dataset(&data, &mut Progress::new(Mode::Quiet)) {
        Ok((dataset, _, _)) => Some(dataset.test_images),
        Err(e) => {
            eprintln!("note: test images not loaded ({e})");
            None
        }
    };
    for name in runs {
        validate_run_name(&name)?;
        let paths = RunPaths::new(&models_dir, &reports_dir, &name);
        let notes = write_report(&paths, &reference, test_images.as_ref())
            .with_context(|| format!("rebuilding the report of run {name:?}"))?;
        for note in notes {
            eprintln!("note: {note}");
        }
        println!("{}", paths.report_page().display());
    }
    let index = write_index(&models_dir, &reports_dir, &reference)
        .context("rebuilding the list of runs")?;
    println!("{}", index.display());
    Ok(())
}

/// Opens the backend the user chose and says which one runs, on which adapter and why.
fn open_backend(choice: BackendChoice) -> Result<Compute> {
    let compute = Compute::open(choice)?;
    eprintln!("{}", compute.describe());
    if let Some(warning) = compute.warning() {
        eprintln!("warning: {warning}");
    }
    Ok(compute)
}

fn evaluate(
    run_name: String,
    backend: BackendChoice,
    data: DataArgs,
    models_dir: PathBuf,
    reports_dir: PathBuf,
) -> Result<()> {
    let compute = open_backend(backend)?;
    let backend = compute.backend;
    let outcome = evaluate_saved(
        EvaluateOptions {
            run_name,
            compute,
            data: data.options(),
            models_dir,
            reports_dir,
        },
        &mut Progress::new(Mode::Lines),
    )?;
    for note in &outcome.notes {
        eprintln!("note: {note}");
    }
    let m = &outcome.report.metrics;
    println!(
        "Run {} on the test set ({} images, {backend}): accuracy {:.2}%, avg precision (micro) {:.2}%, ROC AUC {:.2}%{}",
        outcome.report.run_name,
        m.examples,
        m.accuracy * 100.0,
        m.average_precision_micro * 100.0,
        m.roc_auc_macro_ovr * 100.0,
        outcome
            .previous_accuracy
            .map(|a| format!(" (saved report said {:.2}%)", a * 100.0))
            .unwrap_or_default()
    );
    println!("Report: {}", outcome.paths.report_page().display());
    Ok(())
}

#[derive(clap::Args, Debug)]
struct Args {
    /// Wall-clock budget for training, validation included: 90s, 30m, 1h, 24h, 1h30m.
    #[arg(long, default_value = "1h")]
    budget: String,
    /// Compute backend: auto picks a hardware GPU (builds with the `gpu` feature), else flex.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    backend: BackendChoice,
    /// Seed of the split, weight initialisation, shuffling and augmentation.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Name of the run's folders under models/ and reports/ (default: run-<UTC time>).
    #[arg(long)]
    run_name: Option<String>,
    /// Continue an interrupted run with the budget it has left.
    #[arg(long, value_name = "NAME", conflicts_with = "run_name")]
    resume: Option<String>,
    #[command(flatten)]
    data: DataArgs,
    /// Early stopping: validation passes without improvement before stopping (0: off).
    #[arg(long, default_value_t = 10)]
    patience: usize,
    /// Stop after this many epochs even if budget is left.
    #[arg(long)]
    max_epochs: Option<usize>,
    /// Training batch size.
    #[arg(long, default_value_t = 128)]
    batch_size: usize,
    /// Peak learning rate of the schedule.
    #[arg(long, default_value_t = 0.1)]
    lr: f64,
    /// Print no progress, only the final table.
    #[arg(long, short)]
    quiet: bool,
    /// Where models are saved.
    #[arg(long, default_value = "models")]
    models_dir: PathBuf,
    /// Where reports are saved.
    #[arg(long, default_value = "reports")]
    reports_dir: PathBuf,
}

/// On a headless machine, wgpu's probe of the GL backend asks libwayland for a display, which
/// prints "XDG_RUNTIME_DIR is invalid or not set" on every probe. A private runtime folder
/// (what a login session would provide) keeps the log clean; nothing is ever written there.
#[cfg(feature = "gpu")]
fn give_graphics_probe_a_runtime_dir() {
    use std::os::unix::fs::DirBuilderExt;
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return;
    }
    let dir = std::env::temp_dir().join("trainer-xdg-runtime");
    if std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .is_ok()
    {
        // SAFETY: first thing in main, before any other thread exists to read the environment.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", &dir) };
    }
}

fn main() -> Result<()> {
    #[cfg(feature = "gpu")]
    give_graphics_probe_a_runtime_dir();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Report {
            runs,
            data_dir,
            models_dir,
            reports_dir,
        }) => rebuild_reports(runs, data_dir, models_dir, reports_dir),
        Some(Command::Evaluate {
            model,
            backend,
            data,
            models_dir,
            reports_dir,
        }) => evaluate(model, backend, data, models_dir, reports_dir),
        Some(Command::Bench { plan, json }) => bench(plan, json),
        None => train(cli.train),
    }
}

fn train(args: Args) -> Result<()> {
    let budget = parse_budget(&args.budget)?;
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    anyhow::ensure!(
        args.lr.is_finite() && args.lr > 0.0,
        "--lr must be a positive number, got {}",
        args.lr
    );
    let mode = if args.quiet {
        Mode::Quiet
    } else if std::io::stderr().is_terminal() {
        Mode::Bars
    } else {
        Mode::Lines
    };
    let compute = open_backend(args.backend)?;

    let stop = Arc::new(AtomicBool::new(false));
    let handler_stop = stop.clone();
    ctrlc::set_handler(move || {
        if handler_stop.swap(true, Ordering::SeqCst) {
            eprintln!("\nstopping now; the last checkpoint is kept for --resume");
            std::process::exit(130);
        }
        eprintln!("\nstopping after this step to save the best model and the reports (Ctrl-C again to abort)");
    })
    .context("cannot install the Ctrl-C handler")?;

    let defaults = TrainConfig::default();
    let training = TrainConfig {
        batch_size: args.batch_size,
        schedule: trainer::schedule::LrSchedule {
            peak: args.lr,
            ..defaults.schedule.clone()
        },
        patience: (args.patience > 0).then_some(args.patience),
        max_epochs: args.max_epochs,
        ..defaults
    };
    let options = JobOptions {
        budget_text: args.budget.clone(),
        budget,
        compute,
        seed: args.seed,
        run_name: args.run_name,
        resume: args.resume,
        data: args.data.options(),
        models_dir: args.models_dir,
        reports_dir: args.reports_dir,
        model: model::CnnConfig::default(),
        training,
    };
    let mut progress = Progress::new(mode);
    let outcome = run_job(options, &stop, &mut progress, &mut Progress::new(mode))?;
    drop(progress);

    let card = &outcome.card;
    let overrun = card.training_seconds - card.budget_seconds;
    println!(
        "\nRun {}: {} on {}, {:.2} epochs in {} of a {} budget ({}); stop: {}.",
        outcome.run_name,
        card.parameters,
        card.backend,
        card.epochs_completed,
        format_duration(std::time::Duration::from_secs_f64(card.training_seconds)),
        card.budget,
        if overrun
            > tolerance(std::time::Duration::from_secs_f64(card.budget_seconds)).as_secs_f64()
        {
            format!("OVER budget by {overrun:.1}s")
        } else {
            "within budget".to_string()
        },
        card.stop_reason.describe(),
    );
    println!(
        "Test set ({} images), compared with AutoML Vision (statworx, 2018):\n",
        outcome.report.metrics.examples
    );
    println!("{}", outcome.comparison);
    println!(
        "\nAutoML's 'avg precision' (the post's 'macro AUC') is micro-averaged over (image, label) pairs: compare it with ours (micro). Precision and recall are at score threshold 0.5."
    );
    for note in &outcome.notes {
        eprintln!("note: {note}");
    }
    println!(
        "Model: {}\nReport: {} (and report.md beside it)",
        outcome.paths.model_dir.display(),
        outcome.paths.report_page().display()
    );
    Ok(())
}
