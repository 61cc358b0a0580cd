//! End-to-end time per photo of every pipeline of the default bench suite
//! (`config/bench.toml`): detect every face, then embed them all in one call, on each of the
//! nine labelled voc-groups photos in turn (decoded beforehand). The `facelab bench` speed
//! task reports the same pipelines' parts separately; this is the criterion figure for the
//! whole.
//!
//! `cargo bench -p facelab-benches --bench pipelines`

use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use facelab_benches::shared;
use facelab_engine::config::Config;
use facelab_engine::photo::decode;
use facelab_eval::bench::pipeline::Opened;
use facelab_eval::bench::suite::Suite;
use facelab_library::session::RunContext;

fn pipelines(c: &mut Criterion) {
    let Some(shared) = shared() else {
        eprintln!("SKIPPED: ../shared not found; set FACELAB_SHARED");
        return;
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let suite = Suite::load(&repo.join("config/bench.toml")).expect("config/bench.toml is valid");
    let base = Config::parse(
        &format!(
            "[plugins]\nsearch_path = [\"target/release\"]\n[detector]\nplugin = \"example\"\nkind = \"whole-image\"\n[models]\nmirror = \"{}\"\n",
            shared.join("models").display()
        ),
        &repo.join("bench-base.toml"),
    )
    .expect("base config");
    let photos: Vec<_> =
        facelab_eval::voc::read_imglab(&shared.join("datasets/samples/voc-groups/testing.xml"))
            .expect("testing.xml")
            .iter()
            .map(|i| decode(&i.path, u64::MAX).expect("decodes"))
            .collect();
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(20);
    group.throughput(Throughput::Elements(1));
    for (spec, raw) in suite.pipelines.iter().zip(&suite.raw_pipelines) {
        let ctx = RunContext {
            config: suite.pipeline_config(&base, spec),
            cache_dir: None,
            verbose: false,
            library: None,
        };
        let mut opened = match Opened::open(&ctx, ctx.config.clone(), raw) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("SKIPPED: pipeline {}: {e:#}", spec.name);
                continue;
            }
        };
        let mut i = 0;
        group.bench_function(format!("{}/photo", spec.name), |b| {
            b.iter(|| {
                let photo = &photos[i % photos.len()];
                i += 1;
                let (faces, _) = opened.detector.detect(photo).expect("detects");
                if let (Some(r), false) = (opened.recognizer.as_mut(), faces.is_empty()) {
                    r.embed(photo, &faces).expect("embeds");
                }
                faces.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, pipelines);
criterion_main!(benches);
