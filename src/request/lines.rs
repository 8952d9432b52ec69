//! [`JsonLines`]: a JSON Lines batch file read one request line at a time, each line within
//! [`Limits::max_input_bytes`], whatever the file is (a regular file, a pipe, an endless
//! device).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::{non_request_start, MAX_INPUT_BYTES};
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::source::{open_file, reserve_within};

/// The lines of a batch file, read one at a time. Memory is bounded by the longest line
/// allowed: a line longer than `limits.max_input_bytes` is an [`Error::Limit`] that ends the
/// reading, because its end could be anywhere, or nowhere (an endless stream), and reading on
/// to find it would be unbounded.
pub struct JsonLines {
    reader: BufReader<File>,
    /// Names the file in errors: `input file x.jsonl`.
    what: String,
    max: u64,
    /// The last line's number, from 1.
    number: usize,
    /// Bytes read so far.
    read: u64,
    /// The file's size, when it is a regular file.
    len: Option<u64>,
    stop_at_bad_line: bool,
}

impl JsonLines {
    /// Opens the batch file `path` (a directory is refused). With `stop_at_bad_line`, a line
    /// that cannot be a request, its first non-blank byte not being `{`, is an error as soon as
    /// that byte is read, without reading the rest of the line: for a caller that stops at the
    /// first bad line anyway.
    pub fn open(path: &Path, limits: &Limits, stop_at_bad_line: bool) -> Result<Self> {
        let what = format!("input file {}", path.display());
        let (file, len) = open_file(path, &what)?;
        Ok(Self {
            reader: BufReader::new(file),
            what,
            max: limits.max_input_bytes,
            number: 0,
            read: 0,
            len,
            stop_at_bad_line,
        })
    }

    /// The file's size when it is a regular file (for progress reports).
    pub fn file_size(&self) -> Option<u64> {
        self.len
    }

    /// The bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    /// The next line's number (from 1) and text without its line ending, or why it is not a
    /// request (`empty line`, `not UTF-8`); `None` at the end of the file.
    pub fn next_line(&mut self) -> Result<Option<(usize, std::result::Result<String, String>)>> {
        let at_line = |number: usize| format!("{} line {}", self.what, number);
        let mut bytes: Vec<u8> = Vec::new();
        let (mut ended, mut started) = (false, false);
        while !ended {
            let buf = self
                .reader
                .fill_buf()
                .map_err(|e| Error::io(self.what.clone(), e))?;
            if buf.is_empty() {
                break;
            }
            let (used, newline) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            // Only until the line's first non-blank byte has been seen: each byte is looked
            // at once.
            if self.stop_at_bad_line && !started {
                let first = buf[..used].iter().find(|b| !b.is_ascii_whitespace());
                started = first.is_some();
                if let Some(message) = first.and_then(|&b| non_request_start(b)) {
                    return Err(Error::format(at_line(self.number + 1), message));
                }
            }
            let content = bytes.len() + used - usize::from(newline);
            if content as u64 > self.max {
                return Err(Error::Limit {
                    what: at_line(self.number + 1),
                    message: format!(
                        "longer than the limit of {} bytes ({MAX_INPUT_BYTES}); the rest of \
                         the file is not read",
                        self.max
                    ),
                });
            }
            reserve_within(&mut bytes, used, self.max).map_err(|n| Error::Limit {
                what: at_line(self.number + 1),
                message: format!(
                    "out of memory: {n} bytes could not be allocated to read it \
                     ({MAX_INPUT_BYTES} is {} bytes, more than this process can hold; lower it)",
                    self.max
                ),
            })?;
            bytes.extend_from_slice(&buf[..used]);
            self.reader.consume(used);
            self.read += used as u64;
            ended = newline;
        }
        if bytes.is_empty() {
            return Ok(None);
        }
        self.number += 1;
        while matches!(bytes.last(), Some(b'\n' | b'\r')) {
            bytes.pop();
        }
        let line = match String::from_utf8(bytes) {
            Ok(s) if s.trim().is_empty() => Err("empty line".to_string()),
            Ok(s) => Ok(s),
            Err(_) => Err("not UTF-8".to_string()),
        };
        Ok(Some((self.number, line)))
    }
}
