//! Classification metrics computed from labels and class probabilities.
//!
//! Every value matches scikit-learn's definition (checked against fixtures it produced), so
//! figures reported here can be compared with any Python pipeline. Precision and recall "at
//! 0.5" follow Google AutoML Vision: each (image, label) pair with a score >= 0.5 counts as a
//! predicted positive, so an image may get no label or, in principle, several.

mod ranking;

use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use ranking::{CurvePoint, average_precision, precision_recall_curve, roc_auc, roc_curve};

/// Score at or above which an (image, label) pair counts as predicted, as in AutoML's UI.
pub const AUTOML_SCORE_THRESHOLD: f64 = 0.5;

#[derive(Debug, Error, PartialEq)]
pub enum MetricsError {
    #[error("no examples to evaluate")]
    Empty,
    #[error("{labels} labels but {rows} probability rows")]
    LengthMismatch { labels: usize, rows: usize },
    #[error("probability row {row} has {got} columns, expected {expected}")]
    RowWidth {
        row: usize,
        got: usize,
        expected: usize,
    },
    #[error("label {label} at position {index} is not below the number of classes ({classes})")]
    LabelOutOfRange {
        index: usize,
        label: usize,
        classes: usize,
    },
    #[error("probability row {row} holds a value that is not a finite number")]
    NotFinite { row: usize },
}

/// Per-class figures; `None` where the class has no positive example (undefined).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub class: usize,
    pub support: usize,
    /// Of the images predicted (argmax) as this class, the share that are.
    pub precision: f64,
    /// Of the images of this class, the share predicted (argmax) as it.
    pub recall: f64,
    pub f1: f64,
    pub average_precision: Option<f64>,
    pub roc_auc: Option<f64>,
    pub precision_at_0_5: f64,
    pub recall_at_0_5: Option<f64>,
}

/// All headline metrics of one evaluation. Field names are the keys of `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub examples: usize,
    pub num_classes: usize,
    pub accuracy: f64,
    pub average_precision_micro: f64,
    pub average_precision_macro: f64,
    pub roc_auc_macro_ovr: f64,
    pub roc_auc_micro: f64,
    pub precision_at_0_5_micro: f64,
    pub recall_at_0_5_micro: f64,
    pub precision_at_0_5_macro: f64,
    pub recall_at_0_5_macro: f64,
    pub log_loss: f64,
    /// Rows: true class; columns: predicted class (argmax).
    pub confusion_matrix: Vec<Vec<u64>>,
    pub per_class: Vec<ClassMetrics>,
}

/// Index of the largest value; the first one wins a tie, as numpy's `argmax`.
pub fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Checks the inputs once so every metric below can index freely.
fn validate(
    labels: &[usize],
    probabilities: &[Vec<f64>],
    num_classes: usize,
) -> Result<(), MetricsError> {
    if labels.is_empty() {
        return Err(MetricsError::Empty);
    }
    if labels.len() != probabilities.len() {
        return Err(MetricsError::LengthMismatch {
            labels: labels.len(),
            rows: probabilities.len(),
        });
    }
    for (index, &label) in labels.iter().enumerate() {
        if label >= num_classes {
            return Err(MetricsError::LabelOutOfRange {
                index,
                label,
                classes: num_classes,
            });
        }
    }
    for (row, p) in probabilities.iter().enumerate() {
        if p.len() != num_classes {
            return Err(MetricsError::RowWidth {
                row,
                got: p.len(),
                expected: num_classes,
            });
        }
        if p.iter().any(|v| !v.is_finite()) {
            return Err(MetricsError::NotFinite { row });
        }
    }
    Ok(())
}

fn mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, count) = values
        .into_iter()
        .fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    if count == 0 {
        f64::NAN
    } else {
        sum / count as f64
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// Multiclass log loss of the true class, clipped like scikit-learn (machine epsilon of the
/// dtype) so a zero probability gives a large, finite loss.
fn log_loss(labels: &[usize], probabilities: &[Vec<f64>]) -> f64 {
    let eps = f64::EPSILON;
    mean(
        labels
            .iter()
            .zip(probabilities)
            .map(|(&l, p)| -p[l].clamp(eps, 1.0 - eps).ln()),
    )
}

/// Micro precision and recall over (image, label) pairs when a pair counts as predicted at
/// a score >= `threshold`: what AutoML's score-threshold slider shows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThresholdPoint {
    pub threshold: f64,
    /// `None` where no pair reaches the threshold (nothing predicted).
    pub precision: Option<f64>,
    pub recall: f64,
}

/// [`ThresholdPoint`]s at each of `thresholds`.
pub fn threshold_sweep(
    labels: &[usize],
    probabilities: &[Vec<f64>],
    num_classes: usize,
    thresholds: &[f64],
) -> Result<Vec<ThresholdPoint>, MetricsError> {
    validate(labels, probabilities, num_classes)?;
    let mut pairs: Vec<(f64, bool)> = labels
        .iter()
        .zip(probabilities)
        .flat_map(|(&l, p)| p.iter().enumerate().map(move |(c, &s)| (s, c == l)))
        .collect();
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    // hits_before[k]: true pairs among the k highest-scoring ones.
    let mut hits_before = Vec::with_capacity(pairs.len() + 1);
    hits_before.push(0u64);
    for &(_, positive) in &pairs {
        let last = hits_before.last().copied().unwrap_or(0);
        hits_before.push(last + u64::from(positive));
    }
    Ok(thresholds
        .iter()
        .map(|&threshold| {
            let predicted = pairs.partition_point(|p| p.0 >= threshold);
            let hits = hits_before[predicted];
            ThresholdPoint {
                threshold,
                precision: (predicted > 0).then(|| hits as f64 / predicted as f64),
                recall: hits as f64 / labels.len() as f64,
            }
        })
        .collect())
}

/// One class against the rest: (score of the class, image is of the class) per image.
pub fn one_vs_rest_pairs(
    labels: &[usize],
    probabilities: &[Vec<f64>],
    class: usize,
) -> Vec<(f64, bool)> {
    labels
        .iter()
        .zip(probabilities)
        .map(|(&l, p)| (p.get(class).copied().unwrap_or(0.0), l == class))
        .collect()
}

/// Computes every metric of [`Metrics`].
pub fn evaluate(
    labels: &[usize],
    probabilities: &[Vec<f64>],
    num_classes: usize,
) -> Result<Metrics, MetricsError> {
    validate(labels, probabilities, num_classes)?;
    let n = labels.len();
    let mut confusion = vec![vec![0u64; num_classes]; num_classes];
    for (&l, p) in labels.iter().zip(probabilities) {
        confusion[l][argmax(p)] += 1;
    }
    let correct: u64 = confusion.iter().enumerate().map(|(c, row)| row[c]).sum();

    // Pairs (score, is_positive) for every (image, class), used per class and pooled.
    let class_pairs = |c: usize| one_vs_rest_pairs(labels, probabilities, c);
    let mut pooled = Vec::with_capacity(n * num_classes);
    let mut per_class = Vec::with_capacity(num_classes);
    let (mut tp_all, mut predicted_all) = (0u64, 0u64);
    for c in 0..num_classes {
        let pairs = class_pairs(c);
        let support = pairs.iter().filter(|(_, pos)| *pos).count();
        let predicted_at_threshold = pairs
            .iter()
            .filter(|(s, _)| *s >= AUTOML_SCORE_THRESHOLD)
            .count() as u64;
        let tp_at_threshold = pairs
            .iter()
            .filter(|(s, pos)| *pos && *s >= AUTOML_SCORE_THRESHOLD)
            .count() as u64;
        tp_all += tp_at_threshold;
        predicted_all += predicted_at_threshold;
        let predicted_argmax: u64 = confusion.iter().map(|row| row[c]).sum();
        let hits = confusion[c][c];
        let precision = ratio(hits, predicted_argmax);
        let recall = ratio(hits, support as u64);
        let f1 = if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        };
        per_class.push(ClassMetrics {
            class: c,
            support,
            precision,
            recall,
            f1,
            average_precision: average_precision(&pairs),
            roc_auc: roc_auc(&pairs),
            precision_at_0_5: ratio(tp_at_threshold, predicted_at_threshold),
            recall_at_0_5: (support > 0).then(|| ratio(tp_at_threshold, support as u64)),
        });
        pooled.extend(pairs);
    }

    Ok(Metrics {
        examples: n,
        num_classes,
        accuracy: correct as f64 / n as f64,
        average_precision_micro: average_precision(&pooled).unwrap_or(f64::NAN),
        average_precision_macro: mean(per_class.iter().filter_map(|m| m.average_precision)),
        roc_auc_macro_ovr: mean(per_class.iter().filter_map(|m| m.roc_auc)),
        roc_auc_micro: roc_auc(&pooled).unwrap_or(f64::NAN),
        precision_at_0_5_micro: ratio(tp_all, predicted_all),
        recall_at_0_5_micro: ratio(tp_all, n as u64),
        precision_at_0_5_macro: mean(per_class.iter().map(|m| m.precision_at_0_5)),
        recall_at_0_5_macro: mean(per_class.iter().filter_map(|m| m.recall_at_0_5)),
        log_loss: log_loss(labels, probabilities),
        confusion_matrix: confusion,
        per_class,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Deserialize)]
    struct Fixtures {
        cases: Vec<Case>,
    }

    #[derive(Deserialize)]
    struct Case {
        name: String,
        num_classes: usize,
        labels: Vec<usize>,
        probabilities: Vec<Vec<f64>>,
        expected: BTreeMap<String, serde_json::Value>,
    }

    fn fixtures() -> Fixtures {
        // Computed by scikit-learn (the version is in the file); copied from the project's
        // shared reference folder so that a clone is self-contained.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/metric-fixtures.json");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
        serde_json::from_str(&text).expect("fixture file parses")
    }

    #[test]
    fn matches_scikit_learn_on_every_fixture() {
        let fixtures = fixtures();
        assert!(fixtures.cases.len() >= 4);
        for case in fixtures.cases {
            let m = evaluate(&case.labels, &case.probabilities, case.num_classes).unwrap();
            let got = serde_json::to_value(&m).unwrap();
            for (key, want) in &case.expected {
                if key == "confusion_matrix" {
                    assert_eq!(&got[key], want, "{}: {key}", case.name);
                    continue;
                }
                let want = want.as_f64().unwrap();
                let have = got[key].as_f64().unwrap_or_else(|| panic!("{key} missing"));
                assert!(
                    (want - have).abs() <= 1e-9,
                    "{}: {key} = {have}, scikit-learn says {want}",
                    case.name
                );
            }
        }
    }

    #[test]
    fn rejects_inconsistent_input() {
        let p = vec![vec![0.5, 0.5]];
        assert_eq!(evaluate(&[], &[], 2), Err(MetricsError::Empty));
        assert_eq!(
            evaluate(&[0, 1], &p, 2),
            Err(MetricsError::LengthMismatch { labels: 2, rows: 1 })
        );
        assert!(matches!(
            evaluate(&[2], &p, 2),
            Err(MetricsError::LabelOutOfRange { label: 2, .. })
        ));
        assert!(matches!(
            evaluate(&[0], &[vec![0.2, 0.3, 0.5]], 2),
            Err(MetricsError::RowWidth { got: 3, .. })
        ));
        assert_eq!(
            evaluate(&[0], &[vec![f64::NAN, 1.0]], 2),
            Err(MetricsError::NotFinite { row: 0 })
        );
    }

    #[test]
    fn threshold_sweep_agrees_with_the_figures_at_0_5() {
        let labels = [0, 1, 2, 2, 1, 0];
        let probs = vec![
            vec![0.7, 0.2, 0.1],
            vec![0.3, 0.4, 0.3],
            vec![0.1, 0.1, 0.8],
            vec![0.5, 0.1, 0.4],
            vec![0.2, 0.6, 0.2],
            vec![0.4, 0.4, 0.2],
        ];
        let m = evaluate(&labels, &probs, 3).unwrap();
        let sweep = threshold_sweep(&labels, &probs, 3, &[0.0, 0.5, 0.65, 0.9]).unwrap();
        assert_eq!(sweep[1].precision, Some(m.precision_at_0_5_micro));
        assert_eq!(sweep[1].recall, m.recall_at_0_5_micro);
        // Everything predicted: every image's label is found among 18 pairs.
        assert_eq!(sweep[0].precision, Some(6.0 / 18.0));
        assert_eq!(sweep[0].recall, 1.0);
        // 0.7 and 0.8 reach 0.65, both right.
        assert_eq!(sweep[2].precision, Some(1.0));
        assert_eq!(sweep[2].recall, 2.0 / 6.0);
        assert_eq!(sweep[3].precision, None);
        assert_eq!(sweep[3].recall, 0.0);
    }

    #[test]
    fn argmax_prefers_first_of_a_tie() {
        assert_eq!(argmax(&[0.4, 0.4, 0.2]), 0);
        assert_eq!(argmax(&[0.1, 0.45, 0.45]), 1);
    }

    #[test]
    fn class_without_examples_is_left_out_of_macro_means() {
        // Class 2 never occurs: its AP and AUC are undefined and must not drag the mean to 0.
        let labels = [0, 1, 0, 1];
        let probs = vec![
            vec![0.8, 0.1, 0.1],
            vec![0.1, 0.8, 0.1],
            vec![0.7, 0.2, 0.1],
            vec![0.2, 0.7, 0.1],
        ];
        let m = evaluate(&labels, &probs, 3).unwrap();
        assert_eq!(m.per_class[2].average_precision, None);
        assert_eq!(m.average_precision_macro, 1.0);
        assert_eq!(m.roc_auc_macro_ovr, 1.0);
    }
}
