//! The tree [`super::parse`] builds from the reports of one pass over a document.

use std::borrow::Cow;

use super::{Attribute, Element, Node, Visitor};

/// Builds the tree [`super::parse`] returns.
pub(super) struct TreeBuilder {
    stack: Vec<Element>,
    pub(super) root: Option<Element>,
    /// The attributes of the element about to start.
    pending: Vec<Attribute>,
}

impl TreeBuilder {
    pub(super) fn new() -> Self {
        Self {
            // Envelopes nest a few levels deep: start with room for them.
            stack: Vec::with_capacity(8),
            root: None,
            pending: Vec::new(),
        }
    }

    fn attach(&mut self, done: Element) {
        match self.stack.last_mut() {
            Some(parent) => parent.children.push(Node::Element(done)),
            None => self.root = Some(done),
        }
    }
}

impl Visitor for TreeBuilder {
    fn attribute(&mut self, ns: Option<&str>, name: &str, value: Cow<'_, str>) {
        self.pending.push(Attribute {
            ns: ns.map(str::to_owned),
            name: name.to_owned(),
            value: value.into_owned(),
        });
    }

    fn start(&mut self, ns: Option<&str>, name: &str, prefix: Option<&str>, empty: bool) {
        let element = Element {
            ns: ns.map(str::to_owned),
            name: name.to_owned(),
            prefix: prefix.map(str::to_owned),
            attributes: std::mem::take(&mut self.pending),
            children: Vec::new(),
        };
        if empty {
            self.attach(element);
        } else {
            self.stack.push(element);
        }
    }

    fn end(&mut self) {
        if let Some(done) = self.stack.pop() {
            self.attach(done);
        }
    }

    fn text(&mut self, text: Cow<'_, str>) {
        if let Some(parent) = self.stack.last_mut() {
            if let Some(Node::Text(prev)) = parent.children.last_mut() {
                prev.push_str(&text);
            } else {
                // Owned text (CDATA, unescaped text) is moved into the tree, not copied again.
                parent.children.push(Node::Text(text.into_owned()));
            }
        }
    }
}
