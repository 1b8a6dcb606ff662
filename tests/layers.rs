//! The layering of `src/` (README "Layout", `src/lib.rs`): each top-level
//! module may use only the modules below it. A `crate::<module>` path that
//! reaches up fails this test, naming the file and line. Test code at the
//! end of a file (`#[cfg(test)] mod tests`) and files named `tests.rs` may
//! reach anywhere.

use std::fs;
use std::path::{Path, PathBuf};

/// Top to bottom: the order a request travels, then what everything
/// stands on.
const LAYERS: &[&str] = &[
    "server",
    "http",
    "auth",
    "config",
    "lifecycle",
    "heartbeat",
    "transport",
    "presence",
    "hooks_http",
    "dispatch",
    "commands",
    "service",
    "delivery",
    "notify",
    "cluster",
    "events",
    "state",
    "redis",
    "options",
    "schema",
    "metrics",
    "error",
    "json",
    "log_budget",
];

fn rank(module: &str) -> Option<usize> {
    LAYERS.iter().position(|m| *m == module)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The non-test code of a file, without comments.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..end]
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
}

/// The top-level modules a line names as `crate::<module>` or
/// `crate::{<module>, ...}`. `crate::<name>!` is a macro exported at the
/// crate root (as `$crate::state_conformance!` calls itself), no module.
fn named_modules(line: &str) -> Vec<&str> {
    let first_segment = |path: &'_ str| -> usize {
        path.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(path.len())
    };
    let mut modules = Vec::new();
    for (at, _) in line.match_indices("crate::") {
        let rest = &line[at + "crate::".len()..];
        match rest.strip_prefix('{') {
            Some(group) => {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                for path in group.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    modules.push(&path[..first_segment(path)]);
                }
            }
            None => {
                let end = first_segment(rest);
                if !rest[end..].starts_with('!') {
                    modules.push(&rest[..end]);
                }
            }
        }
    }
    modules
}

#[test]
fn no_module_uses_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    let mut unknown = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_str()
            .unwrap()
            .trim_end_matches(".rs");
        if matches!(top, "lib" | "main") || file.file_name().unwrap() == "tests.rs" {
            continue;
        }
        let Some(own) = rank(top) else {
            unknown.push(top.to_string());
            continue;
        };
        let text = fs::read_to_string(file).unwrap();
        for (number, line) in code_lines(&text) {
            for module in named_modules(line) {
                match rank(module) {
                    Some(used) if used < own => violations.push(format!(
                        "{}:{}: {top} uses {module}, a layer above it",
                        relative.display(),
                        number + 1
                    )),
                    Some(_) => {}
                    None => unknown.push(module.to_string()),
                }
            }
        }
    }
    unknown.sort();
    unknown.dedup();
    assert!(
        unknown.is_empty(),
        "modules missing from LAYERS (add them where they belong): {unknown:?}"
    );
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
