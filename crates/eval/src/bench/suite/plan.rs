//! Task plans: whether each task runs, on which data path and which pipelines.

use std::path::{Path, PathBuf};

use super::{PipelineSpec, Suite};

/// The task names, in report order.
pub const TASK_NAMES: [&str; 8] = [
    "orl",
    "lfw",
    "wider",
    "voc",
    "clustering",
    "naming",
    "speed",
    "scan",
];

/// What [`Suite::task`] says about one task.
#[derive(Debug, Clone)]
pub struct TaskPlan {
    /// The task's table is present and enabled.
    pub enabled: bool,
    /// The data path (resolved against the data-set root); `None` for tasks without one.
    pub path: Option<PathBuf>,
    /// Pipeline names it runs on, when restricted.
    pub pipelines: Option<Vec<String>>,
    /// Only pipelines with a recognizer.
    pub needs_recognizer: bool,
}

impl Suite {
    /// The plan of task `name` (one of [`TASK_NAMES`]), with its data path resolved against
    /// `root` (absolute paths stay as they are).
    pub fn task(&self, name: &str, root: Option<&Path>) -> TaskPlan {
        let at = |p: &Path| match root {
            Some(r) => r.join(p),
            None => p.to_owned(),
        };
        let t = &self.tasks;
        let (enabled, path, pipelines, needs_recognizer) = match name {
            "orl" => t
                .orl
                .as_ref()
                .map(|x| (x.enabled, Some(at(&x.path)), x.pipelines.clone(), true)),
            "lfw" => t
                .lfw
                .as_ref()
                .map(|x| (x.enabled, Some(at(&x.path)), x.pipelines.clone(), true)),
            "wider" => t
                .wider
                .as_ref()
                .map(|x| (x.enabled, Some(at(&x.path)), x.pipelines.clone(), false)),
            "voc" => t
                .voc
                .as_ref()
                .map(|x| (x.enabled, Some(at(&x.path)), x.pipelines.clone(), false)),
            "clustering" => t
                .clustering
                .as_ref()
                .map(|x| (x.enabled, Some(at(&x.path)), x.pipelines.clone(), true)),
            "naming" => t
                .naming
                .as_ref()
                .map(|x| (x.enabled, Some(at(&x.path)), x.pipelines.clone(), true)),
            "speed" => t
                .speed
                .as_ref()
                .map(|x| (x.enabled, None, x.pipelines.clone(), false)),
            // The script embeds every face, so facelab does too; on the first pipeline by
            // default (the script's models are YuNet and MobileFaceNet).
            "scan" => t.scan.as_ref().map(|x| {
                let first = self.pipelines.first().map(|p| vec![p.name.clone()]);
                (x.enabled, None, x.pipelines.clone().or(first), true)
            }),
            _ => None,
        }
        .unwrap_or((false, None, None, false));
        TaskPlan {
            enabled,
            path,
            pipelines,
            needs_recognizer,
        }
    }
}

impl TaskPlan {
    /// Whether the task runs on `pipeline`.
    pub fn applies_to(&self, pipeline: &PipelineSpec) -> bool {
        self.enabled
            && (!self.needs_recognizer || pipeline.recognizer.is_some())
            && self
                .pipelines
                .as_ref()
                .is_none_or(|names| names.contains(&pipeline.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::suite::tests::MINIMAL;

    #[test]
    fn the_scan_task_defaults_to_the_first_pipeline() {
        let text = format!("{MINIMAL}[pipeline.recognizer]\nplugin = \"example\"\nkind = \"pixels\"\n[[pipeline]]\nname = \"second\"\n[pipeline.detector]\nplugin = \"example\"\nkind = \"whole-image\"\n[tasks.scan]\nsets = [{{ name = \"camera\", generate = \"camera\" }}]\n");
        let s = Suite::parse(&text, Path::new("/x/bench.toml")).unwrap();
        let scan = s.tasks.scan.as_ref().unwrap();
        assert_eq!(
            (scan.runs, scan.threads, &scan.variants[..]),
            (3, 2, &[0, 1280][..])
        );
        assert_eq!(scan.sets[0].compare_with(&scan.variants), 0);
        let plan = s.task("scan", None);
        assert!(plan.applies_to(&s.pipelines[0]) && !plan.applies_to(&s.pipelines[1]));
    }
}
