//! Running your own TorchScript (`.pt`) or `torch.export` (`.pt2`) model from Rust:
//!
//! ```sh
//! cargo run --release --example own_model -- [MODEL.pt|MODEL.pt2] [REQUEST.json]
//! ```
//!
//! It loads the model (default `examples/dict_output.pt`), prints `forward`'s signature, reads
//! a JSON request keyed by `forward`'s argument names (default `examples/dict_output.json`),
//! calls `forward`, and prints each output tensor by name with its dtype and shape, then the
//! whole output as JSON.

use anyhow::Context;
use scriptless::script::{args_from_json, output_json, output_tensors, Program};

fn main() -> anyhow::Result<()> {
    let mut paths = std::env::args().skip(1);
    let model_path = paths
        .next()
        .unwrap_or_else(|| "examples/dict_output.pt".into());
    let request_path = paths
        .next()
        .unwrap_or_else(|| "examples/dict_output.json".into());

    // A `.pt` runs by the code inside it, a `.pt2` by its graph; which one is read from the
    // file's content. The program is Send + Sync: load it once, call it from any thread.
    let model = Program::load(&model_path)?;

    // The signature, as every door describes it (docs/own-models.md#the-signature).
    println!("signature:");
    println!(
        "{}",
        serde_json::to_string_pretty(&model.signature().to_json())?
    );

    // The request's arguments, typed by the signature as every door types them: nested lists
    // of numbers where a `Tensor` is declared become a tensor as `torch.tensor` makes one.
    let request = std::fs::read_to_string(&request_path)
        .with_context(|| format!("reading the request {request_path}"))?;
    let args = args_from_json(model.signature(), &request, &model.options().limits)?;

    let output = model.forward(args)?;

    // The output's tensors by name: `output` for a lone tensor, `output.0` for a tuple's
    // items, `output.key` for a dict's entries.
    println!("outputs:");
    for (name, tensor) in output_tensors(&output)? {
        println!("  {name}: {} {:?}", tensor.dtype().name(), tensor.dims());
    }
    println!("{}", output_json(&output)?);
    Ok(())
}
