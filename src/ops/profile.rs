//! Per-operator timing, for `scriptless bench --profile`: off unless [`start`]ed, when each
//! operator call costs one relaxed atomic load more. While on, every call through the
//! registry, the interpreter or the graph executor adds its wall time to its overload's row.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::registry::Op;

static ENABLED: AtomicBool = AtomicBool::new(false);
/// Rows by the address of their [`Op`] (the registry's overloads live as long as the process)
/// or of a fused run's static name.
static ROWS: Mutex<Option<HashMap<usize, OpTime>>> = Mutex::new(None);

/// The time spent in one overload.
#[derive(Debug, Clone, PartialEq)]
pub struct OpTime {
    /// `aten::linear`, `aten::add.Tensor`, ...
    pub name: String,
    /// Calls made.
    pub calls: u64,
    /// Their wall time, in total.
    pub total: Duration,
}

/// Starts counting, from zero.
pub fn start() {
    *rows() = Some(HashMap::new());
    ENABLED.store(true, Ordering::Relaxed);
}

/// Stops counting; returns the rows, most time first.
pub fn stop() -> Vec<OpTime> {
    ENABLED.store(false, Ordering::Relaxed);
    let mut rows: Vec<OpTime> = rows().take().unwrap_or_default().into_values().collect();
    rows.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.name.cmp(&b.name)));
    rows
}

/// Runs `f`, the call of `op`, counted when profiling is on.
#[inline]
pub(crate) fn call<T>(op: &Op, f: impl FnOnce() -> T) -> T {
    counted(op as *const Op as usize, || op.schema.full_name(), f)
}

/// Runs `f`, a fused run of operators named `name` (`fused: aten::add.Tensor +
/// aten::linear`), counted when profiling is on.
#[inline]
pub(crate) fn call_fused<T>(name: &'static str, f: impl FnOnce() -> T) -> T {
    counted(name.as_ptr() as usize, || name.to_string(), f)
}

/// Runs `f`, counted in the row of `key` (named `name()` when new) when profiling is on.
#[inline]
fn counted<T>(key: usize, name: impl FnOnce() -> String, f: impl FnOnce() -> T) -> T {
    if !ENABLED.load(Ordering::Relaxed) {
        return f();
    }
    let start = Instant::now();
    let out = f();
    let spent = start.elapsed();
    if let Some(rows) = rows().as_mut() {
        let row = rows.entry(key).or_insert_with(|| OpTime {
            name: name(),
            calls: 0,
            total: Duration::ZERO,
        });
        row.calls += 1;
        row.total += spent;
    }
    out
}

fn rows() -> std::sync::MutexGuard<'static, Option<HashMap<usize, OpTime>>> {
    // A panic while the lock was held leaves counts, not broken invariants.
    ROWS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Registry;

    #[test]
    fn counts_calls_only_while_on() {
        let op = Registry::get().op("aten::relu").unwrap();
        call(op, || ());
        start();
        call(op, || ());
        call(op, || ());
        let rows = stop();
        call(op, || ());
        let row = rows.iter().find(|r| r.name == "aten::relu").unwrap();
        // Other tests may call it at the same time.
        assert!(row.calls >= 2, "{row:?}");
    }
}
