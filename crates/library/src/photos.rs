//! Photo rows: finding a photo by its path, and what the library holds.

use std::path::Path;

use crate::db::OptionalExtension;

use super::{paths, Library, Result};

impl Library {
    /// Counts of what the library holds: images by status, faces, embeddings, people,
    /// confirmed labels.
    pub fn counts(&self) -> Result<Counts> {
        let q = |sql: &str| -> Result<i64> {
            self.conn
                .query_row(sql, [], |r| r.get(0))
                .map_err(|e| self.err(e))
        };
        Ok(Counts {
            images: q("SELECT count(*) FROM images WHERE status = 'done'")?,
            failed: q("SELECT count(*) FROM images WHERE status = 'failed'")?,
            missing: q("SELECT count(*) FROM images WHERE status = 'missing'")?,
            faces: q("SELECT count(*) FROM faces")?,
            embeddings: q("SELECT count(*) FROM embeddings")?,
            people: q("SELECT count(*) FROM people")?,
            confirmed: q("SELECT count(*) FROM labels WHERE state = 'confirmed'")?,
        })
    }

    /// The image row id of `path` (as stored: absolute), if scanned.
    pub fn image_id(&self, path: &Path) -> Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT id FROM images WHERE path_bytes = ?1",
                [paths::to_bytes(path)],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}

/// What the library holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Photos scanned with success.
    pub images: i64,
    /// Photos that failed (with a recorded reason).
    pub failed: i64,
    /// Photos no longer found where they were.
    pub missing: i64,
    /// Faces.
    pub faces: i64,
    /// Embeddings, over all models.
    pub embeddings: i64,
    /// People.
    pub people: i64,
    /// Confirmed labels.
    pub confirmed: i64,
}
