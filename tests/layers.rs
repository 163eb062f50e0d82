//! The library's layers only look down: a module may use its own layer and the layers
//! below it, never one above. Each source file's `crate::` paths are read and checked
//! against the table below, which docs/design.md draws.

use std::path::{Path, PathBuf};

/// Layers, lowest first; a module of one layer may use the modules of its own layer and of
/// every layer before it.
const LAYERS: &[&[&str]] = &[
    &[
        "clock", "duration", "copytext", "random", "shortid", "location", "tomlfile", "fsutil",
        "gitopts", "http", "junit", "markup", "parallel", "percent", "retry", "suggest", "weburl",
    ],
    &["prompt", "varsfile"],
    &["store"],
    &["policy", "config", "project"],
    &["source"],
    &["release"],
    &["eval", "rollout"],
    &["diff", "check", "scaffold"],
    &["ci", "served"],
    &["serve", "client"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The top-level module a library file belongs to (`src/store/state/file.rs` → `store`).
fn module_of(file: &Path, src: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap();
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_owned()
}

/// Every top-level module a file names through `crate::`, with its line number:
/// `crate::store::State`, and each member of `crate::{store::State, prompt}`. Comments are
/// skipped.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let code: String = text
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let line_at = |at: usize| code[..at].matches('\n').count() + 1;
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(found_at) = code[from..].find("crate::") {
        let start = from + found_at + "crate::".len();
        let after = &code[start..];
        if let Some(group) = after.strip_prefix('{') {
            let end = matching_brace(group);
            let mut offset = start + 1;
            for member in split_top_level(&group[..end]) {
                let name = leading_identifier(member);
                if !name.is_empty() {
                    let indent = member.len() - member.trim_start().len();
                    found.push((line_at(offset + indent), name));
                }
                offset += member.len() + 1;
            }
        } else {
            let name = leading_identifier(after);
            if !name.is_empty() {
                found.push((line_at(start), name));
            }
        }
        from = start;
    }
    found
}

fn leading_identifier(text: &str) -> String {
    text.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The index of the `}` closing a group whose `{` was just before `text`.
fn matching_brace(text: &str) -> usize {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    text.len()
}

/// The members of a brace group, split at the commas that are not inside a nested group.
fn split_top_level(group: &str) -> Vec<&str> {
    let (mut members, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                members.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    members.push(&group[start..]);
    members
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

fn library_files() -> Vec<(PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let module = module_of(&file, &src);
            (file, module)
        })
        .filter(|(_, module)| !matches!(module.as_str(), "cli" | "main" | "lib"))
        .collect()
}

#[test]
fn every_library_module_has_a_layer() {
    let missing: Vec<String> = library_files()
        .into_iter()
        .filter(|(_, module)| layer_of(module).is_none())
        .map(|(file, module)| format!("{module} ({})", file.display()))
        .collect();
    assert!(
        missing.is_empty(),
        "modules missing from LAYERS in tests/layers.rs: {missing:?}"
    );
}

#[test]
fn no_module_uses_a_layer_above_its_own() {
    let mut upward = Vec::new();
    for (file, module) in library_files() {
        let Some(own) = layer_of(&module) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, used) in crate_paths(&text) {
            if let Some(theirs) = layer_of(&used)
                && theirs > own
            {
                upward.push(format!(
                    "{}:{line}: `{module}` (layer {own}) uses `{used}` (layer {theirs})",
                    file.display()
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that run up a layer:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_checker_sees_paths_inside_braces_and_expressions_but_not_comments() {
    let text = "use crate::{\n    store::{State, Track},\n    prompt,\n};\nlet x = crate::clock::now(); // crate::serve\n";
    let found = crate_paths(text);
    let expected = [(2, "store"), (3, "prompt"), (5, "clock")].map(|(l, n)| (l, n.to_owned()));
    assert_eq!(found, expected);
}
