//! The library's layers only look down: a module may use its own layer and the layers
//! below it, never one above, and no modules depend on each other in a circle, at any
//! level. Each source file's `crate::`, `super::` and `self::` paths are read and checked
//! against the table below, which docs/style.md draws.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers, lowest first; a module of one layer may use the modules of its own layer and of
/// every layer before it. The foundations are the folder `src/base/`: a file there is on
/// the lowest floor whatever its name.
const LAYERS: &[&[&str]] = &[
    &["base"],
    &["gitio"],
    &["prompt", "varsfile"],
    &["store"],
    &["policy", "config", "project"],
    &["source"],
    &["release"],
    &["eval", "rollout", "experiment"],
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
    let text = "use crate::{\n    store::{State, Track},\n    prompt,\n};\nlet x = crate::base::clock::now(); // crate::serve\n";
    let found = crate_paths(text);
    let expected = [(2, "store"), (3, "prompt"), (5, "base")].map(|(l, n)| (l, n.to_owned()));
    assert_eq!(found, expected);
}

/// The module path of a library file: `src/eval/suite/mod.rs` → `eval::suite`,
/// `src/eval/runner.rs` → `eval::runner`.
fn module_path(file: &Path, src: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut path: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if path.last().is_some_and(|last| last == "mod") {
        path.pop();
    }
    path
}

/// Every path a file's code names, resolved to an absolute module path: `crate::a::b`,
/// `super::b` (from the file's module), `self::b`, and each member of a brace group.
/// Tests (after `#[cfg(test)]`) and comments are left out: they are not the design.
fn named_paths(text: &str, own: &[String]) -> Vec<Vec<String>> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let code: String = code
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = Vec::new();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", own[..own.len().saturating_sub(1)].to_vec()),
        ("self::", own.to_vec()),
    ] {
        let mut from = 0;
        while let Some(at) = code[from..].find(prefix) {
            let start = from + at + prefix.len();
            let preceded = code[..from + at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
            from = start;
            if preceded {
                continue;
            }
            for member in path_members(&code[start..]) {
                let mut path = base.clone();
                path.extend(member);
                found.push(path);
            }
        }
    }
    found
}

/// The paths after a `crate::`/`super::`: `a::b::C` gives `[a, b, C]`; `{a, b::c}` gives
/// `[a]` and `[b, c]`.
fn path_members(after: &str) -> Vec<Vec<String>> {
    if let Some(group) = after.strip_prefix('{') {
        let end = matching_brace(group);
        return split_top_level(&group[..end])
            .into_iter()
            .flat_map(|member| path_members(member.trim_start()))
            .collect();
    }
    let mut path = Vec::new();
    let mut rest = after;
    loop {
        let name = leading_identifier(rest);
        if name.is_empty() {
            if let Some(group) = rest.strip_prefix('{') {
                let end = matching_brace(group);
                return split_top_level(&group[..end])
                    .into_iter()
                    .flat_map(|member| path_members(member.trim_start()))
                    .map(|tail| path.iter().cloned().chain(tail).collect())
                    .collect();
            }
            break;
        }
        rest = &rest[name.len()..];
        path.push(name);
        match rest.strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    vec![path]
}

/// The dependencies between sibling modules (two files or folders of one folder, or two
/// top-level modules): `(folder, from, to)`.
fn sibling_edges() -> BTreeSet<(String, String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_path(f, &src), f.clone()))
        .filter(|(path, _)| !matches!(path[0].as_str(), "main" | "lib"))
        .collect();
    let mut edges = BTreeSet::new();
    for (own, file) in &modules {
        let text = std::fs::read_to_string(file).unwrap();
        for named in named_paths(&text, own) {
            // The longest prefix of the path that is a module of ours.
            let Some(target) = (1..=named.len())
                .rev()
                .map(|n| &named[..n])
                .find(|prefix| modules.contains_key(*prefix))
            else {
                continue;
            };
            let common = own.iter().zip(target).take_while(|(a, b)| a == b).count();
            if common < own.len() && common < target.len() {
                edges.insert((
                    own[..common].join("::"),
                    own[common].clone(),
                    target[common].clone(),
                ));
            }
        }
    }
    edges
}

/// The circles among siblings: each strongly connected group of more than one module.
fn circles(edges: &BTreeSet<(String, String, String)>) -> Vec<String> {
    let mut by_folder: BTreeMap<&str, BTreeMap<&str, BTreeSet<&str>>> = BTreeMap::new();
    for (folder, from, to) in edges {
        by_folder
            .entry(folder)
            .or_default()
            .entry(from)
            .or_default()
            .insert(to);
    }
    let mut found = Vec::new();
    for (folder, graph) in &by_folder {
        let reach = |start: &str| {
            let mut seen = BTreeSet::new();
            let mut todo = vec![start];
            while let Some(at) = todo.pop() {
                for next in graph.get(at).into_iter().flatten() {
                    if seen.insert(*next) {
                        todo.push(next);
                    }
                }
            }
            seen
        };
        let mut placed = BTreeSet::new();
        for node in graph.keys() {
            if placed.contains(node) {
                continue;
            }
            let from_node = reach(node);
            let group: Vec<&str> = from_node
                .iter()
                .copied()
                .filter(|other| reach(other).contains(node))
                .collect();
            if group.len() > 1 {
                placed.extend(group.iter().copied());
                let folder = if folder.is_empty() { "src" } else { folder };
                found.push(format!("{folder}: {}", group.join(" ↔ ")));
            }
        }
    }
    found
}

#[test]
fn no_modules_depend_on_each_other_in_a_circle() {
    let edges = sibling_edges();
    if std::env::var_os("LAYERS_EDGES").is_some() {
        for (folder, from, to) in &edges {
            eprintln!("{folder}: {from} -> {to}");
        }
    }
    let found = circles(&edges);
    assert!(
        found.is_empty(),
        "modules that depend on each other in a circle (move what both sides share into a lower file; LAYERS_EDGES=1 lists every dependency):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_circle_finder_sees_super_paths_groups_and_folders() {
    let own = vec!["eval".to_owned(), "runner".to_owned()];
    let text = "use super::{executor::Run, collect};\nuse crate::eval::suite::Suite;\nfn f() { self::g(); }\n#[cfg(test)]\nuse super::gate;\n";
    let paths = named_paths(text, &own);
    let want: Vec<Vec<String>> = [
        vec!["eval", "suite", "Suite"],
        vec!["eval", "executor", "Run"],
        vec!["eval", "collect"],
        vec!["eval", "runner", "g"],
    ]
    .iter()
    .map(|p| p.iter().map(|s| (*s).to_owned()).collect())
    .collect();
    assert_eq!(paths, want);
    let edges: BTreeSet<(String, String, String)> = [
        ("eval", "a", "b"),
        ("eval", "b", "c"),
        ("eval", "c", "a"),
        ("eval", "c", "d"),
    ]
    .iter()
    .map(|(f, a, b)| ((*f).to_owned(), (*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(circles(&edges), ["eval: a ↔ b ↔ c"]);
}
