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
use trainer::predict::{Predictor, newest_model};
use trainer::progress::{Mode, Progress};
use trainer::reporting::{saved_run_names, write_index, write_report};
use trainer::search::SearchMode;
use trainer::train::TrainConfig;

/// mimalloc 3's `mi_option_purge_delay` (its place in mimalloc.h's `mi_option_e`, which
/// libmimalloc-sys does not name; a unit test checks that it reads the option's default).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc hands memory that stayed free for a while (1 s in mimalloc 3) back to the kernel,
/// and training keeps freeing and taking back buffers of the same sizes, so it paid page
/// faults and page clearing again for some of them: with purging off the default model
/// trains about 3% faster (`trainer bench`, README "Allocator"). A long-running `serve` keeps
/// the default, so that memory taken by a burst of requests goes back.
/// `MIMALLOC_PURGE_DELAY` in the environment still wins.
fn keep_freed_memory_for_reuse() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mimalloc's option table is not thread safe; main calls this before any other
        // thread exists. -1 is mimalloc's documented "never purge".
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    }
}

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
    /// Classify image files (PNG, JPEG, BMP, GIF; any size and colour) with a saved model.
    Predict(PredictArgs),
    /// Serve saved models over HTTP with AutoML Vision's v1beta1 predict API.
    Serve {
        /// Models to serve (repeatable); default: the most recently trained one.
        #[arg(long = "model", value_name = "NAME")]
        models: Vec<String>,
        /// Address to listen on (port 0: any free port). Loopback by default: expose it on
        /// purpose, this server has no authentication.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: String,
        /// Inferences running at once; further requests queue.
        #[arg(long, default_value_t = serve::ServeOptions::default().max_concurrent_inferences)]
        max_concurrent: usize,
        /// Largest request body, in MiB.
        #[arg(long, default_value_t = 32)]
        body_limit_mib: usize,
        #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
        backend: BackendChoice,
        #[arg(long, default_value = "models")]
        models_dir: PathBuf,
    },
    /// Write Fashion-MNIST as PNG files plus AutoML's CSV (TRAIN|VALIDATION|TEST,path,label),
    /// with the same seeded split as training.
    ExportAutoml {
        /// Folder to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// Seed of the TRAIN/VALIDATION split (training's --seed).
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[command(flatten)]
        data: DataArgs,
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
    eprintln!("machine: {}", trainer::backend::detect_machine().describe());
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
        // A run trained from an AutoML CSV has its own test images: Fashion-MNIST's would
        // put the wrong pictures in its gallery, which is then kept as it is.
        let from_csv =
            trainer::artifacts::read_json::<trainer::artifacts::ModelCard>(&paths.model_card())
                .is_ok_and(|card| card.dataset.csv.is_some());
        let gallery_images = if from_csv { None } else { test_images.as_ref() };
        let notes = write_report(&paths, &reference, gallery_images)
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
struct PredictArgs {
    /// The model (models/NAME); default: the most recently trained one.
    #[arg(long = "model", value_name = "NAME")]
    model: Option<String>,
    /// Image files to classify.
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<PathBuf>,
    /// Labels to print per image (text output).
    #[arg(long, default_value_t = 3)]
    top_k: usize,
    /// Print AutoML's predict response (JSON), one line per image.
    #[arg(long)]
    json: bool,
    /// Leave out labels scoring below this, like AutoML's score_threshold (default: 0.5
    /// with --json, as AutoML; 0 for the text output).
    #[arg(long)]
    score_threshold: Option<f64>,
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    backend: BackendChoice,
    #[arg(long, default_value = "models")]
    models_dir: PathBuf,
}

fn check_threshold(threshold: Option<f64>) -> Result<()> {
    if let Some(t) = threshold {
        anyhow::ensure!(
            (0.0..=1.0).contains(&t),
            "--score-threshold must be from 0 to 1, got {t}"
        );
    }
    Ok(())
}

fn predict_files(args: PredictArgs) -> Result<()> {
    check_threshold(args.score_threshold)?;
    anyhow::ensure!(args.top_k > 0, "--top-k must be at least 1");
    let name = match args.model {
        Some(name) => name,
        None => newest_model(&args.models_dir)?,
    };
    let compute = open_backend(args.backend)?;
    let predictor = Predictor::load(&args.models_dir, &name, &compute)?;
    if !args.json {
        eprintln!("model {name} ({})", args.models_dir.join(&name).display());
    }
    let mut prepared = Vec::new();
    let mut failed = 0;
    for path in &args.images {
        match std::fs::read(path)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| Ok(images::prepare(&bytes)?))
        {
            Ok(p) => prepared.push((path, p)),
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                failed += 1;
            }
        }
    }
    let pixels: Vec<images::Pixels> = prepared.iter().map(|(_, p)| p.pixels).collect();
    let rows = predictor.probabilities(&pixels);
    for ((path, p), row) in prepared.iter().zip(&rows) {
        if args.json {
            let metadata = std::collections::BTreeMap::from([(
                "image".to_string(),
                path.display().to_string(),
            )]);
            let threshold = args
                .score_threshold
                .unwrap_or(serve::automl::DEFAULT_SCORE_THRESHOLD);
            let response =
                serve::automl::response(&predictor.card.class_names, row, threshold, metadata);
            println!("{}", serde_json::to_string(&response)?);
        } else {
            let threshold = args.score_threshold.unwrap_or(0.0);
            let response = serve::automl::response(
                &predictor.card.class_names,
                row,
                threshold,
                Default::default(),
            );
            let labels: Vec<String> = response
                .payload
                .iter()
                .take(args.top_k)
                .map(|a| format!("{} {:.3}", a.display_name, a.classification.score))
                .collect();
            println!(
                "{}: {} ({:?} {}x{}{})",
                path.display(),
                if labels.is_empty() {
                    format!("no label scores {threshold} or more")
                } else {
                    labels.join(", ")
                },
                p.format,
                p.original_width,
                p.original_height,
                if p.inverted {
                    ", light background inverted"
                } else {
                    ""
                }
            );
        }
    }
    anyhow::ensure!(
        failed == 0,
        "{failed} of {} images could not be read",
        args.images.len()
    );
    Ok(())
}

fn serve_models(
    names: Vec<String>,
    addr: String,
    max_concurrent: usize,
    body_limit_mib: usize,
    backend: BackendChoice,
    models_dir: PathBuf,
) -> Result<()> {
    anyhow::ensure!(max_concurrent > 0, "--max-concurrent must be at least 1");
    anyhow::ensure!(body_limit_mib > 0, "--body-limit-mib must be at least 1");
    let names = if names.is_empty() {
        vec![newest_model(&models_dir)?]
    } else {
        names
    };
    let compute = open_backend(backend)?;
    let mut models: std::collections::HashMap<String, Arc<dyn serve::ImageClassifier>> =
        Default::default();
    for name in &names {
        let predictor = Predictor::load(&models_dir, name, &compute)?;
        models.insert(name.clone(), Arc::new(predictor));
    }
    let options = serve::ServeOptions {
        body_limit: body_limit_mib * 1024 * 1024,
        max_concurrent_inferences: max_concurrent,
        ..Default::default()
    };
    serve::run(&addr, models, options, |bound| {
        // Written once and errors ignored: whoever started the server may stop reading.
        use std::io::Write;
        let _ = write!(
            std::io::stdout(),
            "Serving {} on http://{bound}\n  POST http://{bound}/v1beta1/projects/local/locations/local/models/{}:predict\n  GET  http://{bound}/healthz    (Ctrl-C stops)\n",
            names.join(", "),
            names[0]
        );
        let _ = std::io::stdout().flush();
    })?;
    Ok(())
}

fn export_automl(out: PathBuf, seed: u64, data: DataArgs) -> Result<()> {
    let (dataset, _, _) = load_dataset(&data.options(), &mut Progress::new(Mode::Lines))?;
    let export = trainer::predict::export_automl(&dataset, seed, &out)?;
    println!(
        "{}: {} TRAIN, {} VALIDATION, {} TEST images (PNG under {})",
        export.csv.display(),
        export.train,
        export.validation,
        export.test,
        out.join("images").display()
    );
    Ok(())
}

#[derive(clap::Args, Debug)]
struct Args {
    /// Wall-clock budget for the whole run (loading the data, training, evaluation and report):
    /// 90s, 30m, 1h, 24h, 1h30m.
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
    /// Train on the images an AutoML Vision CSV lists (`[SET,]path,label`; paths relative to
    /// the CSV) instead of Fashion-MNIST.
    #[arg(long, value_name = "FILE.csv", conflicts_with = "resume")]
    csv: Option<PathBuf>,
    /// Search over architectures and training recipes (successive halving, then an ensemble
    /// chosen on validation): auto does when the budget buys enough epochs on this machine.
    #[arg(long, value_enum, default_value_t = SearchMode::Auto)]
    search: SearchMode,
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
    /// Width of the model: the default model's channels times this factor. Default: chosen
    /// by the budget (the widest of 1 and 1.5 that still trains 30 epochs here).
    #[arg(long, value_name = "FACTOR")]
    width: Option<f64>,
    /// Probability of erasing a random rectangle of each training image (Zhong et al.).
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    random_erasing: f32,
    /// Label smoothing of the training loss: the share of each target spread evenly over all
    /// classes (Szegedy et al.); validation and test losses are never smoothed. Default: 0.1
    /// when the budget widens the model (see --width), else 0.
    #[arg(long, value_name = "EPSILON")]
    label_smoothing: Option<f32>,
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
    if !matches!(cli.command, Some(Command::Serve { .. })) {
        keep_freed_memory_for_reuse();
    }
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
        Some(Command::Predict(args)) => predict_files(args),
        Some(Command::Serve {
            models,
            addr,
            max_concurrent,
            body_limit_mib,
            backend,
            models_dir,
        }) => serve_models(
            models,
            addr,
            max_concurrent,
            body_limit_mib,
            backend,
            models_dir,
        ),
        Some(Command::ExportAutoml { out, seed, data }) => export_automl(out, seed, data),
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
    if let Some(w) = args.width {
        anyhow::ensure!(
            w.is_finite() && (0.25..=8.0).contains(&w),
            "--width is a factor between 0.25 and 8 on the default model's channels, got {w}"
        );
    }
    anyhow::ensure!(
        (0.0..=1.0).contains(&args.random_erasing),
        "--random-erasing is a probability between 0 and 1, got {}",
        args.random_erasing
    );
    if let Some(epsilon) = args.label_smoothing {
        anyhow::ensure!(
            (0.0..1.0).contains(&epsilon),
            "--label-smoothing is a share from 0 up to (not including) 1, got {epsilon}"
        );
    }
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
        augmentation: fmnist::Augmentation {
            random_erasing: args.random_erasing,
            ..defaults.augmentation.clone()
        },
        label_smoothing: args.label_smoothing.unwrap_or(defaults.label_smoothing),
        ..defaults
    };
    let options = JobOptions {
        csv: args.csv,
        budget_text: args.budget.clone(),
        budget,
        compute,
        seed: args.seed,
        run_name: args.run_name,
        resume: args.resume,
        data: args.data.options(),
        models_dir: args.models_dir,
        reports_dir: args.reports_dir,
        model: model::CnnConfig::default().widened(args.width.unwrap_or(1.0)),
        training,
        search: args.search,
        width: args.width,
        label_smoothing: args.label_smoothing,
    };
    let mut progress = Progress::new(mode);
    let outcome = run_job(options, &stop, &mut progress, &mut Progress::new(mode))?;
    drop(progress);

    let card = &outcome.card;
    // The whole run counts: loading, training, evaluation and report.
    let overrun = card.total_seconds - card.budget_seconds;
    println!(
        "\nRun {}: {} parameters on {}, {:.2} epochs in {} of training, the whole run {} of a {} budget ({}); stop: {}.",
        outcome.run_name,
        card.parameters,
        card.backend,
        card.epochs_completed,
        format_duration(std::time::Duration::from_secs_f64(card.training_seconds)),
        format_duration(std::time::Duration::from_secs_f64(card.total_seconds)),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards the hand-written option number: a mimalloc update that moved the enum would
    /// turn "never purge" into some other option set to -1. The options next to it default
    /// to 1 (eager commit delay) and 0 (NUMA nodes), the purge delay to 1000 ms.
    #[test]
    fn option_number_is_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reads one option; no test in this binary sets mimalloc options.
        let default_delay_ms = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(default_delay_ms, 1000);
    }
}
