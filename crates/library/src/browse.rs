//! Paged reads for a screen of faces (`facelab serve`): people with a cover face, groups
//! largest first, faces in no group, the suggestion queue, a person's faces newest photo
//! first. Each page is one or two indexed queries bounded by `LIMIT`, and reads no
//! embeddings, so a page of a 100,000-face library costs about what it costs on a small one.

use crate::db::OptionalExtension;
use crate::params;

use super::{Library, Result};

/// A person as the people page shows them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PersonCard {
    /// Row id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Confirmed faces.
    pub faces: i64,
    /// The confirmed face of best quality (the most recent first among equals).
    pub cover: Option<i64>,
    /// Hidden from the people list and the suggestion queue.
    pub hidden: bool,
}

/// A group (cluster) and how many shown faces without a name it has.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GroupCard {
    /// Cluster id.
    pub id: i64,
    /// Members that are not hidden.
    pub size: i64,
}

/// A pending suggestion.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SuggestionCard {
    /// The face.
    pub face: i64,
    /// Its photo's row id.
    pub image: i64,
    /// The proposed person.
    pub person: String,
    /// Their cover face.
    pub cover: Option<i64>,
    /// The suggestion's score.
    pub score: f64,
}

/// Where a face's pixels are: its photo file and box (upright pixels), with what the file
/// was when scanned.
#[derive(Debug, Clone)]
pub struct FaceSource {
    /// The face.
    pub face: i64,
    /// Its photo's row id.
    pub image: i64,
    /// The photo file.
    pub path: std::path::PathBuf,
    /// x, y, width, height.
    pub bbox: [f32; 4],
}

impl PersonCard {
    /// A row of `p.id, p.name, confirmed faces, cover, hidden`.
    fn from_row(r: &crate::db::Row<'_>) -> crate::db::Result<PersonCard> {
        Ok(PersonCard {
            id: r.get(0)?,
            name: r.get(1)?,
            faces: r.get(2)?,
            cover: r.get(3)?,
            hidden: r.get(4)?,
        })
    }
}

/// The cover face of person `p`: subquery text, shared by the queries below.
const COVER: &str = "(SELECT l.face_id FROM labels l JOIN faces f ON f.id = l.face_id
    WHERE l.person_id = p.id AND l.state = 'confirmed'
    ORDER BY coalesce(f.quality, 0.5) DESC, f.id DESC LIMIT 1)";

impl Library {
    fn rows<T>(
        &self,
        sql: &str,
        params: impl crate::db::Params,
        f: impl FnMut(&crate::db::Row<'_>) -> crate::db::Result<T>,
    ) -> Result<Vec<T>> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params, f)
            .and_then(|r| r.collect::<crate::db::Result<Vec<T>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    fn count(&self, sql: &str, params: impl crate::db::Params) -> Result<i64> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row(params, |r| r.get(0)))
            .map_err(|e| self.err(e))
    }

    /// Every person with their confirmed faces and cover, most faces first; hidden people
    /// only when `hidden`.
    pub fn person_cards(&self, hidden: bool) -> Result<Vec<PersonCard>> {
        let sql = format!(
            "SELECT p.id, p.name,
               (SELECT count(*) FROM labels l WHERE l.person_id = p.id AND l.state = 'confirmed'),
               {COVER}, p.hidden_at IS NOT NULL
             FROM people p WHERE ?1 OR p.hidden_at IS NULL
             ORDER BY 3 DESC, lower(p.name)"
        );
        self.rows(&sql, [hidden], PersonCard::from_row)
    }

    /// The person with row id `id`.
    pub fn person_card(&self, id: i64) -> Result<Option<PersonCard>> {
        let sql = format!(
            "SELECT p.id, p.name,
               (SELECT count(*) FROM labels l WHERE l.person_id = p.id AND l.state = 'confirmed'),
               {COVER}, p.hidden_at IS NOT NULL
             FROM people p WHERE p.id = ?1"
        );
        Ok(self.rows(&sql, [id], PersonCard::from_row)?.pop())
    }

    /// The faces confirmed as person `id`, newest photo first (by file time), `limit` from
    /// `offset`, and how many there are.
    pub fn person_faces(&self, id: i64, offset: i64, limit: i64) -> Result<(i64, Vec<i64>)> {
        let total = self.count(
            "SELECT count(*) FROM labels WHERE person_id = ?1 AND state = 'confirmed'",
            [id],
        )?;
        let faces = self.rows(
            "SELECT f.id FROM labels l JOIN faces f ON f.id = l.face_id JOIN images i ON i.id = f.image_id
             WHERE l.person_id = ?1 AND l.state = 'confirmed'
             ORDER BY i.mtime_ns DESC, f.id LIMIT ?2 OFFSET ?3",
            params![id, limit, offset],
            |r| r.get(0),
        )?;
        Ok((total, faces))
    }

    /// The groups of the recognizer key `model`, largest first (shown faces), `limit` from
    /// `offset`, and how many groups there are.
    pub fn group_cards(
        &self,
        model: &str,
        offset: i64,
        limit: i64,
    ) -> Result<(i64, Vec<GroupCard>)> {
        let total = self.count(
            "SELECT count(*) FROM clusters c WHERE c.model_id = ?1 AND EXISTS (
               SELECT 1 FROM cluster_members m JOIN faces f ON f.id = m.face_id
               WHERE m.cluster_id = c.id AND f.hidden_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.face_id = f.id AND l.state = 'confirmed'))",
            [model],
        )?;
        let groups = self.rows(
            "SELECT m.cluster_id, count(*) FROM cluster_members m
             JOIN clusters c ON c.id = m.cluster_id JOIN faces f ON f.id = m.face_id
             WHERE c.model_id = ?1 AND f.hidden_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.face_id = f.id AND l.state = 'confirmed')
             GROUP BY m.cluster_id ORDER BY 2 DESC, 1 LIMIT ?2 OFFSET ?3",
            params![model, limit, offset],
            |r| {
                Ok(GroupCard {
                    id: r.get(0)?,
                    size: r.get(1)?,
                })
            },
        )?;
        Ok((total, groups))
    }

    /// Up to `limit` shown faces without a name of group `id`, by id.
    pub fn group_faces(&self, id: i64, limit: i64) -> Result<Vec<i64>> {
        self.rows(
            "SELECT m.face_id FROM cluster_members m JOIN faces f ON f.id = m.face_id
             WHERE m.cluster_id = ?1 AND f.hidden_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.face_id = f.id AND l.state = 'confirmed')
             ORDER BY m.face_id LIMIT ?2",
            params![id, limit],
            |r| r.get(0),
        )
    }

    /// Faces without a name, not hidden, in no group of the recognizer key `model`, by id;
    /// `limit` from `offset`, and how many there are.
    pub fn ungrouped_faces(&self, model: &str, offset: i64, limit: i64) -> Result<(i64, Vec<i64>)> {
        const WHERE: &str = "FROM faces f JOIN images i ON i.id = f.image_id
             WHERE i.status = 'done' AND f.hidden_at IS NULL
             AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.face_id = f.id AND l.state = 'confirmed')
             AND NOT EXISTS (SELECT 1 FROM cluster_members m JOIN clusters c ON c.id = m.cluster_id
                             WHERE m.face_id = f.id AND c.model_id = ?1)";
        let total = self.count(&format!("SELECT count(*) {WHERE}"), [model])?;
        let faces = self.rows(
            &format!("SELECT f.id {WHERE} ORDER BY f.id LIMIT ?2 OFFSET ?3"),
            params![model, limit, offset],
            |r| r.get(0),
        )?;
        Ok((total, faces))
    }

    /// Hidden faces, by id; `limit` from `offset`, and how many there are.
    pub fn hidden_faces(&self, offset: i64, limit: i64) -> Result<(i64, Vec<i64>)> {
        let total = self.count("SELECT count(*) FROM faces WHERE hidden_at IS NOT NULL", [])?;
        let faces = self.rows(
            "SELECT id FROM faces WHERE hidden_at IS NOT NULL ORDER BY hidden_at DESC, id LIMIT ?1 OFFSET ?2",
            params![limit, offset],
            |r| r.get(0),
        )?;
        Ok((total, faces))
    }

    /// Pending suggestions for faces without a name that are not hidden, of people not
    /// hidden (only `person`'s when given) scoring at least `min_score`, best first;
    /// `limit` from `offset`, and how many there are.
    pub fn suggestion_cards(
        &self,
        person: Option<&str>,
        min_score: f64,
        offset: i64,
        limit: i64,
    ) -> Result<(i64, Vec<SuggestionCard>)> {
        // Names compare without regard to ASCII case, as the people table's index does.
        let person = person.map(str::to_ascii_lowercase);
        const WHERE: &str = "FROM labels s JOIN people p ON p.id = s.person_id
             JOIN faces f ON f.id = s.face_id
             WHERE s.state = 'suggested' AND f.hidden_at IS NULL AND p.hidden_at IS NULL
             AND coalesce(s.score, 0) >= ?2 AND (CAST(?1 AS TEXT) IS NULL OR lower(p.name) = ?1)
             AND NOT EXISTS (SELECT 1 FROM labels c WHERE c.face_id = s.face_id AND c.state = 'confirmed')";
        let total = self.count(
            &format!("SELECT count(*) {WHERE}"),
            params![person, min_score],
        )?;
        let cards = self.rows(
            &format!(
                "SELECT s.face_id, f.image_id, p.name, {COVER}, coalesce(s.score, 0) {WHERE}
                 ORDER BY coalesce(s.score, 0) DESC, s.face_id LIMIT ?3 OFFSET ?4"
            ),
            params![person, min_score, limit, offset],
            |r| {
                Ok(SuggestionCard {
                    face: r.get(0)?,
                    image: r.get(1)?,
                    person: r.get(2)?,
                    cover: r.get(3)?,
                    score: r.get(4)?,
                })
            },
        )?;
        Ok((total, cards))
    }

    /// Every face with a label (confirmed, rejected or suggested) for person `id`.
    pub fn labelled_faces(&self, id: i64) -> Result<Vec<i64>> {
        self.rows(
            "SELECT face_id FROM labels WHERE person_id = ?1 ORDER BY face_id",
            [id],
            |r| r.get(0),
        )
    }

    /// Where face `face`'s pixels are, if it exists.
    pub fn face_source(&self, face: i64) -> Result<Option<FaceSource>> {
        self.conn
            .prepare_cached(
                "SELECT f.id, f.image_id, i.path_bytes, f.x, f.y, f.w, f.h FROM faces f
                 JOIN images i ON i.id = f.image_id WHERE f.id = ?1",
            )
            .and_then(|mut s| {
                s.query_row([face], |r| {
                    Ok(FaceSource {
                        face: r.get(0)?,
                        image: r.get(1)?,
                        path: super::paths::from_bytes(&r.get::<_, Vec<u8>>(2)?),
                        bbox: [
                            r.get::<_, f64>(3)? as f32,
                            r.get::<_, f64>(4)? as f32,
                            r.get::<_, f64>(5)? as f32,
                            r.get::<_, f64>(6)? as f32,
                        ],
                    })
                })
                .optional()
            })
            .map_err(|e| self.err(e))
    }

    /// A number that changes whenever names, hidden faces or clusters change: a cache of
    /// anything computed from them (merge proposals) is stale when it differs.
    pub fn change_stamp(&self) -> Result<String> {
        self.conn
            .query_row(
                "SELECT coalesce((SELECT value FROM meta WHERE key = 'clusters_revision'), '0')
                   || ':' || (SELECT count(*) || '.' || coalesce(max(at), 0) || '.' || coalesce(sum(face_id * 7 + person_id * 13 + length(state)), 0) FROM labels)
                   || ':' || (SELECT count(*) || '.' || coalesce(sum(id), 0) FROM faces WHERE hidden_at IS NOT NULL)
                   || ':' || (SELECT count(*) || '.' || coalesce(max(id), 0) FROM faces)",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))
    }
}
