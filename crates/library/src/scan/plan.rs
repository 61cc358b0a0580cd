//! Planning a scan: walk the folders and compare each file with the library, without
//! decoding anything.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::{Filter, Gone, Item, Plan, ScanOptions, WalkError, Work};
use crate::identity::ModelKeys;
use crate::{paths, Library, Result};

/// A file's modification time in ns since the epoch, as the library stores it.
pub(crate) fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Every photo row, by its path's bytes.
type KnownByPath = HashMap<Vec<u8>, Known>;

struct Known {
    id: i64,
    size: i64,
    mtime_ns: i64,
    status: String,
    detector: Option<String>,
    hash: Option<String>,
    revision: i64,
}

/// Walks `roots` and compares with the library: what needs work, what is unchanged, what
/// vanished. `detector` is the active detector's key; `models` the active recognizer's.
/// Folders that cannot be read are listed in [`Plan::walk_errors`], and the photos stored
/// under them are left alone (not marked missing): an unreadable folder is not a deletion.
pub fn plan(
    lib: &Library,
    roots: &[PathBuf],
    opts: &ScanOptions,
    detector: &str,
    models: Option<&ModelKeys>,
) -> Result<Plan> {
    let filter = Filter::new(opts)?;
    let (known, missing) = known(lib)?;
    let snapshot = Snapshot {
        known,
        lacking: match models {
            None => HashSet::new(),
            Some(models) => lacking(lib, models, opts.embed_min_height)?,
        },
        unassessed: unassessed(lib)?,
    };
    let mut walk = Walk {
        filter,
        snapshot: &snapshot,
        opts,
        detector,
        out: Plan {
            missing,
            ..Plan::default()
        },
        seen: HashSet::new(),
        abs_roots: Vec::new(),
        unreadable: Vec::new(),
    };
    for root in roots {
        walk.root(root);
    }
    Ok(walk.finish())
}

/// What the library holds, read once before the walk: the snapshot a scan plans from.
struct Snapshot {
    known: KnownByPath,
    /// Photos with faces that lack an embedding of a model of the active recognizer (and
    /// should have one).
    lacking: HashSet<i64>,
    /// Photos with faces an older facelab stored without a quality: measured on this scan.
    unassessed: HashSet<i64>,
}

impl Snapshot {
    /// Why the file at `key` (now `size` bytes, modified at `mtime`) needs work, with its
    /// row; `None` when it is unchanged.
    fn work<'s>(
        &'s self,
        key: &[u8],
        size: u64,
        mtime: i64,
        opts: &ScanOptions,
        detector: &str,
    ) -> Option<(Work, Option<&'s Known>)> {
        let Some(k) = self.known.get(key) else {
            return Some((Work::New, None));
        };
        let work = if k.size != size as i64 || k.mtime_ns != mtime || k.status == "missing" {
            Work::Changed
        } else if k.status == "failed" {
            if !opts.retry_failed {
                return None;
            }
            Work::Retry
        } else if opts.redetect || k.detector.as_deref() != Some(detector) {
            Work::Redetect
        } else if self.lacking.contains(&k.id) {
            Work::Embed
        } else if self.unassessed.contains(&k.id) {
            Work::Quality
        } else {
            return None;
        };
        Some((work, Some(k)))
    }
}

/// Every photo row by its path's bytes, and the ones marked missing (in row order).
fn known(lib: &Library) -> Result<(KnownByPath, Vec<Gone>)> {
    let mut known = KnownByPath::new();
    let mut missing = Vec::new();
    let mut stmt = lib
        .conn
        .prepare(
            "SELECT id, path_bytes, size, mtime_ns, status, detector, hash, revision FROM images",
        )
        .map_err(|e| lib.err(e))?;
    let mut rows = stmt.query([]).map_err(|e| lib.err(e))?;
    while let Some(r) = rows.next().map_err(|e| lib.err(e))? {
        let path: Vec<u8> = r.get(1).map_err(|e| lib.err(e))?;
        let k = Known {
            id: r.get(0).map_err(|e| lib.err(e))?,
            size: r.get(2).map_err(|e| lib.err(e))?,
            mtime_ns: r.get(3).map_err(|e| lib.err(e))?,
            status: r.get(4).map_err(|e| lib.err(e))?,
            detector: r.get(5).map_err(|e| lib.err(e))?,
            hash: r.get(6).map_err(|e| lib.err(e))?,
            revision: r.get(7).map_err(|e| lib.err(e))?,
        };
        if k.status == "missing" {
            missing.push(gone(&k, &path));
        }
        known.insert(path, k);
    }
    Ok((known, missing))
}

/// Photos with a face that has no embedding of some model of `models` (a model added to a
/// fused recognizer makes every photo lacking): faces the user made, and detected faces at
/// least `embed_min_height` tall.
fn lacking(lib: &Library, models: &ModelKeys, embed_min_height: f32) -> Result<HashSet<i64>> {
    let mut stmt = lib
        .conn
        .prepare(
            "SELECT DISTINCT f.image_id FROM faces f
                     WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.face_id = f.id AND e.model_id = ?1)
                       AND (f.origin <> 'detected' OR f.h >= ?2)",
        )
        .map_err(|e| lib.err(e))?;
    let mut ids = HashSet::new();
    for model in models.members() {
        let rows = stmt
            .query_map(crate::params![model, embed_min_height], |r| r.get(0))
            .and_then(|r| r.collect::<crate::db::Result<Vec<i64>>>())
            .map_err(|e| lib.err(e))?;
        ids.extend(rows);
    }
    Ok(ids)
}

/// Photos with faces an older facelab stored without a quality.
fn unassessed(lib: &Library) -> Result<HashSet<i64>> {
    let mut stmt = lib
        .conn
        .prepare("SELECT DISTINCT image_id FROM faces WHERE quality IS NULL")
        .map_err(|e| lib.err(e))?;
    let ids = stmt
        .query_map([], |r| r.get(0))
        .and_then(|r| r.collect::<crate::db::Result<HashSet<i64>>>())
        .map_err(|e| lib.err(e))?;
    Ok(ids)
}

/// The walk over a scan's folders, building its plan.
struct Walk<'a> {
    filter: Filter,
    snapshot: &'a Snapshot,
    opts: &'a ScanOptions,
    detector: &'a str,
    out: Plan,
    /// Keyed by the exact bytes: two names that differ only in bytes that are not UTF-8 are
    /// two files.
    seen: HashSet<Vec<u8>>,
    /// The folders walked, canonical.
    abs_roots: Vec<PathBuf>,
    /// Folders (or entries) below them that could not be read.
    unreadable: Vec<PathBuf>,
}

impl Walk<'_> {
    /// Walks one folder named by the user, in file-name order.
    fn root(&mut self, root: &Path) {
        let root = match std::fs::canonicalize(root) {
            Ok(r) => r,
            Err(e) => {
                self.out.walk_errors.push(WalkError {
                    path: paths::display_path(root),
                    error: format!(
                        "{}: cannot read: {e} (help: check that the folder exists and is readable)",
                        paths::display_path(root)
                    ),
                });
                return;
            }
        };
        self.out.roots_read += 1;
        self.abs_roots.push(root.clone());
        for entry in walkdir::WalkDir::new(&root).sort_by_file_name() {
            match entry {
                Ok(entry) => self.entry(&root, &entry),
                Err(e) => {
                    let at = e.path().map(Path::to_owned).unwrap_or_else(|| root.clone());
                    self.out.walk_errors.push(WalkError {
                        path: paths::display_path(&at),
                        error: format!(
                            "{}: cannot read: {} (help: check its permissions; the photos already stored under it are kept)",
                            paths::display_path(&at),
                            e.io_error().map_or_else(|| e.to_string(), |io| io.to_string())
                        ),
                    });
                    self.unreadable.push(at);
                }
            }
        }
    }

    /// One entry of the walk below `root`: a file the filter takes is compared with the
    /// library, and planned or counted as unchanged.
    fn entry(&mut self, root: &Path, entry: &walkdir::DirEntry) {
        if !entry.file_type().is_file() {
            return;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        if !self.filter.takes(rel) {
            return;
        }
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) => {
                let at = paths::display_path(entry.path());
                self.out.walk_errors.push(WalkError {
                    error: format!("{at}: cannot stat: {e} (help: check its permissions)"),
                    path: at,
                });
                return;
            }
        };
        let path = entry.path().to_owned();
        let key = paths::to_bytes(&path);
        if !self.seen.insert(key.clone()) {
            return;
        }
        let (size, mtime) = (meta.len(), mtime_ns(&meta));
        match self
            .snapshot
            .work(&key, size, mtime, self.opts, self.detector)
        {
            None => self.out.unchanged += 1,
            Some((work, k)) => self.out.items.push(Item {
                source: None,
                job: None,
                path,
                size,
                mtime_ns: mtime,
                work,
                id: k.map(|k| k.id),
                hash: k.and_then(|k| k.hash.clone()),
                revision: k.map(|k| k.revision),
            }),
        }
    }

    /// The plan, with the stored photos under the walked folders that were not found (those
    /// under a folder that could not be read are left alone).
    fn finish(mut self) -> Plan {
        for (path, k) in &self.snapshot.known {
            let p = paths::from_bytes(path);
            if k.status != "missing"
                && !self.seen.contains(path)
                && self.abs_roots.iter().any(|r| p.starts_with(r))
                && !self.unreadable.iter().any(|u| p.starts_with(u))
            {
                self.out.vanished.push(gone(k, path));
            }
        }
        self.out.vanished.sort_by_key(|g| g.id);
        self.out
    }
}

fn gone(k: &Known, path: &[u8]) -> Gone {
    Gone {
        id: k.id,
        path: path.to_vec(),
        hash: k.hash.clone(),
        revision: k.revision,
    }
}
