//! The vendor seam holds: generic code (`app`, `server`, `store`, the CLI) never names a
//! concrete vendor. What differs between vendors is data their adapters declare (credential
//! fields, command lanes, whether a code carries its zone, default rates); a new vendor is its
//! own files and one registration line. The few genuine exceptions are listed with why.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

/// `(file, how many times it may name a vendor, why)`.
const EXCEPTIONS: &[(&str, usize, &str)] = &[
    (
        "crates/server/src/routes/bff.rs",
        4,
        "the credentials route of TTLock's own app format: a TTLock surface by definition",
    ),
    (
        "crates/lockbridge/src/serve.rs",
        2,
        "unit tests of the VENDOR=URL and VENDOR=RATE flag parsers",
    ),
    (
        "crates/server/src/query.rs",
        1,
        "a unit test of the lock filter's query parsing",
    ),
];

/// How generic code could name a vendor: its name's constant in `lockbridge_vendors`
/// (`TTLOCK`), or its adapter's module — for every vendor the build registers, so that a new
/// vendor is watched without an edit here.
fn names() -> Vec<String> {
    lockbridge_vendors::register();
    lockbridge_core::model::Provider::known()
        .into_iter()
        .flat_map(|p| {
            let id = p.as_str();
            [id.to_uppercase(), format!("lockbridge_vendors::{id}")]
        })
        .collect()
}

/// How many times `word` appears in `text` as a word of its own.
fn count(text: &str, word: &str) -> usize {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word)
        .filter(|(at, _)| {
            let before = text[..*at].chars().next_back();
            let after = text[at + word.len()..].chars().next();
            !before.is_some_and(is_word) && !after.is_some_and(is_word)
        })
        .count()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn generic_code_names_no_concrete_vendor() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for krate in ["app", "server", "store", "lockbridge"] {
        rust_files(&root.join("crates").join(krate).join("src"), &mut files);
    }
    assert!(files.len() > 50, "the sources were not found");
    let names = names();
    assert!(
        names.len() >= 12,
        "every built-in vendor is watched: {names:?}"
    );
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let rel = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .to_string_lossy()
            .replace('\\', "/")
            .replace("../", "");
        let hits = names.iter().map(|n| count(&text, n)).sum::<usize>();
        if hits == 0 {
            continue;
        }
        match EXCEPTIONS.iter().find(|(f, _, _)| rel.ends_with(f)) {
            Some((_, allowed, _)) if hits <= *allowed => {}
            _ => found.push(format!("{rel}: {hits}")),
        }
    }
    assert!(
        found.is_empty(),
        "generic code names a concrete vendor (declare the difference in the vendor's adapter \
         instead, or list a genuine exception here): {found:?}"
    );
}
