//! Class declarations: each class's properties with their CIM types, its keys and its methods
//! with their parameters, rendered as the CIM-XML `CLASS` element (DSP0201) that Windows
//! answers for the class-metadata URIs (`.../cim-xml/2/cim-schema/2/<Class>`, or `*` with a
//! `ClassName` selector), which PowerShell's Get-CimClass and WMI clients that type the values
//! they read ask for.
//!
//! Why declared by hand next to each class and not taken from its instances: a property that
//! is nil on this host still has a type, and Windows' widths (`uint32` ProcessId, `uint64`
//! VirtualSize) are not in the values. A test checks every instance against its declaration.

use wsman_proto::cim::{Instance, Value};
use wsman_proto::xml::escape_attr;

/// A property's (or parameter's) type as a short text: a CIM-XML type name (`string`,
/// `uint32`, `datetime`, `boolean`, `sint64`, `real64`, ...), with `[]` after it for an
/// array, `ref:<Class>` for a reference, or `instance:<Class>` (`[]` after it for an array) for
/// an embedded instance.
pub type TypeName = &'static str;

/// One method: its name, its parameters (`In` ones first, then `Out` ones) and whether it is
/// called on the class (static, no selectors) rather than on an instance. The return value is
/// Windows' `uint32` ReturnValue for every method served.
#[derive(Clone, Copy, Debug)]
pub struct Method {
    pub name: &'static str,
    pub is_static: bool,
    pub inputs: &'static [(&'static str, TypeName)],
    pub outputs: &'static [(&'static str, TypeName)],
}

/// A class as it is declared once, in its own file next to its `impl Class`: its name,
/// namespace, key properties, whether Get answers its one instance without selectors (Windows'
/// `Singleton` qualifier; a class without keys is one too), the reference properties of an
/// association, and its declaration. Everything the provider, queries and class metadata know
/// of a class is read from here.
#[derive(Clone, Copy, Debug)]
pub struct ClassSchema {
    pub name: &'static str,
    pub namespace: &'static str,
    pub keys: &'static [&'static str],
    pub singleton: bool,
    pub references: &'static [&'static str],
    pub declaration: Declaration,
}

impl ClassSchema {
    /// A class with instances addressed by `keys` (not a singleton) and without methods, derived
    /// from `superclass`: what the named constructors below (and other modules' own) share.
    pub const fn without_methods(
        name: &'static str,
        namespace: &'static str,
        keys: &'static [&'static str],
        references: &'static [&'static str],
        superclass: &'static str,
        properties: &'static [(&'static str, TypeName)],
    ) -> Self {
        Self {
            name,
            namespace,
            keys,
            singleton: false,
            references,
            declaration: Declaration {
                superclass: Some(superclass),
                properties,
                methods: &[],
            },
        }
    }

    /// A performance-counter class with one instance per counted object, as Windows declares
    /// them: in root/cimv2, keyed by `Name` (a processor, a disk, `_Total`), without references
    /// or methods, derived from `Win32_PerfRawData` or `Win32_PerfFormattedData`. The keyless
    /// single-instance ones (PerfOS_System, PerfOS_Memory) are written out.
    pub const fn performance(
        name: &'static str,
        superclass: &'static str,
        properties: &'static [(&'static str, TypeName)],
    ) -> Self {
        Self::without_methods(name, "root/cimv2", &["Name"], &[], superclass, properties)
    }

    /// An association without methods, as Windows and DMTF declare them: keyed by its
    /// references (`Antecedent` and `Dependent`, `GroupComponent` and `PartComponent`).
    pub const fn association(
        name: &'static str,
        namespace: &'static str,
        superclass: &'static str,
        references: &'static [&'static str],
        properties: &'static [(&'static str, TypeName)],
    ) -> Self {
        Self::without_methods(
            name, namespace, references, references, superclass, properties,
        )
    }
}

/// A class's declaration: the types of the properties [`super::Class::properties`] lists
/// and its methods.
#[derive(Clone, Copy, Debug)]
pub struct Declaration {
    /// The class it derives from on Windows (`CIM_Process` for `Win32_Process`), if any.
    pub superclass: Option<&'static str>,
    /// `(name, type)` for every property.
    pub properties: &'static [(&'static str, TypeName)],
    pub methods: &'static [Method],
}

/// One property of a declaration: its name and type.
pub type Property = (&'static str, TypeName);

/// The properties of Windows' `CIM_LogicalDevice`, which every Win32 logical device (a drive,
/// a volume, an adapter, a processor) and root/hardware's CIM_Processor declare as theirs.
pub const LOGICAL_DEVICE: &[Property] = &[
    ("Availability", "uint16"),
    ("Caption", "string"),
    ("ConfigManagerErrorCode", "uint32"),
    ("ConfigManagerUserConfig", "boolean"),
    ("CreationClassName", "string"),
    ("Description", "string"),
    ("DeviceID", "string"),
    ("ErrorCleared", "boolean"),
    ("ErrorDescription", "string"),
    ("InstallDate", "datetime"),
    ("LastErrorCode", "uint32"),
    ("Name", "string"),
    ("PNPDeviceID", "string"),
    ("PowerManagementCapabilities", "uint16[]"),
    ("PowerManagementSupported", "boolean"),
    ("Status", "string"),
    ("StatusInfo", "uint16"),
    ("SystemCreationClassName", "string"),
    ("SystemName", "string"),
];

/// The properties of Windows' `Win32_Perf`, from which every performance class, raw or
/// formatted, derives.
pub const WIN32_PERF: &[Property] = &[
    ("Caption", "string"),
    ("Description", "string"),
    ("Frequency_Object", "uint64"),
    ("Frequency_PerfTime", "uint64"),
    ("Frequency_Sys100NS", "uint64"),
    ("Name", "string"),
    ("Timestamp_Object", "uint64"),
    ("Timestamp_PerfTime", "uint64"),
    ("Timestamp_Sys100NS", "uint64"),
];

/// Two property lists, each in Windows' order (names compared without case), merged into one
/// in that order: a class declared as the properties it shares with another (its parent's)
/// and its own, so that the shared ones are written once. `N` is the sum of the lengths
/// (checked when compiling).
pub const fn merged<const N: usize>(shared: &[Property], own: &[Property]) -> [Property; N] {
    assert!(
        shared.len() + own.len() == N,
        "N is not the sum of the lengths"
    );
    let mut out = [("", ""); N];
    let (mut i, mut j) = (0, 0);
    while i + j < N {
        if j == own.len() || (i < shared.len() && sorts_before(shared[i].0, own[j].0)) {
            out[i + j] = shared[i];
            i += 1;
        } else {
            out[i + j] = own[j];
            j += 1;
        }
    }
    out
}

/// Whether `a` sorts before `b`, ASCII case ignored (in a const fn, where `str::cmp` is not).
const fn sorts_before(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut k = 0;
    while k < a.len() && k < b.len() {
        let (x, y) = (a[k].to_ascii_lowercase(), b[k].to_ascii_lowercase());
        if x != y {
            return x < y;
        }
        k += 1;
    }
    a.len() < b.len()
}

/// The property names of a declaration and those of its arrays, made once per declaration and
/// kept (a fixed number of declarations, so a fixed amount of memory).
pub(crate) fn declared(declaration: &'static Declaration) -> Declared {
    static MADE: std::sync::Mutex<Vec<(usize, Declared)>> = std::sync::Mutex::new(Vec::new());
    let id = std::ptr::from_ref(declaration) as usize;
    let mut made = MADE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, found)) = made.iter().find(|(d, _)| *d == id) {
        return *found;
    }
    let names = |arrays_only: bool| -> &'static [&'static str] {
        Vec::leak(
            declaration
                .properties
                .iter()
                .filter(|(_, t)| {
                    !arrays_only || matches!(CimType::parse(t), Some(CimType::Array(_)))
                })
                .map(|(n, _)| *n)
                .collect(),
        )
    };
    let found = Declared {
        names: names(false),
        arrays: names(true),
    };
    made.push((id, found));
    found
}

/// What [`declared`] keeps of a declaration.
#[derive(Clone, Copy)]
pub(crate) struct Declared {
    pub(crate) names: &'static [&'static str],
    pub(crate) arrays: &'static [&'static str],
}

impl Declared {
    /// The instance with every property of its class, Null where the class has no value, as
    /// Windows answers: `xsi:nil` for a scalar, nothing for an array (Windows leaves a NULL
    /// array out).
    pub(crate) fn complete(self, instance: Instance) -> Instance {
        instance
            .completed(self.names.iter().copied())
            .with_arrays(self.arrays)
    }
}

/// The CIM-XML type names (DSP0201's `CIMType`).
const SCALARS: &[&str] = &[
    "boolean", "string", "char16", "uint8", "sint8", "uint16", "sint16", "uint32", "sint32",
    "uint64", "sint64", "datetime", "real32", "real64",
];

/// A parsed [`TypeName`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CimType {
    Scalar(&'static str),
    Array(&'static str),
    Reference(&'static str),
    /// An embedded instance of the class (an array of them when the flag is set).
    Embedded(&'static str, bool),
}

impl CimType {
    /// `None` for a name that is no CIM type (a typo in a declaration: a test catches it).
    pub fn parse(name: TypeName) -> Option<Self> {
        if let Some(class) = name.strip_prefix("ref:") {
            return (!class.is_empty()).then_some(Self::Reference(class));
        }
        if let Some(class) = name.strip_prefix("instance:") {
            let (class, array) = match class.strip_suffix("[]") {
                Some(class) => (class, true),
                None => (class, false),
            };
            return (!class.is_empty()).then_some(Self::Embedded(class, array));
        }
        let (base, array) = match name.strip_suffix("[]") {
            Some(base) => (base, true),
            None => (name, false),
        };
        let base = SCALARS.iter().copied().find(|s| *s == base)?;
        Some(if array {
            Self::Array(base)
        } else {
            Self::Scalar(base)
        })
    }

    /// Whether `value` is a value of this type (nil is a value of every type).
    pub fn admits(&self, value: &Value) -> bool {
        match (self, value) {
            (_, Value::Null) => true,
            (Self::Reference(_), Value::Reference(_)) => true,
            (Self::Embedded(class, false), Value::Instance(i)) => i.class == *class,
            (Self::Embedded(class, true), Value::Array(items)) => items
                .iter()
                .all(|item| matches!(item, Value::Instance(i) if i.class == *class)),
            (Self::Array(base), Value::Array(items)) => {
                items.iter().all(|item| Self::Scalar(base).admits(item))
            }
            (Self::Scalar(base), value) => scalar_admits(base, value),
            _ => false,
        }
    }
}

fn scalar_admits(base: &str, value: &Value) -> bool {
    let in_range = |bits: u32, signed: bool| match value {
        Value::Unsigned(v) if signed => bits == 64 || *v < (1u64 << (bits - 1)),
        Value::Unsigned(v) => bits == 64 || *v < (1u64 << bits),
        Value::Signed(v) if signed => {
            bits == 64 || (*v >= -(1i64 << (bits - 1)) && *v < (1i64 << (bits - 1)))
        }
        Value::Signed(v) => *v >= 0 && (bits == 64 || *v < (1i64 << bits)),
        _ => false,
    };
    match base {
        "boolean" => matches!(value, Value::Bool(_)),
        "string" | "char16" => matches!(value, Value::Text(_)),
        "datetime" => matches!(value, Value::DateTime(_)),
        "real32" | "real64" => matches!(
            value,
            Value::Real(_) | Value::Unsigned(_) | Value::Signed(_)
        ),
        _ => {
            let signed = base.starts_with('s');
            base[4..]
                .parse::<u32>()
                .is_ok_and(|bits| in_range(bits, signed))
        }
    }
}

/// The `CLASS` element of `name` (DSP0201): a `PROPERTY`, `PROPERTY.ARRAY` or
/// `PROPERTY.REFERENCE` per property with the `key` qualifier on keys, and a `METHOD` per
/// method with its `PARAMETER`s qualified `In` or `Out`; an association class carries the
/// `Association` qualifier.
pub fn render_class(
    name: &str,
    keys: &[&str],
    association: bool,
    declaration: &Declaration,
) -> String {
    let mut out = String::with_capacity(256 + 64 * declaration.properties.len());
    out.push_str("<CLASS NAME=\"");
    out.push_str(&escape_attr(name));
    out.push('"');
    if let Some(superclass) = declaration.superclass {
        out.push_str(" SUPERCLASS=\"");
        out.push_str(&escape_attr(superclass));
        out.push('"');
    }
    out.push('>');
    if association {
        push_flag(&mut out, "Association");
    }
    for (property, type_name) in declaration.properties {
        let is_key = keys.iter().any(|k| k.eq_ignore_ascii_case(property));
        push_typed(&mut out, "PROPERTY", property, type_name, |out| {
            if is_key {
                push_flag(out, "key");
            }
        });
    }
    for method in declaration.methods {
        out.push_str("<METHOD NAME=\"");
        out.push_str(&escape_attr(method.name));
        out.push_str("\" TYPE=\"uint32\">");
        if method.is_static {
            push_flag(&mut out, "Static");
        }
        for (direction, parameters) in [("In", method.inputs), ("Out", method.outputs)] {
            for (parameter, type_name) in parameters {
                push_typed(&mut out, "PARAMETER", parameter, type_name, |out| {
                    push_flag(out, direction)
                });
            }
        }
        out.push_str("</METHOD>");
    }
    out.push_str("</CLASS>");
    out
}

/// A boolean qualifier set to true.
fn push_flag(out: &mut String, qualifier: &str) {
    out.push_str("<QUALIFIER NAME=\"");
    out.push_str(qualifier);
    out.push_str("\" TYPE=\"boolean\"><VALUE>true</VALUE></QUALIFIER>");
}

/// A `PROPERTY`/`PARAMETER` element (or its `.ARRAY` / `.REFERENCE` form) with its
/// qualifiers. No CLASSORIGIN: Windows sends it only when IncludeClassOrigin is asked for,
/// and the inherited origins are not kept here.
fn push_typed(
    out: &mut String,
    element: &str,
    name: &str,
    type_name: TypeName,
    qualifiers: impl FnOnce(&mut String),
) {
    // Declarations are checked by a test; an unparsable one renders as a string.
    let cim_type = CimType::parse(type_name).unwrap_or(CimType::Scalar("string"));
    let embedded = match cim_type {
        CimType::Embedded(class, _) => Some(class),
        _ => None,
    };
    let (tag, type_attribute) = match (cim_type, element) {
        // CIM-XML's embedded instance: a string typed by its qualifier.
        (CimType::Embedded(_, false), _) => (element.to_owned(), " TYPE=\"string\"".to_owned()),
        (CimType::Embedded(_, true), _) => {
            (format!("{element}.ARRAY"), " TYPE=\"string\"".to_owned())
        }
        (CimType::Scalar(t), _) => (element.to_owned(), format!(" TYPE=\"{t}\"")),
        (CimType::Array(t), _) => (format!("{element}.ARRAY"), format!(" TYPE=\"{t}\"")),
        (CimType::Reference(class), "PARAMETER") => (
            "PARAMETER.REFERENCE".to_owned(),
            format!(" REFERENCECLASS=\"{}\"", escape_attr(class)),
        ),
        (CimType::Reference(class), _) => (
            format!("{element}.REFERENCE"),
            format!(" REFERENCECLASS=\"{}\"", escape_attr(class)),
        ),
    };
    out.push('<');
    out.push_str(&tag);
    out.push_str(" NAME=\"");
    out.push_str(&escape_attr(name));
    out.push('"');
    out.push_str(&type_attribute);
    out.push('>');
    if let Some(class) = embedded {
        out.push_str("<QUALIFIER NAME=\"EmbeddedInstance\" TYPE=\"string\"><VALUE>");
        out.push_str(&escape_attr(class));
        out.push_str("</VALUE></QUALIFIER>");
    }
    qualifiers(out);
    out.push_str("</");
    out.push_str(&tag);
    out.push('>');
}
