//! The accuracy tasks: the data each one reads (loaded once for all pipelines), and one
//! function per task that turns an opened pipeline's detections or embeddings into results,
//! with the protocols of `../shared/datasets/README.md`.
//!
//! `data` loads the data sets; `recognition` scores a pipeline's embeddings (ORL, LFW,
//! clustering) and `detection` its detections (WIDER FACE, the labelled sets); `naming`
//! names people through the face library with the real binary.

mod data;
mod detection;
mod naming;
mod recognition;

pub use data::{
    labelled_sets, load_lfw, load_people, load_variants, union, LfwData, PeopleData, Variant,
};
pub use detection::{detect_faces, voc, wider, wider_operating};
pub use naming::{naming, naming_split, NamingPhoto, NamingSplit};
pub use recognition::{
    cluster_variants, clustering, declared_metric, embed_faces, lfw, orl, thin_roc,
};
