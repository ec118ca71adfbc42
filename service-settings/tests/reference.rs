//! The settings reference (`docs/src/settings.md`) against the code: every setting a service reads
//! is on the page, and the page names no setting that no service reads.
//!
//! How the names the services read are found (settings are read by name, as string literals
//! handed to `service_settings::Source` or to small helpers around it):
//! - files: every `.rs` file under `src/` of each crate at the workspace's top level
//!   (auth-service, landing-page, dev, service-*, ...: any crate added later is scanned too);
//!   `bench/` holds tools, not services, and is left out;
//! - each file is lexed as rustc does (proc-macro2: comments, raw strings, char literals and
//!   lifetimes cannot fool it); items under `#[cfg(test)]` are skipped, and so is `env!(...)`
//!   (variables read by the compiler, not by a service);
//! - a setting name is a string literal spelled like one: capitals and digits joined by `_`, with
//!   at least one `_` (every setting but `USERS` is named so; helpers such as
//!   `per_minute(src, "LANDING_LINK_OPENS_PER_MINUTE", 10)` are caught without knowing them), or a
//!   literal of capitals handed first to a reader call: `get(`, `flag(`, `seconds(` (`Source`'s
//!   readers) or `var(` (`std::env::var`);
//! - names a library reads by itself, with no literal in our code, are listed in
//!   [`LIBRARY_READS`] with the call that makes the library read them; the call must still be in
//!   the sources.
//!
//! A name built at run time (`format!("EMAILS_{x}")`) would escape the scan: spell names out.
//! On the page, a setting is a name in backticks in the first cell of a table row.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::{Delimiter, TokenStream, TokenTree};

const PAGE: &str = "docs/src/settings.md";

/// (name, the call in our sources that has a library read it).
const LIBRARY_READS: &[(&str, &str)] = &[("RUST_LOG", "try_from_default_env")];

/// Calls whose first argument is a setting's name, whatever its spelling.
const READERS: &[&str] = &["get", "flag", "seconds", "var"];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Every `.rs` file under `<crate>/src/` of the top-level crates, sorted.
fn source_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let dir = entry.unwrap().path();
        if dir.join("Cargo.toml").is_file() && dir.join("src").is_dir() {
            collect_rs(&dir.join("src"), &mut files);
        }
    }
    files.sort();
    files
}

fn collect_rs(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rs(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// The text of a plain string literal (`"NAME"`), if the literal is one.
fn string_literal(tree: &TokenTree) -> Option<String> {
    let TokenTree::Literal(lit) = tree else {
        return None;
    };
    let text = lit.to_string();
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    Some(inner.to_owned())
}

fn is_capitals(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_uppercase())
        && text
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        && !text.ends_with('_')
        && !text.contains("__")
}

fn looks_like_setting(text: &str) -> bool {
    is_capitals(text) && text.contains('_')
}

/// Whether `trees[i]` is `#` followed by `[cfg(test)]`.
fn is_cfg_test(trees: &[TokenTree], i: usize) -> bool {
    let (Some(TokenTree::Punct(hash)), Some(TokenTree::Group(attr))) =
        (trees.get(i), trees.get(i + 1))
    else {
        return false;
    };
    hash.as_char() == '#'
        && attr.delimiter() == Delimiter::Bracket
        && attr.stream().to_string().replace(' ', "") == "cfg(test)"
}

/// Index just past the item starting at `i`: up to its `{ ... }` body or its `;`.
fn end_of_item(trees: &[TokenTree], mut i: usize) -> usize {
    while let Some(tree) = trees.get(i) {
        i += 1;
        match tree {
            TokenTree::Group(g) if g.delimiter() == Delimiter::Brace => return i,
            TokenTree::Punct(p) if p.as_char() == ';' => return i,
            _ => {}
        }
    }
    i
}

/// The setting names `stream` reads (rules: the module's documentation).
fn names_read(stream: TokenStream, names: &mut BTreeSet<String>) {
    let trees: Vec<TokenTree> = stream.into_iter().collect();
    let mut i = 0;
    while i < trees.len() {
        if is_cfg_test(&trees, i) {
            i = end_of_item(&trees, i + 2);
            continue;
        }
        match &trees[i] {
            // `env!(...)`: read by the compiler.
            TokenTree::Ident(id) if id == "env" => {
                let bang =
                    matches!(trees.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == '!');
                if bang {
                    i += 3;
                    continue;
                }
            }
            TokenTree::Ident(id) if READERS.iter().any(|r| id == r) => {
                if let Some(TokenTree::Group(args)) = trees.get(i + 1) {
                    if args.delimiter() == Delimiter::Parenthesis {
                        let first = args.stream().into_iter().next();
                        if let Some(text) = first.as_ref().and_then(string_literal) {
                            if is_capitals(&text) {
                                names.insert(text);
                            }
                        }
                    }
                }
            }
            TokenTree::Group(g) => names_read(g.stream(), names),
            tree => {
                if let Some(text) = string_literal(tree).filter(|t| looks_like_setting(t)) {
                    names.insert(text);
                }
            }
        }
        i += 1;
    }
}

/// Every name the services read, with the files that read it (for the failure message).
fn names_in_code(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut all_sources = String::new();
    for file in source_files(root) {
        let text = std::fs::read_to_string(&file).unwrap();
        let stream = TokenStream::from_str(&text)
            .unwrap_or_else(|e| panic!("{} does not lex: {e:?}", file.display()));
        let mut names = BTreeSet::new();
        names_read(stream, &mut names);
        let shown = file.strip_prefix(root).unwrap().display().to_string();
        for name in names {
            found.entry(name).or_default().insert(shown.clone());
        }
        all_sources.push_str(&text);
    }
    for (name, call) in LIBRARY_READS {
        assert!(
            all_sources.contains(call),
            "{name} is listed as read by a library through `{call}`, which no source calls any more: \
             update LIBRARY_READS in {}",
            file!()
        );
        found
            .entry((*name).to_owned())
            .or_default()
            .insert(format!("a library, through {call}"));
    }
    found
}

/// The names in backticks in the first cell of the page's table rows.
fn names_on_page(page: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in page.lines() {
        let Some(row) = line.trim().strip_prefix('|') else {
            continue;
        };
        let first_cell = row.split('|').next().unwrap_or("");
        for (n, piece) in first_cell.split('`').enumerate() {
            if n % 2 == 1 && is_capitals(piece) {
                names.insert(piece.to_owned());
            }
        }
    }
    names
}

#[test]
fn the_settings_page_lists_exactly_the_settings_the_services_read() {
    let root = workspace_root();
    let in_code = names_in_code(&root);
    let page = std::fs::read_to_string(root.join(PAGE)).unwrap();
    let on_page = names_on_page(&page);

    // The scan must see the settings we know of, or it has stopped working.
    for known in [
        "SECRET_KEY",
        "USERS",
        "AUTH_SERVICE_URL",
        "SECRETS_DIR",
        "RUST_LOG",
    ] {
        assert!(
            in_code.contains_key(known),
            "the scan no longer finds {known}"
        );
    }

    let missing: Vec<String> = in_code
        .iter()
        .filter(|(name, _)| !on_page.contains(*name))
        .map(|(name, files)| {
            format!(
                "{name} (read in {})",
                files.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    let unread: Vec<&String> = on_page
        .iter()
        .filter(|name| !in_code.contains_key(*name))
        .collect();
    assert!(
        missing.is_empty() && unread.is_empty(),
        "{PAGE} and the code disagree.\n  read by a service but not on the page: {missing:?}\n  \
         on the page but read by no service: {unread:?}"
    );
}
