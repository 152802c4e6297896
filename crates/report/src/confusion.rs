//! Confusion-matrix heatmap: counts, and each cell's share of its true class.

use crate::charts::{Chart, ChartError, FONT, draw_both_sized};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

pub const CONFUSION_SIZE: (u32, u32) = (1000, 920);

const LEFT: i32 = 170;
const TOP: i32 = 110;
const GRID: i32 = 760;
const DARK: (f64, f64, f64) = (8.0, 48.0, 107.0);

/// Rows: true class; columns: predicted class. Cell colour is the row percentage on a
/// square-root scale, so the off-diagonal cells of a good model (a few percent) still show.
pub fn confusion_chart(
    class_names: &[String],
    confusion: &[Vec<u64>],
    stem: &Path,
) -> Result<(), ChartError> {
    draw_both_sized(
        stem,
        CONFUSION_SIZE,
        &Confusion {
            names: class_names.to_vec(),
            matrix: confusion.to_vec(),
        },
    )
}

struct Confusion {
    names: Vec<String>,
    matrix: Vec<Vec<u64>>,
}

fn cell_colour(share: f64) -> RGBColor {
    let t = share.clamp(0.0, 1.0).sqrt();
    let mix = |dark: f64| (255.0 + (dark - 255.0) * t).round() as u8;
    RGBColor(mix(DARK.0), mix(DARK.1), mix(DARK.2))
}

fn text_at(
    text: String,
    at: (i32, i32),
    size: u32,
    colour: RGBColor,
    h: HPos,
    v: VPos,
) -> Text<'static, (i32, i32), String> {
    Text::new(
        text,
        at,
        (FONT, size).into_font().color(&colour).pos(Pos::new(h, v)),
    )
}

impl Chart for Confusion {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<(), String> {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(err)?;
        let n = self.matrix.len().max(1) as i32;
        let cell = GRID / n;
        let total: u64 = self.matrix.iter().flatten().sum();
        let correct: u64 = (0..self.matrix.len())
            .map(|i| self.matrix[i].get(i).copied().unwrap_or(0))
            .sum();
        let name = |i: usize| self.names.get(i).cloned().unwrap_or_else(|| i.to_string());
        root.draw(&text_at(
            format!(
                "Confusion matrix (test set, {total} images, {correct} right: {:.1}%)",
                100.0 * correct as f64 / total.max(1) as f64
            ),
            (CONFUSION_SIZE.0 as i32 / 2, 20),
            22,
            BLACK,
            HPos::Center,
            VPos::Top,
        ))
        .map_err(err)?;
        root.draw(&text_at(
            "predicted class".into(),
            (LEFT + GRID / 2, 62),
            16,
            BLACK,
            HPos::Center,
            VPos::Bottom,
        ))
        .map_err(err)?;
        root.draw(&text_at(
            "true class".into(),
            (LEFT - 10, TOP - 8),
            16,
            BLACK,
            HPos::Right,
            VPos::Bottom,
        ))
        .map_err(err)?;
        for (r, row) in self.matrix.iter().enumerate() {
            let row_total: u64 = row.iter().sum();
            let y = TOP + r as i32 * cell;
            root.draw(&text_at(
                name(r),
                (LEFT - 10, y + cell / 2),
                14,
                BLACK,
                HPos::Right,
                VPos::Center,
            ))
            .map_err(err)?;
            for (c, &count) in row.iter().enumerate() {
                let x = LEFT + c as i32 * cell;
                let share = count as f64 / row_total.max(1) as f64;
                let fill = cell_colour(share);
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    fill.filled(),
                ))
                .map_err(err)?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    RGBColor(200, 200, 200).stroke_width(1),
                ))
                .map_err(err)?;
                let ink = if share.sqrt() > 0.55 { WHITE } else { BLACK };
                root.draw(&text_at(
                    count.to_string(),
                    (x + cell / 2, y + cell / 2 - 2),
                    16,
                    ink,
                    HPos::Center,
                    VPos::Bottom,
                ))
                .map_err(err)?;
                root.draw(&text_at(
                    format!("{:.1}%", 100.0 * share),
                    (x + cell / 2, y + cell / 2 + 4),
                    12,
                    ink,
                    HPos::Center,
                    VPos::Top,
                ))
                .map_err(err)?;
            }
        }
        for c in 0..self.matrix.len() {
            root.draw(&text_at(
                name(c),
                (LEFT + c as i32 * cell + cell / 2, TOP - 8),
                12,
                BLACK,
                HPos::Center,
                VPos::Bottom,
            ))
            .map_err(err)?;
        }
        root.draw(&text_at(
            "Each cell: images of the row's class predicted as the column's; the percentage is \
             of the row (recall on the diagonal)."
                .into(),
            (LEFT, TOP + GRID + 20),
            13,
            RGBColor(60, 60, 60),
            HPos::Left,
            VPos::Top,
        ))
        .map_err(err)?;
        root.present().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::test_support::{assert_png, read_svg};

    #[test]
    fn heatmap_shows_counts_row_percentages_and_class_names() {
        let dir = tempfile::tempdir().unwrap();
        let stem = dir.path().join("confusion_matrix");
        let names: Vec<String> = ["Shirt", "T-shirt/top", "Ankle boot"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let matrix = vec![vec![80, 15, 5], vec![3, 96, 1], vec![0, 0, 100]];
        confusion_chart(&names, &matrix, &stem).unwrap();
        let svg = read_svg(&stem, CONFUSION_SIZE);
        for text in [
            "Shirt",
            "T-shirt/top",
            "Ankle boot",
            "80.0%",
            "15.0%",
            "\n96\n",
            "276 right: 92.0%",
        ] {
            assert!(svg.contains(text), "{text} missing from the SVG");
        }
        assert_png(&stem, CONFUSION_SIZE);
    }

    #[test]
    fn colour_darkens_with_the_share() {
        assert_eq!(cell_colour(0.0), RGBColor(255, 255, 255));
        assert_eq!(cell_colour(1.0), RGBColor(8, 48, 107));
        let light = cell_colour(0.04);
        let dark = cell_colour(0.5);
        assert!(light.0 > dark.0 && light.2 > dark.2);
    }
}
