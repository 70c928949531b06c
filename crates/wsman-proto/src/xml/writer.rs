//! The writer of the fixed-prefix wire formats, apart from the parser it shares escaping with.

use std::fmt::Write as _;

use super::{escape_attr, escape_text};

/// A minimal writer for the fixed-prefix wire formats: the caller names the qualified names and
/// declares namespaces as attributes; the writer escapes and balances.
#[derive(Debug, Default)]
pub struct Writer {
    out: String,
    open: Vec<String>,
    pending_start: bool,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    fn close_pending(&mut self) {
        if self.pending_start {
            self.out.push('>');
            self.pending_start = false;
        }
    }

    /// Open `<qname attr="v" ...`; attributes are (qualified name, value) pairs.
    pub fn start(&mut self, qname: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.close_pending();
        self.out.push('<');
        self.out.push_str(qname);
        for (k, v) in attrs {
            let _ = write!(self.out, " {k}=\"{}\"", escape_attr(v));
        }
        self.pending_start = true;
        self.open.push(qname.to_owned());
        self
    }

    /// Character data inside the current element.
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.close_pending();
        self.out.push_str(&escape_text(text));
        self
    }

    /// Already-serialised XML inserted as is (a child rendered elsewhere).
    pub fn raw(&mut self, xml: &str) -> &mut Self {
        self.close_pending();
        self.out.push_str(xml);
        self
    }

    /// Close the innermost open element (self-closing when it has no content).
    pub fn end(&mut self) -> &mut Self {
        if let Some(q) = self.open.pop() {
            if self.pending_start {
                self.out.push_str("/>");
                self.pending_start = false;
            } else {
                let _ = write!(self.out, "</{q}>");
            }
        }
        self
    }

    /// `<qname attrs>text</qname>` in one call.
    pub fn leaf(&mut self, qname: &str, attrs: &[(&str, &str)], text: &str) -> &mut Self {
        self.start(qname, attrs);
        if !text.is_empty() {
            self.text(text);
            self.end();
        } else {
            // An explicit empty pair, as Windows writes empty values (`<cfg:Hostname></cfg:Hostname>`).
            self.close_pending();
            self.open.pop();
            let _ = write!(self.out, "</{qname}>");
        }
        self
    }

    /// Close every open element and return the document.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.end();
        }
        self.out
    }
}
