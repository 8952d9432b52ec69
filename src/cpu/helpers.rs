//! Helper threads for calls too short to spawn threads for. A kernel call of tens of
//! microseconds (a Linear over thousands of rows) splits its work into chunks, runs them
//! itself, and lets idle helpers take some. The caller never waits for a helper to wake: it
//! waits only for chunks a helper has already taken, so a call costs at most the publishing of
//! its job more than on one thread, and a helper that wakes late finds no chunk left.
//!
//! - One job at a time: a call that finds the helpers taken (by another thread's call) runs
//!   alone, with the same results.
//! - After a job a helper spins for [`SPIN`] (calls in a loop find it awake, as they find
//!   OpenMP's and MKL's threads), then sleeps on a condition variable until the next job.
//! - A panic in a chunk, on any thread, is caught: the call returns an error and the helpers
//!   stay usable. A helper that cannot be spawned only leaves fewer of them (or none).
//!
//! The LSTM's long calls use a [`team`](super::team) of their own instead, which meets at a
//! barrier after every step.

use std::hint::spin_loop;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How long an idle helper spins for the next job before it sleeps.
const SPIN: Duration = Duration::from_micros(50);

/// Helpers at most: calls this short gain little past four threads, and every helper spins
/// after each call.
const MAX_HELPERS: usize = 3;

/// Runs `work(i)` once for every `i` in `0..chunks`, on the calling thread and on whichever
/// helpers are idle, and returns once every chunk is done (writes in any chunk happen before
/// the return). An error if a chunk panicked.
pub(crate) fn for_each_chunk(
    chunks: usize,
    work: &(dyn Fn(usize) + Sync),
) -> candle_core::Result<()> {
    let job = Job {
        work,
        chunks,
        next: AtomicUsize::new(0),
        panicked: AtomicBool::new(false),
    };
    match pool() {
        Some(pool) if chunks > 1 && !pool.busy.swap(true, Ordering::Acquire) => {
            let offer = Offer::new(pool, &job);
            job.run();
            drop(offer);
        }
        _ => job.run(),
    }
    if job.panicked.load(Ordering::Relaxed) {
        candle_core::bail!(
            "a kernel thread panicked: this is a bug in scriptless, please report it"
        );
    }
    Ok(())
}

/// The helpers (started on first use), or `None` when none could be spawned or there is one
/// CPU.
fn pool() -> Option<&'static Pool> {
    static POOL: OnceLock<Option<&'static Pool>> = OnceLock::new();
    *POOL.get_or_init(|| {
        // Miri cannot count CPUs (candle reads `/proc`); one helper takes every path there.
        let threads = if cfg!(miri) { 2 } else { super::threads() };
        let wanted = threads.saturating_sub(1).min(MAX_HELPERS);
        if wanted == 0 {
            return None;
        }
        // Lives as long as the process, like its helpers.
        let pool: &'static Pool = Box::leak(Box::default());
        let spawned = (0..wanted)
            .take_while(|i| {
                thread::Builder::new()
                    .name(format!("scriptless-helper-{i}"))
                    .spawn(move || pool.serve())
                    .is_ok()
            })
            .count();
        (spawned > 0).then_some(pool)
    })
}

/// One call's chunks.
struct Job<'a> {
    work: &'a (dyn Fn(usize) + Sync),
    chunks: usize,
    /// The next chunk to take.
    next: AtomicUsize,
    panicked: AtomicBool,
}

impl Job<'_> {
    /// Takes and runs chunks until none is left.
    fn run(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.chunks {
                return;
            }
            if panic::catch_unwind(AssertUnwindSafe(|| (self.work)(i))).is_err() {
                self.panicked.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// Where the calling threads leave jobs and the helpers find them.
#[derive(Default)]
struct Pool {
    /// The job on offer, or null. Its true lifetime is the offering call's: a helper reads it
    /// only while counted in `active`, and the call withdraws it and waits for `active` to
    /// fall to zero before it returns (see [`Offer`]).
    job: AtomicPtr<Job<'static>>,
    /// Bumped with every job offered, so that a helper waits for a new one after each.
    epoch: AtomicUsize,
    /// Helpers that may hold the job's pointer.
    active: AtomicUsize,
    /// Whether a call holds the pool.
    busy: AtomicBool,
    /// Helpers asleep; changed under `lock`.
    sleeping: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

impl Pool {
    /// A helper's life: take each job offered, forever.
    fn serve(&self) {
        let mut seen = 0;
        loop {
            seen = self.next_epoch(seen);
            self.active.fetch_add(1, Ordering::SeqCst);
            let job = self.job.load(Ordering::SeqCst);
            if !job.is_null() {
                // SAFETY: `job` was on offer after this helper counted itself in `active`,
                // and its call keeps it alive until `active` falls to zero (`Offer::drop`).
                unsafe { &*job }.run();
            }
            // Release: this helper's writes in its chunks happen before the call returns.
            self.active.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Waits for an epoch other than `seen`: spins for [`SPIN`], then sleeps.
    fn next_epoch(&self, seen: usize) -> usize {
        let start = Instant::now();
        let mut spins = 0u32;
        loop {
            let epoch = self.epoch.load(Ordering::SeqCst);
            if epoch != seen {
                return epoch;
            }
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(64) || start.elapsed() < SPIN {
                spin_loop();
                continue;
            }
            // Counted as asleep before the last look at the epoch, under the lock that
            // `Offer::new` takes to wake sleepers: a job offered after that look finds this
            // helper counted, and one offered before it is seen.
            let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.sleeping.fetch_add(1, Ordering::SeqCst);
            while self.epoch.load(Ordering::SeqCst) == seen {
                guard = self
                    .wake
                    .wait(guard)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            self.sleeping.fetch_sub(1, Ordering::SeqCst);
            return self.epoch.load(Ordering::SeqCst);
        }
    }
}

/// A job on offer to the helpers, withdrawn when dropped (the pool held: `busy` set).
struct Offer<'a> {
    pool: &'a Pool,
}

impl<'a> Offer<'a> {
    fn new(pool: &'a Pool, job: &Job) -> Self {
        let job: *const Job = job;
        pool.job.store(job.cast_mut().cast(), Ordering::SeqCst);
        pool.epoch.fetch_add(1, Ordering::SeqCst);
        if pool.sleeping.load(Ordering::SeqCst) > 0 {
            let _guard = pool.lock.lock().unwrap_or_else(PoisonError::into_inner);
            pool.wake.notify_all();
        }
        Self { pool }
    }
}

impl Drop for Offer<'_> {
    /// Withdraws the job and waits until no helper holds it: only the chunks helpers have
    /// taken are waited for.
    fn drop(&mut self) {
        let pool = self.pool;
        pool.job.store(std::ptr::null_mut(), Ordering::SeqCst);
        while pool.active.load(Ordering::SeqCst) != 0 {
            spin_loop();
        }
        pool.busy.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_chunk_runs_once_across_calls_and_callers() {
        let callers: Vec<_> = (0..3)
            .map(|caller| {
                thread::spawn(move || {
                    for call in 0..if cfg!(miri) { 3 } else { 300 } {
                        let chunks = 1 + (call * 7 + caller) % 40;
                        let runs: Vec<AtomicUsize> =
                            (0..chunks).map(|_| AtomicUsize::new(0)).collect();
                        for_each_chunk(chunks, &|i| {
                            runs[i].fetch_add(1, Ordering::Relaxed);
                        })
                        .unwrap();
                        assert!(runs.iter().all(|r| r.load(Ordering::Relaxed) == 1));
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.join().unwrap();
        }
    }

    #[test]
    fn idle_helpers_take_chunks() {
        if pool().is_none() {
            return; // One CPU: every call runs alone.
        }
        let caller = thread::current().id();
        let mut threads = HashSet::new();
        for _ in 0..if cfg!(miri) { 2 } else { 200 } {
            let ran_on = Mutex::new(Vec::new());
            for_each_chunk(8, &|_| {
                thread::sleep(Duration::from_micros(200));
                ran_on.lock().unwrap().push(thread::current().id());
            })
            .unwrap();
            threads.extend(ran_on.into_inner().unwrap());
            if threads.len() > 1 {
                break;
            }
        }
        assert!(threads.contains(&caller));
        assert!(threads.len() > 1, "no chunk ran on a helper");
    }

    #[test]
    fn a_panicking_chunk_is_an_error_and_the_helpers_stay_usable() {
        let err = for_each_chunk(16, &|i| {
            if i % 5 == 3 {
                panic!("injected: chunk {i} panics");
            }
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("a kernel thread panicked"), "{err}");
        let runs = AtomicUsize::new(0);
        for_each_chunk(16, &|_| {
            runs.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(runs.into_inner(), 16);
    }
}
