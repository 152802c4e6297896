//! Datasets described by an AutoML Vision CSV, as AutoML imports them: one image per line,
//! `[SET,]path,label` with SET one of TRAIN, VALIDATION, TEST or UNASSIGNED (no SET means
//! UNASSIGNED), paths relative to the CSV, labels by name. UNASSIGNED images are split
//! 80/10/10 into TRAIN, VALIDATION and TEST, seeded. Images of any size and format are
//! prepared like Fashion-MNIST's (28x28 grayscale, light on dark).

use crate::split::{Stream, rng};
use crate::{DataError, Images, PIXELS};
use rand::seq::SliceRandom;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A CSV dataset in memory. TRAIN and VALIDATION images share `train_images`, told apart by
/// index lists, like Fashion-MNIST's training set and its split.
#[derive(Debug, Clone)]
pub struct CsvDataset {
    pub csv: PathBuf,
    /// Labels in index order (sorted by name).
    pub class_names: Vec<String>,
    pub train_images: Images,
    pub train_labels: Vec<u8>,
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
    pub test_images: Images,
    pub test_labels: Vec<u8>,
    /// Rows that were UNASSIGNED and split by the seed.
    pub unassigned: usize,
    /// Images whose background was light and which were therefore negated.
    pub inverted: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    Train,
    Validation,
    Test,
    Unassigned,
}

struct Row {
    line: usize,
    set: Set,
    path: PathBuf,
    label: String,
}

/// Most classes a dataset may have (labels are stored as bytes).
pub const MAX_CLASSES: usize = 256;

pub fn load_automl_csv(csv: &Path, seed: u64) -> Result<CsvDataset, DataError> {
    let text = std::fs::read_to_string(csv).map_err(|e| DataError::io(csv, e))?;
    let base = csv.parent().unwrap_or(Path::new("."));
    let rows = parse(csv, &text, base)?;
    let class_names: Vec<String> = rows
        .iter()
        .map(|r| r.label.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if class_names.len() < 2 {
        return Err(DataError::malformed(
            csv,
            format!(
                "it names {} label(s); training needs at least two",
                class_names.len()
            ),
        ));
    }
    if class_names.len() > MAX_CLASSES {
        return Err(DataError::malformed(
            csv,
            format!(
                "it names {} labels; at most {MAX_CLASSES} are supported",
                class_names.len()
            ),
        ));
    }
    let class_of: BTreeMap<&str, u8> = class_names
        .iter()
        .enumerate()
        .map(|(k, n)| (n.as_str(), k as u8))
        .collect();

    // UNASSIGNED rows: 80% TRAIN, 10% VALIDATION, 10% TEST, seeded.
    let mut sets: Vec<Set> = rows.iter().map(|r| r.set).collect();
    let mut unassigned: Vec<usize> = (0..rows.len())
        .filter(|&i| sets[i] == Set::Unassigned)
        .collect();
    unassigned.shuffle(&mut rng(seed, Stream::Unassigned, 0));
    let n = unassigned.len();
    let (to_train, to_validation) = (n * 8 / 10, n / 10);
    for (rank, &i) in unassigned.iter().enumerate() {
        sets[i] = if rank < to_train {
            Set::Train
        } else if rank < to_train + to_validation {
            Set::Validation
        } else {
            Set::Test
        };
    }
    let count = |set: Set| sets.iter().filter(|&&s| s == set).count();
    for (set, name) in [
        (Set::Train, "TRAIN"),
        (Set::Validation, "VALIDATION"),
        (Set::Test, "TEST"),
    ] {
        if count(set) == 0 {
            return Err(DataError::malformed(
                csv,
                format!(
                    "no {name} images (after splitting UNASSIGNED ones 80/10/10); mark some rows {name} or add UNASSIGNED ones"
                ),
            ));
        }
    }

    let pixels = prepare_all(&rows)?;
    let mut dataset = CsvDataset {
        csv: csv.to_path_buf(),
        class_names: class_names.clone(),
        train_images: Images {
            count: 0,
            pixels: Vec::new(),
        },
        train_labels: Vec::new(),
        train: Vec::new(),
        validation: Vec::new(),
        test_images: Images {
            count: 0,
            pixels: Vec::new(),
        },
        test_labels: Vec::new(),
        unassigned: n,
        inverted: pixels.iter().filter(|(_, inverted)| *inverted).count(),
    };
    for ((row, set), (image, _)) in rows.iter().zip(&sets).zip(&pixels) {
        let label = class_of[row.label.as_str()];
        let (images, labels) = if *set == Set::Test {
            (&mut dataset.test_images, &mut dataset.test_labels)
        } else {
            let index = dataset.train_images.count;
            if *set == Set::Train {
                dataset.train.push(index);
            } else {
                dataset.validation.push(index);
            }
            (&mut dataset.train_images, &mut dataset.train_labels)
        };
        images.pixels.extend_from_slice(image);
        images.count += 1;
        labels.push(label);
    }
    Ok(dataset)
}

fn parse(csv: &Path, text: &str, base: &Path) -> Result<Vec<Row>, DataError> {
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let fields: Vec<&str> = raw.split(',').map(|f| f.trim().trim_matches('"')).collect();
        if fields.iter().all(|f| f.is_empty()) {
            continue;
        }
        let bad = |problem: String| DataError::malformed(csv, format!("line {line}: {problem}"));
        let (set, rest) = match fields[0].to_ascii_uppercase().as_str() {
            "TRAIN" => (Set::Train, &fields[1..]),
            "VALIDATION" => (Set::Validation, &fields[1..]),
            "TEST" => (Set::Test, &fields[1..]),
            "UNASSIGNED" => (Set::Unassigned, &fields[1..]),
            _ => (Set::Unassigned, &fields[..]),
        };
        let labels: Vec<&str> = rest
            .iter()
            .skip(1)
            .copied()
            .filter(|l| !l.is_empty())
            .collect();
        let path = match rest.first() {
            Some(p) if !p.is_empty() => *p,
            _ => return Err(bad("no image path".into())),
        };
        if path.contains("://") {
            return Err(bad(format!(
                "{path} is a remote address; this trainer reads local files: download the images and use paths relative to the CSV"
            )));
        }
        let label = match labels.as_slice() {
            [one] => one.to_string(),
            [] => {
                return Err(bad(format!(
                    "{path} has no label; every image needs exactly one"
                )));
            }
            more => {
                return Err(bad(format!(
                    "{path} has {} labels; multi-label classification is not supported",
                    more.len()
                )));
            }
        };
        let path = if Path::new(path).is_absolute() {
            PathBuf::from(path)
        } else {
            base.join(path)
        };
        rows.push(Row {
            line,
            set,
            path,
            label,
        });
    }
    if rows.is_empty() {
        return Err(DataError::malformed(csv, "it lists no images"));
    }
    Ok(rows)
}

/// Reads and prepares every image, on all cores.
fn prepare_all(rows: &[Row]) -> Result<Vec<([u8; PIXELS], bool)>, DataError> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = rows.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = rows
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|row| {
                            let bytes = std::fs::read(&row.path)
                                .map_err(|e| DataError::io(&row.path, e))?;
                            let prepared = images::prepare(&bytes).map_err(|e| {
                                DataError::malformed(
                                    &row.path,
                                    format!("{e} (CSV line {})", row.line),
                                )
                            })?;
                            Ok((prepared.pixels, prepared.inverted))
                        })
                        .collect::<Result<Vec<_>, DataError>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(rows.len());
        for worker in workers {
            let part = worker.join().map_err(|_| {
                DataError::malformed(Path::new("images"), "an image decoder panicked")
            })??;
            all.extend(part);
        }
        Ok(all)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(value: u8) -> Vec<u8> {
        let pixels = [value; PIXELS];
        images::png_bytes(&pixels).unwrap()
    }

    fn write_dataset(dir: &Path, lines: &[String]) -> PathBuf {
        std::fs::create_dir_all(dir.join("img")).unwrap();
        for v in [10u8, 60, 110] {
            std::fs::write(dir.join(format!("img/{v}.png")), png(v)).unwrap();
        }
        let csv = dir.join("data.csv");
        std::fs::write(&csv, lines.join("\n")).unwrap();
        csv
    }

    #[test]
    fn sets_labels_and_relative_paths_are_read_and_unassigned_rows_split_80_10_10() {
        let dir = tempfile::tempdir().unwrap();
        let mut lines = vec![
            "TRAIN,img/10.png,dark".to_string(),
            "VALIDATION,img/60.png,mid".to_string(),
            "TEST,img/110.png,light".to_string(),
        ];
        for i in 0..100 {
            let v = [10, 60, 110][i % 3];
            let label = ["dark", "mid", "light"][i % 3];
            if i % 2 == 0 {
                lines.push(format!("UNASSIGNED,img/{v}.png,{label}"));
            } else {
                lines.push(format!("img/{v}.png,{label}"));
            }
        }
        let csv = write_dataset(dir.path(), &lines);
        let data = load_automl_csv(&csv, 42).unwrap();
        assert_eq!(data.class_names, ["dark", "light", "mid"]);
        assert_eq!(data.unassigned, 100);
        assert_eq!(data.train.len(), 1 + 80);
        assert_eq!(data.validation.len(), 1 + 10);
        assert_eq!(data.test_images.count, 1 + 10);
        assert_eq!(data.train_images.count, 92);
        // The first row: TRAIN, label "dark" (index 0), pixels as written.
        assert_eq!(data.train[0], 0);
        assert_eq!(data.train_labels[0], 0);
        assert!(data.train_images.image(0).iter().all(|&p| p == 10));
        assert_eq!(data.validation[0], 1);
        assert_eq!(data.train_labels[1], 2);
        assert_eq!(data.test_labels[0], 1);
        // Every image keeps its own label through the split.
        for (i, &label) in data.train_labels.iter().enumerate() {
            let value = data.train_images.image(i)[0];
            assert_eq!(
                data.class_names[label as usize],
                match value {
                    10 => "dark",
                    60 => "mid",
                    _ => "light",
                }
            );
        }
        // Same seed, same split; another seed, another one.
        let again = load_automl_csv(&csv, 42).unwrap();
        assert_eq!(
            (again.train, again.validation),
            (data.train.clone(), data.validation.clone())
        );
        let other = load_automl_csv(&csv, 7).unwrap();
        assert_ne!(other.train_labels, data.train_labels);
    }

    #[test]
    fn bad_csvs_name_the_line_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&[&str], &str); 6] = [
            (&["TRAIN,img/10.png"], "line 1: img/10.png has no label"),
            (&["TRAIN,img/10.png,a,b"], "multi-label"),
            (&["TRAIN,gs://bucket/x.png,a"], "remote address"),
            (
                &[
                    "TRAIN,img/10.png,a",
                    "TEST,img/60.png,a",
                    "VALIDATION,img/60.png,a",
                ],
                "at least two",
            ),
            (
                &["TRAIN,img/10.png,a", "TRAIN,img/60.png,b"],
                "no VALIDATION images",
            ),
            (
                &[
                    "TRAIN,img/missing.png,a",
                    "VALIDATION,img/60.png,b",
                    "TEST,img/60.png,b",
                ],
                "missing.png",
            ),
        ];
        for (lines, needle) in cases {
            let lines: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
            let csv = write_dataset(dir.path(), &lines);
            let err = load_automl_csv(&csv, 1).unwrap_err().to_string();
            assert!(err.contains(needle), "{lines:?}: {err}");
        }
    }
}
