//! Gathering output of unknown length into one Python `bytes` object, for `read()` with no size.
//!
//! Paramiko users read whole outputs (`stdout.read()`), often large. Where CPython's `_PyBytes_Resize` can be
//! found ([`Output::new`]), the output is written straight into a `bytes` object that doubles its capacity as it
//! fills and is cut to length at the end: big blocks are `mremap`ped by the C library, so growing copies nothing
//! and the data crosses memory once. `_PyBytes_Resize` is not part of the stable ABI this module is built for,
//! hence the run-time lookup; without it (another Python implementation) the output is gathered in [`Chunks`]
//! and copied once into a `bytes` of the final size. On a 256 MiB stream the direct path saves a pass over
//! fresh memory and a quarter of the read's CPU here. Huge pages were tried and dropped: on this VM, first-touch
//! zeroing of fresh 2 MiB pages cost far more than the 4 KiB page faults they save.

use std::ffi::c_int;
use std::ops::ControlFlow;
use std::ptr::NonNull;
use std::sync::OnceLock;

use pyo3::ffi::{PyObject, Py_ssize_t};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

/// Where whole outputs gather: straight in a growing `bytes` object when the interpreter allows it.
///
/// Appending runs under the connection's lock, where taking the GIL could deadlock against a thread that holds
/// the GIL and waits for that lock; so [`Output::extend`] never takes it, and asks for a pause when room runs
/// short, for [`Output::make_room`] to grow the object once the lock is let go.
pub(crate) enum Output {
    Growing(Growing),
    Chunks(Chunks),
}

impl Output {
    /// An empty output, growing in place if this interpreter has `_PyBytes_Resize`.
    pub(crate) fn new(py: Python<'_>) -> PyResult<Output> {
        Ok(match bytes_resize() {
            Some(resize) => {
                let mut g = Growing {
                    resize,
                    obj: None,
                    len: 0,
                    cap: 0,
                    spill: Vec::new(),
                };
                g.resize_to(py, FIRST_CAPACITY)?;
                Output::Growing(g)
            }
            None => Output::Chunks(Chunks::default()),
        })
    }

    /// Appends `data`, and asks for a pause when a growing object is (nearly) full.
    pub(crate) fn extend(&mut self, data: &[u8]) -> ControlFlow<()> {
        match self {
            Output::Growing(g) => g.extend(data),
            Output::Chunks(c) => {
                c.extend(data);
                ControlFlow::Continue(())
            }
        }
    }

    /// Grows a growing object (taking the GIL: call it with no lock held that a Python thread may wait on).
    pub(crate) fn make_room(&mut self) -> PyResult<()> {
        match self {
            Output::Growing(g) => Python::attach(|py| g.make_room(py)),
            Output::Chunks(_) => Ok(()),
        }
    }

    /// The `bytes` object: `prefix` and then everything appended.
    pub(crate) fn into_bytes<'py>(self, py: Python<'py>, prefix: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        match self {
            Output::Growing(g) => g.into_bytes(py, prefix),
            Output::Chunks(c) => c.into_bytes(py, prefix),
        }
    }
}

/// `int _PyBytes_Resize(PyObject **bytes, Py_ssize_t newsize)`: CPython's in-place resize of a `bytes` object
/// nothing else references (on failure it frees the object, sets `*bytes` to null and raises `MemoryError`).
type ResizeFn = unsafe extern "C" fn(*mut *mut PyObject, Py_ssize_t) -> c_int;

/// CPython's `_PyBytes_Resize`, looked up once among the symbols the interpreter exports. The environment
/// variable `AMIKO_PY_BYTES_IN_CHUNKS` set (to anything) makes it "missing", so that tests cover the other path.
fn bytes_resize() -> Option<ResizeFn> {
    static RESIZE: OnceLock<Option<ResizeFn>> = OnceLock::new();
    *RESIZE.get_or_init(|| {
        if std::env::var_os("AMIKO_PY_BYTES_IN_CHUNKS").is_some() {
            return None;
        }
        // SAFETY: dlsym with RTLD_DEFAULT only searches the loaded objects for the name; a non-null result is
        // the address of CPython's `_PyBytes_Resize`, whose C signature ResizeFn spells out (unchanged since
        // Python 3.0; PyPy and GraalPy export it under other names, so they take the Chunks path).
        unsafe {
            let f = libc::dlsym(libc::RTLD_DEFAULT, c"_PyBytes_Resize".as_ptr());
            (!f.is_null()).then(|| std::mem::transmute::<*mut libc::c_void, ResizeFn>(f))
        }
    })
}

/// The first capacity of a growing output: small outputs never pause, and cutting to length is cheap.
const FIRST_CAPACITY: usize = 64 << 10;

/// A `bytes` object that only this struct references, filled up to `len` of its `cap` bytes.
pub(crate) struct Growing {
    resize: ResizeFn,
    obj: Option<NonNull<PyObject>>,
    len: usize,
    cap: usize,
    /// What came when the object was full, until [`Growing::make_room`] moves it in (rare: a pause is asked for
    /// while a quarter is still free).
    spill: Vec<u8>,
}

// SAFETY: the object is referenced by nothing but this struct, and it is only resized with the GIL held;
// moving the struct to another thread moves the only reference.
unsafe impl Send for Growing {}

impl Growing {
    fn extend(&mut self, data: &[u8]) -> ControlFlow<()> {
        let n = if self.spill.is_empty() {
            data.len().min(self.cap - self.len)
        } else {
            0
        };
        if let Some(obj) = self.obj.filter(|_| n > 0) {
            // SAFETY: the object's buffer holds `cap` bytes, `len + n <= cap`, and nothing else reads or writes it
            // (only this struct references the object).
            unsafe {
                let dst = pyo3::ffi::PyBytes_AsString(obj.as_ptr()).cast::<u8>();
                std::ptr::copy_nonoverlapping(data.as_ptr(), dst.add(self.len), n);
            }
            self.len += n;
        }
        self.spill.extend_from_slice(&data[n..]);
        if self.spill.is_empty() && self.cap - self.len >= self.cap / 4 {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    }

    fn make_room(&mut self, py: Python<'_>) -> PyResult<()> {
        let want = (self.len + self.spill.len()).max(self.cap) * 2;
        self.resize_to(py, want)?;
        let spill = std::mem::take(&mut self.spill);
        let resumed = self.extend(&spill);
        debug_assert!(resumed.is_continue() && self.spill.is_empty());
        Ok(())
    }

    /// Makes the object `size` bytes long (a new one at first), keeping its first `len` bytes.
    fn resize_to(&mut self, py: Python<'_>, size: usize) -> PyResult<()> {
        let n = isize::try_from(size).map_err(|_| pyo3::exceptions::PyMemoryError::new_err("output too large"))?;
        let Some(obj) = self.obj.take() else {
            // SAFETY: PyBytes_FromStringAndSize with a null pointer returns a new, uninitialised bytes object of
            // `n` bytes (n >= FIRST_CAPACITY, so never a shared empty or one-byte object), or null with an
            // exception set; the GIL is held.
            let obj = unsafe { pyo3::ffi::PyBytes_FromStringAndSize(std::ptr::null(), n) };
            self.obj = Some(NonNull::new(obj).ok_or_else(|| PyErr::fetch(py))?);
            self.cap = size;
            return Ok(());
        };
        let mut ptr = obj.as_ptr();
        // SAFETY: `ptr` is a bytes object with a reference count of one (ours), the GIL is held, and `n` >= 1;
        // on failure `_PyBytes_Resize` frees it and nulls `ptr`, which is then dropped without a second free.
        let rc = unsafe { (self.resize)(&mut ptr, n) };
        match NonNull::new(ptr) {
            Some(obj) if rc == 0 => {
                self.obj = Some(obj);
                self.cap = size;
                Ok(())
            }
            _ => {
                self.len = 0;
                self.cap = 0;
                Err(PyErr::fetch(py))
            }
        }
    }

    fn into_bytes<'py>(mut self, py: Python<'py>, prefix: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        if !self.spill.is_empty() {
            self.make_room(py)?;
        }
        if self.len == 0 || !prefix.is_empty() {
            // Rare: nothing came, or the stream's own earlier output was set aside; one copy then.
            let mut all = Vec::with_capacity(prefix.len() + self.len);
            all.extend_from_slice(prefix);
            all.extend_from_slice(self.filled());
            return Ok(PyBytes::new(py, &all));
        }
        if self.len < self.cap {
            self.resize_to(py, self.len)?;
        }
        let Some(obj) = self.obj.take() else {
            // Not reached: bytes were written, so the object exists (a failed growth empties both).
            return Err(pyo3::exceptions::PyRuntimeError::new_err("read output lost"));
        };
        // SAFETY: `obj` is an owned reference to a bytes object of exactly `len` bytes, all written.
        Ok(unsafe { Bound::from_owned_ptr(py, obj.as_ptr()) }.cast_into::<PyBytes>()?)
    }

    /// The bytes written so far.
    fn filled(&self) -> &[u8] {
        match self.obj {
            // SAFETY: the object's buffer holds at least `len` bytes, all written by `extend`.
            Some(obj) => unsafe {
                std::slice::from_raw_parts(pyo3::ffi::PyBytes_AsString(obj.as_ptr()).cast::<u8>(), self.len)
            },
            None => &[],
        }
    }
}

impl Drop for Growing {
    fn drop(&mut self) {
        if let Some(obj) = self.obj.take() {
            // A read that failed or timed out (never under the connection's lock): the object goes, with the GIL.
            // SAFETY: `obj` is our one reference.
            Python::attach(|_| unsafe { pyo3::ffi::Py_DecRef(obj.as_ptr()) });
        }
    }
}

/// The first chunk's size; each next one doubles, up to [`MAX_CHUNK`]: small outputs stay small, big ones take
/// few chunks.
const FIRST_CHUNK: usize = 1 << 20;
const MAX_CHUNK: usize = 32 << 20;

/// Output gathered so far, in chunks filled in order (where `bytes` cannot grow in place).
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
