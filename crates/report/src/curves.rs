//! Threshold curves from the test predictions: per-class precision-recall and one-vs-rest
//! ROC curves, and micro precision and recall against AutoML's score threshold.

use crate::ReferenceResults;
use crate::charts::{Chart, ChartError, FONT, PALETTE, draw_both, draw_legend};
use metrics::{CurvePoint, ThresholdPoint};
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::path::Path;

/// Matplotlib's "tab10": ten distinct colours, one per class.
const CLASS_COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Keeps a point only when it moved visibly from the last one kept (and always the ends): a
/// 10,000-image curve has thousands of steps, far more than 1000 pixels can show.
fn thin(points: &[CurvePoint]) -> Vec<(f64, f64)> {
    const STEP: f64 = 0.002;
    let mut kept: Vec<(f64, f64)> = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let last = i + 1 == points.len();
        let moved = kept
            .last()
            .is_none_or(|&(x, y)| (p.x - x).abs() > STEP || (p.y - y).abs() > STEP);
        if moved || last {
            kept.push((p.x, p.y));
        }
    }
    kept
}

/// One class's curve and the area the legend shows.
struct ClassCurve {
    label: String,
    points: Vec<(f64, f64)>,
}

struct Curves {
    title: String,
    x_desc: &'static str,
    y_desc: &'static str,
    curves: Vec<ClassCurve>,
    chance_diagonal: bool,
    legend: SeriesLabelPosition,
}

fn class_curves(
    class_names: &[String],
    labels: &[usize],
    probabilities: &[Vec<f64>],
    curve: fn(&[(f64, bool)]) -> Vec<CurvePoint>,
    area: fn(&[(f64, bool)]) -> Option<f64>,
    area_name: &str,
) -> Vec<ClassCurve> {
    (0..class_names.len())
        .filter_map(|c| {
            let pairs = metrics::one_vs_rest_pairs(labels, probabilities, c);
            let points = curve(&pairs);
            let value = area(&pairs)?;
            Some(ClassCurve {
                label: format!("{} ({area_name} {:.1}%)", class_names[c], value * 100.0),
                points: thin(&points),
            })
        })
        .collect()
}

/// Precision against recall for each class (one against the rest), average precision in the
/// legend.
pub fn precision_recall_chart(
    class_names: &[String],
    labels: &[usize],
    probabilities: &[Vec<f64>],
    stem: &Path,
) -> Result<(), ChartError> {
    let mut curves = class_curves(
        class_names,
        labels,
        probabilities,
        metrics::precision_recall_curve,
        metrics::average_precision,
        "AP",
    );
    // The curve starts where the first threshold puts it; drawing it from recall 0 at that
    // precision keeps the top-left corner readable.
    for c in &mut curves {
        if let Some(&(_, y)) = c.points.first() {
            c.points.insert(0, (0.0, y));
        }
    }
    draw_both(
        stem,
        &Curves {
            title: "Precision-recall per class (test set, one class against the rest)".into(),
            x_desc: "recall",
            y_desc: "precision",
            curves,
            chance_diagonal: false,
            legend: SeriesLabelPosition::LowerLeft,
        },
    )
}

/// One-vs-rest ROC curve of each class, ROC AUC in the legend.
pub fn roc_chart(
    class_names: &[String],
    labels: &[usize],
    probabilities: &[Vec<f64>],
    stem: &Path,
) -> Result<(), ChartError> {
    let curves = class_curves(
        class_names,
        labels,
        probabilities,
        metrics::roc_curve,
        metrics::roc_auc,
        "AUC",
    );
    draw_both(
        stem,
        &Curves {
            title: "ROC per class (test set, one class against the rest)".into(),
            x_desc: "false-positive rate",
            y_desc: "true-positive rate",
            curves,
            chance_diagonal: true,
            legend: SeriesLabelPosition::LowerRight,
        },
    )
}

/// A white chart whose axes both run over [0, 1] (a little headroom above 1 keeps lines at 1
/// off the frame): every chart of this module.
fn unit_square_chart<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    ChartBuilder::on(root)
        .caption(title, (FONT, 22))
        .margin(16)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..1.0, 0.0..1.02)
        .map_err(err)
}

impl Chart for Curves {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let mut chart = unit_square_chart(&root, &self.title)?;
        chart
            .configure_mesh()
            .max_light_lines(1)
            .x_desc(self.x_desc)
            .y_desc(self.y_desc)
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 16))
            .draw()
            .map_err(err)?;
        if self.chance_diagonal {
            chart
                .draw_series(DashedLineSeries::new(
                    [(0.0, 0.0), (1.0, 1.0)],
                    6,
                    4,
                    RGBColor(160, 160, 160).stroke_width(1),
                ))
                .map_err(err)?
                .label("chance")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], RGBColor(160, 160, 160)));
        }
        for (i, curve) in self.curves.iter().enumerate() {
            let colour = CLASS_COLOURS[i % CLASS_COLOURS.len()];
            chart
                .draw_series(LineSeries::new(
                    curve.points.iter().copied(),
                    colour.stroke_width(2),
                ))
                .map_err(err)?
                .label(curve.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2))
                });
        }
        draw_legend(&mut chart, self.legend.clone())?;
        root.present().map_err(err)
    }
}

/// Micro precision and recall over (image, label) pairs against the score threshold, from 0
/// to 1, as AutoML's threshold slider shows them; AutoML's published pairs at 0.5 as markers.
pub fn threshold_chart(
    reference: &ReferenceResults,
    labels: &[usize],
    probabilities: &[Vec<f64>],
    num_classes: usize,
    stem: &Path,
) -> Result<(), ChartError> {
    let thresholds: Vec<f64> = (0..=100).map(|t| t as f64 / 100.0).collect();
    let sweep =
        metrics::threshold_sweep(labels, probabilities, num_classes, &thresholds).map_err(|e| {
            ChartError::Draw {
                path: stem.with_extension("svg"),
                reason: e.to_string(),
            }
        })?;
    let automl = reference
        .automl
        .iter()
        .map(|a| (a.mode.clone(), a.precision, a.recall))
        .collect();
    draw_both(stem, &Threshold { sweep, automl })
}

struct Threshold {
    sweep: Vec<ThresholdPoint>,
    automl: Vec<(String, f64, f64)>,
}

impl Chart for Threshold {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let mut chart = unit_square_chart(
            &root,
            "Precision and recall against the score threshold (test set, micro)",
        )?;
        chart
            .configure_mesh()
            .max_light_lines(1)
            .x_desc("score threshold: an (image, label) pair counts as predicted at or above it")
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .label_style((FONT, 15))
            .axis_desc_style((FONT, 15))
            .draw()
            .map_err(err)?;
        let at_half = self
            .sweep
            .iter()
            .find(|p| (p.threshold - 0.5).abs() < 1e-9)
            .copied();
        let (blue, orange) = (PALETTE[2], PALETTE[3]);
        let precision_label = match at_half.and_then(|p| p.precision) {
            Some(p) => format!("precision (this run; {:.1}% at 0.5)", p * 100.0),
            None => "precision (this run)".into(),
        };
        chart
            .draw_series(LineSeries::new(
                self.sweep
                    .iter()
                    .filter_map(|p| p.precision.map(|v| (p.threshold, v))),
                blue.stroke_width(3),
            ))
            .map_err(err)?
            .label(precision_label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], blue.stroke_width(3)));
        let recall_label = match at_half {
            Some(p) => format!("recall (this run; {:.1}% at 0.5)", p.recall * 100.0),
            None => "recall (this run)".into(),
        };
        chart
            .draw_series(LineSeries::new(
                self.sweep.iter().map(|p| (p.threshold, p.recall)),
                orange.stroke_width(3),
            ))
            .map_err(err)?
            .label(recall_label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], orange.stroke_width(3)));
        let grey = RGBColor(120, 120, 120);
        chart
            .draw_series(DashedLineSeries::new(
                [(0.5, 0.0), (0.5, 1.02)],
                6,
                4,
                grey.stroke_width(1),
            ))
            .map_err(err)?
            .label("AutoML's default threshold, 0.5")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], grey));
        for (i, (mode, precision, recall)) in self.automl.iter().enumerate() {
            let colour = PALETTE[i % 2];
            chart
                .draw_series([
                    TriangleMarker::new((0.5, *precision), 9, colour.filled()),
                    TriangleMarker::new((0.5, *recall), 9, colour.filled()),
                ])
                .map_err(err)?
                .label(format!(
                    "{mode} at 0.5: precision {:.1}%, recall {:.1}%",
                    precision * 100.0,
                    recall * 100.0
                ))
                .legend(move |(x, y)| TriangleMarker::new((x + 9, y), 7, colour.filled()));
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
        root.present().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::CHART_SIZE;
    use crate::charts::test_support::{assert_png, read_svg};

    fn toy() -> (Vec<String>, Vec<usize>, Vec<Vec<f64>>) {
        let names = vec!["Coat".to_string(), "Shirt".to_string(), "Bag".to_string()];
        let labels = vec![0, 1, 2, 2, 1, 0, 0, 1];
        let probs = vec![
            vec![0.7, 0.2, 0.1],
            vec![0.3, 0.4, 0.3],
            vec![0.1, 0.1, 0.8],
            vec![0.5, 0.1, 0.4],
            vec![0.2, 0.6, 0.2],
            vec![0.4, 0.4, 0.2],
            vec![0.9, 0.05, 0.05],
            vec![0.6, 0.3, 0.1],
        ];
        (names, labels, probs)
    }

    #[test]
    fn precision_recall_and_roc_charts_name_each_class_with_its_area() {
        let (names, labels, probs) = toy();
        let dir = tempfile::tempdir().unwrap();
        let pr = dir.path().join("precision_recall");
        precision_recall_chart(&names, &labels, &probs, &pr).unwrap();
        let m = metrics::evaluate(&labels, &probs, 3).unwrap();
        let svg = read_svg(&pr, CHART_SIZE);
        for (c, name) in names.iter().enumerate() {
            let ap = m.per_class[c].average_precision.unwrap();
            let label = format!("{name} (AP {:.1}%)", ap * 100.0);
            assert!(svg.contains(&label), "{label} missing");
        }
        assert_png(&pr, CHART_SIZE);

        let roc = dir.path().join("roc");
        roc_chart(&names, &labels, &probs, &roc).unwrap();
        let svg = read_svg(&roc, CHART_SIZE);
        for (c, name) in names.iter().enumerate() {
            let auc = m.per_class[c].roc_auc.unwrap();
            let label = format!("{name} (AUC {:.1}%)", auc * 100.0);
            assert!(svg.contains(&label), "{label} missing");
        }
        assert!(svg.contains("false-positive rate") && svg.contains("chance"));
        assert_png(&roc, CHART_SIZE);
    }

    #[test]
    fn threshold_chart_shows_this_run_and_automl_at_one_half() {
        let (_, labels, probs) = toy();
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("threshold");
        threshold_chart(
            &ReferenceResults::bundled().unwrap(),
            &labels,
            &probs,
            3,
            &stem,
        )
        .unwrap();
        let m = metrics::evaluate(&labels, &probs, 3).unwrap();
        let svg = read_svg(&stem, CHART_SIZE);
        for label in [
            format!("{:.1}% at 0.5", m.precision_at_0_5_micro * 100.0),
            format!("{:.1}% at 0.5", m.recall_at_0_5_micro * 100.0),
            "AutoML paid at 0.5: precision 95.0%, recall 92.8%".to_string(),
            "AutoML free at 0.5: precision 90.9%, recall 87.7%".to_string(),
        ] {
            assert!(svg.contains(&label), "{label} missing");
        }
        assert_png(&stem, CHART_SIZE);
    }

    #[test]
    fn thinning_keeps_the_ends_and_drops_invisible_steps() {
        let points: Vec<CurvePoint> = (0..=1000)
            .map(|i| CurvePoint {
                threshold: 1.0 - i as f64 / 1000.0,
                x: i as f64 / 1000.0,
                y: 1.0,
            })
            .collect();
        let kept = thin(&points);
        assert_eq!(kept.first(), Some(&(0.0, 1.0)));
        assert_eq!(kept.last(), Some(&(1.0, 1.0)));
        assert!(kept.len() < 600, "{}", kept.len());
        assert!(kept.windows(2).all(|w| w[1].0 - w[0].0 <= 0.0031));
    }
}
