//! A program's constant tensors (parameters, buffers, the code's constants) and the work
//! operators do once on them: a Linear's weights transposed and packed for its kernel, built
//! on the first call and found again on every later one by where the tensors' elements are.
//! A program holds one [`Constants`]; operators reach it through [`Ctx`](super::Ctx).
//!
//! Only tensors that view a constant's storage are looked up, so a weight computed per call
//! (`F.linear(x, self.w * 2)`) is prepared per call and never fills the table.

use std::any::Any;
use std::sync::{Arc, Mutex};

use candle_core::Tensor;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::error::Result;

/// Where a tensor's elements are: its storage's address and its layout.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Place {
    storage: usize,
    start: usize,
    dims: Vec<usize>,
    strides: Vec<usize>,
}

impl Place {
    fn of(t: &Tensor) -> Self {
        let (storage, layout) = t.storage_and_layout();
        Self {
            storage: std::ptr::from_ref(&*storage).addr(),
            start: layout.start_offset(),
            dims: layout.dims().to_vec(),
            strides: layout.stride().to_vec(),
        }
    }
}

type Key = (&'static str, Vec<Option<Place>>);

/// A program's constant tensors and what operators prepared from them.
#[derive(Default)]
pub struct Constants {
    storages: FxHashSet<usize>,
    /// The constants themselves: while they live, no other tensor gets their storage's address.
    keep: Vec<Tensor>,
    prepared: Mutex<FxHashMap<Key, Arc<dyn Any + Send + Sync>>>,
}

impl std::fmt::Debug for Constants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Constants({} tensors)", self.keep.len())
    }
}

impl Constants {
    /// The constants of a program: every tensor it holds for its whole life.
    pub fn new(tensors: impl IntoIterator<Item = Tensor>) -> Self {
        let keep: Vec<Tensor> = tensors.into_iter().collect();
        let storages = keep.iter().map(|t| Place::of(t).storage).collect();
        Self {
            storages,
            keep,
            prepared: Mutex::default(),
        }
    }

    /// What `make` builds from `tensors` (`None` for an absent optional one), for operator
    /// `op`: built once and shared when every tensor given views a constant, else built now.
    pub(crate) fn prepared<T: Any + Send + Sync>(
        &self,
        op: &'static str,
        tensors: &[Option<&Tensor>],
        make: impl FnOnce() -> Result<T>,
    ) -> Result<Arc<T>> {
        let places: Vec<Option<Place>> = tensors.iter().map(|t| t.map(Place::of)).collect();
        let constant = places
            .iter()
            .flatten()
            .all(|p| self.storages.contains(&p.storage));
        if !constant {
            return make().map(Arc::new);
        }
        let key = (op, places);
        if let Some(found) = self.lock().get(&key) {
            if let Ok(found) = Arc::clone(found).downcast::<T>() {
                return Ok(found);
            }
        }
        // Built outside the lock: another thread may build the same; either copy serves.
        let made = Arc::new(make()?);
        self.lock()
            .insert(key, Arc::clone(&made) as Arc<dyn Any + Send + Sync>);
        Ok(made)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FxHashMap<Key, Arc<dyn Any + Send + Sync>>> {
        // Entries are whole values: one left by a panicking thread is as good as any.
        self.prepared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn prepares_once_for_constants_and_per_call_otherwise() {
        let w = Tensor::arange(0f32, 6.0, &Device::Cpu)
            .unwrap()
            .reshape((2, 3))
            .unwrap();
        let constants = Constants::new([w.clone()]);
        let mut builds = 0;
        for _ in 0..3 {
            constants
                .prepared("t", &[Some(&w.t().unwrap()), None], || {
                    builds += 1;
                    Ok(())
                })
                .unwrap();
        }
        assert_eq!(builds, 1, "a view of a constant is prepared once");
        let computed = (&w * 2.0).unwrap();
        for _ in 0..2 {
            constants
                .prepared("t", &[Some(&computed)], || {
                    builds += 1;
                    Ok(())
                })
                .unwrap();
        }
        assert_eq!(builds, 3, "a computed tensor is prepared per call");
        constants
            .prepared("t", &[Some(&w)], || {
                builds += 1;
                Ok(())
            })
            .unwrap();
        assert_eq!(
            builds, 4,
            "another layout of the same storage is another entry"
        );
    }
}
