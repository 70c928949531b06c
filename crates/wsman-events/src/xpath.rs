//! The XPath subset of Windows event queries: what `Select` and `Suppress` elements of a
//! `QueryList` carry, and what `wevtutil qe /q:` takes.
//!
//! Supported, as Windows documents for event queries: the selectors `*` and `Event` with
//! predicates, joined by `and`/`or`; inside predicates child steps by name (`System`,
//! `EventData/Data`), attributes (`@Name`), nested predicates (`Provider[@Name='sshd']`),
//! `and`, `or`, `not()`, parentheses, the comparisons `= != < <= > >=` against numbers
//! (decimal or `0x` hex) and strings in either quote, existence tests, and the functions
//! `timediff(@SystemTime)` (milliseconds before now) and `band(path, mask)` (bitwise and).
//! Anything else is refused with the position and what was not understood: a query is
//! untrusted input, so it is bounded in length, nesting and size as well.
//!
//! Evaluation is on an element tree ([`wsman_proto::xml::Element`]) and takes "now" as an
//! argument: no clock here.

use wsman_proto::budget::{Budget, Expired};
// The comparison operators: the same six as WQL's.
use wsman_proto::wql::CompareOp as Op;
use wsman_proto::xml::Element;

use crate::time::Timestamp;

/// Bounds on a query.
pub const MAX_QUERY_BYTES: usize = 32 * 1024;
pub const MAX_DEPTH: usize = 32;
pub const MAX_NODES: usize = 2048;

/// Why a query was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event query not supported at byte {position}: {reason}")]
pub struct QueryError {
    pub position: usize,
    pub reason: String,
}

/// A parsed query.
#[derive(Clone, Debug, PartialEq)]
pub struct XPath {
    top: Top,
}

#[derive(Clone, Debug, PartialEq)]
enum Top {
    Or(Vec<Top>),
    And(Vec<Top>),
    /// `*` or `Event` (None: any root name) with its predicates.
    Selector {
        root: Option<String>,
        predicates: Vec<Expr>,
    },
}

#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    /// True when the operand selects something (a path) or is non-zero (`band`).
    Test(Operand),
    Compare(Operand, Op, Literal),
}

#[derive(Clone, Debug, PartialEq)]
enum Operand {
    Path(Path),
    TimeDiff(Path),
    Band(Path, u64),
}

#[derive(Clone, Debug, PartialEq)]
struct Path {
    steps: Vec<Step>,
    attribute: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
struct Step {
    name: String,
    predicates: Vec<Expr>,
}

#[derive(Clone, Debug, PartialEq)]
enum Literal {
    Number(f64),
    Text(String),
}

impl XPath {
    /// Parse a query.
    pub fn parse(text: &str) -> Result<XPath, QueryError> {
        if text.len() > MAX_QUERY_BYTES {
            return Err(QueryError {
                position: MAX_QUERY_BYTES,
                reason: format!("longer than {MAX_QUERY_BYTES} bytes"),
            });
        }
        let tokens = tokenize(text)?;
        let mut parser = Parser {
            tokens,
            at: 0,
            depth: 0,
            nodes: 0,
            end: text.len(),
        };
        let top = parser.top()?;
        if let Some((position, token)) = parser.tokens.get(parser.at) {
            return Err(QueryError {
                position: *position,
                reason: format!("unexpected {token:?} after the query"),
            });
        }
        Ok(XPath { top })
    }

    /// Whether this selects every event whatever it holds (`*` or `Event`, no predicate):
    /// then nothing of the event is looked at, and a caller need not build its tree.
    pub fn selects_every_event(&self) -> bool {
        matches!(&self.top, Top::Selector { root, predicates }
            if predicates.is_empty() && root.as_deref().is_none_or(|name| name == "Event"))
    }

    /// Whether `event` (the `Event` element) is selected, at time `now`.
    pub fn matches(&self, event: &Element, now: Timestamp) -> bool {
        // An unlimited budget never runs out.
        self.matches_within(event, now, &mut Budget::unlimited())
            .unwrap_or(false)
    }

    /// [`matches`](Self::matches), counting a step per element visited and per value compared
    /// in `budget`: a large query over a large event stops when the caller's check says so.
    pub fn matches_within(
        &self,
        event: &Element,
        now: Timestamp,
        budget: &mut Budget,
    ) -> Result<bool, Expired> {
        eval_top(&self.top, event, now, budget)
    }
}

/// `any` over fallible tests, stopping at the first true one or error.
fn any_of<T>(
    items: impl IntoIterator<Item = T>,
    mut test: impl FnMut(T) -> Result<bool, Expired>,
) -> Result<bool, Expired> {
    for item in items {
        if test(item)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `all` over fallible tests, stopping at the first false one or error.
fn all_of<T>(
    items: impl IntoIterator<Item = T>,
    mut test: impl FnMut(T) -> Result<bool, Expired>,
) -> Result<bool, Expired> {
    for item in items {
        if !test(item)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn eval_top(
    top: &Top,
    event: &Element,
    now: Timestamp,
    budget: &mut Budget,
) -> Result<bool, Expired> {
    budget.spend(1)?;
    match top {
        Top::Or(terms) => any_of(terms, |t| eval_top(t, event, now, budget)),
        Top::And(terms) => all_of(terms, |t| eval_top(t, event, now, budget)),
        Top::Selector { root, predicates } => {
            if root.as_deref().is_some_and(|name| name != event.name) {
                return Ok(false);
            }
            all_of(predicates, |p| eval(p, event, now, budget))
        }
    }
}

fn eval(
    expr: &Expr,
    context: &Element,
    now: Timestamp,
    budget: &mut Budget,
) -> Result<bool, Expired> {
    budget.spend(1)?;
    Ok(match expr {
        Expr::Or(terms) => any_of(terms, |t| eval(t, context, now, budget))?,
        Expr::And(terms) => all_of(terms, |t| eval(t, context, now, budget))?,
        Expr::Not(inner) => !eval(inner, context, now, budget)?,
        Expr::Test(operand) => {
            let values = operand_values(operand, context, now, budget)?;
            match operand {
                Operand::Path(_) => !values.is_empty(),
                Operand::TimeDiff(_) => time_diffs(values, now).next().is_some(),
                Operand::Band(_, mask) => numbers(values).any(|v| v & mask != 0),
            }
        }
        Expr::Compare(operand, op, literal) => {
            let values = operand_values(operand, context, now, budget)?;
            // Comparing costs about the length of what is compared.
            let compared: usize = values.iter().map(String::len).sum();
            budget.spend(compared as u64 / 64)?;
            match operand {
                Operand::Path(_) => values.iter().any(|value| compare_text(value, *op, literal)),
                Operand::TimeDiff(_) => {
                    time_diffs(values, now).any(|ms| compare_number(ms as f64, *op, literal))
                }
                Operand::Band(_, mask) => {
                    numbers(values).any(|v| compare_number((v & mask) as f64, *op, literal))
                }
            }
        }
    })
}

/// The string values the path of `operand` selects from `context`.
fn operand_values(
    operand: &Operand,
    context: &Element,
    now: Timestamp,
    budget: &mut Budget,
) -> Result<Vec<String>, Expired> {
    match operand {
        Operand::Path(path) | Operand::TimeDiff(path) | Operand::Band(path, _) => {
            select(path, context, now, budget)
        }
    }
}

/// The string values a path selects from `context`.
fn select(
    path: &Path,
    context: &Element,
    now: Timestamp,
    budget: &mut Budget,
) -> Result<Vec<String>, Expired> {
    let mut nodes = vec![context];
    for step in &path.steps {
        let mut next = Vec::new();
        for node in nodes {
            for child in node.elements() {
                budget.spend(1)?;
                if (step.name == "*" || child.name == step.name)
                    && all_of(&step.predicates, |p| eval(p, child, now, budget))?
                {
                    next.push(child);
                }
            }
        }
        nodes = next;
    }
    Ok(match &path.attribute {
        Some(attribute) => nodes
            .iter()
            .filter_map(|n| n.attr(attribute).map(str::to_owned))
            .collect(),
        None if path.steps.is_empty() => Vec::new(),
        None => nodes.iter().map(|n| n.trimmed_text()).collect(),
    })
}

fn time_diffs(values: Vec<String>, now: Timestamp) -> impl Iterator<Item = i64> {
    values
        .into_iter()
        .filter_map(|v| Timestamp::parse_system_time(&v))
        .map(move |t| (now.unix_micros() - t.unix_micros()) / 1000)
}

fn numbers(values: Vec<String>) -> impl Iterator<Item = u64> {
    values.into_iter().filter_map(|v| parse_unsigned(&v))
}

fn parse_unsigned(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

fn parse_number(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.starts_with("0x") || text.starts_with("0X") {
        return parse_unsigned(text).map(|v| v as f64);
    }
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn compare_text(value: &str, op: Op, literal: &Literal) -> bool {
    match literal {
        Literal::Number(n) => parse_number(value).is_some_and(|v| apply(v, op, *n)),
        Literal::Text(text) => match op {
            Op::Eq => value == text,
            Op::Ne => value != text,
            // XPath 1.0 compares these as numbers.
            _ => match (parse_number(value), parse_number(text)) {
                (Some(a), Some(b)) => apply(a, op, b),
                _ => false,
            },
        },
    }
}

fn compare_number(value: f64, op: Op, literal: &Literal) -> bool {
    match literal {
        Literal::Number(n) => apply(value, op, *n),
        Literal::Text(text) => parse_number(text).is_some_and(|n| apply(value, op, n)),
    }
}

fn apply(a: f64, op: Op, b: f64) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Star,
    Open,
    Close,
    OpenParen,
    CloseParen,
    Slash,
    At,
    Comma,
    Op(Op),
    Name(String),
    Text(String),
    Number(f64),
}

fn tokenize(text: &str) -> Result<Vec<(usize, Token)>, QueryError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = bytes[i];
        let token = match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'*' => Token::Star,
            b'[' => Token::Open,
            b']' => Token::Close,
            b'(' => Token::OpenParen,
            b')' => Token::CloseParen,
            b'/' => Token::Slash,
            b'@' => Token::At,
            b',' => Token::Comma,
            b'=' => Token::Op(Op::Eq),
            b'!' if bytes.get(i + 1) == Some(&b'=') => {
                i += 1;
                Token::Op(Op::Ne)
            }
            b'<' | b'>' => {
                let equal = bytes.get(i + 1) == Some(&b'=');
                if equal {
                    i += 1;
                }
                Token::Op(match (c, equal) {
                    (b'<', false) => Op::Lt,
                    (b'<', true) => Op::Le,
                    (_, false) => Op::Gt,
                    _ => Op::Ge,
                })
            }
            b'\'' | b'"' => {
                let close =
                    bytes[i + 1..]
                        .iter()
                        .position(|&b| b == c)
                        .ok_or_else(|| QueryError {
                            position: start,
                            reason: "unterminated string".to_owned(),
                        })?;
                let literal = &text[i + 1..i + 1 + close];
                i += close + 1;
                Token::Text(literal.to_owned())
            }
            b'0'..=b'9' | b'-' | b'.'
                if c != b'-' || bytes.get(i + 1).is_some_and(u8::is_ascii_digit) =>
            {
                let mut end = i + 1;
                let hex = c == b'0' && matches!(bytes.get(i + 1), Some(b'x' | b'X'));
                if hex {
                    end = i + 2;
                }
                while end < bytes.len()
                    && (bytes[end].is_ascii_digit()
                        || bytes[end] == b'.'
                        || (hex && bytes[end].is_ascii_hexdigit()))
                {
                    end += 1;
                }
                let literal = &text[i..end];
                let value = parse_number(literal).ok_or_else(|| QueryError {
                    position: start,
                    reason: format!("not a number: {literal:?}"),
                })?;
                i = end - 1;
                Token::Number(value)
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let mut end = i + 1;
                while end < bytes.len()
                    && (bytes[end].is_ascii_alphanumeric()
                        || matches!(bytes[end], b'_' | b'-' | b'.'))
                {
                    end += 1;
                }
                let name = &text[i..end];
                i = end - 1;
                Token::Name(name.to_owned())
            }
            _ => {
                return Err(QueryError {
                    position: start,
                    reason: format!(
                        "unexpected character {:?}",
                        text[start..].chars().next().unwrap_or('?')
                    ),
                })
            }
        };
        tokens.push((start, token));
        i += 1;
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(usize, Token)>,
    at: usize,
    depth: usize,
    nodes: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(_, t)| t)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.at).map_or(self.end, |(p, _)| *p)
    }

    fn error<T>(&self, reason: impl Into<String>) -> Result<T, QueryError> {
        Err(QueryError {
            position: self.position(),
            reason: reason.into(),
        })
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).map(|(_, t)| t.clone());
        self.at += 1;
        token
    }

    fn expect(&mut self, wanted: &Token, what: &str) -> Result<(), QueryError> {
        if self.peek() == Some(wanted) {
            self.at += 1;
            Ok(())
        } else {
            self.error(format!("expected {what}"))
        }
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Name(n)) if n == keyword)
    }

    /// Count a node and a nesting level; refuse past the bounds.
    fn enter(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        self.nodes += 1;
        if self.depth > MAX_DEPTH {
            return self.error(format!("nested deeper than {MAX_DEPTH}"));
        }
        if self.nodes > MAX_NODES {
            return self.error(format!("more than {MAX_NODES} terms"));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// `term`s joined by `or` and `and` (`and` binding tighter), for queries and predicates
    /// alike: a lone term as it is, more joined by `or` and `and`.
    fn disjunction<T>(
        &mut self,
        term: fn(&mut Self) -> Result<T, QueryError>,
        or: fn(Vec<T>) -> T,
        and: fn(Vec<T>) -> T,
    ) -> Result<T, QueryError> {
        self.enter()?;
        let joined = self.joined("or", |parser| parser.joined("and", term, and), or)?;
        self.leave();
        Ok(joined)
    }

    /// Terms separated by `keyword`: a lone term as it is, more joined by `join`.
    fn joined<T>(
        &mut self,
        keyword: &str,
        term: impl Fn(&mut Self) -> Result<T, QueryError>,
        join: fn(Vec<T>) -> T,
    ) -> Result<T, QueryError> {
        let mut terms = vec![term(self)?];
        while self.is_keyword(keyword) {
            self.at += 1;
            terms.push(term(self)?);
        }
        Ok(if terms.len() == 1 {
            terms.remove(0)
        } else {
            join(terms)
        })
    }

    fn top(&mut self) -> Result<Top, QueryError> {
        self.disjunction(Self::top_term, Top::Or, Top::And)
    }

    fn top_term(&mut self) -> Result<Top, QueryError> {
        match self.next() {
            Some(Token::OpenParen) => {
                let inner = self.top()?;
                self.expect(&Token::CloseParen, "')'")?;
                Ok(inner)
            }
            Some(Token::Star) => Ok(Top::Selector {
                root: None,
                predicates: self.predicates()?,
            }),
            Some(Token::Name(name)) if name == "Event" => Ok(Top::Selector {
                root: Some(name),
                predicates: self.predicates()?,
            }),
            _ => {
                self.at = self.at.saturating_sub(1);
                self.error("a query starts with '*' or 'Event'")
            }
        }
    }

    fn predicates(&mut self) -> Result<Vec<Expr>, QueryError> {
        let mut predicates = Vec::new();
        while self.peek() == Some(&Token::Open) {
            self.at += 1;
            predicates.push(self.or()?);
            self.expect(&Token::Close, "']'")?;
        }
        Ok(predicates)
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        self.disjunction(Self::unary, Expr::Or, Expr::And)
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        self.enter()?;
        let result = self.unary_inner();
        self.leave();
        result
    }

    fn unary_inner(&mut self) -> Result<Expr, QueryError> {
        if self.is_keyword("not")
            && self.tokens.get(self.at + 1).map(|(_, t)| t) == Some(&Token::OpenParen)
        {
            self.at += 2;
            let inner = self.or()?;
            self.expect(&Token::CloseParen, "')'")?;
            return Ok(Expr::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Token::OpenParen) {
            self.at += 1;
            let inner = self.or()?;
            self.expect(&Token::CloseParen, "')'")?;
            return Ok(inner);
        }
        let operand = self.operand()?;
        let op = match self.peek() {
            Some(Token::Op(op)) => *op,
            _ => return Ok(Expr::Test(operand)),
        };
        self.at += 1;
        let literal = match self.next() {
            Some(Token::Number(n)) => Literal::Number(n),
            Some(Token::Text(t)) => Literal::Text(t),
            _ => {
                self.at = self.at.saturating_sub(1);
                return self.error("a comparison needs a number or a quoted string");
            }
        };
        Ok(Expr::Compare(operand, op, literal))
    }

    fn operand(&mut self) -> Result<Operand, QueryError> {
        let function = match (self.peek(), self.tokens.get(self.at + 1).map(|(_, t)| t)) {
            (Some(Token::Name(name)), Some(Token::OpenParen)) => Some(name.clone()),
            _ => None,
        };
        match function.as_deref() {
            Some("timediff") => {
                self.at += 2;
                let path = self.path()?;
                self.expect(&Token::CloseParen, "')' after timediff's argument")?;
                Ok(Operand::TimeDiff(path))
            }
            Some("band") => {
                self.at += 2;
                let path = self.path()?;
                self.expect(&Token::Comma, "',' in band()")?;
                let mask = match self.next() {
                    Some(Token::Number(n))
                        if n >= 0.0 && n.fract() == 0.0 && n <= u64::MAX as f64 =>
                    {
                        n as u64
                    }
                    _ => {
                        self.at = self.at.saturating_sub(1);
                        return self.error("band() takes a non-negative whole number mask");
                    }
                };
                self.expect(&Token::CloseParen, "')' after band's arguments")?;
                Ok(Operand::Band(path, mask))
            }
            Some(other) => self.error(format!("function {other}() is not supported")),
            None => Ok(Operand::Path(self.path()?)),
        }
    }

    fn path(&mut self) -> Result<Path, QueryError> {
        let mut steps = Vec::new();
        loop {
            match self.next() {
                Some(Token::At) => match self.next() {
                    Some(Token::Name(name)) => {
                        return Ok(Path {
                            steps,
                            attribute: Some(name),
                        })
                    }
                    _ => {
                        self.at = self.at.saturating_sub(1);
                        return self.error("expected an attribute name after '@'");
                    }
                },
                Some(Token::Name(name)) => {
                    self.enter()?;
                    let predicates = self.predicates();
                    self.leave();
                    steps.push(Step {
                        name,
                        predicates: predicates?,
                    });
                }
                Some(Token::Star) => {
                    let predicates = self.predicates()?;
                    steps.push(Step {
                        name: "*".to_owned(),
                        predicates,
                    });
                }
                _ => {
                    self.at = self.at.saturating_sub(1);
                    return self.error("expected an element name, '@attribute' or '('");
                }
            }
            if self.peek() == Some(&Token::Slash) {
                self.at += 1;
            } else {
                return Ok(Path {
                    steps,
                    attribute: None,
                });
            }
        }
    }
}
