//! Embeds the built-in lexicons (`lexicons/**/*.json`) into the crate.
//!
//! Writes `$OUT_DIR/builtin_lexicons.rs`: a static list of `(relative path, contents)` pairs,
//! each contents an `include_str!` so that Cargo rebuilds when a document changes. A new or
//! removed file is noticed through `rerun-if-changed` on every directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs, io};

fn main() -> io::Result<()> {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir.join("lexicons");
    let mut files = Vec::new();
    collect(&root, &mut files)?;
    files.sort();

    let mut out =
        String::from("/// Built-in lexicon documents: (path under `lexicons/`, JSON text).\n");
    out.push_str("pub(crate) static BUILTIN_LEXICONS: &[(&str, &str)] = &[\n");
    for file in &files {
        let relative = file
            .strip_prefix(&root)
            .map_err(io::Error::other)?
            .to_string_lossy()
            .replace('\\', "/");
        let absolute = file.to_string_lossy();
        let _ = writeln!(out, "    ({relative:?}, include_str!({absolute:?})),");
    }
    out.push_str("];\n");

    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    fs::write(out_dir.join("builtin_lexicons.rs"), out)
}

/// Collects every `.json` file under `dir`, registering each directory for rebuilds.
fn collect(dir: &Path, files: &mut Vec<PathBuf>) -> io::Result<()> {
    println!("cargo:rerun-if-changed={}", dir.display());
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "json") {
            files.push(path);
        }
    }
    Ok(())
}
