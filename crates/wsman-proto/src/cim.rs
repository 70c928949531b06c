//! The one instance model of every CIM/WMI class, and its one rendering.
//!
//! A provider builds [`Instance`]s (class, typed properties, key names); everything the
//! protocol does with them is written once on this model: the XML of an instance as Windows'
//! WMI plugin writes it, selectors and EPRs from the keys, `SELECT a,b` fragments, and the
//! values WQL compares (see [`crate::wql`]).

use std::cmp::Ordering;
use std::fmt::Write as _;

use crate::operation::WMI_PREFIX;

mod method_input;
use crate::xml::{escape_attr, escape_text};
pub use method_input::MethodInput;

/// `cim:` (common CIM types: Datetime, Interval).
pub const CIM_COMMON: &str = crate::ns::WSCIM_COMMON;

/// `xsi:` (`xsi:nil`, `xsi:type`).
const XSI: &str = crate::ns::XSI;

/// A CIM datetime: an instant with the UTC offset it is shown in, or an interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CimDateTime {
    /// Microseconds since 1970-01-01T00:00:00Z, shown at `offset_minutes` east of UTC.
    Instant { micros: i64, offset_minutes: i16 },
    /// A duration in microseconds (`cim:Interval`).
    Interval { micros: u64 },
}

/// One property value. Arrays hold scalars only (CIM has no nested arrays).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Signed(i64),
    Unsigned(u64),
    Real(f64),
    Text(String),
    DateTime(CimDateTime),
    /// A reference to another instance (an EPR).
    Reference(Reference),
    /// An embedded instance (CIM's `EmbeddedInstance` qualifier: a method's output of
    /// instances, MSFT_WUOperations.ScanForUpdates' Updates).
    Instance(Box<Instance>),
    Array(Vec<Value>),
}

/// An instance reference: the class URI and the key selectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    pub resource_uri: String,
    pub selectors: Vec<(String, String)>,
}

/// One instance of a class.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// The class name as Windows spells it (`Win32_Process`).
    pub class: String,
    /// `root/cimv2`.
    pub namespace: String,
    /// Properties in the order they are rendered (Windows: alphabetical).
    pub properties: Vec<(String, Value)>,
    /// Names of the key properties (the selectors that address the instance).
    pub keys: Vec<String>,
    /// The class's array properties (from its declaration, [`Instance::with_arrays`]): one of
    /// them that is Null is left out of every rendering, as Windows leaves a NULL array out,
    /// where a Null scalar is `xsi:nil`. The model keeps the Null (WQL's `IS NULL` holds).
    pub arrays: &'static [&'static str],
}

impl Instance {
    pub fn new(class: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            class: class.into(),
            namespace: namespace.into(),
            properties: Vec::new(),
            keys: Vec::new(),
            arrays: &[],
        }
    }

    /// Builder: the class's array properties, whose Null is left out when rendered.
    pub fn with_arrays(mut self, arrays: &'static [&'static str]) -> Self {
        self.arrays = arrays;
        self
    }

    /// Whether `name`'s `value` is rendered: everything but a Null array.
    fn is_rendered(&self, name: &str, value: &Value) -> bool {
        !(matches!(value, Value::Null) && self.arrays.iter().any(|a| a.eq_ignore_ascii_case(name)))
    }

    /// Builder: add a property.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.properties.push((name.into(), value.into()));
        self
    }

    /// Builder: add a key property.
    pub fn with_key(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        let name = name.into();
        self.keys.push(name.clone());
        self.properties.push((name, value.into()));
        self
    }

    /// Sort the properties by name without case, as WMI renders them.
    pub fn sorted(mut self) -> Self {
        self.properties.sort_by(|a, b| cmp_ci(&a.0, &b.0));
        self
    }

    /// Every property of `declared` that the instance lacks, added as Null, so that the
    /// instance carries every property of its class as Windows' WMI renders it (`xsi:nil`
    /// where a scalar has no value, nothing for a NULL array: see [`Instance::arrays`]); then
    /// in WMI's order when anything was added.
    pub fn completed<'a>(mut self, declared: impl IntoIterator<Item = &'a str>) -> Self {
        let before = self.properties.len();
        for name in declared {
            if !self.properties[..before]
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
            {
                self.properties.push((name.to_owned(), Value::Null));
            }
        }
        if self.properties.len() > before {
            self = self.sorted();
        }
        self
    }

    /// The value of property `name` (any case); `None` when the class has no such property.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.properties
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The WMI resource URI of this instance's class.
    pub fn resource_uri(&self) -> String {
        class_uri(&self.namespace, &self.class)
    }

    /// The key selectors (name, text value).
    pub fn selectors(&self) -> Vec<(String, String)> {
        self.keys
            .iter()
            .map(|k| {
                (
                    k.clone(),
                    self.get(k).map(Value::to_text).unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Whether the instance matches every selector of `selectors` (names and text values
    /// without case, as WMI compares key strings).
    pub fn matches_selectors<'a>(
        &self,
        mut selectors: impl Iterator<Item = (&'a str, &'a str)>,
    ) -> bool {
        selectors.all(|(name, want)| {
            self.get(name)
                .is_some_and(|v| v.to_text().eq_ignore_ascii_case(want.trim()))
        })
    }

    /// The instance as Windows' WMI plugin writes it, in the namespace of `class_uri`.
    pub fn to_xml(&self, class_uri: &str) -> String {
        self.render(class_uri, &self.class, None)
    }

    /// A method's output (`<Method>_OUTPUT`) or input element named `element`.
    pub fn render(&self, class_uri: &str, element: &str, only: Option<&[String]>) -> String {
        let mut out = String::with_capacity(256 + 48 * self.properties.len());
        let _ = write!(
            out,
            "<p:{element} xmlns:p=\"{}\" xmlns:cim=\"{CIM_COMMON}\" xmlns:xsi=\"{XSI}\"",
            escape_text(class_uri)
        );
        // An instance names its type; a method's output does not (the recorded Windows answers
        // of CIM_DataFile.Delete and StdRegProv.EnumKey).
        if element == self.class && !element.ends_with("_OUTPUT") {
            let _ = write!(out, " xsi:type=\"p:{element}_Type\"");
        }
        out.push('>');
        for (name, value) in &self.properties {
            if only.is_some_and(|o| !o.iter().any(|n| n.eq_ignore_ascii_case(name)))
                || !self.is_rendered(name, value)
            {
                continue;
            }
            render_property(&mut out, "p", name, value);
        }
        let _ = write!(out, "</p:{element}>");
        out
    }

    /// `SELECT a,b`: a `w:XmlFragment` item with the selected properties only, in the
    /// instance's order (WMI's), not the query's, as a recorded Windows Server 2012 answers a
    /// query listing its properties in any order. Its properties are unqualified, a datetime's
    /// `Datetime` child too (as recorded: the fragment is no instance of a class schema). The
    /// fragment declares `xsi` when a property is nil (the envelope does not).
    pub fn to_fragment(&self, properties: &[String]) -> String {
        let selected: Vec<&(String, Value)> = self
            .properties
            .iter()
            .filter(|(name, value)| {
                properties
                    .iter()
                    .any(|want| want.eq_ignore_ascii_case(name))
                    && self.is_rendered(name, value)
            })
            .collect();
        let mut out = String::from("<w:XmlFragment");
        if selected.iter().any(|(_, v)| v.uses_xsi()) {
            let _ = write!(out, " xmlns:xsi=\"{XSI}\"");
        }
        out.push('>');
        for (name, value) in selected {
            render_property(&mut out, "", name, value);
        }
        out.push_str("</w:XmlFragment>");
        out
    }
}

/// `http://schemas.microsoft.com/wbem/wsman/1/wmi/<namespace>/<Class>`.
pub fn class_uri(namespace: &str, class: &str) -> String {
    format!("{WMI_PREFIX}{namespace}/{class}")
}

/// One property element; arrays are the element repeated, as Windows writes them. Written
/// straight into `out` (no string per tag or value): an enumeration renders tens of
/// properties for each of thousands of instances.
fn render_property(out: &mut String, prefix: &str, name: &str, value: &Value) {
    let open = |out: &mut String| {
        out.push('<');
        push_tag(out, prefix, name);
    };
    let close = |out: &mut String| {
        out.push_str("</");
        push_tag(out, prefix, name);
        out.push('>');
    };
    match value {
        Value::Null => {
            open(out);
            out.push_str(" xsi:nil=\"true\"/>");
        }
        // An empty array is left out, as Windows writes it (it is no Null).
        Value::Array(items) => {
            for item in items {
                render_property(out, prefix, name, item);
            }
        }
        Value::DateTime(d) => {
            let element = match d {
                CimDateTime::Instant { .. } => "Datetime",
                CimDateTime::Interval { .. } => "Interval",
            };
            // In an instance `cim:Datetime`; in a fragment (no prefix) unqualified, as Windows
            // writes it there.
            let cim = if prefix.is_empty() { "" } else { "cim:" };
            open(out);
            let _ = write!(out, "><{cim}{element}>{}</{cim}{element}>", d.to_xs());
            close(out);
        }
        Value::Reference(r) => {
            open(out);
            out.push('>');
            out.push_str(&reference_body(r));
            close(out);
        }
        // DSP0230's shape: the property's element typed as the embedded class, its properties
        // as children in that class's namespace.
        Value::Instance(inner) => {
            let class_uri = inner.resource_uri();
            let inner_prefix = if prefix == "q" { "q2" } else { "q" };
            open(out);
            let _ = write!(
                out,
                " xmlns:{inner_prefix}=\"{}\" xsi:type=\"{inner_prefix}:{}_Type\">",
                escape_attr(&class_uri),
                escape_attr(&inner.class)
            );
            for (name, value) in &inner.properties {
                if inner.is_rendered(name, value) {
                    render_property(out, inner_prefix, name, value);
                }
            }
            close(out);
        }
        scalar => {
            open(out);
            out.push('>');
            match scalar {
                Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Value::Signed(v) => {
                    let _ = write!(out, "{v}");
                }
                Value::Unsigned(v) => {
                    let _ = write!(out, "{v}");
                }
                Value::Text(t) => out.push_str(&escape_text(t)),
                other => out.push_str(&escape_text(&other.to_text())),
            }
            close(out);
        }
    }
}

fn push_tag(out: &mut String, prefix: &str, name: &str) {
    if !prefix.is_empty() {
        out.push_str(prefix);
        out.push(':');
    }
    out.push_str(name);
}

/// The content of a reference property: address, ResourceURI and SelectorSet.
fn reference_body(r: &Reference) -> String {
    let mut out = format!(
        "<a:Address xmlns:a=\"{a}\">{anonymous}</a:Address>\
         <a:ReferenceParameters xmlns:a=\"{a}\" xmlns:w=\"{w}\"><w:ResourceURI>",
        a = crate::ns::ADDRESSING,
        anonymous = crate::ns::ANONYMOUS,
        w = crate::ns::WSMAN,
    );
    out.push_str(&escape_text(&r.resource_uri));
    out.push_str("</w:ResourceURI><w:SelectorSet>");
    for (n, v) in &r.selectors {
        let _ = write!(
            out,
            "<w:Selector Name=\"{}\">{}</w:Selector>",
            escape_text(n),
            escape_text(v)
        );
    }
    out.push_str("</w:SelectorSet></a:ReferenceParameters>");
    out
}

impl Value {
    /// Whether the rendered value uses `xsi:` (which its container must then declare).
    fn uses_xsi(&self) -> bool {
        match self {
            Self::Null | Self::Instance(_) => true,
            Self::Array(items) => items.iter().any(Value::uses_xsi),
            _ => false,
        }
    }

    /// The text a selector or an XML element carries.
    pub fn to_text(&self) -> String {
        match self {
            Self::Null => String::new(),
            Self::Bool(b) => if *b { "true" } else { "false" }.to_owned(),
            Self::Signed(v) => v.to_string(),
            Self::Unsigned(v) => v.to_string(),
            Self::Real(v) => {
                if v.is_finite() {
                    v.to_string()
                } else {
                    "NaN".to_owned()
                }
            }
            Self::Text(s) => s.clone(),
            Self::DateTime(d) => d.to_xs(),
            Self::Reference(r) => r.resource_uri.clone(),
            Self::Instance(i) => i.class.clone(),
            Self::Array(items) => items
                .iter()
                .map(Value::to_text)
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// Order of two values as WQL compares them: numbers numerically (across signedness),
    /// strings without case, datetimes by instant; `None` when not comparable (NULL, arrays,
    /// mixed kinds).
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        use Value::*;
        match (self, other) {
            (Null, _) | (_, Null) | (Array(_), _) | (_, Array(_)) => None,
            (Bool(a), Bool(b)) => Some(a.cmp(b)),
            (Text(a), Text(b)) => Some(cmp_ci(a, b)),
            (DateTime(a), DateTime(b)) => a.compare(b),
            (DateTime(a), Text(b)) => CimDateTime::parse(b).and_then(|b| a.compare(&b)),
            (Text(a), DateTime(b)) => CimDateTime::parse(a).and_then(|a| a.compare(b)),
            (Bool(a), Text(t)) | (Text(t), Bool(a)) => {
                let b = crate::headers::parse_bool(t)?;
                let o = a.cmp(&b);
                Some(if matches!(self, Text(_)) {
                    o.reverse()
                } else {
                    o
                })
            }
            (a, b) => {
                let (x, y) = (a.as_number()?, b.as_number()?);
                x.partial_cmp(&y)
            }
        }
    }

    fn as_number(&self) -> Option<Num> {
        match self {
            Self::Signed(v) => Some(Num::Int(i128::from(*v))),
            Self::Unsigned(v) => Some(Num::Int(i128::from(*v))),
            Self::Real(v) => Some(Num::Real(*v)),
            Self::Text(t) => {
                let t = t.trim();
                t.parse::<i128>().map(Num::Int).ok().or_else(|| {
                    t.parse::<f64>()
                        .ok()
                        .filter(|f| f.is_finite())
                        .map(Num::Real)
                })
            }
            _ => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Num {
    Int(i128),
    Real(f64),
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Real(r) => r,
        }
    }
}

/// Compare without ASCII case, as WMI compares strings.
pub fn cmp_ci(a: &str, b: &str) -> Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

macro_rules! value_from {
    ($($t:ty => $v:ident),*) => {$(
        impl From<$t> for Value {
            fn from(x: $t) -> Self { Value::$v(x.into()) }
        }
    )*};
}
value_from!(bool => Bool, i64 => Signed, i32 => Signed, u64 => Unsigned, u32 => Unsigned,
    u16 => Unsigned, u8 => Unsigned, f64 => Real, String => Text, &str => Text,
    CimDateTime => DateTime, Reference => Reference);

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}

impl CimDateTime {
    /// An instant `micros` after the Unix epoch, shown in UTC.
    pub fn utc(micros: i64) -> Self {
        Self::Instant {
            micros,
            offset_minutes: 0,
        }
    }

    fn compare(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (Self::Instant { micros: a, .. }, Self::Instant { micros: b, .. }) => Some(a.cmp(b)),
            (Self::Interval { micros: a }, Self::Interval { micros: b }) => Some(a.cmp(b)),
            _ => None,
        }
    }

    /// `xs:dateTime` (`2013-04-29T13:09:06.102138-07:00`) or `xs:duration` (`P1DT2H3M4.5S`).
    pub fn to_xs(&self) -> String {
        match *self {
            Self::Instant {
                micros,
                offset_minutes,
            } => {
                let local = micros + i64::from(offset_minutes) * 60_000_000;
                let (date, secs, frac) = split(local);
                let (y, m, d) = civil_from_days(date);
                let zone = if offset_minutes == 0 {
                    "Z".to_owned()
                } else {
                    let sign = if offset_minutes < 0 { '-' } else { '+' };
                    let o = offset_minutes.unsigned_abs();
                    format!("{sign}{:02}:{:02}", o / 60, o % 60)
                };
                format!(
                    "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}{zone}",
                    secs / 3600,
                    secs / 60 % 60,
                    secs % 60
                )
            }
            Self::Interval { micros } => {
                let secs = micros / 1_000_000;
                format!(
                    "P{}DT{}H{}M{}.{:06}S",
                    secs / 86_400,
                    secs / 3600 % 24,
                    secs / 60 % 60,
                    secs % 60,
                    micros % 1_000_000
                )
            }
        }
    }

    /// The DMTF form `yyyymmddHHMMSS.mmmmmmsUUU` (WQL literals), or an `xs:dateTime`.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim().as_bytes();
        let digits = |r: std::ops::Range<usize>| -> Option<i64> {
            let s = t.get(r)?;
            if !s.iter().all(u8::is_ascii_digit) {
                return None;
            }
            std::str::from_utf8(s).ok()?.parse().ok()
        };
        let (y, mo, d, h, mi, s, micros, offset) = if t.len() == 25 && t.get(14) == Some(&b'.') {
            let sign = match t[21] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            (
                digits(0..4)?,
                digits(4..6)?,
                digits(6..8)?,
                digits(8..10)?,
                digits(10..12)?,
                digits(12..14)?,
                digits(15..21)?,
                sign * digits(22..25)?,
            )
        } else if t.len() >= 19 && t.get(4) == Some(&b'-') && t.get(10) == Some(&b'T') {
            let mut i = 19;
            let mut micros = 0;
            if t.get(19) == Some(&b'.') {
                let start = 20;
                let mut end = start;
                while end < t.len() && t[end].is_ascii_digit() {
                    end += 1;
                }
                if end == start || end - start > 9 {
                    return None;
                }
                let frac = digits(start..end)?;
                let scale = 10i64.pow(6u32.saturating_sub((end - start) as u32));
                micros = if end - start > 6 {
                    frac / 10i64.pow((end - start - 6) as u32)
                } else {
                    frac * scale
                };
                i = end;
            }
            let offset = match t.get(i) {
                None | Some(b'Z') if t.len() <= i + 1 => 0,
                Some(b'+') | Some(b'-') if t.len() == i + 6 && t[i + 3] == b':' => {
                    let sign = if t[i] == b'-' { -1 } else { 1 };
                    sign * (digits(i + 1..i + 3)? * 60 + digits(i + 4..i + 6)?)
                }
                _ => return None,
            };
            (
                digits(0..4)?,
                digits(5..7)?,
                digits(8..10)?,
                digits(11..13)?,
                digits(14..16)?,
                digits(17..19)?,
                micros,
                offset,
            )
        } else {
            return None;
        };
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
            return None;
        }
        if offset.abs() > 24 * 60 {
            return None;
        }
        let days = days_from_civil(y, mo as u32, d as u32);
        let local = ((days * 86_400 + h * 3600 + mi * 60 + s) * 1_000_000) + micros;
        Some(Self::Instant {
            micros: local - offset * 60_000_000,
            offset_minutes: offset as i16,
        })
    }
}

fn split(micros: i64) -> (i64, i64, i64) {
    let days = micros.div_euclid(86_400_000_000);
    let rest = micros.rem_euclid(86_400_000_000);
    (days, rest / 1_000_000, rest % 1_000_000)
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests;
