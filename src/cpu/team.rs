//! A team of threads that runs one job in lock-step, meeting at a spin barrier after each step,
//! and that can never hang.
//!
//! The threaded kernels split each step's work over the team and wait for one another before
//! the next step reads what the step wrote. A barrier alone turns any failure into a hang: a
//! member that panics never arrives, and the others spin forever. Here:
//!
//! - a member that panics poisons the barrier (from a drop guard, whatever the cause), so every
//!   other member's wait returns [`Abandoned`], and [`run`] returns an error naming the panic;
//! - a thread that cannot be spawned (`EAGAIN` under a thread or memory limit) only makes the
//!   team smaller: members wait for the final size before starting, so the run goes on, with
//!   the same results, on the threads that exist (down to the calling thread alone).
//!
//! The calling thread is member 0, so a team of one spawns nothing.

use std::any::Any;
use std::hint::spin_loop;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

/// The run was given up because another member failed; stop and return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Abandoned;

/// A member of a running team: which it is (the calling thread is 0), of how many, and the
/// barrier they meet at.
pub(crate) struct Member<'a> {
    index: usize,
    size: usize,
    barrier: &'a SpinBarrier,
    #[cfg(test)]
    panic_at: Option<(usize, usize)>,
    #[cfg(test)]
    syncs: std::cell::Cell<usize>,
}

impl Member<'_> {
    /// This member's near-equal, contiguous share of `0..n`.
    pub fn share(&self, n: usize) -> std::ops::Range<usize> {
        n * self.index / self.size..n * (self.index + 1) / self.size
    }

    /// Waits until every member has reached this point (at once in a team of one). Writes
    /// before it happen before reads after it, in every member. `Err` when the run was
    /// abandoned: return at once.
    pub fn sync(&self) -> Result<(), Abandoned> {
        #[cfg(test)]
        {
            let k = self.syncs.replace(self.syncs.get() + 1);
            if self.panic_at == Some((self.index, k)) {
                panic!("injected: member {} panics at sync {k}", self.index);
            }
        }
        if self.size == 1 {
            return Ok(());
        }
        self.barrier.wait(self.size)
    }
}

/// Runs `work` on a team of up to `threads` members (the calling thread and `threads - 1`
/// spawned ones; fewer if the system refuses a thread) and returns once all are done. A
/// panic in any member stops every member at its next [`Member::sync`] and comes back as an
/// error; the process stays usable. `work` returns [`Abandoned`] only from a failed `sync`.
pub(crate) fn run<F>(threads: usize, work: F) -> candle_core::Result<()>
where
    F: Fn(&Member) -> Result<(), Abandoned> + Sync,
{
    #[cfg(test)]
    let faults = fault::current();
    let barrier = &SpinBarrier::default();
    let work = &work;
    let member = move |index: usize, size: usize| Member {
        index,
        size,
        barrier,
        #[cfg(test)]
        panic_at: faults.panic_at,
        #[cfg(test)]
        syncs: std::cell::Cell::new(0),
    };
    // Runs one member; a panic poisons the barrier on its way out.
    let body = move |index: usize, size: usize| {
        let guard = PoisonOnDrop(barrier);
        let result = work(&member(index, size));
        guard.disarm();
        result
    };
    let panics: Vec<Box<dyn Any + Send>> = thread::scope(|scope| {
        // Poisons the barrier if this thread unwinds before the team starts, so that no
        // spawned member waits for a start that never comes.
        let guard = PoisonOnDrop(barrier);
        let mut handles = Vec::with_capacity(threads.saturating_sub(1));
        for index in 1..threads {
            #[cfg(test)]
            if faults.spawn_fails_at.is_some_and(|at| index >= at) {
                break;
            }
            let spawned = thread::Builder::new()
                .name(format!("scriptless-{index}"))
                .spawn_scoped(scope, move || body(index, barrier.wait_start()?));
            match spawned {
                Ok(handle) => handles.push(handle),
                // Fewer threads, same results: the members spawned so far learn the team's
                // size from `start`.
                Err(_) => break,
            }
        }
        let size = handles.len() + 1;
        barrier.start(size);
        guard.disarm();
        let mut panics = Vec::new();
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| body(0, size))) {
            panics.push(payload);
        }
        for handle in handles {
            // `Ok(Err(Abandoned))` is a member stopped by another's failure, reported there.
            if let Err(payload) = handle.join() {
                panics.push(payload);
            }
        }
        panics
    });
    match panics.first() {
        None => Ok(()),
        Some(payload) => candle_core::bail!(
            "a kernel thread panicked ({}): this is a bug in scriptless, please report it",
            panic_message(payload.as_ref())
        ),
    }
}

/// The text of a panic payload (`panic!` with a message gives a `&str` or a `String`).
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

/// Poisons the barrier when dropped, unless disarmed: a thread that unwinds through it (or
/// leaves early by any other path) releases everyone waiting on it.
struct PoisonOnDrop<'a>(&'a SpinBarrier);

impl PoisonOnDrop<'_> {
    fn disarm(self) {
        std::mem::forget(self);
    }
}

impl Drop for PoisonOnDrop<'_> {
    fn drop(&mut self) {
        self.0.poison();
    }
}

/// Spins before a waiting thread starts yielding its time slice (a few µs here). Short: when
/// the scheduler puts two members on one CPU, every spin is time the other cannot run. On the
/// 2-vCPU VM, 2^14 spins left some processes' two-thread LSTM (seq_med) at 22 ms, twice its
/// one-thread time, and forced onto one CPU at 100 ms; 2^8 spins gave 5.6–10.7 ms and 11.6 ms,
/// with the other configurations unchanged.
const SPIN_LIMIT: u32 = 1 << 8;

/// A sense-free spin barrier: arrivals count up; the last one resets the count and bumps the
/// generation the others spin on. It can be poisoned, which releases every waiter, now and
/// later, with [`Abandoned`]. The team size is set once, by [`start`](Self::start).
#[derive(Default)]
struct SpinBarrier {
    /// 0 until the team starts, then its size.
    size: AtomicUsize,
    count: AtomicUsize,
    generation: AtomicUsize,
    poisoned: AtomicBool,
}

impl SpinBarrier {
    fn start(&self, size: usize) {
        self.size.store(size, Ordering::Release);
    }

    fn poison(&self) {
        self.poisoned.store(true, Ordering::Release);
    }

    /// The team size, once the spawning thread knows it.
    fn wait_start(&self) -> Result<usize, Abandoned> {
        self.spin_until(|| match self.size.load(Ordering::Acquire) {
            0 => None,
            size => Some(size),
        })
    }

    fn wait(&self, size: usize) -> Result<(), Abandoned> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(Abandoned);
        }
        let generation = self.generation.load(Ordering::Acquire);
        if self.count.fetch_add(1, Ordering::AcqRel) + 1 == size {
            self.count.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            Ok(())
        } else {
            self.spin_until(|| {
                (self.generation.load(Ordering::Acquire) != generation).then_some(())
            })
        }
    }

    /// Spins until `done` returns a value, or the barrier is poisoned. Spins first (a step takes
    /// microseconds), then yields, so that a busy machine does not turn waits into lost time
    /// slices.
    fn spin_until<T>(&self, done: impl Fn() -> Option<T>) -> Result<T, Abandoned> {
        let mut spins = 0u32;
        loop {
            if let Some(value) = done() {
                return Ok(value);
            }
            if self.poisoned.load(Ordering::Acquire) {
                return Err(Abandoned);
            }
            if spins < SPIN_LIMIT {
                spins += 1;
                spin_loop();
            } else {
                thread::yield_now();
            }
        }
    }
}

/// Test-only fault injection, set per calling thread: the team started by a test's own
/// thread (whatever kernel starts it) fails as asked, and tests running in parallel do not see
/// each other's faults.
#[cfg(test)]
pub(crate) mod fault {
    use std::cell::Cell;

    /// Faults for the teams the current thread starts.
    #[derive(Debug, Clone, Copy, Default)]
    pub(crate) struct Faults {
        /// Spawning member `n` or any later one fails, as `pthread_create` does under a limit.
        pub spawn_fails_at: Option<usize>,
        /// `(member, k)`: that member panics on entering its `k`-th sync (from 0).
        pub panic_at: Option<(usize, usize)>,
    }

    thread_local! {
        static FAULTS: Cell<Faults> = Cell::new(Faults::default());
    }

    pub(super) fn current() -> Faults {
        FAULTS.with(Cell::get)
    }

    /// Runs `f` on a new thread with `faults` for the teams it starts, and returns its
    /// result; panics if it takes over a minute (half an hour under Miri), so that a hang fails
    /// the test instead of stalling the suite.
    pub(crate) fn bounded<R: Send + 'static>(
        faults: Faults,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> R {
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            FAULTS.with(|c| c.set(faults));
            // A send error means the test already gave up waiting.
            let _ = send.send(f());
        });
        // Miri's clock counts interpreted work: the generic tier's many small blocks take
        // minutes of it there.
        let limit = std::time::Duration::from_secs(if cfg!(miri) { 1800 } else { 60 });
        receive
            .recv_timeout(limit)
            .expect("the run neither returned nor failed within its time limit: it hangs")
    }
}

#[cfg(test)]
mod tests {
    use super::fault::{bounded, Faults};
    use super::*;

    const STEPS: usize = 5;

    /// Runs a team of `threads` for [`STEPS`] steps: each member counts its arrival at each
    /// step, and after the step's sync checks that every member of the team arrived. Returns
    /// the result and the team size seen.
    fn lock_step(threads: usize, faults: Faults) -> (candle_core::Result<()>, usize) {
        bounded(faults, move || {
            let arrivals: Vec<AtomicUsize> = (0..STEPS).map(|_| AtomicUsize::new(0)).collect();
            let size = AtomicUsize::new(0);
            let result = run(threads, |member| {
                size.store(member.size, Ordering::Relaxed);
                for arrived in &arrivals {
                    arrived.fetch_add(1, Ordering::Relaxed);
                    member.sync()?;
                    assert_eq!(arrived.load(Ordering::Relaxed), member.size);
                }
                Ok(())
            });
            (result, size.load(Ordering::Relaxed))
        })
    }

    #[test]
    fn members_meet_at_every_step() {
        for threads in 0..=4 {
            let (result, size) = lock_step(threads, Faults::default());
            assert!(result.is_ok());
            assert_eq!(size, threads.max(1));
        }
    }

    #[test]
    fn shares_cover_the_range_once() {
        let barrier = SpinBarrier::default();
        for size in 1..=5 {
            for n in 0..20 {
                let covered: Vec<usize> = (0..size)
                    .flat_map(|index| {
                        let member = Member {
                            index,
                            size,
                            barrier: &barrier,
                            panic_at: None,
                            syncs: Default::default(),
                        };
                        member.share(n)
                    })
                    .collect();
                assert_eq!(covered, (0..n).collect::<Vec<_>>());
            }
        }
    }

    #[test]
    fn a_panicking_member_is_an_error_not_a_hang() {
        for threads in 1..=3 {
            for member in 0..threads {
                for step in [0, 2, STEPS - 1] {
                    let faults = Faults {
                        panic_at: Some((member, step)),
                        ..Faults::default()
                    };
                    let (result, _) = lock_step(threads, faults);
                    let message = result.unwrap_err().to_string();
                    assert!(
                        message.contains("a kernel thread panicked (injected: member"),
                        "{message}"
                    );
                }
            }
        }
        // Nothing is left behind: the next run works.
        assert!(lock_step(3, Faults::default()).0.is_ok());
    }

    #[test]
    fn a_thread_that_cannot_spawn_leaves_a_smaller_team() {
        for at in 1..4 {
            let faults = Faults {
                spawn_fails_at: Some(at),
                ..Faults::default()
            };
            let (result, size) = lock_step(4, faults);
            assert!(result.is_ok());
            assert_eq!(size, at);
        }
    }
}
