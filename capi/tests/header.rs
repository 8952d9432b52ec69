//! `include/scriptless.h` is what cbindgen generates from the crate today: a stale header fails
//! here. `SCRIPTLESS_BLESS=1` rewrites it instead.

use std::path::Path;

#[test]
fn the_committed_header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("the header is UTF-8");
    let path = dir.join("include/scriptless.h");
    if std::env::var_os("SCRIPTLESS_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/scriptless.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/scriptless.h is stale: regenerate it with \
         `SCRIPTLESS_BLESS=1 cargo test --release -p scriptless-capi --test header`"
    );
}
