//! What a run is compared with: AutoML Vision's recorded results on Fashion-MNIST (kept as
//! data in `data/reference-results.json`, with their source) and the comparison table.

mod charts;
mod confusion;
mod curves;
pub mod files;
mod gallery;
mod html;
mod machine;
mod predictions;
mod run_report;
mod runs;
mod table;
mod trials;

pub use charts::{CHART_SIZE, ChartError, comparison_chart, learning_curve_chart};
pub use confusion::{CONFUSION_SIZE, confusion_chart};
pub use curves::{precision_recall_chart, roc_chart, threshold_chart};
pub use gallery::{
    ConfusedPair, IMAGE_SIDE, Misclassified, gallery_chart, gallery_size, most_confused,
};
pub use html::{render_index_html, render_run_html};
pub use machine::Machine;
pub use predictions::{TestPredictions, read_predictions};
pub use run_report::{
    HistoryRow, RUN_CHARTS, ReportChart, RunFileError, RunMetrics, SavedRun, read_history,
    render_markdown,
};
pub use runs::{RunPoint, runs_chart};
use serde::{Deserialize, Serialize};
use std::time::Duration;
pub use table::{Table, comparison, comparison_table};
use thiserror::Error;
pub use trials::{TrialRow, read_trials, trials_chart, trials_csv};

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("the reference results file is malformed: {0}")]
    Reference(#[from] serde_json::Error),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub title: String,
    pub author: String,
    pub publisher: String,
    pub date: String,
    pub url: String,
}

/// One AutoML training mode as the 2018 benchmark measured it on the test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutomlResult {
    pub mode: String,
    pub budget: String,
    pub budget_hours: f64,
    pub compute_used: String,
    pub compute_used_hours: f64,
    pub cost_usd: f64,
    /// AutoML's auPrc: average precision micro-averaged over (image, label) pairs.
    pub average_precision: f64,
    pub precision: f64,
    pub recall: f64,
    pub accuracy: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    pub model: String,
    pub accuracy: f64,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceResults {
    pub source: Source,
    pub metric_notes: String,
    pub automl: Vec<AutomlResult>,
    pub anchors: Vec<Anchor>,
}

const REFERENCE_JSON: &str = include_str!("../../../data/reference-results.json");

impl ReferenceResults {
    /// The recorded results shipped with the project.
    pub fn bundled() -> Result<Self, ReportError> {
        Self::parse(REFERENCE_JSON)
    }

    pub fn parse(text: &str) -> Result<Self, ReportError> {
        Ok(serde_json::from_str(text)?)
    }
}

/// The figures of one of our runs that the comparison shows.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    pub name: String,
    pub budget: String,
    pub time_used: String,
    pub average_precision_micro: f64,
    pub average_precision_macro: f64,
    pub roc_auc_macro_ovr: f64,
    pub precision_at_0_5: f64,
    pub recall_at_0_5: f64,
    pub accuracy: f64,
}

/// `1h02m03s`, `4m05s`, `12.3s`: compact, and exact enough to compare with a budget.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        return format!("{secs:.1}s");
    }
    let whole = d.as_secs();
    let (h, m, s) = (whole / 3600, whole / 60 % 60, whole % 60);
    if h > 0 {
        format!("{h}h{m:02}m{s:02}s")
    } else {
        format!("{m}m{s:02}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_durations() {
        assert_eq!(format_duration(Duration::from_secs_f64(12.34)), "12.3s");
        assert_eq!(format_duration(Duration::from_secs(245)), "4m05s");
        assert_eq!(format_duration(Duration::from_secs(3723)), "1h02m03s");
    }

    #[test]
    fn bundled_reference_matches_the_post() {
        let r = ReferenceResults::bundled().unwrap();
        assert!(r.source.url.contains("statworx.com"));
        let free = &r.automl[0];
        let paid = &r.automl[1];
        assert_eq!(free.mode, "AutoML free");
        assert_eq!(
            (
                free.average_precision,
                free.precision,
                free.recall,
                free.accuracy
            ),
            (0.964, 0.909, 0.877, 0.889)
        );
        assert_eq!(
            (
                paid.average_precision,
                paid.precision,
                paid.recall,
                paid.accuracy
            ),
            (0.985, 0.950, 0.928, 0.939)
        );
        assert_eq!(paid.cost_usd, 480.0);
        let find = |name: &str| {
            r.anchors
                .iter()
                .find(|a| a.model.starts_with(name))
                .map(|a| a.accuracy)
        };
        assert_eq!(find("WRN-40-4"), Some(0.967));
        assert_eq!(find("Human"), Some(0.835));
    }

    #[test]
    fn table_lists_automl_then_our_run_with_its_numbers() {
        let r = ReferenceResults::bundled().unwrap();
        let run = RunSummary {
            name: "demo".into(),
            budget: "1h".into(),
            time_used: "59m58s".into(),
            average_precision_micro: 0.98765,
            average_precision_macro: 0.9812,
            roc_auc_macro_ovr: 0.9977,
            precision_at_0_5: 0.951,
            recall_at_0_5: 0.932,
            accuracy: 0.9412,
        };
        let table = comparison_table(&r, &[run]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5, "{table}");
        assert!(lines[1].chars().all(|c| c == '|' || c == '-'), "{table}");
        assert!(lines[2].contains("AutoML free") && lines[2].contains("88.9%"));
        assert!(lines[3].contains("AutoML paid") && lines[3].contains("98.5%"));
        for v in ["demo", "98.8%", "98.1%", "99.8%", "95.1%", "93.2%", "94.1%"] {
            assert!(lines[4].contains(v), "{v} missing from {}", lines[4]);
        }
        let width = lines[0].len();
        assert!(lines.iter().all(|l| l.len() == width), "{table}");
    }

    #[test]
    fn malformed_reference_is_an_error() {
        assert!(ReferenceResults::parse("{\"automl\": 3}").is_err());
    }
}
