//! A run's report, rebuilt from the files the run saved: `reports/NAME/metrics.json` and
//! `models/NAME/model.json`. Nothing here retrains or re-evaluates anything.

use crate::{Machine, ReferenceResults, RunSummary, Table, comparison, format_duration};
use metrics::Metrics;
use serde::Deserialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum RunFileError {
    #[error("cannot read {path}: {source}; re-run training or `evaluate` to recreate it")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is corrupt or from another version: {reason}")]
    Parse { path: PathBuf, reason: String },
}

/// The part of `metrics.json` a report shows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RunMetrics {
    pub run_name: String,
    pub class_names: Vec<String>,
    pub budget: String,
    pub budget_seconds: f64,
    pub training_seconds: f64,
    pub stop_reason: String,
    pub backend: String,
    #[serde(flatten)]
    pub metrics: Metrics,
}

/// One run as saved on disk.
#[derive(Debug, Clone)]
pub struct SavedRun {
    pub metrics: RunMetrics,
    /// `model.json` as written, shown verbatim as the run's configuration.
    pub model_card: serde_json::Value,
    pub history: Vec<HistoryRow>,
}

/// One validation pass of `history.csv`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryRow {
    pub elapsed_seconds: f64,
    pub train_loss: f64,
    pub validation_loss: f64,
    pub validation_accuracy: f64,
}

impl RunFileError {
    /// The error for a file that was read but is not what it should be.
    pub(crate) fn parse(path: &Path, reason: impl Into<String>) -> Self {
        RunFileError::Parse {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
}

/// A run file's text; the error names the file.
pub(crate) fn read_text(path: &Path) -> Result<String, RunFileError> {
    std::fs::read_to_string(path).map_err(|source| RunFileError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads the columns a chart needs from `history.csv`, by header name.
pub fn read_history(path: &Path) -> Result<Vec<HistoryRow>, RunFileError> {
    let text = read_text(path)?;
    let bad = |reason: String| RunFileError::parse(path, reason);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| bad(format!("no column {name:?} in the header")))
    };
    let cols = [
        column("elapsed_seconds")?,
        column("train_loss")?,
        column("validation_loss")?,
        column("validation_accuracy")?,
    ];
    lines
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            let cells: Vec<&str> = line.split(',').collect();
            let value = |c: usize| -> Result<f64, RunFileError> {
                cells
                    .get(c)
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .ok_or_else(|| bad(format!("line {}: not a number in column {}", i + 2, c + 1)))
            };
            Ok(HistoryRow {
                elapsed_seconds: value(cols[0])?,
                train_loss: value(cols[1])?,
                validation_loss: value(cols[2])?,
                validation_accuracy: value(cols[3])?,
            })
        })
        .collect()
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, RunFileError> {
    let bytes = std::fs::read(path).map_err(|source| RunFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| RunFileError::parse(path, e.to_string()))
}

impl SavedRun {
    pub fn load(report_dir: &Path, model_dir: &Path) -> Result<Self, RunFileError> {
        Ok(Self {
            metrics: read_json(&report_dir.join("metrics.json"))?,
            model_card: read_json(&model_dir.join("model.json"))?,
            history: read_history(&report_dir.join("history.csv"))?,
        })
    }

    /// The computer the run trained on; `None` for runs saved before the trainer recorded it.
    fn machine(&self) -> Option<Machine> {
        serde_json::from_value(self.model_card.get("machine")?.clone()).ok()
    }

    /// Where the run trained: the GPU of a wgpu run, then the computer (the host of that
    /// GPU); `None` for a run saved before either was recorded. A resumed run says which
    /// computer finished it: the earlier processes may have run on another one.
    pub fn trained_on(&self) -> Option<String> {
        let gpu = self.model_card["adapter"]["name"].as_str();
        let place = match (gpu, self.machine()) {
            (Some(gpu), Some(machine)) => format!("{gpu}; host: {}", machine.describe()),
            (Some(gpu), None) => gpu.to_string(),
            (None, Some(machine)) => machine.describe(),
            (None, None) => return None,
        };
        if self.model_card["resumed"].as_bool() == Some(true) {
            Some(format!("finished on {place}"))
        } else {
            Some(place)
        }
    }

    pub fn summary(&self) -> RunSummary {
        let m = &self.metrics;
        RunSummary {
            name: format!("{} ({})", m.run_name, m.backend),
            budget: m.budget.clone(),
            time_used: format_duration(Duration::from_secs_f64(m.training_seconds.max(0.0))),
            average_precision_micro: m.metrics.average_precision_micro,
            average_precision_macro: m.metrics.average_precision_macro,
            roc_auc_macro_ovr: m.metrics.roc_auc_macro_ovr,
            precision_at_0_5: m.metrics.precision_at_0_5_micro,
            recall_at_0_5: m.metrics.recall_at_0_5_micro,
            accuracy: m.metrics.accuracy,
        }
    }
}

fn pct_or_dash(v: Option<f64>) -> String {
    v.map_or("-".into(), crate::table::pct)
}

/// A chart of a run's report: the file stem in the run's folder and what it shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReportChart {
    pub stem: &'static str,
    pub title: &'static str,
    pub caption: &'static str,
}

/// Every chart of a run's report, in the order the report shows them.
pub const RUN_CHARTS: [ReportChart; 8] = [
    ReportChart {
        stem: "comparison",
        title: "Compared with AutoML Vision",
        caption: "Test-set accuracy, average precision (micro) and precision and recall at score threshold 0.5, for this run and AutoML free and paid.",
    },
    ReportChart {
        stem: "learning_curve",
        title: "Learning curve",
        caption: "Validation accuracy and losses against wall-clock time; AutoML's test accuracies and the budget for scale.",
    },
    ReportChart {
        stem: "trials",
        title: "Trainings of the run",
        caption: "A run of several trainings (a search, or copies of one model): validation accuracy of every trial and final training against the time it ended, by successive-halving rung; circled: the models in the saved model (trials.csv lists them all).",
    },
    ReportChart {
        stem: "confusion_matrix",
        title: "Confusion matrix",
        caption: "Test images per (true, predicted) class; the colour and percentage are shares of the true class.",
    },
    ReportChart {
        stem: "precision_recall",
        title: "Precision-recall curves",
        caption: "One class against the rest; average precision per class in the legend.",
    },
    ReportChart {
        stem: "roc",
        title: "ROC curves",
        caption: "One class against the rest; ROC AUC per class in the legend.",
    },
    ReportChart {
        stem: "threshold",
        title: "Precision and recall against the score threshold",
        caption: "Micro-averaged over (image, label) pairs, as AutoML's threshold slider shows them; AutoML's published values at 0.5 as triangles.",
    },
    ReportChart {
        stem: "misclassified",
        title: "Misclassified test images",
        caption: "The most frequent confusions, the model's most confident mistakes first (test index and the score of the wrong class).",
    },
];

fn class_name(m: &RunMetrics, class: usize) -> String {
    m.class_names
        .get(class)
        .cloned()
        .unwrap_or_else(|| class.to_string())
}

impl SavedRun {
    /// One sentence: backend, time used, budget, stop reason, test set size.
    pub fn headline(&self) -> String {
        let m = &self.metrics;
        format!(
            "Trained on the {} backend{} for {} of a {} budget (stop: {}). Evaluated once on \
             the official Fashion-MNIST test set ({} images).",
            m.backend,
            self.trained_on()
                .map_or_else(String::new, |place| format!(" ({place})")),
            format_duration(Duration::from_secs_f64(m.training_seconds.max(0.0))),
            m.budget,
            m.stop_reason.replace('_', " "),
            m.metrics.examples
        ) + &self.mirror_sentence()
    }

    /// Says whether the test predictions average each image with its mirror image, and the
    /// validation figures that decided it.
    fn mirror_sentence(&self) -> String {
        let temperature = &self.model_card["test_time_mirror"]["temperature"];
        let scaling = match (
            temperature["value"].as_f64(),
            temperature["validation_loss_before"].as_f64(),
            temperature["validation_loss_after"].as_f64(),
        ) {
            (Some(t), Some(before), Some(after)) if t != 1.0 => format!(
                " The probabilities are then rescaled by a temperature of {t:.3} fitted on \
                 validation (temperature scaling, Guo et al. 2017: validation log loss \
                 {before:.4} -> {after:.4}); it changes no prediction, only how sure each is."
            ),
            _ => String::new(),
        };
        self.views_sentence() + &scaling
    }

    fn views_sentence(&self) -> String {
        let choice = &self.model_card["test_time_mirror"];
        let accuracy = |key: &str| choice[key].as_f64().map(|a| format!("{:.2}%", a * 100.0));
        let untried = " More views did not fit in the budget.";
        match choice["views_tried"].as_u64() {
            Some(1) => {
                return format!(
                    " Predictions use the image alone ({} on validation).{untried}",
                    accuracy("validation_accuracy_plain").unwrap_or_default()
                );
            }
            Some(_) => return self.mirror_choice_sentence(accuracy) + untried,
            None => {}
        }
        self.mirror_choice_sentence(accuracy)
    }

    fn mirror_choice_sentence(&self, accuracy: impl Fn(&str) -> Option<String>) -> String {
        let choice = &self.model_card["test_time_mirror"];
        match (
            choice["enabled"].as_bool(),
            accuracy("validation_accuracy_mirrored"),
            accuracy("validation_accuracy_plain"),
        ) {
            (_, Some(mirrored), Some(plain)) if choice["shifted"].as_bool() == Some(true) => {
                format!(
                    " Predictions average each image's probabilities over ten views (the image \
                     and its mirror image, each also shifted one pixel up, down, left and \
                     right): chosen on validation ({} with them, {mirrored} with the mirror \
                     alone, {plain} plain), never on test.",
                    accuracy("validation_accuracy_shifted").unwrap_or_default()
                )
            }
            (Some(enabled), Some(mirrored), Some(plain)) => format!(
                " Predictions {} each image's probabilities with its mirror image's: chosen on \
                 validation ({mirrored} with, {plain} without{}), never on test.",
                if enabled { "average" } else { "do not average" },
                accuracy("validation_accuracy_shifted").map_or(String::new(), |s| format!(
                    "; {s} with one-pixel shifts too"
                ))
            ),
            _ => String::new(),
        }
    }

    /// A search run's account of what it chose and why (`model.json`'s `search`); empty for
    /// a single-model run.
    pub fn search_explanation(&self) -> Vec<String> {
        self.model_card["search"]["explanation"]
            .as_array()
            .map(|lines| {
                lines
                    .iter()
                    .filter_map(|l| l.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn per_class_table(&self) -> Table {
        let m = &self.metrics;
        let mut table = Table::new(&[
            "class",
            "support",
            "precision",
            "recall",
            "F1",
            "avg precision",
            "ROC AUC",
            "precision@0.5",
            "recall@0.5",
        ]);
        table.rows = m
            .metrics
            .per_class
            .iter()
            .map(|c| {
                vec![
                    class_name(m, c.class),
                    c.support.to_string(),
                    pct_or_dash(Some(c.precision)),
                    pct_or_dash(Some(c.recall)),
                    pct_or_dash(Some(c.f1)),
                    pct_or_dash(c.average_precision),
                    pct_or_dash(c.roc_auc),
                    pct_or_dash(Some(c.precision_at_0_5)),
                    pct_or_dash(c.recall_at_0_5),
                ]
            })
            .collect();
        table
    }

    /// Rows: true class; columns: predicted class.
    pub fn confusion_table(&self) -> Table {
        let m = &self.metrics;
        let names: Vec<String> = (0..m.metrics.num_classes)
            .map(|i| class_name(m, i))
            .collect();
        let mut header = vec!["true \\ predicted".to_string()];
        header.extend(names.iter().cloned());
        Table {
            header,
            rows: names
                .iter()
                .zip(&m.metrics.confusion_matrix)
                .map(|(name, row)| {
                    std::iter::once(name.clone())
                        .chain(row.iter().map(u64::to_string))
                        .collect()
                })
                .collect(),
        }
    }

    /// `model.json` as saved, pretty-printed.
    pub fn config_json(&self) -> String {
        serde_json::to_string_pretty(&self.model_card).unwrap_or_default()
    }
}

/// `report.md`: the article's table with this run added, the charts, per-class figures, the
/// confusion matrix and the configuration. `charts` are those present in the run's folder.
pub fn render_markdown(
    reference: &ReferenceResults,
    run: &SavedRun,
    charts: &[ReportChart],
) -> String {
    let m = &run.metrics;
    let mut out = String::new();
    let _ = writeln!(out, "# Run `{}`\n", m.run_name);
    let _ = writeln!(out, "{}\n", run.headline());
    let search = run.search_explanation();
    if !search.is_empty() {
        let _ = writeln!(out, "## Trainings: the chosen model and why\n");
        for line in search {
            let _ = writeln!(out, "- {line}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Compared with AutoML Vision\n");
    let _ = writeln!(
        out,
        "{}\n",
        comparison(reference, &[run.summary()]).markdown()
    );
    let _ = writeln!(
        out,
        "AutoML's rows: {}, \"{}\" ({}), {}, <{}>. {}\n",
        reference.source.author,
        reference.source.title,
        reference.source.publisher,
        reference.source.date,
        reference.source.url,
        reference.metric_notes
    );
    for chart in charts {
        let _ = writeln!(
            out,
            "### {}\n\n{}\n\n![{}]({}.svg)\n",
            chart.title, chart.caption, chart.title, chart.stem
        );
    }
    let _ = writeln!(
        out,
        "## Per class\n\n{}\n",
        run.per_class_table().markdown()
    );
    let _ = writeln!(
        out,
        "## Confusion matrix\n\nRows: true class; columns: predicted class.\n\n{}\n",
        run.confusion_table().markdown()
    );
    let _ = writeln!(
        out,
        "## Configuration (`model.json`)\n\n```json\n{}\n```",
        run.config_json()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved_run() -> SavedRun {
        let labels = [0, 1, 2, 2, 1, 0];
        let probs = vec![
            vec![0.7, 0.2, 0.1],
            vec![0.3, 0.4, 0.3],
            vec![0.1, 0.1, 0.8],
            vec![0.5, 0.1, 0.4],
            vec![0.2, 0.6, 0.2],
            vec![0.4, 0.4, 0.2],
        ];
        SavedRun {
            metrics: RunMetrics {
                run_name: "demo".into(),
                class_names: vec!["a".into(), "b".into(), "c".into()],
                budget: "5m".into(),
                budget_seconds: 300.0,
                training_seconds: 297.0,
                stop_reason: "budget_reached".into(),
                backend: "flex".into(),
                metrics: metrics::evaluate(&labels, &probs, 3).unwrap(),
            },
            model_card: serde_json::json!({"seed": 42}),
            history: vec![],
        }
    }

    #[test]
    fn markdown_table_shows_the_numbers_of_metrics_json() {
        let run = saved_run();
        let md = render_markdown(
            &ReferenceResults::bundled().unwrap(),
            &run,
            &RUN_CHARTS[..2],
        );
        let row = md
            .lines()
            .find(|l| l.starts_with("| demo (flex)"))
            .expect("our row");
        let m = &run.metrics.metrics;
        for v in [
            m.average_precision_micro,
            m.average_precision_macro,
            m.roc_auc_macro_ovr,
            m.precision_at_0_5_micro,
            m.recall_at_0_5_micro,
            m.accuracy,
        ] {
            let shown = format!("{:.1}%", v * 100.0);
            assert!(row.contains(&shown), "{shown} not in {row}");
        }
        assert!(
            md.contains("| c     | 2       | 100.0%    | 50.0%  |"),
            "{md}"
        );
        assert!(md.contains("| c                | 1 | 0 | 1 |"), "{md}");
        assert!(md.contains("![Learning curve](learning_curve.svg)"));
        assert!(!md.contains("misclassified.svg"));
        assert!(md.contains("\"seed\": 42"));
        assert!(md.contains("4m57s of a 5m budget"));
    }

    #[test]
    fn a_search_run_says_what_it_chose_and_why() {
        let mut run = saved_run();
        let reference = ReferenceResults::bundled().unwrap();
        assert!(!render_markdown(&reference, &run, &[]).contains("## Search"));
        run.model_card = serde_json::json!({
            "search": {"explanation": ["13 trials by successive halving.", "Ensemble of 2 models."]}
        });
        let md = render_markdown(&reference, &run, &[]);
        assert!(
            md.contains(
                "## Trainings: the chosen model and why\n\n- 13 trials by successive halving.\n- Ensemble of 2 models.\n"
            ),
            "{md}"
        );
        let html = crate::render_run_html(&reference, &run, &[], &[]);
        assert!(html.contains("<li>Ensemble of 2 models.</li>"), "{html}");
    }

    #[test]
    fn headline_names_the_computer_and_gpu_the_run_trained_on() {
        let mut run = saved_run();
        assert!(
            run.headline()
                .starts_with("Trained on the flex backend for 4m57s of a 5m budget"),
            "a run saved before machines were recorded: {}",
            run.headline()
        );
        run.model_card["machine"] = serde_json::json!({
            "cpu": "AMD EPYC",
            "logical_cores": 2,
            "vector_extensions": ["AVX2", "FMA"]
        });
        assert!(
            run.headline().starts_with(
                "Trained on the flex backend (AMD EPYC, 2 logical cores, AVX2 + FMA) for 4m57s"
            ),
            "{}",
            run.headline()
        );
        run.model_card["resumed"] = true.into();
        assert!(
            run.headline()
                .contains("(finished on AMD EPYC, 2 logical cores, AVX2 + FMA)"),
            "{}",
            run.headline()
        );
        run.metrics.backend = "wgpu".into();
        run.model_card["adapter"] = serde_json::json!({"name": "NVIDIA H200"});
        assert!(
            run.headline().contains(
                "wgpu backend (finished on NVIDIA H200; host: AMD EPYC, 2 logical cores, AVX2 + FMA)"
            ),
            "{}",
            run.headline()
        );
        run.model_card["resumed"] = false.into();
        assert!(
            run.headline().contains(
                "wgpu backend (NVIDIA H200; host: AMD EPYC, 2 logical cores, AVX2 + FMA)"
            ),
            "{}",
            run.headline()
        );
        run.model_card["machine"] = serde_json::json!({"cpu": 7});
        assert_eq!(run.machine(), None, "a malformed record is left out");
        assert!(run.headline().contains("wgpu backend (NVIDIA H200) for"));
    }

    #[test]
    fn headline_says_whether_predictions_are_mirror_averaged() {
        let mut run = saved_run();
        assert!(!run.headline().contains("mirror"), "{}", run.headline());
        run.model_card = serde_json::json!({"test_time_mirror": {
            "enabled": true,
            "validation_accuracy_plain": 0.9412,
            "validation_accuracy_mirrored": 0.94375,
            "seconds": 9.0
        }});
        let on = run.headline();
        assert!(
            on.contains("Predictions average") && on.contains("(94.38% with, 94.12% without)"),
            "{on}"
        );
        run.model_card["test_time_mirror"]["enabled"] = false.into();
        assert!(run.headline().contains("do not average"));
        run.model_card["test_time_mirror"]["validation_accuracy_shifted"] = 0.9391.into();
        assert!(
            run.headline()
                .contains("94.12% without; 93.91% with one-pixel shifts too"),
            "{}",
            run.headline()
        );
        run.model_card["test_time_mirror"]["validation_accuracy_shifted"] = 0.9456.into();
        run.model_card["test_time_mirror"]["shifted"] = true.into();
        let ten = run.headline();
        assert!(
            ten.contains("over ten views")
                && ten.contains("(94.56% with them, 94.38% with the mirror alone, 94.12% plain)"),
            "{ten}"
        );
        assert!(!ten.contains("did not fit"), "{ten}");
        // A budget too short for every view says so.
        run.model_card["test_time_mirror"] = serde_json::json!({
            "enabled": true,
            "validation_accuracy_plain": 0.9412,
            "validation_accuracy_mirrored": 0.94375,
            "shifted": false,
            "seconds": 3.0,
            "views_tried": 2
        });
        let two = run.headline();
        assert!(
            two.contains("Predictions average") && two.ends_with("did not fit in the budget."),
            "{two}"
        );
        run.model_card["test_time_mirror"]["views_tried"] = 1.into();
        let alone = run.headline();
        assert!(
            alone.contains("Predictions use the image alone (94.12% on validation).")
                && !alone.contains("mirror"),
            "{alone}"
        );
        // A fitted temperature is named with the validation losses it was fitted on; one
        // that changed nothing is not.
        run.model_card["test_time_mirror"]["temperature"] = serde_json::json!({
            "value": 0.6123,
            "validation_loss_before": 0.2466,
            "validation_loss_after": 0.1731
        });
        let scaled = run.headline();
        assert!(
            scaled.contains("temperature of 0.612 fitted on validation")
                && scaled.contains("0.2466 -> 0.1731"),
            "{scaled}"
        );
        run.model_card["test_time_mirror"]["temperature"]["value"] = 1.0.into();
        assert!(
            !run.headline().contains("temperature"),
            "{}",
            run.headline()
        );
    }

    #[test]
    fn history_is_read_by_column_name_and_bad_rows_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.csv");
        std::fs::write(
            &path,
            "epoch,elapsed_seconds,validation_accuracy,train_loss,validation_loss\n1,10.5,0.8,0.6,0.5\n",
        )
        .unwrap();
        let rows = read_history(&path).unwrap();
        assert_eq!(
            rows,
            vec![HistoryRow {
                elapsed_seconds: 10.5,
                train_loss: 0.6,
                validation_loss: 0.5,
                validation_accuracy: 0.8
            }]
        );
        std::fs::write(
            &path,
            "elapsed_seconds,train_loss,validation_loss,validation_accuracy\n1,x,2,3\n",
        )
        .unwrap();
        let err = read_history(&path).unwrap_err().to_string();
        assert!(
            err.contains("history.csv") && err.contains("line 2"),
            "{err}"
        );
        std::fs::write(&path, "epoch\n1\n").unwrap();
        assert!(
            read_history(&path)
                .unwrap_err()
                .to_string()
                .contains("elapsed_seconds")
        );
    }

    #[test]
    fn missing_or_corrupt_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = SavedRun::load(dir.path(), dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("metrics.json"), "{err}");
        std::fs::write(dir.path().join("metrics.json"), b"{ not json").unwrap();
        let err = SavedRun::load(dir.path(), dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("metrics.json") && err.contains("corrupt"),
            "{err}"
        );
    }
}
