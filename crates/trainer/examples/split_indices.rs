//! Prints the VALIDATION images of a seed's split of Fashion-MNIST's 60,000 training images,
//! one index per line, ascending: every other training image is TRAIN. It lets a program
//! outside the project (benches/pytorch_accuracy.py) train and validate on exactly the images
//! the trainer uses, so that their accuracies per epoch compare image for image.
//!
//!     cargo run -p trainer --example split_indices -- 42 > target/validation-42.txt

use std::io::Write;

/// Images in Fashion-MNIST's official training set.
const OFFICIAL_TRAIN_IMAGES: usize = 60_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse::<u64>()
            .map_err(|e| format!("the seed must be a whole number, not {arg:?}: {e}"))?,
        None => 42,
    };
    let split = trainer::job::validation_split(OFFICIAL_TRAIN_IMAGES, seed)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for index in split.validation {
        writeln!(out, "{index}")?;
    }
    out.flush()?;
    Ok(())
}
