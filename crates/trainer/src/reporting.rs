//! A run's report folder rebuilt from its saved files: every chart, `report.md` and
//! `index.html`, then the list of all runs, `reports/index.html`, with the cross-run chart.

use crate::artifacts::{self, ArtifactError, RunPaths};
use crate::job::JobError;
use fmnist::Images;
use report::{RUN_CHARTS, ReferenceResults, ReportChart, SavedRun};
use std::path::Path;

/// Misclassified pairs and images per pair that the gallery shows.
const GALLERY_PAIRS: usize = 4;
const GALLERY_PER_PAIR: usize = 8;

/// Files of a run's report folder that its page links to.
const LINKED_FILES: [&str; 5] = [
    "report.md",
    "metrics.json",
    "test_predictions.csv",
    "history.csv",
    "trials.csv",
];

/// Rebuilds every chart, `report.md` and `index.html` of one run. The misclassified gallery
/// needs the test images: without them an existing gallery is kept, and a note says so.
/// Returns such notes for the user.
pub fn write_report(
    paths: &RunPaths,
    reference: &ReferenceResults,
    test_images: Option<&Images>,
) -> Result<Vec<String>, JobError> {
    let mut notes = Vec::new();
    let run = SavedRun::load(&paths.report_dir, &paths.model_dir)?;
    let predictions = report::read_predictions(&paths.predictions())?;
    let m = &run.metrics;
    if predictions.labels.len() != m.metrics.examples {
        return Err(JobError::Inconsistent(format!(
            "{} has {} rows but {} counts {} test images; run `evaluate --model {}` to redo both",
            paths.predictions().display(),
            predictions.labels.len(),
            paths.metrics().display(),
            m.metrics.examples,
            m.run_name
        )));
    }
    let dir = &paths.report_dir;
    let names = &m.class_names;
    report::comparison_chart(reference, &[run.summary()], &dir.join("comparison"))?;
    report::learning_curve_chart(
        reference,
        &run.history,
        m.budget_seconds,
        &dir.join("learning_curve"),
    )?;
    let trials = dir.join("trials.csv");
    if trials.is_file() {
        report::trials_chart(
            &report::read_trials(&trials)?,
            m.budget_seconds,
            &dir.join("trials"),
        )?;
    }
    report::confusion_chart(
        names,
        &m.metrics.confusion_matrix,
        &dir.join("confusion_matrix"),
    )?;
    report::precision_recall_chart(
        names,
        &predictions.labels,
        &predictions.probabilities,
        &dir.join("precision_recall"),
    )?;
    report::roc_chart(
        names,
        &predictions.labels,
        &predictions.probabilities,
        &dir.join("roc"),
    )?;
    report::threshold_chart(
        reference,
        &predictions.labels,
        &predictions.probabilities,
        m.metrics.num_classes,
        &dir.join("threshold"),
    )?;
    match test_images {
        Some(images) => {
            let pairs = report::most_confused(
                &predictions.indices,
                &predictions.labels,
                &predictions.probabilities,
                GALLERY_PAIRS,
                GALLERY_PER_PAIR,
            );
            let image = |index: usize| (index < images.count).then(|| images.image(index).to_vec());
            report::gallery_chart(names, &pairs, &image, &dir.join("misclassified"))?;
        }
        None if dir.join("misclassified.svg").is_file() => notes.push(format!(
            "{}: misclassified images kept from the last build (the test images were not found)",
            m.run_name
        )),
        None => notes.push(format!(
            "{}: no misclassified-images chart (the test images were not found)",
            m.run_name
        )),
    }
    let charts: Vec<ReportChart> = RUN_CHARTS
        .iter()
        .filter(|c| dir.join(format!("{}.svg", c.stem)).is_file())
        .copied()
        .collect();
    let markdown = report::render_markdown(reference, &run, &charts);
    artifacts::write_atomic(&paths.report_markdown(), markdown.as_bytes())?;
    let files: Vec<&str> = LINKED_FILES
        .iter()
        .copied()
        .filter(|f| dir.join(f).is_file())
        .collect();
    let html = report::render_run_html(reference, &run, &charts, &files);
    artifacts::write_atomic(&paths.report_page(), html.as_bytes())?;
    Ok(notes)
}

/// The runs under `reports_dir` that have test metrics, by name.
pub fn saved_run_names(reports_dir: &Path) -> Result<Vec<String>, JobError> {
    let entries = std::fs::read_dir(reports_dir).map_err(|source| {
        JobError::Artifact(ArtifactError::Read {
            path: reports_dir.to_path_buf(),
            source,
        })
    })?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("metrics.json").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Rebuilds `reports/index.html` and the cross-run chart from every run under `reports_dir`.
/// A run whose files cannot be read is listed as such, not fatal: one broken folder must not
/// hide the others. Returns the path of the page.
pub fn write_index(
    models_dir: &Path,
    reports_dir: &Path,
    reference: &ReferenceResults,
) -> Result<std::path::PathBuf, JobError> {
    let mut runs = Vec::new();
    let mut unreadable = Vec::new();
    for name in saved_run_names(reports_dir)? {
        let paths = RunPaths::new(models_dir, reports_dir, &name);
        match SavedRun::load(&paths.report_dir, &paths.model_dir) {
            Ok(run) => runs.push(run),
            Err(e) => unreadable.push((name, e.to_string())),
        }
    }
    let points: Vec<report::RunPoint> = runs
        .iter()
        .map(|r| report::RunPoint {
            name: r.metrics.run_name.clone(),
            training_seconds: r.metrics.training_seconds,
            accuracy: r.metrics.metrics.accuracy,
        })
        .collect();
    report::runs_chart(reference, &points, &reports_dir.join("runs"))?;
    let summaries: Vec<report::RunSummary> = runs.iter().map(SavedRun::summary).collect();
    report::comparison_chart(reference, &summaries, &reports_dir.join("comparison"))?;
    let html = report::render_index_html(reference, &runs, true, &unreadable);
    let page = reports_dir.join("index.html");
    artifacts::write_atomic(&page, html.as_bytes())?;
    Ok(page)
}
