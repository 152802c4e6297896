//! What the budget changes in the single-model plan besides its length: the model's width.
//!
//! Measured on 2 CPU cores (README, "Results"): the default model stops gaining from time at
//! about 50 epochs (94.00% on TEST after 50.7 epochs in 20 minutes, 94.13% after 148 in an
//! hour), and more regularisation did not move it (random erasing 0.5 over 144 epochs: 94.13%
//! again). What an hour can buy instead is a wider model trained for fewer epochs.

/// Wider models the plan considers, as factors on the default model's channels, widest
/// first; the default width (1) is what it falls back to.
pub const WIDER_WIDTHS: [f64; 1] = [1.5];
/// The plan takes the widest model that still trains this many epochs in the budget: past
/// ~50 epochs the default model has nothing left to learn from more time.
pub const WIDE_MIN_EPOCHS: f64 = 60.0;

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
    fn the_default_width_is_never_measured() {
        let mut asked = Vec::new();
        auto_width(|f| {
            asked.push(f);
            Some(1.0)
        });
        assert_eq!(asked, [1.5]);
    }
}
