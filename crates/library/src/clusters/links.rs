//! The cannot-link pairs a merge of two clusters drops, read before it and put back by its
//! undo (`facelab serve`).

use crate::params;

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
        .and_then(|r| r.collect::<crate::db::Result<Vec<_>>>())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_drops_the_links_between_two_clusters_and_they_can_be_put_back() {
        crate::backends::each(links_put_back_on);
    }

    fn links_put_back_on(location: &std::path::Path) {
        let mut lib = crate::hidden::tests::with_faces(location, 5);
        for sql in [
            "INSERT INTO clusters(id, model_id, created_at) VALUES (1, 'm', 0), (2, 'm', 0)",
            "INSERT INTO cluster_members(face_id, cluster_id) VALUES (1, 1), (2, 1), (3, 2), (4, 2), (5, 2)",
            "INSERT INTO cannot_link(a, b, source, at) VALUES (1, 3, 'split', 7), (2, 4, 'split', 7), (4, 5, 'split', 7)",
        ] {
            lib.conn.execute(sql, []).unwrap();
        }
        let between = links_between(&lib, 1, 2).unwrap();
        assert_eq!(
            between.iter().map(|l| (l.a, l.b)).collect::<Vec<_>>(),
            vec![(1, 3), (2, 4)],
            "only the pairs across the two clusters"
        );
        crate::clusters::merge(&mut lib, 1, 2).unwrap();
        assert!(links_between(&lib, 1, 1).unwrap().len() == 1, "4–5 stays");
        assert_eq!(restore_links(&mut lib, &between).unwrap(), 2);
        let all: i64 = lib
            .conn
            .query_row(
                "SELECT count(*) FROM cannot_link WHERE source = 'split' AND at = 7",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(all, 3);
        assert_eq!(restore_links(&mut lib, &between).unwrap(), 0, "stored once");
    }
}
