//! The lists of ARCHITECTURE.md (fuzz targets, benchmark scripts, scripts, docs) against the
//! tree: each list names exactly what exists, so the map cannot drift as things are added.

use std::collections::BTreeSet;
use std::path::Path;

/// The section of `text` under the level-2 heading `heading`, up to the next one.
pub(crate) fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let marker = format!("\n## {heading}\n");
    let Some(start) = text.find(&marker) else {
        panic!("ARCHITECTURE.md has no \"## {heading}\" section");
    };
    let rest = &text[start + marker.len()..];
    rest.split("\n## ").next().unwrap_or(rest)
}

/// The first backquoted word of each table row of `section` (header and rule rows left out).
pub(crate) fn first_column(section: &str) -> BTreeSet<String> {
    section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .filter_map(|line| line[3..].split('`').next())
        .map(str::to_owned)
        .collect()
}

/// The names of the files in `dir` ending with `extension`, the extension removed.
pub(crate) fn file_stems(dir: &Path, extension: &str) -> BTreeSet<String> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.strip_suffix(extension).map(str::to_owned)
        })
        .collect()
}

/// What one side has and the other lacks, as a message (empty when both agree).
pub(crate) fn disagreement(
    what: &str,
    listed: &BTreeSet<String>,
    present: &BTreeSet<String>,
) -> Option<String> {
    let missing: Vec<_> = present.difference(listed).collect();
    let stale: Vec<_> = listed.difference(present).collect();
    if missing.is_empty() && stale.is_empty() {
        return None;
    }
    Some(format!(
        "{what}: not listed in ARCHITECTURE.md: {missing:?}; listed but absent: {stale:?}"
    ))
}

/// The names `prefix` + NAME + `suffix` that `section` mentions (e.g. `docs/` .. `.md`).
pub(crate) fn mentioned(section: &str, prefix: &str, suffix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = section;
    while let Some(at) = rest.find(prefix) {
        let tail = &rest[at + prefix.len()..];
        let name: String = tail
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
            .collect();
        if let Some(stem) = name.strip_suffix(suffix) {
            if !stem.contains('/') {
                found.insert(stem.to_owned());
            }
        }
        rest = tail;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readers_find_what_a_table_names() {
        let text = "intro\n## Docs\n\n| Doc | Subject |\n|---|---|\n| `docs/a.md` | x |\n\
                    | `docs/b-c.md` | y, see `docs/d.md` |\n## Next\n| `docs/e.md` | z |\n";
        let docs = section(text, "Docs");
        let names = mentioned(docs, "docs/", ".md");
        assert_eq!(
            names,
            ["a", "b-c", "d"].map(str::to_owned).into_iter().collect()
        );
        let column = first_column(docs);
        assert_eq!(
            column,
            ["docs/a.md", "docs/b-c.md"]
                .map(str::to_owned)
                .into_iter()
                .collect()
        );
        let present: BTreeSet<String> = ["a", "x"].map(str::to_owned).into_iter().collect();
        let message = disagreement("docs", &names, &present).expect("they differ");
        assert!(
            message.contains("\"x\"") && message.contains("\"d\""),
            "{message}"
        );
        assert!(disagreement("docs", &present, &present).is_none());
    }
}
