//! Evaluation: the standard protocols and the bench that runs them.
//!
//! [`wider`] scores detections by WIDER FACE's official rules; [`voc`] measures detection
//! against labelled boxes; [`faceeval`] holds the LFW and ORL protocols; [`operating`]
//! finds a detector's operating point (taggable faces found against false positives);
//! [`bench`](mod@bench) runs a suite of pipelines over those tasks into one report's data
//! ([`bench::report`]), which `facelab-report` renders.
#![deny(missing_docs)]

pub mod bench;
pub mod faceeval;
pub mod operating;
pub mod voc;
pub mod wider;
