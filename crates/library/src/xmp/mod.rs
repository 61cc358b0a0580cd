//! Face regions in XMP: the names and boxes of a photo's faces, written where digiKam,
//! Lightroom, exiftool and the photo managers that import them read them, and read back
//! from what they wrote. Face tags then live in the photos, not only in facelab's library.
//!
//! What is written (`facelab export-xmp`), per photo with named faces:
//! - MWG regions (`mwg-rs:Regions`): each face as a `Face` region with its name and a
//!   normalised, centre-based area of the image **as stored** (EXIF orientation undone),
//!   plus `mwg-rs:AppliedToDimensions` in stored pixels;
//! - Microsoft People regions (`MP:RegionInfo`): `MPReg:Rectangle` "x, y, w, h"
//!   (top-left based, same image frame) with `MPReg:PersonDisplayName`;
//! - keywords in digiKam's convention: `digiKam:TagsList` "People/Name" and
//!   `lr:hierarchicalSubject` "People|Name".
//!
//! The coordinate rule lives in [`regions`] (named converters for orientations 1–8); the
//! library keeps absolute pixels of the upright photo. [`dom`] parses a packet with
//! quick-xml into namespace-resolved elements with byte spans, refusing XMP bombs (size,
//! depth, DTDs and entities); [`read`] finds the regions and keywords in it; [`write`]
//! merges new region structs into an existing packet, replacing only those structs and the
//! facelab-owned keywords, byte for byte elsewhere; [`files`] finds sidecars and the JPEG
//! APP1 packet (img-parts) and writes atomically (temp file, fsync, rename); [`sync`] runs
//! export and import against the library.

pub mod dom;
pub mod files;
pub mod read;
pub mod regions;
pub mod sync;
pub mod write;

/// The namespaces facelab reads and writes (XMP matches on the URI, never on the prefix).
pub mod ns {
    /// RDF.
    pub const RDF: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#";
    /// MWG regions.
    pub const MWG_RS: &str = "http://www.metadataworkinggroup.com/schemas/regions/";
    /// The area structure of MWG regions.
    pub const ST_AREA: &str = "http://ns.adobe.com/xmp/sType/Area#";
    /// The dimensions structure (`AppliedToDimensions`).
    pub const ST_DIM: &str = "http://ns.adobe.com/xap/1.0/sType/Dimensions#";
    /// Microsoft Photo.
    pub const MP: &str = "http://ns.microsoft.com/photo/1.2/";
    /// Microsoft's region info structure.
    pub const MPRI: &str = "http://ns.microsoft.com/photo/1.2/t/RegionInfo#";
    /// Microsoft's region structure.
    pub const MPREG: &str = "http://ns.microsoft.com/photo/1.2/t/Region#";
    /// digiKam.
    pub const DIGIKAM: &str = "http://www.digikam.org/ns/1.0/";
    /// Lightroom.
    pub const LR: &str = "http://ns.adobe.com/lightroom/1.0/";
    /// The XMP envelope.
    pub const X: &str = "adobe:ns:meta/";
}

/// The largest sidecar or packet facelab reads. Real packets are kilobytes (a JPEG's main
/// packet is at most 64 KiB); anything far larger is refused before it is read.
pub const MAX_PACKET_BYTES: u64 = 4 << 20;

/// The deepest element nesting facelab parses. MWG regions need about 12 levels.
pub const MAX_DEPTH: usize = 64;

/// Why reading or writing a photo's XMP failed. Each message names the file and the fix;
/// nothing was written when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum XmpError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {source} (help: check that the file exists and is readable)")]
    Read {
        /// The file (display form).
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Larger than [`MAX_PACKET_BYTES`].
    #[error("{path}: {size} bytes of XMP, above the limit of {max} (help: this is no ordinary XMP packet; move the file away, facelab left it untouched)")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// Not UTF-8.
    #[error("{path}: the XMP is not valid UTF-8 (at byte {offset}) (help: XMP is UTF-8; re-save it with a tool that writes UTF-8, facelab left it untouched)")]
    NotUtf8 {
        /// The file.
        path: String,
        /// The first bad byte.
        offset: usize,
    },
    /// Not well-formed XML, or not RDF where RDF is required.
    #[error("{path}: malformed XMP at byte {offset}: {message} (help: repair or remove the XMP, facelab left it untouched)")]
    Malformed {
        /// The file.
        path: String,
        /// Where.
        offset: u64,
        /// What.
        message: String,
    },
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("{path}: the XMP nests elements deeper than {max} levels (help: this is no ordinary XMP packet; repair or remove it, facelab left it untouched)")]
    TooDeep {
        /// The file.
        path: String,
        /// The limit.
        max: usize,
    },
    /// A DTD (entity declarations): never in XMP, the vehicle of entity-expansion bombs.
    #[error("{path}: the XMP has a DTD (<!DOCTYPE>), which XMP never needs and facelab refuses (entity-expansion guard) (help: remove the DOCTYPE, facelab left the file untouched)")]
    Dtd {
        /// The file.
        path: String,
    },
    /// An entity XML does not predefine.
    #[error("{path}: the XMP uses the undefined entity &{name}; (help: replace it with the character itself, facelab left the file untouched)")]
    Entity {
        /// The file.
        path: String,
        /// The entity's name.
        name: String,
    },
    /// The file to write is read-only.
    #[error("{path}: the file is read-only; facelab does not override that (help: `chmod u+w` it to let facelab write, or use --sidecar)")]
    ReadOnly {
        /// The file.
        path: String,
    },
    /// Writing failed (the original is untouched: writes go to a temporary file first).
    #[error("{path}: cannot write: {source} (help: check that the folder is writable and the disk has room; the original is untouched)")]
    Write {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The JPEG's segments cannot be read or rewritten.
    #[error("{path}: cannot read the JPEG's segments: {message} (help: re-save the photo, or use --sidecar; facelab left it untouched)")]
    Jpeg {
        /// The file.
        path: String,
        /// img-parts' words.
        message: String,
    },
    /// The packet does not fit one APP1 segment.
    #[error("{path}: the XMP packet would be {size} bytes, more than one JPEG APP1 segment holds ({max}) (help: use --sidecar for this photo; facelab left it untouched)")]
    PacketTooLarge {
        /// The file.
        path: String,
        /// The packet's size.
        size: usize,
        /// The segment's capacity.
        max: usize,
    },
}
