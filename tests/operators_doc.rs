//! The guide's list of supported operators (`docs/operators.md`) is the registry's, with the
//! `.pt2` section's Core ATen table (`tests/fixtures/core_aten.txt`): generated from them (`SCRIPTLESS_BLESS=1 cargo test --release --test operators_doc` rewrites it), and
//! this test fails when the two differ, so the page cannot go stale.

use std::path::Path;

#[test]
fn the_operator_page_is_the_registry() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/operators.md");
    let core = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/core_aten.txt"),
    )
    .unwrap();
    let core: Vec<&str> = core
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    let generated =
        scriptless::ops::Registry::get().markdown() + &scriptless::script::export_markdown(&core);
    if std::env::var_os("SCRIPTLESS_BLESS").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let page = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        page == generated,
        "docs/operators.md differs from the registry: run \
         `SCRIPTLESS_BLESS=1 cargo test --release --test operators_doc` and commit it"
    );
}
