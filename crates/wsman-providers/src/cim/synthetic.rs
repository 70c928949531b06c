//! `Wsman_BenchSynthetic`: a benchmark class of N instances made on the fly, so that the
//! Enumerate+Pull path (filtering, rendering, paging) is measured without any host source in
//! the way. Built only with the `bench-synthetic` feature (the `wsmand` binary's feature of
//! the same name, off by default): a production daemon never serves it.

use wsman_proto::cim::{CimDateTime, Instance};

use super::schema::{ClassSchema, Declaration};
use super::{Answer, Class, Instances};
use crate::{Context, CountedItems, Filter, Item, ItemSource};

/// The class name.
pub const CLASS: &str = "Wsman_BenchSynthetic";

const SYNTHETIC: ClassSchema = ClassSchema {
    name: CLASS,
    namespace: "root/cimv2",
    keys: &["Id"],
    singleton: false,
    references: &[],
    declaration: Declaration {
        superclass: None,
        properties: &[
            ("Active", "boolean"),
            ("Created", "datetime"),
            ("Id", "uint32"),
            ("Name", "string"),
            ("Size", "uint64"),
        ],
        methods: &[],
    },
};

/// 2026-01-01T00:00:00Z, the first instance's Created (later ones a second apart).
const EPOCH_MICROS: i64 = 1_767_225_600 * 1_000_000;

/// `Wsman_BenchSynthetic` with `count` instances, `Id` 1..=count.
pub struct Synthetic {
    count: u32,
}

impl Synthetic {
    pub fn new(count: u32) -> Self {
        Self { count }
    }
}

/// Instance `id`: every value follows from the id, so a client can check what it got.
pub fn instance(id: u32) -> Instance {
    Instance::new(CLASS, "root/cimv2")
        .with("Active", id.is_multiple_of(2))
        .with(
            "Created",
            CimDateTime::utc(EPOCH_MICROS + i64::from(id) * 1_000_000),
        )
        .with_key("Id", id)
        .with("Name", format!("synthetic-{id}"))
        .with("Size", u64::from(id) * 4096)
}

impl Class for Synthetic {
    schema!(SYNTHETIC);

    fn instances(&self, _ctx: &Context<'_>, _filter: Option<&Filter>) -> Instances {
        Ok((1..=self.count).map(instance).collect())
    }

    fn instances_lazily(
        &self,
        _ctx: &Context<'_>,
        _filter: Option<&Filter>,
    ) -> Option<Box<dyn ItemSource>> {
        let items = (1..=self.count).map(|id| Item::Instance(instance(id)));
        Some(Box::new(CountedItems::new(items, self.count as usize)))
    }

    fn get(&self, _ctx: &Context<'_>, keys: &[(&str, &str)]) -> Answer {
        keys.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("Id"))
            .and_then(|(_, v)| v.trim().parse::<u32>().ok())
            .filter(|id| (1..=self.count).contains(id))
            .map(instance)
            .ok_or_else(super::not_found)
    }
}
