//! What a person sees on the terminal while work runs: progress bars on stderr, and the
//! download bars and notices of model fetches. Results never go through here: they are
//! printed on stdout by the commands.

use std::cell::RefCell;

use facelab_models::fetch::FetchObserver;

/// A progress bar for `n` photos (hidden for fewer than two, or when stderr is not a
/// terminal, as indicatif decides).
pub fn progress(n: usize) -> indicatif::ProgressBar {
    bar(
        n,
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} photos ({per_sec}, eta {eta})",
    )
}

/// A progress bar for `n` items with a label in front, for runs of several sets (the
/// bench's pipelines and tasks).
pub fn labelled_progress(n: usize, label: &str) -> indicatif::ProgressBar {
    let bar = bar(
        n,
        "{prefix:>34} [{elapsed_precise}] {bar:30} {pos}/{len} ({per_sec}, eta {eta})",
    );
    bar.set_prefix(label.to_owned());
    bar
}

fn bar(n: usize, template: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(n as u64);
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("valid template"));
    if n < 2 {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

/// Download bars and notices of model fetches, on stderr.
#[derive(Default)]
pub struct FetchBars {
    bar: RefCell<Option<indicatif::ProgressBar>>,
}

impl FetchObserver for FetchBars {
    fn start(&self, file: &str, total: u64) {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg:32} {bar:30} {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
            )
            .expect("valid template"),
        );
        bar.set_message(file.to_owned());
        if let Some(old) = self.bar.replace(Some(bar)) {
            old.finish_and_clear();
        }
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = self.bar.borrow().as_ref() {
            bar.inc(n);
        }
    }

    fn notice(&self, message: &str) {
        match self.bar.borrow().as_ref() {
            Some(bar) => bar.suspend(|| eprintln!("facelab: {message}")),
            None => eprintln!("facelab: {message}"),
        }
    }
}

impl Drop for FetchBars {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}
