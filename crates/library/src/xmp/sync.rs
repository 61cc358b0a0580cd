//! Export and import of one photo's face regions against the library.
//!
//! **Export** writes the photo's named faces. Regions already in the file that overlap one
//! of the photo's library faces (IoU ≥ [`MATCH_IOU`], the rule a detector switch uses) are
//! facelab's to replace; the others (faces facelab does not know, pets, focus areas) are
//! written back with their name, type and area, so nothing another program tagged is lost.
//!
//! **Import** reads the MWG and Microsoft regions of the photo's sidecars and embedded
//! packet, drops full-frame, unnamed and non-face regions and the second copy of a region
//! (digiKam writes each face in both schemas), and matches the rest one-to-one to the
//! photo's faces by IoU. A matched face without a name is confirmed with source `xmp`; an
//! unmatched region becomes a face of origin `xmp`, measured and embedded like any other.
//! A face already named otherwise keeps its name (reported as a conflict). Running it twice
//! changes nothing: the second run finds every region on a face that already has its name.

use std::path::{Path, PathBuf};

use facelab_plugin_api::BBox;

use super::dom::{parse, Dom};
use super::files::{
    check_writable, is_jpeg, jpeg_packet, jpeg_with_packet, read_sidecar, sidecar_candidates,
    sidecar_path, write_atomic,
};
use super::read::regions;
use super::regions::{
    area_from_upright_box, is_full_frame, stored_size, upright_box_from_area, Region, RegionSource,
    StoredArea,
};
use super::write::{merge, new_packet, Export, OutRegion};
use super::XmpError;
use crate::identity::ModelKeys;
use crate::manual::{measure_boxes, NewFace, Origin, PhotoFace, PhotoRecord};
use crate::paths::display_path;
use crate::scan::{match_by_iou, MATCH_IOU};
use crate::Library;
use facelab_engine::pipeline::FaceRecognizer;

/// Where `export-xmp` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `photo.jpg.xmp` beside the photo.
    Sidecar,
    /// The JPEG's own APP1 packet.
    InPlace,
}

/// What exporting one photo did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exported {
    /// Written, with this many named faces (and this many other regions kept).
    Written {
        /// Named faces written.
        faces: usize,
        /// Regions of the file facelab did not own, written back.
        kept: usize,
    },
    /// The file already holds exactly this.
    Unchanged,
    /// Nothing to write: no face of the photo has a name.
    NoNames,
    /// `--in-place` on a file that is not a JPEG.
    NotJpeg,
}

fn area_box(a: &StoredArea) -> BBox {
    BBox::new(
        (a.x - a.w / 2.0) as f32,
        (a.y - a.h / 2.0) as f32,
        a.w as f32,
        a.h as f32,
    )
}

fn out_region(r: &Region) -> OutRegion {
    OutRegion {
        name: r.name.clone(),
        kind: r.kind.clone(),
        area: r.area,
    }
}

/// The existing packet of the target, parsed: (text, dom).
fn existing_packet(bytes: Option<Vec<u8>>, path: &str) -> Result<Option<(String, Dom)>, XmpError> {
    let Some(bytes) = bytes else {
        return Ok(None);
    };
    let dom = parse(&bytes, path)?;
    // `parse` checked UTF-8.
    let text = String::from_utf8(bytes).expect("parse checks UTF-8");
    Ok(Some((text, dom)))
}

/// Writes the named faces of `photo` to its sidecar or (JPEG only) into the file.
pub fn export_photo(
    lib: &mut Library,
    photo: &PhotoRecord,
    target: Target,
) -> Result<Exported, XmpError> {
    let named: Vec<_> = photo.faces.iter().filter(|f| f.person.is_some()).collect();
    if named.is_empty() {
        return Ok(Exported::NoNames);
    }
    let path = &photo.path;
    let Some(dest) = destination(path, target)? else {
        return Ok(Exported::NotJpeg);
    };
    // Before any work: a read-only target is refused as such, whatever else it holds.
    check_writable(&dest.file)?;
    let (e, kept) = export_of(photo, &named, dest.existing.as_ref().map(|(_, dom)| dom));
    let text = match &dest.existing {
        Some((old, dom)) => merge(old, dom, &e, &display_path(&dest.file))?,
        None => new_packet(&e),
    };
    if dest.existing.as_ref().is_some_and(|(old, _)| *old == text) {
        return Ok(Exported::Unchanged);
    }
    match dest.photo_bytes {
        None => write_atomic(&dest.file, text.as_bytes())?,
        Some(bytes) => {
            let new = jpeg_with_packet(path, &bytes, text.as_bytes())?;
            write_atomic(path, &new)?;
            // Same pixels, new bytes: the next scan should not detect the photo again.
            lib.photo_rewritten(photo.id, path)
                .map_err(|err| XmpError::Write {
                    path: display_path(path),
                    source: std::io::Error::other(err.to_string()),
                })?;
        }
    }
    Ok(Exported::Written {
        faces: named.len(),
        kept,
    })
}

/// The file an export writes and what it holds now.
struct Destination {
    /// The sidecar, or the photo itself.
    file: PathBuf,
    /// The photo's bytes, when the packet goes into the JPEG.
    photo_bytes: Option<Vec<u8>>,
    /// The file's packet, parsed: (text, dom).
    existing: Option<(String, Dom)>,
}

/// Where an export of the photo at `path` to `target` writes, read; `None` for
/// [`Target::InPlace`] on a file that is not a JPEG.
fn destination(path: &Path, target: Target) -> Result<Option<Destination>, XmpError> {
    Ok(Some(match target {
        Target::Sidecar => {
            let file = sidecar_path(path);
            let existing = existing_packet(read_sidecar(&file)?, &display_path(&file))?;
            Destination {
                file,
                photo_bytes: None,
                existing,
            }
        }
        Target::InPlace => {
            let shown = display_path(path);
            let bytes = std::fs::read(path).map_err(|source| XmpError::Read {
                path: shown.clone(),
                source,
            })?;
            if !is_jpeg(&bytes) {
                return Ok(None);
            }
            let existing = existing_packet(jpeg_packet(path, &bytes)?, &shown)?;
            Destination {
                file: path.to_owned(),
                photo_bytes: Some(bytes),
                existing,
            }
        }
    }))
}

/// What the packet gets: the `named` faces of `photo` as `Face` regions in both schemas,
/// and the regions of the `existing` packet that are not facelab's (none overlaps a face of
/// the photo), kept as they are. Returns it with the number of regions kept.
fn export_of(photo: &PhotoRecord, named: &[&PhotoFace], existing: Option<&Dom>) -> (Export, usize) {
    let (w, h, o) = (photo.width, photo.height, photo.orientation);
    let library_areas: Vec<BBox> = photo
        .faces
        .iter()
        .map(|f| area_box(&area_from_upright_box(&f.bbox, w, h, o)))
        .collect();
    let mut e = Export {
        dims: stored_size(w, h, o),
        ..Export::default()
    };
    for f in named {
        let name = f.person.clone().expect("filtered above");
        let r = OutRegion {
            name: Some(name.clone()),
            kind: "Face".into(),
            area: area_from_upright_box(&f.bbox, w, h, o),
        };
        e.mwg.push(r.clone());
        e.microsoft.push(r);
        if !e.names.contains(&name) {
            e.names.push(name);
        }
    }
    let mut kept = 0;
    if let Some(dom) = existing {
        for r in regions(dom).regions {
            let ours = r.is_face()
                && library_areas
                    .iter()
                    .any(|b| facelab_plugin_kit::geometry::iou(b, &area_box(&r.area)) >= MATCH_IOU);
            if ours {
                if let Some(n) = &r.name {
                    e.dropped.push(n.clone());
                }
                continue;
            }
            kept += 1;
            match r.source {
                RegionSource::Mwg => e.mwg.push(out_region(&r)),
                RegionSource::Microsoft => e.microsoft.push(out_region(&r)),
            }
        }
    }
    (e, kept)
}

/// What importing one photo did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Imported {
    /// XMP sources read (sidecars and the embedded packet).
    pub sources: usize,
    /// Face regions with a name that were taken into account.
    pub regions: usize,
    /// Detected faces that got the region's name.
    pub named: usize,
    /// Faces created where no face matched a region.
    pub created: usize,
    /// Regions whose face already had that name.
    pub unchanged: usize,
    /// Faces already named otherwise: (face id, library name, XMP name); the library's
    /// name stays.
    pub conflicts: Vec<(i64, String, String)>,
    /// Regions covering the whole image (ignored, as digiKam does).
    pub full_frame: usize,
    /// Regions without a name, or of another type than Face, or with an unusable area.
    pub ignored: usize,
    /// Second copies of a region (same name, overlapping: MWG and Microsoft both).
    pub duplicates: usize,
}

/// Reads every packet of `photo`: its sidecars, then its embedded packet (JPEG).
fn packets(photo: &PhotoRecord) -> Result<Vec<Dom>, XmpError> {
    let mut out = Vec::new();
    for file in sidecar_candidates(&photo.path) {
        if let Some(bytes) = read_sidecar(&file)? {
            out.push(parse(&bytes, &display_path(&file))?);
        }
    }
    let shown = display_path(&photo.path);
    let bytes = std::fs::read(&photo.path).map_err(|source| XmpError::Read {
        path: shown.clone(),
        source,
    })?;
    if is_jpeg(&bytes) {
        if let Some(p) = jpeg_packet(&photo.path, &bytes)? {
            out.push(parse(&p, &shown)?);
        }
    }
    Ok(out)
}

/// Imports the regions of `photo` into the library. The error is one line naming the file;
/// on an XMP error nothing was changed.
pub fn import_photo(
    lib: &mut Library,
    photo: &PhotoRecord,
    recognizer: &mut dyn FnMut() -> Result<Option<(FaceRecognizer, ModelKeys)>, String>,
    embedder: &mut Option<Option<(FaceRecognizer, ModelKeys)>>,
    max_pixels: u64,
) -> Result<Imported, String> {
    let doms = packets(photo).map_err(|e| e.to_string())?;
    let mut out = Imported {
        sources: doms.len(),
        ..Imported::default()
    };
    let wanted = wanted_regions(&doms, photo, &mut out);
    out.regions = wanted.len();
    if wanted.is_empty() {
        return Ok(out);
    }
    let create = name_matched(lib, photo, &wanted, &mut out)?;
    if create.is_empty() {
        return Ok(out);
    }
    if embedder.is_none() {
        *embedder = Some(recognizer()?);
    }
    let rec = embedder
        .as_mut()
        .expect("set above")
        .as_mut()
        .map(|(r, m)| (r, &*m));
    let (w, h) = (photo.width, photo.height);
    let new_boxes: Vec<BBox> = create.iter().map(|(_, b)| *b).collect();
    let measured = measure_boxes(&photo.path, (w, h), &new_boxes, rec, max_pixels)?;
    for ((name, b), (quality, embeddings)) in create.iter().zip(measured) {
        let face = NewFace {
            bbox: *b,
            origin: Origin::Xmp,
            quality,
            embeddings,
        };
        let id = lib.add_face(photo.id, &face).map_err(|e| e.to_string())?;
        lib.confirm(id, name, "xmp").map_err(|e| e.to_string())?;
        out.created += 1;
    }
    Ok(out)
}

/// The named face regions of `doms` as (name, upright box of `photo`), each once: regions
/// that are not faces, cover the whole frame, have no usable name or area, or repeat an
/// earlier one (same name, overlapping) are counted in `out` and left out.
fn wanted_regions(doms: &[Dom], photo: &PhotoRecord, out: &mut Imported) -> Vec<(String, BBox)> {
    let (w, h, o) = (photo.width, photo.height, photo.orientation);
    let mut wanted: Vec<(String, BBox)> = Vec::new();
    for dom in doms {
        let found = regions(dom);
        out.ignored += found.unusable;
        for r in found.regions {
            if !r.is_face() {
                out.ignored += 1;
                continue;
            }
            if is_full_frame(&r.area) {
                out.full_frame += 1;
                continue;
            }
            let Some(name) = r.name.clone().filter(|n| !n.chars().any(char::is_control)) else {
                out.ignored += 1;
                continue;
            };
            let b = clamp(upright_box_from_area(&r.area, w, h, o), w, h);
            if b.width < 1.0 || b.height < 1.0 {
                out.ignored += 1;
                continue;
            }
            let dup = wanted.iter().any(|(n, o)| {
                n.eq_ignore_ascii_case(&name)
                    && facelab_plugin_kit::geometry::iou(o, &b) >= MATCH_IOU
            });
            if dup {
                out.duplicates += 1;
                continue;
            }
            wanted.push((name, b));
        }
    }
    wanted
}

/// Matches `wanted` one-to-one to the faces of `photo` by IoU and confirms each matched
/// face that has no name yet; returns the regions no face matched, to be created.
fn name_matched(
    lib: &mut Library,
    photo: &PhotoRecord,
    wanted: &[(String, BBox)],
    out: &mut Imported,
) -> Result<Vec<(String, BBox)>, String> {
    let faces: Vec<BBox> = photo.faces.iter().map(|f| f.bbox).collect();
    let boxes: Vec<BBox> = wanted.iter().map(|(_, b)| *b).collect();
    let matched = match_by_iou(&faces, &boxes, MATCH_IOU);
    let mut create: Vec<(String, BBox)> = Vec::new();
    for ((name, b), m) in wanted.iter().zip(matched) {
        let Some(i) = m else {
            create.push((name.clone(), *b));
            continue;
        };
        let face = &photo.faces[i];
        match &face.person {
            Some(p) if p.eq_ignore_ascii_case(name) => out.unchanged += 1,
            Some(p) => out.conflicts.push((face.id, p.clone(), name.clone())),
            None => {
                lib.confirm(face.id, name, "xmp")
                    .map_err(|e| e.to_string())?;
                out.named += 1;
            }
        }
    }
    Ok(create)
}

/// `b` clipped to the `w` × `h` photo (a region may reach past the edge).
pub fn clamp(b: BBox, w: u32, h: u32) -> BBox {
    let x0 = b.x.clamp(0.0, w as f32);
    let y0 = b.y.clamp(0.0, h as f32);
    let x1 = (b.x + b.width).clamp(0.0, w as f32);
    let y1 = (b.y + b.height).clamp(0.0, h as f32);
    BBox::new(x0, y0, x1 - x0, y1 - y0)
}
