//! Checks on the pointer arguments of the exported functions: a NULL where a value is needed,
//! a length whose bytes overflow, a misaligned array and a string that is not UTF-8 are
//! errors that name the argument, never undefined behaviour in Rust.

use std::ffi::{c_char, CStr};

use crate::status::{Failure, SCRIPTLESS_ERROR_INVALID_ARGUMENT, SCRIPTLESS_ERROR_NULL_ARGUMENT};

/// The error for a NULL `name`.
pub(crate) fn null(name: &str) -> Failure {
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
pub(crate) unsafe fn slice<'a, T>(p: *const T, len: usize, name: &str) -> Result<&'a [T], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null(name));
    }
    aligned(p, name)?;
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
pub(crate) unsafe fn string<'a>(p: *const c_char, name: &str) -> Result<&'a str, Failure> {
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
fn aligned<T>(p: *const T, name: &str) -> Result<(), Failure> {
    if p.is_aligned() {
        Ok(())
    } else {
        Err(Failure::new(
            SCRIPTLESS_ERROR_INVALID_ARGUMENT,
            format!("`{name}` is not aligned to {} bytes", align_of::<T>()),
        ))
    }
}
