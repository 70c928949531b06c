//! DSP0227's association filters, written once for every association class: the traversal
//! from an object through the association classes to their targets, each namespace it draws
//! from checked with its own descriptor (see [`crate::Context::may_read_namespace`]).

use std::collections::HashMap;

use wsman_proto::cim::{Instance, Reference, Value};
use wsman_proto::enumeration::{AssociationFilter, AssociationKind};
use wsman_proto::envelope::SelectorSet;
use wsman_proto::operation::{ClassRef, Resource, CIM_NAMESPACE_SELECTOR};
use wsman_proto::Fault;

use super::{completed, namespace_refused, CimProvider, Class, Instances};
use crate::Context;

impl CimProvider {
    /// DSP0227's association traversal, written once for every association class: the
    /// association instances whose reference (in `Role`, or any) is the object, and for
    /// AssociatedInstances the instances their other references (in `ResultRole`) point at.
    pub(super) fn associations(&self, ctx: &Context<'_>, filter: &AssociationFilter) -> Instances {
        let object = self.association_object(ctx, filter)?;
        let wanted_association = match filter.kind {
            AssociationKind::Associated => filter.association_class.as_deref(),
            AssociationKind::Association => filter.result_class.as_deref(),
        };
        let refers_to_object = |value: Option<&Value>| match value {
            Some(Value::Reference(r)) => same_instance(r, &object),
            _ => false,
        };
        let mut out: Vec<Instance> = Vec::new();
        // The instances of each class a reference points at, read once for all the
        // references (a sensor walk of the BMC per target would be one SDR walk per sensor);
        // `None` when the class could not answer.
        let mut targets: HashMap<&'static str, Option<Vec<Instance>>> = HashMap::new();
        for association in self.classes.iter().filter(|c| !c.references().is_empty()) {
            if wanted_association.is_some_and(|w| !w.eq_ignore_ascii_case(association.name()))
                || !ctx.may_read_namespace(association.namespace())
            {
                continue;
            }
            let roles: Vec<&str> = association
                .references()
                .iter()
                .copied()
                .filter(|r| {
                    filter
                        .role
                        .as_deref()
                        .is_none_or(|w| w.eq_ignore_ascii_case(r))
                })
                .collect();
            // An association whose source cannot answer (no systemd for
            // Win32_DependentService) fails the request only when the filter names it; else
            // it cannot refer to the object, which exists, and is left out.
            let instances = match association.instances(ctx, None) {
                Ok(instances) => instances,
                Err(fault) if wanted_association.is_some() => return Err(fault),
                Err(fault) => {
                    tracing::debug!(class = association.name(), ?fault, "association left out");
                    continue;
                }
            };
            for instance in instances {
                let Some(matched) = roles.iter().find(|r| refers_to_object(instance.get(r))) else {
                    continue;
                };
                if filter.kind == AssociationKind::Association {
                    out.push(completed(association.as_ref(), instance));
                    continue;
                }
                for result_role in association.references() {
                    if result_role.eq_ignore_ascii_case(matched)
                        || filter
                            .result_role
                            .as_deref()
                            .is_some_and(|w| !w.eq_ignore_ascii_case(result_role))
                    {
                        continue;
                    }
                    let Some(Value::Reference(target)) = instance.get(result_role) else {
                        continue;
                    };
                    let Some(class) = self
                        .class_of(&target.resource_uri)
                        .filter(|class| ctx.may_read_namespace(class.namespace()))
                    else {
                        continue;
                    };
                    if filter
                        .result_class
                        .as_deref()
                        .is_some_and(|w| !w.eq_ignore_ascii_case(class.name()))
                    {
                        continue;
                    }
                    let candidates = targets
                        .entry(class.name())
                        .or_insert_with(|| class.instances(ctx, None).ok());
                    // A reference to an instance that went away meanwhile is left out.
                    let Some(found) = candidates
                        .iter()
                        .flatten()
                        .find(|i| same_instance(target, i))
                    else {
                        continue;
                    };
                    let found = completed(class, found.clone());
                    if !out.contains(&found) {
                        out.push(found);
                    }
                }
            }
        }
        Ok(out)
    }

    /// The filter's object, read: its class one served here, its namespace one the caller may
    /// read (checked as if the request had named it). A step of [`Self::associations`].
    fn association_object(&self, ctx: &Context<'_>, filter: &AssociationFilter) -> super::Answer {
        let object_class = self.class_of(&filter.object.resource_uri).ok_or_else(|| {
            Fault::cannot_process_filter(format!(
                "The association filter's object names no class served here: {}. ",
                filter.object.resource_uri
            ))
        })?;
        let object_keys: Vec<(&str, &str)> = filter
            .object
            .selectors
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .filter(|(n, _)| !n.eq_ignore_ascii_case(CIM_NAMESPACE_SELECTOR))
            .collect();
        // The object's namespace is checked as if the request had named it; associations and
        // targets of namespaces the caller may not read are left out below.
        if !ctx.may_read_namespace(object_class.namespace()) {
            return Err(namespace_refused(ctx, object_class.namespace()));
        }
        // The object must exist, as WMI checks before it traverses.
        object_class.get(ctx, &object_keys)
    }

    /// The class a WMI or DMTF class URI names.
    fn class_of(&self, uri: &str) -> Option<&dyn Class> {
        match Resource::classify(uri, &SelectorSet::default()) {
            Resource::Wmi {
                namespace,
                class: ClassRef::Named(name),
            }
            | Resource::Cim {
                namespace,
                class: ClassRef::Named(name),
            } => self.find(&namespace, &name),
            _ => None,
        }
    }
}

/// Whether a reference names `instance`: the same class (by the last segment of its URI) and
/// the same key values, compared without case as WMI compares them.
fn same_instance(reference: &Reference, instance: &Instance) -> bool {
    let class = reference.resource_uri.rsplit('/').next().unwrap_or("");
    class.eq_ignore_ascii_case(&instance.class)
        && instance.keys.len() == reference.selectors.len()
        && instance.matches_selectors(
            reference
                .selectors
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str())),
        )
}
