//! Every error's fault is decided in one errors table, so a second mapping of the same error
//! cannot drift from it. Product code (`crates/*/src`; test files and `#[cfg(test)]` items
//! left out) is read as Rust syntax, and what counts is what the code does, whatever it is
//! named: a `Fault` built (a `Fault::…` call or path, a `Fault { … }` literal, under any
//! name `Fault` is imported as) inside the closure of a `map_err`, `or_else`,
//! `unwrap_or_else` or `map_or_else` that takes an argument, or inside an arm or `if let`
//! that binds an `Err(…)`; a function that takes a `…Error` and returns a `Fault`; and an
//! `impl From<…> for Fault`. Not counted: a closure without an argument (an `Option`'s:
//! nothing failed), and a fault built from a received fault.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use syn::spanned::Spanned;
use syn::visit::{self, Visit};

use super::primitives::product_files;

/// The files that may map an error to its fault, and why each is one.
pub(crate) const HOMES: &[(&str, &str)] = &[
    (
        "crates/wsman-server/src/error.rs",
        "the errors table: each error the server's engines answer",
    ),
    (
        "crates/wsman-proto/src/fault/from_errors.rs",
        "wsman-proto's own errors (the orphan rule keeps their `From` there), which the \
         providers, below the server, also return with `?`",
    ),
    (
        "crates/wsman-providers/src/faults.rs",
        "the providers' errors: wsman-providers is below the server and answers with the fault",
    ),
    (
        "crates/wsman-config/src/resource.rs",
        "the config store's errors: the local `winrm` drives the store without a server, and \
         wsman-config may not depend on wsman-server",
    ),
    (
        "crates/wsman-work/src/lib.rs",
        "`From<WorkError>`: `WorkPool::run`, below the server, answers with the fault",
    ),
];

/// The methods whose closure receives an error (`Result`'s; an `Option`'s takes no argument).
const ERROR_CLOSURES: &[&str] = &["map_err", "or_else", "unwrap_or_else", "map_or_else"];

/// One error-to-fault mapping: its line and what it is.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Mapping {
    pub(crate) line: usize,
    pub(crate) what: String,
}

/// The error-to-fault mappings in `source` (a whole Rust file).
pub(crate) fn mappings_in(source: &str) -> Result<BTreeSet<Mapping>, syn::Error> {
    let file = syn::parse_file(source)?;
    let mut finder = Finder {
        names: BTreeSet::from(["Fault".to_owned()]),
        in_error: 0,
        found: BTreeSet::new(),
    };
    // `use wsman_proto::Fault as F;`: F is a name of Fault too.
    for item in &file.items {
        if let syn::Item::Use(u) = item {
            renames(&u.tree, &mut finder.names);
        }
    }
    finder.visit_file(&file);
    Ok(finder.found)
}

fn renames(tree: &syn::UseTree, names: &mut BTreeSet<String>) {
    match tree {
        syn::UseTree::Path(p) => renames(&p.tree, names),
        syn::UseTree::Rename(r) if r.ident == "Fault" => {
            names.insert(r.rename.to_string());
        }
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| renames(t, names)),
        _ => {}
    }
}

struct Finder {
    /// The names `Fault` goes by in this file.
    names: BTreeSet<String>,
    /// How many error-holding scopes (closures, `Err` arms) enclose the node visited.
    in_error: usize,
    found: BTreeSet<Mapping>,
}

impl Finder {
    fn note(&mut self, span: proc_macro2::Span, what: String) {
        let line = span.start().line;
        self.found.insert(Mapping { line, what });
    }

    /// Whether `path` names `Fault` or one of its items (`Fault::x`, `wsman_proto::Fault`),
    /// not an enum's variant named `Fault` (`ServiceError::Fault`, `Self::Fault`).
    fn is_fault(&self, path: &syn::Path) -> bool {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        segments.iter().enumerate().any(|(at, name)| {
            let after_type = at > 0 && segments[at - 1].starts_with(char::is_uppercase);
            self.names.contains(name) && !after_type
        })
    }

    fn in_error_scope(&mut self, visit: impl FnOnce(&mut Self)) {
        self.in_error += 1;
        visit(self);
        self.in_error -= 1;
    }
}

/// Whether `ty` names an error type (`…Error`, by value or by reference).
fn is_error_type(ty: &syn::Type) -> bool {
    match ty {
        syn::Type::Reference(r) => is_error_type(&r.elem),
        syn::Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident.to_string().ends_with("Error")),
        _ => false,
    }
}

/// Whether `pat` binds an `Err(…)` anywhere in it.
fn binds_err(pat: &syn::Pat) -> bool {
    match pat {
        syn::Pat::TupleStruct(t) => {
            t.path.segments.last().is_some_and(|s| s.ident == "Err")
                || t.elems.iter().any(binds_err)
        }
        syn::Pat::Or(o) => o.cases.iter().any(binds_err),
        syn::Pat::Tuple(t) => t.elems.iter().any(binds_err),
        syn::Pat::Reference(r) => binds_err(&r.pat),
        syn::Pat::Paren(p) => binds_err(&p.pat),
        _ => false,
    }
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| match &a.meta {
        syn::Meta::List(l) if l.path.is_ident("cfg") => {
            let tokens = l.tokens.to_string();
            tokens.contains("test") && !tokens.contains("not")
        }
        _ => false,
    })
}

impl<'ast> Visit<'ast> for Finder {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(i) => &i.attrs,
            _ => return visit::visit_item(self, item),
        };
        if !is_cfg_test(attrs) {
            visit::visit_item(self, item);
        }
    }

    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        let for_fault = matches!(&*i.self_ty, syn::Type::Path(p) if p.path.segments.last().is_some_and(|s| self.names.contains(&s.ident.to_string())));
        let from = i
            .trait_
            .as_ref()
            .and_then(|(_, path, _)| path.segments.last())
            .filter(|s| s.ident == "From");
        if let (true, Some(from)) = (for_fault, from) {
            let from = &from.arguments;
            let source = quote_path_args(from);
            self.note(i.impl_token.span, format!("impl From<{source}> for Fault"));
        }
        visit::visit_item_impl(self, i);
    }

    fn visit_signature(&mut self, sig: &'ast syn::Signature) {
        let returns_fault = match &sig.output {
            syn::ReturnType::Type(_, ty) => {
                matches!(&**ty, syn::Type::Path(p) if p.path.segments.last().is_some_and(|s| self.names.contains(&s.ident.to_string())))
            }
            syn::ReturnType::Default => false,
        };
        let takes_error = sig.inputs.iter().any(|input| match input {
            syn::FnArg::Typed(t) => is_error_type(&t.ty),
            syn::FnArg::Receiver(_) => false,
        });
        if returns_fault && takes_error {
            self.note(
                sig.ident.span(),
                format!("fn {} (an error to a fault)", sig.ident),
            );
        }
        visit::visit_signature(self, sig);
    }

    fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
        let method = call.method.to_string();
        if !ERROR_CLOSURES.contains(&method.as_str()) {
            return visit::visit_expr_method_call(self, call);
        }
        self.visit_expr(&call.receiver);
        for arg in &call.args {
            match arg {
                syn::Expr::Closure(c) if !c.inputs.is_empty() => {
                    self.in_error_scope(|f| f.visit_expr(&c.body))
                }
                // `.map_err(Fault::x)`: the constructor takes the error itself (an `Option`'s
                // `unwrap_or_else(Fault::x)` takes nothing).
                syn::Expr::Path(p) if method == "map_err" && self.is_fault(&p.path) => {
                    self.in_error_scope(|f| f.visit_expr(arg))
                }
                _ => self.visit_expr(arg),
            }
        }
    }

    fn visit_arm(&mut self, arm: &'ast syn::Arm) {
        if binds_err(&arm.pat) {
            self.in_error_scope(|f| visit::visit_arm(f, arm));
        } else {
            visit::visit_arm(self, arm);
        }
    }

    fn visit_expr_if(&mut self, e: &'ast syn::ExprIf) {
        let syn::Expr::Let(binding) = &*e.cond else {
            return visit::visit_expr_if(self, e);
        };
        if !binds_err(&binding.pat) {
            return visit::visit_expr_if(self, e);
        }
        self.visit_expr(&binding.expr);
        self.in_error_scope(|f| f.visit_block(&e.then_branch));
        if let Some((_, otherwise)) = &e.else_branch {
            self.visit_expr(otherwise);
        }
    }

    fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
        // A call's function (`Fault::x(…)`) and a constructor passed by name are both paths.
        if self.in_error > 0 && self.is_fault(&p.path) && p.path.segments.len() > 1 {
            let name = path_text(&p.path);
            if !ends_with_from(&p.path) {
                self.note(p.span(), format!("{name} built from an error"));
            }
        }
        visit::visit_expr_path(self, p);
    }

    fn visit_expr_struct(&mut self, s: &'ast syn::ExprStruct) {
        if self.in_error > 0 && self.is_fault(&s.path) {
            self.note(
                s.span(),
                "a Fault { … } literal built from an error".to_owned(),
            );
        }
        visit::visit_expr_struct(self, s);
    }
}

/// `Fault::from` and `Fault::into` go through a table's `From`: they decide nothing.
fn ends_with_from(path: &syn::Path) -> bool {
    path.segments
        .last()
        .is_some_and(|s| s.ident == "from" || s.ident == "into")
}

fn path_text(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

fn quote_path_args(args: &syn::PathArguments) -> String {
    match args {
        syn::PathArguments::AngleBracketed(a) => a
            .args
            .iter()
            .map(|arg| match arg {
                syn::GenericArgument::Type(syn::Type::Path(p)) => path_text(&p.path),
                _ => "_".to_owned(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    }
}

/// Each product file's mappings outside the homes, as `file:line: what` by file; and the
/// homes that map something.
fn strays(root: &Path) -> (BTreeMap<String, Vec<String>>, BTreeSet<String>) {
    let mut strays = BTreeMap::new();
    let mut homes_used = BTreeSet::new();
    for path in &product_files(root) {
        let Ok(source) = std::fs::read_to_string(path) else {
            continue;
        };
        let relative = path
            .strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string();
        let found = mappings_in(&source)
            .unwrap_or_else(|e| panic!("{relative} does not parse as Rust: {e}"));
        if found.is_empty() {
            continue;
        }
        if HOMES.iter().any(|(home, _)| *home == relative) {
            homes_used.insert(relative);
            continue;
        }
        let lines = found
            .into_iter()
            .map(|m| format!("{relative}:{}: {}", m.line, m.what))
            .collect();
        strays.insert(relative, lines);
    }
    (strays, homes_used)
}

#[test]
fn errors_map_to_faults_only_in_the_errors_tables() {
    let (strays, homes_used) = strays(&wsman_test::binaries::workspace_root());
    let strays: Vec<String> = strays.into_values().flatten().collect();
    assert!(
        strays.is_empty(),
        "an error's fault is decided in its errors table (CONTRIBUTING.md, \"Errors and \
         faults\"): add a row there and call it (or write `?` where it is a `From`); these \
         build a fault from an error elsewhere:\n{}",
        strays.join("\n")
    );
    // A home that no longer maps anything leaves the list, so it cannot cover a new stray.
    for (home, why) in HOMES {
        assert!(
            homes_used.contains(*home),
            "{home} ({why}) maps no error to a fault any more: take it off the list"
        );
    }
}

#[test]
fn the_detector_sees_what_the_code_does() {
    let lines = |source: &str| -> Vec<usize> {
        mappings_in(source)
            .unwrap()
            .into_iter()
            .map(|m| m.line)
            .collect()
    };
    let source = r#"
use wsman_proto::Fault as F;
fn a() -> Result<(), Fault> { x().map_err(|e| Fault::internal_error(e.to_string())) }
fn b() -> Result<(), F> { x().map_err(|_| F::timed_out()) }
fn c() -> Fault { match x() { Ok(v) => v, Err(e) => wsman_proto::Fault::invalid_parameter(e) } }
fn d() { if let Err(e) = x() { return Fault { code: e }; } }
fn e(error: &ShellError) -> Fault { g(error) }
impl From<WorkError> for Fault { fn from(e: WorkError) -> Self { todo!() } }
fn f() { x().map_err(Fault::internal_error); }
fn g() { y().ok_or_else(|| Fault::destination_unreachable(uri)); }
fn h() { y().unwrap_or_else(|| Fault::timed_out()); }
fn i() { x().map_err(Fault::from); x().map_err(|e| table(e)); }
fn j(fault: Fault) -> Fault { fault }
fn k() { y().unwrap_or_else(Fault::timed_out); match x() { Err(f) => ServiceError::Fault { fault: f } } }
#[cfg(test)]
mod tests { fn l() { x().map_err(|e| Fault::internal_error(e)); } }
"#;
    assert_eq!(lines(source), [3, 4, 5, 6, 7, 8, 9]);
}
