//! People and their names: listing, adding (an upsert, so two processes adding one name
//! both succeed), renaming and merging two people's labels.

use crate::params;

use super::{now, Library, LibraryError, Result};

/// A person.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Person {
    /// Row id.
    pub id: i64,
    /// Name, unique ignoring case.
    pub name: String,
    /// Confirmed faces.
    pub faces: i64,
}

impl Library {
    /// Every person with their number of confirmed faces, by name.
    pub fn people(&self) -> Result<Vec<Person>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT p.id, p.name, (SELECT count(*) FROM labels l WHERE l.person_id = p.id AND l.state = 'confirmed')
                 FROM people p ORDER BY lower(p.name)",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Person {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    faces: r.get(2)?,
                })
            })
            .and_then(|rows| rows.collect::<crate::db::Result<Vec<_>>>())
            .map_err(|e| self.err(e))?;
        Ok(rows)
    }

    /// The person called `name` (ignoring case).
    pub fn person(&self, name: &str) -> Result<Option<Person>> {
        Ok(self
            .people()?
            .into_iter()
            .find(|p| p.name.eq_ignore_ascii_case(name.trim())))
    }

    /// The person called `name`, or an error naming how to list or add one.
    pub(crate) fn person_or_err(&self, name: &str) -> Result<Person> {
        self.person(name)?.ok_or_else(|| {
            LibraryError::NotFound(format!(
                "no person called {name:?} (help: `facelab people list` shows them; `facelab people add {name:?}` adds one)"
            ))
        })
    }

    /// Adds a person; an existing name is an error.
    pub fn add_person(&mut self, name: &str) -> Result<Person> {
        let name = valid_name(name)?;
        if self.person(&name)?.is_some() {
            return Err(LibraryError::Conflict(format!(
                "a person called {name:?} already exists (help: `facelab people list`)"
            )));
        }
        let id = self.write(|tx| {
            tx.query_row(
                "INSERT INTO people(name, created_at) VALUES (?1, ?2) RETURNING id",
                params![name, now()],
                |r| r.get(0),
            )
        })?;
        Ok(Person { id, name, faces: 0 })
    }

    /// The person called `name`, added if missing; the flag says whether it was added.
    pub fn person_or_add(&mut self, name: &str) -> Result<(Person, bool)> {
        if let Some(p) = self.person(name)? {
            return Ok((p, false));
        }
        let name = valid_name(name)?;
        // Another process may add the same person meanwhile: an upsert, not check-then-insert.
        let (id, stored, added): (i64, String, bool) = self.write(|tx| {
            let added = tx.execute(
                "INSERT INTO people(name, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![name, now()],
            )?;
            let (id, stored): (i64, String) = tx.query_row(
                "SELECT id, name FROM people WHERE lower(name) = ?1",
                [&name.to_ascii_lowercase()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok((id, stored, added == 1))
        })?;
        let faces = if added {
            0
        } else {
            self.person(&stored)?.map_or(0, |p| p.faces)
        };
        Ok((
            Person {
                id,
                name: stored,
                faces,
            },
            added,
        ))
    }

    /// Renames a person; their labels stay.
    pub fn rename_person(&mut self, old: &str, new: &str) -> Result<()> {
        let p = self.person_or_err(old)?;
        let new = valid_name(new)?;
        if let Some(other) = self.person(&new)? {
            if other.id != p.id {
                return Err(LibraryError::Conflict(format!(
                    "a person called {new:?} already exists (help: `facelab people merge {old:?} {new:?}` joins the two)"
                )));
            }
        }
        self.write(|tx| {
            tx.execute(
                "UPDATE people SET name = ?1 WHERE id = ?2",
                params![new, p.id],
            )
            .map(|_| ())
        })
    }

    /// Moves every label of `from` to `into` and removes `from`. A face confirmed for
    /// either stays confirmed; a rejection never overrides a confirmation.
    pub fn merge_people(&mut self, from: &str, into: &str) -> Result<i64> {
        let a = self.person_or_err(from)?;
        let b = self.person_or_err(into)?;
        if a.id == b.id {
            return Err(LibraryError::Conflict(format!(
                "{from:?} and {into:?} are the same person"
            )));
        }
        self.write(|tx| {
            // Labels of faces that `into` has no label for move over as they are.
            let mut moved = tx.execute(
                "UPDATE labels SET person_id = ?2 WHERE person_id = ?1
                 AND NOT EXISTS (SELECT 1 FROM labels l2 WHERE l2.face_id = labels.face_id AND l2.person_id = ?2)",
                params![a.id, b.id],
            )?;
            // Faces labelled for both: confirmed beats rejected beats suggested.
            let both: Vec<(i64, String)> = tx
                .prepare("SELECT face_id, state FROM labels WHERE person_id = ?1")?
                .query_map([a.id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<crate::db::Result<_>>()?;
            for (face, state) in both {
                tx.execute(
                    "DELETE FROM labels WHERE face_id = ?1 AND person_id = ?2",
                    params![face, a.id],
                )?;
                tx.execute(
                    "UPDATE labels SET state = CASE
                       WHEN 'confirmed' IN (state, ?3) THEN 'confirmed'
                       WHEN 'rejected' IN (state, ?3) THEN 'rejected'
                       ELSE state END
                     WHERE face_id = ?1 AND person_id = ?2",
                    params![face, b.id, state],
                )?;
                moved += 1;
            }
            tx.execute("DELETE FROM people WHERE id = ?1", params![a.id])?;
            Ok(moved as i64)
        })
    }
}

/// `name` trimmed, if it is usable: not empty, no control characters.
fn valid_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(LibraryError::Conflict(format!(
            "{name:?} is not a usable name (help: give a non-empty name without control characters)"
        )));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    /// Names are one person whatever their ASCII case, on both engines.
    #[test]
    fn a_name_in_another_case_is_the_same_person() {
        crate::backends::each(|location| {
            let mut lib = crate::hidden::tests::with_faces(location, 2);
            lib.add_person("Ada").unwrap();
            let err = lib.add_person("ada").unwrap_err().to_string();
            assert!(err.contains("already exists"), "{err}");
            assert_eq!(lib.person("ADA").unwrap().unwrap().name, "Ada");
            lib.confirm(1, "aDA", "user").unwrap();
            lib.confirm(2, "Bob", "user").unwrap();
            let people: Vec<(String, i64)> = lib
                .people()
                .unwrap()
                .into_iter()
                .map(|p| (p.name, p.faces))
                .collect();
            assert_eq!(people, [("Ada".to_owned(), 1), ("Bob".to_owned(), 1)]);
        });
    }
}
