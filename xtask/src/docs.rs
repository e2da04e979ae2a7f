//! Checks that hold the docs to the repository (run by `cargo test -p
//! xtask`, so by `cargo xtask test`): every relative link of a Markdown file
//! leads to a file and, with `#anchor`, to a heading there; every
//! "PROTOCOL.md §N" in code or docs names a numbered section of
//! docs/PROTOCOL.md; and nothing cites the SPEC, which a clone does not
//! have.

use std::path::{Path, PathBuf};

/// Files of the repository with one of `extensions`, outside build output
/// and installed packages.
pub fn files(root: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && !["target", "node_modules", "pkg"].contains(&&*name) {
                    dirs.push(path);
                }
            } else if extensions
                .iter()
                .any(|ext| name.ends_with(&format!(".{ext}")))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// GitHub's anchor of a heading: lowercase, punctuation dropped, spaces
/// as hyphens.
pub fn anchor(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .flat_map(char::to_lowercase)
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The headings of a Markdown text (outside code blocks).
pub fn headings(markdown: &str) -> Vec<String> {
    let mut in_code = false;
    let mut found = Vec::new();
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            found.push(line.trim_start_matches('#').trim().to_string());
        }
    }
    found
}

/// The section numbers of docs/PROTOCOL.md's headings ("6.1" of "6.1 What
/// a node stores…", "7" of "7. The node's HTTP API").
pub fn section_numbers(protocol: &str) -> Vec<String> {
    headings(protocol)
        .iter()
        .filter_map(|h| {
            let number = h.split_whitespace().next()?.trim_end_matches('.');
            number
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
                .then(|| number.to_string())
        })
        .collect()
}

/// The targets of the links of a Markdown text: inline (`[text](target)`)
/// and reference definitions (`[label]: target`).
pub fn link_targets(markdown: &str) -> Vec<String> {
    let mut in_code = false;
    let mut found = Vec::new();
    for line in markdown.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        if let Some((_, target)) = reference_definition(line) {
            found.push(target.to_string());
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            if let Some(end) = rest.find(')') {
                found.push(rest[..end].to_string());
                rest = &rest[end..];
            }
        }
    }
    found
}

/// `[label]: target` → (label, target).
fn reference_definition(line: &str) -> Option<(&str, &str)> {
    let (label, target) = line.strip_prefix('[')?.split_once("]: ")?;
    Some((label, target.split_whitespace().next()?))
}

/// The section references `[§N]` of a Markdown text that no `[§N]: …`
/// defines (they would show as plain text).
pub fn undefined_sections(markdown: &str) -> Vec<String> {
    let defined: Vec<&str> = markdown
        .lines()
        .filter_map(reference_definition)
        .map(|(label, _)| label)
        .collect();
    let mut missing = Vec::new();
    for (at, _) in markdown.match_indices("[§") {
        let Some(end) = markdown[at..].find(']') else {
            continue;
        };
        let label = &markdown[at + 1..at + end];
        let after = markdown[at + end + 1..].chars().next();
        if !matches!(after, Some('(' | ':')) && !defined.contains(&label) {
            missing.push(label.to_string());
        }
    }
    missing
}

/// What is wrong with the links and references of the repository at `root`.
pub fn problems(root: &Path) -> Vec<String> {
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_default();
    let mut problems = Vec::new();
    let sections = section_numbers(&read(&root.join("docs/PROTOCOL.md")));
    if sections.is_empty() {
        problems.push("docs/PROTOCOL.md has no numbered sections".into());
    }
    for file in files(root, &["rs", "md", "js", "mjs", "html", "toml"]) {
        let text = read(&file);
        let shown = file
            .strip_prefix(root)
            .unwrap_or(&file)
            .display()
            .to_string();
        if shown == "xtask/src/docs.rs" {
            continue; // its own examples
        }
        if text.contains("SPEC §") {
            problems.push(format!(
                "{shown}: cites the SPEC, which a clone does not have"
            ));
        }
        for (at, _) in text.match_indices("PROTOCOL.md §") {
            let number: String = text[at + "PROTOCOL.md §".len()..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let number = number.trim_end_matches('.');
            if !sections.iter().any(|s| s == number) {
                problems.push(format!("{shown}: PROTOCOL.md §{number} is no section"));
            }
        }
        if !shown.ends_with(".md") {
            continue;
        }
        for label in undefined_sections(&text) {
            problems.push(format!("{shown}: [{label}] has no link definition"));
        }
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = target.split_once('#').unwrap_or((&target, ""));
            let linked = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap_or(root).join(path)
            };
            if !linked.exists() {
                problems.push(format!("{shown}: link to {target}: no such file"));
            } else if !fragment.is_empty()
                && linked.extension().is_some_and(|e| e == "md")
                && !headings(&read(&linked))
                    .iter()
                    .any(|h| anchor(h) == fragment)
            {
                problems.push(format!("{shown}: link to {target}: no such heading"));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_githubs() {
        assert_eq!(anchor("7. The node's HTTP API"), "7-the-nodes-http-api");
        assert_eq!(
            anchor("6.1 What a node stores: only what has the work"),
            "61-what-a-node-stores-only-what-has-the-work"
        );
        assert_eq!(
            anchor("The simulation against real nodes"),
            "the-simulation-against-real-nodes"
        );
    }

    #[test]
    fn a_bad_reference_or_link_is_found() {
        let dir = std::env::temp_dir().join(format!("xtask-docs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("docs")).unwrap();
        std::fs::write(
            dir.join("docs/PROTOCOL.md"),
            "# P\n## 1. One\n### 1.1 Sub\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("a.md"),
            "[ok](docs/PROTOCOL.md#11-sub) [gone](b.md) [no](docs/PROTOCOL.md#2-two)\n\
             protocol [§1], [§1.1]\n\n[§1]: docs/PROTOCOL.md#1-one\n[x]: docs/PROTOCOL.md#1-two\n",
        )
        .unwrap();
        std::fs::write(dir.join("a.rs"), "// PROTOCOL.md §1.1, PROTOCOL.md §3.\n").unwrap();
        let found = problems(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            found,
            [
                "a.md: [§1.1] has no link definition",
                "a.md: link to b.md: no such file",
                "a.md: link to docs/PROTOCOL.md#2-two: no such heading",
                "a.md: link to docs/PROTOCOL.md#1-two: no such heading",
                "a.rs: PROTOCOL.md §3 is no section",
            ],
            "{found:#?}"
        );
    }

    #[test]
    fn every_link_and_protocol_reference_of_the_repository_leads_somewhere() {
        let found = problems(&crate::root());
        assert!(found.is_empty(), "{}", found.join("\n"));
    }
}
