//! The graph of a crate's modules and the paths between them, for the import-circle check.
//!
//! A node is a module (a file, or an inline `mod name { .. }` inside one); an edge from A to B
//! means code in A names an item of B through a path: `crate::..`, `super::..`, `self::..` or
//! a child module's name, `use` groups included, and `crate::Name` followed through the
//! `pub use` that re-exports it. Declaring `mod b;` is not an edge (a parent owns its
//! children), and neither is a path from a module up to one of its ancestors: a submodule is a
//! piece of its parent and sees the parent's private items by design. Every other path counts,
//! a parent naming its child's items included, so two files that reach each other, directly
//! or through others, form a circle. Comments, strings and macro `$crate` paths are skipped.
//!
//! This is a reader of our own source, not of Rust in general: it knows `#[path]` on `mod`
//! declarations and nested inline modules, which is all the workspace uses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module by its path inside the crate, e.g. `["process", "spawn"]`; the root is empty.
pub(crate) type ModulePath = Vec<String>;

/// One place where a module names another.
#[derive(Debug, Clone)]
pub(crate) struct Reference {
    pub(crate) to: ModulePath,
    pub(crate) file: PathBuf,
    pub(crate) line: usize,
}

#[derive(Debug, Default)]
pub(crate) struct ModuleGraph {
    /// Every module, with the file its code is in.
    pub(crate) modules: BTreeMap<ModulePath, PathBuf>,
    /// from -> references to other modules (self and ancestor references left out).
    pub(crate) edges: BTreeMap<ModulePath, Vec<Reference>>,
}

/// A path as written, before resolution: where it starts and its segments.
#[derive(Debug, Clone)]
struct RawPath {
    start: ModulePath,
    segments: Vec<String>,
    line: usize,
}

#[derive(Debug, Default)]
struct Scanned {
    paths: BTreeMap<ModulePath, Vec<(RawPath, PathBuf)>>,
    /// module -> (name it re-exports under -> the path behind it)
    reexports: BTreeMap<ModulePath, BTreeMap<String, RawPath>>,
}

impl ModuleGraph {
    /// Reads the crate whose root file is `root_file` (`src/lib.rs` or `src/main.rs`).
    pub(crate) fn read(root_file: &Path) -> ModuleGraph {
        let mut graph = ModuleGraph::default();
        let mut scanned = Scanned::default();
        let mut pending = vec![(Vec::new(), root_file.to_path_buf())];
        while let Some((module, file)) = pending.pop() {
            let Ok(source) = std::fs::read_to_string(&file) else {
                continue;
            };
            let is_dir_owner = file
                .file_name()
                .is_some_and(|n| n == "lib.rs" || n == "main.rs" || n == "mod.rs");
            let child_dir = if is_dir_owner {
                file.parent().map(Path::to_path_buf).unwrap_or_default()
            } else {
                file.with_extension("")
            };
            let file_dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
            graph.modules.insert(module.clone(), file.clone());
            scan_file(
                &source,
                &module,
                &file,
                &child_dir,
                &file_dir,
                &mut graph.modules,
                &mut pending,
                &mut scanned,
            );
        }
        graph.resolve(&scanned);
        graph
    }

    fn resolve(&mut self, scanned: &Scanned) {
        for (from, paths) in &scanned.paths {
            for (raw, file) in paths {
                let to = self.resolve_path(from, raw, scanned, 0);
                let is_ancestor_or_self = from.starts_with(&to);
                if !is_ancestor_or_self {
                    self.edges.entry(from.clone()).or_default().push(Reference {
                        to,
                        file: file.clone(),
                        line: raw.line,
                    });
                }
            }
        }
    }

    /// The module a path lands in: follow child modules as far as they go, then a re-export
    /// of one of `from`'s ancestors (`crate::Store` is `store`'s). A path through another
    /// module (`crate::process::signal_process`) imports that module's file, whatever child
    /// the item comes from, so it stops there.
    fn resolve_path(
        &self,
        from: &ModulePath,
        raw: &RawPath,
        scanned: &Scanned,
        depth: usize,
    ) -> ModulePath {
        let mut at = raw.start.clone();
        let mut rest = raw.segments.iter();
        for segment in rest.by_ref() {
            let mut child = at.clone();
            child.push(segment.clone());
            if self.modules.contains_key(&child) {
                at = child;
                continue;
            }
            if depth < 8 && from.starts_with(&at) {
                if let Some(target) = scanned.reexports.get(&at).and_then(|r| r.get(segment)) {
                    return self.resolve_path(from, target, scanned, depth + 1);
                }
            }
            break;
        }
        at
    }

    /// Drops every path into or out of the named top-level modules (and their children).
    pub(crate) fn leave_out(&mut self, top_level: &[&str]) {
        let left_out = |m: &ModulePath| {
            m.first()
                .is_some_and(|top| top_level.contains(&top.as_str()))
        };
        self.edges.retain(|from, _| !left_out(from));
        for references in self.edges.values_mut() {
            references.retain(|r| !left_out(&r.to));
        }
    }

    /// Every circle: the strongly connected components of more than one module (Tarjan).
    pub(crate) fn circles(&self) -> Vec<Vec<ModulePath>> {
        let nodes: Vec<&ModulePath> = self.modules.keys().collect();
        let index_of: BTreeMap<&ModulePath, usize> =
            nodes.iter().enumerate().map(|(i, m)| (*m, i)).collect();
        let successors: Vec<BTreeSet<usize>> = nodes
            .iter()
            .map(|m| {
                self.edges
                    .get(*m)
                    .into_iter()
                    .flatten()
                    .filter_map(|r| index_of.get(&r.to).copied())
                    .collect()
            })
            .collect();
        let mut tarjan = Tarjan {
            successors: &successors,
            index: vec![None; nodes.len()],
            low: vec![0; nodes.len()],
            on_stack: vec![false; nodes.len()],
            stack: Vec::new(),
            next: 0,
            components: Vec::new(),
        };
        for node in 0..nodes.len() {
            if tarjan.index[node].is_none() {
                tarjan.visit(node);
            }
        }
        let mut circles: Vec<Vec<ModulePath>> = tarjan
            .components
            .into_iter()
            .filter(|c| c.len() > 1)
            .map(|c| {
                let mut members: Vec<ModulePath> =
                    c.into_iter().map(|i| nodes[i].clone()).collect();
                members.sort();
                members
            })
            .collect();
        circles.sort();
        circles
    }

    /// The references that keep a circle closed, one line each (`file:line: a -> b`).
    pub(crate) fn describe(&self, circle: &[ModulePath], root: &Path) -> String {
        let members: BTreeSet<&ModulePath> = circle.iter().collect();
        let mut lines = BTreeSet::new();
        for from in circle {
            for reference in self.edges.get(from).into_iter().flatten() {
                if members.contains(&reference.to) {
                    lines.insert(format!(
                        "    {}:{}: {} -> {}",
                        reference
                            .file
                            .strip_prefix(root)
                            .unwrap_or(&reference.file)
                            .display(),
                        reference.line,
                        display(from),
                        display(&reference.to)
                    ));
                }
            }
        }
        lines.into_iter().collect::<Vec<_>>().join("\n")
    }
}

/// `crate::a::b` for a module path.
pub(crate) fn display(module: &[String]) -> String {
    std::iter::once("crate")
        .chain(module.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("::")
}

struct Tarjan<'a> {
    successors: &'a [BTreeSet<usize>],
    index: Vec<Option<usize>>,
    low: Vec<usize>,
    on_stack: Vec<bool>,
    stack: Vec<usize>,
    next: usize,
    components: Vec<Vec<usize>>,
}

impl Tarjan<'_> {
    fn visit(&mut self, node: usize) {
        self.index[node] = Some(self.next);
        self.low[node] = self.next;
        self.next += 1;
        self.stack.push(node);
        self.on_stack[node] = true;
        for &next in &self.successors[node] {
            match self.index[next] {
                None => {
                    self.visit(next);
                    self.low[node] = self.low[node].min(self.low[next]);
                }
                Some(index) if self.on_stack[next] => {
                    self.low[node] = self.low[node].min(index);
                }
                Some(_) => {}
            }
        }
        if Some(self.low[node]) == self.index[node] {
            let mut component = Vec::new();
            while let Some(member) = self.stack.pop() {
                self.on_stack[member] = false;
                component.push(member);
                if member == node {
                    break;
                }
            }
            self.components.push(component);
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Open,
    Close,
    Comma,
    Semi,
    Star,
    Dollar,
    Dot,
    /// `#[path = "..."]`, kept whole because the string is what it says
    PathAttr(String),
    Other,
}

/// Tokens with their line numbers; comments, strings and character literals dropped.
fn tokenize(source: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '#' && source_at(&chars, i, "#[path") {
            let start_line = line;
            let mut text = String::new();
            while i < chars.len() && chars[i] != ']' {
                text.push(chars[i]);
                i += 1;
            }
            i += 1;
            let value = text.split('"').nth(1).unwrap_or_default().to_owned();
            tokens.push((Token::PathAttr(value), start_line));
        } else if c == '"' || ((c == 'r' || c == 'b') && is_raw_or_byte_string(&chars, i)) {
            i = skip_string(&chars, i, &mut line);
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let word = word.strip_prefix("r#").unwrap_or(&word).to_owned();
            tokens.push((Token::Ident(word), line));
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push((Token::Other, line));
        } else {
            let token = match c {
                ':' if next == Some(':') => {
                    i += 1;
                    Token::PathSep
                }
                '{' => Token::Open,
                '}' => Token::Close,
                ',' => Token::Comma,
                ';' => Token::Semi,
                '*' => Token::Star,
                '$' => Token::Dollar,
                '.' => Token::Dot,
                _ => Token::Other,
            };
            tokens.push((token, line));
            i += 1;
        }
    }
    tokens
}

fn source_at(chars: &[char], i: usize, text: &str) -> bool {
    text.chars()
        .enumerate()
        .all(|(k, c)| chars.get(i + k) == Some(&c))
}

fn is_raw_or_byte_string(chars: &[char], i: usize) -> bool {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return false;
    }
    let mut j = i;
    if chars[j] == 'b' {
        j += 1;
        if chars.get(j) == Some(&'"') {
            return true;
        }
        if chars.get(j) == Some(&'\'') {
            return false;
        }
    }
    if chars.get(j) != Some(&'r') {
        return false;
    }
    j += 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    chars.get(j) == Some(&'"')
}

/// Index just past the string literal starting at `i` (plain, byte or raw).
fn skip_string(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    let mut raw = false;
    if chars[i] == 'b' {
        i += 1;
    }
    if chars[i] == 'r' {
        raw = true;
        i += 1;
    }
    let mut hashes = 0;
    while chars[i] == '#' {
        hashes += 1;
        i += 1;
    }
    i += 1; // the opening quote
    while i < chars.len() {
        match chars[i] {
            '\n' => {
                *line += 1;
                i += 1;
            }
            '\\' if !raw => i += 2,
            '"' => {
                let closes = (1..=hashes).all(|k| chars.get(i + k) == Some(&'#'));
                if closes {
                    return i + 1 + hashes;
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    i
}

/// The file of `mod name;` declared in `current`: the `#[path]` given (relative to the
/// declaring file's directory, `dirs.0`), else `name.rs` or `name/mod.rs` under the child
/// directory (`dirs.1`, deeper for an inline module).
fn declared_file(
    path_attr: Option<String>,
    dirs: (&Path, &Path),
    current: &ModulePath,
    module: &ModulePath,
    name: &str,
) -> PathBuf {
    let (file_dir, child_dir) = dirs;
    match path_attr {
        Some(relative) => file_dir.join(relative),
        None => {
            let dir = inline_dir(child_dir, current, module);
            let flat = dir.join(format!("{name}.rs"));
            if flat.exists() {
                flat
            } else {
                dir.join(name).join("mod.rs")
            }
        }
    }
}

/// The paths of one `use` tree or expression (`found`), written in `current` of `file`: each
/// recorded, and, for a `pub use`, the name it is re-exported under.
fn record_paths(
    scanned: &mut Scanned,
    current: &ModulePath,
    found: Vec<(Vec<String>, Option<String>, usize)>,
    is_reexport: bool,
    file: &Path,
) {
    for (segments, alias, line) in found {
        let Some(raw) = start_of(current, &segments, line) else {
            continue;
        };
        if is_reexport {
            if let Some(name) = alias.or_else(|| raw.segments.last().cloned()) {
                scanned
                    .reexports
                    .entry(current.clone())
                    .or_default()
                    .insert(name, raw.clone());
            }
        }
        scanned
            .paths
            .entry(current.clone())
            .or_default()
            .push((raw, file.to_path_buf()));
    }
}

const PATH_KEYWORDS: [&str; 3] = ["crate", "self", "super"];

/// Scans one file: its `mod` declarations (queued for reading) and the paths it writes.
#[allow(clippy::too_many_arguments)]
fn scan_file(
    source: &str,
    module: &ModulePath,
    file: &Path,
    child_dir: &Path,
    file_dir: &Path,
    modules: &mut BTreeMap<ModulePath, PathBuf>,
    pending: &mut Vec<(ModulePath, PathBuf)>,
    scanned: &mut Scanned,
) {
    let tokens = tokenize(source);
    // The module the code at each depth belongs to; inline modules push onto it.
    let mut scopes: Vec<(ModulePath, usize)> = vec![(module.clone(), 0)];
    let mut depth = 0usize;
    let mut path_attr: Option<String> = None;
    let mut i = 0;
    // Children are declared before or after their use; collect them first.
    let children = declared_children(&tokens, module);
    while i < tokens.len() {
        let current = scopes.last().map(|s| s.0.clone()).unwrap_or_default();
        match &tokens[i].0 {
            Token::PathAttr(value) => {
                path_attr = Some(value.clone());
                i += 1;
            }
            Token::Open => {
                depth += 1;
                i += 1;
            }
            Token::Close => {
                if scopes.len() > 1 && scopes.last().is_some_and(|s| s.1 == depth) {
                    scopes.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            Token::Ident(word) if word == "mod" => {
                let Some((Token::Ident(name), _)) = tokens.get(i + 1) else {
                    i += 1;
                    continue;
                };
                let mut child = current.clone();
                child.push(name.clone());
                match tokens.get(i + 2).map(|t| &t.0) {
                    Some(Token::Semi) => {
                        let dirs = (file_dir, child_dir);
                        let file = declared_file(path_attr.take(), dirs, &current, module, name);
                        modules.insert(child.clone(), file.clone());
                        pending.push((child, file));
                        i += 3;
                    }
                    Some(Token::Open) => {
                        depth += 1;
                        modules.insert(child.clone(), file.to_path_buf());
                        scopes.push((child, depth));
                        path_attr = None;
                        i += 3;
                    }
                    _ => i += 1,
                }
            }
            Token::Ident(word) => {
                let preceded_by_continuation =
                    i > 0 && matches!(tokens[i - 1].0, Token::PathSep | Token::Dollar | Token::Dot);
                let followed_by_path = matches!(tokens.get(i + 1), Some((Token::PathSep, _)));
                let starts_path = PATH_KEYWORDS.contains(&word.as_str())
                    || (followed_by_path
                        && children.get(&current).is_some_and(|c| c.contains(word)));
                if preceded_by_continuation {
                    i += 1;
                    continue;
                }
                if !starts_path {
                    // Another crate's path (`std::{io, fmt}`): step over it whole, so a
                    // group member that happens to share a child module's name is not read
                    // as ours.
                    let end = if followed_by_path {
                        read_path_tree(&tokens, i, Vec::new(), &mut Vec::new())
                    } else {
                        i + 1
                    };
                    i = end.max(i + 1);
                    continue;
                }
                let is_reexport = is_pub_use(&tokens, i);
                let mut found = Vec::new();
                let end = read_path_tree(&tokens, i, Vec::new(), &mut found);
                record_paths(scanned, &current, found, is_reexport, file);
                i = end.max(i + 1);
            }
            _ => i += 1,
        }
    }
}

/// Where the files of `current`'s children live when `current` is an inline module of `module`.
fn inline_dir(child_dir: &Path, current: &ModulePath, module: &ModulePath) -> PathBuf {
    let mut dir = child_dir.to_path_buf();
    for name in current.iter().skip(module.len()) {
        dir.push(name);
    }
    dir
}

/// The child modules each module of this file declares (by `mod name;` or `mod name {`).
fn declared_children(
    tokens: &[(Token, usize)],
    module: &ModulePath,
) -> BTreeMap<ModulePath, BTreeSet<String>> {
    let mut children: BTreeMap<ModulePath, BTreeSet<String>> = BTreeMap::new();
    let mut scopes: Vec<(ModulePath, usize)> = vec![(module.clone(), 0)];
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i].0 {
            Token::Open => depth += 1,
            Token::Close => {
                if scopes.len() > 1 && scopes.last().is_some_and(|s| s.1 == depth) {
                    scopes.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Token::Ident(word) if word == "mod" => {
                if let Some((Token::Ident(name), _)) = tokens.get(i + 1) {
                    let current = scopes.last().map(|s| s.0.clone()).unwrap_or_default();
                    children
                        .entry(current.clone())
                        .or_default()
                        .insert(name.clone());
                    if matches!(tokens.get(i + 2), Some((Token::Open, _))) {
                        depth += 1;
                        let mut child = current;
                        child.push(name.clone());
                        scopes.push((child, depth));
                        i += 3;
                        continue;
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    children
}

/// Whether the path at `i` is the subject of a `pub use` / `pub(..) use`.
fn is_pub_use(tokens: &[(Token, usize)], i: usize) -> bool {
    if i == 0 || tokens[i - 1].0 != Token::Ident("use".to_owned()) {
        return false;
    }
    // Walk back over `pub`, `pub(crate)`, `pub(super)`, `pub(in path)`.
    tokens[..i - 1]
        .iter()
        .rev()
        .take(6)
        .any(|(t, _)| *t == Token::Ident("pub".to_owned()))
        && !tokens[..i - 1]
            .iter()
            .rev()
            .take_while(|(t, _)| *t != Token::Ident("pub".to_owned()))
            .any(|(t, _)| matches!(t, Token::Semi | Token::Open | Token::Close))
}

/// Reads `a::b::c`, `a::{b, c::d}`, `a::*` or `a as b` from `i`; pushes each full path with
/// its alias and line. Returns the index after the path.
fn read_path_tree(
    tokens: &[(Token, usize)],
    mut i: usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>, usize)>,
) -> usize {
    let line = tokens.get(i).map(|t| t.1).unwrap_or(0);
    let mut segments = prefix;
    loop {
        match tokens.get(i).map(|t| &t.0) {
            Some(Token::Ident(word)) => {
                segments.push(word.clone());
                i += 1;
            }
            Some(Token::Star) => {
                out.push((segments, None, line));
                return i + 1;
            }
            Some(Token::Open) => {
                i += 1;
                loop {
                    match tokens.get(i).map(|t| &t.0) {
                        Some(Token::Close) => return i + 1,
                        Some(Token::Comma) => i += 1,
                        None => return i,
                        _ => {
                            let before = i;
                            i = read_path_tree(tokens, i, segments.clone(), out);
                            if i == before {
                                i += 1;
                            }
                        }
                    }
                }
            }
            _ => {
                out.push((segments, None, line));
                return i;
            }
        }
        if matches!(tokens.get(i), Some((Token::PathSep, _))) {
            i += 1;
            continue;
        }
        if matches!(tokens.get(i), Some((Token::Ident(w), _)) if w == "as") {
            let alias = match tokens.get(i + 1) {
                Some((Token::Ident(name), _)) => Some(name.clone()),
                _ => None,
            };
            out.push((segments, alias, line));
            return i + 2;
        }
        out.push((segments, None, line));
        return i;
    }
}

/// Turns written segments into a start module and the segments after it.
fn start_of(current: &ModulePath, segments: &[String], line: usize) -> Option<RawPath> {
    let mut start = current.clone();
    let mut rest = segments;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            start = Vec::new();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                start.pop()?;
                rest = &rest[1..];
            }
        }
        Some(_) => {}
        None => return None,
    }
    Some(RawPath {
        start,
        segments: rest.to_vec(),
        line,
    })
}
