//! Fashion-MNIST for the trainer: where the files are, whether they are the real ones, what
//! they hold, how they split, and how training batches are drawn from them.

mod augment;
mod automl_csv;
mod batches;
mod download;
mod error;
mod files;
mod idx;
mod split;

pub use augment::{Augmentation, augment_into, normalize_into, shift_normalized};
pub use automl_csv::{CsvDataset, MAX_CLASSES, load_automl_csv};
pub use batches::{Batch, BatchStream, epoch_order};
pub use download::{DEFAULT_BASE_URL, DownloadProgress, download_all};
pub use error::DataError;
pub use files::{
    DataFile, Digest, ExpectedDigests, FileSource, LocateOptions, Located, locate, sha256_hex,
};
pub use idx::{Images, parse_images, parse_labels};
pub use split::{Split, split_train_validation};

/// Image side length; every Fashion-MNIST image is `SIDE x SIDE` grayscale.
pub const SIDE: usize = 28;
/// Pixels of one image.
pub const PIXELS: usize = SIDE * SIDE;
/// Fashion-MNIST's classes, in label order.
pub const CLASS_NAMES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];
/// Images moved from the official training set into VALIDATION, as in the 2018 benchmark.
pub const VALIDATION_SIZE: usize = 10_000;

/// The dataset in memory: the official training and test sets, pixels as `u8`.
#[derive(Debug, Clone)]
pub struct FashionMnist {
    pub train_images: Images,
    pub train_labels: Vec<u8>,
    pub test_images: Images,
    pub test_labels: Vec<u8>,
    /// SHA-256 of each file's decompressed content, whether or not it matched.
    pub digests: Vec<Digest>,
    /// True when every digest matched the official one.
    pub verified: bool,
}

impl FashionMnist {
    /// Reads and checks the four files of a located dataset.
    ///
    /// With `require_official` a digest mismatch is an error naming the file; without it the
    /// mismatch is recorded in `digests` and the parser's structural checks are the only guard.
    pub fn load(
        located: &Located,
        expected: &ExpectedDigests,
        require_official: bool,
    ) -> Result<Self, DataError> {
        let mut digests = Vec::with_capacity(4);
        let mut read = |file: DataFile| -> Result<Vec<u8>, DataError> {
            let path = located.path(file);
            let content = files::read_decompressed(&path)?;
            let digest = Digest::of(file, &path, &content, expected);
            if require_official && !digest.matches {
                return Err(DataError::DigestMismatch {
                    path,
                    expected: digest.expected.clone().unwrap_or_default(),
                    actual: digest.sha256.clone(),
                });
            }
            digests.push(digest);
            Ok(content)
        };
        let train_images = parse_images(
            &located.path(DataFile::TrainImages),
            &read(DataFile::TrainImages)?,
        )?;
        let train_labels = parse_labels(
            &located.path(DataFile::TrainLabels),
            &read(DataFile::TrainLabels)?,
        )?;
        let test_images = parse_images(
            &located.path(DataFile::TestImages),
            &read(DataFile::TestImages)?,
        )?;
        let test_labels = parse_labels(
            &located.path(DataFile::TestLabels),
            &read(DataFile::TestLabels)?,
        )?;
        idx::check_pair(
            &located.path(DataFile::TrainLabels),
            &train_images,
            &train_labels,
        )?;
        idx::check_pair(
            &located.path(DataFile::TestLabels),
            &test_images,
            &test_labels,
        )?;
        let verified = digests.iter().all(|d| d.matches);
        Ok(Self {
            train_images,
            train_labels,
            test_images,
            test_labels,
            digests,
            verified,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use idx::build::gzip;
    use std::path::Path;

    fn contents() -> [Vec<u8>; 4] {
        [
            idx::build::images(3, 28, 28, |i| i as u8),
            idx::build::labels(&[0, 1, 2]),
            idx::build::images(1, 28, 28, |_| 9),
            idx::build::labels(&[7]),
        ]
    }

    fn digests_of(c: &[Vec<u8>; 4]) -> ExpectedDigests {
        ExpectedDigests {
            train_images: sha256_hex(&c[0]),
            train_labels: sha256_hex(&c[1]),
            test_images: sha256_hex(&c[2]),
            test_labels: sha256_hex(&c[3]),
        }
    }

    fn write_dataset(dir: &Path, c: &[Vec<u8>; 4]) -> Located {
        for (f, content) in DataFile::ALL.iter().zip(c) {
            std::fs::write(dir.join(f.gz_name()), gzip(content)).unwrap();
        }
        Located::in_dir(dir).unwrap()
    }

    #[test]
    fn loads_and_verifies_a_good_dataset() {
        let dir = tempfile::tempdir().unwrap();
        let c = contents();
        let data =
            FashionMnist::load(&write_dataset(dir.path(), &c), &digests_of(&c), true).unwrap();
        assert!(data.verified);
        assert_eq!(data.train_images.count, 3);
        assert_eq!(data.test_labels, vec![7]);
        assert_eq!(data.digests.len(), 4);
    }

    #[test]
    fn digest_mismatch_names_the_file_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let c = contents();
        let located = write_dataset(dir.path(), &c);
        let official = ExpectedDigests::official();
        let err = FashionMnist::load(&located, &official, true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train-images-idx3-ubyte.gz") && err.contains("--allow-unverified-data"),
            "{err}"
        );
        let data = FashionMnist::load(&located, &official, false).unwrap();
        assert!(!data.verified);
        assert!(data.digests.iter().all(|d| !d.matches));
    }

    #[test]
    fn not_gzip_and_truncated_gzip_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let c = contents();
        let located = write_dataset(dir.path(), &c);
        let path = located.path(DataFile::TestImages);
        std::fs::write(&path, b"this is not gzip").unwrap();
        let err = FashionMnist::load(&located, &digests_of(&c), true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t10k-images-idx3-ubyte.gz") && err.contains("not a valid gzip"),
            "{err}"
        );
        let gz = gzip(&c[2]);
        std::fs::write(&path, &gz[..gz.len() / 2]).unwrap();
        let err = FashionMnist::load(&located, &digests_of(&c), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("t10k-images-idx3-ubyte.gz"), "{err}");
    }

    #[test]
    fn count_mismatch_between_images_and_labels_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = contents();
        c[1] = idx::build::labels(&[0, 1]);
        let located = write_dataset(dir.path(), &c);
        let err = FashionMnist::load(&located, &digests_of(&c), true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train-labels-idx1-ubyte.gz") && err.contains("2 labels for 3 images"),
            "{err}"
        );
    }

    #[test]
    fn plain_idx_files_are_accepted_too() {
        let dir = tempfile::tempdir().unwrap();
        let c = contents();
        for (f, content) in DataFile::ALL.iter().zip(&c) {
            std::fs::write(dir.path().join(f.idx_name()), content).unwrap();
        }
        let located = Located::in_dir(dir.path()).unwrap();
        assert!(
            FashionMnist::load(&located, &digests_of(&c), true)
                .unwrap()
                .verified
        );
    }

    #[test]
    fn missing_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let located = write_dataset(dir.path(), &contents());
        std::fs::remove_file(located.path(DataFile::TrainLabels)).unwrap();
        let err = FashionMnist::load(&located, &ExpectedDigests::official(), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("train-labels-idx1-ubyte.gz"), "{err}");
    }
}
