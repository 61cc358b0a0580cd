//! Naming faces: `people`, `tag`, `untag`, `confirm`, `reject`, `import-labels`.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context;

use facelab_library::session::{open_library, Outcome, RunContext};
use facelab_library::walk::{self, scan_options};
use facelab_library::Library;

use super::{scan_dirs, PeopleCommand};

/// `facelab people ...`.
pub(super) fn people(ctx: &RunContext, command: PeopleCommand) -> anyhow::Result<Outcome> {
    let mut lib = open_library(ctx)?;
    match command {
        PeopleCommand::List { json } => {
            let people = lib.people()?;
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&people)?)?;
            } else {
                for p in people {
                    writeln!(out, "{}\t{} faces", p.name, p.faces)?;
                }
            }
        }
        PeopleCommand::Add { name } => {
            let p = lib.add_person(&name)?;
            writeln!(std::io::stdout(), "added {}", p.name)?;
        }
        PeopleCommand::Rename { old, new } => {
            lib.rename_person(&old, &new)?;
            writeln!(std::io::stdout(), "renamed {old} to {new}")?;
        }
        PeopleCommand::Merge { from, into } => {
            let n = lib.merge_people(&from, &into)?;
            writeln!(
                std::io::stdout(),
                "merged {from} into {into} ({n} labels moved)"
            )?;
        }
    }
    Ok(Outcome::Success)
}

/// `facelab tag FACE PERSON`.
pub(super) fn tag(ctx: &RunContext, face: i64, person: &str) -> anyhow::Result<Outcome> {
    let mut lib = open_library(ctx)?;
    let added = lib.person(person)?.is_none();
    let p = lib.confirm(face, person, "user")?;
    if added {
        eprintln!("facelab: added a new person {:?}", p.name);
    }
    writeln!(std::io::stdout(), "face {face} is {}", p.name)?;
    Ok(Outcome::Success)
}

/// `facelab untag FACE`.
pub(super) fn untag(ctx: &RunContext, face: i64) -> anyhow::Result<Outcome> {
    let mut lib = open_library(ctx)?;
    match lib.untag(face)? {
        Some(old) => writeln!(std::io::stdout(), "face {face} is no longer {old}")?,
        None => writeln!(std::io::stdout(), "face {face} had no name")?,
    }
    Ok(Outcome::Success)
}

/// `facelab confirm FACE [PERSON]`.
pub(super) fn confirm(
    ctx: &RunContext,
    face: i64,
    person: Option<String>,
) -> anyhow::Result<Outcome> {
    let mut lib = open_library(ctx)?;
    let person = pending_or(&lib, face, person)?;
    let p = lib.confirm(face, &person, "user")?;
    writeln!(std::io::stdout(), "face {face} is {}", p.name)?;
    Ok(Outcome::Success)
}

/// `facelab reject FACE [PERSON]`.
pub(super) fn reject(
    ctx: &RunContext,
    face: i64,
    person: Option<String>,
) -> anyhow::Result<Outcome> {
    let mut lib = open_library(ctx)?;
    let person = pending_or(&lib, face, person)?;
    let p = lib.reject(face, &person)?;
    writeln!(
        std::io::stdout(),
        "face {face} is not {} (never suggested again)",
        p.name
    )?;
    Ok(Outcome::Success)
}

fn pending_or(lib: &Library, face: i64, person: Option<String>) -> anyhow::Result<String> {
    match person {
        Some(p) => Ok(p),
        None => lib.suggestion(face)?.map(|(p, _)| p).ok_or_else(|| {
            anyhow::anyhow!(
                "face {face} has no pending suggestion (help: run `facelab suggest`, or name the person: `facelab confirm {face} NAME`)"
            )
        }),
    }
}

/// What `import-labels` did to the photos of the person folders.
#[derive(Default)]
struct ImportCounts {
    labelled: usize,
    people: usize,
    no_face: usize,
    kept: usize,
    not_scanned: usize,
}

/// `facelab import-labels DIR`.
pub(super) fn import_labels(ctx: &RunContext, dir: &Path, json: bool) -> anyhow::Result<Outcome> {
    let mut lib = open_library(ctx)?;
    let root = std::fs::canonicalize(dir).with_context(|| {
        format!(
            "{}: cannot read (help: give a folder with one sub-folder per person)",
            dir.display()
        )
    })?;
    let summary = scan_dirs(ctx, &mut lib, std::slice::from_ref(&root), false, false)?;
    let folders = walk::person_folders(&root, &scan_options(&ctx.config, false, false))?;
    let c = label_folders(&mut lib, folders)?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "scan": summary, "labelled": c.labelled, "people": c.people, "no_face": c.no_face,
                "kept_other_name": c.kept, "failed": summary.failed.len(),
            }))?
        )?;
    } else {
        writeln!(
            out,
            "named {} faces of {} people; {} photos had no face, {} faces kept the different name they already had, {} photos failed",
            c.labelled,
            c.people,
            c.no_face,
            c.kept,
            summary.failed.len() + c.not_scanned
        )?;
    }
    Ok(Outcome::from_failures(summary.failed.len()))
}

/// Confirms the first face of each photo as its folder's person, unless the face
/// already has a different name.
fn label_folders(
    lib: &mut Library,
    folders: Vec<walk::PersonFolder>,
) -> anyhow::Result<ImportCounts> {
    let mut c = ImportCounts::default();
    for walk::PersonFolder { name, photos } in folders {
        let mut any = false;
        for file in photos {
            let Some(image) = lib.image_id(&file)? else {
                c.not_scanned += 1;
                continue;
            };
            let faces = lib.image_faces(image)?;
            let Some((face, _)) = faces.first() else {
                c.no_face += 1;
                continue;
            };
            let current = lib.person_of(*face)?;
            match current {
                Some(p) if !p.eq_ignore_ascii_case(&name) => {
                    c.kept += 1;
                    continue;
                }
                _ => {}
            }
            lib.confirm(*face, &name, "import")?;
            c.labelled += 1;
            any = true;
        }
        c.people += usize::from(any);
    }
    Ok(c)
}
