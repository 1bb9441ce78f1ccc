//! Generates `$OUT_DIR/messages.rs` from the JSON schemas in `schema/`
//! (format: `schema/README.md`). The generator lives in `codegen/`.

use std::path::Path;

#[path = "codegen/emit.rs"]
mod emit;
#[path = "codegen/model.rs"]
mod model;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    println!("cargo:rerun-if-changed={}", dir.display());
    println!("cargo:rerun-if-changed=codegen");
    let mut files: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect(),
        Err(e) => fail(&[format!("cannot read {}: {e}", dir.display())]),
    };
    files.sort();
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut apis = Vec::new();
    for path in &files {
        println!("cargo:rerun-if-changed={}", path.display());
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{file}: cannot read: {e}"));
                continue;
            }
        };
        if let Some(api) = model::load(&file, &text, &mut errors, &mut warnings) {
            apis.push(api);
        }
    }
    apis.sort_by_key(|a| a.key);
    for w in apis.windows(2) {
        if w[0].key == w[1].key {
            errors.push(format!(
                "{}.json and {}.json both use api_key {}",
                w[0].module, w[1].module, w[0].key
            ));
        }
    }
    for w in &warnings {
        println!("cargo:warning=schema: {w}");
    }
    if !errors.is_empty() {
        fail(&errors);
    }
    let code = emit::generate(&apis);
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("messages.rs");
    if let Err(e) = std::fs::write(&out, code) {
        fail(&[format!("cannot write {}: {e}", out.display())]);
    }
}

fn fail(errors: &[String]) -> ! {
    eprintln!("error: invalid message schemas in protocol/schema/:");
    for e in errors {
        eprintln!("  {e}");
        // Also as a warning line so the message shows in cargo's summary.
        println!("cargo:warning=schema error: {e}");
    }
    std::process::exit(1);
}
