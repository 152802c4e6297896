//! Charts of a report, each drawn once per backend: SVG (sharp, for the page) and PNG (for
//! places that show images only). Text uses DejaVu Sans, embedded, so a chart looks the same
//! on a machine without fonts (CI has none).

use crate::{HistoryRow, ReferenceResults, RunSummary};
use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::path::{Path, PathBuf};
use std::sync::Once;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ChartError {
    #[error("cannot draw {path}: {reason}")]
    Draw { path: PathBuf, reason: String },
    #[error("the embedded chart font cannot be loaded")]
    Font,
}

pub(crate) const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

fn ensure_font() -> Result<(), ChartError> {
    static REGISTER: Once = Once::new();
    let mut ok = true;
    REGISTER.call_once(|| ok = register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok());
    if ok { Ok(()) } else { Err(ChartError::Font) }
}

/// Size of the comparison, learning-curve, curve and cross-run charts.
pub const CHART_SIZE: (u32, u32) = (1000, 600);

/// A chart that can be drawn on any plotters backend.
pub(crate) trait Chart {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Writes `stem.svg` and `stem.png` with the same drawing, at [`CHART_SIZE`].
pub(crate) fn draw_both(stem: &Path, chart: &impl Chart) -> Result<(), ChartError> {
    draw_both_sized(stem, CHART_SIZE, chart)
}

/// Writes `stem.svg` and `stem.png` with the same drawing, at `size`.
pub(crate) fn draw_both_sized(
    stem: &Path,
    size: (u32, u32),
    chart: &impl Chart,
) -> Result<(), ChartError> {
    ensure_font()?;
    let svg = stem.with_extension("svg");
    let png = stem.with_extension("png");
    let fail = |path: &Path| {
        let path = path.to_path_buf();
        move |reason: String| ChartError::Draw {
            path: path.clone(),
            reason,
        }
    };
    let mut text = String::new();
    chart
        .draw(SVGBackend::with_string(&mut text, size).into_drawing_area())
        .map_err(fail(&svg))?;
    let text = fix_embedded_image_type(text);
    crate::files::write_atomic(&svg, text.as_bytes()).map_err(|e| fail(&svg)(e.to_string()))?;
    // The bitmap backend picks the encoder from the extension, so the temporary file keeps it.
    let temporary = crate::files::temporary_sibling(&png);
    let drawn = chart.draw(BitMapBackend::new(&temporary, size).into_drawing_area());
    let result = drawn.and_then(|()| std::fs::rename(&temporary, &png).map_err(|e| e.to_string()));
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result.map_err(fail(&png))
}

/// plotters' SVG backend embeds bitmaps as `data:png;base64,...`, a media type browsers need
/// not accept; the standard one is `image/png`.
fn fix_embedded_image_type(svg: String) -> String {
    const WRONG: &str = "\"data:png;base64,";
    if svg.contains(WRONG) {
        svg.replace(WRONG, "\"data:image/png;base64,")
    } else {
        svg
    }
}

pub(crate) fn draw_legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .draw()
        .map_err(|e| e.to_string())
}

const METRICS: [&str; 4] = [
    "accuracy",
    "avg precision (micro)",
    "precision@0.5",
    "recall@0.5",
];
pub(crate) const PALETTE: [RGBColor; 6] = [
    RGBColor(150, 150, 150),
    RGBColor(90, 90, 90),
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

/// Grouped bars: AutoML free and paid, then each run, on the four metrics AutoML reports.
pub fn comparison_chart(
    reference: &ReferenceResults,
    runs: &[RunSummary],
    stem: &Path,
) -> Result<(), ChartError> {
    let mut series: Vec<(String, [f64; 4])> = reference
        .automl
        .iter()
        .map(|a| {
            (
                a.mode.clone(),
                [a.accuracy, a.average_precision, a.precision, a.recall],
            )
        })
        .collect();
    series.extend(runs.iter().map(|r| {
        (
            r.name.clone(),
            [
                r.accuracy,
                r.average_precision_micro,
                r.precision_at_0_5,
                r.recall_at_0_5,
            ],
        )
    }));
    let lowest = series
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .fold(1.0, f64::min);
    let y_floor = ((lowest - 0.05) * 20.0).floor() / 20.0;
    let y_floor = y_floor.clamp(0.0, 0.95);
    draw_both(stem, &Comparison { series, y_floor })
}

struct Comparison {
    series: Vec<(String, [f64; 4])>,
    y_floor: f64,
}

impl Chart for Comparison {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String> {
        draw_comparison(root, &self.series, self.y_floor)
    }
}

fn draw_comparison<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    series: &[(String, [f64; 4])],
    y_floor: f64,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Test set: this project vs Google AutoML Vision (statworx, 2018)",
            (FONT, 24),
        )
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..METRICS.len() as f64, y_floor..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .max_light_lines(1)
        // Ticks every half unit put one at the centre of each group of bars; only those
        // get a name.
        .x_labels(METRICS.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let group = x - 0.5;
            if (group - group.round()).abs() < 1e-6 && group >= 0.0 {
                METRICS
                    .get(group.round() as usize)
                    .map_or(String::new(), |m| m.to_string())
            } else {
                String::new()
            }
        })
        .y_desc("score")
        .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
        .label_style((FONT, 16))
        .axis_desc_style((FONT, 16))
        .draw()
        .map_err(err)?;
    let width = 0.8 / series.len() as f64;
    for (s, (name, values)) in series.iter().enumerate() {
        let color = PALETTE[s % PALETTE.len()];
        let bars = values.iter().enumerate().map(move |(g, &v)| {
            let left = g as f64 + 0.1 + s as f64 * width;
            Rectangle::new([(left, y_floor), (left + width * 0.92, v)], color.filled())
        });
        chart
            .draw_series(bars)
            .map_err(err)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        let labels = values.iter().enumerate().map(move |(g, &v)| {
            let center = g as f64 + 0.1 + (s as f64 + 0.46) * width;
            Text::new(
                format!("{:.1}", v * 100.0),
                (center, v),
                (FONT, 13)
                    .into_font()
                    .color(&BLACK)
                    .pos(plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Center,
                        plotters::style::text_anchor::VPos::Bottom,
                    )),
            )
        });
        chart.draw_series(labels).map_err(err)?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    root.present().map_err(err)
}

/// Validation accuracy (and, below, the losses) against wall-clock minutes, with AutoML's test
/// accuracies as horizontal lines and the budget as a vertical line.
pub fn learning_curve_chart(
    reference: &ReferenceResults,
    history: &[HistoryRow],
    budget_seconds: f64,
    stem: &Path,
) -> Result<(), ChartError> {
    let automl = reference
        .automl
        .iter()
        .map(|a| (format!("{} (test)", a.mode), a.accuracy))
        .collect();
    draw_both(
        stem,
        &LearningCurve {
            history: history.to_vec(),
            budget_minutes: budget_seconds / 60.0,
            automl,
        },
    )
}

struct LearningCurve {
    history: Vec<HistoryRow>,
    budget_minutes: f64,
    automl: Vec<(String, f64)>,
}

impl Chart for LearningCurve {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let (upper, lower) = root.split_vertically(CHART_SIZE.1 * 65 / 100);
        let x_max = self.budget_minutes.max(1e-3) * 1.04;
        let accuracies = self.history.iter().map(|r| r.validation_accuracy);
        let lowest = accuracies
            .chain(self.automl.iter().map(|a| a.1))
            .fold(1.0, f64::min);
        let y_floor = (((lowest - 0.02) * 50.0).floor() / 50.0).clamp(0.0, 0.98);

        let mut top = ChartBuilder::on(&upper)
            .caption("Learning curve", (FONT, 24))
            .margin(16)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, y_floor..1.0)
            .map_err(err)?;
        top.configure_mesh()
            .max_light_lines(1)
            .y_desc("validation accuracy")
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 15))
            .draw()
            .map_err(err)?;
        let blue = PALETTE[2];
        top.draw_series(LineSeries::new(
            self.history
                .iter()
                .map(|r| (r.elapsed_seconds / 60.0, r.validation_accuracy)),
            blue.stroke_width(2),
        ))
        .map_err(err)?
        .label("this run (validation)")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], blue.stroke_width(2)));
        top.draw_series(self.history.iter().map(|r| {
            Circle::new(
                (r.elapsed_seconds / 60.0, r.validation_accuracy),
                3,
                blue.filled(),
            )
        }))
        .map_err(err)?;
        for (i, (name, accuracy)) in self.automl.iter().enumerate() {
            let color = PALETTE[i % 2];
            top.draw_series(DashedLineSeries::new(
                [(0.0, *accuracy), (x_max, *accuracy)],
                8,
                5,
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(format!("{name} {:.1}%", accuracy * 100.0))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2)));
        }
        let red = PALETTE[5];
        top.draw_series(LineSeries::new(
            [(self.budget_minutes, y_floor), (self.budget_minutes, 1.0)],
            red.stroke_width(2),
        ))
        .map_err(err)?
        .label(format!("budget ({:.0} min)", self.budget_minutes))
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], red.stroke_width(2)));
        draw_legend(&mut top, SeriesLabelPosition::LowerRight)?;

        let loss_max = self
            .history
            .iter()
            .flat_map(|r| [r.train_loss, r.validation_loss])
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max)
            .max(1e-3)
            * 1.1;
        let mut bottom = ChartBuilder::on(&lower)
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, 0.0..loss_max)
            .map_err(err)?;
        bottom
            .configure_mesh()
            .max_light_lines(1)
            .x_desc("wall-clock minutes since training started")
            .y_desc("loss")
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 15))
            .draw()
            .map_err(err)?;
        for (name, color, pick) in [
            (
                "train loss",
                PALETTE[3],
                (|r: &HistoryRow| r.train_loss) as fn(&HistoryRow) -> f64,
            ),
            ("validation loss", PALETTE[2], |r: &HistoryRow| {
                r.validation_loss
            }),
        ] {
            bottom
                .draw_series(LineSeries::new(
                    self.history
                        .iter()
                        .filter(|r| pick(r).is_finite())
                        .map(|r| (r.elapsed_seconds / 60.0, pick(r))),
                    color.stroke_width(2),
                ))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        draw_legend(&mut bottom, SeriesLabelPosition::UpperRight)?;
        root.present().map_err(err)
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::path::Path;

    /// The SVG's text, after checking it is an SVG of `size`.
    pub fn read_svg(stem: &Path, size: (u32, u32)) -> String {
        let svg = std::fs::read_to_string(stem.with_extension("svg")).unwrap();
        let head = &svg[..300.min(svg.len())];
        assert!(svg.starts_with("<svg"), "{head}");
        assert!(
            head.contains(&format!("width=\"{}\"", size.0))
                && head.contains(&format!("height=\"{}\"", size.1)),
            "{head}"
        );
        assert!(svg.trim_end().ends_with("</svg>"));
        svg
    }

    /// Checks the PNG's signature, its size in the IHDR chunk (width and height, big-endian,
    /// at bytes 16..24), and that it is not blank.
    pub fn assert_png(stem: &Path, size: (u32, u32)) {
        let png = std::fs::read(stem.with_extension("png")).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
        let height = u32::from_be_bytes([png[20], png[21], png[22], png[23]]);
        assert_eq!((width, height), size);
        assert!(
            png.len() > 10_000,
            "{} bytes: a blank image compresses to almost nothing",
            png.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{assert_png, read_svg};
    use super::*;

    fn run() -> RunSummary {
        RunSummary {
            name: "demo (flex)".into(),
            budget: "5m".into(),
            time_used: "4m57s".into(),
            average_precision_micro: 0.966,
            average_precision_macro: 0.949,
            roc_auc_macro_ovr: 0.992,
            precision_at_0_5: 0.913,
            recall_at_0_5: 0.882,
            accuracy: 0.897,
        }
    }

    #[test]
    fn comparison_chart_writes_valid_svg_and_png_of_the_expected_size() {
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("comparison");
        comparison_chart(&ReferenceResults::bundled().unwrap(), &[run()], &stem).unwrap();
        let svg = read_svg(&stem, CHART_SIZE);
        for label in [
            "AutoML free",
            "AutoML paid",
            "demo (flex)",
            "recall@0.5",
            "89.7",
            "93.9",
        ] {
            assert!(svg.contains(label), "{label} missing from the SVG");
        }
        assert_png(&stem, CHART_SIZE);
    }

    #[test]
    fn learning_curve_writes_valid_svg_and_png() {
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("learning_curve");
        let history: Vec<HistoryRow> = (1..=5)
            .map(|i| HistoryRow {
                elapsed_seconds: 60.0 * i as f64,
                train_loss: 1.0 / i as f64,
                validation_loss: 1.1 / i as f64,
                validation_accuracy: 0.8 + 0.02 * i as f64,
            })
            .collect();
        learning_curve_chart(
            &ReferenceResults::bundled().unwrap(),
            &history,
            300.0,
            &stem,
        )
        .unwrap();
        let svg = read_svg(&stem, CHART_SIZE);
        for label in [
            "AutoML paid (test) 93.9%",
            "budget (5 min)",
            "validation accuracy",
            "train loss",
        ] {
            assert!(svg.contains(label), "{label} missing from the SVG");
        }
        assert_png(&stem, CHART_SIZE);
    }

    #[test]
    fn unwritable_target_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("comparison");
        // A non-empty folder where the SVG should go: the file cannot replace it.
        std::fs::create_dir_all(dir.path().join("comparison.svg").join("x")).unwrap();
        let err = comparison_chart(&ReferenceResults::bundled().unwrap(), &[run()], &stem)
            .unwrap_err()
            .to_string();
        assert!(err.contains("comparison."), "{err}");
    }
}
