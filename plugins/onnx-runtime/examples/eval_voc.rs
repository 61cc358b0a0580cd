//! Recall, precision and speed of every onnx-runtime detector on a dlib imglab XML file,
//! calling `detect()` in-process through the plugin's root module. The README's numbers
//! come from this:
//!
//! ```sh
//! cargo run --release -p facelab-onnx-runtime --example eval_voc -- \
//!     ../shared/datasets/samples/voc-groups/testing.xml
//! ```
//!
//! Options: `--rounds N` (timed passes over the set, default 5), `--only KIND_OR_MODEL`
//! (substring filter), `--set 'key = value'` (an extra `[detector.options]` line, repeatable).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut xml = None;
    let mut rounds = 5;
    let mut only = String::new();
    let mut extra = String::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--rounds" => {
                rounds = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--rounds N")
            }
            "--only" => only = args.next().expect("--only KIND"),
            "--set" => {
                extra.push_str(&args.next().expect("--set 'key = value'"));
                extra.push('\n');
            }
            _ => xml = Some(PathBuf::from(a)),
        }
    }
    let Some(shared) = common::shared() else {
        eprintln!("../shared not found; set FACELAB_SHARED");
        std::process::exit(2);
    };
    let xml = xml.unwrap_or_else(|| shared.join("datasets/samples/voc-groups/testing.xml"));
    let set = common::read_imglab(&xml);
    let faces: usize = set.iter().map(|l| l.boxes.len()).sum();
    println!(
        "{} ({} photos, {faces} labelled faces), IoU >= 0.5, {rounds} timed passes, detect() in-process",
        xml.display(),
        set.len()
    );
    println!(
        "{:<11} {:<40} {:>6} {:>9} {:>9} {:>10}",
        "kind", "model", "recall", "precision", "ms/photo", "detections"
    );
    for setup in common::SETUPS {
        if !setup.kind.contains(&only) && !setup.model.contains(&only) {
            continue;
        }
        let options = format!("{}\n{extra}", setup.options);
        let model = shared.join("models").join(setup.model);
        let mut detector = common::create(setup.kind, &[model.to_str().unwrap()], &options)
            .unwrap_or_else(|e| panic!("{}: {e}", setup.model));
        // One untimed pass: the first run allocates ONNX Runtime's buffers.
        common::evaluate(&mut detector, &set, 1);
        let e = common::evaluate(&mut detector, &set, rounds);
        println!(
            "{:<11} {:<40} {:>6.2} {:>9.2} {:>9.1} {:>10}",
            setup.kind,
            setup.model,
            e.recall(),
            e.precision(),
            e.median_ms(),
            e.detected
        );
    }
}
