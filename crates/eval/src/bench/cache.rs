//! The bench cache: detections and embeddings per pipeline and data set, so an interrupted
//! run resumes where it stopped (`--resume`).
//!
//! One JSON Lines file per pipeline and data set, `DIR/cache/<pipeline>/<set>-<key>.jsonl`:
//! a header line, then one record per image, flushed in small batches. The key is a sha256
//! over everything that can change a record: the pipeline's table as written, the plugin
//! versions, every model file's sha256 and the task's detector overrides. Each record carries
//! its image's path and size, and is reused only while the file at that path has that size,
//! so a changed data file list (another subset, a task turned on) reuses what still applies.
//! A truncated last line (the run was killed mid-write) is dropped on the next run.

use std::collections::HashMap;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Version of the record layout; part of every key.
const LAYOUT: u32 = 3;

/// Records are flushed to disk after this many.
const FLUSH_EVERY: usize = 50;

/// A sha256 key built from labelled parts.
#[derive(Default)]
pub struct KeyBuilder(Sha256);

impl KeyBuilder {
    /// Adds one labelled part.
    pub fn part(mut self, label: &str, value: &str) -> Self {
        self.0.update(label.as_bytes());
        self.0.update([0]);
        self.0.update(value.as_bytes());
        self.0.update([0]);
        self
    }

    /// The key, lowercase hex.
    pub fn finish(self) -> String {
        let digest = self.part("layout", &LAYOUT.to_string()).0.finalize();
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// One cache file: the records already there, and a writer for new ones.
pub struct CacheFile<R> {
    path: PathBuf,
    known: HashMap<String, (u64, R)>,
    /// `None` for a cache that lives in memory only (a single `eval-*` run).
    writer: Option<BufWriter<std::fs::File>>,
    pending: usize,
}

impl<R: Serialize + DeserializeOwned + Clone> CacheFile<R> {
    /// Opens `dir/<set>-<key>.jsonl`. With `resume`, the valid records already there are
    /// kept (and the file rewritten without a broken tail); without, it starts empty.
    pub fn open(dir: &Path, set: &str, key: &str, resume: bool) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the bench cache folder {}", dir.display()))?;
        let path = dir.join(format!("{set}-{}.jsonl", &key[..16]));
        let mut records: Vec<(String, u64, R)> = Vec::new();
        if resume {
            if let Ok(file) = std::fs::File::open(&path) {
                let mut lines = std::io::BufReader::new(file).lines();
                let header_ok = lines
                    .next()
                    .and_then(|l| l.ok())
                    .and_then(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
                    .is_some_and(|h| h["key"] == key);
                if header_ok {
                    for line in lines.map_while(Result::ok) {
                        if let Ok(r) = serde_json::from_str::<Record<R>>(&line) {
                            records.push((r.path, r.size, r.value));
                        }
                    }
                }
            }
        }
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot write the bench cache file {}", path.display()))?;
        let mut writer = BufWriter::new(file);
        writeln!(
            writer,
            "{}",
            serde_json::json!({"facelab_bench_cache": LAYOUT, "set": set, "key": key})
        )?;
        for (path, size, value) in &records {
            serde_json::to_writer(
                &mut writer,
                &RecordRef {
                    path,
                    size: *size,
                    value,
                },
            )?;
            writeln!(writer)?;
        }
        writer.flush()?;
        Ok(CacheFile {
            path,
            known: records
                .into_iter()
                .map(|(path, size, value)| (path, (size, value)))
                .collect(),
            writer: Some(writer),
            pending: 0,
        })
    }

    /// A cache that keeps records in memory only: the `eval-*` commands run a task once and
    /// have nothing to resume.
    pub fn in_memory() -> Self {
        CacheFile {
            path: PathBuf::new(),
            known: HashMap::new(),
            writer: None,
            pending: 0,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records already cached.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }

    /// The cached record of `path`, if the file still has the size it had then.
    pub fn get(&self, path: &Path) -> Option<&R> {
        let (size, value) = self.known.get(&path.display().to_string())?;
        (file_size(path) == *size).then_some(value)
    }

    /// Stores the record of `path`.
    pub fn put(&mut self, path: &Path, value: R) -> anyhow::Result<()> {
        let key = path.display().to_string();
        let size = file_size(path);
        if let Some(writer) = self.writer.as_mut() {
            serde_json::to_writer(
                &mut *writer,
                &RecordRef {
                    path: &key,
                    size,
                    value: &value,
                },
            )?;
            writeln!(writer)?;
            self.pending += 1;
            if self.pending >= FLUSH_EVERY {
                writer.flush()?;
                self.pending = 0;
            }
        }
        self.known.insert(key, (size, value));
        Ok(())
    }

    /// Writes what is pending.
    pub fn flush(&mut self) -> anyhow::Result<()> {
        match self.writer.as_mut() {
            Some(w) => w
                .flush()
                .with_context(|| format!("cannot write {}", self.path.display())),
            None => Ok(()),
        }
    }
}

impl<R> Drop for CacheFile<R> {
    fn drop(&mut self) {
        if let Some(w) = self.writer.as_mut() {
            let _ = w.flush();
        }
    }
}

/// The size of a file, 0 when it cannot be read.
fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[derive(serde::Deserialize)]
struct Record<R> {
    path: String,
    size: u64,
    #[serde(flatten)]
    value: R,
}

#[derive(Serialize)]
struct RecordRef<'a, R> {
    path: &'a str,
    size: u64,
    #[serde(flatten)]
    value: &'a R,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
    struct Rec {
        v: Vec<f32>,
    }

    #[test]
    fn resume_keeps_valid_records_and_drops_a_broken_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.jpg"), dir.path().join("b.jpg"));
        std::fs::write(&a, b"aa").unwrap();
        std::fs::write(&b, b"bbb").unwrap();
        let key = KeyBuilder::default().part("p", "x").finish();
        {
            let mut c = CacheFile::<Rec>::open(dir.path(), "set", &key, false).unwrap();
            c.put(&a, Rec { v: vec![1.0, 2.0] }).unwrap();
            c.put(&b, Rec { v: vec![3.0] }).unwrap();
        }
        // A killed run leaves half a line.
        let path = dir.path().join(format!("set-{}.jsonl", &key[..16]));
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        write!(f, "{{\"path\":\"c.jpg\",\"size\":3,\"v\":[1.").unwrap();
        drop(f);
        let c = CacheFile::<Rec>::open(dir.path(), "set", &key, true).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&b), Some(&Rec { v: vec![3.0] }));
        drop(c);
        // A file that changed size is computed again.
        std::fs::write(&b, b"bbbb").unwrap();
        let c = CacheFile::<Rec>::open(dir.path(), "set", &key, true).unwrap();
        assert!(c.get(&a).is_some() && c.get(&b).is_none());
        drop(c);
        // Without --resume, or with another key, nothing is reused.
        let other = KeyBuilder::default().part("p", "y").finish();
        assert!(CacheFile::<Rec>::open(dir.path(), "set", &other, true)
            .unwrap()
            .is_empty());
        assert!(CacheFile::<Rec>::open(dir.path(), "set", &key, false)
            .unwrap()
            .is_empty());
    }
}
