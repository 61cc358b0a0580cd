//! The cannot-link pairs a merge of two clusters drops, read before it and put back by its
//! undo (`facelab serve`).

use rusqlite::params;

use super::super::{Library, Result};

/// A cannot-link pair as stored (`a < b`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CannotLink {
    /// The smaller face id.
    pub a: i64,
    /// The larger face id.
    pub b: i64,
    /// What made it (`split`, …).
    pub source: String,
    /// When.
    pub at: i64,
}

/// The cannot-link pairs between a member of cluster `x` and a member of cluster `y`: the
/// ones [`super::merge`] drops.
pub fn links_between(lib: &Library, x: i64, y: i64) -> Result<Vec<CannotLink>> {
    let mut stmt = lib
        .conn
        .prepare(
            "SELECT a, b, source, at FROM cannot_link WHERE
               (a IN (SELECT face_id FROM cluster_members WHERE cluster_id = ?1) AND b IN (SELECT face_id FROM cluster_members WHERE cluster_id = ?2))
               OR (a IN (SELECT face_id FROM cluster_members WHERE cluster_id = ?2) AND b IN (SELECT face_id FROM cluster_members WHERE cluster_id = ?1))
             ORDER BY a, b",
        )
        .map_err(|e| lib.err(e))?;
    let rows = stmt
        .query_map(params![x, y], |r| {
            Ok(CannotLink {
                a: r.get(0)?,
                b: r.get(1)?,
                source: r.get(2)?,
                at: r.get(3)?,
            })
        })
        .and_then(|r| r.collect::<rusqlite::Result<Vec<_>>>())
        .map_err(|e| lib.err(e))?;
    Ok(rows)
}

/// Puts `links` back (those whose two faces still exist; a pair stored meanwhile stays as
/// it is). Returns how many were added.
pub fn restore_links(lib: &mut Library, links: &[CannotLink]) -> Result<usize> {
    let links = links.to_vec();
    lib.write(move |tx| {
        let mut put = tx.prepare(
            "INSERT INTO cannot_link(a, b, source, at) SELECT ?1, ?2, ?3, ?4
             WHERE EXISTS (SELECT 1 FROM faces WHERE id = ?1) AND EXISTS (SELECT 1 FROM faces WHERE id = ?2)
             ON CONFLICT DO NOTHING",
        )?;
        let mut n = 0;
        for l in &links {
            n += put.execute(params![l.a, l.b, l.source, l.at])?;
        }
        Ok(n)
    })
}
