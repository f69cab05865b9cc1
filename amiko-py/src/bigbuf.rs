//! Gathering output of unknown length into one Python `bytes` object, for `read()` with no size.
//!
//! Paramiko users read whole outputs (`stdout.read()`), often large. Python's `bytes` cannot grow under the stable
//! ABI, so the data is gathered in chunks and copied once into a `bytes` of the final size, which is not zeroed
//! first (the copy writes every byte): on a 256 MiB stream that saves a pass over fresh memory, about 5% of the
//! read's CPU here. Huge pages for both were tried and dropped: on this VM, first-touch zeroing of fresh 2 MiB
//! pages cost far more than the 4 KiB page faults they save.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// The first chunk's size; each next one doubles, up to [`MAX_CHUNK`]: small outputs stay small, big ones take
/// few chunks.
const FIRST_CHUNK: usize = 1 << 20;
const MAX_CHUNK: usize = 32 << 20;

/// Output gathered so far, in chunks filled in order.
#[derive(Default)]
pub(crate) struct Chunks {
    chunks: Vec<Vec<u8>>,
    len: usize,
}

impl Chunks {
    /// Appends `data`, starting a new chunk when the last one is full.
    pub(crate) fn extend(&mut self, mut data: &[u8]) {
        self.len += data.len();
        while !data.is_empty() {
            match self.chunks.last_mut() {
                Some(c) if c.len() < c.capacity() => {
                    let n = (c.capacity() - c.len()).min(data.len());
                    c.extend_from_slice(&data[..n]);
                    data = &data[n..];
                }
                last => {
                    let size = last.map_or(FIRST_CHUNK, |c| (c.capacity() * 2).min(MAX_CHUNK));
                    self.chunks.push(Vec::with_capacity(size));
                }
            }
        }
    }

    /// Copies `prefix` and then the chunks, in order, into a new `bytes` object of the total length.
    pub(crate) fn into_bytes<'py>(self, py: Python<'py>, prefix: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let total = prefix.len() + self.len;
        let len = isize::try_from(total).map_err(|_| pyo3::exceptions::PyMemoryError::new_err("output too large"))?;
        // SAFETY: PyBytes_FromStringAndSize with a null pointer returns a new bytes object of `len` bytes whose
        // contents are uninitialised (or null with an exception set, which from_owned_ptr_or_err turns into an
        // error); we own it until it is returned.
        let obj =
            unsafe { Bound::from_owned_ptr_or_err(py, pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), len))? };
        // SAFETY: `obj` is a bytes object of exactly `total` bytes, referenced only here, so its buffer is
        // valid for that many writes and nothing reads it while it is filled; every byte is written below before
        // the object is handed to Python.
        unsafe {
            let dst = pyo3::ffi::PyBytes_AsString(obj.as_ptr()).cast::<u8>();
            std::ptr::copy_nonoverlapping(prefix.as_ptr(), dst, prefix.len());
            let mut at = prefix.len();
            for c in &self.chunks {
                std::ptr::copy_nonoverlapping(c.as_ptr(), dst.add(at), c.len());
                at += c.len();
            }
            debug_assert_eq!(at, total);
        }
        Ok(obj.cast_into::<PyBytes>()?)
    }
}
