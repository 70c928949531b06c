//! `config.toml` and `policy.d/*.toml`: parsing with file and line in every error, and
//! rendering the stored values back in the same shape.
//!
//! Parsed with `toml_edit` because it keeps the byte span of every key and value, so an
//! unknown key or a bad value is reported at its line, as the daemon must refuse to start with
//! a message that points at the mistake.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

use toml_edit::{ImDocument, Item, TableLike};

use crate::certmapping::{CertMapping, MappingValueError};
use crate::listener::{ListenerAddress, StoredListener, Transport};
use crate::schema::{self, Container, Entry, SettingKey, Value, ValueError, ValueType};
use crate::ConfigError;

/// One layer of values (the stored file, or the merged policy files).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Layer {
    pub(crate) values: BTreeMap<SettingKey, Value>,
    pub(crate) product_vendor: Option<String>,
    pub(crate) product_version: Option<String>,
    /// `[Security]`.
    pub(crate) security: crate::security::SecurityLayer,
    /// `[Metrics]`.
    pub(crate) metrics: crate::metrics::MetricsLayer,
    /// `[HTTP]`.
    pub(crate) http: crate::http::HttpLayer,
    /// `[PowerShell]`.
    pub(crate) powershell: crate::powershell::PowerShellLayer,
}

impl Layer {
    /// Values of `other` win over ours.
    pub(crate) fn overlay(&mut self, other: Layer) {
        self.values.extend(other.values);
        overlay_fields!(self, other: product_vendor, product_version);
        self.security.overlay(&other.security);
        self.metrics.overlay(&other.metrics);
        self.http.overlay(&other.http);
        self.powershell.overlay(&other.powershell);
    }
}

/// The content of one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FileContent {
    pub(crate) layer: Layer,
    pub(crate) listeners: Vec<StoredListener>,
    /// `[[CertMapping]]`: winrm/config/service/certmapping.
    pub(crate) cert_mappings: Vec<CertMapping>,
}

/// Which file is parsed: policy files may not hold listeners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileKind {
    Stored,
    Policy,
}

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: Option<Range<usize>>, message: impl std::fmt::Display) -> ConfigError {
        let line = span
            .map(|s| {
                let end = s.start.min(self.text.len());
                self.text.as_bytes()[..end]
                    .iter()
                    .filter(|b| **b == b'\n')
                    .count()
                    + 1
            })
            .unwrap_or(1);
        ConfigError::Parse {
            path: self.path.to_owned(),
            line,
            message: message.to_string(),
        }
    }
}

fn key_span(table: &dyn TableLike, key: &str, item: &Item) -> Option<Range<usize>> {
    table
        .key(key)
        .and_then(|k| k.span())
        .or_else(|| item.span())
}

/// Parse one file's text. `path` is only used in errors.
pub(crate) fn parse(path: &Path, text: &str, kind: FileKind) -> Result<FileContent, ConfigError> {
    let ctx = Ctx { path, text };
    let doc = ImDocument::parse(text).map_err(|e| ctx.err(e.span(), e.message().trim()))?;
    let root = doc.as_table();
    let mut out = FileContent::default();
    for (key, item) in root.iter() {
        let span = key_span(root, key, item);
        match key {
            "Config" => {
                let table = item
                    .as_table_like()
                    .ok_or_else(|| ctx.err(span, "Config must be a table"))?;
                walk_container(&ctx, Container::Config, table, &mut out.layer)?;
            }
            "Listener" if kind == FileKind::Stored => {
                let (parse, same) = (parse_listener, same_listener);
                parse_entries(&ctx, (item, span, key), &mut out.listeners, parse, same)?;
            }
            "Listener" => {
                return Err(ctx.err(span, "listeners cannot be set by policy files"));
            }
            "CertMapping" if kind == FileKind::Stored => {
                let (parse, same) = (parse_cert_mapping, same_cert_mapping);
                parse_entries(&ctx, (item, span, key), &mut out.cert_mappings, parse, same)?;
            }
            "CertMapping" => {
                return Err(ctx.err(span, "certificate mappings cannot be set by policy files"));
            }
            "Security" => set_extension(&ctx, "Security", item, span, |key, value| {
                out.layer.security.set(key, value)
            })?,
            "Metrics" => set_extension(&ctx, "Metrics", item, span, |key, value| {
                out.layer.metrics.set(key, value)
            })?,
            "HTTP" => set_extension(&ctx, "HTTP", item, span, |key, value| {
                out.layer.http.set(key, value)
            })?,
            "PowerShell" => set_extension(&ctx, "PowerShell", item, span, |key, value| {
                out.layer.powershell.set(key, value)
            })?,
            "Identify" => {
                let table = item
                    .as_table_like()
                    .ok_or_else(|| ctx.err(span, "Identify must be a table"))?;
                parse_identify(&ctx, table, &mut out.layer)?;
            }
            other => {
                return Err(ctx.err(
                    span,
                    format!(
                        "unknown key {other:?} (expected Config, Listener, CertMapping, Identify, Security, Metrics, HTTP or PowerShell)"
                    ),
                ))
            }
        }
    }
    Ok(out)
}

fn walk_container(
    ctx: &Ctx<'_>,
    container: Container,
    table: &dyn TableLike,
    layer: &mut Layer,
) -> Result<(), ConfigError> {
    for (key, item) in table.iter() {
        let span = key_span(table, key, item);
        let path = container.toml_path();
        if let Some(setting) = container.setting(key) {
            let value = item
                .as_value()
                .ok_or_else(|| ctx.err(span.clone(), format!("{path}.{key} must be a value")))?;
            let v = convert(setting.ty, value).map_err(|reason| {
                ctx.err(
                    value.span().or(span.clone()),
                    format!("invalid value for {path}.{key}: {reason}"),
                )
            })?;
            layer.values.insert(
                SettingKey {
                    container,
                    name: setting.name,
                },
                v,
            );
        } else if let Some(child) = container.children().find(|c| c.element_name() == key) {
            let t = item
                .as_table_like()
                .ok_or_else(|| ctx.err(span.clone(), format!("{path}.{key} must be a table")))?;
            walk_container(ctx, child, t, layer)?;
        } else {
            let hint = container
                .setting_ignore_case(key)
                .map(|s| s.name)
                .or_else(|| container.child_ignore_case(key).map(|c| c.element_name()))
                .map(|n| format!(" (did you mean {n}?)"))
                .unwrap_or_default();
            return Err(ctx.err(span, format!("unknown key {key:?} in [{path}]{hint}")));
        }
    }
    Ok(())
}

/// A TOML value as a setting value: native TOML types, or a string in the XML spelling.
fn convert(ty: ValueType, value: &toml_edit::Value) -> Result<Value, ValueError> {
    use toml_edit::Value as T;
    match (ty, value) {
        (ValueType::Bool, T::Boolean(b)) => Ok(Value::Bool(*b.value())),
        (ValueType::Number { .. }, T::Integer(i)) => {
            let v = u64::try_from(*i.value()).map_err(|_| ValueError::Negative)?;
            ty.check_number(v).map(Value::Number)
        }
        (ValueType::Text, T::String(s)) => Ok(Value::Text(Cow::Owned(s.value().clone()))),
        (_, T::String(s)) if ty != ValueType::Text => ty.parse(s.value()),
        (_, other) => Err(ValueError::WrongType {
            expected: ty.xsd_name(),
            found: other.type_name(),
        }),
    }
}

fn string_value(
    ctx: &Ctx<'_>,
    what: &str,
    item: &Item,
    span: Option<Range<usize>>,
) -> Result<String, ConfigError> {
    item.as_value()
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| ctx.err(span, format!("{what} must be a string")))
}

fn parse_identify(
    ctx: &Ctx<'_>,
    table: &dyn TableLike,
    layer: &mut Layer,
) -> Result<(), ConfigError> {
    for (key, item) in table.iter() {
        let span = key_span(table, key, item);
        match key {
            "ProductVendor" => {
                layer.product_vendor =
                    Some(string_value(ctx, "Identify.ProductVendor", item, span)?)
            }
            "ProductVersion" => {
                layer.product_version =
                    Some(string_value(ctx, "Identify.ProductVersion", item, span)?)
            }
            other => {
                return Err(ctx.err(
                    span,
                    format!(
                    "unknown key {other:?} in [Identify] (expected ProductVendor, ProductVersion)"
                ),
                ))
            }
        }
    }
    Ok(())
}

/// Every key of an extension table (`[Security]`, `[Metrics]`, `[HTTP]`), each a value
/// given to `set`, whose refusal is reported at the value.
fn set_extension<E: std::fmt::Display>(
    ctx: &Ctx<'_>,
    name: &str,
    item: &Item,
    span: Option<Range<usize>>,
    mut set: impl FnMut(&str, &toml_edit::Value) -> Result<(), E>,
) -> Result<(), ConfigError> {
    let table = item
        .as_table_like()
        .ok_or_else(|| ctx.err(span, format!("{name} must be a table")))?;
    for (key, item) in table.iter() {
        let span = key_span(table, key, item);
        let value = item
            .as_value()
            .ok_or_else(|| ctx.err(span.clone(), format!("{name}.{key} must be a value")))?;
        set(key, value).map_err(|reason| ctx.err(value.span().or(span), reason))?;
    }
    Ok(())
}

/// One table of a repeated entry, with its span for error messages.
type SpannedTable<'a> = (&'a dyn TableLike, Option<Range<usize>>);

/// The tables of a repeated entry `name`, written either as `[[name]]` or as an inline array
/// of tables, each with its span for error messages.
fn tables_of<'a>(
    ctx: &Ctx<'_>,
    item: &'a Item,
    span: Option<Range<usize>>,
    name: &str,
) -> Result<Vec<SpannedTable<'a>>, ConfigError> {
    let mut tables: Vec<SpannedTable<'a>> = Vec::new();
    if let Some(array) = item.as_array_of_tables() {
        for t in array.iter() {
            tables.push((t, t.span()));
        }
    } else if let Some(array) = item.as_value().and_then(|v| v.as_array()) {
        for v in array.iter() {
            let t = v
                .as_inline_table()
                .ok_or_else(|| ctx.err(v.span(), format!("each {name} must be a table")))?;
            tables.push((t, t.span()));
        }
    } else {
        return Err(ctx.err(
            span,
            format!("{name} must be an array of tables ([[{name}]])"),
        ));
    }
    Ok(tables)
}

/// Parses one `[[name]]` table (with its span for error messages).
type ParseEntry<T> = fn(&Ctx<'_>, &dyn TableLike, Option<Range<usize>>) -> Result<T, ConfigError>;

/// The `[[name]]` entries into `out`, each by `parse`; `duplicate` says why an entry repeats
/// the keys of one before it.
fn parse_entries<T>(
    ctx: &Ctx<'_>,
    (item, span, name): (&Item, Option<Range<usize>>, &str),
    out: &mut Vec<T>,
    parse: ParseEntry<T>,
    duplicate: fn(&T, &T) -> Option<String>,
) -> Result<(), ConfigError> {
    for (table, table_span) in tables_of(ctx, item, span, name)? {
        let entry = parse(ctx, table, table_span.clone())?;
        if let Some(why) = out.iter().find_map(|o| duplicate(o, &entry)) {
            return Err(ctx.err(table_span, why));
        }
        out.push(entry);
    }
    Ok(())
}

/// Why `l` repeats the keys of `o`, if it does.
fn same_listener(o: &StoredListener, l: &StoredListener) -> Option<String> {
    let (address, transport) = (&l.address, l.transport);
    o.same_keys(address, transport)
        .then(|| format!("duplicate listener Address={address} Transport={transport}"))
}

fn parse_listener(
    ctx: &Ctx<'_>,
    table: &dyn TableLike,
    table_span: Option<Range<usize>>,
) -> Result<StoredListener, ConfigError> {
    let mut address: Option<ListenerAddress> = None;
    let mut transport: Option<Transport> = None;
    let mut l = StoredListener::new(ListenerAddress::Any, Transport::Http);
    for (key, item) in table.iter() {
        let span = key_span(table, key, item);
        let value_span = item.span().or(span.clone());
        let text = |what: &str| string_value(ctx, what, item, span.clone());
        let typed = |what: &str, ty: ValueType| {
            item.as_value()
                .ok_or_else(|| ctx.err(span.clone(), format!("{what} must be a value")))
                .and_then(|v| {
                    convert(ty, v).map_err(|r| {
                        ctx.err(value_span.clone(), format!("invalid value for {what}: {r}"))
                    })
                })
        };
        match key {
            "Address" => {
                let t = text("Listener.Address")?;
                address = Some(t.parse().map_err(|e: crate::AddressError| {
                    ctx.err(value_span.clone(), e.to_string())
                })?);
            }
            "Transport" => {
                let t = text("Listener.Transport")?;
                transport = Some(
                    t.parse()
                        .map_err(|e: String| ctx.err(value_span.clone(), e))?,
                );
            }
            "Port" => {
                let v = typed("Listener.Port", schema::PORT)?;
                l.port = v.as_number().and_then(|n| u16::try_from(n).ok());
            }
            "Hostname" => l.hostname = Some(text("Listener.Hostname")?),
            "URLPrefix" => {
                let p = text("Listener.URLPrefix")?;
                crate::listener::check_url_prefix(&p)
                    .map_err(|r| ctx.err(value_span.clone(), r))?;
                l.url_prefix = Some(p);
            }
            "CertificateThumbprint" => {
                l.certificate_thumbprint = Some(crate::certs::normalize_thumbprint(&text(
                    "Listener.CertificateThumbprint",
                )?))
            }
            "Enabled" => {
                let v = typed("Listener.Enabled", ValueType::Bool)?;
                l.enabled = v.as_bool();
            }
            other => {
                return Err(ctx.err(span, format!("unknown key {other:?} in [[Listener]]")));
            }
        }
    }
    l.address = address.ok_or_else(|| ctx.err(table_span.clone(), "a Listener needs Address"))?;
    l.transport = transport.ok_or_else(|| ctx.err(table_span, "a Listener needs Transport"))?;
    Ok(l)
}

/// Why `m` repeats the keys of `o`, if it does.
fn same_cert_mapping(o: &CertMapping, m: &CertMapping) -> Option<String> {
    let (issuer, subject, uri) = (&m.issuer, &m.subject, &m.uri);
    o.same_keys(issuer, subject, uri).then(|| {
        format!("duplicate certificate mapping Issuer={issuer} Subject={subject} URI={uri}")
    })
}

fn parse_cert_mapping(
    ctx: &Ctx<'_>,
    table: &dyn TableLike,
    table_span: Option<Range<usize>>,
) -> Result<CertMapping, ConfigError> {
    use crate::certmapping::{check_subject, check_uri, check_user_name};
    let mut m = CertMapping::new("", "", "", "");
    for (key, item) in table.iter() {
        let span = key_span(table, key, item);
        let value_span = item.span().or(span.clone());
        let text = |what: &str| string_value(ctx, what, item, span.clone());
        let checked =
            |r: Result<(), MappingValueError>| r.map_err(|e| ctx.err(value_span.clone(), e));
        match key {
            "Issuer" => {
                m.issuer = crate::certs::normalize_thumbprint(&text("CertMapping.Issuer")?);
                if !crate::certs::is_valid_thumbprint(&m.issuer) {
                    return Err(ctx.err(
                        value_span,
                        "CertMapping.Issuer is not a certificate thumbprint (40 hexadecimal digits)",
                    ));
                }
            }
            "Subject" => {
                m.subject = text("CertMapping.Subject")?;
                checked(check_subject(&m.subject))?;
            }
            "URI" => {
                m.uri = text("CertMapping.URI")?;
                checked(check_uri(&m.uri))?;
            }
            "UserName" => {
                m.user_name = text("CertMapping.UserName")?;
                checked(check_user_name(&m.user_name))?;
            }
            "Enabled" => {
                let v = item
                    .as_value()
                    .ok_or_else(|| ctx.err(span.clone(), "CertMapping.Enabled must be a value"))
                    .and_then(|v| {
                        convert(ValueType::Bool, v).map_err(|r| {
                            ctx.err(
                                value_span.clone(),
                                format!("invalid value for CertMapping.Enabled: {r}"),
                            )
                        })
                    })?;
                m.enabled = v.as_bool().unwrap_or(true);
            }
            other => {
                return Err(ctx.err(
                    span,
                    format!(
                        "unknown key {other:?} in [[CertMapping]] (passwords are never stored)"
                    ),
                ));
            }
        }
    }
    for (what, value) in [
        ("Issuer", &m.issuer),
        ("Subject", &m.subject),
        ("URI", &m.uri),
        ("UserName", &m.user_name),
    ] {
        if value.is_empty() {
            return Err(ctx.err(table_span, format!("a CertMapping needs {what}")));
        }
    }
    Ok(m)
}

/// A TOML basic string with the escapes TOML requires.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_value(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        // TOML integers are i64; larger unsignedLong values go as strings, which parse back.
        Value::Number(n) if i64::try_from(*n).is_err() => toml_string(&n.to_string()),
        Value::Number(n) => n.to_string(),
        Value::Text(t) => toml_string(t),
    }
}

/// Render a stored file: only the values it holds, tables in Windows' order.
pub(crate) fn render(content: &FileContent) -> String {
    let mut out = String::from(
        "# wsmand configuration (winrm/config). Written by wsmand; it keeps only the values\n\
         # that were set explicitly. Names and types are Windows'; see `winrm help config`.\n",
    );
    fn walk(c: Container, layer: &Layer, out: &mut String) {
        let mut wrote_header = false;
        for e in c.layout() {
            if let Entry::Leaf(s) = e {
                if let Some(v) = layer.values.get(&SettingKey {
                    container: c,
                    name: s.name,
                }) {
                    if !wrote_header {
                        let _ = write!(out, "\n[{}]\n", c.toml_path());
                        wrote_header = true;
                    }
                    let _ = writeln!(out, "{} = {}", s.name, toml_value(v));
                }
            }
        }
        for child in c.children() {
            walk(child, layer, out);
        }
    }
    walk(Container::Config, &content.layer, &mut out);
    for l in &content.listeners {
        let _ = write!(
            out,
            "\n[[Listener]]\nAddress = {}\nTransport = {}\n",
            toml_string(&l.address.to_string()),
            toml_string(l.transport.as_str())
        );
        if let Some(p) = l.port {
            let _ = writeln!(out, "Port = {p}");
        }
        if let Some(h) = &l.hostname {
            let _ = writeln!(out, "Hostname = {}", toml_string(h));
        }
        if let Some(e) = l.enabled {
            let _ = writeln!(out, "Enabled = {e}");
        }
        if let Some(u) = &l.url_prefix {
            let _ = writeln!(out, "URLPrefix = {}", toml_string(u));
        }
        if let Some(t) = &l.certificate_thumbprint {
            let _ = writeln!(out, "CertificateThumbprint = {}", toml_string(t));
        }
    }
    for m in &content.cert_mappings {
        let _ = write!(
            out,
            "\n[[CertMapping]]\nIssuer = {}\nSubject = {}\nURI = {}\nUserName = {}\nEnabled = {}\n",
            toml_string(&m.issuer),
            toml_string(&m.subject),
            toml_string(&m.uri),
            toml_string(&m.user_name),
            m.enabled
        );
    }
    content.layer.security.render(&mut out, toml_string);
    content.layer.metrics.render(&mut out);
    content.layer.http.render(&mut out);
    content.layer.powershell.render(&mut out, toml_string);
    if content.layer.product_vendor.is_some() || content.layer.product_version.is_some() {
        out.push_str("\n[Identify]\n");
        if let Some(v) = &content.layer.product_vendor {
            let _ = writeln!(out, "ProductVendor = {}", toml_string(v));
        }
        if let Some(v) = &content.layer.product_version {
            let _ = writeln!(out, "ProductVersion = {}", toml_string(v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<FileContent, ConfigError> {
        parse(Path::new("/etc/wsmand/config.toml"), text, FileKind::Stored)
    }

    fn line_of(e: ConfigError) -> (usize, String) {
        match e {
            ConfigError::Parse { line, message, .. } => (line, message),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn the_plan_example_parses() {
        let c = p("[Config.Service]\nAllowUnencrypted = true\n[Config.Service.Auth]\nBasic = true\n[[Listener]]\nAddress = \"IP:127.0.0.1\"\nTransport = \"HTTP\"\nPort = 40123\n").unwrap();
        assert_eq!(c.layer.values.len(), 2);
        assert_eq!(c.listeners.len(), 1);
        assert_eq!(c.listeners[0].port, Some(40123));
    }

    #[test]
    fn errors_name_file_and_line() {
        let e =
            p("[Config]\nMaxTimeoutms = 60000\n\n[Config.Service]\nMaxConnections = \"many\"\n")
                .unwrap_err();
        assert!(
            e.to_string().starts_with("/etc/wsmand/config.toml:5: "),
            "{e}"
        );
        let (line, msg) = line_of(p("[Config]\nMaxTimeoutms = 100\n").unwrap_err());
        assert_eq!(line, 2);
        assert!(msg.contains("MaxTimeoutms"), "{msg}");
        let (line, msg) = line_of(p("[Config.Service]\n\nallowunencrypted = true\n").unwrap_err());
        assert_eq!(line, 3);
        assert!(msg.contains("did you mean AllowUnencrypted"), "{msg}");
        let (line, _) = line_of(p("[Config]\nMaxTimeoutms = \n").unwrap_err());
        assert_eq!(line, 2);
        let (line, _) = line_of(p("\n\n[Bogus]\nx=1\n").unwrap_err());
        assert_eq!(line, 3);
        let (line, _) =
            line_of(p("[[Listener]]\nAddress = \"*\"\nTransport = \"FTP\"\n").unwrap_err());
        assert_eq!(line, 3);
        let (line, _) = line_of(p("[[Listener]]\nAddress = \"*\"\nPort=1\n").unwrap_err());
        assert_eq!(line, 1);
    }

    #[test]
    fn dotted_keys_and_inline_tables_report_lines_too() {
        let (line, _) = line_of(p("\nConfig.Service.MaxConnections = \"x\"\n").unwrap_err());
        assert_eq!(line, 2);
        let (line, msg) = line_of(p("\n\nConfig.Service.Bogus = 1\n").unwrap_err());
        assert_eq!(line, 3);
        assert!(msg.contains("Bogus"), "{msg}");
        let c = p("Config = { Winrs = { IdleTimeout = 5 } }\nListener = [{ Address = \"*\", Transport = \"HTTP\" }]\n").unwrap();
        assert_eq!(c.layer.values.len(), 1);
        assert_eq!(c.listeners.len(), 1);
        let (line, _) = line_of(p("[[Listener]]\nAddress = \"*\"\nTransport = \"HTTP\"\n[[Listener]]\nAddress = \"*\"\nTransport = \"http\"\n").unwrap_err());
        assert_eq!(line, 4);
    }

    #[test]
    fn types_are_checked() {
        assert!(p("[Config.Service.Auth]\nBasic = 1\n").is_err());
        assert!(p("[Config.Service.Auth]\nBasic = \"TRUE\"\n").is_ok());
        assert!(p("[Config.Service]\nRootSDDL = 5\n").is_err());
        assert!(p("[Config.Service.DefaultPorts]\nHTTP = -1\n").is_err());
        assert!(p("[Config.Service.Auth]\nCbtHardeningLevel = \"strict\"\n").is_ok());
        assert!(p("[Config.Service]\nAuth = 3\n").is_err());
    }

    #[test]
    fn policy_files_refuse_listeners() {
        let e = parse(
            Path::new("/etc/wsmand/policy.d/10.toml"),
            "[[Listener]]\nAddress=\"*\"\nTransport=\"HTTP\"\n",
            FileKind::Policy,
        )
        .unwrap_err();
        assert!(e.to_string().contains("policy.d/10.toml:1"), "{e}");
    }

    #[test]
    fn render_parse_round_trip() {
        let src = "[Config]\nMaxTimeoutms = 90000\n[Config.Client]\nTrustedHosts = \"a\\\"b\\\\c\\n\"\n[Config.Winrs]\nIdleTimeout = 7200000\n[[Listener]]\nAddress = \"IP:10.0.0.1-10.0.0.5\"\nTransport = \"HTTPS\"\nPort = 1234\nHostname = \"h\"\nEnabled = false\nURLPrefix = \"x\"\nCertificateThumbprint = \"AB\"\n[Identify]\nProductVendor = \"v\"\nProductVersion = \"1\"\n";
        let c = p(src).unwrap();
        let rendered = render(&c);
        assert_eq!(p(&rendered).unwrap(), c, "{rendered}");
    }
}
