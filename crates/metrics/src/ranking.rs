//! Threshold-free ranking metrics of one binary problem given as (score, is_positive) pairs.

/// Walks the scores from high to low, one step per distinct score (tied scores form a single
/// threshold, as in scikit-learn), and yields (threshold, cumulative true positives,
/// cumulative false positives).
fn cumulative_counts(pairs: &[(f64, bool)]) -> Vec<(f64, u64, u64)> {
    let mut sorted: Vec<(f64, bool)> = pairs.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut steps = Vec::new();
    let (mut tp, mut fp) = (0u64, 0u64);
    for (i, &(score, positive)) in sorted.iter().enumerate() {
        if positive {
            tp += 1;
        } else {
            fp += 1;
        }
        let last_of_tie = sorted.get(i + 1).is_none_or(|next| next.0 != score);
        if last_of_tie {
            steps.push((score, tp, fp));
        }
    }
    steps
}

/// One point of a precision-recall or ROC curve: the pairs scoring at least `threshold` are
/// predicted positive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    pub threshold: f64,
    /// Recall for a precision-recall curve, false-positive rate for a ROC curve.
    pub x: f64,
    /// Precision for a precision-recall curve, true-positive rate for a ROC curve.
    pub y: f64,
}

/// Precision against recall at every distinct score, from the highest threshold down (as
/// scikit-learn's `precision_recall_curve`, without its artificial (recall 0, precision 1)
/// end point). Empty when there is no positive example.
pub fn precision_recall_curve(pairs: &[(f64, bool)]) -> Vec<CurvePoint> {
    let positives = pairs.iter().filter(|p| p.1).count() as f64;
    if positives == 0.0 {
        return Vec::new();
    }
    cumulative_counts(pairs)
        .into_iter()
        .map(|(threshold, tp, fp)| CurvePoint {
            threshold,
            x: tp as f64 / positives,
            y: tp as f64 / (tp + fp) as f64,
        })
        .collect()
}

/// True-positive rate against false-positive rate at every distinct score, starting at (0, 0)
/// with an infinite threshold. Empty when either class is absent.
pub fn roc_curve(pairs: &[(f64, bool)]) -> Vec<CurvePoint> {
    let positives = pairs.iter().filter(|p| p.1).count() as f64;
    let negatives = pairs.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return Vec::new();
    }
    let start = CurvePoint {
        threshold: f64::INFINITY,
        x: 0.0,
        y: 0.0,
    };
    std::iter::once(start)
        .chain(
            cumulative_counts(pairs)
                .into_iter()
                .map(|(threshold, tp, fp)| CurvePoint {
                    threshold,
                    x: fp as f64 / negatives,
                    y: tp as f64 / positives,
                }),
        )
        .collect()
}

/// Non-interpolated average precision: the sum over thresholds of (R_n - R_{n-1}) * P_n.
/// `None` when there is no positive example (recall is undefined).
pub fn average_precision(pairs: &[(f64, bool)]) -> Option<f64> {
    let positives = pairs.iter().filter(|p| p.1).count() as f64;
    if positives == 0.0 {
        return None;
    }
    let mut ap = 0.0;
    let mut previous_recall = 0.0;
    for point in precision_recall_curve(pairs) {
        ap += (point.x - previous_recall) * point.y;
        previous_recall = point.x;
    }
    Some(ap)
}

/// Area under the ROC curve by the trapezoidal rule over distinct thresholds. `None` when
/// either class is absent (the curve is undefined).
pub fn roc_auc(pairs: &[(f64, bool)]) -> Option<f64> {
    let positives = pairs.iter().filter(|p| p.1).count() as f64;
    let negatives = pairs.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return None;
    }
    let curve = roc_curve(pairs);
    let area = curve
        .windows(2)
        .map(|w| (w[1].x - w[0].x) * (w[1].y + w[0].y) / 2.0)
        .sum();
    Some(area)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_ranking_scores_one() {
        let pairs = [(0.9, true), (0.8, true), (0.3, false), (0.1, false)];
        assert_eq!(average_precision(&pairs), Some(1.0));
        assert_eq!(roc_auc(&pairs), Some(1.0));
    }

    #[test]
    fn all_tied_scores_give_chance_level() {
        let pairs = [(0.5, true), (0.5, false), (0.5, false), (0.5, true)];
        assert_eq!(roc_auc(&pairs), Some(0.5));
        // One threshold: recall jumps to 1 at precision 0.5.
        assert_eq!(average_precision(&pairs), Some(0.5));
    }

    #[test]
    fn undefined_without_both_classes() {
        assert_eq!(average_precision(&[(0.3, false)]), None);
        assert_eq!(roc_auc(&[(0.3, true)]), None);
        assert_eq!(roc_auc(&[(0.3, false)]), None);
    }

    #[test]
    fn curves_step_once_per_distinct_score() {
        let pairs = [(0.9, true), (0.7, false), (0.7, true), (0.2, false)];
        let pr = precision_recall_curve(&pairs);
        let xy: Vec<(f64, f64, f64)> = pr.iter().map(|p| (p.threshold, p.x, p.y)).collect();
        assert_eq!(
            xy,
            vec![(0.9, 0.5, 1.0), (0.7, 1.0, 2.0 / 3.0), (0.2, 1.0, 0.5)]
        );
        let roc = roc_curve(&pairs);
        let xy: Vec<(f64, f64)> = roc.iter().map(|p| (p.x, p.y)).collect();
        assert_eq!(xy, vec![(0.0, 0.0), (0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]);
        assert!(roc[0].threshold.is_infinite());
        assert!(precision_recall_curve(&[(0.5, false)]).is_empty());
        assert!(roc_curve(&[(0.5, true)]).is_empty());
    }

    #[test]
    fn reversed_ranking_scores_zero_auc() {
        let pairs = [(0.1, true), (0.9, false)];
        assert_eq!(roc_auc(&pairs), Some(0.0));
        assert_eq!(average_precision(&pairs), Some(0.5));
    }
}
