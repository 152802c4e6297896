//! The benchmark's protocol: 60,000 official training images split, seeded, into TRAIN and
//! VALIDATION; the official test set stays untouched as TEST.

use crate::DataError;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Independent random streams drawn from one seed, so that changing how one of them is
/// used (say, the augmentation) cannot shift another (the split).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    Split = 1,
    EpochOrder = 2,
    Augment = 3,
    /// AutoML CSV rows marked UNASSIGNED.
    Unassigned = 4,
}

pub(crate) fn rng(seed: u64, stream: Stream, index: u64) -> ChaCha8Rng {
    use rand::SeedableRng;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(((stream as u64) << 48) ^ index);
    rng
}

/// Indices into the official training set; both lists are sorted and disjoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    pub train: Vec<usize>,
    pub validation: Vec<usize>,
}

pub fn split_train_validation(
    total: usize,
    validation: usize,
    seed: u64,
) -> Result<Split, DataError> {
    if validation == 0 || validation >= total {
        return Err(DataError::BadSplit { total, validation });
    }
    let mut order: Vec<usize> = (0..total).collect();
    order.shuffle(&mut rng(seed, Stream::Split, 0));
    let mut validation_idx = order[..validation].to_vec();
    let mut train_idx = order[validation..].to_vec();
    validation_idx.sort_unstable();
    train_idx.sort_unstable();
    Ok(Split {
        train: train_idx,
        validation: validation_idx,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn split_is_deterministic_disjoint_and_complete() {
        let a = split_train_validation(60_000, 10_000, 7).unwrap();
        let b = split_train_validation(60_000, 10_000, 7).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.train.len(), 50_000);
        assert_eq!(a.validation.len(), 10_000);
        let train: HashSet<_> = a.train.iter().collect();
        assert!(a.validation.iter().all(|i| !train.contains(i)));
        let all: HashSet<_> = a.train.iter().chain(&a.validation).copied().collect();
        assert_eq!(all.len(), 60_000);
        assert!(all.iter().all(|&i| i < 60_000));
    }

    #[test]
    fn another_seed_gives_another_split() {
        let a = split_train_validation(60_000, 10_000, 1).unwrap();
        let b = split_train_validation(60_000, 10_000, 2).unwrap();
        assert_ne!(a.validation, b.validation);
    }

    #[test]
    fn rejects_impossible_sizes() {
        assert!(split_train_validation(10, 10, 0).is_err());
        assert!(split_train_validation(10, 0, 0).is_err());
    }
}
