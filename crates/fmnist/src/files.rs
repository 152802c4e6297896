//! Where the four files live and whether their content is the official one.

use crate::DataError;
use flate2::read::MultiGzDecoder;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The four files of the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataFile {
    TrainImages,
    TrainLabels,
    TestImages,
    TestLabels,
}

impl DataFile {
    pub const ALL: [DataFile; 4] = [
        DataFile::TrainImages,
        DataFile::TrainLabels,
        DataFile::TestImages,
        DataFile::TestLabels,
    ];

    /// The uncompressed IDX name; the official download adds `.gz`.
    pub fn idx_name(self) -> &'static str {
        match self {
            DataFile::TrainImages => "train-images-idx3-ubyte",
            DataFile::TrainLabels => "train-labels-idx1-ubyte",
            DataFile::TestImages => "t10k-images-idx3-ubyte",
            DataFile::TestLabels => "t10k-labels-idx1-ubyte",
        }
    }

    pub fn gz_name(self) -> String {
        format!("{}.gz", self.idx_name())
    }

    /// An upper bound on the decompressed size of any plausible file of this kind, so a
    /// corrupt or hostile archive cannot fill the memory.
    fn size_limit(self) -> u64 {
        match self {
            DataFile::TrainImages | DataFile::TestImages => 256 << 20,
            DataFile::TrainLabels | DataFile::TestLabels => 16 << 20,
        }
    }

    fn from_path(path: &Path) -> Option<Self> {
        let name = path.file_name()?.to_str()?;
        let stem = name.strip_suffix(".gz").unwrap_or(name);
        Self::ALL.into_iter().find(|f| f.idx_name() == stem)
    }
}

/// SHA-256 of each file's decompressed content. Debian re-compressed the archives, so only
/// the content, never the `.gz` bytes, identifies the data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedDigests {
    pub train_images: String,
    pub train_labels: String,
    pub test_images: String,
    pub test_labels: String,
}

impl ExpectedDigests {
    /// The digests of the official files (zalandoresearch/fashion-mnist), decompressed.
    pub fn official() -> Self {
        Self {
            train_images: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888".into(),
            train_labels: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9".into(),
            test_images: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b".into(),
            test_labels: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34".into(),
        }
    }

    pub fn get(&self, file: DataFile) -> &str {
        match file {
            DataFile::TrainImages => &self.train_images,
            DataFile::TrainLabels => &self.train_labels,
            DataFile::TestImages => &self.test_images,
            DataFile::TestLabels => &self.test_labels,
        }
    }
}

/// What a file turned out to be, recorded next to every model trained on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub file: String,
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    pub expected: Option<String>,
    pub matches: bool,
}

impl Digest {
    pub(crate) fn of(
        file: DataFile,
        path: &Path,
        content: &[u8],
        expected: &ExpectedDigests,
    ) -> Self {
        let sha256 = sha256_hex(content);
        let want = expected.get(file).to_string();
        Self {
            file: file.idx_name().to_string(),
            path: path.to_path_buf(),
            bytes: content.len() as u64,
            matches: sha256 == want,
            sha256,
            expected: Some(want),
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads a `.gz` file (or a plain IDX file without the suffix) fully into memory.
pub(crate) fn read_decompressed(path: &Path) -> Result<Vec<u8>, DataError> {
    let file = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
    let limit = DataFile::from_path(path).map_or(256 << 20, DataFile::size_limit);
    let is_gz = path.extension().is_some_and(|e| e == "gz");
    let mut content = Vec::new();
    let read = if is_gz {
        MultiGzDecoder::new(file)
            .take(limit + 1)
            .read_to_end(&mut content)
            .map_err(|source| DataError::NotGzip {
                path: path.to_path_buf(),
                source,
            })
    } else {
        file.take(limit + 1)
            .read_to_end(&mut content)
            .map_err(|e| DataError::io(path, e))
    };
    read?;
    if content.len() as u64 > limit {
        return Err(DataError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(content)
}

/// Where to look for the dataset, most specific first.
#[derive(Debug, Clone, Default)]
pub struct LocateOptions {
    /// `--data-dir`: used alone, with no fallback.
    pub explicit_dir: Option<PathBuf>,
    /// `FASHION_MNIST_DIR`, then the project's `data/fashion-mnist/`, then Debian's folder.
    pub search_dirs: Vec<PathBuf>,
}

impl LocateOptions {
    /// The standard search order for a run from `project_root`.
    pub fn standard(
        explicit_dir: Option<PathBuf>,
        env_dir: Option<PathBuf>,
        project_root: &Path,
    ) -> Self {
        let mut search_dirs = Vec::new();
        search_dirs.extend(env_dir);
        search_dirs.push(project_root.join("data").join("fashion-mnist"));
        search_dirs.push(PathBuf::from("/usr/share/datasets/fashion-mnist"));
        Self {
            explicit_dir,
            search_dirs,
        }
    }

    fn candidates(&self) -> Vec<PathBuf> {
        match &self.explicit_dir {
            Some(dir) => vec![dir.clone()],
            None => self.search_dirs.clone(),
        }
    }
}

/// How the files were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileSource {
    Found,
    Downloaded,
}

/// A folder holding all four files, each as `.gz` or plain IDX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub dir: PathBuf,
    paths: [PathBuf; 4],
}

impl Located {
    pub fn path(&self, file: DataFile) -> PathBuf {
        let i = DataFile::ALL.iter().position(|f| *f == file).unwrap_or(0);
        self.paths[i].clone()
    }

    /// The files in `dir`, if all four are there.
    pub fn in_dir(dir: &Path) -> Option<Self> {
        let mut paths: Vec<PathBuf> = Vec::with_capacity(4);
        for file in DataFile::ALL {
            let gz = dir.join(file.gz_name());
            let plain = dir.join(file.idx_name());
            paths.push(if gz.is_file() {
                gz
            } else if plain.is_file() {
                plain
            } else {
                return None;
            });
        }
        let paths: [PathBuf; 4] = paths.try_into().ok()?;
        Some(Self {
            dir: dir.to_path_buf(),
            paths,
        })
    }
}

/// The first candidate folder holding all four files.
pub fn locate(options: &LocateOptions) -> Result<Located, DataError> {
    let candidates = options.candidates();
    for dir in &candidates {
        if let Some(found) = Located::in_dir(dir) {
            return Ok(found);
        }
    }
    Err(DataError::NotFound {
        searched: candidates
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        missing: DataFile::ALL
            .iter()
            .map(|f| f.gz_name())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch_all(dir: &Path, gz: bool) {
        for f in DataFile::ALL {
            let name = if gz { f.gz_name() } else { f.idx_name().into() };
            std::fs::write(dir.join(name), b"x").unwrap();
        }
    }

    #[test]
    fn explicit_dir_is_used_alone() {
        let good = tempfile::tempdir().unwrap();
        let empty = tempfile::tempdir().unwrap();
        touch_all(good.path(), true);
        let opts = LocateOptions {
            explicit_dir: Some(empty.path().into()),
            search_dirs: vec![good.path().into()],
        };
        let err = locate(&opts).unwrap_err().to_string();
        assert!(err.contains(&empty.path().display().to_string()), "{err}");
        assert!(!err.contains(&good.path().display().to_string()), "{err}");
    }

    #[test]
    fn search_order_takes_the_first_complete_folder() {
        let partial = tempfile::tempdir().unwrap();
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        std::fs::write(partial.path().join(DataFile::TrainImages.gz_name()), b"x").unwrap();
        touch_all(first.path(), false);
        touch_all(second.path(), true);
        let opts = LocateOptions {
            explicit_dir: None,
            search_dirs: vec![
                partial.path().into(),
                first.path().into(),
                second.path().into(),
            ],
        };
        let found = locate(&opts).unwrap();
        assert_eq!(found.dir, first.path());
        assert_eq!(
            found.path(DataFile::TestLabels),
            first.path().join("t10k-labels-idx1-ubyte")
        );
    }

    #[test]
    fn digest_of_known_bytes() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
