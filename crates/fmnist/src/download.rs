//! Fetching the official files when no local copy exists.

use crate::DataError;
use crate::files::{DataFile, Digest, ExpectedDigests, Located, read_decompressed};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where zalandoresearch/fashion-mnist's README says the files are served.
pub const DEFAULT_BASE_URL: &str = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com";

/// Told about each file as it arrives: name, bytes so far, total if the server said.
pub trait DownloadProgress {
    fn start(&mut self, file: &str, total: Option<u64>);
    fn advance(&mut self, bytes: u64);
    fn finish(&mut self);
}

/// Downloads the four files from `base_url` into `dir`, checks each one's content against
/// `expected` (unless `require_official` is false) and only then moves it into place, so a
/// failed or interrupted download never leaves a file that looks complete.
pub fn download_all(
    base_url: &str,
    dir: &Path,
    expected: &ExpectedDigests,
    require_official: bool,
    progress: &mut dyn DownloadProgress,
) -> Result<Located, DataError> {
    std::fs::create_dir_all(dir).map_err(|e| DataError::io(dir, e))?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(600)))
        .build()
        .into();
    for file in DataFile::ALL {
        let target = dir.join(file.gz_name());
        if target.is_file() {
            continue;
        }
        let url = format!("{}/{}", base_url.trim_end_matches('/'), file.gz_name());
        // Still a `.gz` name, so it is read back as one; never taken for the finished file.
        let partial = dir.join(format!("{}.part.gz", file.idx_name()));
        let result = fetch(&agent, &url, &partial, progress).and_then(|()| {
            let content = read_decompressed(&partial)?;
            let digest = Digest::of(file, &partial, &content, expected);
            if require_official && !digest.matches {
                return Err(DataError::DigestMismatch {
                    path: url.clone().into(),
                    expected: digest.expected.unwrap_or_default(),
                    actual: digest.sha256,
                });
            }
            std::fs::rename(&partial, &target).map_err(|e| DataError::io(&target, e))
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result?;
    }
    Located::in_dir(dir).ok_or_else(|| DataError::NotFound {
        searched: dir.display().to_string(),
        missing: "the files just downloaded".into(),
    })
}

fn fetch(
    agent: &ureq::Agent,
    url: &str,
    to: &PathBuf,
    progress: &mut dyn DownloadProgress,
) -> Result<(), DataError> {
    let failed = |reason: String| DataError::Download {
        url: url.to_string(),
        reason,
    };
    let mut response = agent.get(url).call().map_err(|e| failed(e.to_string()))?;
    let total = response.body().content_length();
    let name = url.rsplit('/').next().unwrap_or(url);
    progress.start(name, total);
    let mut reader = response.body_mut().as_reader();
    let mut out = std::fs::File::create(to).map_err(|e| DataError::io(to, e))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut buf).map_err(|e| failed(e.to_string()))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(|e| DataError::io(to, e))?;
        progress.advance(n as u64);
    }
    out.sync_all().map_err(|e| DataError::io(to, e))?;
    progress.finish();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idx::build::{self, gzip};
    use crate::sha256_hex;
    use std::collections::HashMap;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};

    /// A tiny HTTP/1.1 server on 127.0.0.1 serving `files`; answers 404 for anything else.
    /// It serves `requests` requests, then stops. Returns its base URL and a request log.
    fn serve(
        files: HashMap<String, Vec<u8>>,
        requests: usize,
    ) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let seen = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(requests) {
                let mut stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap() == 0 || header == "\r\n" {
                        break;
                    }
                }
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_string();
                seen.lock().unwrap().push(path.clone());
                let name = path.trim_start_matches('/');
                let (status, body) = match files.get(name) {
                    Some(body) => ("200 OK", body.clone()),
                    None => ("404 Not Found", b"no such file".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                stream.write_all(head.as_bytes()).unwrap();
                stream.write_all(&body).unwrap();
            }
        });
        (base, log)
    }

    struct Count(u64, usize);
    impl DownloadProgress for Count {
        fn start(&mut self, _: &str, _: Option<u64>) {}
        fn advance(&mut self, bytes: u64) {
            self.0 += bytes;
        }
        fn finish(&mut self) {
            self.1 += 1;
        }
    }

    /// Four small, valid files and the digests that make them "official" for the test.
    fn fixture() -> (HashMap<String, Vec<u8>>, ExpectedDigests) {
        let contents = [
            build::images(4, 28, 28, |i| i as u8),
            build::labels(&[1, 2, 3, 4]),
            build::images(2, 28, 28, |i| (i * 7) as u8),
            build::labels(&[5, 6]),
        ];
        let expected = ExpectedDigests {
            train_images: sha256_hex(&contents[0]),
            train_labels: sha256_hex(&contents[1]),
            test_images: sha256_hex(&contents[2]),
            test_labels: sha256_hex(&contents[3]),
        };
        let files = DataFile::ALL
            .iter()
            .zip(&contents)
            .map(|(f, c)| (f.gz_name(), gzip(c)))
            .collect();
        (files, expected)
    }

    #[test]
    fn downloads_verifies_and_loads_from_a_local_server() {
        let (files, expected) = fixture();
        let total: u64 = files.values().map(|v| v.len() as u64).sum();
        let (base, log) = serve(files, 4);
        let dir = tempfile::tempdir().unwrap();
        let mut progress = Count(0, 0);
        let located = download_all(&base, dir.path(), &expected, true, &mut progress).unwrap();
        assert_eq!(progress.0, total);
        assert_eq!(progress.1, 4);
        assert_eq!(log.lock().unwrap().len(), 4);
        let data = crate::FashionMnist::load(&located, &expected, true).unwrap();
        assert!(data.verified);
        assert_eq!(data.train_labels, vec![1, 2, 3, 4]);
        assert_eq!(data.test_images.count, 2);
        // No partial files are left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(names.iter().all(|n| !n.contains(".part")), "{names:?}");
    }

    #[test]
    fn rejects_a_file_whose_content_is_not_official() {
        let (files, mut expected) = fixture();
        expected.train_images = "0".repeat(64);
        let (base, _) = serve(files, 1);
        let dir = tempfile::tempdir().unwrap();
        let err = download_all(&base, dir.path(), &expected, true, &mut Count(0, 0)).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("train-images-idx3-ubyte.gz"), "{text}");
        assert!(text.contains("--allow-unverified-data"), "{text}");
        assert!(!dir.path().join("train-images-idx3-ubyte.gz").exists());
        assert!(!dir.path().join("train-images-idx3-ubyte.part.gz").exists());
    }

    #[test]
    fn reports_a_missing_file_on_the_server() {
        let (mut files, expected) = fixture();
        files.remove("t10k-images-idx3-ubyte.gz");
        let (base, _) = serve(files, 3);
        let dir = tempfile::tempdir().unwrap();
        let err = download_all(&base, dir.path(), &expected, true, &mut Count(0, 0)).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("t10k-images-idx3-ubyte.gz") && text.contains("404"),
            "{text}"
        );
        // The files that did arrive stay, so a retry fetches only what is missing.
        assert!(dir.path().join("train-images-idx3-ubyte.gz").is_file());
    }
}
