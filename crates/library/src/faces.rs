//! Faces as listed and exported: each with its photo, box, quality, labels and the models
//! it has embeddings for; the vectors faces compare by (each model's embedding fused over
//! the recognizer's models); and the little-endian f32 blobs vectors are stored as.

use std::collections::HashMap;

use crate::db::OptionalExtension;
use facelab_engine::quality::Quality;

use super::identity::{fuse, ModelKeys};
use super::{Library, Result};

/// The vectors faces compare by: each face's fused vector over the recognizer's models
/// ([`fuse`]), for every face with an embedding of at least one of them. With one model it
/// is that model's embedding, L2-normalised.
#[derive(Debug, Default)]
pub struct FusedVectors {
    vectors: HashMap<i64, Vec<f32>>,
    /// The fused dimension: the sum of the models' dimensions.
    pub dim: usize,
}

/// Each face's vector of each model (`None`: it has none), by face id.
type Parts = HashMap<i64, Vec<Option<Vec<f32>>>>;

impl FusedVectors {
    /// The fused vectors of `parts`, the models having dimensions `dims`; a face with no
    /// vector of its model's dimension is left out.
    fn of_parts(parts: Parts, dims: &[usize]) -> FusedVectors {
        let usable = |(v, d): (&Option<Vec<f32>>, &usize)| {
            *d > 0 && v.as_ref().is_some_and(|v| v.len() == *d)
        };
        let vectors = parts
            .into_iter()
            .filter(|(_, p)| p.iter().zip(dims).any(usable))
            .map(|(face, p)| {
                let refs: Vec<Option<&[f32]>> = p.iter().map(Option::as_deref).collect();
                (face, fuse(&refs, dims))
            })
            .collect();
        FusedVectors {
            vectors,
            dim: dims.iter().sum(),
        }
    }

    /// Face `face`'s vector, taken out.
    pub fn take(&mut self, face: i64) -> Option<Vec<f32>> {
        self.vectors.remove(&face)
    }

    /// The faces it holds a vector of, in no order.
    pub fn ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.vectors.keys().copied()
    }

    /// Face `face`'s vector.
    pub fn get(&self, face: i64) -> Option<&[f32]> {
        self.vectors.get(&face).map(Vec::as_slice)
    }
}

/// A face with its photo and label, for listings and export.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FaceRow {
    /// Face id (what `tag`, `confirm`, `reject` take).
    pub id: i64,
    /// The photo's path, for display: exact when `path_utf8`, else with each byte that is
    /// not UTF-8 written as `\xNN`.
    pub path: String,
    /// Whether the file name is valid UTF-8 (`path` is then the exact name).
    pub path_utf8: bool,
    /// Box in upright-photo pixels: x, y, width, height.
    pub bbox: [f32; 4],
    /// Detector confidence.
    pub score: f32,
    /// Its quality ([`facelab_engine::quality`]): the components and their product, `score`.
    /// `None` for a face stored before facelab measured quality, until the next scan of
    /// its folder; such a face passes `library.min_quality`.
    pub quality: Option<Quality>,
    /// The detector key (`plugin:kind:model`) that found it.
    pub detector: String,
    /// Confirmed person, if any.
    pub person: Option<String>,
    /// Pending suggestion (person, score), if any.
    pub suggestion: Option<(String, f32)>,
    /// People this face was rejected for.
    pub rejected: Vec<String>,
    /// Models it has an embedding for.
    pub models: Vec<String>,
}

impl Library {
    /// Faces of photos that are in the library (not missing), optionally only those
    /// confirmed as `person`, in photo-path order.
    pub fn faces(&self, person: Option<&str>) -> Result<Vec<FaceRow>> {
        let pid = match person {
            Some(name) => Some(self.person_or_err(name)?.id),
            None => None,
        };
        self.face_rows(
            "i.status = 'done'
               AND (CAST(?1 AS BIGINT) IS NULL OR EXISTS (SELECT 1 FROM labels l WHERE l.face_id = f.id AND l.person_id = ?1 AND l.state = 'confirmed'))
             ORDER BY i.path, f.id",
            pid,
        )
    }

    /// Face `id` as [`Library::faces`] lists it; `None` when there is no such face or its
    /// photo is missing.
    pub fn face_row(&self, id: i64) -> Result<Option<FaceRow>> {
        Ok(self
            .face_rows("f.id = ?1 AND i.status = 'done'", Some(id))?
            .pop())
    }

    /// The [`FaceRow`]s `filter` (an SQL condition and order on faces `f` and images `i`,
    /// with one parameter, `param`) selects.
    fn face_rows(&self, filter: &str, param: Option<i64>) -> Result<Vec<FaceRow>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT f.id, i.path, f.x, f.y, f.w, f.h, f.score, f.detector,
                   (SELECT p.name FROM labels l JOIN people p ON p.id = l.person_id WHERE l.face_id = f.id AND l.state = 'confirmed'),
                   (SELECT p.name FROM labels l JOIN people p ON p.id = l.person_id WHERE l.face_id = f.id AND l.state = 'suggested'),
                   (SELECT l.score FROM labels l WHERE l.face_id = f.id AND l.state = 'suggested'),
                   (SELECT group_concat(p.name, char(31)) FROM labels l JOIN people p ON p.id = l.person_id WHERE l.face_id = f.id AND l.state = 'rejected'),
                   (SELECT group_concat(e.model_id, char(31)) FROM embeddings e WHERE e.face_id = f.id),
                   i.path_bytes, f.quality_parts
                 FROM faces f JOIN images i ON i.id = f.image_id
                 WHERE {filter}"
            ))
            .map_err(|e| self.err(e))?;
        let split = |s: Option<String>| -> Vec<String> {
            s.map(|s| s.split('\u{1f}').map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let rows = stmt
            .query_map([param], |r| {
                let suggested: Option<String> = r.get(9)?;
                let sscore: Option<f64> = r.get(10)?;
                Ok(FaceRow {
                    id: r.get(0)?,
                    path: r.get(1)?,
                    path_utf8: std::str::from_utf8(&r.get::<_, Vec<u8>>(13)?).is_ok(),
                    bbox: [
                        r.get::<_, f64>(2)? as f32,
                        r.get::<_, f64>(3)? as f32,
                        r.get::<_, f64>(4)? as f32,
                        r.get::<_, f64>(5)? as f32,
                    ],
                    score: r.get::<_, f64>(6)? as f32,
                    quality: quality_from_blob(r.get(14)?),
                    detector: r.get(7)?,
                    person: r.get(8)?,
                    suggestion: suggested.map(|s| (s, sscore.unwrap_or(0.0) as f32)),
                    rejected: split(r.get(11)?),
                    models: split(r.get(12)?),
                })
            })
            .and_then(|rows| rows.collect::<crate::db::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// The fused vector of every face with an embedding of at least one model of `keys`
    /// (whatever its photo's state), or of the faces `only` among them. A model's
    /// dimension is that of its first stored vector (by face id); a vector of another
    /// length is left out, as if missing.
    pub fn fused_vectors(&self, keys: &ModelKeys, only: Option<&[i64]>) -> Result<FusedVectors> {
        let n = keys.members().len();
        let mut parts: Parts = HashMap::new();
        let mut put = |face: i64, model: usize, blob: &[u8]| {
            parts.entry(face).or_insert_with(|| vec![None; n])[model] = Some(from_blob(blob));
        };
        let sql = match only {
            None => "SELECT face_id, vector FROM embeddings WHERE model_id = ?1 ORDER BY face_id",
            Some(_) => {
                "SELECT face_id, vector FROM embeddings WHERE model_id = ?1 AND face_id = ?2"
            }
        };
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        for (i, key) in keys.members().iter().enumerate() {
            let mut read = |mut rows: crate::db::Rows<'_>| -> crate::db::Result<()> {
                while let Some(r) = rows.next()? {
                    put(r.get(0)?, i, &r.get::<_, Vec<u8>>(1)?);
                }
                Ok(())
            };
            match only {
                None => read(stmt.query([key]).map_err(|e| self.err(e))?),
                Some(faces) => faces
                    .iter()
                    .try_for_each(|face| read(stmt.query(crate::params![key, face])?)),
            }
            .map_err(|e| self.err(e))?;
        }
        Ok(FusedVectors::of_parts(parts, &self.model_dims(keys)?))
    }

    /// Each model's dimension: the length of its first stored vector (by face id), 0 when
    /// the library has none.
    fn model_dims(&self, keys: &ModelKeys) -> Result<Vec<usize>> {
        let mut stmt = self
            .conn
            .prepare("SELECT vector FROM embeddings WHERE model_id = ?1 ORDER BY face_id LIMIT 1")
            .map_err(|e| self.err(e))?;
        keys.members()
            .iter()
            .map(|key| {
                let blob: Option<Vec<u8>> = stmt
                    .query_row([key], |r| r.get(0))
                    .optional()
                    .map_err(|e| self.err(e))?;
                Ok(blob.map_or(0, |b| b.len() / 4))
            })
            .collect()
    }

    /// The models the library holds embeddings of that are not among `keys`, each with the
    /// number of faces that have one: kept, and unused while the config does not name them.
    pub fn unused_models(&self, keys: &ModelKeys) -> Result<Vec<(String, usize)>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT model_id, COUNT(DISTINCT face_id) FROM embeddings GROUP BY model_id ORDER BY model_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as usize))
            })
            .and_then(|rows| rows.collect::<crate::db::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows
            .into_iter()
            .filter(|(m, _)| !keys.members().contains(m))
            .collect())
    }

    /// The faces of an image: (face id, box area), largest first.
    pub fn image_faces(&self, image: i64) -> Result<Vec<(i64, f64)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, w * h FROM faces WHERE image_id = ?1 ORDER BY w * h DESC, id")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([image], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect::<crate::db::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }
}

/// A face's quality from its stored components (`faces.quality_parts`).
fn quality_from_blob(blob: Option<Vec<u8>>) -> Option<Quality> {
    let v = from_blob(&blob?);
    let parts: [f32; 4] = v.try_into().ok()?;
    Some(Quality::from_parts(parts))
}

/// Little-endian f32 blob.
pub fn to_blob(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The f32 values of a little-endian blob.
pub fn from_blob(blob: &[u8]) -> Vec<f32> {
    blob.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
