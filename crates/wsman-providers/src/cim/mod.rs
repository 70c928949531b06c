//! CIM/WMI classes read live from the host, behind one provider.
//!
//! Each class ([`Class`]) only produces instances of the one instance model from its Linux
//! source; the provider resolves the class from the resource URI (or the query of a `*`
//! URI), checks selectors against the class keys, and checks a query's property names
//! against the class, so those rules are written once. Filtering, rendering, EPRs and paging
//! are the server's.

/// A class's [`Class::schema`]: the static its file declares (the one statement of its name,
/// keys and property types), so each `impl Class` opens with one line.
macro_rules! schema {
    ($schema:ident) => {
        fn schema(&self) -> &'static $crate::cim::schema::ClassSchema {
            &$schema
        }
    };
}

/// A class served from the host's `hardware::Hardware` (DMI, SMBIOS, the BMC): its struct and
/// constructor are the same for each, so they are written once.
macro_rules! hardware_class {
    ($(#[$doc:meta])* $class:ident) => {
        $(#[$doc])*
        pub struct $class {
            hardware: std::sync::Arc<$crate::cim::hardware::Hardware>,
        }

        impl $class {
            pub fn new(hardware: std::sync::Arc<$crate::cim::hardware::Hardware>) -> Self {
                Self { hardware }
            }
        }
    };
}

mod associations;
pub mod disk;
pub mod hardware;
pub mod machine_info;
#[cfg(test)]
mod mof_tests;
pub mod network;
pub mod ntlogevent;
pub mod os;
pub mod path_file;
pub mod perf;
pub mod perf_disk;
pub mod perf_process;
pub mod platform;
pub mod process;
pub mod procfs;
pub mod put;
pub mod schema;
pub mod service;
pub mod smbios;
#[cfg(feature = "bench-synthetic")]
pub mod synthetic;
pub mod sysfs;
pub mod system;
pub mod update_jobs;
pub mod windows_update;

/// The tests of this module and of `mof_tests` read values through `super::*`.
#[cfg(test)]
use wsman_proto::cim::Value;
use wsman_proto::cim::{Instance, Reference};
use wsman_proto::envelope::SelectorValue;
use wsman_proto::fault::SelectorProblem;
use wsman_proto::operation::{ClassRef, Resource, CIM_NAMESPACE_SELECTOR, CLASS_METADATA_PREFIX};
use wsman_proto::Fault;

use crate::{Body, Context, Filter, Item, ItemSource, Provider};

/// What [`Class::instances`] answers: the class's instances, or the fault that stopped them.
pub type Instances = Result<Vec<Instance>, Fault>;

/// What [`Class::get`] and [`Class::invoke`] answer: one instance (a method's is its
/// `<Method>_OUTPUT`), or the fault.
pub type Answer = Result<Instance, Fault>;

/// One class: its schema, declared once in the class's own file, and its instances.
pub trait Class: Send + Sync + 'static {
    /// The class's name, namespace, keys, singleton flag, references and declaration.
    fn schema(&self) -> &'static schema::ClassSchema;
    fn name(&self) -> &'static str {
        self.schema().name
    }
    fn namespace(&self) -> &'static str {
        self.schema().namespace
    }
    /// Key property names (the selectors of Get).
    fn keys(&self) -> &'static [&'static str] {
        self.schema().keys
    }
    /// Whether the class has one instance, which Get answers without selectors: a class
    /// Windows' MOF marks `Singleton` (Win32_OperatingSystem) and a class without keys
    /// (Win32_UTCTime), which WMI addresses as `Class=@`.
    fn singleton(&self) -> bool {
        self.schema().singleton || self.keys().is_empty()
    }
    /// Every property name of the class, keys included, in its declaration's order.
    fn properties(&self) -> &'static [&'static str] {
        schema::declared(&self.schema().declaration).names
    }
    /// The reference properties that make this class an association (`Antecedent`,
    /// `Dependent`); empty for an ordinary class.
    fn references(&self) -> &'static [&'static str] {
        self.schema().references
    }
    /// The instances; `filter` may narrow the work (the server filters again).
    fn instances(&self, ctx: &Context<'_>, filter: Option<&Filter>) -> Instances;
    /// The instances made one at a time as the client pulls them, for classes with many
    /// (`None`, the default: [`Class::instances`] answers). Each item is an instance.
    fn instances_lazily(
        &self,
        _ctx: &Context<'_>,
        _filter: Option<&Filter>,
    ) -> Option<Box<dyn ItemSource>> {
        None
    }
    /// The instance with these key values (checked against [`Class::keys`] already).
    fn get(&self, ctx: &Context<'_>, keys: &[(&str, &str)]) -> Answer {
        self.instances(ctx, None)?
            .into_iter()
            .find(|i| i.matches_selectors(keys.iter().copied()))
            .ok_or_else(not_found)
    }
    /// The types of the properties and the methods, for the class declaration (class
    /// metadata).
    fn declaration(&self) -> Option<&'static schema::Declaration> {
        Some(&self.schema().declaration)
    }
    /// Run `method` (on the instance `keys` name, or on the class when they are empty; the
    /// input is the request body, `<Method>_INPUT`). Answers the `<Method>_OUTPUT` instance,
    /// whose ReturnValue says whether the method succeeded: a failing method is not a fault.
    fn invoke(&self, ctx: &Context<'_>, _keys: &[(&str, &str)], _method: &str) -> Answer {
        Err(crate::not_supported(ctx))
    }
    /// Change `current`, the instance a Put addresses, as the request's body says
    /// ([`put::changes`]); answers the instance as it is now. Default: no property of the
    /// class can be changed (`a:ActionNotSupported`).
    fn put(&self, ctx: &Context<'_>, _current: Instance) -> Answer {
        Err(crate::not_supported(ctx))
    }
}

/// The instance [`schema::Declared::complete`]d from its class's declaration.
fn completed(class: &dyn Class, instance: Instance) -> Instance {
    schema::declared(&class.schema().declaration).complete(instance)
}

/// The instances of a lazily read class, each [`completed`].
struct Completing {
    inner: Box<dyn ItemSource>,
    declared: schema::Declared,
}

impl ItemSource for Completing {
    fn next_item(&mut self) -> Option<Item> {
        Some(match self.inner.next_item()? {
            Item::Instance(instance) => Item::Instance(self.declared.complete(instance)),
            xml => xml,
        })
    }
    fn estimate(&self) -> usize {
        self.inner.estimate()
    }
    fn held_bytes(&self) -> usize {
        self.inner.held_bytes()
    }
}

/// The reference (EPR) of an instance: its class's URI in its namespace and its key values,
/// as an association's reference properties hold it.
pub(crate) fn reference_to(instance: &Instance) -> Reference {
    Reference {
        resource_uri: instance.resource_uri(),
        selectors: instance.selectors(),
    }
}

/// The namespace of `wscim/1/*` (a WQL query names only a class) and of the class metadata
/// without a `__cimnamespace` selector.
pub const CIM_ALL_NAMESPACE: &str = "root/cimv2";

/// The refusal of an answer that would draw from `namespace`, which the caller may not read:
/// Windows' access denied, as when the request names the namespace, logged with the rule.
fn namespace_refused(ctx: &Context<'_>, namespace: &str) -> Fault {
    let user = ctx.caller.map_or("", |c| c.user.as_str());
    tracing::warn!(
        user,
        namespace,
        "access denied: the WMI descriptor of a namespace the answer draws from"
    );
    Fault::access_denied()
}

/// Windows' ReturnValue of a method the caller may not run (access denied), the same in every
/// class's value map.
pub(crate) const ACCESS_DENIED: u32 = 2;
/// The ReturnValues that Win32_Process.Create and Win32_Service's methods give the same
/// meaning: done, failed for a reason not listed, an argument refused.
pub(crate) const SUCCESS: u32 = 0;
pub(crate) const UNKNOWN_FAILURE: u32 = 8;
pub(crate) const INVALID_PARAMETER: u32 = 21;

/// Whether the authenticated caller is an administrator (methods that change the host, serial
/// numbers the kernel shows root only).
pub(crate) fn is_administrator(ctx: &Context<'_>) -> bool {
    ctx.caller.is_some_and(|c| c.is_administrator)
}

/// A method's answer: `<Method>_OUTPUT` in the class's namespace with its ReturnValue.
pub(crate) fn method_output(class: &dyn Class, method: &str, code: u32) -> Instance {
    Instance::new(format!("{method}_OUTPUT"), class.namespace()).with("ReturnValue", code)
}

/// The gate of a method only administrators may run: `None` for an administrator, else the
/// refusal to answer (ReturnValue 2, as Windows answers, not a fault), logged with who asked.
pub(crate) fn refuse_unless_administrator(
    ctx: &Context<'_>,
    class: &dyn Class,
    method: &str,
) -> Option<Instance> {
    if is_administrator(ctx) {
        return None;
    }
    tracing::info!(
        user = ctx.caller.map_or("", |c| c.user.as_str()),
        class = class.name(),
        method,
        "method refused: not an administrator"
    );
    Some(method_output(class, method, ACCESS_DENIED))
}

/// The instance addressed does not exist: `a:DestinationUnreachable` with code 2150858752, as
/// Windows' WMI plugin answers (a recorded Windows Server 2012 R2 answer is the oracle).
fn not_found() -> Fault {
    Fault::resource_not_found()
}

/// What the classes read besides the host's own files: the CPU sampler shared by
/// Win32_Processor and the formatted processor counters, the BMC and sysfs root, and, when
/// the daemon has them, the service manager, the event log and the benchmark class's size.
#[derive(Clone)]
struct Sources {
    cpu: std::sync::Arc<perf::CpuSampler>,
    hardware: std::sync::Arc<hardware::Hardware>,
    services: Option<std::sync::Arc<service::ServiceManager>>,
    updates: Option<std::sync::Arc<update_jobs::UpdateManager>>,
    event_log: Option<std::sync::Arc<dyn ntlogevent::EventLog>>,
    /// Where the machine's description is kept ([`machine_info`]).
    machine_info: std::path::PathBuf,
    #[cfg(feature = "bench-synthetic")]
    synthetic: Option<u32>,
}

/// A row of [`CLASSES`]: the class made from the sources, or `None` when a source it needs is
/// missing.
type Row = fn(&Sources) -> Option<Box<dyn Class>>;

fn served(class: impl Class) -> Option<Box<dyn Class>> {
    Some(Box::new(class))
}

/// Every class served, one row each: a new class is its own file and one row here.
const CLASSES: &[Row] = &[
    |s| {
        served(os::OperatingSystem::new(
            s.services.clone(),
            s.machine_info.clone(),
        ))
    },
    |_| served(process::Process),
    |_| served(system::ComputerSystem),
    |s| served(system::Processor::new(s.cpu.clone())),
    |_| served(system::PageFileUsage),
    |_| served(system::UtcTime),
    |_| served(system::LocalTime),
    |_| served(perf::PerfOsProcessor),
    |_| served(perf::PerfOsSystem),
    |_| served(perf_process::PerfProcProcess),
    |_| served(perf::PerfOsMemory),
    |s| served(perf::PerfFormattedOsProcessor::new(s.cpu.clone())),
    |_| served(perf::PerfTcpipNetworkInterface),
    |_| served(disk::LogicalDisk),
    |_| served(disk::Volume),
    |_| served(disk::PerfFormattedLogicalDisk::default()),
    |_| served(perf_disk::PerfRawPhysicalDisk),
    |_| served(perf_disk::PerfFormattedPhysicalDisk::default()),
    |_| served(network::NetworkAdapter),
    |_| served(network::NetworkAdapterConfiguration),
    |_| served(network::Ip4RouteTable),
    |s| served(hardware::Sensor::new(s.hardware.clone())),
    |s| served(hardware::NumericSensor::new(s.hardware.clone())),
    |s| served(hardware::RecordLog::new(s.hardware.clone())),
    |s| served(hardware::LogRecord::new(s.hardware.clone())),
    |s| served(hardware::LogManagesRecord::new(s.hardware.clone())),
    |s| served(platform::SystemEnclosure::new(s.hardware.clone())),
    |s| served(platform::Chassis::new(s.hardware.clone())),
    |s| served(platform::ComputerSystem::new(s.hardware.clone())),
    |s| served(platform::Processor::new(s.hardware.clone())),
    |s| served(platform::PhysicalMemory::new(s.hardware.clone())),
    |s| served(platform::SystemDevice::new(s.hardware.clone())),
    |s| served(platform::AssociatedSensor::new(s.hardware.clone())),
    |s| served(ntlogevent::NtLogEvent::new(s.event_log.clone()?)),
    |s| served(service::Service::new(s.services.clone()?)),
    |s| served(service::DependentService::new(s.services.clone()?)),
    |s| served(windows_update::Operations::new(s.updates.clone()?)),
    |s| served(windows_update::Settings::new(s.updates.clone()?)),
    |s| {
        s.updates
            .as_ref()
            .and_then(|_| served(windows_update::UpdateClass))
    },
    #[cfg(feature = "bench-synthetic")]
    |s| served(synthetic::Synthetic::new(s.synthetic?)),
];

/// The WMI and DMTF CIM classes of this host.
pub struct CimProvider {
    sources: Sources,
    classes: Vec<Box<dyn Class>>,
}

impl Default for CimProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl CimProvider {
    /// Every class implemented.
    pub fn new() -> Self {
        Self::with_cpu_sampler(std::sync::Arc::new(perf::CpuSampler::default()))
    }

    /// Every class, Win32_Processor's LoadPercentage and the formatted processor counters read
    /// from `cpu` (one window shared by every caller).
    pub fn with_cpu_sampler(cpu: std::sync::Arc<perf::CpuSampler>) -> Self {
        Self::from_sources(Sources {
            cpu,
            hardware: hardware::Hardware::none(),
            services: None,
            updates: None,
            event_log: None,
            machine_info: machine_info::MACHINE_INFO.into(),
            #[cfg(feature = "bench-synthetic")]
            synthetic: None,
        })
    }

    /// The classes of [`CLASSES`] that `sources` can serve.
    fn from_sources(sources: Sources) -> Self {
        let classes = CLASSES.iter().filter_map(|row| row(&sources)).collect();
        Self { sources, classes }
    }

    /// The provider again with a source changed.
    fn with_sources(self, change: impl FnOnce(&mut Sources)) -> Self {
        let mut sources = self.sources;
        change(&mut sources);
        Self::from_sources(sources)
    }

    /// Builder: read root/hardware's IPMI sensors and SEL from this BMC, and the kernel's
    /// sensors and DMI (Win32_SystemEnclosure too) from its sysfs root.
    pub fn with_hardware(self, hardware: std::sync::Arc<hardware::Hardware>) -> Self {
        self.with_sources(|s| s.hardware = hardware)
    }

    /// Builder: serve the benchmark class `Wsman_BenchSynthetic` with `count` instances.
    #[cfg(feature = "bench-synthetic")]
    pub fn with_synthetic(self, count: u32) -> Self {
        self.with_sources(|s| s.synthetic = Some(count))
    }

    /// Builder: serve `Win32_NTLogEvent` from the host's event logs.
    pub fn with_event_log(self, log: std::sync::Arc<dyn ntlogevent::EventLog>) -> Self {
        self.with_sources(|s| s.event_log = Some(log))
    }

    /// Builder: keep the machine's description (Win32_OperatingSystem.Description) in this
    /// file instead of `/etc/machine-info`.
    pub fn with_machine_info(self, path: std::path::PathBuf) -> Self {
        self.with_sources(|s| s.machine_info = path)
    }

    /// Builder: serve `Win32_Service`, `Win32_DependentService` and Win32_OperatingSystem's
    /// Reboot and Shutdown through this host's service manager.
    pub fn with_services(self, manager: std::sync::Arc<service::ServiceManager>) -> Self {
        self.with_sources(|s| s.services = Some(manager))
    }

    /// Builder: serve Windows Update's classes (`MSFT_WUOperations`, `MSFT_WUSettings`,
    /// `MSFT_WUUpdate`) through this host's PackageKit.
    pub fn with_updates(self, manager: std::sync::Arc<update_jobs::UpdateManager>) -> Self {
        self.with_sources(|s| s.updates = Some(manager))
    }

    fn find(&self, namespace: &str, class: &str) -> Option<&dyn Class> {
        self.classes
            .iter()
            .find(|c| {
                c.name().eq_ignore_ascii_case(class)
                    && c.namespace().eq_ignore_ascii_case(namespace)
            })
            .map(|c| c.as_ref())
    }

    /// The class the request addresses by URI (`None` for `*`).
    fn addressed(&self, ctx: &Context<'_>) -> Result<Option<&dyn Class>, Fault> {
        let uri = ctx.resource_uri();
        let (namespace, class) = match &ctx.operation().resource {
            Resource::Wmi { namespace, class } | Resource::Cim { namespace, class } => {
                (namespace.as_str(), class)
            }
            Resource::CimAll => return Ok(None),
            _ => return Err(Fault::destination_unreachable(uri)),
        };
        match class {
            ClassRef::All => Ok(None),
            ClassRef::Named(name) => self.find(namespace, name).map(Some).ok_or_else(|| {
                tracing::debug!(uri, "no such class");
                not_found()
            }),
        }
    }

    fn namespace_of<'a>(ctx: &Context<'a>) -> &'a str {
        match &ctx.operation().resource {
            Resource::Wmi { namespace, .. } | Resource::Cim { namespace, .. } => namespace,
            _ => CIM_ALL_NAMESPACE,
        }
    }
}

/// Every selector must be a key of the class and every key must be given.
fn key_selectors<'a>(
    ctx: &'a Context<'_>,
    class: &dyn Class,
) -> Result<Vec<(&'a str, &'a str)>, Fault> {
    let out = given_keys(ctx, class)?;
    if out.is_empty() && class.singleton() {
        return Ok(out);
    }
    if out.len() < class.keys().len() {
        return Err(Fault::invalid_selectors(
            SelectorProblem::Insufficient,
            format!("The selectors do not name every key of {}. ", class.name()),
        ));
    }
    Ok(out)
}

/// The selectors given, each checked to be a key of the class (a method of the class itself
/// takes none).
fn given_keys<'a>(
    ctx: &'a Context<'_>,
    class: &dyn Class,
) -> Result<Vec<(&'a str, &'a str)>, Fault> {
    let mut out = Vec::new();
    for s in &ctx.request.selectors.0 {
        if s.name.eq_ignore_ascii_case(CIM_NAMESPACE_SELECTOR) {
            continue;
        }
        if !class.keys().iter().any(|k| k.eq_ignore_ascii_case(&s.name)) {
            return Err(Fault::invalid_selectors(
                SelectorProblem::Unexpected,
                format!(
                    "The selector {:?} is not a key of {}. ",
                    s.name,
                    class.name()
                ),
            ));
        }
        let SelectorValue::Text(value) = &s.value else {
            return Err(Fault::invalid_selectors(
                SelectorProblem::TypeMismatch,
                format!(
                    "The selector {:?} of {} is not a reference. ",
                    s.name,
                    class.name()
                ),
            ));
        };
        out.push((s.name.as_str(), value.as_str()));
    }
    Ok(out)
}

/// The class-metadata resource (Get-CimClass): `.../cim-xml/2/cim-schema/2/<Class>`, or `*`
/// with a `ClassName` selector, in the `__cimnamespace` selector's namespace (default
/// root/cimv2).
impl CimProvider {
    /// The namespace and the selectors other than it, checked: only `ClassName` besides.
    fn metadata_selectors<'a>(ctx: &'a Context<'_>) -> Result<(String, Option<&'a str>), Fault> {
        let mut namespace = CIM_ALL_NAMESPACE.to_owned();
        let mut class_name = None;
        for s in &ctx.request.selectors.0 {
            let SelectorValue::Text(value) = &s.value else {
                return Err(Fault::invalid_selectors(
                    SelectorProblem::TypeMismatch,
                    format!("The selector {:?} is not a reference. ", s.name),
                ));
            };
            if s.name.eq_ignore_ascii_case(CIM_NAMESPACE_SELECTOR) {
                namespace = value.replace('\\', "/").to_ascii_lowercase();
            } else if s.name.eq_ignore_ascii_case("ClassName") {
                class_name = Some(value.as_str());
            } else {
                return Err(Fault::invalid_selectors(
                    SelectorProblem::Unexpected,
                    format!(
                        "The selector {:?} is not one of the class metadata (__cimnamespace, ClassName). ",
                        s.name
                    ),
                ));
            }
        }
        // The namespace the answer draws from, checked here for Get and Enumerate alike.
        if !ctx.may_read_namespace(&namespace) {
            return Err(namespace_refused(ctx, &namespace));
        }
        Ok((namespace, class_name))
    }

    /// The declaration of `class` as a CIM-XML `CLASS` element, or why there is none.
    fn class_declaration(class: &dyn Class) -> Result<String, Fault> {
        let declaration = class.declaration().ok_or_else(|| {
            Fault::destination_unreachable(&format!(
                "{CLASS_METADATA_PREFIX}{} (no declaration of this class)",
                class.name()
            ))
        })?;
        Ok(schema::render_class(
            class.name(),
            class.keys(),
            !class.references().is_empty(),
            declaration,
        ))
    }

    fn get_metadata(&self, ctx: &Context<'_>, class: &ClassRef) -> Result<Body, Fault> {
        let (namespace, selected) = Self::metadata_selectors(ctx)?;
        let found = match (class, selected) {
            (ClassRef::Named(name), _) => self
                .find(&namespace, name)
                .ok_or_else(|| Fault::destination_unreachable(ctx.resource_uri()))?,
            (ClassRef::All, Some(name)) => self.find(&namespace, name).ok_or_else(|| {
                Fault::invalid_selectors(
                    SelectorProblem::InvalidValue,
                    format!("The ClassName selector names no class of {namespace}: {name:?}. "),
                )
            })?,
            (ClassRef::All, None) => {
                return Err(Fault::invalid_selectors(
                    SelectorProblem::Insufficient,
                    "The class metadata URI with * needs a ClassName selector. ",
                ))
            }
        };
        Self::class_declaration(found).map(Body::Xml)
    }

    /// Every class of the namespace (Get-CimClass without a name).
    fn enumerate_metadata(
        &self,
        ctx: &Context<'_>,
        class: &ClassRef,
        filter: Option<&Filter>,
    ) -> Result<Vec<Item>, Fault> {
        if filter.is_some() {
            return Err(Fault::cannot_process_filter(
                "The class metadata is enumerated without a filter. ",
            ));
        }
        let (namespace, selected) = Self::metadata_selectors(ctx)?;
        let wanted = match class {
            ClassRef::Named(name) => Some(name.as_str()),
            ClassRef::All => selected,
        };
        let mut items = Vec::new();
        for class in self.classes.iter().filter(|c| {
            c.namespace().eq_ignore_ascii_case(&namespace)
                && wanted.is_none_or(|w| w.eq_ignore_ascii_case(c.name()))
        }) {
            let Ok(xml) = Self::class_declaration(class.as_ref()) else {
                continue;
            };
            items.push(Item::Xml {
                xml,
                resource_uri: format!("{CLASS_METADATA_PREFIX}{}", class.name()),
                selectors: vec![(CIM_NAMESPACE_SELECTOR.to_owned(), namespace.clone())],
            });
        }
        Ok(items)
    }
}

impl Provider for CimProvider {
    fn filtering(&self) -> bool {
        true
    }

    fn get(&self, ctx: &Context<'_>) -> Result<Body, Fault> {
        if let Resource::ClassMetadata(class) = &ctx.operation().resource {
            return self.get_metadata(ctx, class);
        }
        self.addressed_instance(ctx).map(Body::Instance)
    }

    /// The class changes the instance ([`Class::put`]; `a:ActionNotSupported` for a class
    /// that has no writable property); an instance that does not exist gets the not-found
    /// fault first, as WMI reads the instance before it writes it.
    fn put(&self, ctx: &Context<'_>) -> Result<Body, Fault> {
        let current = self.addressed_instance(ctx)?;
        let Some(class) = self.addressed(ctx)? else {
            return Err(Fault::destination_unreachable(ctx.resource_uri()));
        };
        class
            .put(ctx, current)
            .map(|i| Body::Instance(completed(class, i)))
    }

    /// As [`Provider::put`]: no instance is deleted through WS-Transfer (processes end through
    /// Terminate, services stop through StopService).
    fn delete(&self, ctx: &Context<'_>) -> Result<(), Fault> {
        self.addressed_instance(ctx)?;
        Err(crate::not_supported(ctx))
    }

    fn invoke(&self, ctx: &Context<'_>, method: &str) -> Result<Body, Fault> {
        let Some(class) = self.addressed(ctx)? else {
            return Err(Fault::destination_unreachable(ctx.resource_uri()));
        };
        let keys = given_keys(ctx, class)?;
        // A method of an instance that does not exist: the not-found fault, before the method
        // runs (WMI reads the instance to bind the method to it).
        if !keys.is_empty() {
            class.get(ctx, &keys)?;
        }
        class.invoke(ctx, &keys, method).map(Body::Instance)
    }

    fn enumerate(&self, ctx: &Context<'_>, filter: Option<&Filter>) -> Result<Vec<Item>, Fault> {
        if let Resource::ClassMetadata(class) = &ctx.operation().resource {
            return self.enumerate_metadata(ctx, class, filter);
        }
        if let Some(Filter::Association(association)) = filter {
            return self
                .associations(ctx, association)
                .map(|found| found.into_iter().map(Item::Instance).collect());
        }
        let class = self.enumerated_class(ctx, filter)?;
        Ok(class
            .instances(ctx, filter)?
            .into_iter()
            .map(|i| Item::Instance(completed(class, i)))
            .collect())
    }

    fn enumerate_lazily(
        &self,
        ctx: &Context<'_>,
        filter: Option<&Filter>,
    ) -> Result<Option<Box<dyn ItemSource>>, Fault> {
        if matches!(ctx.operation().resource, Resource::ClassMetadata(_))
            || matches!(filter, Some(Filter::Association(_)))
        {
            return Ok(None);
        }
        let class = self.enumerated_class(ctx, filter)?;
        Ok(class.instances_lazily(ctx, filter).map(|inner| {
            Box::new(Completing {
                inner,
                declared: schema::declared(&class.schema().declaration),
            }) as Box<dyn ItemSource>
        }))
    }
}

impl CimProvider {
    /// The instance a Get, Put or Delete addresses, read (the not-found fault when it does
    /// not exist).
    fn addressed_instance(&self, ctx: &Context<'_>) -> Answer {
        if matches!(ctx.operation().resource, Resource::ClassMetadata(_)) {
            return Err(crate::not_supported(ctx));
        }
        let Some(class) = self.addressed(ctx)? else {
            return Err(Fault::destination_unreachable(ctx.resource_uri()));
        };
        let keys = key_selectors(ctx, class)?;
        class.get(ctx, &keys).map(|i| completed(class, i))
    }

    /// The class an Enumerate of instances reads: the one a query names (its properties
    /// checked), or the one the URI names.
    fn enumerated_class(
        &self,
        ctx: &Context<'_>,
        filter: Option<&Filter>,
    ) -> Result<&dyn Class, Fault> {
        let addressed = self.addressed(ctx)?;
        Ok(match (addressed, filter) {
            (_, Some(Filter::Query(q))) => {
                let namespace = Self::namespace_of(ctx);
                if !ctx.may_read_namespace(namespace) {
                    return Err(namespace_refused(ctx, namespace));
                }
                let class = self.find(namespace, &q.class).ok_or_else(|| {
                    Fault::cannot_process_filter(
                        "The specified class does not exist in the given namespace. ",
                    )
                })?;
                if let Some(unknown) = q
                    .property_names()
                    .into_iter()
                    .find(|p| !class.properties().iter().any(|c| c.eq_ignore_ascii_case(p)))
                {
                    return Err(Fault::cannot_process_filter(format!(
                        "The property {unknown:?} is not a property of {}. ",
                        class.name()
                    )));
                }
                class
            }
            (Some(class), _) => class,
            (None, _) => return Err(Fault::unsupported_feature(
                "FilteringRequired",
                "The resource URI names every class (*): Enumerate needs a WQL filter naming one. ",
            )),
        })
    }
}

#[cfg(test)]
mod tests;
