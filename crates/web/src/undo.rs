//! Undo: each action records its inverse as steps, applied in order through the library's
//! own functions (so each is one of its transactions, like any other change):
//!
//! | action | inverse |
//! |---|---|
//! | name a group (unticked faces rejected), merge a group into a person | the members' labels as they were, the group back with its id, the person removed if the naming added them |
//! | merge group B into A | B back with its id and its faces, and the cannot-links between the two that the merge dropped |
//! | split a group | the new half merged back |
//! | hide a group or a face / show a face | show / hide those faces |
//! | confirm, reject, remove from a person, assign, bulk-confirm | those faces' labels as they were |
//! | rename a person | the old name back |
//! | merge two people | both people's labels as they were (the removed person comes back) |
//! | hide / show a person | show / hide them |
//! | draw a face | the drawn face removed (if nobody named it since) |
//!
//! Labels are put back only if they are still as the action left them, checked in the
//! write transaction that puts them back: when another process (a CLI command, a scan)
//! changed them since, the undo is refused with what changed, and nothing is undone. The
//! labels step comes first in every inverse, so a refusal leaves every step undone.

use facelab_library::clusters::CannotLink;
use facelab_library::hidden::LabelRow;
use facelab_library::Library;

/// One step of an inverse.
#[derive(Debug, Clone)]
pub enum Step {
    /// Put these faces' labels back as `before`, if they are still `after`.
    Labels {
        /// The faces.
        faces: Vec<i64>,
        /// Their labels before the action.
        before: Vec<LabelRow>,
        /// Their labels right after it.
        after: Vec<LabelRow>,
    },
    /// Put these cannot-link pairs back.
    Links(Vec<CannotLink>),
    /// Put these faces back into cluster `id` of `model`.
    Cluster {
        /// Cluster id.
        id: i64,
        /// Its recognizer key.
        model: String,
        /// Its faces.
        faces: Vec<i64>,
    },
    /// Merge cluster `.1` back into `.0`.
    MergeClusters(i64, i64),
    /// Remove this person if nothing names them.
    RemovePerson(String),
    /// Show these faces.
    ShowFaces(Vec<i64>),
    /// Hide these faces.
    HideFaces(Vec<i64>),
    /// Hide (true) or show the person.
    PersonHidden(String, bool),
    /// Rename person `.0` to `.1`.
    Rename(String, String),
    /// Remove this drawn face.
    RemoveDrawn(i64),
}

/// A done action: what the page says, and its inverse.
#[derive(Debug, Clone)]
pub struct Done {
    /// "named group 12 Ada (20 faces)".
    pub label: String,
    /// Applied in order.
    pub inverse: Vec<Step>,
}

/// Done actions kept for undo.
pub const KEPT: usize = 50;

/// The inverse step that puts the labels of `faces` back as `before`, read now (right
/// after the action) as what the undo checks is unchanged.
pub fn labels(
    lib: &Library,
    faces: Vec<i64>,
    before: Vec<LabelRow>,
) -> facelab_library::Result<Step> {
    let after = lib.labels_of(&faces)?;
    Ok(Step::Labels {
        faces,
        before,
        after,
    })
}

/// Applies the inverse steps of `done`.
pub fn apply(lib: &mut Library, done: &Done) -> facelab_library::Result<()> {
    for step in &done.inverse {
        match step {
            Step::Labels {
                faces,
                before,
                after,
            } => lib.restore_labels_if(faces, after, before)?,
            Step::Links(links) => {
                facelab_library::clusters::restore_links(lib, links)?;
            }
            Step::Cluster { id, model, faces } => {
                facelab_library::clusters::restore(lib, *id, model, faces)?;
            }
            Step::MergeClusters(a, b) => {
                facelab_library::clusters::merge(lib, *a, *b)?;
            }
            Step::RemovePerson(name) => {
                lib.remove_person_if_unused(name)?;
            }
            Step::ShowFaces(faces) => {
                lib.show_faces(faces)?;
            }
            Step::HideFaces(faces) => {
                lib.hide_faces(faces)?;
            }
            Step::PersonHidden(name, hidden) => lib.set_person_hidden(name, *hidden)?,
            Step::Rename(from, to) => lib.rename_person(from, to)?,
            Step::RemoveDrawn(face) => {
                lib.remove_drawn_face(*face)?;
            }
        }
    }
    Ok(())
}
