//! Output buffers that are not zeroed first: every kernel here writes each element of its
//! output, and zeroing them beforehand was 3-4% of a training step (`memset` in the profile of
//! the 1.5x model, 2026-11-30).

use std::mem::MaybeUninit;

/// A buffer of `len` values that the caller writes in full before reading any.
pub(crate) fn uninit_buffer(len: usize) -> Box<[MaybeUninit<f32>]> {
    Box::new_uninit_slice(len)
}

/// The buffer once every element has been written.
///
/// # Safety
/// Every element of `buffer` must have been written.
pub(crate) unsafe fn assume_written(buffer: Box<[MaybeUninit<f32>]>) -> Vec<f32> {
    // SAFETY: the caller guarantees that every element is initialised.
    unsafe { buffer.assume_init() }.into_vec()
}

/// An initialised slice seen as one that may be overwritten without being read.
///
/// # Safety
/// Only initialised values may be written through the result, so that `values` stays
/// initialised.
pub(crate) unsafe fn as_uninit(values: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: `MaybeUninit<f32>` has the layout of `f32`; the caller keeps the values
    // initialised.
    unsafe { &mut *(std::ptr::from_mut(values) as *mut [MaybeUninit<f32>]) }
}
