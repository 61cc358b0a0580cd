//! The changes (POST), each through the library's own functions, each recording its
//! inverse ([`crate::undo`]), each answered with a redirect back to the page it came from.

use std::collections::BTreeSet;

use facelab_library::clusters;
use facelab_library::Library;
use facelab_plugin_api::BBox;

use crate::app::{App, Fail, Handled, Reply, Request};
use crate::guard::{self, parse_id};
use crate::undo::{self, Done, Step};

/// Routes a POST.
pub fn route(app: &App, lib: &mut Library, req: &Request) -> Handled {
    let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let done = match parts.as_slice() {
        ["undo"] => return undo_last(app, lib, req),
        ["groups", id, "view"] => return crate::group::view(parse_id(id)?, req),
        ["groups", id, "name"] => name_group(app, lib, parse_id(id)?, req)?,
        ["groups", id, "merge"] => merge_groups(lib, parse_id(id)?, req)?,
        ["groups", id, "split"] => split_group(app, lib, parse_id(id)?)?,
        ["groups", id, "hide"] => hide_group(lib, parse_id(id)?)?,
        ["faces", id, "hide"] => hide_face(lib, parse_id(id)?)?,
        ["faces", id, "show"] => show_face(lib, parse_id(id)?)?,
        ["faces", id, "confirm"] => confirm(lib, parse_id(id)?, req)?,
        ["faces", id, "reject"] => reject(lib, parse_id(id)?, req)?,
        ["suggestions", "bulk"] => bulk_confirm(lib, req)?,
        ["people", id, "rename"] => return rename(app, lib, parse_id(id)?, req),
        ["people", id, "merge"] => merge_people(lib, parse_id(id)?, req)?,
        ["people", id, "hide"] => person_hidden(lib, parse_id(id)?, true)?,
        ["people", id, "show"] => person_hidden(lib, parse_id(id)?, false)?,
        ["photo", id, "faces"] => draw_face(app, lib, parse_id(id)?, req)?,
        _ => return Err(Fail::NotFound(format!("no action {}", req.path))),
    };
    record(app, done);
    Ok(back(req))
}

/// The redirect to the page the form came from.
fn back(req: &Request) -> Reply {
    Reply::redirect(&guard::local_path(req.f("back").unwrap_or("/")))
}

fn undo_last(app: &App, lib: &mut Library, req: &Request) -> Handled {
    let last = app.done.lock().ok().and_then(|mut d| d.pop());
    let Some(done) = last else {
        return Err(Fail::Conflict("nothing to undo".into()));
    };
    if let Err(e) = undo::apply(lib, &done) {
        return Err(Fail::Conflict(match e {
            facelab_library::LibraryError::Conflict(why) => format!(
                "Undo of \"{}\" refused: {why}. Nothing was undone.",
                done.label
            ),
            e => format!("could not undo \"{}\": {e}", done.label),
        }));
    }
    Ok(back(req))
}

/// A person's name from field `key`: trimmed, not empty.
fn name_field(req: &Request, key: &str) -> Result<String, Fail> {
    let n = req.f(key).unwrap_or("").trim().to_owned();
    if n.is_empty() {
        return Err(Fail::Bad(format!("the form has no `{key}`")));
    }
    Ok(n)
}

/// Names group `id` `person`; the faces unticked on the page (and on the group's other
/// pages, [`crate::group`]) are rejected for `person` first, so the naming leaves them out
/// (and clustering and suggestions keep them apart from that person).
fn name_group(app: &App, lib: &mut Library, id: i64, req: &Request) -> Result<Done, Fail> {
    let person = name_field(req, "person")?;
    let model = clusters::model_of(lib, id)?;
    let members: Vec<i64> = clusters::members(lib, id, &app.models)?
        .iter()
        .map(|m| m.face)
        .collect();
    let unticked = crate::group::left_out(req, &members)?;
    let before = lib.labels_of(&members)?;
    let added = lib.person(&person)?.is_none();
    if !unticked.is_empty() {
        lib.person_or_add(&person)?;
    }
    for f in &unticked {
        lib.reject(*f, &person)?;
    }
    let (named, _) = clusters::name(lib, id, &person, &app.models)?;
    let mut inverse = vec![
        undo::labels(lib, members.clone(), before)?,
        Step::Cluster {
            id,
            model,
            faces: members,
        },
    ];
    if added {
        inverse.push(Step::RemovePerson(person.clone()));
    }
    Ok(Done {
        label: format!(
            "named group {id} {person} ({named} faces{})",
            if unticked.is_empty() {
                String::new()
            } else {
                format!(", {} left out", unticked.len())
            }
        ),
        inverse,
    })
}

fn merge_groups(lib: &mut Library, a: i64, req: &Request) -> Result<Done, Fail> {
    let b = parse_id(req.f("other").unwrap_or(""))?;
    let model = clusters::model_of(lib, b)?;
    let faces = lib.group_faces(b, i64::MAX)?;
    let links = clusters::links_between(lib, a, b)?;
    let moved = clusters::merge(lib, a, b)?;
    Ok(Done {
        label: format!("merged group {b} into group {a} ({moved} faces)"),
        inverse: vec![
            Step::Cluster {
                id: b,
                model,
                faces,
            },
            Step::Links(links),
        ],
    })
}

fn split_group(app: &App, lib: &mut Library, id: i64) -> Result<Done, Fail> {
    let (new_id, stay, go) = clusters::split(lib, id, &app.models)?;
    Ok(Done {
        label: format!("split group {id}: {stay} stay, {go} to group {new_id}"),
        inverse: vec![Step::MergeClusters(id, new_id)],
    })
}

fn hide_group(lib: &mut Library, id: i64) -> Result<Done, Fail> {
    clusters::model_of(lib, id)?;
    let faces = lib.group_faces(id, i64::MAX)?;
    let hid = lib.hide_faces(&faces)?;
    Ok(Done {
        label: format!("hid group {id} ({} faces)", hid.len()),
        inverse: vec![Step::ShowFaces(hid)],
    })
}

fn face_exists(lib: &Library, face: i64) -> Result<(), Fail> {
    match lib.face_source(face)? {
        Some(_) => Ok(()),
        None => Err(Fail::NotFound(format!("no face with id {face}"))),
    }
}

fn hide_face(lib: &mut Library, face: i64) -> Result<Done, Fail> {
    face_exists(lib, face)?;
    let hid = lib.hide_faces(&[face])?;
    if hid.is_empty() {
        return Err(Fail::Conflict(format!(
            "face {face} is hidden already or has a name"
        )));
    }
    Ok(Done {
        label: format!("hid face {face}"),
        inverse: vec![Step::ShowFaces(hid)],
    })
}

fn show_face(lib: &mut Library, face: i64) -> Result<Done, Fail> {
    face_exists(lib, face)?;
    lib.show_faces(&[face])?;
    Ok(Done {
        label: format!("showed face {face} again"),
        inverse: vec![Step::HideFaces(vec![face])],
    })
}

/// Confirms `face` as the form's `person` (a suggestion confirmed, a face assigned).
fn confirm(lib: &mut Library, face: i64, req: &Request) -> Result<Done, Fail> {
    face_exists(lib, face)?;
    let person = name_field(req, "person")?;
    let before = lib.labels_of(&[face])?;
    let added = lib.person(&person)?.is_none();
    let p = lib.confirm(face, &person, "user")?;
    let mut inverse = vec![undo::labels(lib, vec![face], before)?];
    if added {
        inverse.push(Step::RemovePerson(p.name.clone()));
    }
    Ok(Done {
        label: format!("face {face} is {}", p.name),
        inverse,
    })
}

/// Records that `face` is not the form's `person` (a suggestion rejected, a face removed
/// from a person).
fn reject(lib: &mut Library, face: i64, req: &Request) -> Result<Done, Fail> {
    face_exists(lib, face)?;
    let person = name_field(req, "person")?;
    let before = lib.labels_of(&[face])?;
    let p = lib.reject(face, &person)?;
    Ok(Done {
        label: format!("face {face} is not {}", p.name),
        inverse: vec![undo::labels(lib, vec![face], before)?],
    })
}

/// Confirms every pending suggestion of `person` scoring at least `min`.
fn bulk_confirm(lib: &mut Library, req: &Request) -> Result<Done, Fail> {
    let person = name_field(req, "person")?;
    let min: f64 = req
        .f("min")
        .and_then(|m| m.trim().parse().ok())
        .ok_or_else(|| Fail::Bad("the form's `min` is not a number".into()))?;
    let expected: Option<i64> = req.f("count").and_then(|c| c.parse().ok());
    let (total, cards) = lib.suggestion_cards(Some(&person), min, 0, i64::MAX)?;
    if expected.is_some_and(|e| e != total) {
        return Err(Fail::Conflict(format!(
            "the suggestions of {person} changed since you looked ({} then, {total} now): look again",
            expected.unwrap_or(0)
        )));
    }
    let faces: Vec<i64> = cards.iter().map(|c| c.face).collect();
    let before = lib.labels_of(&faces)?;
    let mut n = 0;
    for c in &cards {
        lib.confirm(c.face, &c.person, "user")?;
        n += 1;
    }
    Ok(Done {
        label: format!("confirmed {n} suggestions of {person} scoring {min:.2} or more"),
        inverse: vec![undo::labels(lib, faces, before)?],
    })
}

fn person_name(lib: &Library, id: i64) -> Result<String, Fail> {
    Ok(lib
        .person_card(id)?
        .ok_or_else(|| Fail::NotFound(format!("no person with id {id}")))?
        .name)
}

/// Renames person `id`; a name another person has is a merge, done only once confirmed.
fn rename(app: &App, lib: &mut Library, id: i64, req: &Request) -> Handled {
    let old = person_name(lib, id)?;
    let new = name_field(req, "name")?;
    match lib.person(&new)? {
        Some(other) if other.id != id => {
            if req.f("confirm") != Some("merge") {
                return crate::pages::confirm_merge(app, req, id, &old, &other.name);
            }
            let done = merge(lib, &old, &other.name)?;
            record(app, done);
        }
        _ => {
            lib.rename_person(&old, &new)?;
            record(
                app,
                Done {
                    label: format!("renamed {old} to {new}"),
                    inverse: vec![Step::Rename(new.clone(), old.clone())],
                },
            );
        }
    }
    Ok(back(req))
}

/// Keeps `done` for undo, the last [`undo::KEPT`] only.
fn record(app: &App, done: Done) {
    if let Ok(mut d) = app.done.lock() {
        d.push(done);
        let n = d.len();
        if n > undo::KEPT {
            d.drain(..n - undo::KEPT);
        }
    }
}

fn merge_people(lib: &mut Library, id: i64, req: &Request) -> Result<Done, Fail> {
    let from = person_name(lib, id)?;
    let into = name_field(req, "into")?;
    let into = lib
        .person(&into)?
        .ok_or_else(|| Fail::NotFound(format!("no person called {into:?}")))?
        .name;
    merge(lib, &from, &into)
}

/// Merges `from` into `into`, keeping both people's labels for the undo.
fn merge(lib: &mut Library, from: &str, into: &str) -> Result<Done, Fail> {
    let mut faces: BTreeSet<i64> = BTreeSet::new();
    for name in [from, into] {
        if let Some(p) = lib.person(name)? {
            faces.extend(lib.labelled_faces(p.id)?);
        }
    }
    let faces: Vec<i64> = faces.into_iter().collect();
    let before = lib.labels_of(&faces)?;
    let moved = lib.merge_people(from, into)?;
    Ok(Done {
        label: format!("merged {from} into {into} ({moved} labels)"),
        inverse: vec![undo::labels(lib, faces, before)?],
    })
}

fn person_hidden(lib: &mut Library, id: i64, hidden: bool) -> Result<Done, Fail> {
    let name = person_name(lib, id)?;
    lib.set_person_hidden(&name, hidden)?;
    Ok(Done {
        label: format!("{} {name}", if hidden { "hid" } else { "showed" }),
        inverse: vec![Step::PersonHidden(name.clone(), !hidden)],
    })
}

/// Adds the face drawn on photo `image` (`x`, `y`, `w`, `h` in upright photo pixels), named
/// `person` when given: the same path as `facelab faces add`.
fn draw_face(app: &App, lib: &mut Library, image: i64, req: &Request) -> Result<Done, Fail> {
    let photo = lib
        .photo(image)?
        .ok_or_else(|| Fail::NotFound(format!("no scanned photo with id {image}")))?;
    let num = |k: &str| -> Result<f32, Fail> {
        req.f(k)
            .and_then(|v| v.trim().parse::<f32>().ok())
            .filter(|v| v.is_finite())
            .ok_or_else(|| Fail::Bad(format!("the box's `{k}` is not a number")))
    };
    let b = BBox::new(num("x")?, num("y")?, num("w")?, num("h")?);
    let mut rec = app
        .recognizer
        .lock()
        .map_err(|_| Fail::Internal("the recognizer lock is poisoned".into()))?;
    if rec.is_none() {
        *rec = facelab_library::session::open_recognizer(&app.ctx)
            .map_err(|e| Fail::Internal(format!("{e:#}")))?;
    }
    let face = facelab_library::manual::add_drawn_face(
        lib,
        &photo,
        b,
        rec.as_mut().map(|(r, k)| (r, &*k)),
        app.ctx.config.images.max_pixels,
    )
    .map_err(|e| match e {
        facelab_library::manual::DrawnFaceError::Library(e) => Fail::from(e),
        e => Fail::Conflict(e.to_string()),
    })?;
    drop(rec);
    let mut label = format!("drew face {face}");
    let mut added_person = None;
    if let Some(person) = req.f("person").map(str::trim).filter(|p| !p.is_empty()) {
        let added = lib.person(person)?.is_none();
        let p = lib.confirm(face, person, "user")?;
        label.push_str(&format!(" as {}", p.name));
        added_person = added.then_some(p.name);
    }
    let mut inverse = vec![
        undo::labels(lib, vec![face], vec![])?,
        Step::RemoveDrawn(face),
    ];
    inverse.extend(added_person.map(Step::RemovePerson));
    Ok(Done { label, inverse })
}
