//! Every saved run on one chart: test accuracy against the training time it used, beside
//! AutoML's two modes and the published results for other models.

use crate::ReferenceResults;
use crate::charts::{CHART_SIZE, Chart, ChartError, FONT, PALETTE, draw_both, draw_legend};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// One of our runs as the cross-run chart shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPoint {
    pub name: String,
    pub training_seconds: f64,
    pub accuracy: f64,
}

pub fn runs_chart(
    reference: &ReferenceResults,
    runs: &[RunPoint],
    stem: &Path,
) -> Result<(), ChartError> {
    let automl = reference
        .automl
        .iter()
        .map(|a| RunPoint {
            name: format!("{} ({})", a.mode, a.compute_used),
            training_seconds: a.compute_used_hours * 3600.0,
            accuracy: a.accuracy,
        })
        .collect();
    let anchors = reference
        .anchors
        .iter()
        .map(|a| (a.model.clone(), a.accuracy))
        .collect();
    draw_both(
        stem,
        &Runs {
            runs: runs.to_vec(),
            automl,
            anchors,
        },
    )
}

struct Runs {
    runs: Vec<RunPoint>,
    automl: Vec<RunPoint>,
    anchors: Vec<(String, f64)>,
}

fn minutes_label(minutes: f64) -> String {
    if minutes >= 60.0 {
        format!("{} h", trim(minutes / 60.0))
    } else if minutes >= 1.0 {
        format!("{} min", trim(minutes))
    } else {
        format!("{} s", trim(minutes * 60.0))
    }
}

fn trim(v: f64) -> String {
    let text = format!("{v:.1}");
    text.strip_suffix(".0").map_or(text.clone(), str::to_string)
}

/// Where a run's label goes, so that runs close in time and accuracy stay readable: to the
/// left of its point when a later run is near enough for the text to run into it, below its
/// point when a run at about the same time sits just above it; else above and to the right.
fn label_position(runs: &[RunPoint], i: usize) -> (HPos, VPos) {
    let me = &runs[i];
    let near = |r: &RunPoint, span: f64, points: f64| {
        (r.accuracy - me.accuracy).abs() < points && (log_time(r) - log_time(me)).abs() < span
    };
    let later_neighbour = runs
        .iter()
        .any(|r| log_time(r) > log_time(me) + 0.2 && near(r, 1.2, 0.015));
    let just_above = runs
        .iter()
        .enumerate()
        .any(|(j, r)| j != i && r.accuracy > me.accuracy && near(r, 0.2, 0.01));
    (
        if later_neighbour {
            HPos::Right
        } else {
            HPos::Left
        },
        if just_above { VPos::Top } else { VPos::Bottom },
    )
}

/// Where a run sits on the chart's logarithmic time axis.
fn log_time(run: &RunPoint) -> f64 {
    run.training_seconds.max(1.0).ln()
}

/// Each run's label, or `None` where an earlier run's label already names it: runs that land
/// on the same spot (same time to a few percent, same accuracy as printed) share one label
/// instead of printing over each other.
fn shared_labels(runs: &[RunPoint]) -> Vec<Option<String>> {
    let printed = |r: &RunPoint| format!("{:.1}%", r.accuracy * 100.0);
    let same_spot = |a: &RunPoint, b: &RunPoint| {
        printed(a) == printed(b) && (log_time(a) - log_time(b)).abs() < 0.05
    };
    (0..runs.len())
        .map(|i| {
            if runs[..i].iter().any(|r| same_spot(r, &runs[i])) {
                return None;
            }
            let names: Vec<&str> = runs[i..]
                .iter()
                .filter(|r| same_spot(r, &runs[i]))
                .map(|r| r.name.as_str())
                .collect();
            Some(format!("{} {}", names.join(", "), printed(&runs[i])))
        })
        .collect()
}

/// Moves labels apart vertically (in pixels, sorted top to bottom) so none overlaps the one
/// above it.
fn spread(mut ys: Vec<i32>, gap: i32) -> Vec<i32> {
    for i in 1..ys.len() {
        if ys[i] < ys[i - 1] + gap {
            ys[i] = ys[i - 1] + gap;
        }
    }
    ys
}

impl Chart for Runs {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let (plot_area, label_area) = root.split_horizontally(CHART_SIZE.0 * 70 / 100);
        let minutes: Vec<f64> = self
            .runs
            .iter()
            .chain(&self.automl)
            .map(|r| (r.training_seconds / 60.0).max(0.1))
            .collect();
        let x_min = minutes.iter().copied().fold(1.0, f64::min) / 2.0;
        let x_max = minutes.iter().copied().fold(60.0, f64::max) * 2.0;
        let accuracies: Vec<f64> = self
            .runs
            .iter()
            .chain(&self.automl)
            .map(|r| r.accuracy)
            .chain(self.anchors.iter().map(|a| a.1))
            .collect();
        let y_min = accuracies.iter().copied().fold(1.0, f64::min) - 0.01;
        let y_max = (accuracies.iter().copied().fold(0.0, f64::max) + 0.01).min(1.0);
        // Round durations, not the powers of ten a log axis picks by itself (100 min, 1000 min).
        let ticks: Vec<f64> = [1.0, 5.0, 15.0, 60.0, 240.0, 1440.0]
            .into_iter()
            .filter(|m| (x_min..=x_max).contains(m))
            .collect();
        let mut chart = ChartBuilder::on(&plot_area)
            .caption("Test accuracy against training time, every run", (FONT, 22))
            .margin(16)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(
                (x_min..x_max).log_scale().with_key_points(ticks),
                y_min..y_max,
            )
            .map_err(err)?;
        chart
            .configure_mesh()
            .max_light_lines(1)
            .x_desc("training time (log scale)")
            .y_desc("test accuracy")
            .x_label_formatter(&|m| minutes_label(*m))
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 15))
            .draw()
            .map_err(err)?;
        let grey = RGBColor(170, 170, 170);
        for (_, accuracy) in &self.anchors {
            chart
                .draw_series(DashedLineSeries::new(
                    [(x_min, *accuracy), (x_max, *accuracy)],
                    4,
                    4,
                    grey.stroke_width(1),
                ))
                .map_err(err)?;
        }
        for (i, point) in self.automl.iter().enumerate() {
            let colour = PALETTE[i % 2];
            let at = ((point.training_seconds / 60.0).max(0.1), point.accuracy);
            chart
                .draw_series([TriangleMarker::new(at, 10, colour.filled())])
                .map_err(err)?
                .label(format!("{} {:.1}%", point.name, point.accuracy * 100.0))
                .legend(move |(x, y)| TriangleMarker::new((x + 8, y), 7, colour.filled()));
        }
        let blue = PALETTE[2];
        let labels = shared_labels(&self.runs);
        for (i, point) in self.runs.iter().enumerate() {
            let at = ((point.training_seconds / 60.0).max(0.1), point.accuracy);
            let (horizontal, vertical) = label_position(&self.runs, i);
            chart
                .draw_series([Circle::new(at, 6, blue.filled())])
                .map_err(err)?;
            let Some(label) = &labels[i] else { continue };
            chart
                .draw_series([Text::new(
                    label.clone(),
                    at,
                    (FONT, 13)
                        .into_font()
                        .color(&BLACK)
                        .pos(Pos::new(horizontal, vertical)),
                )])
                .map_err(err)?;
        }
        if !self.runs.is_empty() {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(err)?
                .label("this project's runs")
                .legend(move |(x, y)| Circle::new((x + 8, y), 5, blue.filled()));
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight)?;

        // Published results: each dashed line is named in the right-hand column, at its
        // height, pushed apart where values are close.
        let mut anchors = self.anchors.clone();
        anchors.sort_by(|a, b| b.1.total_cmp(&a.1));
        let ys: Vec<i32> = anchors
            .iter()
            .map(|(_, accuracy)| chart.backend_coord(&(x_max, *accuracy)).1)
            .collect();
        let ys = spread(ys, 16);
        let (label_left, _) = label_area.get_base_pixel();
        root.draw(&Text::new(
            "published results (dashed lines)".to_string(),
            (label_left + 4, 40),
            (FONT, 14).into_font().color(&BLACK),
        ))
        .map_err(err)?;
        for ((model, accuracy), y) in anchors.iter().zip(ys) {
            root.draw(&Text::new(
                format!("{:.1}% {model}", accuracy * 100.0),
                (label_left + 4, y),
                (FONT, 12)
                    .into_font()
                    .color(&RGBColor(80, 80, 80))
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(err)?;
        }
        root.present().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::test_support::{assert_png, read_svg};

    #[test]
    fn every_run_automl_and_the_anchors_are_on_the_chart() {
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("runs");
        let runs = vec![
            RunPoint {
                name: "quick".into(),
                training_seconds: 297.0,
                accuracy: 0.897,
            },
            RunPoint {
                name: "reference-1h".into(),
                training_seconds: 3598.0,
                accuracy: 0.941,
            },
        ];
        runs_chart(&ReferenceResults::bundled().unwrap(), &runs, &stem).unwrap();
        let svg = read_svg(&stem, CHART_SIZE);
        for text in [
            "quick 89.7%",
            "reference-1h 94.1%",
            "AutoML paid (24 node-hours) 93.9%",
            "83.5% Human",
            "96.7% WRN-40-4",
            "\n5 min\n",
            "\n1 h\n",
            "\n24 h\n",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
        assert_png(&stem, CHART_SIZE);
    }

    #[test]
    fn runs_on_the_same_spot_share_one_label() {
        let run = |name: &str, seconds: f64, accuracy: f64| RunPoint {
            name: name.into(),
            training_seconds: seconds,
            accuracy,
        };
        let runs = [
            run("reference-1h", 3598.4, 0.9413),
            run("width-1h", 3598.0, 0.9438),
            run("erasing-1h", 3598.0, 0.9413),
            run("search-1h", 3599.4, 0.9373),
            run("other-20m", 1198.6, 0.9413),
        ];
        assert_eq!(
            shared_labels(&runs),
            [
                Some("reference-1h, erasing-1h 94.1%".to_string()),
                Some("width-1h 94.4%".to_string()),
                None,
                Some("search-1h 93.7%".to_string()),
                Some("other-20m 94.1%".to_string()),
            ]
        );
    }

    #[test]
    fn labels_of_close_runs_move_out_of_each_others_way() {
        let run = |name: &str, minutes: f64, accuracy: f64| RunPoint {
            name: name.into(),
            training_seconds: minutes * 60.0,
            accuracy,
        };
        let runs = [
            run("5m", 5.0, 0.9166),
            run("20m", 20.0, 0.9351),
            run("1h", 60.0, 0.9407),
            run("search-1h", 60.0, 0.9370),
        ];
        let at = |i| {
            let (h, v) = label_position(&runs, i);
            (matches!(h, HPos::Left), matches!(v, VPos::Bottom))
        };
        assert_eq!(at(0), (true, true), "alone: above, to the right");
        assert_eq!(at(1), (false, true), "a later run is near: to the left");
        assert_eq!(at(2), (true, true));
        assert_eq!(
            at(3),
            (true, false),
            "a run just above at the same time: below"
        );
    }

    #[test]
    fn labels_are_pushed_apart_and_times_read_naturally() {
        assert_eq!(spread(vec![100, 105, 300], 16), vec![100, 116, 300]);
        assert_eq!(minutes_label(5.0), "5 min");
        assert_eq!(minutes_label(120.0), "2 h");
        assert_eq!(minutes_label(0.5), "30 s");
        assert_eq!(minutes_label(1440.0), "24 h");
    }
}
