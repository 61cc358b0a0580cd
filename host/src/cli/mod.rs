//! The `facelab` command line: argument definitions and dispatch only. Each submodule
//! holds one group of commands; the work itself lives in the library modules (`session`,
//! `pipeline`, `bench`, `library`, ...), which never import this one back.
//!
//! Results go to stdout (a table, or JSON with `--json`); errors and progress go to stderr.

mod bench;
pub mod clusters;
mod detect;
mod eval;
pub mod library;
mod models;
mod plugins;
pub mod xmp;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use facelab_plugin_api::{Face, LicenceClass, ModelInfo};
use serde::Serialize;

pub use detect::DetectArgs;
pub use eval::{EvalLfwArgs, EvalOrlArgs, EvalVocArgs, EvalWiderArgs};
use facelab_engine::config::Config;
pub use facelab_library::session::{Outcome, RunContext};
pub use models::ModelsCommand;

/// facelab: a face engine for photo libraries.
#[derive(Debug, Parser)]
#[command(name = "facelab", version, about)]
pub struct Cli {
    /// Config file [default: config/facelab.toml if it exists, else the built-in default].
    #[arg(long, global = true, env = "FACELAB_CONFIG")]
    pub config: Option<PathBuf>,
    /// Model cache folder [default: models.cache_dir, else $XDG_CACHE_HOME/facelab/models].
    #[arg(long, global = true, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Face library database [default: library.path, else
    /// $XDG_DATA_HOME/facelab/library.sqlite].
    #[arg(long, global = true, env = "FACELAB_LIBRARY", value_name = "FILE")]
    pub library: Option<PathBuf>,
    /// Show full error details (for example abi_stable's layout report).
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the plugins on the search path, their kinds, and the configured models' licences.
    Plugins(JsonFlag),
    /// Detect faces in photos.
    Detect(DetectArgs),
    /// Detect, align and embed the faces in photos with the configured recognizer.
    Embed(DetectArgs),
    /// The similarity of the largest face in each of two photos, and the model's verdict.
    Compare {
        /// First photo.
        a: PathBuf,
        /// Second photo.
        b: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List, fetch, verify and describe the models of the manifest.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Measure the configured detector's recall and precision against an imglab XML file
    /// (for example ../shared/datasets/samples/voc-groups/testing.xml).
    EvalVoc(EvalVocArgs),
    /// ORL identification with the configured pipeline: a fraction of each subject's images
    /// tagged, the rest predicted by nearest class centroid (cosine) and by 1-NN.
    EvalOrl(EvalOrlArgs),
    /// LFW View 2 verification with the configured pipeline: 10-fold accuracy, ROC AUC,
    /// TAR at FAR 1e-3.
    EvalLfw(EvalLfwArgs),
    /// Average precision of the configured detector on WIDER FACE (easy, medium, hard) by
    /// the official rules, with its median time per photo.
    EvalWider(EvalWiderArgs),
    /// Compare pipelines on ORL, LFW, WIDER FACE, clustering and speed; write a report.
    Bench(bench::BenchArgs),
    /// Write the named faces of photos as XMP face regions (MWG and Microsoft) and People
    /// keywords: sidecars `photo.jpg.xmp` by default, or into the JPEG files.
    ExportXmp(xmp::ExportXmpArgs),
    /// Read the XMP face regions of photos (sidecars and embedded) that digiKam, Lightroom
    /// or exiftool wrote: names go to matching faces, new faces are made where none matched.
    ImportXmp(xmp::ImportXmpArgs),
    /// A local web app to name faces by looking at them: people, groups, the suggestion
    /// queue, each photo with its faces (docs/serve.md). Prints the URL to open, with its
    /// token.
    Serve {
        /// Address and port to listen on (port 0: any free port). Any address other than
        /// loopback lets other machines reach the library, and prints a warning.
        #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8765")]
        bind: std::net::SocketAddr,
    },
    /// The face library commands.
    #[command(flatten)]
    Library(library::LibraryCommand),
    /// Runs COMMAND and writes its end, CPU time and own peak memory to OUT as JSON: the
    /// bench measures its children through it, so their peak is not the bench's own size.
    #[command(hide = true)]
    MeasureChild {
        /// Where the JSON goes.
        out: PathBuf,
        /// The program and its arguments, after `--`.
        #[arg(last = true, required = true)]
        command: Vec<std::ffi::OsString>,
    },
}

/// `--json`.
#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    // Before the config is read: the spawner stays small and needs none.
    if let Command::MeasureChild { out, command } = &cli.command {
        let code =
            facelab_eval::bench::scan::process::spawner_main(out, &command[0], &command[1..]);
        std::process::exit(code);
    }
    let ctx = RunContext {
        config: Config::load_or_default(cli.config.as_deref())?,
        cache_dir: cli.cache_dir,
        verbose: cli.verbose,
        library: cli.library,
    };
    match cli.command {
        Command::Plugins(a) => plugins::run(&ctx, a.json),
        Command::Detect(a) => detect::detect(&ctx, &a),
        Command::Embed(a) => detect::embed(&ctx, &a),
        Command::Compare { a, b, json } => detect::compare(&ctx, &a, &b, json),
        Command::Models(m) => models::run(&ctx, m),
        Command::EvalVoc(a) => eval::voc(&ctx, &a),
        Command::EvalWider(a) => eval::wider(&ctx, &a),
        Command::EvalOrl(a) => eval::orl(&ctx, &a),
        Command::EvalLfw(a) => eval::lfw(&ctx, &a),
        Command::Bench(a) => bench::run(&ctx, &a),
        Command::ExportXmp(a) => xmp::export(&ctx, &a),
        Command::ImportXmp(a) => xmp::import(&ctx, &a),
        Command::Serve { bind } => {
            facelab_web::serve(&ctx, &facelab_web::Options { bind })?;
            Ok(Outcome::Success)
        }
        Command::Library(c) => library::run(&ctx, c),
        Command::MeasureChild { .. } => unreachable!("handled first"),
    }
}

fn licence_name(l: LicenceClass) -> &'static str {
    match l {
        LicenceClass::Permissive => "permissive",
        LicenceClass::Research => "research",
        LicenceClass::Unknown => "unknown",
    }
}

/// JSON form of a model's facts.
#[derive(Serialize)]
struct ModelJson {
    id: String,
    backend: String,
    licence: &'static str,
    input_width: u32,
    input_height: u32,
}

impl From<&ModelInfo> for ModelJson {
    fn from(i: &ModelInfo) -> Self {
        ModelJson {
            id: i.id.to_string(),
            backend: i.backend.to_string(),
            licence: licence_name(i.licence),
            input_width: i.input_width,
            input_height: i.input_height,
        }
    }
}

/// JSON form of a detected face.
#[derive(Serialize)]
struct FaceJson {
    x: f32,
    y: f32,
    width: f32,
    height: f32,
    score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    landmarks: Option<[[f32; 2]; 5]>,
}

impl From<&Face> for FaceJson {
    fn from(f: &Face) -> Self {
        FaceJson {
            x: f.bbox.x,
            y: f.bbox.y,
            width: f.bbox.width,
            height: f.bbox.height,
            score: f.score,
            landmarks: f
                .landmarks
                .as_ref()
                .into_option()
                .map(|l| l.points.map(|p| [p.x, p.y])),
        }
    }
}
