//! What the user sees while a run works: a progress bar per epoch on a terminal, one line
//! per validation pass otherwise (logs, CI), nothing with `--quiet`.

use crate::budget::format_duration;
use crate::train::{EpochRecord, StepProgress, TrainObserver};
use fmnist::DownloadProgress;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bars,
    Lines,
    Quiet,
}

pub struct Progress {
    mode: Mode,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(mode: Mode) -> Self {
        Self { mode, bar: None }
    }

    fn say(&self, line: &str) {
        match (&self.bar, self.mode) {
            (_, Mode::Quiet) => {}
            (Some(bar), _) => bar.println(line),
            (None, _) => eprintln!("{line}"),
        }
    }

    fn finish_bar(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

fn left(elapsed: Duration, budget: Duration) -> String {
    format_duration(budget.saturating_sub(elapsed))
}

pub fn validation_line(r: &EpochRecord, budget: Duration) -> String {
    format!(
        "epoch {:>3} ({:.2} epochs, {}): train loss {:.4}, val loss {:.4}, val acc {:.2}%, lr {:.4}, {:.0} img/s (data: {:.1} ms built, {:.2} ms waited per {:.0} ms step), {} left",
        r.epoch,
        r.epochs_completed,
        format_duration(Duration::from_secs_f64(r.elapsed_seconds)),
        r.train_loss,
        r.validation_loss,
        r.validation_accuracy * 100.0,
        r.learning_rate,
        r.train_images_per_second,
        r.data_build_ms_per_step,
        r.data_wait_ms_per_step,
        r.step_ms,
        left(Duration::from_secs_f64(r.elapsed_seconds), budget),
    )
}

impl TrainObserver for Progress {
    fn epoch_started(&mut self, epoch: usize, steps_in_epoch: usize) {
        if self.mode != Mode::Bars {
            return;
        }
        self.finish_bar();
        let bar = ProgressBar::new(steps_in_epoch as u64);
        let style = ProgressStyle::with_template("{prefix:>9} [{bar:30}] {pos:>4}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(format!("epoch {epoch}"));
        self.bar = Some(bar);
    }

    fn step(&mut self, p: &StepProgress) {
        if let Some(bar) = &self.bar {
            bar.set_position(p.step_in_epoch as u64);
            let val = p
                .last_validation_accuracy
                .map_or("-".to_string(), |a| format!("{:.2}%", a * 100.0));
            bar.set_message(format!(
                "loss {:.4} | val acc {val} | lr {:.4} | {} left",
                p.mean_loss,
                p.learning_rate,
                left(p.elapsed, p.budget)
            ));
        }
    }

    fn validation_started(&mut self) {
        if let Some(bar) = &self.bar {
            bar.set_message("validating...");
        }
    }

    fn validated(&mut self, record: &EpochRecord, budget: Duration) {
        self.say(&validation_line(record, budget));
    }

    fn note(&mut self, message: &str) {
        self.say(message);
    }
}

impl DownloadProgress for Progress {
    fn start(&mut self, file: &str, total: Option<u64>) {
        match self.mode {
            Mode::Bars => {
                let bar = ProgressBar::new(total.unwrap_or(0));
                let style = ProgressStyle::with_template(
                    "{msg:>28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
                bar.set_style(style);
                bar.set_message(file.to_string());
                self.bar = Some(bar);
            }
            Mode::Lines => eprintln!("downloading {file}"),
            Mode::Quiet => {}
        }
    }

    fn advance(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish_bar();
    }
}
