//! Finding a face's most similar faces, on either of two paths that give the same faces:
//!
//! - **Portable** (SQLite; PostgreSQL without pgvector, as Debian ships it): the vectors are
//!   read into memory and every one is compared ([`crate::search::Matrix`]), exactly.
//! - **pgvector** (a PostgreSQL server with the `vector` extension): each embedding is also
//!   stored as a `vector` in `embeddings.vec`, written beside its bytes in the same
//!   statement, and each model has an HNSW index (cosine) on it, built the first time that
//!   model is searched; the server then returns the nearest faces without reading them
//!   all. HNSW is approximate: [`EF_SEARCH`] says how many candidates it keeps, and
//!   `facelab faces similar --exact` compares every face instead.
//!
//! The extension is detected when the library opens (and created when the server has it
//! and the user may); nothing else in the library depends on it, the bytes stay the
//! library's record of every embedding, and a library copied or moved keeps working on
//! either path. Rows without a `vec` (stored before the extension was there, or by
//! `library copy`) are filled in before an index is built.

use serde::Serialize;

use crate::db::{self, Backend, OptionalExtension, Tx};
use crate::faces::{from_blob, to_blob};
use crate::identity::ModelKeys;
use crate::search::{dot, normalized, Matrix};
use crate::{Library, LibraryError, Result};

/// HNSW's candidate list per query (pgvector's `hnsw.ef_search`; at least the number of
/// faces asked for). pgvector's default is 40; this one is, by a stated rule, the
/// smallest of 40, 100, 200 and 400 that finds at least 95% of the exact top
/// 10 on a million faces of a synthetic photo library (50,000 people with 20 faces each;
/// `cargo bench -p facelab-benches --bench postgres -- hnsw`, which prints each one's
/// recall). The index is built with pgvector's defaults (m 16, ef_construction 64).
pub const EF_SEARCH: usize = 400;

/// pgvector's largest dimension an HNSW index takes; longer vectors are searched exactly.
const HNSW_MAX_DIM: usize = 2000;

/// How the library finds similar faces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "path", rename_all = "snake_case")]
pub enum VectorSearch {
    /// Vectors read into memory and compared in process.
    Portable {
        /// Why not pgvector, when the server has it.
        #[serde(skip_serializing_if = "Option::is_none")]
        why: Option<String>,
    },
    /// pgvector's HNSW indexes on the server.
    Pgvector {
        /// The extension's version.
        version: String,
    },
}

impl std::fmt::Display for VectorSearch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VectorSearch::Portable { why: None } => write!(f, "portable (exact, in process)"),
            VectorSearch::Portable { why: Some(w) } => {
                write!(f, "portable (exact, in process): {w}")
            }
            VectorSearch::Pgvector { version } => write!(f, "pgvector {version} (HNSW, cosine)"),
        }
    }
}

/// One face found similar, with its cosine similarity (fused: the mean of the models').
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Similar {
    /// Face id.
    pub face: i64,
    /// Cosine similarity to the query face.
    pub similarity: f32,
}

/// Detects pgvector on a PostgreSQL library (creating the extension when the server has it
/// and the user may) and adds `embeddings.vec` the first time. Says which path is in use.
pub(crate) fn setup(lib: &mut Library) -> Result<VectorSearch> {
    let portable = |why: Option<String>| Ok(VectorSearch::Portable { why });
    if lib.backend() != Backend::Postgres {
        return portable(None);
    }
    let version = |lib: &Library| -> Result<Option<String>> {
        lib.conn
            .query_row(
                "SELECT extversion FROM pg_extension WHERE extname = 'vector'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| lib.err(e))
    };
    let version = match version(lib)? {
        Some(v) => v,
        None => {
            let available: bool = lib
                .conn
                .query_row(
                    "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| lib.err(e))?;
            if !available {
                return portable(None);
            }
            // Another process opening the library may create it at the same moment.
            let created = lib.write(|tx| tx.execute_batch("CREATE EXTENSION IF NOT EXISTS vector"));
            match (version(lib)?, created) {
                (Some(v), _) => v,
                (None, Err(e)) => {
                    return portable(Some(format!(
                        "the server has pgvector, but creating the extension failed: {e} (help: a superuser runs `CREATE EXTENSION vector` in this database)"
                    )))
                }
                (None, Ok(())) => return portable(None),
            }
        }
    };
    let has_column: bool = lib
        .conn
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM information_schema.columns
               WHERE table_schema = current_schema() AND table_name = 'embeddings' AND column_name = 'vec')",
            [],
            |r| r.get(0),
        )
        .map_err(|e| lib.err(e))?;
    if !has_column {
        lib.write(|tx| {
            tx.execute_batch(
                "ALTER TABLE embeddings ADD COLUMN IF NOT EXISTS vec vector;
                 CREATE INDEX IF NOT EXISTS embeddings_vec_missing ON embeddings(model_id) WHERE vec IS NULL",
            )
        })?;
    }
    lib.conn.set_vec_column(true);
    Ok(VectorSearch::Pgvector { version })
}

/// Stores one embedding of `face` (replacing that model's vector it had), with its
/// `vector` beside the bytes where the library has pgvector.
pub(crate) fn store(
    tx: &Tx<'_>,
    face: i64,
    model: &str,
    values: &[f32],
    normalized: bool,
) -> db::Result<()> {
    let blob = to_blob(values);
    let dim = values.len() as i64;
    if tx.has_vec_column() && values.iter().all(|v| v.is_finite()) {
        tx.prepare_cached(
            "INSERT INTO embeddings(face_id, model_id, dim, normalized, vector, vec)
             VALUES (?1, ?2, ?3, ?4, ?5, CAST(?6 AS vector))
             ON CONFLICT(face_id, model_id) DO UPDATE SET dim = excluded.dim,
               normalized = excluded.normalized, vector = excluded.vector, vec = excluded.vec",
        )?
        .execute(crate::params![face, model, dim, normalized, &blob, &blob])?;
    } else {
        tx.prepare_cached(
            "INSERT INTO embeddings(face_id, model_id, dim, normalized, vector) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(face_id, model_id) DO UPDATE SET dim = excluded.dim,
               normalized = excluded.normalized, vector = excluded.vector",
        )?
        .execute(crate::params![face, model, dim, normalized, &blob])?;
    }
    Ok(())
}

/// Writes the `vec` of every embedding that has none (stored before the extension was
/// there, or copied in); the number written. Vectors with a non-finite value, which
/// pgvector refuses, stay without one and are found on the portable path only.
pub(crate) fn fill_missing(tx: &Tx<'_>) -> db::Result<usize> {
    if !tx.has_vec_column() {
        return Ok(0);
    }
    let rows: Vec<(i64, String, Vec<u8>)> = tx
        .prepare("SELECT face_id, model_id, vector FROM embeddings WHERE vec IS NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<db::Result<_>>()?;
    let mut update = tx.prepare(
        "UPDATE embeddings SET vec = CAST(?3 AS vector) WHERE face_id = ?1 AND model_id = ?2",
    )?;
    let mut n = 0;
    for (face, model, blob) in rows {
        if from_blob(&blob).iter().all(|v| v.is_finite()) {
            n += update.execute(crate::params![face, &model, &blob])?;
        }
    }
    Ok(n)
}

/// `s` as an SQL string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The name of the HNSW index of `model`'s `dim`-long vectors.
fn index_name(model: &str, dim: usize) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(model.as_bytes());
    let hex: String = h[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("embeddings_hnsw_{dim}_{hex}")
}

impl Library {
    /// How this library finds similar faces.
    pub fn vector_search(&self) -> &VectorSearch {
        &self.vector_search
    }

    /// Sets HNSW's candidate list per query ([`EF_SEARCH`] until set): larger finds more
    /// of the exact answer and takes longer.
    pub fn set_ef_search(&mut self, ef: usize) {
        self.ef_search = ef.max(1);
    }

    /// Builds the HNSW index of `model`'s `dim`-long vectors unless it exists (filling in
    /// missing `vec`s first). Once per model; on a large library it takes a while, and
    /// writers wait for it. `false` when the library has no pgvector or the vectors are
    /// too long for HNSW.
    pub fn hnsw_index(&mut self, model: &str, dim: usize) -> Result<bool> {
        if !self.conn.has_vec_column() || dim == 0 || dim > HNSW_MAX_DIM {
            return Ok(false);
        }
        let name = index_name(model, dim);
        let exists = |lib: &Library| -> Result<bool> {
            lib.conn
                .query_row("SELECT to_regclass(?1) IS NOT NULL", [&name], |r| r.get(0))
                .map_err(|e| lib.err(e))
        };
        if exists(self)? {
            return Ok(true);
        }
        self.write(|tx| {
            fill_missing(tx)?;
            tx.execute_batch(&format!(
                "SET LOCAL maintenance_work_mem = '2GB';
                 CREATE INDEX IF NOT EXISTS {name} ON embeddings
                   USING hnsw ((CAST(vec AS vector({dim}))) vector_cosine_ops)
                   WHERE model_id = {} AND dim = {dim}",
                literal(model)
            ))
        })?;
        Ok(true)
    }

    /// The `k` faces most similar to face `face` under the models `keys` (fused: by the
    /// mean of their cosines), best first, the face itself left out. On pgvector the
    /// server's HNSW indexes find them (unless `exact`); else every stored vector is
    /// compared. Also says which path answered.
    pub fn similar_faces(
        &mut self,
        keys: &ModelKeys,
        face: i64,
        k: usize,
        exact: bool,
    ) -> Result<(Vec<Similar>, VectorSearch)> {
        let query = self.fused_vectors(keys, Some(&[face]))?;
        let Some(q) = query.get(face).map(normalized) else {
            return Err(LibraryError::Conflict(format!(
                "face {face} has no embedding of {} (help: `facelab faces` lists faces; `facelab scan` embeds them with the configured recognizer)",
                keys.members().join(" + ")
            )));
        };
        let used = self.vector_search.clone();
        if !exact && matches!(used, VectorSearch::Pgvector { .. }) {
            if let Some(found) = self.similar_hnsw(keys, face, &q, k)? {
                return Ok((found, used));
            }
        }
        let all = self.fused_vectors(keys, None)?;
        let mut ids: Vec<i64> = all.ids().collect();
        ids.sort_unstable();
        let mut m = Matrix::new(q.len());
        for id in ids {
            if let Some(v) = all.get(id) {
                m.push(id, v);
            }
        }
        let found = m
            .top_k(&q, k + 1)
            .into_iter()
            .map(|(row, s)| Similar {
                face: m.ids[row],
                similarity: s,
            })
            .filter(|s| s.face != face)
            .take(k)
            .collect();
        Ok((found, VectorSearch::Portable { why: None }))
    }

    /// The HNSW answer: each model's nearest faces from its index, then (fused) the union
    /// ranked by the fused similarity. `None` when a model cannot use an index.
    fn similar_hnsw(
        &mut self,
        keys: &ModelKeys,
        face: i64,
        q: &[f32],
        k: usize,
    ) -> Result<Option<Vec<Similar>>> {
        let fused = keys.members().len() > 1;
        // Each model's candidates: the k asked for, more when they are re-ranked.
        let want = if fused { (4 * k).max(40) } else { k + 1 };
        let ef = self.ef_search.max(want);
        self.conn
            .execute_batch(&format!("SET hnsw.ef_search = {ef}"))
            .map_err(|e| self.err(e))?;
        let mut candidates: Vec<(i64, f32)> = Vec::new();
        for key in keys.members() {
            let own: Option<Vec<u8>> = self
                .conn
                .query_row(
                    "SELECT vector FROM embeddings WHERE face_id = ?1 AND model_id = ?2",
                    crate::params![face, key],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            let Some(own) = own else { continue };
            let dim = own.len() / 4;
            if !self.hnsw_index(key, dim)? {
                return Ok(None);
            }
            let sql = format!(
                "SELECT face_id, 1 - (CAST(vec AS vector({dim})) <=> CAST(?1 AS vector({dim})))
                 FROM embeddings WHERE model_id = {} AND dim = {dim}
                 ORDER BY CAST(vec AS vector({dim})) <=> CAST(?1 AS vector({dim})) LIMIT ?2",
                literal(key)
            );
            let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
            let rows = stmt
                .query_map(crate::params![&own, want as i64], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, f64>(1)? as f32))
                })
                .and_then(|rows| rows.collect::<db::Result<Vec<_>>>())
                .map_err(|e| self.err(e))?;
            candidates.extend(rows);
        }
        if !fused {
            candidates.retain(|(id, _)| *id != face);
            candidates.truncate(k);
            let found = candidates
                .into_iter()
                .map(|(face, similarity)| Similar { face, similarity })
                .collect();
            return Ok(Some(found));
        }
        let mut ids: Vec<i64> = candidates.into_iter().map(|(id, _)| id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.retain(|id| *id != face);
        let vectors = self.fused_vectors(keys, Some(&ids))?;
        let mut found: Vec<Similar> = ids
            .iter()
            .filter_map(|&id| {
                vectors.get(id).map(|v| Similar {
                    face: id,
                    similarity: dot(q, &normalized(v)),
                })
            })
            .collect();
        found.sort_by(|a, b| {
            b.similarity
                .total_cmp(&a.similarity)
                .then(a.face.cmp(&b.face))
        });
        found.truncate(k);
        Ok(Some(found))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_key_is_quoted_and_named_safely() {
        assert_eq!(literal("a'b"), "'a''b'");
        let n = index_name("onnx-runtime:embed:it's", 128);
        assert!(
            n.starts_with("embeddings_hnsw_128_") && n.len() == 32,
            "{n}"
        );
        assert!(n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    }
}
