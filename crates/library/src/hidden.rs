//! "Not someone I know": hiding a face or a person, reversibly.
//!
//! - A hidden face without a name gets no suggestion ([`crate::suggest`]) and is in no
//!   cluster ([`crate::clusters`]): listed in none at once, dropped from its cluster by the
//!   next run. Shown again, it is back in its cluster if that still exists, else the next
//!   `facelab cluster` places it. Its labels (a pending suggestion included) are kept, so
//!   showing it again undoes hiding exactly.
//! - A hidden person keeps their names; only the people list and the suggestion queue of
//!   `facelab serve` leave them out.
//!
//! A face with a confirmed name cannot be hidden: the user knows who it is.

use crate::params;

use super::{now, Library, LibraryError, Result};

impl Library {
    /// Hides the faces `faces` that have no confirmed name and are not hidden yet; returns
    /// the ones it hid (showing exactly those again is the inverse).
    pub fn hide_faces(&mut self, faces: &[i64]) -> Result<Vec<i64>> {
        let faces = faces.to_vec();
        self.write(move |tx| {
            let mut hid = Vec::new();
            let mut stmt = tx.prepare(
                "UPDATE faces SET hidden_at = ?2 WHERE id = ?1 AND hidden_at IS NULL
                 AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.face_id = faces.id AND l.state = 'confirmed')",
            )?;
            let t = now();
            for f in faces {
                if stmt.execute(params![f, t])? == 1 {
                    hid.push(f);
                }
            }
            Ok(hid)
        })
    }

    /// Shows the hidden faces `faces` again; returns how many were hidden.
    pub fn show_faces(&mut self, faces: &[i64]) -> Result<usize> {
        let faces = faces.to_vec();
        self.write(move |tx| {
            let mut stmt = tx.prepare(
                "UPDATE faces SET hidden_at = NULL WHERE id = ?1 AND hidden_at IS NOT NULL",
            )?;
            let mut n = 0;
            for f in faces {
                n += stmt.execute([f])?;
            }
            Ok(n)
        })
    }

    /// Hides (`hidden`) or shows the person called `name`.
    pub fn set_person_hidden(&mut self, name: &str, hidden: bool) -> Result<()> {
        let p = self.person_or_err(name)?;
        let at = hidden.then(now);
        self.write(|tx| {
            tx.execute(
                "UPDATE people SET hidden_at = ?2 WHERE id = ?1",
                params![p.id, at],
            )
            .map(|_| ())
        })
    }

    /// Removes the person called `name` if no label (confirmed, rejected or suggested)
    /// names them: the inverse of a naming that added them. Returns whether it did.
    pub fn remove_person_if_unused(&mut self, name: &str) -> Result<bool> {
        let Some(p) = self.person(name)? else {
            return Ok(false);
        };
        self.write(|tx| {
            Ok(tx.execute(
                "DELETE FROM people WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM labels WHERE person_id = ?1)",
                [p.id],
            )? == 1)
        })
    }

    /// Every label of `faces`, to put back with [`Library::restore_labels`].
    pub fn labels_of(&self, faces: &[i64]) -> Result<Vec<LabelRow>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT l.face_id, p.name, l.state, l.score, l.source, l.at FROM labels l
                 JOIN people p ON p.id = l.person_id WHERE l.face_id = ?1 ORDER BY l.person_id",
            )
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for f in faces {
            let rows = stmt
                .query_map([f], |r| {
                    Ok(LabelRow {
                        face: r.get(0)?,
                        person: r.get(1)?,
                        state: r.get(2)?,
                        score: r.get(3)?,
                        source: r.get(4)?,
                        at: r.get(5)?,
                    })
                })
                .and_then(|r| r.collect::<crate::db::Result<Vec<_>>>())
                .map_err(|e| self.err(e))?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Puts the labels of `faces` back as `rows` ([`Library::labels_of`] read them): every
    /// current label of those faces is replaced, in one transaction; people named by `rows`
    /// are added if they were removed meanwhile (a merge). Faces removed meanwhile are
    /// skipped.
    pub fn restore_labels(&mut self, faces: &[i64], rows: &[LabelRow]) -> Result<()> {
        for r in rows {
            if !faces.contains(&r.face) {
                return Err(LibraryError::Conflict(format!(
                    "label of face {} given to restore, but the face is not among those restored",
                    r.face
                )));
            }
            self.person_or_add(&r.person)?;
        }
        let (faces, rows) = (faces.to_vec(), rows.to_vec());
        self.write(move |tx| replace_labels(tx, &faces, &rows))
    }
}

/// Replaces every label of `faces` with `rows` (their people exist), in `tx`; a face removed
/// meanwhile gets none.
fn replace_labels(
    tx: &crate::db::Tx<'_>,
    faces: &[i64],
    rows: &[LabelRow],
) -> crate::db::Result<()> {
    for f in faces {
        tx.execute("DELETE FROM labels WHERE face_id = ?1", [f])?;
    }
    let mut insert = tx.prepare(
        "INSERT INTO labels(face_id, person_id, state, score, source, at)
         SELECT ?1, p.id, ?3, ?4, ?5, ?6 FROM people p
         WHERE lower(p.name) = ?2 AND EXISTS (SELECT 1 FROM faces WHERE id = ?1)",
    )?;
    for r in rows {
        insert.execute(params![
            r.face,
            r.person.to_ascii_lowercase(),
            r.state,
            r.score,
            r.source,
            r.at
        ])?;
    }
    Ok(())
}

impl Library {
    /// Puts the labels of `faces` back as `rows`, like [`Library::restore_labels`], but only
    /// if they are still `left` (as an action left them): checked in the same write
    /// transaction, so a change another process made to those faces since (a name, a
    /// rejection, a rename) is never overwritten. Faces compare by person and state; a
    /// pending suggestion's score and a label's time may differ. When something changed,
    /// nothing is written and the [`LibraryError::Conflict`] says what.
    pub fn restore_labels_if(
        &mut self,
        faces: &[i64],
        left: &[LabelRow],
        rows: &[LabelRow],
    ) -> Result<()> {
        if let Some(r) = rows.iter().find(|r| !faces.contains(&r.face)) {
            return Err(LibraryError::Conflict(format!(
                "label of face {} given to restore, but the face is not among those restored",
                r.face
            )));
        }
        let (faces, left, rows) = (faces.to_vec(), left.to_vec(), rows.to_vec());
        let changed = self.write(move |tx| {
            let mut read = tx.prepare(
                "SELECT p.name, l.state FROM labels l JOIN people p ON p.id = l.person_id
                 WHERE l.face_id = ?1 ORDER BY lower(p.name), l.state",
            )?;
            let mut changed = Vec::new();
            for f in &faces {
                let current: Vec<(String, String)> = read
                    .query_map([f], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<crate::db::Result<_>>()?;
                let mut expected: Vec<(String, String)> = left
                    .iter()
                    .filter(|r| r.face == *f)
                    .map(|r| (r.person.clone(), r.state.clone()))
                    .collect();
                expected.sort_by(|a, b| {
                    (a.0.to_ascii_lowercase(), &a.1).cmp(&(b.0.to_ascii_lowercase(), &b.1))
                });
                if current != expected {
                    changed.push(format!(
                        "face {f} was {}, is now {}",
                        describe(&expected),
                        describe(&current)
                    ));
                }
            }
            if !changed.is_empty() {
                return Ok(changed);
            }
            let mut person = tx.prepare(
                "INSERT INTO people(name, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?;
            for r in &rows {
                person.execute(params![r.person, now()])?;
            }
            replace_labels(tx, &faces, &rows)?;
            Ok(changed)
        })?;
        if changed.is_empty() {
            return Ok(());
        }
        let more = if changed.len() > 3 {
            format!(" (and {} more faces)", changed.len() - 3)
        } else {
            String::new()
        };
        Err(LibraryError::Conflict(format!(
            "another change since: {}{more}",
            changed[..changed.len().min(3)].join("; ")
        )))
    }
}

/// A face's labels in words: "confirmed as Ada, rejected for Bob", or "without a label".
fn describe(labels: &[(String, String)]) -> String {
    if labels.is_empty() {
        return "without a label".into();
    }
    labels
        .iter()
        .map(|(person, state)| match state.as_str() {
            "confirmed" => format!("confirmed as {person}"),
            "rejected" => format!("rejected for {person}"),
            _ => format!("suggested as {person}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A label as stored, with its person by name (so it can be put back after the person's
/// row changed, as a merge of two people does).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LabelRow {
    /// Face id.
    pub face: i64,
    /// The person's name.
    pub person: String,
    /// `confirmed`, `rejected` or `suggested`.
    pub state: String,
    /// A suggestion's score.
    pub score: Option<f64>,
    /// Who made it (`user`, `cluster`, `suggest`, …).
    pub source: String,
    /// When.
    pub at: i64,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A new library at `location` with one photo and `faces` faces (ids 1…).
    pub(crate) fn with_faces(location: &std::path::Path, faces: i64) -> Library {
        let lib = Library::open(location, 5_000).unwrap();
        lib.conn
            .execute(
                "INSERT INTO images(id, path_bytes, path, size, mtime_ns, width, height, orientation, status, scanned_at)
                 VALUES (1, CAST('p.jpg' AS BLOB), 'p.jpg', 1, 0, 100, 100, 1, 'done', 0)",
                [],
            )
            .unwrap();
        for f in 1..=faces {
            lib.conn
                .execute(
                    "INSERT INTO faces(id, image_id, x, y, w, h, score, detector, created_at) VALUES (?1, 1, ?2, 0, 10, 10, 0.9, 'd', 0)",
                    crate::params![f, f as f64 * 10.0],
                )
                .unwrap();
        }
        lib
    }

    fn named(lib: &Library, face: i64) -> Vec<(String, String)> {
        lib.labels_of(&[face])
            .unwrap()
            .into_iter()
            .map(|r| (r.person, r.state))
            .collect()
    }

    #[test]
    fn labels_are_put_back_only_if_no_one_changed_them_since() {
        crate::backends::each(labels_are_put_back_only_if_unchanged_on);
    }

    fn labels_are_put_back_only_if_unchanged_on(location: &std::path::Path) {
        let mut lib = with_faces(location, 3);
        let faces = vec![1, 2, 3];
        lib.confirm(3, "Zed", "user").unwrap();
        let before = lib.labels_of(&faces).unwrap();
        // The action: 1 and 2 named Ada, Zed merged into Ada (Zed's row goes).
        lib.confirm(1, "Ada", "user").unwrap();
        lib.confirm(2, "Ada", "user").unwrap();
        lib.merge_people("Zed", "Ada").unwrap();
        let after = lib.labels_of(&faces).unwrap();
        // Another process names face 2 Bob: the undo is refused and writes nothing, not
        // even Zed's row back.
        let mut other = Library::open(location, 5_000).unwrap();
        other.confirm(2, "Bob", "user").unwrap();
        let err = lib.restore_labels_if(&faces, &after, &before).unwrap_err();
        let LibraryError::Conflict(why) = err else {
            panic!("{err}")
        };
        assert!(
            why.contains("face 2 was confirmed as Ada, is now confirmed as Bob"),
            "{why}"
        );
        assert!(!why.contains("face 1") && !why.contains("face 3"), "{why}");
        assert_eq!(named(&lib, 2), vec![("Bob".into(), "confirmed".into())]);
        assert_eq!(named(&lib, 1), vec![("Ada".into(), "confirmed".into())]);
        assert!(lib.person("Zed").unwrap().is_none(), "nothing was undone");
        // Put back as the action left it: the undo goes through, Zed and all.
        other.confirm(2, "Ada", "user").unwrap();
        lib.restore_labels_if(&faces, &after, &before).unwrap();
        assert_eq!(named(&lib, 1), vec![]);
        assert_eq!(named(&lib, 2), vec![]);
        assert_eq!(named(&lib, 3), vec![("Zed".into(), "confirmed".into())]);
    }
}
