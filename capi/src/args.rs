//! Checks on the pointer arguments of the exported functions: a NULL where a value is needed,
//! a length whose bytes overflow, a misaligned array and a string that is not UTF-8 are
//! errors that name the argument, never undefined behaviour in Rust. Names are anything
//! displayable, formatted only when an error needs one (`format_args!("{at}.name")`), so that a
//! call that succeeds formats none.

use std::ffi::{c_char, CStr};
use std::fmt::Display;

use crate::status::{Failure, SCRIPTLESS_ERROR_INVALID_ARGUMENT, SCRIPTLESS_ERROR_NULL_ARGUMENT};

/// The error for a NULL `name`.
pub(crate) fn null(name: impl Display) -> Failure {
    Failure::new(SCRIPTLESS_ERROR_NULL_ARGUMENT, format!("`{name}` is NULL"))
}

/// `p`, which must be neither NULL nor misaligned, for writing a result through.
pub(crate) fn out<T>(p: *mut T, name: &str) -> Result<*mut T, Failure> {
    if p.is_null() {
        return Err(null(name));
    }
    aligned(p.cast_const(), name)?;
    Ok(p)
}

/// Writes `value` through the out pointer `p`, which must be neither NULL nor misaligned.
///
/// # Safety
/// A non-NULL `p` is valid for writing a `T`.
pub(crate) unsafe fn put<T>(p: *mut T, name: &str, value: T) -> Result<(), Failure> {
    let p = out(p, name)?;
    // SAFETY: not NULL and aligned (checked), writable by the caller's contract.
    unsafe { p.write(value) };
    Ok(())
}

/// The handle slot `slot`, checked as an out pointer and set to NULL, so that it holds NULL
/// whatever happens before [`hand_over`] fills it.
///
/// # Safety
/// A non-NULL `slot` is valid for writing a pointer.
pub(crate) unsafe fn clear<T>(slot: *mut *mut T, name: &str) -> Result<*mut *mut T, Failure> {
    // SAFETY: forwarded from the caller's contract.
    unsafe { put(slot, name, std::ptr::null_mut()) }?;
    Ok(slot)
}

/// Puts `value` in a new handle the caller owns, in `slot`, to be freed by [`free`].
///
/// # Safety
/// `slot` came from [`clear`].
pub(crate) unsafe fn hand_over<T>(slot: *mut *mut T, value: T) {
    // SAFETY: checked by `clear`, by the function's contract.
    unsafe { slot.write(Box::into_raw(Box::new(value))) };
}

/// Frees the handle in `slot`, if any, and sets the slot to NULL: a `*_destroy` call.
///
/// # Safety
/// A non-NULL `slot` holds NULL or a handle from [`hand_over`] (or `Box::into_raw`) that was
/// not freed since.
pub(crate) unsafe fn free<T>(slot: *mut *mut T, name: &str) -> Result<(), Failure> {
    let slot = out(slot, name)?;
    // SAFETY: not NULL and aligned (checked); holds NULL or a live handle (caller's contract).
    let handle = unsafe { slot.replace(std::ptr::null_mut()) };
    if !handle.is_null() {
        // SAFETY: the handle came from `Box::into_raw` and is freed once: the caller's slot is
        // NULL from now on.
        drop(unsafe { Box::from_raw(handle) });
    }
    Ok(())
}

/// The value `p` points to, which must not be NULL.
///
/// # Safety
/// A non-NULL `p` points to a live, aligned `T` that nothing writes for `'a`.
pub(crate) unsafe fn value<'a, T>(p: *const T, name: &str) -> Result<&'a T, Failure> {
    aligned(p, name)?;
    // SAFETY: not NULL (checked), aligned (checked), and live by the caller's contract.
    unsafe { p.as_ref() }.ok_or_else(|| null(name))
}

/// The `len` values `p` points to; `p` may be NULL when `len` is 0.
///
/// # Safety
/// A non-NULL `p` points to `len` live, initialised `T`s that nothing writes for `'a`.
pub(crate) unsafe fn slice<'a, T>(
    p: *const T,
    len: usize,
    name: impl Display,
) -> Result<&'a [T], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null(name));
    }
    aligned(p, &name)?;
    if len
        .checked_mul(size_of::<T>())
        .is_none_or(|n| n > isize::MAX as usize)
    {
        return Err(Failure::new(
            SCRIPTLESS_ERROR_INVALID_ARGUMENT,
            format!("`{name}` has {len} elements, more than memory can hold"),
        ));
    }
    // SAFETY: not NULL, aligned, at most isize::MAX bytes (all checked), and `len` live
    // elements by the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// The `len` values `p` points to, for reading and writing; `p` may be NULL when `len` is 0.
///
/// # Safety
/// A non-NULL `p` points to `len` live, initialised `T`s that nothing else uses for `'a`.
pub(crate) unsafe fn slice_mut<'a, T>(
    p: *mut T,
    len: usize,
    name: &str,
) -> Result<&'a mut [T], Failure> {
    // SAFETY: forwarded from the caller's contract; this checks NULL, alignment and size.
    unsafe { slice(p.cast_const(), len, name) }?;
    if len == 0 {
        return Ok(&mut []);
    }
    // SAFETY: checked as for `slice` just above, and used by nothing else (caller's contract).
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len) })
}

/// The UTF-8 string `p` points to, which must not be NULL.
///
/// # Safety
/// A non-NULL `p` points to a NUL-terminated string that lives, unchanged, for `'a`.
pub(crate) unsafe fn string<'a>(p: *const c_char, name: impl Display) -> Result<&'a str, Failure> {
    if p.is_null() {
        return Err(null(name));
    }
    // SAFETY: not NULL (checked), NUL-terminated and live by the caller's contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().map_err(|_| {
        Failure::new(
            SCRIPTLESS_ERROR_INVALID_ARGUMENT,
            format!("`{name}` is not UTF-8"),
        )
    })
}

/// Refuses a pointer not aligned for `T`, which Rust may not read or write through.
fn aligned<T>(p: *const T, name: impl Display) -> Result<(), Failure> {
    if p.is_aligned() {
        Ok(())
    } else {
        Err(Failure::new(
            SCRIPTLESS_ERROR_INVALID_ARGUMENT,
            format!("`{name}` is not aligned to {} bytes", align_of::<T>()),
        ))
    }
}

/// Where an element of a caller's array, or a field of it, is, for messages (`inputs[1]`,
/// `args[2].tensor`, `args[0].tensors[3]`): formatted only when a message needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At<'a> {
    /// The array (`args`, `requests[2].inputs`).
    pub array: &'a str,
    /// The element's index in it.
    pub index: usize,
    /// The element's field meant (`""` for the element itself, `.tensor`, `.tensors`).
    pub field: &'static str,
    /// The item of a list field meant, if any.
    pub item: Option<usize>,
}

impl<'a> At<'a> {
    /// Element `index` of `array`.
    pub fn new(array: &'a str, index: usize) -> Self {
        Self {
            array,
            index,
            field: "",
            item: None,
        }
    }

    /// Its field `field` (`.tensor`).
    pub fn field(self, field: &'static str) -> Self {
        Self { field, ..self }
    }

    /// Item `item` of its list field.
    pub fn item(self, item: usize) -> Self {
        Self {
            item: Some(item),
            ..self
        }
    }
}

impl Display for At<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}[{}]{}", self.array, self.index, self.field)?;
        match self.item {
            Some(item) => write!(f, "[{item}]"),
            None => Ok(()),
        }
    }
}

/// An argument's name, or an item of it (`xs[1]`), for messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Named<'a> {
    /// The argument's name.
    pub name: &'a str,
    /// The item of a list meant, if any.
    pub item: Option<usize>,
}

impl Display for Named<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.item {
            Some(item) => write!(f, "{}[{item}]", self.name),
            None => f.write_str(self.name),
        }
    }
}
