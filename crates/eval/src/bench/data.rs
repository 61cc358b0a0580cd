//! Which tasks run, and their data: each task's plan, its data set loaded once for all
//! pipelines, or the reason it is skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::report::{Status, Task, TaskResults};
use super::suite::{ClusteringTask, PipelineSpec, Suite, TaskPlan, VocTask, WiderTask, TASK_NAMES};
use super::{clustering, scan, speed, tasks, Bench, RunPlan};
use crate::voc::LabelledImage;
use crate::wider::WiderSet;

/// The data of every task that can run, loaded once for all pipelines.
#[derive(Default)]
pub(super) struct Data {
    pub(super) orl: Option<Vec<(PathBuf, usize)>>,
    pub(super) lfw: Option<tasks::LfwData>,
    pub(super) people: Option<tasks::PeopleData>,
    /// The clustering task's robustness variants: name and people, or why not.
    pub(super) variants: Vec<tasks::Variant>,
    pub(super) wider: Option<WiderSet>,
    /// Each labelled set: its name and images.
    pub(super) voc: Option<Vec<(String, Vec<LabelledImage>)>>,
    pub(super) speed: Option<Vec<PathBuf>>,
    pub(super) naming: Option<tasks::NamingSplit>,
    pub(super) scan: Option<scan::Prepared>,
}

/// Plans every task of the suite, loads the data of those that run, and starts each task's
/// results as ran, skipped (with a notice) or off.
pub(super) fn load<'a>(
    plan: &RunPlan<'a>,
    selected: &[(usize, &PipelineSpec)],
    notices: &mut Vec<String>,
) -> (Bench<'a>, TaskResults) {
    let (suite, root) = (plan.suite, &plan.root);
    let mut plans: HashMap<&'static str, TaskPlan> = HashMap::new();
    let mut data = Data::default();
    let mut results = TaskResults {
        orl: Task::off(),
        lfw: Task::off(),
        wider: Task::off(),
        voc: Task::off(),
        clustering: Task::off(),
        naming: Task::off(),
        speed: Task::off(),
        scan: Task::off(),
    };
    for name in TASK_NAMES {
        let mut task_plan = suite.task(name, Some(root));
        if !plan.tasks.is_empty() && !plan.tasks.iter().any(|t| t == name) {
            task_plan.enabled = false;
        }
        if !task_plan.enabled {
            plans.insert(name, task_plan);
            continue;
        }
        let dataset = task_plan.path.clone();
        let outcome = if !selected.iter().any(|(_, p)| task_plan.applies_to(p)) {
            Err("no selected pipeline applies (the recognition tasks need a recognizer)".into())
        } else {
            load_task_data(name, suite, &task_plan, root, &mut data)
        };
        if let Err(reason) = &outcome {
            let notice = format!("skipped: {name}: {reason}");
            eprintln!("bench: {notice}");
            notices.push(notice);
            task_plan.enabled = false;
        }
        set_status(&mut results, name, outcome, dataset.as_deref());
        plans.insert(name, task_plan);
    }
    (Bench { suite, plans, data }, results)
}

/// Marks task `name` as ran, or skipped for the reason in `outcome`.
fn set_status(
    results: &mut TaskResults,
    name: &str,
    outcome: Result<(), String>,
    dataset: Option<&Path>,
) {
    macro_rules! set {
        ($field:ident) => {
            results.$field = match outcome {
                Ok(()) => ran(dataset),
                Err(reason) => skipped(reason, dataset),
            }
        };
    }
    match name {
        "orl" => set!(orl),
        "lfw" => set!(lfw),
        "wider" => set!(wider),
        "voc" => set!(voc),
        "clustering" => set!(clustering),
        "naming" => set!(naming),
        "speed" => set!(speed),
        _ => set!(scan),
    }
}

fn skipped<R>(reason: String, dataset: Option<&Path>) -> Task<R> {
    Task {
        status: Status::Skipped,
        reason: Some(reason),
        dataset: dataset.map(|d| d.display().to_string()),
        results: Vec::new(),
    }
}

fn ran<R>(dataset: Option<&Path>) -> Task<R> {
    Task {
        status: Status::Ran,
        reason: None,
        dataset: dataset.map(|d| d.display().to_string()),
        results: Vec::new(),
    }
}

/// Loads the data of one task, or says why it cannot run.
fn load_task_data(
    name: &str,
    suite: &Suite,
    plan: &TaskPlan,
    root: &Path,
    data: &mut Data,
) -> Result<(), String> {
    let path = plan.path.as_deref().unwrap_or(root);
    let t = &suite.tasks;
    match name {
        "orl" => data.orl = Some(load_orl(path)?),
        "lfw" => data.lfw = Some(load_lfw(path)?),
        "clustering" => {
            let task = t.clustering.as_ref().expect("planned");
            let (people, variants) = load_clustering(path, task, root)?;
            data.people = Some(people);
            data.variants = variants;
        }
        "wider" => data.wider = Some(load_wider(path, t.wider.as_ref())?),
        "naming" => {
            let task = t.naming.as_ref().expect("planned");
            data.naming = Some(tasks::naming_split(&load_orl(path)?, task));
        }
        "voc" => data.voc = Some(load_voc(path, t.voc.as_ref().expect("planned"), root)?),
        "speed" => {
            let task = t.speed.as_ref().expect("planned");
            let photos = speed::photos(task, root);
            if photos.is_empty() {
                return Err(format!(
                    "no photos found at {:?} under {}",
                    task.photos,
                    root.display()
                ));
            }
            data.speed = Some(photos);
        }
        "scan" => {
            let task = t.scan.as_ref().expect("planned");
            data.scan = Some(scan::prepare(task, suite, root)?);
        }
        _ => unreachable!("task names are checked"),
    }
    Ok(())
}

/// Why a task cannot run: `what` is not at `path`.
fn missing(what: &str, path: &Path) -> String {
    format!("{what} not found at {}", path.display())
}

/// An error as a skip reason, with its causes.
fn reason(e: anyhow::Error) -> String {
    format!("{e:#}")
}

fn load_orl(path: &Path) -> Result<Vec<(PathBuf, usize)>, String> {
    if !path.is_dir() {
        return Err(missing("ORL", path));
    }
    crate::faceeval::orl_images(path).map_err(reason)
}

fn load_lfw(path: &Path) -> Result<tasks::LfwData, String> {
    if !path.join("pairs.txt").is_file() {
        return Err(missing("LFW (pairs.txt)", path));
    }
    tasks::load_lfw(path).map_err(reason)
}

/// The people of the clustering task and its robustness variants, once its methods are known
/// to parse.
fn load_clustering(
    path: &Path,
    task: &ClusteringTask,
    root: &Path,
) -> Result<(tasks::PeopleData, Vec<tasks::Variant>), String> {
    if !path.join("images").is_dir() {
        return Err(missing("LFW (images/)", path));
    }
    if task.methods.is_empty() {
        return Err("no methods in [tasks.clustering]".into());
    }
    for m in &task.methods {
        clustering::describe(m).map_err(reason)?;
    }
    let people = tasks::load_people(path, task.min_images).map_err(reason)?;
    Ok((people, tasks::load_variants(task, root)))
}

/// The WIDER FACE set, cut to the task's `limit`.
fn load_wider(path: &Path, task: Option<&WiderTask>) -> Result<WiderSet, String> {
    if !path.join("wider_face_val_bbx_gt.txt").is_file() {
        return Err(missing("WIDER FACE (wider_face_val_bbx_gt.txt)", path));
    }
    let mut set = WiderSet::load(path).map_err(reason)?;
    if let Some(n) = task.and_then(|w| w.limit) {
        set.images.truncate(n);
    }
    Ok(set)
}

/// The voc-groups file and the task's other labelled files, grouped into sets; every image
/// of the other files must be there.
fn load_voc(
    path: &Path,
    task: &VocTask,
    root: &Path,
) -> Result<Vec<(String, Vec<LabelledImage>)>, String> {
    if !path.is_file() {
        return Err(missing("voc-groups XML", path));
    }
    let mut files = vec![(
        path.to_owned(),
        crate::voc::read_imglab(path).map_err(reason)?,
    )];
    for labels in &task.labels {
        let images = crate::voc::read_imglab_in(labels, root).map_err(reason)?;
        if let Some(missing) = images.iter().find(|i| !i.path.is_file()) {
            return Err(format!(
                "{} names {}, which is missing",
                labels.display(),
                missing.path.display()
            ));
        }
        files.push((labels.clone(), images));
    }
    Ok(tasks::labelled_sets(files))
}
