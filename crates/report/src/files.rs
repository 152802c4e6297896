//! Atomic file writes: a temporary file in the same folder, synced, then renamed over the
//! target, so a killed run leaves the previous version intact, never half a file.

use std::io::Write;
use std::path::{Path, PathBuf};

/// `dir/.NAME.PID.tmp.EXT`: hidden, unique to this process, and with the target's extension
/// (writers that pick a format from it still work).
pub fn temporary_sibling(path: &Path) -> PathBuf {
    let stem = path.file_stem().and_then(|n| n.to_str()).unwrap_or("file");
    let name = match path.extension().and_then(|e| e.to_str()) {
        Some(ext) => format!(".{stem}.{}.tmp.{ext}", std::process::id()),
        None => format!(".{stem}.{}.tmp", std::process::id()),
    };
    path.with_file_name(name)
}

/// Writes `bytes` to `path` atomically, creating the folder if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = temporary_sibling(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("a.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("a.json")]);
        assert!(
            temporary_sibling(&path)
                .to_string_lossy()
                .ends_with(".tmp.json")
        );
    }

    #[test]
    fn failure_names_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        // A folder where the file should go: the rename fails.
        let path = dir.path().join("taken");
        std::fs::create_dir_all(path.join("inner")).unwrap();
        assert!(write_atomic(&path, b"x").is_err());
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "only the folder remains");
    }
}
