//! The budget-aware learning-rate schedule. Its clock is the fraction of the budget used,
//! not the epoch count, so a run of any length, on any machine, warms up, decays, and
//! reaches its floor exactly at the deadline: a short budget is not cut off mid-schedule at
//! a high learning rate, and a long one is not left idling at the floor.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecayShape {
    /// Li, Yumer & Ramanan (ICLR 2020, "Budgeted Training") found a linear decay to zero at
    /// the end of the budget the best simple schedule under a fixed budget.
    Linear,
    Cosine,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    pub peak: f64,
    /// Share of the budget spent ramping up linearly from `peak * warmup_start`.
    pub warmup_fraction: f64,
    pub warmup_start: f64,
    /// The learning rate at the deadline, as a share of the peak.
    pub floor_fraction: f64,
    pub shape: DecayShape,
}

impl Default for LrSchedule {
    fn default() -> Self {
        Self {
            peak: 0.1,
            warmup_fraction: 0.03,
            warmup_start: 0.1,
            floor_fraction: 0.0,
            shape: DecayShape::Linear,
        }
    }
}

impl LrSchedule {
    /// The learning rate once `progress` (elapsed / deadline, clamped to 0..=1) is used.
    pub fn at(&self, progress: f64) -> f64 {
        let p = progress.clamp(0.0, 1.0);
        let floor = self.peak * self.floor_fraction;
        if p < self.warmup_fraction {
            let start = self.peak * self.warmup_start;
            return start + (self.peak - start) * p / self.warmup_fraction;
        }
        let decay = if self.warmup_fraction < 1.0 {
            (p - self.warmup_fraction) / (1.0 - self.warmup_fraction)
        } else {
            1.0
        };
        let remaining = match self.shape {
            DecayShape::Linear => 1.0 - decay,
            DecayShape::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * decay).cos()),
        };
        floor + (self.peak - floor) * remaining
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn warms_up_peaks_and_ends_at_the_floor_at_the_deadline() {
        for shape in [DecayShape::Linear, DecayShape::Cosine] {
            let s = LrSchedule {
                peak: 0.2,
                warmup_fraction: 0.1,
                warmup_start: 0.0,
                floor_fraction: 0.01,
                shape,
            };
            assert!(close(s.at(0.0), 0.0));
            assert!(close(s.at(0.05), 0.1));
            assert!(close(s.at(0.1), 0.2));
            assert!(close(s.at(1.0), 0.002));
            assert!(
                close(s.at(7.0), 0.002),
                "past the deadline it stays at the floor"
            );
            let mut previous = f64::INFINITY;
            for i in 10..=100 {
                let lr = s.at(i as f64 / 100.0);
                assert!(lr <= previous, "{shape:?} increases at {i}%");
                previous = lr;
            }
        }
    }

    #[test]
    fn linear_and_cosine_meet_in_the_middle_of_the_decay() {
        let lin = LrSchedule {
            warmup_fraction: 0.0,
            ..LrSchedule::default()
        };
        let cos = LrSchedule {
            shape: DecayShape::Cosine,
            ..lin.clone()
        };
        assert!(close(lin.at(0.5), 0.05));
        assert!(close(cos.at(0.5), 0.05));
        assert!(cos.at(0.25) > lin.at(0.25));
    }

    #[test]
    fn the_schedule_depends_on_budget_fraction_not_on_speed() {
        // The same fraction of a 5-minute and of a 1-hour budget gives the same rate.
        let s = LrSchedule::default();
        assert!(close(s.at(150.0 / 300.0), s.at(1800.0 / 3600.0)));
    }
}
