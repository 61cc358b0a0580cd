//! A scan worker's handling of one read photo: failures and unchanged content are passed
//! on as they are; a decoded photo is resolved as a move (by content hash) or not, then
//! detected, measured and embedded by the worker's own models.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use super::process::{self, Detected, Prior};
use super::read::{Read, ReadTime};
use super::write::Write;
use super::{Done, Item, ScanOptions, Work, Worker};
use crate::identity::ModelKeys;
use facelab_engine::jpeg::Scaled;

/// What every worker of a scan reads: the plan's items and the library's state before the
/// scan. Moves are claimed under one lock, so two workers never take the same vanished
/// photo for two new paths.
pub(super) struct Shared<'a> {
    pub items: &'a [Item],
    /// Content hash → a vanished or missing photo (id, revision) a new path may be.
    pub movable: &'a HashMap<String, (i64, i64)>,
    /// The vanished or missing photos claimed as moved so far.
    pub moved_from: &'a Mutex<HashSet<i64>>,
    pub priors: &'a HashMap<i64, Prior>,
    pub detector_key: &'a str,
    pub models: Option<&'a ModelKeys>,
    pub opts: &'a ScanOptions,
}

pub(super) fn failed_write(
    item: &Item,
    id: Option<i64>,
    revision: Option<i64>,
    hash: Option<String>,
    error: &str,
) -> Write {
    let mut w = Write::new(item, id, revision, hash);
    w.status = "failed";
    w.error = Some(error.to_owned());
    w
}

impl Shared<'_> {
    /// Item `index`, read as `read`, through `worker`'s detector and recognizer.
    pub fn process(&self, worker: &mut Worker, index: usize, read: Read, time: ReadTime) -> Done {
        let (mut done, detected) = self.detect(worker, index, read, time);
        let Some(mut d) = detected else {
            return done;
        };
        let item = &self.items[index];
        let (Some(rec), Some(models)) = (worker.recognizer.as_mut(), self.models) else {
            done.write = Some(d.write);
            return done;
        };
        let start = Instant::now();
        match process::embed(&mut d, item, rec, models, self.opts.max_pixels) {
            Ok((redecode, again)) => {
                done.time.redecode = redecode;
                done.redecoded = again;
                done.time.embed = start.elapsed().as_secs_f64() - redecode;
                done.write = Some(d.write);
            }
            Err(error) => {
                let (id, revision) = (d.write.id, d.write.revision);
                done.write = Some(failed_write(item, id, revision, None, &error));
                done.failed = Some(error);
            }
        }
        done
    }

    /// Item `index` as failed because facelab itself panicked on it: the message is stored
    /// like any failure, and the scan goes on with the other photos.
    pub fn panicked(&self, index: usize, payload: &(dyn std::any::Any + Send)) -> Done {
        let item = &self.items[index];
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        let error = format!(
            "{}: facelab failed on this photo: {what} (help: this is a bug in facelab; report it with the photo, and run `facelab scan --retry-failed` once it is fixed)",
            super::paths::display_path(&item.path)
        );
        let mut done = Done::new(index);
        done.write = Some(failed_write(item, item.id, item.revision, None, &error));
        done.failed = Some(error);
        done
    }

    /// A vanished or missing photo with content `hash` not yet claimed by another path:
    /// claimed for this one.
    fn claim_move(&self, hash: &str) -> Option<(i64, i64)> {
        let (old, revision) = *self.movable.get(hash)?;
        let mut claimed = self.moved_from.lock().unwrap_or_else(|e| e.into_inner());
        claimed.insert(old).then_some((old, revision))
    }

    /// Item `index` as read: passed on as it is, or (a decoded photo) detected.
    fn detect(
        &self,
        worker: &mut Worker,
        index: usize,
        read: Read,
        time: ReadTime,
    ) -> (Done, Option<Detected>) {
        let item = &self.items[index];
        let mut done = Done::new(index);
        done.time.read = time.read;
        done.time.decode = time.decode;
        match read {
            Read::Vanished => {
                done.vanished = true;
                done.write = item.id.map(|id| {
                    let mut w = Write::new(item, Some(id), item.revision, item.hash.clone());
                    w.status = "missing";
                    w
                });
                (done, None)
            }
            Read::Failed { hash, error } => {
                done.write = Some(failed_write(item, item.id, item.revision, hash, &error));
                done.failed = Some(error);
                (done, None)
            }
            Read::Same { hash } => {
                done.touched = true;
                done.write = Some(Write::new(item, item.id, item.revision, Some(hash)));
                (done, None)
            }
            Read::Photo {
                hash,
                scaled,
                bytes,
            } => {
                let detected = self.detect_photo(worker, item, &mut done, hash, scaled, bytes);
                (done, detected)
            }
        }
    }

    /// A decoded photo: claimed as a move when its path is new and its content that of a
    /// vanished photo, then detected and measured. `None` when it failed (recorded in
    /// `done`).
    fn detect_photo(
        &self,
        worker: &mut Worker,
        item: &Item,
        done: &mut Done,
        hash: String,
        scaled: Scaled,
        bytes: Option<Vec<u8>>,
    ) -> Option<Detected> {
        done.decoded = true;
        done.reduced = bytes.is_some();
        let (mut id, mut revision) = (item.id, item.revision);
        let mut work = item.work.clone();
        let mut moved = false;
        if id.is_none() {
            if let Some((old, old_revision)) = self.claim_move(&hash) {
                (id, revision) = (Some(old), Some(old_revision));
                moved = true;
                work = Work::Embed;
            }
        }
        let prior = id.and_then(|id| self.priors.get(&id));
        let mut seconds = (0.0, 0.0);
        let out = process::detect(
            item,
            (id, revision),
            work,
            hash,
            scaled,
            prior,
            &mut worker.detector,
            self.detector_key,
            self.opts.embed_min_height,
            &mut seconds,
        );
        done.time.detect = seconds.0;
        done.time.quality = seconds.1;
        match out {
            Ok(mut d) => {
                d.bytes = bytes;
                d.tally.moved = usize::from(moved);
                done.tally = d.tally;
                Some(d)
            }
            Err(error) => {
                done.write = Some(failed_write(item, id, revision, None, &error));
                done.failed = Some(error);
                None
            }
        }
    }
}
