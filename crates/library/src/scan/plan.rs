//! Planning a scan: walk the folders and compare each file with the library, without
//! decoding anything.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::{Filter, Gone, Item, Plan, ScanOptions, WalkError, Work};
use crate::{paths, Library, Result};

/// A file's modification time in ns since the epoch, as the library stores it.
pub(crate) fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

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
/// vanished. `detector` is the active detector's key; `model` the active recognizer's id.
/// Folders that cannot be read are listed in [`Plan::walk_errors`], and the photos stored
/// under them are left alone (not marked missing): an unreadable folder is not a deletion.
pub fn plan(
    lib: &Library,
    roots: &[PathBuf],
    opts: &ScanOptions,
    detector: &str,
    model: Option<&str>,
) -> Result<Plan> {
    let filter = Filter::new(opts)?;
    let mut known: HashMap<Vec<u8>, Known> = HashMap::new();
    let mut missing = Vec::new();
    {
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
    }
    let lacking: HashSet<i64> = match model {
        None => HashSet::new(),
        Some(model) => {
            let mut stmt = lib
                .conn
                .prepare(
                    "SELECT DISTINCT f.image_id FROM faces f
                     WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.face_id = f.id AND e.model_id = ?1)
                       AND (f.origin <> 'detected' OR f.h >= ?2)",
                )
                .map_err(|e| lib.err(e))?;
            let ids = stmt
                .query_map(rusqlite::params![model, opts.embed_min_height], |r| {
                    r.get(0)
                })
                .and_then(|r| r.collect::<rusqlite::Result<HashSet<i64>>>())
                .map_err(|e| lib.err(e))?;
            ids
        }
    };
    // Photos with faces an older facelab stored without a quality: measured on this scan.
    let unassessed: HashSet<i64> = {
        let mut stmt = lib
            .conn
            .prepare("SELECT DISTINCT image_id FROM faces WHERE quality IS NULL")
            .map_err(|e| lib.err(e))?;
        let ids = stmt
            .query_map([], |r| r.get(0))
            .and_then(|r| r.collect::<rusqlite::Result<HashSet<i64>>>())
            .map_err(|e| lib.err(e))?;
        ids
    };
    let mut out = Plan {
        missing,
        ..Plan::default()
    };
    // Keyed by the exact bytes: two names that differ only in bytes that are not UTF-8 are
    // two files.
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut abs_roots = Vec::new();
    let mut unreadable: Vec<PathBuf> = Vec::new();
    for root in roots {
        let root = match std::fs::canonicalize(root) {
            Ok(r) => r,
            Err(e) => {
                out.walk_errors.push(WalkError {
                    path: paths::display_path(root),
                    error: format!(
                        "{}: cannot read: {e} (help: check that the folder exists and is readable)",
                        paths::display_path(root)
                    ),
                });
                continue;
            }
        };
        out.roots_read += 1;
        abs_roots.push(root.clone());
        let walk = walkdir::WalkDir::new(&root).sort_by_file_name();
        for entry in walk {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let at = e.path().map(Path::to_owned).unwrap_or_else(|| root.clone());
                    out.walk_errors.push(WalkError {
                        path: paths::display_path(&at),
                        error: format!(
                            "{}: cannot read: {} (help: check its permissions; the photos already stored under it are kept)",
                            paths::display_path(&at),
                            e.io_error().map_or_else(|| e.to_string(), |io| io.to_string())
                        ),
                    });
                    unreadable.push(at);
                    continue;
                }
            };
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = entry.path().strip_prefix(&root).unwrap_or(entry.path());
            if !filter.takes(rel) {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) => {
                    let at = paths::display_path(entry.path());
                    out.walk_errors.push(WalkError {
                        error: format!("{at}: cannot stat: {e} (help: check its permissions)"),
                        path: at,
                    });
                    continue;
                }
            };
            let path = entry.path().to_owned();
            let key = paths::to_bytes(&path);
            if !seen.insert(key.clone()) {
                continue;
            }
            let (size, mtime) = (meta.len(), mtime_ns(&meta));
            let item = |work, k: Option<&Known>| Item {
                path: path.clone(),
                size,
                mtime_ns: mtime,
                work,
                id: k.map(|k| k.id),
                hash: k.and_then(|k| k.hash.clone()),
                revision: k.map(|k| k.revision),
            };
            match known.get(&key) {
                None => out.items.push(item(Work::New, None)),
                Some(k)
                    if k.size != size as i64 || k.mtime_ns != mtime || k.status == "missing" =>
                {
                    out.items.push(item(Work::Changed, Some(k)))
                }
                Some(k) if k.status == "failed" => {
                    if opts.retry_failed {
                        out.items.push(item(Work::Retry, Some(k)))
                    } else {
                        out.unchanged += 1
                    }
                }
                Some(k) if opts.redetect || k.detector.as_deref() != Some(detector) => {
                    out.items.push(item(Work::Redetect, Some(k)))
                }
                Some(k) if lacking.contains(&k.id) => out.items.push(item(Work::Embed, Some(k))),
                Some(k) if unassessed.contains(&k.id) => {
                    out.items.push(item(Work::Quality, Some(k)))
                }
                Some(_) => out.unchanged += 1,
            }
        }
    }
    for (path, k) in &known {
        let p = paths::from_bytes(path);
        if k.status != "missing"
            && !seen.contains(path)
            && abs_roots.iter().any(|r| p.starts_with(r))
            && !unreadable.iter().any(|u| p.starts_with(u))
        {
            out.vanished.push(gone(k, path));
        }
    }
    out.vanished.sort_by_key(|g| g.id);
    Ok(out)
}

fn gone(k: &Known, path: &[u8]) -> Gone {
    Gone {
        id: k.id,
        path: path.to_vec(),
        hash: k.hash.clone(),
        revision: k.revision,
    }
}
