//! The layout docs/architecture.md describes, kept: modules import downwards only, so no file of
//! `src/` reaches back to itself through others (a change to one API then never drags in the
//! whole service). Imports are read from the source text: `crate::` and `super::` paths, and
//! `use` groups, outside `#[cfg(test)]` modules.

use std::collections::{BTreeMap, BTreeSet};

/// Every module of the library (by path, `a::b`) with its source.
fn modules() -> BTreeMap<String, String> {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src"));
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let rel = path.strip_prefix(root).unwrap().with_extension("");
            let name = rel.to_string_lossy().replace('/', "::");
            let name = name.strip_suffix("::mod").unwrap_or(&name).to_string();
            if name != "lib" && name != "main" && path.extension().is_some_and(|e| e == "rs") {
                out.insert(name, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

/// `a::{b, c::{d, e}}` → `a::b`, `a::c::d`, `a::c::e`.
fn expand(prefix: &str, group: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    let bytes: Vec<char> = group.chars().collect();
    for i in 0..=bytes.len() {
        let c = bytes.get(i).copied().unwrap_or(',');
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                let item: String = bytes[start..i]
                    .iter()
                    .filter(|c| !c.is_whitespace())
                    .collect();
                start = i + 1;
                if item.is_empty() {
                    continue;
                }
                match item.split_once("::{") {
                    Some((head, rest)) => out.extend(expand(
                        &format!("{prefix}{head}::"),
                        rest.strip_suffix('}').unwrap_or(rest),
                    )),
                    None => out.push(format!("{prefix}{item}")),
                }
            }
            _ => {}
        }
    }
    out
}

/// The paths a module's non-test code names, from the crate root.
fn imports(module: &str, source: &str) -> Vec<String> {
    let code = source.split("#[cfg(test)]").next().unwrap_or(source);
    let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
    let mut paths = Vec::new();
    for (marker, base) in [
        ("crate::", String::new()),
        (
            "super::",
            if parent.is_empty() {
                String::new()
            } else {
                format!("{parent}::")
            },
        ),
    ] {
        let mut rest = code;
        while let Some(at) = rest.find(marker) {
            let after = &rest[at + marker.len()..];
            if let Some(group) = after.strip_prefix('{') {
                let end = group.find("};").unwrap_or(group.len());
                paths.extend(expand(&base, &group[..end]));
            } else {
                let end = after
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(after.len());
                paths.push(format!("{base}{}", &after[..end]));
            }
            rest = after;
        }
    }
    paths
}

/// The longest module that `path` starts with.
fn resolve<'a>(path: &str, modules: &'a BTreeMap<String, String>) -> Option<&'a str> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len()).rev().find_map(|n| {
        modules
            .get_key_value(&parts[..n].join("::"))
            .map(|(k, _)| k.as_str())
    })
}

#[test]
fn no_module_reaches_back_to_itself() {
    let modules = modules();
    let edges: BTreeMap<&str, BTreeSet<&str>> = modules
        .iter()
        .map(|(m, src)| {
            (
                m.as_str(),
                imports(m, src)
                    .iter()
                    .filter_map(|p| resolve(p, &modules))
                    .filter(|t| t != m)
                    .collect(),
            )
        })
        .collect();
    assert!(
        edges
            .get("voting::ballots_api")
            .is_some_and(|e| e.contains("state") && e.contains("voting::service")),
        "the reader sees imports: {edges:?}"
    );
    // Every module from which its own module can be reached again is on a cycle.
    let mut cycles = Vec::new();
    for start in edges.keys() {
        let (mut seen, mut stack) = (BTreeSet::new(), vec![*start]);
        while let Some(m) = stack.pop() {
            for next in &edges[m] {
                if next == start {
                    cycles.push(format!("{start} (through {m})"));
                }
                if seen.insert(*next) {
                    stack.push(next);
                }
            }
        }
    }
    assert!(cycles.is_empty(), "modules on an import cycle: {cycles:#?}");
}

#[test]
fn the_reader_expands_use_groups() {
    let got = expand("", "a::b, c::{d, e::{f}}, g");
    assert_eq!(got, ["a::b", "c::d", "c::e::f", "g"]);
}

/// The image is built from what the Containerfile copies: the manifest, `build.rs` (which
/// embeds the migrations), the sources and every folder a source embeds a file from.
#[test]
fn the_container_build_copies_everything_the_binary_is_built_from() {
    let root = env!("CARGO_MANIFEST_DIR");
    let containerfile = std::fs::read_to_string(format!("{root}/Containerfile")).unwrap();
    let copied: BTreeSet<&str> = containerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
        .flat_map(|l| {
            let words: Vec<&str> = l.split_whitespace().skip(1).collect();
            words[..words.len() - 1].to_vec()
        })
        .collect();
    let mut needed: BTreeSet<String> =
        ["Cargo.toml", "Cargo.lock", "build.rs", "src", "migrations"]
            .map(String::from)
            .into();
    for source in modules().values() {
        for (at, _) in source.match_indices("include_str!(\"") {
            let path = &source[at + "include_str!(\"".len()..];
            let path = &path[..path.find('"').unwrap()];
            let top = path.split('/').find(|p| *p != "..").unwrap();
            needed.insert(top.to_string());
        }
    }
    for n in &needed {
        assert!(
            copied.contains(n.as_str()),
            "the Containerfile does not copy {n}"
        );
    }
}
