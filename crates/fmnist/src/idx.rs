//! The IDX format: a big-endian header (magic, counts, dimensions) followed by `u8` data.

use crate::{DataError, SIDE};
use std::path::Path;

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;
const NUM_CLASSES: u8 = 10;

/// Images as stored: `count` images of `SIDE x SIDE` pixels, row-major, 0 = background.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Images {
    pub count: usize,
    pub pixels: Vec<u8>,
}

impl Images {
    pub fn image(&self, index: usize) -> &[u8] {
        &self.pixels[index * crate::PIXELS..(index + 1) * crate::PIXELS]
    }
}

fn header_u32(path: &Path, content: &[u8], field: usize, what: &str) -> Result<u32, DataError> {
    let start = field * 4;
    content
        .get(start..start + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| {
            DataError::malformed(
                path,
                format!(
                    "truncated header: {} bytes, too short for the {what}",
                    content.len()
                ),
            )
        })
}

fn check_magic(path: &Path, content: &[u8], want: u32, kind: &str) -> Result<(), DataError> {
    let magic = header_u32(path, content, 0, "magic number")?;
    if magic != want {
        return Err(DataError::malformed(
            path,
            format!("bad magic number {magic:#010x}, expected {want:#010x} for an IDX {kind} file"),
        ));
    }
    Ok(())
}

/// The body after a header of `header` bytes must hold exactly `expected` bytes.
fn body<'a>(
    path: &Path,
    content: &'a [u8],
    header: usize,
    expected: usize,
) -> Result<&'a [u8], DataError> {
    let body = &content[header..];
    match body.len().cmp(&expected) {
        std::cmp::Ordering::Less => Err(DataError::malformed(
            path,
            format!(
                "truncated: the header promises {expected} data bytes, the file has {}",
                body.len()
            ),
        )),
        std::cmp::Ordering::Greater => Err(DataError::malformed(
            path,
            format!(
                "trailing garbage: {} bytes after the {expected} data bytes the header promises",
                body.len() - expected
            ),
        )),
        std::cmp::Ordering::Equal => Ok(body),
    }
}

/// Parses an IDX3 image file's decompressed content; `path` only names it in errors.
pub fn parse_images(path: &Path, content: &[u8]) -> Result<Images, DataError> {
    check_magic(path, content, IMAGES_MAGIC, "image")?;
    let count = header_u32(path, content, 1, "image count")? as usize;
    let rows = header_u32(path, content, 2, "row count")? as usize;
    let cols = header_u32(path, content, 3, "column count")? as usize;
    if rows != SIDE || cols != SIDE {
        return Err(DataError::malformed(
            path,
            format!("images are {rows}x{cols}, expected {SIDE}x{SIDE}"),
        ));
    }
    let pixels = body(path, content, 16, count * rows * cols)?.to_vec();
    Ok(Images { count, pixels })
}

/// Parses an IDX1 label file's decompressed content; every label must be a class index.
pub fn parse_labels(path: &Path, content: &[u8]) -> Result<Vec<u8>, DataError> {
    check_magic(path, content, LABELS_MAGIC, "label")?;
    let count = header_u32(path, content, 1, "label count")? as usize;
    let labels = body(path, content, 8, count)?;
    if let Some((index, label)) = labels.iter().enumerate().find(|(_, l)| **l >= NUM_CLASSES) {
        return Err(DataError::malformed(
            path,
            format!("label {label} at position {index} is not a class (0-9)"),
        ));
    }
    Ok(labels.to_vec())
}

/// An image file and its label file must describe the same number of examples.
pub(crate) fn check_pair(
    labels_path: &Path,
    images: &Images,
    labels: &[u8],
) -> Result<(), DataError> {
    if images.count != labels.len() {
        return Err(DataError::malformed(
            labels_path,
            format!(
                "{} labels for {} images; the image and label files do not belong together",
                labels.len(),
                images.count
            ),
        ));
    }
    Ok(())
}

/// Builders for IDX content, shared by the tests of this crate.
#[cfg(test)]
pub(crate) mod build {
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    pub fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    pub fn images(count: u32, rows: u32, cols: u32, fill: impl Fn(usize) -> u8) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [super::IMAGES_MAGIC, count, rows, cols] {
            v.extend(x.to_be_bytes());
        }
        v.extend((0..(count * rows * cols) as usize).map(fill));
        v
    }

    pub fn labels(labels: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        for x in [super::LABELS_MAGIC, labels.len() as u32] {
            v.extend(x.to_be_bytes());
        }
        v.extend(labels);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("some/file-idx3-ubyte.gz")
    }

    fn problem(err: DataError) -> String {
        let text = err.to_string();
        assert!(
            text.contains("some/file-idx3-ubyte.gz"),
            "error must name the file: {text}"
        );
        text
    }

    #[test]
    fn parses_well_formed_images_and_labels() {
        let content = build::images(3, 28, 28, |i| (i % 251) as u8);
        let images = parse_images(p(), &content).unwrap();
        assert_eq!(images.count, 3);
        assert_eq!(images.image(1)[0], (784 % 251) as u8);
        assert_eq!(
            parse_labels(p(), &build::labels(&[0, 9, 3])).unwrap(),
            vec![0, 9, 3]
        );
    }

    #[test]
    fn rejects_bad_magic() {
        let mut content = build::images(1, 28, 28, |_| 0);
        content[3] = 0x01;
        assert!(problem(parse_images(p(), &content).unwrap_err()).contains("bad magic"));
        // A label file is not an image file.
        let labels = build::labels(&[1]);
        assert!(problem(parse_images(p(), &labels).unwrap_err()).contains("bad magic"));
    }

    #[test]
    fn rejects_wrong_dimensions() {
        let content = build::images(1, 32, 32, |_| 0);
        assert!(problem(parse_images(p(), &content).unwrap_err()).contains("32x32"));
    }

    #[test]
    fn rejects_truncated_header_and_body() {
        let content = build::images(2, 28, 28, |_| 0);
        assert!(
            problem(parse_images(p(), &content[..10]).unwrap_err()).contains("truncated header")
        );
        assert!(problem(parse_images(p(), &content[..100]).unwrap_err()).contains("truncated"));
        let labels = build::labels(&[1, 2, 3]);
        assert!(problem(parse_labels(p(), &labels[..9]).unwrap_err()).contains("truncated"));
        assert!(problem(parse_images(p(), &[]).unwrap_err()).contains("truncated header"));
    }

    #[test]
    fn rejects_trailing_garbage() {
        let mut content = build::images(1, 28, 28, |_| 0);
        content.extend([1, 2, 3]);
        assert!(
            problem(parse_images(p(), &content).unwrap_err()).contains("trailing garbage: 3 bytes")
        );
        let mut labels = build::labels(&[1]);
        labels.push(0);
        assert!(problem(parse_labels(p(), &labels).unwrap_err()).contains("trailing garbage"));
    }

    #[test]
    fn rejects_labels_out_of_range() {
        let labels = build::labels(&[1, 10, 2]);
        assert!(
            problem(parse_labels(p(), &labels).unwrap_err()).contains("label 10 at position 1")
        );
    }

    #[test]
    fn rejects_count_mismatch() {
        let images = parse_images(p(), &build::images(2, 28, 28, |_| 0)).unwrap();
        let err = check_pair(p(), &images, &[1, 2, 3]).unwrap_err();
        assert!(problem(err).contains("3 labels for 2 images"));
    }
}
