//! A search run's trials: `trials.csv` (one line per training of the search) and its chart,
//! validation accuracy of every trial against the time it finished, the winners marked.

use crate::charts::{Chart, ChartError, FONT, PALETTE, draw_both, draw_legend};
use crate::run_report::{RunFileError, read_text};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

/// One line of `trials.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialRow {
    pub name: String,
    /// "trial" or "final".
    pub kind: String,
    pub rung: usize,
    pub candidate: usize,
    /// What was trained, e.g. `24-96-192 x1-3-3 residual, dropout 0.2, lr 0.15, ...`.
    pub config: String,
    pub budget_seconds: f64,
    pub seconds_used: f64,
    /// Seconds since the run started.
    pub started_at: f64,
    pub ended_at: f64,
    pub epochs: f64,
    pub validation_accuracy: f64,
    pub validation_loss: f64,
    /// Went on to the next rung (or to the finals).
    pub promoted: bool,
    /// In the saved model (the ensemble's members, or the single best model).
    pub chosen: bool,
}

const HEADER: &str = "name,kind,rung,candidate,budget_seconds,seconds_used,started_at,ended_at,epochs,validation_accuracy,validation_loss,promoted,chosen,config";

/// `trials.csv`; the free-text config is the last column, quoted.
pub fn trials_csv(rows: &[TrialRow]) -> String {
    let mut out = format!("{HEADER}\n");
    for r in rows {
        let _ = writeln!(
            out,
            "{},{},{},{},{:.1},{:.1},{:.1},{:.1},{:.3},{:.6},{:.6},{},{},\"{}\"",
            r.name,
            r.kind,
            r.rung,
            r.candidate,
            r.budget_seconds,
            r.seconds_used,
            r.started_at,
            r.ended_at,
            r.epochs,
            r.validation_accuracy,
            r.validation_loss,
            r.promoted,
            r.chosen,
            r.config.replace('"', "'")
        );
    }
    out
}

/// Reads `trials.csv` as [`trials_csv`] writes it.
pub fn read_trials(path: &Path) -> Result<Vec<TrialRow>, RunFileError> {
    let text = read_text(path)?;
    let bad = |line: usize, what: &str| {
        RunFileError::parse(
            path,
            format!("line {line}: {what}; rebuild it by re-running"),
        )
    };
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(bad(1, "not the header of trials.csv"));
    }
    lines
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            let n = i + 2;
            let (fields, config) = line
                .split_once(",\"")
                .ok_or_else(|| bad(n, "no quoted config column"))?;
            let cells: Vec<&str> = fields.split(',').collect();
            if cells.len() != 13 {
                return Err(bad(n, "wrong number of columns"));
            }
            let num = |c: usize| -> Result<f64, RunFileError> {
                cells[c]
                    .parse::<f64>()
                    .map_err(|_| bad(n, &format!("not a number in column {}", c + 1)))
            };
            let flag = |c: usize| -> Result<bool, RunFileError> {
                cells[c]
                    .parse::<bool>()
                    .map_err(|_| bad(n, &format!("not true/false in column {}", c + 1)))
            };
            Ok(TrialRow {
                name: cells[0].to_string(),
                kind: cells[1].to_string(),
                rung: num(2)? as usize,
                candidate: num(3)? as usize,
                budget_seconds: num(4)?,
                seconds_used: num(5)?,
                started_at: num(6)?,
                ended_at: num(7)?,
                epochs: num(8)?,
                validation_accuracy: num(9)?,
                validation_loss: num(10)?,
                promoted: flag(11)?,
                chosen: flag(12)?,
                config: config.trim_end_matches('"').to_string(),
            })
        })
        .collect()
}

/// Validation accuracy of each trial at the time it ended, coloured by rung; the finals and
/// the models in the saved model marked.
pub fn trials_chart(rows: &[TrialRow], budget_seconds: f64, stem: &Path) -> Result<(), ChartError> {
    draw_both(
        stem,
        &Trials {
            rows: rows.to_vec(),
            budget_minutes: budget_seconds / 60.0,
        },
    )
}

struct Trials {
    rows: Vec<TrialRow>,
    budget_minutes: f64,
}

impl Chart for Trials {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let accuracies = || self.rows.iter().map(|r| r.validation_accuracy);
        let lowest = accuracies().fold(1.0, f64::min);
        let best = accuracies().fold(0.0, f64::max);
        // A trial that hardly trained (a wide model in a short first rung) must not squash
        // the rest into a line: the axis spans at most 20 points below the best, and lower
        // trials sit on its floor.
        let y_floor = (((lowest.max(best - 0.2) - 0.01) * 50.0).floor() / 50.0).clamp(0.0, 0.98);
        let x_max = self.budget_minutes.max(1e-3) * 1.04;
        let mut chart = ChartBuilder::on(&root)
            .caption("Search: validation accuracy of every training", (FONT, 24))
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, y_floor..1.0)
            .map_err(err)?;
        chart
            .configure_mesh()
            .max_light_lines(1)
            .x_desc("minutes since the start of the run (when the training ended)")
            .y_desc("validation accuracy")
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 15))
            .draw()
            .map_err(err)?;
        let point = |r: &TrialRow| (r.ended_at / 60.0, r.validation_accuracy.max(y_floor));
        let mut rungs: Vec<usize> = self
            .rows
            .iter()
            .filter(|r| r.kind == "trial")
            .map(|r| r.rung)
            .collect();
        rungs.sort_unstable();
        rungs.dedup();
        for (i, &rung) in rungs.iter().enumerate() {
            let color = PALETTE[2 + i % 4];
            chart
                .draw_series(
                    self.rows
                        .iter()
                        .filter(|r| r.kind == "trial" && r.rung == rung)
                        .map(|r| Circle::new(point(r), 5, color.filled())),
                )
                .map_err(err)?
                .label(format!("rung {rung} trials"))
                .legend(move |(x, y)| Circle::new((x + 9, y), 5, color.filled()));
        }
        let black = PALETTE[1];
        chart
            .draw_series(
                self.rows
                    .iter()
                    .filter(|r| r.kind == "final")
                    .map(|r| TriangleMarker::new(point(r), 8, black.filled())),
            )
            .map_err(err)?
            .label("final trainings")
            .legend(move |(x, y)| TriangleMarker::new((x + 9, y), 8, black.filled()));
        let red = PALETTE[5];
        chart
            .draw_series(
                self.rows
                    .iter()
                    .filter(|r| r.chosen)
                    .map(|r| Circle::new(point(r), 10, red.stroke_width(3))),
            )
            .map_err(err)?
            .label("in the saved model")
            .legend(move |(x, y)| Circle::new((x + 9, y), 7, red.stroke_width(3)));
        chart
            .draw_series(self.rows.iter().filter(|r| r.chosen).map(|r| {
                Text::new(
                    r.name.clone(),
                    (r.ended_at / 60.0 + x_max * 0.012, point(r).1),
                    (FONT, 14),
                )
            }))
            .map_err(err)?;
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, kind: &str, rung: usize, accuracy: f64, chosen: bool) -> TrialRow {
        TrialRow {
            name: name.into(),
            kind: kind.into(),
            rung,
            candidate: rung,
            config: "16-64-128 x1-2-2 plain, dropout 0.1, lr 0.1".into(),
            budget_seconds: 60.0,
            seconds_used: 59.5,
            started_at: rung as f64 * 60.0,
            ended_at: rung as f64 * 60.0 + 59.5,
            epochs: 1.25,
            validation_accuracy: accuracy,
            validation_loss: 0.3,
            promoted: rung == 1,
            chosen,
        }
    }

    #[test]
    fn trials_csv_round_trips_and_the_chart_is_drawn() {
        let rows = vec![
            row("trial-01", "trial", 1, 0.9, false),
            row("trial-02", "trial", 2, 0.92, true),
            row("final-1", "final", 3, 0.935, true),
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trials.csv");
        std::fs::write(&path, trials_csv(&rows)).unwrap();
        assert_eq!(read_trials(&path).unwrap(), rows);
        trials_chart(&rows, 300.0, &dir.path().join("trials")).unwrap();
        crate::charts::test_support::assert_png(&dir.path().join("trials"), crate::CHART_SIZE);
        let svg =
            crate::charts::test_support::read_svg(&dir.path().join("trials"), crate::CHART_SIZE);
        assert!(svg.contains("final-1") && svg.contains("rung 2 trials"));
    }

    #[test]
    fn a_damaged_trials_csv_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trials.csv");
        std::fs::write(&path, format!("{HEADER}\ntrial-01,trial,x\n")).unwrap();
        let e = read_trials(&path).unwrap_err().to_string();
        assert!(e.contains("trials.csv") && e.contains("line 2"), "{e}");
    }
}
