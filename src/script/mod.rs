//! The TorchScript interpreter (being written).

pub mod ast;
mod parse;

pub use parse::parse;
