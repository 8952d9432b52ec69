//! Writing a model's output: JSON on stdout, or a `.json` / `.safetensors` / `.npy` file written
//! to a temporary file beside the target and renamed over it, so a failed run never leaves a
//! partial or clobbered file.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use candle_core::{DType, Device, Tensor};
use scriptless::npy_bytes;
use serde::ser::{Serialize, SerializeSeq, Serializer};

/// Where the output goes.
pub(crate) enum OutputTarget {
    Stdout,
    Json(PathBuf),
    Safetensors(PathBuf),
    /// The output array as `np.save` writes it (BF16 as float32: numpy has no bfloat16).
    Npy(PathBuf),
    /// One result per line, for a `.jsonl` input.
    Jsonl(PathBuf),
    /// NumPy's `.npz` (`np.savez`): one `.npy` per output tensor, `output.npy` for a lone one.
    Npz(PathBuf),
}

impl OutputTarget {
    pub(crate) fn from_arg(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::Stdout);
        };
        let dir = parent_dir(path);
        if !dir.is_dir() {
            // A WASI program sees only the directories its runtime hands it.
            let hint = if cfg!(target_os = "wasi") {
                " (or the WASI runtime does not give this program access to it)"
            } else {
                ""
            };
            bail!(
                "--output {}: directory {} does not exist{hint}",
                path.display(),
                dir.display()
            );
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Ok(Self::Json(path.to_path_buf())),
            Some("safetensors") => Ok(Self::Safetensors(path.to_path_buf())),
            Some("npy") => Ok(Self::Npy(path.to_path_buf())),
            Some("jsonl") => Ok(Self::Jsonl(path.to_path_buf())),
            Some("npz") => Ok(Self::Npz(path.to_path_buf())),
            _ => bail!(
                "--output {}: expected a file ending in .json, .safetensors, .npy, .npz or .jsonl",
                path.display()
            ),
        }
    }
}

pub(crate) fn write_output(output: &Tensor, target: &OutputTarget) -> anyhow::Result<()> {
    let output = output.to_device(&Device::Cpu)?;
    match target {
        OutputTarget::Jsonl(path) => bail!(
            "--output {}: a .jsonl output needs a .jsonl input (one request per line)",
            path.display()
        ),
        OutputTarget::Stdout => {
            let json = Json::new(&output)?;
            let mut stdout = std::io::stdout().lock();
            json.write_line(&mut stdout)?;
            stdout.flush()?;
        }
        OutputTarget::Json(path) => {
            let json = Json::new(&output)?;
            write_atomically(path, |file| json.write_line(file))?;
        }
        OutputTarget::Safetensors(path) => {
            let tensors = HashMap::from([("output".to_string(), output)]);
            write_atomically(path, |file| {
                let bytes = safetensors::serialize(&tensors, None)?;
                Ok(file.write_all(&bytes)?)
            })?;
        }
        OutputTarget::Npy(path) => {
            let bytes = npy_bytes(&output)?;
            write_atomically(path, |file| Ok(file.write_all(&bytes)?))?;
        }
        OutputTarget::Npz(path) => {
            let value = scriptless::script::Value::Tensor(scriptless::ops::Tensor::new(output)?);
            let bytes = scriptless::script::output_npz(&value)?;
            write_atomically(path, |file| Ok(file.write_all(&bytes)?))?;
        }
    }
    Ok(())
}

/// An output ready to be written as one JSON line, `{"output": <nested lists>, "shape": [..]}`:
/// its values on the CPU, checked to be finite before anything is written. F64 outputs keep f64
/// precision; others are written as f32 (exact for F16 and BF16), each number in its shortest
/// round-trip form. The text is written as it is made, never held whole in memory.
pub(crate) struct Json {
    values: Values,
    shape: Vec<usize>,
}

impl Json {
    pub(crate) fn new(output: &Tensor) -> anyhow::Result<Self> {
        let shape = output.dims().to_vec();
        let flat = output.flatten_all()?;
        let values = if output.dtype() == DType::F64 {
            Values::F64(flat.to_vec1::<f64>()?)
        } else {
            Values::F32(flat.to_dtype(DType::F32)?.to_vec1::<f32>()?)
        };
        if let Some((flat, value)) = values.first_non_finite() {
            bail!(
                "{} is {value}, which JSON cannot represent (it has no NaN or infinity); write \
                 the output as safetensors: --output FILE.safetensors",
                element(&shape, flat)
            );
        }
        Ok(Self { values, shape })
    }

    /// Writes the object and a newline.
    pub(crate) fn write_line(&self, out: &mut impl Write) -> anyhow::Result<()> {
        #[derive(serde::Serialize)]
        struct Doc<'a> {
            output: Nested<'a>,
            shape: &'a [usize],
        }
        let doc = Doc {
            output: Nested {
                values: &self.values,
                shape: &self.shape,
                offset: 0,
            },
            shape: &self.shape,
        };
        let mut buffered = std::io::BufWriter::with_capacity(1 << 16, out);
        serde_json::to_writer(&mut buffered, &doc)?;
        buffered.write_all(b"\n")?;
        buffered.flush()?;
        Ok(())
    }
}

enum Values {
    F32(Vec<f32>),
    F64(Vec<f64>),
}

impl Values {
    /// The index and value of the first NaN or infinity, if any.
    fn first_non_finite(&self) -> Option<(usize, f64)> {
        match self {
            Values::F32(v) => v
                .iter()
                .position(|x| !x.is_finite())
                .map(|i| (i, f64::from(v[i]))),
            Values::F64(v) => v.iter().position(|x| !x.is_finite()).map(|i| (i, v[i])),
        }
    }
}

/// `output[i][j]...` for element `flat` of an output of shape `dims`.
fn element(dims: &[usize], flat: usize) -> String {
    let mut index = vec![0; dims.len()];
    let mut rest = flat;
    for (i, &d) in index.iter_mut().zip(dims).rev() {
        *i = rest % d.max(1);
        rest /= d.max(1);
    }
    let path: String = index.iter().map(|i| format!("[{i}]")).collect();
    format!("output{path}")
}

/// A row-major block of `values` viewed as nested lists of `shape`, starting at `offset`.
struct Nested<'a> {
    values: &'a Values,
    shape: &'a [usize],
    offset: usize,
}

impl Serialize for Nested<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Some((&len, rest)) = self.shape.split_first() else {
            return match self.values {
                Values::F32(v) => serializer.serialize_f32(v[self.offset]),
                Values::F64(v) => serializer.serialize_f64(v[self.offset]),
            };
        };
        let stride: usize = rest.iter().product();
        let mut seq = serializer.serialize_seq(Some(len))?;
        for i in 0..len {
            seq.serialize_element(&Nested {
                values: self.values,
                shape: rest,
                offset: self.offset + i * stride,
            })?;
        }
        seq.end()
    }
}

/// Writes through a temporary file in `path`'s directory, then renames it over `path`.
pub(crate) fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let dir = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".scriptless-")
        .tempfile_in(dir)
        .with_context(|| {
            format!(
                "--output {}: cannot create a file in {}",
                path.display(),
                dir.display()
            )
        })?;
    let context = || format!("writing --output {}", path.display());
    write(tmp.as_file_mut()).with_context(context)?;
    set_permissions(tmp.as_file(), path).with_context(context)?;
    tmp.as_file_mut().sync_all().with_context(context)?;
    tmp.persist(path).with_context(context)?;
    Ok(())
}

/// The directory `path` is in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A temporary file is private (0600) on Unix: give the result the permissions of the file it
/// replaces, or 0644, as an ordinary write would give under the usual umask.
#[cfg(unix)]
fn set_permissions(tmp: &std::fs::File, path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let permissions = match std::fs::metadata(path) {
        Ok(existing) => existing.permissions(),
        Err(_) => std::fs::Permissions::from_mode(0o644),
    };
    tmp.set_permissions(permissions)
}

/// Elsewhere a temporary file is an ordinary file already (Windows), or files have no
/// permissions to set (WASI, where setting them fails).
#[cfg(not(unix))]
fn set_permissions(_tmp: &std::fs::File, _path: &Path) -> std::io::Result<()> {
    Ok(())
}
