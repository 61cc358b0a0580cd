//! Undo: each action records its inverse as steps, applied in order through the library's
//! own functions (so each is one of its transactions, like any other change):
//!
//! | action | inverse |
//! |---|---|
//! | name a group (unticked faces rejected), merge a group into a person | the members' labels as they were, the group back with its id, the person removed if the naming added them |
//! | merge group B into A | B back with its id and its faces |
//! | split a group | the new half merged back |
//! | hide a group or a face / show a face | show / hide those faces |
//! | confirm, reject, remove from a person, assign, bulk-confirm | those faces' labels as they were |
//! | rename a person | the old name back |
//! | merge two people | both people's labels as they were (the removed person comes back) |
//! | hide / show a person | show / hide them |
//! | draw a face | the drawn face removed (if nobody named it since) |
//!
//! Labels are put back as they were read just before the action; a change another process
//! made to those same faces between the action and its undo is overwritten by the undo.

use facelab_library::hidden::LabelRow;
use facelab_library::Library;

/// One step of an inverse.
#[derive(Debug, Clone)]
pub enum Step {
    /// Put these faces' labels back.
    Labels(Vec<i64>, Vec<LabelRow>),
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

/// Applies the inverse steps of `done`.
pub fn apply(lib: &mut Library, done: &Done) -> facelab_library::Result<()> {
    for step in &done.inverse {
        match step {
            Step::Labels(faces, rows) => lib.restore_labels(faces, rows)?,
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
