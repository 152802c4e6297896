//! Threshold-free ranking metrics of one binary problem given as (score, is_positive) pairs.

/// Walks the scores from high to low, one step per distinct score (tied scores form a single
/// threshold, as in scikit-learn), and yields cumulative (true positives, false positives).
fn cumulative_counts(pairs: &[(f64, bool)]) -> Vec<(u64, u64)> {
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
            steps.push((tp, fp));
        }
    }
    steps
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
    for (tp, fp) in cumulative_counts(pairs) {
        let recall = tp as f64 / positives;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - previous_recall) * precision;
        previous_recall = recall;
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
    let mut area = 0.0;
    let (mut prev_tpr, mut prev_fpr) = (0.0, 0.0);
    for (tp, fp) in cumulative_counts(pairs) {
        let tpr = tp as f64 / positives;
        let fpr = fp as f64 / negatives;
        area += (fpr - prev_fpr) * (tpr + prev_tpr) / 2.0;
        (prev_tpr, prev_fpr) = (tpr, fpr);
    }
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
    fn reversed_ranking_scores_zero_auc() {
        let pairs = [(0.1, true), (0.9, false)];
        assert_eq!(roc_auc(&pairs), Some(0.0));
        assert_eq!(average_precision(&pairs), Some(0.5));
    }
}
