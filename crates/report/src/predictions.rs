//! `test_predictions.csv` read back: the charts that need every score (curves, threshold
//! sweep, misclassified images) are drawn from it, so `report` can rebuild them without the
//! model.

use crate::RunFileError;
use std::path::Path;

/// One row per test image, in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct TestPredictions {
    /// Position of each image in the t10k files.
    pub indices: Vec<usize>,
    pub labels: Vec<usize>,
    pub probabilities: Vec<Vec<f64>>,
}

/// Reads `test_predictions.csv` (header `index,label,predicted,p0,...`), checking that every row
/// has one probability per class and a label below the number of classes.
pub fn read_predictions(path: &Path) -> Result<TestPredictions, RunFileError> {
    let text = crate::run_report::read_text(path)?;
    let bad = |reason: String| RunFileError::parse(path, reason);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let classes = header.len().saturating_sub(3);
    let expected: Vec<String> = ["index", "label", "predicted"]
        .iter()
        .map(|s| s.to_string())
        .chain((0..classes).map(|k| format!("p{k}")))
        .collect();
    if classes == 0 || header != expected {
        return Err(bad(format!(
            "the header must be index,label,predicted,p0,...; found {:?}",
            header.join(",")
        )));
    }
    let mut out = TestPredictions {
        indices: Vec::new(),
        labels: Vec::new(),
        probabilities: Vec::new(),
    };
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let line_no = i + 2;
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != header.len() {
            return Err(bad(format!(
                "line {line_no} has {} columns, the header {}",
                cells.len(),
                header.len()
            )));
        }
        let integer = |c: usize| {
            cells[c]
                .trim()
                .parse::<usize>()
                .map_err(|_| bad(format!("line {line_no}: {:?} is not an index", cells[c])))
        };
        let index = integer(0)?;
        let label = integer(1)?;
        if label >= classes {
            return Err(bad(format!(
                "line {line_no}: label {label} is not below the {classes} classes"
            )));
        }
        let probabilities = cells[3..]
            .iter()
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|p| p.is_finite())
                    .ok_or_else(|| bad(format!("line {line_no}: {v:?} is not a probability")))
            })
            .collect::<Result<Vec<f64>, _>>()?;
        out.indices.push(index);
        out.labels.push(label);
        out.probabilities.push(probabilities);
    }
    if out.labels.is_empty() {
        return Err(bad("no predictions after the header".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_and_names_the_file_on_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("test_predictions.csv");
        std::fs::write(
            &path,
            "index,label,predicted,p0,p1\n4,1,1,2.5e-1,7.5e-1\n9,0,0,0.5,0.5\n",
        )
        .unwrap();
        let p = read_predictions(&path).unwrap();
        assert_eq!(p.indices, vec![4, 9]);
        assert_eq!(p.labels, vec![1, 0]);
        assert_eq!(p.probabilities, vec![vec![0.25, 0.75], vec![0.5, 0.5]]);

        for (content, problem) in [
            ("index,label,p0\n1,0,1\n", "header"),
            (
                "index,label,predicted,p0,p1\n1,0,0,0.5\n",
                "line 2 has 4 columns",
            ),
            ("index,label,predicted,p0,p1\n1,2,0,0.5,0.5\n", "label 2"),
            ("index,label,predicted,p0,p1\n1,0,0,x,0.5\n", "\"x\""),
            ("index,label,predicted,p0,p1\n", "no predictions"),
        ] {
            std::fs::write(&path, content).unwrap();
            let err = read_predictions(&path).unwrap_err().to_string();
            assert!(
                err.contains("test_predictions.csv") && err.contains(problem),
                "{problem}: {err}"
            );
        }
        let missing = read_predictions(&dir.path().join("nope.csv")).unwrap_err();
        assert!(missing.to_string().contains("nope.csv"));
    }
}
