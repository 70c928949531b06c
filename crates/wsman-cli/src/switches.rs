//! A command's table of switches, from which its parser, its `-?` text and its man page all
//! come, so the three cannot disagree.
//!
//! Each binary keeps one table per help section ([`Switch`] rows over the state it parses
//! into); this module finds the row a typed switch names, and writes the rows as help text
//! (a heading line, the description indented under it) or as roff (`.TP` entries).

use std::fmt::Write as _;

use crate::SwitchError;

/// One switch: its names, how help shows it, what it means, and what it does.
pub struct Switch<T> {
    /// Every name it answers to, without the `-`, compared without case (as on Windows).
    pub names: &'static [&'static str],
    /// The heading help shows, e.g. `-r:HOST | -remote:HOST` (several lines allowed).
    pub synopsis: &'static str,
    /// The description, lines as help prints them (the renderer indents them).
    pub doc: &'static str,
    /// Applies `-NAME[:VALUE]` (the name as typed) to the state being parsed.
    pub apply: fn(&mut T, &str, Option<&str>) -> Result<(), SwitchError>,
}

impl<T> Switch<T> {
    /// Whether `name` (as typed, without `-`) is one of this switch's names.
    pub fn answers_to(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// The row of `tables` that `name` names, if any.
pub fn find<'t, T>(tables: &[&'t [Switch<T>]], name: &str) -> Option<&'t Switch<T>> {
    tables
        .iter()
        .flat_map(|table| table.iter())
        .find(|switch| switch.answers_to(name))
}

/// What help and the man page need of a row, whatever state its table parses into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchDoc {
    pub synopsis: &'static str,
    pub doc: &'static str,
}

/// The documentation of a table's rows, in order.
pub fn docs<T>(table: &[Switch<T>]) -> Vec<SwitchDoc> {
    table
        .iter()
        .map(|s| SwitchDoc {
            synopsis: s.synopsis,
            doc: s.doc,
        })
        .collect()
}

/// Help text for rows: each heading line indented by four spaces, the description by eight.
pub fn help_text(rows: &[SwitchDoc]) -> String {
    let mut out = String::new();
    for row in rows {
        for line in row.synopsis.lines() {
            out.push_str("    ");
            out.push_str(line);
            out.push('\n');
        }
        for line in row.doc.lines() {
            if line.is_empty() {
                out.push('\n');
            } else {
                out.push_str("        ");
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Help text for rows in two columns, as `winrm help switches` prints them: the heading at four
/// spaces, the description from `column` on, starting beside a heading short enough to leave a
/// space, else under it.
pub fn help_columns(rows: &[SwitchDoc], column: usize) -> String {
    let mut out = String::new();
    let pad = " ".repeat(column);
    for row in rows {
        let mut doc = row.doc.lines();
        let heading: Vec<&str> = row.synopsis.lines().collect();
        match heading.as_slice() {
            [one] if 4 + one.len() < column => {
                let first = doc.next().unwrap_or_default();
                out.push_str(&format!("    {one:<width$}{first}\n", width = column - 4));
            }
            lines => {
                for line in lines {
                    out.push_str(&format!("    {line}\n"));
                }
            }
        }
        for line in doc {
            out.push_str(&format!("{pad}{line}\n"));
        }
    }
    out
}

/// A man page: `.TH`, NAME, SYNOPSIS, then sections of text and of switches, in order.
pub struct ManPage<'a> {
    pub name: &'a str,
    /// 1 for commands, 8 for daemons.
    pub section: u8,
    /// The one line after the name in NAME.
    pub summary: &'a str,
    pub synopsis: &'a str,
    pub sections: Vec<ManSection<'a>>,
}

/// A section of a man page.
pub enum ManSection<'a> {
    /// Preformatted text (kept as help prints it: line for line, no filling).
    Text { title: &'a str, body: &'a str },
    /// Switches as `.TP` entries.
    Switches {
        title: &'a str,
        rows: Vec<SwitchDoc>,
    },
}

/// Escapes text for roff: backslashes, hyphens (so `-r:` stays a minus for copy and paste),
/// and a leading `.` or `'` that roff would read as a request.
pub fn roff_escape(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

impl ManPage<'_> {
    /// The page as roff (man macros).
    pub fn to_roff(&self) -> String {
        let mut out = format!(
            ".TH {} {} \"\" \"wsmand\" \"wsmand manual\"\n",
            self.name.to_ascii_uppercase(),
            self.section
        );
        out.push_str(".SH NAME\n");
        out.push_str(&format!(
            "{} \\- {}\n",
            roff_escape(self.name),
            roff_escape(self.summary)
        ));
        out.push_str(".SH SYNOPSIS\n.nf\n");
        for line in self.synopsis.lines() {
            out.push_str(&roff_escape(line.trim()));
            out.push('\n');
        }
        out.push_str(".fi\n");
        for section in &self.sections {
            match section {
                ManSection::Text { title, body } => {
                    out.push_str(&format!(".SH {}\n.nf\n", roff_escape(title)));
                    for line in body.lines() {
                        out.push_str(&roff_escape(line.strip_prefix("    ").unwrap_or(line)));
                        out.push('\n');
                    }
                    out.push_str(".fi\n");
                }
                ManSection::Switches { title, rows } => {
                    out.push_str(&format!(".SH {}\n", roff_escape(title)));
                    for row in rows {
                        out.push_str(".TP\n");
                        let heading: Vec<String> = row
                            .synopsis
                            .lines()
                            .map(|l| roff_escape(l.trim()))
                            .collect();
                        // Quoted: `.B` takes at most six words.
                        out.push_str(&format!(".B \"{}\"\n", heading.join(" ")));
                        out.push_str(".nf\n");
                        for line in row.doc.lines() {
                            out.push_str(&roff_escape(line));
                            out.push('\n');
                        }
                        out.push_str(".fi\n");
                    }
                }
            }
        }
        out
    }
}

/// The headings of the switches a man page lists, unescaped: what a test compares with help.
pub fn man_switch_headings(roff: &str) -> Vec<String> {
    roff.lines()
        .filter_map(|line| line.strip_prefix(".B \""))
        .map(|line| {
            line.trim_end_matches('"')
                .replace("\\-", "-")
                .replace("\\e", "\\")
        })
        .collect()
}

/// What a command's help and man page lack (empty: nothing), for its tests: a name a switch
/// answers to (`names`, one list a switch) not in `help`, the page's `.TH` line not starting
/// with `title`, a section heading (NAME, SYNOPSIS, EXIT STATUS and the page's own `sections`)
/// not on the page.
pub fn man_page_gaps<'a>(
    help: &str,
    page: &str,
    names: impl IntoIterator<Item = &'a [&'a str]>,
    title: &str,
    sections: &[&str],
) -> Vec<String> {
    let help = help.to_ascii_lowercase();
    let mut gaps: Vec<String> = names
        .into_iter()
        .filter(|names| {
            !names
                .iter()
                .any(|n| help.contains(&format!("-{}", n.to_ascii_lowercase())))
        })
        .map(|names| format!("help lacks {names:?}"))
        .collect();
    if !page.starts_with(&format!(".TH {title} ")) {
        gaps.push(format!("the man page does not start with .TH {title}"));
    }
    let every_page = [".SH NAME", ".SH SYNOPSIS", ".SH EXIT STATUS"];
    for section in every_page
        .iter()
        .chain(sections)
        .filter(|s| !page.contains(*s))
    {
        gaps.push(format!("the man page lacks {section}"));
    }
    gaps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn man_page_gaps_names_what_is_missing() {
        let page = ".TH X 1 \"\"\n.SH NAME\n.SH SYNOPSIS\n.SH EXIT STATUS\n";
        let names: [&[&str]; 2] = [&["q", "quiet"], &["v"]];
        assert!(man_page_gaps("  -Quiet -V", page, names, "X 1", &[]).is_empty());
        assert_eq!(
            man_page_gaps("  -q", page, names, "Y 1", &[".SH SWITCHES"]),
            [
                "help lacks [\"v\"]",
                "the man page does not start with .TH Y 1",
                "the man page lacks .SH SWITCHES"
            ]
        );
    }

    struct Flags {
        quiet: bool,
    }

    const TABLE: &[Switch<Flags>] = &[Switch {
        names: &["q", "quiet"],
        synopsis: "-q | -quiet",
        doc: "Say less.\n.and start a line with a dot",
        apply: |flags, _, _| {
            flags.quiet = true;
            Ok(())
        },
    }];

    #[test]
    fn rows_are_found_without_case_and_applied() {
        let mut flags = Flags { quiet: false };
        assert!(find(&[TABLE], "loud").is_none());
        let row = find(&[TABLE], "QUIET").expect("-QUIET is -quiet");
        (row.apply)(&mut flags, "QUIET", None).expect("a flag applies");
        assert!(flags.quiet);
    }

    #[test]
    fn help_and_roff_show_the_same_rows() {
        let rows = docs(TABLE);
        let help = help_text(&rows);
        assert_eq!(
            help,
            "    -q | -quiet\n        Say less.\n        .and start a line with a dot\n"
        );
        let page = ManPage {
            name: "demo",
            section: 1,
            summary: "a demo",
            synopsis: "demo [-q]",
            sections: vec![ManSection::Switches {
                title: "OPTIONS",
                rows,
            }],
        };
        let roff = page.to_roff();
        assert!(roff.starts_with(".TH DEMO 1 "), "{roff}");
        assert!(roff.contains("\\&.and start"), "{roff}");
        assert_eq!(man_switch_headings(&roff), vec!["-q | -quiet".to_owned()]);
    }
}

/// A shell a completion script is written for (`--generate bash|zsh|fish`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

impl CompletionShell {
    /// `bash`, `zsh` or `fish`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "bash" => Some(Self::Bash),
            "zsh" => Some(Self::Zsh),
            "fish" => Some(Self::Fish),
            _ => None,
        }
    }
}

/// What a table's rows complete to: `-NAME:` for a switch whose synopsis shows it taking a
/// value (`-r:HOST`), `-NAME` for the others; every name of every row.
pub fn completion_words<T>(table: &[Switch<T>]) -> Vec<String> {
    let mut words = Vec::new();
    for switch in table {
        // The synopsis may show the value on one name only (`-a:METHOD | -auth | ...`).
        let valued = switch
            .names
            .iter()
            .any(|name| switch.synopsis.contains(&format!("-{name}:")));
        // Only names a shell takes literally (`-?` would be a glob pattern).
        for name in switch
            .names
            .iter()
            .filter(|name| name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        {
            words.push(format!("-{name}{}", if valued { ":" } else { "" }));
        }
    }
    words
}

/// Words in single quotes, for a shell's array.
fn quoted(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A completion script for `program` offering `operations` (its first words, e.g. `get`)
/// and `switches` ([`completion_words`]); a switch ending in `:` is completed without the
/// space after it, so its value can follow.
pub fn completion_script(
    shell: CompletionShell,
    program: &str,
    operations: &[&str],
    switches: &[String],
) -> String {
    let function = format!("_{}", program.replace('-', "_"));
    let plain: Vec<&str> = operations
        .iter()
        .copied()
        .chain(
            switches
                .iter()
                .map(String::as_str)
                .filter(|w| !w.ends_with(':')),
        )
        .collect();
    let valued: Vec<&str> = switches
        .iter()
        .map(String::as_str)
        .filter(|w| w.ends_with(':'))
        .collect();
    match shell {
        CompletionShell::Bash => format!(
            "# bash completion for {program}, written by `{program} --generate bash`\n\
             {function}() {{\n\
             \x20   local cur=\"${{COMP_WORDS[COMP_CWORD]}}\"\n\
             \x20   COMPREPLY=($(compgen -W \"{words}\" -- \"$cur\"))\n\
             \x20   if [[ ${{#COMPREPLY[@]}} -eq 1 && ${{COMPREPLY[0]}} == *: ]]; then\n\
             \x20       compopt -o nospace\n\
             \x20   fi\n\
             }}\n\
             complete -F {function} {program}\n",
            words = [plain.as_slice(), valued.as_slice()].concat().join(" "),
        ),
        CompletionShell::Zsh => format!(
            "#compdef {program}\n\
             # zsh completion for {program}, written by `{program} --generate zsh`\n\
             local -a plain valued\n\
             plain=({})\n\
             valued=({})\n\
             compadd -- $plain\n\
             compadd -S '' -- $valued\n",
            quoted(&plain),
            quoted(&valued),
        ),
        CompletionShell::Fish => {
            let mut out = format!(
                "# fish completion for {program}, written by `{program} --generate fish`\n\
                 complete -c {program} -f\n"
            );
            for word in plain.iter().chain(valued.iter()) {
                let _ = writeln!(out, "complete -c {program} -f -a '{word}'");
            }
            out
        }
    }
}

#[cfg(test)]
mod completion_tests {
    use super::*;

    fn ignore(_: &mut (), _: &str, _: Option<&str>) -> Result<(), SwitchError> {
        Ok(())
    }

    const TABLE: &[Switch<()>] = &[
        Switch {
            names: &["r", "remote"],
            synopsis: "-r:HOST | -remote:HOST",
            doc: "the host",
            apply: ignore,
        },
        Switch {
            names: &["a", "auth"],
            synopsis: "-a:METHOD",
            doc: "the scheme",
            apply: ignore,
        },
        Switch {
            names: &["un", "unencrypted"],
            synopsis: "-un | -unencrypted",
            doc: "no encryption",
            apply: ignore,
        },
    ];

    #[test]
    fn valued_switches_complete_with_their_colon() {
        assert_eq!(
            completion_words(TABLE),
            ["-r:", "-remote:", "-a:", "-auth:", "-un", "-unencrypted"]
        );
    }

    #[test]
    fn every_shell_offers_every_word() {
        let words = completion_words(TABLE);
        for shell in ["bash", "zsh", "fish"] {
            let shell = CompletionShell::parse(shell).unwrap_or_else(|| panic!("{shell}"));
            let script = completion_script(shell, "tool", &["get"], &words);
            for word in words.iter().map(String::as_str).chain(["get"]) {
                assert!(script.contains(word), "{shell:?} lacks {word}:\n{script}");
            }
        }
        let zsh = completion_script(CompletionShell::Zsh, "tool", &["get"], &words);
        assert!(
            zsh.contains("valued=('-r:' '-remote:' '-a:' '-auth:')"),
            "{zsh}"
        );
        assert!(CompletionShell::parse("tcsh").is_none());
    }
}
