//! WQL (and CQL, whose simple `SELECT` is the same language) as WinRM's WMI plugin accepts it in
//! an Enumerate filter: a bounded parser and an evaluator over [`crate::cim::Instance`].
//!
//! The subset: `SELECT * | p1, p2 FROM Class [WHERE cond]`; conditions with `=`, `!=`, `<>`,
//! `<`, `<=`, `>`, `>=` between a property and a literal (either side), `LIKE` with `%`, `_`
//! and `[...]` classes, `IS [NOT] NULL`, `AND`, `OR`, `NOT`, parentheses; literals are strings
//! in either quote style (a doubled quote or a backslash escapes one), integers, reals, `TRUE`,
//! `FALSE`, `NULL`; CIM datetimes are string literals compared as instants. Keywords and
//! strings compare without case, as WMI does. Anything else (ASSOCIATORS OF, REFERENCES OF,
//! ISA, functions) is refused, never guessed at.
//!
//! Bounded: the text, the number of tokens and the nesting depth are capped, so no input makes
//! the parser recurse deeply or allocate without limit; `LIKE` matching takes at most
//! pattern x subject steps (never backtracking over `%` runs), on subjects of bounded length,
//! and evaluation counts its steps in a [`Budget`] the caller can stop.

use std::cmp::Ordering;

use crate::budget::{Budget, Expired};
use crate::cim::{Instance, Value};

mod like;
pub use like::{like, like_within, MAX_LIKE_SUBJECT};

/// Longest query text accepted (bytes).
pub const MAX_QUERY_LEN: usize = 8192;
/// Most tokens in one query.
const MAX_TOKENS: usize = 1024;
/// Deepest nesting of parentheses and NOT.
const MAX_DEPTH: usize = 32;

/// The dialect URIs of WQL and CQL.
pub use crate::ns::dialect;

/// A parsed query.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// `None` for `SELECT *`.
    pub properties: Option<Vec<String>>,
    pub class: String,
    pub condition: Option<Condition>,
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A literal of the query.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Text(String),
    Integer(i128),
    Real(f64),
    Bool(bool),
    Null,
}

/// A WHERE condition.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
    Not(Box<Condition>),
    Compare {
        property: String,
        op: CompareOp,
        literal: Literal,
    },
    IsNull {
        property: String,
        negated: bool,
    },
    Like {
        property: String,
        pattern: String,
        negated: bool,
    },
}

pub use crate::fault::from_errors::QueryError;

fn err<T>(message: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError::new(message))
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(String),
    Symbol(&'static str),
}

fn tokenize(text: &str) -> Result<Vec<Token>, QueryError> {
    if text.len() > MAX_QUERY_LEN {
        return err(format!("the query is longer than {MAX_QUERY_LEN} bytes"));
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if out.len() >= MAX_TOKENS {
            return err("the query has too many tokens");
        }
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric()
                    || chars[i] == '.'
                    || ((chars[i] == '-' || chars[i] == '+') && matches!(chars[i - 1], 'e' | 'E')))
            {
                i += 1;
            }
            out.push(Token::Number(chars[start..i].iter().collect()));
            continue;
        }
        if c == '\'' || c == '"' {
            let quote = c;
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return err("a string literal is not closed"),
                    Some('\\') if chars.get(i + 1).is_some() => {
                        s.push(chars[i + 1]);
                        i += 2;
                    }
                    Some(&q) if q == quote => {
                        if chars.get(i + 1) == Some(&quote) {
                            s.push(quote);
                            i += 2;
                        } else {
                            i += 1;
                            break;
                        }
                    }
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            out.push(Token::Text(s));
            continue;
        }
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        let symbol = match two.as_str() {
            "<=" => Some("<="),
            ">=" => Some(">="),
            "<>" => Some("<>"),
            "!=" => Some("!="),
            _ => None,
        };
        if let Some(s) = symbol {
            out.push(Token::Symbol(s));
            i += 2;
            continue;
        }
        let one = match c {
            '=' => "=",
            '<' => "<",
            '>' => ">",
            '(' => "(",
            ')' => ")",
            ',' => ",",
            '*' => "*",
            '-' => "-",
            _ => return err(format!("unexpected character {c:?}")),
        };
        out.push(Token::Symbol(one));
        i += 1;
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

const RESERVED: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IS",
    "NULL",
    "LIKE",
    "TRUE",
    "FALSE",
    "ISA",
    "ASSOCIATORS",
    "REFERENCES",
    "OF",
];

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&mut self, k: &str) -> bool {
        match self.peek() {
            Some(Token::Word(w)) if w.eq_ignore_ascii_case(k) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    fn expect_keyword(&mut self, k: &str) -> Result<(), QueryError> {
        if self.keyword(k) {
            Ok(())
        } else {
            err(format!("{k} expected"))
        }
    }

    fn symbol(&mut self, s: &str) -> bool {
        if matches!(self.peek(), Some(Token::Symbol(x)) if *x == s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn identifier(&mut self) -> Result<String, QueryError> {
        match self.next() {
            Some(Token::Word(w)) if !RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&w)) => Ok(w),
            Some(Token::Word(w)) => err(format!("{w} is not supported here")),
            _ => err("a name expected"),
        }
    }

    fn query(&mut self) -> Result<Query, QueryError> {
        if !self.keyword("SELECT") {
            return err("only SELECT queries are supported");
        }
        let properties = if self.symbol("*") {
            None
        } else {
            let mut list = vec![self.identifier()?];
            while self.symbol(",") {
                list.push(self.identifier()?);
            }
            Some(list)
        };
        self.expect_keyword("FROM")?;
        let class = self.identifier()?;
        let condition = if self.keyword("WHERE") {
            Some(self.or()?)
        } else {
            None
        };
        if let Some(t) = self.peek() {
            return err(format!("unexpected {t:?} after the query"));
        }
        Ok(Query {
            properties,
            class,
            condition,
        })
    }

    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, QueryError>,
    ) -> Result<T, QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err("the condition is nested too deeply");
        }
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn or(&mut self) -> Result<Condition, QueryError> {
        self.chain("OR", Self::and, Condition::Or)
    }

    fn and(&mut self) -> Result<Condition, QueryError> {
        self.chain("AND", Self::not, Condition::And)
    }

    /// A left-associative chain of `operand`s joined by the keyword `op`: OR binds looser
    /// than AND, AND looser than NOT.
    fn chain(
        &mut self,
        op: &str,
        operand: fn(&mut Self) -> Result<Condition, QueryError>,
        join: fn(Box<Condition>, Box<Condition>) -> Condition,
    ) -> Result<Condition, QueryError> {
        let mut left = operand(self)?;
        while self.keyword(op) {
            let right = operand(self)?;
            left = join(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Condition, QueryError> {
        if self.keyword("NOT") {
            return self.nested(|p| Ok(Condition::Not(Box::new(p.not()?))));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Condition, QueryError> {
        if self.symbol("(") {
            let inner = self.nested(Self::or)?;
            if !self.symbol(")") {
                return err(") expected");
            }
            return Ok(inner);
        }
        // literal op property
        if let Some(literal) = self.literal()? {
            let op = self.compare_op()?;
            let property = self.identifier()?;
            return Ok(compare(property, flip(op), literal));
        }
        let property = self.identifier()?;
        if self.keyword("IS") {
            let negated = self.keyword("NOT");
            self.expect_keyword("NULL")?;
            return Ok(Condition::IsNull { property, negated });
        }
        let negated = self.keyword("NOT");
        if self.keyword("LIKE") {
            return match self.next() {
                Some(Token::Text(pattern)) => Ok(Condition::Like {
                    property,
                    pattern,
                    negated,
                }),
                _ => err("LIKE needs a string pattern"),
            };
        }
        if negated {
            return err("LIKE expected after NOT");
        }
        let op = self.compare_op()?;
        match self.literal()? {
            Some(literal) => Ok(compare(property, op, literal)),
            None => err("a literal expected (comparing two properties is not supported)"),
        }
    }

    fn compare_op(&mut self) -> Result<CompareOp, QueryError> {
        Ok(match self.next() {
            Some(Token::Symbol("=")) => CompareOp::Eq,
            Some(Token::Symbol("!=")) | Some(Token::Symbol("<>")) => CompareOp::Ne,
            Some(Token::Symbol("<")) => CompareOp::Lt,
            Some(Token::Symbol("<=")) => CompareOp::Le,
            Some(Token::Symbol(">")) => CompareOp::Gt,
            Some(Token::Symbol(">=")) => CompareOp::Ge,
            _ => return err("a comparison operator expected"),
        })
    }

    /// A literal at the cursor, consumed; `None` (nothing consumed) when there is none.
    fn literal(&mut self) -> Result<Option<Literal>, QueryError> {
        let start = self.pos;
        let negative = self.symbol("-");
        let lit = match self.peek().cloned() {
            Some(Token::Text(s)) if !negative => Literal::Text(s),
            Some(Token::Number(n)) => number(&n, negative)?,
            Some(Token::Word(w)) if !negative && w.eq_ignore_ascii_case("TRUE") => {
                Literal::Bool(true)
            }
            Some(Token::Word(w)) if !negative && w.eq_ignore_ascii_case("FALSE") => {
                Literal::Bool(false)
            }
            Some(Token::Word(w)) if !negative && w.eq_ignore_ascii_case("NULL") => Literal::Null,
            _ => {
                self.pos = start;
                if negative {
                    return err("a number expected after -");
                }
                return Ok(None);
            }
        };
        self.pos += 1;
        Ok(Some(lit))
    }
}

fn number(text: &str, negative: bool) -> Result<Literal, QueryError> {
    let signed = if negative {
        format!("-{text}")
    } else {
        text.to_owned()
    };
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return match i128::from_str_radix(hex, 16) {
            Ok(v) => Ok(Literal::Integer(if negative { -v } else { v })),
            Err(_) => err(format!("{text} is not a number")),
        };
    }
    if let Ok(v) = signed.parse::<i128>() {
        return Ok(Literal::Integer(v));
    }
    match signed.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Literal::Real(v)),
        _ => err(format!("{text} is not a number")),
    }
}

/// `a op b` written as `b op' a`.
fn flip(op: CompareOp) -> CompareOp {
    match op {
        CompareOp::Lt => CompareOp::Gt,
        CompareOp::Le => CompareOp::Ge,
        CompareOp::Gt => CompareOp::Lt,
        CompareOp::Ge => CompareOp::Le,
        other => other,
    }
}

/// `p = NULL` and `p <> NULL` mean IS [NOT] NULL, as in WMI.
fn compare(property: String, op: CompareOp, literal: Literal) -> Condition {
    match (op, &literal) {
        (CompareOp::Eq, Literal::Null) => Condition::IsNull {
            property,
            negated: false,
        },
        (CompareOp::Ne, Literal::Null) => Condition::IsNull {
            property,
            negated: true,
        },
        _ => Condition::Compare {
            property,
            op,
            literal,
        },
    }
}

/// Parse a WQL or CQL query.
pub fn parse(text: &str) -> Result<Query, QueryError> {
    let tokens = tokenize(text)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    p.query()
}

impl Query {
    /// Whether `instance` satisfies the WHERE clause (true without one). A comparison with a
    /// NULL or missing property is unknown, and unknown is not a match (SQL's three values).
    pub fn matches(&self, instance: &Instance) -> bool {
        self.matches_within(instance, &mut Budget::unlimited()) == Ok(true)
    }

    /// [`Query::matches`], counting its steps in `budget`: `Err(Expired)` when it runs out.
    pub fn matches_within(
        &self,
        instance: &Instance,
        budget: &mut Budget,
    ) -> Result<bool, Expired> {
        match &self.condition {
            None => Ok(true),
            Some(c) => Ok(c.eval(instance, budget)? == Some(true)),
        }
    }

    /// Every property name the query uses (SELECT list and WHERE), for checking them against
    /// the class.
    pub fn property_names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .properties
            .iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if let Some(c) = &self.condition {
            c.collect_names(&mut out);
        }
        out
    }
}

impl Condition {
    fn eval(&self, instance: &Instance, budget: &mut Budget) -> Result<Option<bool>, Expired> {
        budget.spend(1)?;
        Ok(match self {
            Self::And(a, b) => match (a.eval(instance, budget)?, b.eval(instance, budget)?) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Self::Or(a, b) => match (a.eval(instance, budget)?, b.eval(instance, budget)?) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Self::Not(a) => a.eval(instance, budget)?.map(|v| !v),
            Self::IsNull { property, negated } => {
                let null = matches!(instance.get(property), None | Some(Value::Null));
                Some(null != *negated)
            }
            Self::Compare {
                property,
                op,
                literal,
            } => instance.get(property).and_then(|value| {
                let ordering = value.compare(&literal_value(literal)?)?;
                Some(match op {
                    CompareOp::Eq => ordering == Ordering::Equal,
                    CompareOp::Ne => ordering != Ordering::Equal,
                    CompareOp::Lt => ordering == Ordering::Less,
                    CompareOp::Le => ordering != Ordering::Greater,
                    CompareOp::Gt => ordering == Ordering::Greater,
                    CompareOp::Ge => ordering != Ordering::Less,
                })
            }),
            Self::Like {
                property,
                pattern,
                negated,
            } => match instance.get(property) {
                None | Some(Value::Null | Value::Array(_)) => None,
                Some(v) => like_within(&v.to_text(), pattern, budget)?.map(|hit| hit != *negated),
            },
        })
    }

    fn collect_names<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Self::And(a, b) | Self::Or(a, b) => {
                a.collect_names(out);
                b.collect_names(out);
            }
            Self::Not(a) => a.collect_names(out),
            Self::Compare { property, .. }
            | Self::IsNull { property, .. }
            | Self::Like { property, .. } => out.push(property),
        }
    }
}

fn literal_value(l: &Literal) -> Option<Value> {
    Some(match l {
        Literal::Text(s) => Value::Text(s.clone()),
        Literal::Integer(i) => match i64::try_from(*i) {
            Ok(v) => Value::Signed(v),
            Err(_) => Value::Unsigned(u64::try_from(*i).ok()?),
        },
        Literal::Real(r) => Value::Real(*r),
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Null => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cim::CimDateTime;
    use crate::fault::Fault;
    use proptest::prelude::*;

    fn process() -> Instance {
        Instance::new("Win32_Process", "root/cimv2")
            .with_key("Handle", "1100")
            .with("Name", "conhost.exe")
            .with("ProcessId", 1100u32)
            .with("WorkingSetSize", 2_244_608u64)
            .with("ExecutablePath", Value::Null)
            .with(
                "CreationDate",
                CimDateTime::parse("2013-04-29T13:09:06.102138-07:00")
                    .unwrap_or(CimDateTime::utc(0)),
            )
    }

    fn hit(q: &str) -> bool {
        match parse(q) {
            Ok(q) => q.matches(&process()),
            Err(e) => panic!("{q}: {e}"),
        }
    }

    #[test]
    fn the_subset_parses_and_evaluates() {
        for q in [
            "SELECT * FROM Win32_Process",
            "select * from win32_process where name = 'CONHOST.EXE'",
            "SELECT * FROM Win32_Process WHERE Name=\"conhost.exe\"",
            "SELECT * FROM Win32_Process WHERE ProcessId > 1000 AND ProcessId <= 1100",
            "SELECT * FROM Win32_Process WHERE 1000 < ProcessId",
            "SELECT * FROM Win32_Process WHERE ProcessId != 1 OR Name = 'x'",
            "SELECT * FROM Win32_Process WHERE NOT (Name = 'x')",
            "SELECT * FROM Win32_Process WHERE Name LIKE 'con%.ex_'",
            "SELECT * FROM Win32_Process WHERE Name LIKE '[a-c]onhost%'",
            "SELECT * FROM Win32_Process WHERE Name NOT LIKE '[^c]%'",
            "SELECT * FROM Win32_Process WHERE ExecutablePath IS NULL",
            "SELECT * FROM Win32_Process WHERE Name IS NOT NULL",
            "SELECT * FROM Win32_Process WHERE ExecutablePath = NULL",
            "SELECT * FROM Win32_Process WHERE CreationDate > '20130101000000.000000+000'",
            "SELECT * FROM Win32_Process WHERE Name = 'it''s' OR Handle = '1100'",
            "SELECT * FROM Win32_Process WHERE WorkingSetSize = 2.244608e6",
        ] {
            assert!(hit(q), "{q}");
        }
        for q in [
            "SELECT * FROM Win32_Process WHERE ProcessId <> 1100",
            // NULL compares as unknown: neither = nor <> matches it.
            "SELECT * FROM Win32_Process WHERE ExecutablePath = 'x'",
            "SELECT * FROM Win32_Process WHERE ExecutablePath <> 'x'",
        ] {
            assert!(!hit(q), "{q}");
        }
        let q = parse("SELECT Name, Handle FROM Win32_Process").ok();
        assert_eq!(
            q.and_then(|q| q.properties),
            Some(vec!["Name".to_owned(), "Handle".to_owned()])
        );
    }

    #[test]
    fn what_is_not_supported_is_refused() {
        for q in [
            "",
            "DELETE FROM x",
            "SELECT FROM Win32_Process",
            "SELECT * FROM",
            "SELECT * FROM Win32_Process WHERE",
            "SELECT * FROM Win32_Process WHERE Name = Caption",
            "SELECT * FROM Win32_Process WHERE Name = 'x",
            "SELECT * FROM Win32_Process WHERE (Name = 'x'",
            "ASSOCIATORS OF {Win32_Service.Name='x'}",
            "SELECT * FROM Win32_Process WHERE __CLASS ISA 'x'",
            "SELECT * FROM Win32_Process extra",
            "SELECT * FROM Win32_Process WHERE Name LIKE 3",
        ] {
            assert!(parse(q).is_err(), "{q}");
        }
        let deep = format!(
            "SELECT * FROM C WHERE {}A = 1{}",
            "(".repeat(100),
            ")".repeat(100)
        );
        assert!(parse(&deep).is_err());
        let nots = format!("SELECT * FROM C WHERE {} A = 1", "NOT ".repeat(100));
        assert!(parse(&nots).is_err());
        assert!(parse(&"a ".repeat(5000)).is_err());
    }

    /// A budget that runs out stops the evaluation of a condition mid-LIKE.
    #[test]
    fn an_expired_budget_stops_the_evaluation() {
        let query = parse(&format!(
            "SELECT * FROM Win32_Process WHERE Name LIKE '{}c%'",
            "%a".repeat(100)
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let named = |name: String| Instance::new("Win32_Process", "root/cimv2").with("Name", name);
        let instance = named("a".repeat(10_000));
        let expired = || true;
        let mut budget = Budget::checked_by(&expired);
        assert_eq!(query.matches_within(&instance, &mut budget), Err(Expired));
        assert!(!query.matches(&instance));
        // Past the subject bound the condition is unknown: neither LIKE nor NOT LIKE.
        let long = named("a".repeat(MAX_LIKE_SUBJECT + 1));
        assert!(!hit_on(
            &long,
            "SELECT * FROM Win32_Process WHERE Name LIKE '%'"
        ));
        assert!(!hit_on(
            &long,
            "SELECT * FROM Win32_Process WHERE Name NOT LIKE '%'"
        ));
    }

    fn hit_on(instance: &Instance, q: &str) -> bool {
        parse(q).is_ok_and(|q| q.matches(instance))
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn generated_queries_parse(
            prop in "[A-Za-z][A-Za-z0-9_]{0,10}",
            n in any::<i64>(),
            s in "[a-z ']{0,10}",
        ) {
            let quoted = s.replace('\'', "''");
            let q = format!("SELECT * FROM C WHERE {prop}_ > {n} OR {prop}_ = '{quoted}'");
            let parsed = parse(&q);
            prop_assert!(parsed.is_ok(), "{}: {:?}", q, parsed);
        }
    }

    /// The one row of `QueryError` (listed as a home of the errors table's architecture
    /// check): a query the data source cannot process is the fault Windows sent for a WQL
    /// Enumerate it could not answer (recording `fault.enumerate-class-not-found.xml`).
    #[test]
    fn a_refused_query_is_the_recorded_cannot_process_filter() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/windows/faults/fault.enumerate-class-not-found.xml"
        );
        let recorded = std::fs::read_to_string(path).unwrap_or_default();
        let fault = Fault::from(parse("SELECT FROM").unwrap_err());
        assert_eq!(fault.code.qname(), "s:Sender");
        let subcode = fault.subcode.map(|s| s.qname()).unwrap_or_default();
        for part in [
            "<s:Value>s:Sender</s:Value>".to_owned(),
            format!("<s:Value>{subcode}</s:Value>"),
            format!("Code=\"{}\"", fault.wsman_code),
        ] {
            assert!(recorded.contains(&part), "{part} not in the recording");
        }
    }
}
