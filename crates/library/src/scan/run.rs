//! Running a scan's plan ([`execute`]): the reader threads, one worker thread per
//! [`Worker`], and the writer on the calling thread.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Mutex;
use std::time::Instant;

use super::read::{read, Read, ReadTime};
use super::worker::Shared;
use super::write::{flush, mark_missing, Write};
use super::{Done, Item, Pipeline, Plan, ScanOptions, Summary, Worker};
use crate::{paths, Library, LibraryError, Result};

/// A read photo on its way to a worker: (item index, what was read, how long it took).
type ReadPhoto = (usize, Read, ReadTime);

/// Runs a plan on three kinds of threads at once, so decoding, detection, embedding and
/// writing overlap: reader threads (read, hash, decode at the scale the detector needs),
/// one worker thread per [`Worker`] (detector, matching, quality, then the recognizer on the
/// photo's faces in one batch) and this one (progress, transactions). Whole photos go to
/// whichever worker is free, so detection-heavy and face-heavy photos balance across the
/// cores. Every channel holds at most two photos, so at most `threads + workers + 4`
/// decoded photos are in memory. `bar` shows progress; errors are printed above it and
/// recorded in the library.
pub fn execute(
    lib: &mut Library,
    plan: Plan,
    pipe: &mut Pipeline,
    opts: &ScanOptions,
    bar: &indicatif::ProgressBar,
) -> Result<Summary> {
    if pipe.workers.is_empty() {
        // The readers would wait for a worker forever.
        return Err(LibraryError::Conflict(
            "a scan needs at least one worker with a detector".into(),
        ));
    }
    let start = Instant::now();
    let mut summary = Summary::of(&plan);
    let movable = movable(&plan);
    let priors = super::process::preload(lib, &plan, pipe.models.as_ref())?;
    summary.workers = pipe.workers.len();
    let moved_from: Mutex<HashSet<i64>> = Mutex::new(HashSet::new());
    let items = &plan.items;
    let threads = opts.threads.max(1);
    let next = AtomicUsize::new(0);
    // Every worker runs the same detector.
    let long_side = pipe.workers[0].detector.decode_side();
    let mut batch: Vec<Write> = Vec::new();
    let Pipeline {
        workers,
        detector_key,
        models,
    } = pipe;
    let shared = Shared {
        items,
        movable: &movable,
        moved_from: &moved_from,
        priors: &priors,
        detector_key: detector_key.as_str(),
        models: models.as_ref(),
        opts,
    };
    let (read_tx, read_rx) = std::sync::mpsc::sync_channel::<ReadPhoto>(2);
    // Workers take photos in the order the readers finish: a reorder buffer would hold
    // every photo a fast reader decodes while a slow one works on a large photo, and memory
    // would no longer be bounded.
    let read_rx = Mutex::new(read_rx);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (tx, next) = (read_tx.clone(), &next);
            scope.spawn(move || read_photos(items, next, tx, opts.max_pixels, long_side));
        }
        drop(read_tx);
        let (done_tx, done_rx) = std::sync::mpsc::sync_channel::<Done>(2);
        for worker in workers.iter_mut() {
            let (tx, read_rx, shared, next) = (done_tx.clone(), &read_rx, &shared, &next);
            scope.spawn(move || work_photos(worker, shared, read_rx, tx, next));
        }
        drop(done_tx);
        // A failed write returns early and drops the receiver: each stage stops at its
        // next send.
        write_done(
            lib,
            done_rx,
            items,
            opts.batch_size,
            bar,
            &mut batch,
            &mut summary,
        )
    })?;
    timed_flush(lib, &mut batch, &mut summary)?;
    let moved_from = moved_from.into_inner().unwrap_or_else(|e| e.into_inner());
    mark_missing(lib, &plan, &moved_from, &mut summary)?;
    summary.seconds = start.elapsed().as_secs_f64();
    summary.photos_per_second = if summary.seconds > 0.0 {
        summary.decoded as f64 / summary.seconds
    } else {
        0.0
    };
    Ok(summary)
}

/// Content hash → a vanished or missing photo (id, revision) that a new path may be a move
/// of (the first one, when several share the content).
fn movable(plan: &Plan) -> HashMap<String, (i64, i64)> {
    let mut movable: HashMap<String, (i64, i64)> = HashMap::new();
    for g in plan.missing.iter().chain(&plan.vanished) {
        if let Some(h) = &g.hash {
            movable.entry(h.clone()).or_insert((g.id, g.revision));
        }
    }
    movable
}

/// A reader thread: takes the next item until none is left, reads it at the scale the
/// detector needs and hands it to the workers; stops when they stopped.
fn read_photos(
    items: &[Item],
    next: &AtomicUsize,
    tx: SyncSender<ReadPhoto>,
    max_pixels: u64,
    long_side: u32,
) {
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= items.len() {
            break;
        }
        let (r, t) = read(&items[i], max_pixels, long_side);
        if tx.send((i, r, t)).is_err() {
            break;
        }
    }
}

/// A worker thread: takes whichever read photo comes next, runs it through `worker`'s
/// models and hands the result to the writer.
fn work_photos(
    worker: &mut Worker,
    shared: &Shared<'_>,
    read_rx: &Mutex<Receiver<ReadPhoto>>,
    tx: SyncSender<Done>,
    next: &AtomicUsize,
) {
    loop {
        // The lock is held only while waiting for the next photo.
        let photo = read_rx.lock().map(|rx| rx.recv());
        let Ok(Ok((i, r, t))) = photo else { break };
        // A bug in facelab's own code on one photo fails that photo, not the scan
        // (plugins' panics are caught at the plugin boundary already).
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            shared.process(worker, i, r, t)
        }))
        .unwrap_or_else(|p| shared.panicked(i, p.as_ref()));
        if tx.send(done).is_err() {
            // The writer stopped (a failed transaction): no reader takes another
            // file, and the ones waiting to hand one over are let go.
            next.store(shared.items.len(), Ordering::Relaxed);
            if let Ok(rx) = read_rx.lock() {
                while rx.recv().is_ok() {}
            }
            break;
        }
    }
}

/// The writer (this thread): adds each photo's result to the summary and to `batch`, and
/// writes the batch when it holds `batch_size` photos or 5 seconds passed since the last
/// write. A failed write ends it.
fn write_done(
    lib: &mut Library,
    done_rx: Receiver<Done>,
    items: &[Item],
    batch_size: usize,
    bar: &indicatif::ProgressBar,
    batch: &mut Vec<Write>,
    summary: &mut Summary,
) -> Result<()> {
    let mut last_commit = Instant::now();
    for done in done_rx {
        bar.inc(1);
        summary.record(&done, &items[done.index], bar);
        batch.extend(done.write);
        if batch.len() >= batch_size || last_commit.elapsed().as_secs_f64() > 5.0 {
            timed_flush(lib, batch, summary)?;
            last_commit = Instant::now();
        }
    }
    Ok(())
}

/// Writes `batch` in one transaction, counting the time as the write stage's.
fn timed_flush(lib: &mut Library, batch: &mut Vec<Write>, summary: &mut Summary) -> Result<()> {
    let start = Instant::now();
    let flushed = flush(lib, batch, summary);
    summary.stage_seconds.write += start.elapsed().as_secs_f64();
    flushed
}

impl Summary {
    /// Adds one photo's result (for `item`); a vanished photo and a failure are printed
    /// above the progress bar.
    fn record(&mut self, done: &Done, item: &Item, bar: &indicatif::ProgressBar) {
        let t = done.time;
        for (sum, part) in [
            (&mut self.stage_seconds.read, t.read),
            (&mut self.stage_seconds.decode, t.decode),
            (&mut self.stage_seconds.detect, t.detect),
            (&mut self.stage_seconds.quality, t.quality),
            (&mut self.stage_seconds.redecode, t.redecode),
            (&mut self.stage_seconds.embed, t.embed),
        ] {
            *sum += part;
        }
        if done.vanished {
            self.vanished_during_scan += 1;
            bar.suspend(|| {
                eprintln!(
                    "facelab: {}: vanished during the scan (kept as missing if it was in the library)",
                    paths::display_path(&item.path)
                )
            });
        }
        if let Some(error) = &done.failed {
            bar.suspend(|| eprintln!("facelab: {error}"));
            self.failed
                .push((paths::display_path(&item.path), error.clone()));
        }
        self.touched += usize::from(done.touched);
        self.decoded += usize::from(done.decoded);
        self.reduced += usize::from(done.reduced);
        self.redecoded += usize::from(done.redecoded);
        self.add(&done.tally);
    }
}

/// Ends a scan that had nothing to decode: only vanished photos are marked missing.
pub fn finish_without_work(lib: &mut Library, plan: Plan) -> Result<Summary> {
    let start = Instant::now();
    let mut summary = Summary::of(&plan);
    mark_missing(lib, &plan, &HashSet::new(), &mut summary)?;
    summary.seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}
