//! [`Source`]: a file of any kind (regular file, pipe, device, socket) or a byte slice, read
//! within a byte limit.
//!
//! Memory stays bounded whatever the source: a regular file's size is checked before anything
//! is read; a source of unknown length is read in chunks into a buffer that never grows past
//! the limit; readers that know how much they need (a safetensors header gives the size of
//! everything after it) ask for exactly that, and stop as soon as the bytes are known to be bad.
//! An allocation the machine refuses is an error, not an abort.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::error::{Error, Result};

/// Bytes read at a time from a source of unknown length.
const CHUNK: usize = 64 << 10;

/// A byte stream read within a limit of `max` bytes.
pub(crate) struct Source<R> {
    reader: R,
    /// Bytes peeked at and not yet consumed.
    pending: Vec<u8>,
    /// Names the source in errors: `weights file w.safetensors`.
    what: String,
    /// The [`Limits`](crate::Limits) field that sets `max`: `max_weights_bytes`.
    limit: &'static str,
    max: u64,
    /// Bytes consumed so far.
    consumed: u64,
    /// The size of a regular file or a slice, known before reading.
    len: Option<u64>,
}

/// Opens `path` for reading, refusing a directory; `what` names it in errors. Also returns
/// its size when it is a regular file.
pub(crate) fn open_file(path: &Path, what: &str) -> Result<(File, Option<u64>)> {
    let file = File::open(path).map_err(|e| Error::io(what, e))?;
    let meta = file.metadata().map_err(|e| Error::io(what, e))?;
    if meta.is_dir() {
        let e = io::Error::new(io::ErrorKind::IsADirectory, "is a directory, not a file");
        return Err(Error::io(what, e));
    }
    Ok((file, meta.is_file().then_some(meta.len())))
}

/// Makes room in `bytes` for `extra` more bytes, for a reader that stops at `max` bytes: the
/// buffer doubles (from at least [`CHUNK`]) but never past `max + 1`, the byte that tells a
/// source over the limit. An allocation the machine refuses is `Err` with the size asked for.
pub(crate) fn reserve_within(
    bytes: &mut Vec<u8>,
    extra: usize,
    max: u64,
) -> std::result::Result<(), usize> {
    let needed = bytes.len().saturating_add(extra);
    if needed <= bytes.capacity() {
        return Ok(());
    }
    let cap = usize::try_from(max.saturating_add(1)).unwrap_or(usize::MAX);
    let want = bytes
        .capacity()
        .saturating_mul(2)
        .max(CHUNK)
        .min(cap)
        .max(needed);
    bytes
        .try_reserve_exact(want - bytes.len())
        .map_err(|_| want)
}

impl Source<File> {
    /// Opens `path`, refusing a directory, and a regular file larger than `max` before
    /// reading it.
    pub(crate) fn open(path: &Path, what: String, max: u64, limit: &'static str) -> Result<Self> {
        let (file, len) = open_file(path, &what)?;
        Source::new(file, what, max, limit, len)
    }
}

impl<'a> Source<&'a [u8]> {
    /// Bytes already in memory, refused if longer than `max`.
    pub(crate) fn from_slice(
        bytes: &'a [u8],
        what: String,
        max: u64,
        limit: &'static str,
    ) -> Result<Self> {
        Source::new(bytes, what, max, limit, Some(bytes.len() as u64))
    }
}

impl<R: Read> Source<R> {
    /// A stream of unknown length.
    pub(crate) fn stream(reader: R, what: String, max: u64, limit: &'static str) -> Self {
        Source {
            reader,
            pending: Vec::new(),
            what,
            limit,
            max,
            consumed: 0,
            len: None,
        }
    }

    fn new(
        reader: R,
        what: String,
        max: u64,
        limit: &'static str,
        len: Option<u64>,
    ) -> Result<Self> {
        let source = Source {
            len,
            ..Source::stream(reader, what, max, limit)
        };
        match len {
            Some(len) if len > max => Err(source.limit_error(format!(
                "is {len} bytes, over the limit of {max} bytes ({limit})"
            ))),
            _ => Ok(source),
        }
    }

    /// Names the source in errors.
    pub(crate) fn what(&self) -> &str {
        &self.what
    }

    /// The source's length when it is known before reading (a regular file, a slice).
    pub(crate) fn len(&self) -> Option<u64> {
        self.len
    }

    /// A format error naming the source.
    pub(crate) fn format_error(&self, message: impl std::fmt::Display) -> Error {
        Error::format(&self.what, message)
    }

    fn limit_error(&self, message: String) -> Error {
        Error::Limit {
            what: self.what.clone(),
            message,
        }
    }

    /// An error for an allocation of `bytes` that the machine refused.
    fn out_of_memory(&self, bytes: usize) -> Error {
        self.limit_error(format!(
            "out of memory: {bytes} bytes could not be allocated to read it ({} is {} bytes, \
             more than this process can hold; lower it)",
            self.limit, self.max
        ))
    }

    /// Refuses to read past `end` bytes from the start, for a reader that knows it needs them.
    /// `needs` says why, in the message: `its header describes`.
    pub(crate) fn check_within(&self, end: u64, needs: &str) -> Result<()> {
        if end > self.max {
            return Err(self.limit_error(format!(
                "{needs} {end} bytes, over the limit of {} bytes ({})",
                self.max, self.limit
            )));
        }
        Ok(())
    }

    /// Reads into `buf` from what was peeked, then from the reader.
    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize> {
        if !self.pending.is_empty() {
            let n = buf.len().min(self.pending.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            return Ok(n);
        }
        loop {
            match self.reader.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(self.what.clone(), e)),
            }
        }
    }

    /// The first `n` bytes not yet consumed (fewer at the end of the source), without
    /// consuming them.
    pub(crate) fn peek(&mut self, n: usize) -> Result<&[u8]> {
        while self.pending.len() < n {
            let mut chunk = [0u8; 64];
            let want = (n - self.pending.len()).min(chunk.len());
            let got = loop {
                match self.reader.read(&mut chunk[..want]) {
                    Ok(got) => break got,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(Error::io(self.what.clone(), e)),
                }
            };
            if got == 0 {
                break;
            }
            self.pending.extend_from_slice(&chunk[..got]);
        }
        Ok(&self.pending[..n.min(self.pending.len())])
    }

    /// Reads exactly `n` bytes, which the caller has checked with
    /// [`check_within`](Self::check_within). `part` names them in the error if the source
    /// ends first (`the header`, ``tensor `x` ``).
    pub(crate) fn read_exact(&mut self, n: u64, part: &str) -> Result<Vec<u8>> {
        let n = usize::try_from(n).map_err(|_| self.out_of_memory(usize::MAX))?;
        let mut bytes = self.zeroed(n)?;
        self.read_into(&mut bytes, part)?;
        Ok(bytes)
    }

    /// A buffer of `n` zeroed values, or an error if the machine refuses the allocation.
    pub(crate) fn zeroed<T: Clone + Default>(&self, n: usize) -> Result<Vec<T>> {
        let mut values = Vec::new();
        if values.try_reserve_exact(n).is_err() {
            return Err(self.out_of_memory(n.saturating_mul(std::mem::size_of::<T>())));
        }
        values.resize(n, T::default());
        Ok(values)
    }

    /// Fills `buf` exactly, like [`read_exact`](Self::read_exact).
    pub(crate) fn read_into(&mut self, buf: &mut [u8], part: &str) -> Result<()> {
        let n = buf.len() as u64;
        self.check_within(self.consumed.saturating_add(n), "would need")?;
        let mut filled = 0;
        while filled < buf.len() {
            let got = self.read_some(&mut buf[filled..])?;
            if got == 0 {
                return Err(self.format_error(format!(
                    "ends after {} bytes, in the middle of {part}",
                    self.consumed + filled as u64
                )));
            }
            filled += got;
        }
        self.consumed += n;
        Ok(())
    }

    /// Reads everything left, refusing the source once it holds more than `max` bytes. The
    /// buffer grows in steps ([`reserve_within`]) and never past `max + 1` bytes; a source of
    /// known length gets its exact size at once.
    pub(crate) fn read_to_end(&mut self) -> Result<Vec<u8>> {
        let mut bytes: Vec<u8> = Vec::new();
        let first = self.len.map_or(1, |len| len.saturating_add(1));
        loop {
            let extra = if bytes.is_empty() { first } else { 1 };
            let extra = usize::try_from(extra).unwrap_or(usize::MAX);
            reserve_within(&mut bytes, extra, self.max).map_err(|n| self.out_of_memory(n))?;
            // Read into at most a chunk of the spare room at a time: zeroing all of it before
            // every read would make reading quadratic in the limit.
            let start = bytes.len();
            let room = (bytes.capacity() - start).min(CHUNK);
            bytes.resize(start + room, 0);
            let got = self.read_some(&mut bytes[start..])?;
            bytes.truncate(start + got);
            self.consumed += got as u64;
            if self.consumed > self.max {
                return Err(self.limit_error(format!(
                    "holds more than the limit of {} bytes ({})",
                    self.max, self.limit
                )));
            }
            if got == 0 {
                return Ok(bytes);
            }
        }
    }

    /// Refuses a source that goes on after the bytes its format describes.
    pub(crate) fn expect_end(&mut self, described: &str) -> Result<()> {
        if !self.peek(1)?.is_empty() {
            return Err(self.format_error(format!(
                "goes on after the {} bytes {described}",
                self.consumed
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its bytes a few at a time, like a pipe.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(3);
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn stream(bytes: &[u8], max: u64) -> Source<Trickle<'_>> {
        Source::stream(Trickle(bytes), "stream".into(), max, "max_test")
    }

    #[test]
    fn a_peek_is_read_again() -> Result<()> {
        let mut source = stream(b"0123456789", 100);
        assert_eq!(source.peek(5)?, b"01234");
        assert_eq!(source.read_exact(7, "x")?, b"0123456");
        assert_eq!(source.read_to_end()?, b"789");
        Ok(())
    }

    #[test]
    fn a_stream_is_read_to_its_limit_and_no_further() -> Result<()> {
        assert_eq!(stream(b"abcdef", 6).read_to_end()?, b"abcdef");
        // The buffer never grows past the limit (and the byte that tells a longer source).
        let data = vec![7u8; 300_000];
        let read = stream(&data, 300_000).read_to_end()?;
        assert_eq!(read, data);
        assert!(read.capacity() <= 300_001, "capacity {}", read.capacity());
        let err = stream(b"abcdefg", 6).read_to_end().unwrap_err().to_string();
        assert_eq!(
            err,
            "stream: holds more than the limit of 6 bytes (max_test)"
        );
        // An endless stream stops one byte past the limit.
        let mut endless = Source::stream(io::repeat(0), "zeros".into(), 1 << 20, "max_test");
        assert!(endless.read_to_end().is_err());
        assert_eq!(endless.consumed, (1 << 20) + 1);
        Ok(())
    }

    /// Zeros, 4 KiB per read, like a pipe.
    struct SlowZeros;

    impl Read for SlowZeros {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(4096);
            buf[..n].fill(0);
            Ok(n)
        }
    }

    // A timing test, meaningful in an optimised build (`cargo test --release`, as CONTRIBUTING.md says);
    // unoptimised and sanitizer builds skip it.
    #[test]
    #[cfg_attr(debug_assertions, ignore = "timing: run with --release")]
    fn reading_to_the_limit_takes_time_linear_in_it() {
        // Zeroing the buffer's whole spare room before each small read made this quadratic:
        // 32768 reads over a buffer growing to 128 MiB, about 500 GB of zeroing. Linear, it is
        // milliseconds.
        let start = std::time::Instant::now();
        let mut source = Source::stream(SlowZeros, "pipe".into(), 128 << 20, "max_test");
        assert!(source.read_to_end().is_err());
        let elapsed = start.elapsed();
        assert!(elapsed.as_secs() < 5, "took {elapsed:?}");
    }

    #[test]
    fn exact_reads_stop_at_the_limit_and_name_what_is_cut_short() {
        let err = stream(b"abc", 2)
            .read_exact(3, "x")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "stream: would need 3 bytes, over the limit of 2 bytes (max_test)"
        );
        let err = stream(b"abc", 10)
            .read_exact(5, "the header")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "stream: ends after 3 bytes, in the middle of the header"
        );
    }

    #[test]
    fn a_slice_over_the_limit_is_refused_unread() {
        let err = Source::from_slice(b"abc", "bytes".into(), 2, "max_test")
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("bytes: is 3 bytes, over the limit of 2 bytes (max_test)")
        );
    }

    #[test]
    fn trailing_bytes_are_found() -> Result<()> {
        let mut source = stream(b"abcd", 10);
        source.read_exact(3, "x")?;
        let err = source.expect_end("described").unwrap_err().to_string();
        assert_eq!(err, "stream: goes on after the 3 bytes described");
        source.read_exact(1, "x")?;
        source.expect_end("described")
    }
}
