//! The face library's commands: `scan`, `people`, `tag`, `untag`, `import-labels`,
//! `suggest`, `confirm`, `reject`, `faces`, `export`.
//!
//! This file holds the command-line types and the dispatch; the commands live in
//! `labels` (naming faces), `faces` (listing and exporting) and `suggestions`
//! (`suggest` and `cluster`).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use facelab_engine::ui::progress;
use facelab_library::identity;
use facelab_library::scan::Summary;
use facelab_library::session::{library_path, open_for_scan, open_library, Outcome, RunContext};
use facelab_library::walk;
use facelab_library::Library;

use super::xmp::FacesCommand;

mod faces;
mod labels;
mod queue;
mod suggestions;

/// The face library commands.
#[derive(Debug, Subcommand)]
pub enum LibraryCommand {
    /// Scan folders into the face library: new and changed photos are detected and
    /// embedded, unchanged ones skipped, moved ones followed.
    Scan(ScanArgs),
    /// People: list, add, rename, merge.
    #[command(subcommand)]
    People(PeopleCommand),
    /// Name a face (ids from `facelab faces`); the person is added if new.
    Tag {
        /// Face id.
        face: i64,
        /// Person's name.
        person: String,
    },
    /// Remove a face's name.
    Untag {
        /// Face id.
        face: i64,
    },
    /// Name faces from a folder-per-person layout (DIR/<person>/<photo>): scans DIR, then
    /// confirms the largest face of each photo as its folder's person.
    ImportLabels {
        /// The folder of person folders.
        dir: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Suggest a person (or "unknown") for every face without a name.
    Suggest {
        /// Also list the faces whose answer is "unknown".
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Accept a suggestion (or name PERSON directly).
    Confirm {
        /// Face id.
        face: i64,
        /// Person [default: the pending suggestion].
        person: Option<String>,
    },
    /// Decline a suggestion (or PERSON): that pair is never suggested again.
    Reject {
        /// Face id.
        face: i64,
        /// Person [default: the pending suggestion].
        person: Option<String>,
    },
    /// List faces with their quality, names and suggestions (also faces below
    /// `library.min_quality`, which suggestions and clusters leave out).
    Faces {
        /// `add`: a face the detector missed (without one: list the faces).
        #[command(subcommand)]
        action: Option<FacesCommand>,
        /// Only the faces confirmed as this person.
        #[arg(long)]
        person: Option<String>,
        /// Only faces without a name.
        #[arg(long)]
        unlabelled: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Group the faces without a name into clusters (incremental; `--full` reclusters all,
    /// keeping ids by overlap). The algorithm is `[cluster]` in the config.
    Cluster {
        /// Recluster everything instead of adding new faces to existing clusters.
        #[arg(long)]
        full: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Clusters of unknown faces: list, show, name, merge, split.
    #[command(subcommand)]
    Clusters(super::clusters::ClustersCommand),
    /// Check the library: damaged pages, and faces stored twice by an older facelab (merged,
    /// keeping their names).
    Check {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Take photos from the scan queue (`scan --enqueue`) and detect and embed them with
    /// this machine's models; any number of workers on any machines share the queue.
    Worker(queue::WorkerArgs),
    /// The scan queue: `status`.
    #[command(subcommand)]
    Queue(queue::QueueCommand),
    /// The library itself: copy it between an SQLite file and a PostgreSQL server.
    #[command(subcommand)]
    Library(LibraryAdmin),
    /// Export every face with its photo, box and names.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value = "json")]
        format: ExportFormat,
        /// Output file [default: standard output].
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

/// `facelab library`.
#[derive(Debug, Subcommand)]
pub enum LibraryAdmin {
    /// Copy a library, every row with its id, into a new or empty one (an SQLite file or a
    /// postgres:// URL, either way), then check every table's row count and every
    /// embedding's checksum. A destination holding anything is refused.
    Copy {
        /// The library to copy (a file or postgres://USER@HOST:PORT/DATABASE).
        from: PathBuf,
        /// The new library.
        to: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `facelab export --format`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// One JSON document.
    Json,
    /// Comma-separated values with a header line.
    Csv,
}

/// `facelab scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Folders to scan (recursively).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Re-detect every photo, not only those found by another detector.
    #[arg(long)]
    pub redetect: bool,
    /// Retry photos that failed before even if they have not changed.
    #[arg(long)]
    pub retry_failed: bool,
    /// Only enqueue the photos that need work, for `facelab worker`s on any machine (the
    /// library on PostgreSQL; the folders under `[library.roots]`).
    #[arg(long)]
    pub enqueue: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `facelab people`.
#[derive(Debug, Subcommand)]
pub enum PeopleCommand {
    /// Everyone, with their number of named faces.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a person.
    Add {
        /// Name.
        name: String,
    },
    /// Rename a person; their faces keep the name.
    Rename {
        /// Current name.
        old: String,
        /// New name.
        new: String,
    },
    /// Move every face of FROM to INTO and remove FROM.
    Merge {
        /// The person that goes away.
        from: String,
        /// The person that stays.
        into: String,
    },
}

/// Runs a library command.
pub fn run(ctx: &RunContext, command: LibraryCommand) -> anyhow::Result<Outcome> {
    match command {
        LibraryCommand::Scan(a) if a.enqueue => {
            queue::enqueue(ctx, &a.dirs, a.redetect, a.retry_failed, a.json)
        }
        LibraryCommand::Scan(a) => scan(ctx, &a),
        LibraryCommand::Worker(a) => queue::worker(ctx, &a),
        LibraryCommand::Queue(c) => queue::run(ctx, c),
        LibraryCommand::People(c) => labels::people(ctx, c),
        LibraryCommand::Tag { face, person } => labels::tag(ctx, face, &person),
        LibraryCommand::Untag { face } => labels::untag(ctx, face),
        LibraryCommand::ImportLabels { dir, json } => labels::import_labels(ctx, &dir, json),
        LibraryCommand::Suggest { all, json } => suggestions::suggest(ctx, all, json),
        LibraryCommand::Confirm { face, person } => labels::confirm(ctx, face, person),
        LibraryCommand::Reject { face, person } => labels::reject(ctx, face, person),
        LibraryCommand::Faces {
            action: Some(FacesCommand::Add { photo, bbox, name }),
            ..
        } => super::xmp::faces_add(ctx, photo, bbox, name),
        LibraryCommand::Faces {
            action:
                Some(FacesCommand::Similar {
                    face,
                    limit,
                    exact,
                    json,
                }),
            ..
        } => faces::similar(ctx, face, limit, exact, json),
        LibraryCommand::Faces {
            action: None,
            person,
            unlabelled,
            json,
        } => faces::list(ctx, person, unlabelled, json),
        LibraryCommand::Cluster { full, json } => suggestions::cluster(ctx, full, json),
        LibraryCommand::Clusters(c) => super::clusters::run(ctx, c),
        LibraryCommand::Check { json } => check(ctx, json),
        LibraryCommand::Export { format, output } => faces::export(ctx, format, output),
        LibraryCommand::Library(LibraryAdmin::Copy { from, to, json }) => {
            let r = facelab_library::copy::copy(&from, &to, ctx.config.library.busy_timeout_ms)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                let rows: Vec<String> = r.rows.iter().map(|(t, n)| format!("{n} {t}")).collect();
                println!(
                    "copied {} to {}: {}; every table's row count and all {} embeddings' checksums verified",
                    r.from,
                    r.to,
                    rows.join(", "),
                    r.embeddings_verified
                );
            }
            Ok(Outcome::Success)
        }
    }
}

/// `facelab scan`.
fn scan(ctx: &RunContext, a: &ScanArgs) -> anyhow::Result<Outcome> {
    let mut lib = open_library(ctx)?;
    let summary = scan_dirs(ctx, &mut lib, &a.dirs, a.redetect, a.retry_failed)?;
    print!("{}", walk::summary_text(&lib, &summary, a.json)?);
    Ok(Outcome::from_failures(summary.failures()))
}

/// `facelab check`.
fn check(ctx: &RunContext, json: bool) -> anyhow::Result<Outcome> {
    Ok(Outcome::from_failures(facelab_library::check::command(
        &library_path(ctx),
        ctx.config.library.busy_timeout_ms,
        json,
    )?))
}

/// Scans `dirs` into `lib` with the configured pipeline.
pub fn scan_dirs(
    ctx: &RunContext,
    lib: &mut Library,
    dirs: &[PathBuf],
    redetect: bool,
    retry_failed: bool,
) -> anyhow::Result<Summary> {
    let config = &ctx.config;
    let req = walk::ScanRequest {
        config,
        dirs,
        redetect,
        retry_failed,
        detector_key: identity::detector_key(config)?,
        models: identity::ModelKeys::of_config(config)?,
    };
    walk::scan_folders(lib, &req, |n| open_for_scan(ctx, n), progress)
}
