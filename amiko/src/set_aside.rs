//! Output of a channel's two streams kept aside while the other stream is read whole.
//!
//! Reading stdout to its end while nobody reads stderr stalls once the command has written a window's worth to
//! stderr: the server stops until that window opens, and stdout never ends (Paramiko's `stdout.read()` hangs so).
//! [`Channel::read_stream_setting_aside`](crate::Channel::read_stream_setting_aside) takes the other stream's bytes
//! as they come; [`SetAside`] keeps them for that stream's later reads, unless someone is reading that stream at
//! the time (a thread per stream, the usual way around the stall, then still gets every byte in order).

use std::sync::{Mutex, MutexGuard};

/// What has been set aside of a channel's stdout and stderr, and how many readers each has at work. One per
/// channel, shared by everything that reads it.
///
/// Its lock may be taken while the connection's is held (by [`SetAside::offer`], called under it), never the
/// other way round: nothing calls into the connection while holding it.
///
/// ```no_run
/// # async fn f(ch: amiko::Channel) -> amiko::Result<()> {
/// use std::ops::ControlFlow;
/// let aside = amiko::SetAside::default();
/// let mut out = Vec::new();
/// {
///     let _reading = aside.reading(false);
///     aside.take(false, usize::MAX, |b| out.extend_from_slice(b));
///     let sink = |d: &[u8]| {
///         out.extend_from_slice(d);
///         ControlFlow::Continue(())
///     };
///     ch.read_stream_setting_aside(false, sink, |a, b| aside.offer(true, a, b)).await?;
/// }
/// // stderr's bytes that came meanwhile are in `aside`, first in line for stderr's next read.
/// let mut err = Vec::new();
/// aside.take(true, usize::MAX, |b| err.extend_from_slice(b));
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct SetAside {
    streams: Mutex<[Stream; 2]>,
}

/// One stream's bytes set aside, read from `start`, and its readers at work.
#[derive(Default)]
struct Stream {
    data: Vec<u8>,
    start: usize,
    readers: usize,
}

impl SetAside {
    fn lock(&self) -> MutexGuard<'_, [Stream; 2]> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a reader of stdout (or stderr) until the guard is dropped: while it lives, whole reads of the other
    /// stream leave this one's bytes in the channel for it.
    pub fn reading(&self, stderr: bool) -> Reading<'_> {
        self.lock()[stderr as usize].readers += 1;
        Reading { aside: self, stderr }
    }

    /// Bytes of stdout (or stderr) set aside now.
    pub fn buffered(&self, stderr: bool) -> usize {
        let s = &self.lock()[stderr as usize];
        s.data.len() - s.start
    }

    /// Takes up to `n` bytes from the front of stdout's (or stderr's) bytes set aside, handing them to `f` (an
    /// empty slice if there are none).
    pub fn take<R>(&self, stderr: bool, n: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        let mut streams = self.lock();
        let s = &mut streams[stderr as usize];
        let from = s.start;
        s.start += n.min(s.data.len() - s.start);
        f(&s.data[from..s.start])
    }

    /// The `aside` callback of a whole read of the other stream: keeps `a` then `b` for stdout (or stderr) and
    /// returns how many bytes it took, all of them, or none while that stream has a reader of its own.
    pub fn offer(&self, stderr: bool, a: &[u8], b: &[u8]) -> usize {
        let mut streams = self.lock();
        let s = &mut streams[stderr as usize];
        if s.readers > 0 {
            return 0;
        }
        if s.start == s.data.len() {
            s.data.clear();
            s.start = 0;
        }
        s.data.extend_from_slice(a);
        s.data.extend_from_slice(b);
        a.len() + b.len()
    }
}

/// One reader of one stream, counted while it lives (see [`SetAside::reading`]).
pub struct Reading<'a> {
    aside: &'a SetAside,
    stderr: bool,
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.aside.lock()[self.stderr as usize].readers -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_back_in_order_and_a_reader_keeps_them_in_the_channel() {
        let aside = SetAside::default();
        assert_eq!(aside.offer(true, b"ab", b"c"), 3);
        assert_eq!(aside.offer(true, b"", b"de"), 2);
        assert_eq!(aside.buffered(true), 5);
        assert_eq!(aside.buffered(false), 0);
        assert_eq!(aside.take(true, 2, |b| b.to_vec()), b"ab");
        {
            let _r = aside.reading(true);
            assert_eq!(
                aside.offer(true, b"x", b"y"),
                0,
                "stderr has a reader: left in the channel"
            );
        }
        assert_eq!(aside.offer(true, b"f", b""), 1);
        assert_eq!(aside.take(true, usize::MAX, |b| b.to_vec()), b"cdef");
        assert_eq!(aside.take(true, 10, |b| b.len()), 0);
        // Emptied, the buffer starts over rather than growing.
        aside.offer(true, b"g", b"");
        assert_eq!(aside.lock()[1].data, b"g");
    }
}
