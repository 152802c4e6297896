use std::path::PathBuf;
use thiserror::Error;

/// Everything that can go wrong between a path and a batch. Each variant names the file.
#[derive(Debug, Error)]
pub enum DataError {
    #[error(
        "Fashion-MNIST not found; looked for {missing} in: {searched}. Install Debian's \
         `dataset-fashion-mnist`, point --data-dir (or FASHION_MNIST_DIR) at the files, or drop \
         --offline to download them"
    )]
    NotFound { searched: String, missing: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is not a valid gzip file ({source}); delete it and let the trainer fetch it again"
    )]
    NotGzip {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} decompresses to more than {limit} bytes; it is not a Fashion-MNIST file")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path} is malformed: {problem}")]
    Malformed { path: PathBuf, problem: String },
    #[error(
        "{path} is not the official Fashion-MNIST file: SHA-256 of its content is {actual}, \
         expected {expected}; replace it, or pass --allow-unverified-data to use it anyway"
    )]
    DigestMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("downloading {url} failed: {reason}")]
    Download { url: String, reason: String },
    #[error("the split asks for {validation} validation images out of {total}")]
    BadSplit { total: usize, validation: usize },
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn malformed(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        Self::Malformed {
            path: path.into(),
            problem: problem.into(),
        }
    }
}
