//! Device selection from the strings the CLI accepts: `cpu`, `cuda`, `cuda:N`, `metal`.

use candle_core::Device;

use crate::error::{Error, Result};

/// Opens the device named by `spec`. A device this build was compiled without, or that this
/// machine lacks, is a clear error rather than a silent fall-back to the CPU.
pub fn parse_device(spec: &str) -> Result<Device> {
    match spec {
        "cpu" => Ok(Device::Cpu),
        "cuda" => open_cuda(0),
        "metal" => open_metal(),
        _ => match spec.strip_prefix("cuda:") {
            Some(n) => open_cuda(n.parse().map_err(|_| {
                Error::Unsupported(format!(
                    "device `{spec}`: `{n}` is not a device number (expected cuda:0, cuda:1, ...)"
                ))
            })?),
            None => Err(Error::Unsupported(format!(
                "unknown device `{spec}`; expected cpu, cuda, cuda:N or metal"
            ))),
        },
    }
}

fn open_cuda(ordinal: usize) -> Result<Device> {
    if !candle_core::utils::cuda_is_available() {
        return Err(Error::Unsupported(
            "this build has no CUDA support; rebuild with `--features cuda`".to_string(),
        ));
    }
    // `Error::from` drops the backtrace candle attaches under `RUST_BACKTRACE`: one line.
    Device::new_cuda(ordinal).map_err(|e| {
        Error::Unsupported(format!(
            "cannot open CUDA device {ordinal}: {}",
            Error::from(e)
        ))
    })
}

fn open_metal() -> Result<Device> {
    if !candle_core::utils::metal_is_available() {
        return Err(Error::Unsupported(
            "this build has no Metal support; rebuild with `--features metal` on macOS".to_string(),
        ));
    }
    Device::new_metal(0).map_err(|e| {
        Error::Unsupported(format!("cannot open the Metal device: {}", Error::from(e)))
    })
}
