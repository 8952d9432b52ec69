//! Weights from a stream of unknown length: the fuzzed bytes handed out a few at a time, as a
//! pipe does, must give exactly what the same bytes give from memory; and the same bytes
//! followed by an endless stream must be refused (no file is endless), within the limit,
//! without hanging.

#![no_main]

mod common;

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use scriptless::Weights;

/// A reader that hands out at most `step` bytes per read, then, if `endless`, zeros forever.
struct Pipe<'a> {
    data: &'a [u8],
    step: usize,
    endless: bool,
}

impl Read for Pipe<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.data.is_empty() {
            if !self.endless {
                return Ok(0);
            }
            let n = buf.len().min(self.step);
            buf[..n].fill(0);
            return Ok(n);
        }
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|input: (u8, &[u8])| {
    let (step, data) = input;
    let step = usize::from(step % 16) + 1;
    let limits = common::LIMITS;
    let from_memory = Weights::from_bytes(data, "fuzz", &limits);
    let piped = Pipe { data, step, endless: false };
    let from_stream = Weights::from_reader(piped, "fuzz", &limits);
    match (&from_memory, &from_stream) {
        (Ok(a), Ok(b)) => {
            assert!(a.names().eq(b.names()), "the same tensors either way");
            for name in a.names() {
                let (x, y) = (a.tensor(name).unwrap(), b.tensor(name).unwrap());
                assert_eq!(x.dims(), y.dims());
                assert_eq!(x.dtype(), y.dtype());
            }
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!("memory and stream disagree: {a:?} vs {b:?}"),
    }
    let endless = Pipe { data, step: 4096, endless: true };
    assert!(
        Weights::from_reader(endless, "fuzz", &limits).is_err(),
        "an endless stream was accepted"
    );
});
