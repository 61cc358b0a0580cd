//! The queue job a scan item may be ([`crate::queue`]): completed in the transaction that
//! writes its photo, so a job is done exactly when its photo is stored.

use crate::db::Tx;
use crate::params;

/// Times a job is taken before it is parked as failed.
pub const MAX_ATTEMPTS: i64 = 3;

/// Completes job `(id, attempts)` in the transaction that writes its photo: done, or (a
/// failed photo) back in the queue until its third time, then parked as failed with
/// `error`. Returns whether the photo is to be written now.
pub(crate) fn complete(
    tx: &Tx<'_>,
    (id, attempts): (i64, i64),
    failed: bool,
    error: Option<&str>,
    t: i64,
) -> crate::db::Result<bool> {
    if failed && attempts < MAX_ATTEMPTS {
        tx.execute(
            "UPDATE jobs SET state = 'queued', worker = NULL, lease_until = NULL, error = ?2 WHERE id = ?1",
            params![id, error],
        )?;
        return Ok(false);
    }
    let state = if failed { "failed" } else { "done" };
    tx.execute(
        "UPDATE jobs SET state = ?2, error = ?3, finished_at = ?4, lease_until = NULL WHERE id = ?1",
        params![id, state, error, t],
    )?;
    Ok(true)
}
