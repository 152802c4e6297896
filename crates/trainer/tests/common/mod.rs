//! Helpers shared by the end-to-end tests: the binary, its output, and small datasets the
//! tests write themselves.
// Each test file uses its own subset of these.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

pub fn trainer(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trainer"));
    cmd.current_dir(cwd)
        .env_remove("FASHION_MNIST_DIR")
        .stdin(Stdio::null());
    cmd
}

pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn installed(path: PathBuf, what: &str, package: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").ok().is_none_or(|v| v != "true"),
        "CI=true but {what} is missing from {}: install {package}",
        path.display()
    );
    eprintln!("skipping: {what} is not installed in {}", path.display());
    None
}

/// The real dataset, or `None` outside CI; in CI a missing dataset fails the test.
pub fn real_dataset() -> Option<PathBuf> {
    let dir = PathBuf::from(DEBIAN_DIR);
    installed(
        dir.join("t10k-labels-idx1-ubyte.gz"),
        "Fashion-MNIST",
        "dataset-fashion-mnist",
    )
    .map(|_| dir)
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

pub fn idx_images(count: usize, pixel: impl Fn(usize, usize) -> u8) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [0x803u32, count as u32, 28, 28] {
        v.extend(x.to_be_bytes());
    }
    for i in 0..count {
        v.extend((0..784).map(|p| pixel(i, p)));
    }
    v
}

pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [0x801u32, labels.len() as u32] {
        v.extend(x.to_be_bytes());
    }
    v.extend(labels);
    v
}

/// A small, learnable stand-in dataset (not the official digests): class k is an image of
/// brightness 25k with a little noise, which no crop or flip can confuse.
pub fn synthetic_dataset(dir: &Path, train: usize, test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let label = |i: usize| (i * 7 % 10) as u8;
    let pixel = |i: usize, p: usize| 25 * label(i) + ((i * 31 + p * 17) % 11) as u8;
    let files = [
        ("train-images-idx3-ubyte.gz", idx_images(train, pixel)),
        (
            "train-labels-idx1-ubyte.gz",
            idx_labels(&(0..train).map(label).collect::<Vec<_>>()),
        ),
        ("t10k-images-idx3-ubyte.gz", idx_images(test, pixel)),
        (
            "t10k-labels-idx1-ubyte.gz",
            idx_labels(&(0..test).map(label).collect::<Vec<_>>()),
        ),
    ];
    for (name, content) in files {
        std::fs::write(dir.join(name), gzip(&content)).unwrap();
    }
}
