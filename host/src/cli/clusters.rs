//! `facelab clusters`: list, show (with a contact sheet), name, merge and split the
//! clusters `facelab cluster` made, and propose merges of a person split in two.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;

use facelab_library::clusters;
use facelab_library::session::{
    active_models, note_unused_models, open_library, prior, Outcome, RunContext,
};

/// `facelab clusters`.
#[derive(Debug, Subcommand)]
pub enum ClustersCommand {
    /// Every cluster: size, a representative face, a suggested person.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The members of a cluster, most typical first.
    Show {
        /// Cluster id.
        id: i64,
        /// Write a contact sheet of the face crops to this PNG file.
        #[arg(long, value_name = "FILE")]
        draw: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Name every member (faces rejected for that person are left out).
    Name {
        /// Cluster id.
        id: i64,
        /// Person.
        person: String,
    },
    /// Join cluster B into cluster A (A keeps its id).
    Merge {
        /// The cluster that stays.
        a: i64,
        /// The cluster that goes into A.
        b: i64,
    },
    /// Split a cluster in two; the halves are never joined again automatically.
    Split {
        /// Cluster id.
        id: i64,
    },
    /// Groups, groups and people, and people that may be one person split in two, most
    /// alike first, each with the command that merges it (nothing is merged here).
    SuggestMerges {
        /// How many pairs to show.
        #[arg(long, default_value_t = 20, conflicts_with = "all")]
        limit: usize,
        /// Every pair at or above the same-person threshold instead.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `facelab clusters …`.
pub fn run(ctx: &RunContext, command: ClustersCommand) -> anyhow::Result<Outcome> {
    let models = active_models(ctx)?;
    let mut lib = open_library(ctx)?;
    note_unused_models(&lib, &models)?;
    let mut out = std::io::stdout().lock();
    match command {
        ClustersCommand::List { json } => {
            let list = clusters::list(&lib, &models, prior(ctx)?, ctx.config.library.min_quality)?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
            } else if list.is_empty() {
                writeln!(out, "no clusters (run `facelab cluster`)")?;
            } else {
                for c in &list {
                    let s = c
                        .suggestion
                        .as_ref()
                        .map(|(p, v)| format!("\t{p}? ({v:.2})"))
                        .unwrap_or_default();
                    writeln!(
                        out,
                        "cluster {}\t{} faces\tface {} in {}{s}",
                        c.id, c.size, c.representative, c.path
                    )?;
                }
            }
        }
        ClustersCommand::Show { id, draw, json } => {
            let members = clusters::members(&lib, id, &models)?;
            if let Some(file) = &draw {
                contact_sheet(ctx, &members, file)?;
                eprintln!(
                    "facelab: wrote {} ({} faces)",
                    file.display(),
                    members.len().min(SHEET_MAX)
                );
            }
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&members)?)?;
            } else {
                for m in &members {
                    writeln!(out, "{}\t{}\t{:.3}", m.face, m.path, m.similarity)?;
                }
            }
        }
        ClustersCommand::Name { id, person } => {
            let (named, left) = clusters::name(&mut lib, id, &person, &models)?;
            writeln!(
                out,
                "named {named} faces {person}{}",
                if left > 0 {
                    format!("; {left} faces rejected for {person} before were left out")
                } else {
                    String::new()
                }
            )?;
        }
        ClustersCommand::Merge { a, b } => {
            let n = clusters::merge(&mut lib, a, b)?;
            writeln!(out, "merged cluster {b} into {a} ({n} faces moved)")?;
        }
        ClustersCommand::SuggestMerges { limit, all, json } => {
            let found = clusters::suggest_merges(
                &lib,
                &models,
                prior(ctx)?,
                ctx.config.library.min_quality,
                (!all).then_some(limit),
            )?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&found)?)?;
            } else {
                print_merges(&mut out, &found)?;
            }
        }
        ClustersCommand::Split { id } => {
            let (new_id, stay, go) = clusters::split(&mut lib, id, &models)?;
            writeln!(
                out,
                "split cluster {id}: {stay} faces stay, {go} moved to cluster {new_id}"
            )?;
        }
    }
    Ok(Outcome::Success)
}

fn print_merges(
    out: &mut impl std::io::Write,
    found: &clusters::MergeSuggestions,
) -> anyhow::Result<()> {
    let side = |s: &clusters::Side| match (&s.person, s.cluster) {
        (Some(p), _) => format!("{p} ({} faces)", s.faces),
        (None, Some(c)) => format!("cluster {c} ({} faces)", s.faces),
        (None, None) => String::new(),
    };
    if found.pairs.is_empty() {
        writeln!(
            out,
            "nothing to merge among {} groups and {} named people (run `facelab cluster` first)",
            found.groups, found.people
        )?;
    }
    for p in &found.pairs {
        let command: Vec<String> = p.command.iter().map(|a| shell_word(a)).collect();
        writeln!(
            out,
            "{:.3}{}\t{} + {}\tfacelab {}",
            p.score,
            if p.likely { " likely" } else { "" },
            side(&p.a),
            side(&p.b),
            command.join(" ")
        )?;
    }
    if let Some(t) = &found.threshold {
        eprintln!(
            "facelab: score = mean similarity of the two sides' faces; \"likely\" = at or above the same-person threshold {:.3} ({})",
            t.value, t.source
        );
    }
    Ok(())
}

/// `a` as one shell word.
fn shell_word(a: &str) -> String {
    let plain = !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@+,".contains(c));
    if plain {
        a.to_owned()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

/// At most this many faces on a contact sheet.
const SHEET_MAX: usize = 120;

fn contact_sheet(
    ctx: &RunContext,
    members: &[clusters::Member],
    file: &Path,
) -> anyhow::Result<()> {
    let side = 112;
    let mut tiles = Vec::new();
    let mut photo: Option<(String, image::RgbImage)> = None;
    for m in members.iter().take(SHEET_MAX) {
        if photo.as_ref().is_none_or(|(p, _)| *p != m.path) {
            match facelab_engine::photo::decode(Path::new(&m.path), ctx.config.images.max_pixels) {
                Ok(p) => photo = Some((m.path.clone(), p.to_rgb())),
                Err(e) => {
                    eprintln!("facelab: {e}");
                    tiles.push(image::RgbImage::new(side, side));
                    continue;
                }
            }
        }
        let (_, img) = photo.as_ref().expect("decoded above");
        let b = facelab_plugin_api::BBox::new(m.bbox[0], m.bbox[1], m.bbox[2], m.bbox[3]);
        tiles.push(facelab_engine::draw::face_tile(img, &b, side));
    }
    let sheet =
        facelab_engine::draw::contact_sheet(&tiles, (tiles.len() as u32).clamp(1, 10), side);
    sheet
        .save(file)
        .with_context(|| format!("cannot write the contact sheet {}", file.display()))
}
