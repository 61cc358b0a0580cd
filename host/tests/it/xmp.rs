//! XMP face regions through the real binary on real photos, checked by an independent
//! reader: exiftool (Debian's libimage-exiftool-perl, installed by scripts/setup.sh) reads
//! what facelab writes, and writes what facelab imports.
//!
//! Orientations are made the way cameras make them: the real photo's pixels are stored
//! transformed (the inverse of the orientation) and the EXIF Orientation tag set with
//! exiftool, so the upright photo, and the library's boxes, are the same for all eight.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{facelab, run};
use image::metadata::Orientation;
use serde_json::Value;

/// YuNet + MobileFaceNet through the OpenCV plugin, with a private cache and `library`.
fn mfn_config(shared: &Path, dir: &Path, library: &str, detector: &str) -> PathBuf {
    let path = dir.join(format!("{library}.toml"));
    std::fs::write(
        &path,
        format!(
            "[detector]\nplugin = \"opencv-dnn\"\n{detector}\n[recognizer]\nplugin = \"opencv-dnn\"\nkind = \"embedder\"\nmodel = \"mobilefacenet-128\"\n[models]\nmirror = \"{}\"\ncache_dir = \"{}\"\n[library]\npath = \"{}\"\n",
            shared.join("models").display(),
            dir.join("cache").display(),
            dir.join(format!("{library}.sqlite")).display(),
        ),
    )
    .unwrap();
    path
}

const YUNET: &str = "kind = \"yunet\"\nmodel = \"yunet-2023mar\"";
const SSD: &str = "kind = \"ssd\"\nmodel = \"ssd-tf-uint8\"";

/// The example plugin's whole-image detector and pixel embedder: no model to load, so a
/// library of many photos is quick; `library` names its database in `dir`.
fn example_config(dir: &Path, library: &str) -> PathBuf {
    let path = dir.join(format!("{library}.toml"));
    std::fs::write(
        &path,
        format!(
            "[detector]\nplugin = \"example\"\nkind = \"whole-image\"\n[recognizer]\nplugin = \"example\"\nkind = \"pixels\"\n[library]\npath = \"{}\"\n",
            dir.join(format!("{library}.sqlite")).display()
        ),
    )
    .unwrap();
    path
}

fn cmd(config: &Path, args: &[&str]) -> (i32, String, String) {
    run(facelab().arg("--config").arg(config).args(args))
}

fn ok(config: &Path, args: &[&str]) -> String {
    let (code, out, err) = cmd(config, args);
    assert_eq!(code, 0, "facelab {args:?}: {err}\n{out}");
    out
}

fn json(config: &Path, args: &[&str]) -> Value {
    let (code, out, err) = cmd(config, args);
    assert!(code == 0 || code == 1, "facelab {args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"))
}

fn exiftool(args: &[&str]) -> String {
    let out = Command::new("exiftool")
        .args(args)
        .output()
        .expect("exiftool runs (scripts/setup.sh installs libimage-exiftool-perl)");
    assert!(
        out.status.success(),
        "exiftool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// exiftool's JSON for one file, numbers as numbers (`-n`).
fn exif_json(file: &Path, tags: &[&str]) -> Value {
    let mut args = vec!["-j", "-n"];
    args.extend(tags);
    let f = file.to_str().unwrap();
    args.push(f);
    let v: Value = serde_json::from_str(&exiftool(&args)).unwrap();
    v[0].clone()
}

/// A tag's values as a list (exiftool gives one value bare, several as an array).
fn list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    }
}

/// EXIF orientation `o` as the image crate's transform.
fn orientation(o: u8) -> Orientation {
    Orientation::from_exif(o).unwrap()
}

/// Writes `src` stored for EXIF orientation `o`: pixels transformed by the inverse of `o`
/// (90° turns swap direction; the flips and transposes are their own inverse), then the
/// tag set by exiftool.
fn oriented_copy(src: &Path, o: u8, dst: &Path) {
    let upright = image::open(src).unwrap();
    let inverse = match o {
        6 => 8,
        8 => 6,
        o => o,
    };
    let mut stored = upright.clone();
    stored.apply_orientation(orientation(inverse));
    let mut f = std::fs::File::create(dst).unwrap();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut f, 95)
        .encode_image(&stored.to_rgb8())
        .unwrap();
    drop(f);
    exiftool(&[
        "-q",
        "-overwrite_original",
        "-n",
        &format!("-Orientation={o}"),
        dst.to_str().unwrap(),
    ]);
    // The decoded upright photo is the original.
    let back = facelab_engine::photo::decode(dst, u64::MAX).unwrap();
    assert_eq!(
        (back.width, back.height),
        (upright.width(), upright.height())
    );
}

/// The test's own rule (independent of facelab's converters): a box in upright pixels
/// (`w` × `h` upright) as MWG's centre-based area normalised to the stored image, by
/// mapping the box's corners through the EXIF definition of each orientation.
fn expected_area(b: [f64; 4], w: f64, h: f64, o: u8) -> [f64; 4] {
    // Upright pixel (u, v) → stored pixel, and the stored size.
    let to_stored = |u: f64, v: f64| -> (f64, f64) {
        match o {
            1 => (u, v),
            2 => (w - u, v),
            3 => (w - u, h - v),
            4 => (u, h - v),
            5 => (v, u),
            6 => (v, w - u),
            7 => (h - v, w - u),
            8 => (h - v, u),
            _ => unreachable!(),
        }
    };
    let (sw, sh) = if o >= 5 { (h, w) } else { (w, h) };
    let (a, b2) = to_stored(b[0], b[1]);
    let (c, d) = to_stored(b[0] + b[2], b[1] + b[3]);
    let (x0, x1) = (a.min(c), a.max(c));
    let (y0, y1) = (b2.min(d), b2.max(d));
    [
        (x0 + x1) / 2.0 / sw,
        (y0 + y1) / 2.0 / sh,
        (x1 - x0) / sw,
        (y1 - y0) / sh,
    ]
}

/// Mean absolute grey difference between the upright photo's crop at `b` and the stored
/// pixels' crop at MWG area `a`, turned upright: small when the area points at the face.
fn crop_difference(
    upright: &image::DynamicImage,
    stored: &image::DynamicImage,
    b: [f64; 4],
    a: [f64; 4],
    o: u8,
) -> f64 {
    let (sw, sh) = (stored.width() as f64, stored.height() as f64);
    let crop = |img: &image::DynamicImage, x: f64, y: f64, w: f64, h: f64| {
        img.crop_imm(
            x.round() as u32,
            y.round() as u32,
            w.round() as u32,
            h.round() as u32,
        )
    };
    let want = crop(upright, b[0], b[1], b[2], b[3]);
    let mut got = crop(
        stored,
        (a[0] - a[2] / 2.0) * sw,
        (a[1] - a[3] / 2.0) * sh,
        a[2] * sw,
        a[3] * sh,
    );
    got.apply_orientation(orientation(o));
    let size = |i: &image::DynamicImage| {
        image::imageops::resize(&i.to_luma8(), 24, 24, image::imageops::FilterType::Triangle)
    };
    let (x, y) = (size(&want), size(&got));
    x.pixels()
        .zip(y.pixels())
        .map(|(p, q)| (p.0[0] as f64 - q.0[0] as f64).abs())
        .sum::<f64>()
        / (24.0 * 24.0)
}

fn faces_of(config: &Path) -> Vec<Value> {
    json(config, &["faces", "--json"])
        .as_array()
        .unwrap()
        .clone()
}

fn bbox(f: &Value) -> [f64; 4] {
    let b = f["bbox"].as_array().unwrap();
    [0, 1, 2, 3].map(|i| b[i].as_f64().unwrap())
}

#[test]
fn exiftool_reads_the_regions_of_every_orientation_and_a_fresh_library_imports_them_back() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photos = d.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let src = shared.join("datasets/samples/sprint/codingsprint2009-01.jpg");
    let upright = image::open(&src).unwrap();
    let (w, h) = (upright.width() as f64, upright.height() as f64);
    for o in 1..=8 {
        oriented_copy(&src, o, &photos.join(format!("o{o}.jpg")));
    }
    let config = mfn_config(&shared, d, "lib", YUNET);
    let s = json(&config, &["scan", "--json", photos.to_str().unwrap()]);
    assert_eq!(s["scan"]["new"], 8, "{s}");
    // Name the two largest faces of each photo.
    let faces = faces_of(&config);
    let mut named: Vec<(u8, String, [f64; 4])> = Vec::new();
    for o in 1..=8u8 {
        let mut mine: Vec<&Value> = faces
            .iter()
            .filter(|f| f["path"].as_str().unwrap().ends_with(&format!("/o{o}.jpg")))
            .collect();
        assert!(mine.len() >= 2, "orientation {o}: {mine:?}");
        mine.sort_by(|a, b| (bbox(b)[2] * bbox(b)[3]).total_cmp(&(bbox(a)[2] * bbox(a)[3])));
        for (k, f) in mine.iter().take(2).enumerate() {
            let name = format!("Person {o}{}", ["a", "b"][k]);
            ok(&config, &["tag", &f["id"].to_string(), &name]);
            named.push((o, name, bbox(f)));
        }
    }
    let out = json(&config, &["export-xmp", "--json", photos.to_str().unwrap()]);
    assert_eq!(
        (out["written"].as_u64(), out["faces"].as_u64()),
        (Some(8), Some(16)),
        "{out}"
    );
    for o in 1..=8u8 {
        let sidecar = photos.join(format!("o{o}.jpg.xmp"));
        let v = exif_json(
            &sidecar,
            &[
                "-RegionName",
                "-RegionType",
                "-RegionAreaX",
                "-RegionAreaY",
                "-RegionAreaW",
                "-RegionAreaH",
                "-RegionAreaUnit",
                "-RegionAppliedToDimensionsW",
                "-RegionAppliedToDimensionsH",
                "-RegionPersonDisplayName",
                "-RegionRectangle",
                "-TagsList",
                "-HierarchicalSubject",
            ],
        );
        let names = list(&v["RegionName"]);
        let stored = image::open(photos.join(format!("o{o}.jpg"))).unwrap();
        let (sw, sh) = if o >= 5 { (h, w) } else { (w, h) };
        assert_eq!(v["RegionAppliedToDimensionsW"].as_f64(), Some(sw), "{v}");
        assert_eq!(v["RegionAppliedToDimensionsH"].as_f64(), Some(sh), "{v}");
        assert_eq!((stored.width() as f64, stored.height() as f64), (sw, sh));
        for (_, name, b) in named.iter().filter(|(p, _, _)| *p == o) {
            let i = names
                .iter()
                .position(|n| n.as_str() == Some(name))
                .unwrap_or_else(|| panic!("orientation {o}: {name} missing in {v}"));
            let got = ["X", "Y", "W", "H"]
                .map(|k| list(&v[format!("RegionArea{k}")])[i].as_f64().unwrap());
            let want = expected_area(*b, w, h, o);
            for k in 0..4 {
                assert!(
                    (got[k] - want[k]).abs() < 0.001,
                    "orientation {o}, {name}: exiftool reads {got:?}, the library's box gives {want:?}"
                );
            }
            assert_eq!(list(&v["RegionType"])[i], "Face");
            assert_eq!(list(&v["RegionAreaUnit"])[i], "normalized");
            // The area holds the face: the stored pixels there, turned upright, are the
            // library box's pixels.
            let diff = crop_difference(&upright, &stored, *b, got, o);
            assert!(
                diff < 8.0,
                "orientation {o}, {name}: the area shows other pixels (mean difference {diff:.1})"
            );
            // Microsoft's rectangle: top-left based, same frame.
            let j = list(&v["RegionPersonDisplayName"])
                .iter()
                .position(|n| n.as_str() == Some(name))
                .unwrap();
            let rect: Vec<f64> = list(&v["RegionRectangle"])[j]
                .as_str()
                .unwrap()
                .split(',')
                .map(|x| x.trim().parse().unwrap())
                .collect();
            let want_rect = [
                want[0] - want[2] / 2.0,
                want[1] - want[3] / 2.0,
                want[2],
                want[3],
            ];
            for k in 0..4 {
                assert!(
                    (rect[k] - want_rect[k]).abs() < 0.001,
                    "orientation {o}: {rect:?} vs {want_rect:?}"
                );
            }
            assert!(
                list(&v["TagsList"]).contains(&Value::from(format!("People/{name}"))),
                "{v}"
            );
            assert!(
                list(&v["HierarchicalSubject"]).contains(&Value::from(format!("People|{name}"))),
                "{v}"
            );
        }
    }
    // Export again: nothing changes.
    let again = json(&config, &["export-xmp", "--json", photos.to_str().unwrap()]);
    assert_eq!(
        (again["written"].as_u64(), again["unchanged"].as_u64()),
        (Some(0), Some(8)),
        "{again}"
    );

    // A fresh library whose detector finds no face where the regions are (the example
    // plugin's whole-image box): import makes each face from its region, so the boxes come
    // back through the converters alone.
    let fresh = example_config(d, "fresh");
    ok(&fresh, &["scan", photos.to_str().unwrap()]);
    let imp = json(&fresh, &["import-xmp", "--json"]);
    assert_eq!(imp["import"]["created"], 16, "{imp}");
    assert_eq!(
        imp["import"]["duplicates"], 16,
        "each face is in MWG and Microsoft regions: {imp}"
    );
    let back = faces_of(&fresh);
    for (o, name, b) in &named {
        let f = back
            .iter()
            .find(|f| f["person"].as_str() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("{name} not imported: {back:?}"));
        assert!(f["path"].as_str().unwrap().ends_with(&format!("/o{o}.jpg")));
        let got = bbox(f);
        for k in 0..4 {
            assert!(
                (got[k] - b[k]).abs() < 0.05,
                "orientation {o}, {name}: {got:?} vs {b:?}"
            );
        }
    }
    // Twice changes nothing.
    let before = faces_of(&fresh);
    let imp = json(&fresh, &["import-xmp", "--json"]);
    assert_eq!(
        (
            imp["import"]["created"].as_u64(),
            imp["import"]["named"].as_u64()
        ),
        (Some(0), Some(0)),
        "{imp}"
    );
    assert_eq!(imp["import"]["unchanged"], 16, "{imp}");
    assert_eq!(faces_of(&fresh), before);
}

fn db(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[test]
fn regions_exiftool_writes_are_imported_and_hand_made_faces_survive_rescans_and_a_detector_switch()
{
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photos = d.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let src = shared.join("datasets/samples/sprint/codingsprint2009-01.jpg");
    let upright = image::open(&src).unwrap();
    let (w, h) = (upright.width() as f64, upright.height() as f64);
    let photo = photos.join("turned.jpg");
    oriented_copy(&src, 6, &photo);
    let p = photo.to_str().unwrap();
    let config = mfn_config(&shared, d, "lib", YUNET);
    ok(&config, &["scan", photos.to_str().unwrap()]);
    let faces = faces_of(&config);
    let largest = faces
        .iter()
        .max_by(|a, b| (bbox(a)[2] * bbox(a)[3]).total_cmp(&(bbox(b)[2] * bbox(b)[3])))
        .unwrap()
        .clone();
    let fb = bbox(&largest);
    // exiftool writes: an MWG region on the largest face (drawn 10% larger, as people
    // draw), a Microsoft region in the sky above everyone, a full-frame region, a pet.
    let a = expected_area(
        [
            fb[0] - fb[2] * 0.05,
            fb[1] - fb[3] * 0.05,
            fb[2] * 1.1,
            fb[3] * 1.1,
        ],
        w,
        h,
        6,
    );
    let sky = [w * 0.02, h * 0.02, w * 0.08, h * 0.08];
    let s = expected_area(sky, w, h, 6);
    let (sw, sh) = (h, w);
    exiftool(&[
        "-q",
        "-overwrite_original",
        &format!(
            "-XMP-mwg-rs:RegionInfo={{AppliedToDimensions={{W={sw},H={sh},Unit=pixel}},RegionList=[{{Area={{X={},Y={},W={},H={},Unit=normalized}},Name=Bob Jones,Type=Face}},{{Area={{X=0.5,Y=0.5,W=1,H=1,Unit=normalized}},Name=Whole,Type=Face}},{{Area={{X=0.5,Y=0.5,W=0.2,H=0.2,Unit=normalized}},Name=Rex,Type=Pet}}]}}",
            a[0], a[1], a[2], a[3]
        ),
        &format!(
            "-XMP-MP:RegionInfoMP={{Regions=[{{Rectangle={}|, {}|, {}|, {},PersonDisplayName=Eve}}]}}",
            s[0] - s[2] / 2.0, s[1] - s[3] / 2.0, s[2], s[3]
        ),
        p,
    ]);
    // The photo's bytes changed: the rescan re-detects and keeps the faces' ids.
    ok(&config, &["scan", photos.to_str().unwrap()]);
    let imp = json(&config, &["import-xmp", "--json", p]);
    let i = &imp["import"];
    assert_eq!(
        (i["named"].as_u64(), i["created"].as_u64()),
        (Some(1), Some(1)),
        "{imp}"
    );
    assert_eq!(
        (i["full_frame"].as_u64(), i["ignored"].as_u64()),
        (Some(1), Some(1)),
        "{imp}"
    );
    let lib = db(&d.join("lib.sqlite"));
    let (person, source): (String, String) = lib
        .query_row(
            "SELECT p.name, l.source FROM labels l JOIN people p ON p.id = l.person_id WHERE l.face_id = ?1 AND l.state = 'confirmed'",
            [largest["id"].as_i64().unwrap()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((person.as_str(), source.as_str()), ("Bob Jones", "xmp"));
    let eve = faces_of(&config)
        .into_iter()
        .find(|f| f["person"] == "Eve")
        .expect("Eve's face was created from her Microsoft region");
    let eb = bbox(&eve);
    for k in 0..4 {
        assert!((eb[k] - sky[k]).abs() < 0.05, "{eb:?} vs {sky:?}");
    }
    let eve_id = eve["id"].as_i64().unwrap();
    assert!(
        !eve["models"].as_array().unwrap().is_empty(),
        "Eve's face is embedded: {eve}"
    );
    // Twice changes nothing.
    let count = |sql: &str| -> i64 { lib.query_row(sql, [], |r| r.get(0)).unwrap() };
    let before = (
        count("SELECT count(*) FROM faces"),
        count("SELECT count(*) FROM labels"),
    );
    let imp = json(&config, &["import-xmp", "--json", p]);
    assert_eq!(imp["import"]["unchanged"], 2, "{imp}");
    assert_eq!(
        (
            count("SELECT count(*) FROM faces"),
            count("SELECT count(*) FROM labels")
        ),
        before
    );

    // A face by hand, on the left edge where nobody was found; one over a found face is
    // refused.
    let hand = [w * 0.9, h * 0.05, w * 0.06, h * 0.06];
    let hand_arg = format!("{},{},{},{}", hand[0], hand[1], hand[2], hand[3]);
    let out = ok(
        &config,
        &["faces", "add", p, "--box", &hand_arg, "--name", "Hand Made"],
    );
    assert!(out.contains("as Hand Made"), "{out}");
    let over = format!("{},{},{},{}", fb[0], fb[1], fb[2], fb[3]);
    let (code, _, err) = cmd(&config, &["faces", "add", p, "--box", &over]);
    assert_ne!(code, 0);
    assert!(err.contains("already covers"), "{err}");
    let (code, _, err) = cmd(&config, &["faces", "add", p, "--box", "0,0,99999,10"]);
    assert!(code != 0 && err.contains("outside the photo"), "{err}");
    // `facelab faces` still lists, now with the hand-made face.
    let listing = ok(&config, &["faces"]);
    assert!(listing.contains("Hand Made"), "{listing}");
    let survivors = |config: &Path| {
        let f = faces_of(config);
        let hand_face = f.iter().find(|f| f["person"] == "Hand Made").cloned();
        let eve_face = f.iter().find(|f| f["id"].as_i64() == Some(eve_id)).cloned();
        (hand_face, eve_face)
    };
    let check = |config: &Path, when: &str| {
        let (hf, ef) = survivors(config);
        let hf = hf.unwrap_or_else(|| panic!("the hand-made face is gone after {when}"));
        let ef = ef.unwrap_or_else(|| panic!("the face made from XMP is gone after {when}"));
        let hb = bbox(&hf);
        for k in 0..4 {
            assert!((hb[k] - hand[k]).abs() < 0.01, "{when}: {hb:?} vs {hand:?}");
            assert!((bbox(&ef)[k] - eb[k]).abs() < 0.01, "{when}: Eve moved");
        }
        assert!(!hf["models"].as_array().unwrap().is_empty(), "{when}: {hf}");
    };
    check(&config, "faces add");
    let s = json(
        &config,
        &["scan", "--json", "--redetect", photos.to_str().unwrap()],
    );
    assert_eq!(s["scan"]["redetected"], 1, "{s}");
    check(&config, "a re-detection");
    // Changed photo: a tag written into it changes its bytes.
    exiftool(&["-q", "-overwrite_original", "-XMP-dc:Title=changed", p]);
    let s = json(&config, &["scan", "--json", photos.to_str().unwrap()]);
    assert_eq!(s["scan"]["changed"], 1, "{s}");
    check(&config, "a changed-photo rescan");
    let ssd = mfn_config(&shared, d, "lib", SSD);
    let s = json(&ssd, &["scan", "--json", photos.to_str().unwrap()]);
    assert_eq!(s["scan"]["redetected"], 1, "{s}");
    check(&ssd, "a detector switch");
    let origins: Vec<String> = lib
        .prepare("SELECT origin FROM faces WHERE origin <> 'detected' ORDER BY origin")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(origins, ["manual", "xmp"]);
}

/// Copies `src` (read-only in ../shared) to `dst` and makes the copy writable.
fn writable_copy(src: &Path, dst: &Path) {
    std::fs::copy(src, dst).unwrap();
    let mut perm = std::fs::metadata(dst).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(dst, perm).unwrap();
}

/// The length of the common prefix and suffix of `a` and `b`.
fn common_ends(a: &[u8], b: &[u8]) -> usize {
    let pre = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suf = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    pre + suf
}

#[test]
fn a_sidecar_with_other_tags_keeps_them_byte_for_byte_and_in_place_keeps_the_pixels() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photos = d.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    for f in ["codingsprint2009-01.jpg", "codingsprint2009-02.jpg"] {
        writable_copy(
            &shared.join("datasets/samples/sprint").join(f),
            &photos.join(f),
        );
    }
    let a = photos.join("codingsprint2009-02.jpg");
    let sidecar = photos.join("codingsprint2009-02.jpg.xmp");
    exiftool(&[
        "-q",
        "-XMP-xmp:Rating=4",
        "-XMP-dc:Subject=sea",
        "-XMP-dc:Subject=holiday",
        "-XMP-exif:GPSLatitude=48.137",
        "-XMP-exif:GPSLongitude=11.575",
        "-XMP-exif:GPSLatitudeRef=N",
        "-XMP-exif:GPSLongitudeRef=E",
        "-o",
        sidecar.to_str().unwrap(),
        a.to_str().unwrap(),
    ]);
    let original = std::fs::read(&sidecar).unwrap();
    let others = ["-Rating", "-Subject", "-GPSLatitude", "-GPSLongitude"];
    let tags_before = exif_json(&sidecar, &others);
    let config = example_config(d, "lib");
    ok(&config, &["scan", photos.to_str().unwrap()]);
    let faces = faces_of(&config);
    for f in &faces {
        ok(&config, &["tag", &f["id"].to_string(), "Ada"]);
    }
    ok(&config, &["export-xmp", "--sidecar", a.to_str().unwrap()]);
    let written = std::fs::read(&sidecar).unwrap();
    assert!(
        common_ends(&original, &written) >= original.len(),
        "bytes outside the inserted regions changed"
    );
    let v = exif_json(
        &sidecar,
        &[
            "-RegionName",
            "-Rating",
            "-Subject",
            "-GPSLatitude",
            "-GPSLongitude",
        ],
    );
    assert_eq!(v["RegionName"], "Ada", "{v}");
    for t in ["Rating", "Subject", "GPSLatitude", "GPSLongitude"] {
        assert_eq!(v[t], tags_before[t], "{t}");
    }
    // A rename: the region and the People keyword follow, the rest stays byte for byte.
    ok(&config, &["people", "rename", "Ada", "Ada King"]);
    ok(&config, &["export-xmp", a.to_str().unwrap()]);
    let renamed = std::fs::read(&sidecar).unwrap();
    assert!(common_ends(&original, &renamed) >= original.len());
    let v = exif_json(&sidecar, &["-RegionName", "-TagsList", "-Rating"]);
    assert_eq!(v["RegionName"], "Ada King", "{v}");
    let tags = list(&v["TagsList"]);
    assert!(
        tags.contains(&Value::from("People/Ada King"))
            && !tags.contains(&Value::from("People/Ada")),
        "{v}"
    );
    assert_eq!(v["Rating"], 4);

    // In place into a JPEG that digiKam already wrote XMP into: its packet is merged, the
    // pixels stay, and the next scan finds the photo unchanged.
    let b = photos.join("codingsprint2009-01.jpg");
    let pixels_before = image::open(&b).unwrap().to_rgb8();
    ok(&config, &["export-xmp", "--in-place", b.to_str().unwrap()]);
    let v = exif_json(&b, &["-RegionName", "-XMP-tiff:Software", "-RegionAreaW"]);
    assert_eq!(v["RegionName"], "Ada King", "{v}");
    assert_eq!(v["Software"], "digiKam-1.4.0 (rev.: 1143681)", "{v}");
    assert!(
        (v["RegionAreaW"].as_f64().unwrap() - 1.0).abs() < 0.001,
        "{v}"
    );
    assert_eq!(image::open(&b).unwrap().to_rgb8(), pixels_before);
    let s = json(&config, &["scan", "--json", photos.to_str().unwrap()]);
    assert_eq!(
        (
            s["scan"]["unchanged"].as_u64(),
            s["scan"]["changed"].as_u64()
        ),
        (Some(2), Some(0)),
        "{s}"
    );
    assert!(
        !photos.read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("facelab")),
        "a temporary file was left behind"
    );
}

#[test]
fn bad_xmp_and_read_only_files_fail_one_by_one_and_lose_nothing() {
    let shared = require_shared!();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let photos = d.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    let names = ["bbt1.jpg", "bbt2.jpg", "bbt3.jpg", "bbt4.jpg", "bbt5.jpg"];
    for f in names {
        writable_copy(
            &shared.join("datasets/samples/bbt").join(f),
            &photos.join(f),
        );
    }
    let good = photos.join("good.jpg");
    writable_copy(
        &shared.join("datasets/samples/sprint/codingsprint2009-02.jpg"),
        &good,
    );
    let side = |f: &str| photos.join(format!("{f}.xmp"));
    let head = "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\"><rdf:Description rdf:about=\"\" xmlns:mwg-rs=\"http://www.metadataworkinggroup.com/schemas/regions/\" xmlns:stArea=\"http://ns.adobe.com/xmp/sType/Area#\">";
    let region = |name: &[u8]| -> Vec<u8> {
        let mut v = head.as_bytes().to_vec();
        v.extend_from_slice(b"<mwg-rs:Regions rdf:parseType=\"Resource\"><mwg-rs:RegionList><rdf:Bag><rdf:li><rdf:Description mwg-rs:Name=\"");
        v.extend_from_slice(name);
        v.extend_from_slice(b"\" mwg-rs:Type=\"Face\"><mwg-rs:Area stArea:x=\"0.3\" stArea:y=\"0.3\" stArea:w=\"0.1\" stArea:h=\"0.1\" stArea:unit=\"normalized\"/></rdf:Description></rdf:li></rdf:Bag></mwg-rs:RegionList></mwg-rs:Regions></rdf:Description></rdf:RDF></x:xmpmeta>");
        v
    };
    // Malformed, deeply nested, an entity bomb, a name that is not UTF-8, 100 MB.
    std::fs::write(side("bbt1.jpg"), format!("{head}<mwg-rs:Regions>")).unwrap();
    std::fs::write(
        side("bbt2.jpg"),
        format!("{head}{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000)),
    )
    .unwrap();
    std::fs::write(
        side("bbt3.jpg"),
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">]><x:xmpmeta xmlns:x=\"adobe:ns:meta/\">&d;&d;&d;&d;&d;&d;</x:xmpmeta>",
    )
    .unwrap();
    std::fs::write(side("bbt4.jpg"), region(b"Jos\xe9")).unwrap();
    let big = std::fs::File::create(side("bbt5.jpg")).unwrap();
    big.set_len(100 << 20).unwrap();
    drop(big);
    std::fs::write(side("good.jpg"), region(b"Zoe")).unwrap();
    let snapshot = |f: &str| std::fs::read(side(f)).unwrap();
    let before: Vec<Vec<u8>> = names.iter().map(|f| snapshot(f)).collect();

    let config = example_config(d, "lib");
    ok(&config, &["scan", photos.to_str().unwrap()]);
    let (code, out, err) = cmd(&config, &["import-xmp", "--json", photos.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["failed"].as_array().unwrap().len(), 5, "{v}");
    assert_eq!(
        v["import"]["created"], 1,
        "the good photo is imported all the same: {v}"
    );
    for (f, phrase) in [
        ("bbt1.jpg.xmp", "malformed XMP"),
        ("bbt2.jpg.xmp", "deeper than"),
        ("bbt3.jpg.xmp", "DTD"),
        ("bbt4.jpg.xmp", "not valid UTF-8"),
        ("bbt5.jpg.xmp", "above the limit"),
    ] {
        let line = err
            .lines()
            .find(|l| l.contains(f))
            .unwrap_or_else(|| panic!("no error names {f}: {err}"));
        assert!(line.contains(phrase) && line.contains("help:"), "{line}");
    }
    let lib = db(&d.join("lib.sqlite"));
    let labels: i64 = lib
        .query_row("SELECT count(*) FROM labels", [], |r| r.get(0))
        .unwrap();
    assert_eq!(labels, 1, "only Zoe was named");

    // Export over the bad sidecars: each fails on its own, none is touched; a read-only
    // sidecar and a read-only photo (--in-place) are refused, a PNG skipped with a notice.
    for f in faces_of(&config) {
        if f["person"].is_null() {
            ok(&config, &["tag", &f["id"].to_string(), "Someone"]);
        }
    }
    let good_side = snapshot("good.jpg");
    let mut perm = std::fs::metadata(side("good.jpg")).unwrap().permissions();
    perm.set_readonly(true);
    std::fs::set_permissions(side("good.jpg"), perm).unwrap();
    let (code, _, err) = cmd(&config, &["export-xmp", photos.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.lines()
            .any(|l| l.contains("good.jpg.xmp") && l.contains("read-only")),
        "{err}"
    );
    assert_eq!(
        err.lines().filter(|l| l.starts_with("facelab: ")).count(),
        6,
        "{err}"
    );
    for (f, b) in names.iter().zip(&before) {
        assert!(snapshot(f) == *b, "{f}'s sidecar changed");
    }
    assert_eq!(snapshot("good.jpg"), good_side);
    let jpeg_before = std::fs::read(&good).unwrap();
    let mut perm = std::fs::metadata(&good).unwrap().permissions();
    perm.set_readonly(true);
    std::fs::set_permissions(&good, perm).unwrap();
    let png = photos.join("flat.png");
    image::open(photos.join("bbt1.jpg"))
        .unwrap()
        .save(&png)
        .unwrap();
    ok(&config, &["scan", photos.to_str().unwrap()]);
    let png_face = faces_of(&config)
        .into_iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("flat.png"))
        .unwrap();
    ok(&config, &["tag", &png_face["id"].to_string(), "Flat"]);
    let (code, _, err) = cmd(
        &config,
        &[
            "export-xmp",
            "--in-place",
            good.to_str().unwrap(),
            png.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("good.jpg: the file is read-only"), "{err}");
    assert!(err.contains("flat.png: skipped, not a JPEG"), "{err}");
    assert_eq!(std::fs::read(&good).unwrap(), jpeg_before);
    assert!(!png.with_extension("png.xmp").exists());
}
