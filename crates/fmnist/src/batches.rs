//! Batches prepared on a background thread, so decoding and augmentation overlap with the
//! training step instead of adding to it.

use crate::split::{Stream, rng};
use crate::{Augmentation, Images, PIXELS, augment_into, normalize_into};
use rand::seq::SliceRandom;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

/// One batch of model inputs, `[size, 1, 28, 28]` row-major.
#[derive(Debug, Clone)]
pub struct Batch {
    pub images: Vec<f32>,
    pub labels: Vec<i64>,
    /// Positions of these examples in the image set they came from.
    pub indices: Vec<usize>,
    /// Time the worker thread spent building this batch (gathering, augmenting,
    /// normalising): the data pipeline's cost, which the trainer reports.
    pub build_seconds: f64,
}

/// Two batches are equal when they hold the same examples: how long one took to build is
/// not part of it.
impl PartialEq for Batch {
    fn eq(&self, other: &Self) -> bool {
        self.images == other.images && self.labels == other.labels && self.indices == other.indices
    }
}

impl Batch {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// The order in which an epoch visits `indices`, fixed by the seed and the epoch number.
pub fn epoch_order(indices: &[usize], seed: u64, epoch: u64) -> Vec<usize> {
    let mut order = indices.to_vec();
    order.shuffle(&mut rng(seed, Stream::EpochOrder, epoch));
    order
}

fn build_batch(
    images: &Images,
    labels: &[u8],
    chunk: &[usize],
    augmentation: Option<(&Augmentation, u64, u64, u64)>,
) -> Batch {
    let start = std::time::Instant::now();
    let mut batch = Batch {
        images: vec![0.0; chunk.len() * PIXELS],
        labels: chunk.iter().map(|&i| labels[i] as i64).collect(),
        indices: chunk.to_vec(),
        build_seconds: 0.0,
    };
    let outputs = batch.images.chunks_exact_mut(PIXELS);
    match augmentation {
        Some((aug, seed, epoch, batch_index)) => {
            // One stream per batch: the result does not depend on which thread built it.
            let mut rng = rng(seed, Stream::Augment, (epoch << 24) ^ batch_index);
            for (out, &i) in outputs.zip(chunk) {
                augment_into(images.image(i), aug, &mut rng, out);
            }
        }
        None => {
            for (out, &i) in outputs.zip(chunk) {
                normalize_into(images.image(i), out);
            }
        }
    }
    batch.build_seconds = start.elapsed().as_secs_f64();
    batch
}

/// Batches in a fixed order, built ahead by a worker thread (a few batches in flight).
pub struct BatchStream {
    receiver: Receiver<Batch>,
    worker: Option<JoinHandle<()>>,
}

/// How many batches the worker may build ahead of the consumer.
const PREFETCH: usize = 4;

impl BatchStream {
    /// Training batches of one epoch: shuffled, augmented, the last partial batch dropped
    /// (a tiny last batch would give batch norm noisy statistics).
    pub fn training(
        images: Arc<Images>,
        labels: Arc<Vec<u8>>,
        pool: &[usize],
        batch_size: usize,
        augmentation: Augmentation,
        seed: u64,
        epoch: u64,
    ) -> Self {
        let order = epoch_order(pool, seed, epoch);
        Self::spawn(move |tx| {
            for (b, chunk) in order.chunks_exact(batch_size.max(1)).enumerate() {
                let batch = build_batch(
                    &images,
                    &labels,
                    chunk,
                    Some((&augmentation, seed, epoch, b as u64)),
                );
                if tx.send(batch).is_err() {
                    return;
                }
            }
        })
    }

    /// Evaluation batches in the given order, normalised only, the last batch kept.
    pub fn evaluation(
        images: Arc<Images>,
        labels: Arc<Vec<u8>>,
        indices: Vec<usize>,
        batch_size: usize,
    ) -> Self {
        Self::spawn(move |tx| {
            for chunk in indices.chunks(batch_size.max(1)) {
                if tx.send(build_batch(&images, &labels, chunk, None)).is_err() {
                    return;
                }
            }
        })
    }

    fn spawn(work: impl FnOnce(SyncSender<Batch>) + Send + 'static) -> Self {
        let (tx, receiver) = sync_channel(PREFETCH);
        let worker = std::thread::Builder::new()
            .name("batches".into())
            .spawn(move || work(tx))
            .ok();
        Self { receiver, worker }
    }
}

impl Iterator for BatchStream {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        self.receiver.recv().ok()
    }
}

impl Drop for BatchStream {
    fn drop(&mut self) {
        // Dropping the receiver first makes the worker's next send fail, so it exits.
        let (_, dead) = sync_channel(0);
        drop(std::mem::replace(&mut self.receiver, dead));
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy(count: usize) -> (Arc<Images>, Arc<Vec<u8>>) {
        let pixels = (0..count * PIXELS).map(|i| (i / PIXELS) as u8).collect();
        let labels = (0..count).map(|i| (i % 10) as u8).collect();
        (Arc::new(Images { count, pixels }), Arc::new(labels))
    }

    #[test]
    fn training_epoch_drops_partial_batch_and_is_reproducible() {
        let (images, labels) = toy(25);
        let pool: Vec<usize> = (0..25).collect();
        let run = |epoch| {
            BatchStream::training(
                images.clone(),
                labels.clone(),
                &pool,
                8,
                Augmentation::default(),
                11,
                epoch,
            )
            .collect::<Vec<_>>()
        };
        let a = run(0);
        assert_eq!(a.len(), 3);
        assert!(
            a.iter()
                .all(|b| b.len() == 8 && b.images.len() == 8 * PIXELS)
        );
        assert_eq!(a, run(0));
        assert_ne!(a[0].indices, run(1)[0].indices);
        for b in &a {
            for (&i, &l) in b.indices.iter().zip(&b.labels) {
                assert_eq!(l, (i % 10) as i64);
            }
        }
    }

    #[test]
    fn evaluation_keeps_order_and_last_batch() {
        let (images, labels) = toy(10);
        let batches: Vec<_> = BatchStream::evaluation(images, labels, vec![9, 3, 5], 2).collect();
        assert_eq!(batches.len(), 2);
        assert_eq!(batches[0].indices, vec![9, 3]);
        assert_eq!(batches[1].indices, vec![5]);
        // Image 9 is filled with the value 9, normalised.
        assert!((batches[0].images[0] - (9.0 / 255.0 - 0.2860) / 0.3530).abs() < 1e-6);
    }

    #[test]
    fn dropping_a_stream_early_stops_its_worker() {
        let (images, labels) = toy(200);
        let pool: Vec<usize> = (0..200).collect();
        let mut stream =
            BatchStream::training(images, labels, &pool, 1, Augmentation::default(), 0, 0);
        assert!(stream.next().is_some());
        drop(stream); // must not hang
    }
}
