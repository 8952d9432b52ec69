//! A one-line progress report on stderr, shown only when stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Requests done, how much of the input has been read, and the rate, redrawn in place at most
/// ten times a second.
pub(crate) struct Progress {
    enabled: bool,
    shown: bool,
    total_bytes: u64,
    start: Instant,
    last: Instant,
}

impl Progress {
    /// A report for an input of `total_bytes` (0 when unknown).
    pub(crate) fn new(total_bytes: u64) -> Self {
        let now = Instant::now();
        Self {
            enabled: std::io::stderr().is_terminal(),
            shown: false,
            total_bytes,
            start: now,
            last: now,
        }
    }

    /// Redraws the line, if a tenth of a second has passed since the last time.
    pub(crate) fn update(&mut self, requests: usize, bytes_read: u64) {
        if !self.enabled || self.last.elapsed() < Duration::from_millis(100) {
            return;
        }
        self.last = Instant::now();
        let rate = requests as f64 / self.start.elapsed().as_secs_f64().max(1e-9);
        let mut line = format!("\r{requests} requests, {rate:.0}/s");
        if self.total_bytes > 0 {
            let pct = 100.0 * bytes_read as f64 / self.total_bytes as f64;
            line = format!("{line}, {pct:.0}% of the input read");
        }
        let mut err = std::io::stderr().lock();
        // A progress line that cannot be drawn is not worth failing the run for.
        let _ = write!(err, "{line}\x1b[K").and_then(|_| err.flush());
        self.shown = true;
    }

    /// Clears the line.
    pub(crate) fn finish(&mut self) {
        if self.shown {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
            self.shown = false;
        }
    }
}
