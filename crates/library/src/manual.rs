//! Faces the user made: drawn by hand (`facelab faces add`) or taken from a photo's XMP
//! regions (`facelab import-xmp`) where no detected face matched. They are stored with their
//! origin (`manual`, `xmp`), measured and embedded like detected faces, and a rescan or a
//! detector switch never moves or removes them (see `scan::process`: a detection that
//! overlaps one is taken as the same face, and the user's box stays).
//!
//! Also the photo facts the XMP commands need: each photo's upright size, EXIF orientation
//! and faces with their names, and the row update after a photo's metadata was rewritten in
//! place (same pixels, new bytes), so the next scan does not detect it again.

use std::path::{Path, PathBuf};

use crate::db::OptionalExtension;
use crate::params;
use facelab_plugin_api::{BBox, Face};
use sha2::{Digest, Sha256};

use super::identity::ModelKeys;
use super::{now, paths, to_blob, Library, LibraryError, Result};
use facelab_engine::pipeline::FaceRecognizer;
use facelab_engine::quality::{self, Quality};

/// Where a face came from (`faces.origin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Found by a detector; follows its re-detections.
    Detected,
    /// Drawn by the user (`facelab faces add`).
    Manual,
    /// Created from an XMP region no detected face matched (`facelab import-xmp`).
    Xmp,
}

impl Origin {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Detected => "detected",
            Origin::Manual => "manual",
            Origin::Xmp => "xmp",
        }
    }

    fn parse(s: &str) -> Origin {
        match s {
            "manual" => Origin::Manual,
            "xmp" => Origin::Xmp,
            _ => Origin::Detected,
        }
    }
}

/// A face of a [`PhotoRecord`].
#[derive(Debug, Clone)]
pub struct PhotoFace {
    /// Face id.
    pub id: i64,
    /// Box in pixels of the upright (EXIF-corrected) photo.
    pub bbox: BBox,
    /// Where it came from.
    pub origin: Origin,
    /// Its confirmed person.
    pub person: Option<String>,
}

/// A scanned photo with what the XMP commands need.
#[derive(Debug, Clone)]
pub struct PhotoRecord {
    /// Image row id.
    pub id: i64,
    /// The file.
    pub path: PathBuf,
    /// Upright (EXIF-corrected) full-size width in pixels.
    pub width: u32,
    /// Upright full-size height in pixels.
    pub height: u32,
    /// The EXIF orientation (1–8) the scan applied.
    pub orientation: u8,
    /// Its faces, by id.
    pub faces: Vec<PhotoFace>,
}

/// An embedding to store with a face: (model key, vector, normalised).
pub type StoredEmbedding = (String, Vec<f32>, bool);

/// An image row as [`Library::photo_at`] reads it: path bytes, upright width and height,
/// orientation, status.
type ImageRow = (Vec<u8>, Option<u32>, Option<u32>, Option<u8>, String);

/// A face to store for a photo.
pub struct NewFace {
    /// Box in upright-photo pixels.
    pub bbox: BBox,
    /// `Manual` or `Xmp`.
    pub origin: Origin,
    /// Measured on the photo.
    pub quality: Quality,
    /// (model key, vector, normalised) of each model of the active recognizer (none
    /// without one).
    pub embeddings: Vec<StoredEmbedding>,
}

impl Library {
    /// Every scanned photo (status `done`) whose path is one of `roots` or lies below one of
    /// them; every scanned photo when `roots` is empty. In path order.
    pub fn photos_under(&self, roots: &[PathBuf]) -> Result<Vec<PhotoRecord>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, path_bytes FROM images WHERE status = 'done' AND width IS NOT NULL ORDER BY path_bytes",
            )
            .map_err(|e| self.err(e))?;
        let ids: Vec<(i64, Vec<u8>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .and_then(|rows| rows.collect::<crate::db::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for (id, bytes) in ids {
            let path = paths::from_bytes(&bytes);
            if roots.is_empty() || roots.iter().any(|r| path.starts_with(r)) {
                out.extend(self.photo_record(id)?);
            }
        }
        Ok(out)
    }

    /// The scanned photo at `path` (absolute, as stored), if any.
    pub fn photo_at(&self, path: &Path) -> Result<Option<PhotoRecord>> {
        match self.image_id(path)? {
            Some(id) => self.photo_record(id),
            None => Ok(None),
        }
    }

    fn photo_record(&self, id: i64) -> Result<Option<PhotoRecord>> {
        let row: Option<ImageRow> = self
            .conn
            .query_row(
                "SELECT path_bytes, width, height, orientation, status FROM images WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((bytes, Some(width), Some(height), orientation, status)) = row else {
            return Ok(None);
        };
        if status != "done" {
            return Ok(None);
        }
        let mut stmt = self
            .conn
            .prepare(
                "SELECT f.id, f.x, f.y, f.w, f.h, f.origin,
                   (SELECT p.name FROM labels l JOIN people p ON p.id = l.person_id
                    WHERE l.face_id = f.id AND l.state = 'confirmed')
                 FROM faces f WHERE f.image_id = ?1 ORDER BY f.id",
            )
            .map_err(|e| self.err(e))?;
        let faces = stmt
            .query_map([id], |r| {
                Ok(PhotoFace {
                    id: r.get(0)?,
                    bbox: BBox::new(
                        r.get::<_, f64>(1)? as f32,
                        r.get::<_, f64>(2)? as f32,
                        r.get::<_, f64>(3)? as f32,
                        r.get::<_, f64>(4)? as f32,
                    ),
                    origin: Origin::parse(&r.get::<_, String>(5)?),
                    person: r.get(6)?,
                })
            })
            .and_then(|rows| rows.collect::<crate::db::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(Some(PhotoRecord {
            id,
            path: paths::from_bytes(&bytes),
            width,
            height,
            orientation: orientation.unwrap_or(1),
            faces,
        }))
    }

    /// Stores a face the user made on photo `image`, with its quality and embedding, and
    /// returns its id. A face with exactly this box is a conflict.
    pub fn add_face(&mut self, image: i64, face: &NewFace) -> Result<i64> {
        let b = face.bbox;
        let inserted = self.write(|tx| {
            let id: Option<i64> = tx.query_row(
                "INSERT INTO faces(image_id, x, y, w, h, landmarks, score, detector, created_at,
                   quality, quality_parts, origin)
                 VALUES (?1, ?2, ?3, ?4, ?5, NULL, 1.0, ?6, ?7, ?8, ?9, ?6)
                 ON CONFLICT DO NOTHING RETURNING id",
                params![
                    image,
                    b.x,
                    b.y,
                    b.width,
                    b.height,
                    face.origin.as_str(),
                    now(),
                    face.quality.score,
                    to_blob(&face.quality.parts())
                ],
                |r| r.get(0),
            )
            .optional()?;
            let Some(id) = id else {
                return Ok(None);
            };
            for (model, values, normalized) in &face.embeddings {
                crate::vectors::store(tx, id, model, values, *normalized)?;
            }
            Ok(Some(id))
        })?;
        inserted.ok_or_else(|| {
            LibraryError::Conflict(format!(
                "photo {image} already has a face with the box {},{},{},{} (help: `facelab faces` lists it; `facelab tag ID NAME` names it)",
                b.x, b.y, b.width, b.height
            ))
        })
    }

    /// Records that the file of photo `image` was rewritten with the same pixels (its
    /// metadata changed): its size, mtime and hash are updated, so the next scan finds it
    /// unchanged instead of detecting it again.
    pub fn photo_rewritten(&mut self, image: i64, path: &Path) -> Result<()> {
        let io = |e: std::io::Error| {
            LibraryError::Conflict(format!(
                "{}: cannot read it back after writing: {e}",
                paths::display_path(path)
            ))
        };
        let bytes = std::fs::read(path).map_err(io)?;
        let meta = std::fs::metadata(path).map_err(io)?;
        let hash = format!("{:x}", Sha256::digest(&bytes));
        let mtime = super::scan::mtime_ns(&meta);
        self.write(|tx| {
            tx.execute(
                "UPDATE images SET size = ?2, mtime_ns = ?3, hash = ?4, revision = revision + 1 WHERE id = ?1",
                params![image, meta.len() as i64, mtime, hash],
            )
            .map(|_| ())
        })
    }
}

/// Measures and (with a recognizer) embeds faces given by box on the photo at `path`,
/// decoded at full size with its EXIF orientation. The photo must still have the size the
/// library holds (`width` × `height`), else its boxes would land elsewhere. Returns one
/// (quality, embedding of each model of `recognizer`, stored under its key of the
/// recognizer's [`ModelKeys`]) per box; the error names the file and the fix.
pub fn measure_boxes(
    path: &Path,
    (width, height): (u32, u32),
    boxes: &[BBox],
    recognizer: Option<(&mut FaceRecognizer, &ModelKeys)>,
    max_pixels: u64,
) -> std::result::Result<Vec<(Quality, Vec<StoredEmbedding>)>, String> {
    let photo = facelab_engine::photo::decode(path, max_pixels).map_err(|e| e.to_string())?;
    if (photo.width, photo.height) != (width, height) {
        return Err(format!(
            "{}: the photo is {}x{} now, the library has it as {width}x{height} (help: run `facelab scan` on its folder first)",
            paths::display_path(path),
            photo.width,
            photo.height
        ));
    }
    let faces: Vec<Face> = boxes.iter().map(|b| Face::new(*b, 1.0)).collect();
    let qualities: Vec<Quality> = faces.iter().map(|f| quality::assess(&photo, f)).collect();
    let mut embeddings: Vec<Vec<StoredEmbedding>> = vec![Vec::new(); faces.len()];
    if let Some((r, models)) = recognizer {
        let per_model = r.embed_members(&photo, &faces).map_err(|e| {
            format!(
                "{}: recognizer `{}` failed: {e}",
                paths::display_path(path),
                r.kind
            )
        })?;
        for (key, of_model) in models.members().iter().zip(per_model) {
            for (stored, e) in embeddings.iter_mut().zip(of_model) {
                stored.push((key.clone(), e.values.to_vec(), e.normalized));
            }
        }
    }
    Ok(qualities.into_iter().zip(embeddings).collect())
}

/// Why a hand-drawn box was not added ([`add_drawn_face`]).
#[derive(Debug, thiserror::Error)]
pub enum DrawnFaceError {
    /// The box leaves the photo.
    #[error("the box {x},{y} {w}x{h} reaches outside the photo, which is {width}x{height} pixels upright (help: give the box in the upright photo's pixels)", x = .bbox.x, y = .bbox.y, w = .bbox.width, h = .bbox.height)]
    Outside {
        /// The box.
        bbox: BBox,
        /// Upright width.
        width: u32,
        /// Upright height.
        height: u32,
    },
    /// A face of the photo already covers it.
    #[error("face {face} already covers that box ({:.0},{:.0} {:.0}x{:.0}) (help: name it with `facelab tag {face} NAME`)", .bbox.x, .bbox.y, .bbox.width, .bbox.height)]
    Covered {
        /// That face.
        face: i64,
        /// Its box.
        bbox: BBox,
    },
    /// The photo could not be measured (decoded, embedded).
    #[error("{0}")]
    Measure(String),
    /// The library refused it.
    #[error(transparent)]
    Library(#[from] LibraryError),
}

/// Adds a face the user drew on `photo` (`facelab faces add`, and drawing a box in `facelab
/// serve`): the box must lie inside the upright photo and cover no face it has (IoU below
/// [`crate::scan::MATCH_IOU`]); it is measured and embedded with `recognizer` on the photo
/// decoded again, and stored as `manual`. Returns the new face's id.
pub fn add_drawn_face(
    lib: &mut Library,
    photo: &PhotoRecord,
    b: BBox,
    recognizer: Option<(&mut FaceRecognizer, &ModelKeys)>,
    max_pixels: u64,
) -> std::result::Result<i64, DrawnFaceError> {
    let (w, h) = (photo.width as f32, photo.height as f32);
    if !(b.width > 0.0 && b.height > 0.0)
        || b.x < 0.0
        || b.y < 0.0
        || b.x + b.width > w + 0.5
        || b.y + b.height > h + 0.5
    {
        return Err(DrawnFaceError::Outside {
            bbox: b,
            width: photo.width,
            height: photo.height,
        });
    }
    if let Some(f) = photo
        .faces
        .iter()
        .find(|f| facelab_plugin_kit::geometry::iou(&f.bbox, &b) >= crate::scan::MATCH_IOU)
    {
        return Err(DrawnFaceError::Covered {
            face: f.id,
            bbox: f.bbox,
        });
    }
    let measured = measure_boxes(
        &photo.path,
        (photo.width, photo.height),
        &[b],
        recognizer,
        max_pixels,
    )
    .map_err(DrawnFaceError::Measure)?;
    let (quality, embeddings) = measured.into_iter().next().expect("one box, one result");
    Ok(lib.add_face(
        photo.id,
        &NewFace {
            bbox: b,
            origin: Origin::Manual,
            quality,
            embeddings,
        },
    )?)
}

impl Library {
    /// The scanned photo with row id `id`, with its faces.
    pub fn photo(&self, id: i64) -> Result<Option<PhotoRecord>> {
        self.photo_record(id)
    }

    /// Removes face `face` if the user made it (`manual`) and it has no confirmed name: the
    /// inverse of drawing it. Returns whether it did.
    pub fn remove_drawn_face(&mut self, face: i64) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM faces WHERE id = ?1 AND origin = 'manual'
                 AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.face_id = ?1 AND l.state = 'confirmed')",
                [face],
            )? == 1)
        })
    }
}
