//! The trainer: budgets, the learning-rate schedule, the training loop, evaluation and the
//! files a run writes, and using a saved model (`predict`, `serve`, `export-automl`).
//! `main.rs` only parses arguments and calls into these modules.

pub mod artifacts;
pub mod backend;
pub mod bench;
pub mod budget;
pub mod evaluate;
pub mod job;
pub mod predict;
pub mod progress;
pub mod recipe;
pub mod reporting;
pub mod schedule;
pub mod search;
pub mod stages;
pub mod train;
