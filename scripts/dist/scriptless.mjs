// Runs scriptless.wasm (the CLI built for wasm32-wasip1) under Node's WASI (node 20 or later):
//
//   node scriptless.mjs run --weights weights/sequence.safetensors --input examples/sequence.json
//
// A WASI program sees only the directories it is given. This launcher gives it the current
// directory: paths relative to it work (subfolders included), absolute paths and `..` do not.
// Arguments, the environment (SCRIPTLESS_* and RAYON_NUM_THREADS included), stdin, stdout,
// stderr and the exit status pass through. Set SCRIPTLESS_WASM to run another .wasm file.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import process from "node:process";

// Node calls its WASI support experimental, on stderr, on every start: keep stderr for the
// program's own messages.
const emitWarning = process.emitWarning;
process.emitWarning = (warning, ...rest) => {
  const type = typeof rest[0] === "string" ? rest[0] : rest[0]?.type;
  if (type !== "ExperimentalWarning") emitWarning.call(process, warning, ...rest);
};
const { WASI } = await import("node:wasi");

const here = dirname(fileURLToPath(import.meta.url));
const wasm = process.env.SCRIPTLESS_WASM ?? join(here, "scriptless.wasm");
const wasi = new WASI({
  version: "preview1",
  args: ["scriptless", ...process.argv.slice(2)],
  env: process.env,
  preopens: { ".": process.cwd() },
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(wasm));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
