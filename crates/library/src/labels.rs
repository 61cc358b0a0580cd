//! A face's labels: confirmed (one person per face), rejected (that pair is never suggested
//! again) and the pending suggestion.

use crate::db::OptionalExtension;
use crate::params;

use super::{now, Library, LibraryError, Person, Result};

impl Library {
    /// Ok if face `face` exists, else an error naming how to list the faces.
    fn face_exists(&self, face: i64) -> Result<()> {
        let found: Option<i64> = self
            .conn
            .query_row("SELECT id FROM faces WHERE id = ?1", [face], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        found.map(|_| ()).ok_or_else(|| {
            LibraryError::NotFound(format!(
                "no face with id {face} (help: `facelab faces` lists the faces and their ids)"
            ))
        })
    }

    /// Confirms `face` as `person` (the face's only confirmed person), recording `source`.
    pub fn confirm(&mut self, face: i64, person: &str, source: &str) -> Result<Person> {
        self.face_exists(face)?;
        let (p, _) = self.person_or_add(person)?;
        let source = source.to_owned();
        let pid = p.id;
        let exists = self.write(move |tx| {
            // A scan may have removed the face since it was checked above.
            if tx
                .query_row("SELECT 1 FROM faces WHERE id = ?1", [face], |_| Ok(()))
                .optional()?
                .is_none()
            {
                return Ok(false);
            }
            tx.execute(
                "DELETE FROM labels WHERE face_id = ?1 AND (state = 'confirmed' OR state = 'suggested')",
                params![face],
            )?;
            tx.execute(
                "INSERT INTO labels(face_id, person_id, state, score, source, at) VALUES (?1, ?2, 'confirmed', NULL, ?3, ?4)
                 ON CONFLICT(face_id, person_id) DO UPDATE SET state = 'confirmed', score = NULL, source = excluded.source, at = excluded.at",
                params![face, pid, source, now()],
            )?;
            Ok(true)
        })?;
        if !exists {
            self.face_exists(face)?;
        }
        Ok(p)
    }

    /// Records that `face` is not `person`: that pair is never suggested again.
    pub fn reject(&mut self, face: i64, person: &str) -> Result<Person> {
        self.face_exists(face)?;
        let p = self.person_or_err(person)?;
        let pid = p.id;
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO labels(face_id, person_id, state, score, source, at) VALUES (?1, ?2, 'rejected', NULL, 'user', ?3)
                 ON CONFLICT(face_id, person_id) DO UPDATE SET state = 'rejected', score = NULL, source = 'user', at = excluded.at",
                params![face, pid, now()],
            )?;
            Ok(())
        })?;
        Ok(p)
    }

    /// The confirmed person of `face`, if any.
    pub fn person_of(&self, face: i64) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT p.name FROM labels l JOIN people p ON p.id = l.person_id WHERE l.face_id = ?1 AND l.state = 'confirmed'",
                [face],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Removes the confirmed (and any suggested) person of `face`; returns the old name.
    pub fn untag(&mut self, face: i64) -> Result<Option<String>> {
        self.face_exists(face)?;
        let old = self.person_of(face)?;
        self.write(|tx| {
            tx.execute(
                "DELETE FROM labels WHERE face_id = ?1 AND state IN ('confirmed', 'suggested')",
                [face],
            )
            .map(|_| ())
        })?;
        Ok(old)
    }

    /// The pending suggestion of `face`, if any.
    pub fn suggestion(&self, face: i64) -> Result<Option<(String, f32)>> {
        self.conn
            .query_row(
                "SELECT p.name, l.score FROM labels l JOIN people p ON p.id = l.person_id WHERE l.face_id = ?1 AND l.state = 'suggested'",
                [face],
                |r| Ok((r.get(0)?, r.get::<_, Option<f64>>(1)?.unwrap_or(0.0) as f32)),
            )
            .optional()
            .map_err(|e| self.err(e))
    }
}
