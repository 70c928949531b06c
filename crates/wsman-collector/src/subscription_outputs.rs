//! Each subscription's configured outputs, set up from its `[[outputs]]` at every reload, each
//! behind a bounded in-flight budget: a batch beyond it is answered 503 at once (backpressure),
//! never queued.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::subscriptions::SubscriptionSet;
use wsman_outputs::secrets::SecretBindings;
use wsman_outputs::MAX_IN_FLIGHT_BATCHES;
use wsman_outputs::{Batch, GroupLookup, Output, OutputConfig, OutputError, Pools, StartEnv};

/// A configured output, its in-flight budget and its name in the metrics.
struct Budgeted {
    output: Arc<dyn Output>,
    in_flight: AtomicUsize,
    limit: usize,
    label: String,
}

impl Budgeted {
    fn new(output: Arc<dyn Output>, label: String) -> Budgeted {
        Budgeted {
            output,
            in_flight: AtomicUsize::new(0),
            limit: MAX_IN_FLIGHT_BATCHES,
            label,
        }
    }

    fn write(&self, batch: &Batch<'_>) -> Result<(), OutputError> {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.limit {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(OutputError::Busy {
                output: self.output.describe(),
                limit: self.limit,
            });
        }
        let result = self.output.write(batch);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        result
    }
}

/// Every output of every subscription. What outputs of one type share (open files, Kafka
/// producers) is kept across reloads in their pools: a cluster whose settings did not change
/// keeps its producer.
#[derive(Default)]
pub struct Outputs {
    pools: Pools,
    /// Held by a reload and by the stop: a stop hands back every producer a reload made.
    configuring: Mutex<()>,
    by_subscription: RwLock<HashMap<String, Arc<Vec<Budgeted>>>>,
    /// `DIR/secrets`, where the secrets outputs name are read (none: a named secret does not
    /// start its output).
    secrets: Option<PathBuf>,
    /// Where each secret may be sent (`[secrets.NAME]`): an unbound one is sent nowhere.
    bindings: SecretBindings,
    /// How a file output's `group` is looked up (none: such an output does not start).
    groups: Option<GroupLookup>,
}

impl Outputs {
    pub fn new() -> Outputs {
        Outputs::default()
    }

    /// Outputs whose named secrets are the files of `dir` (`DIR/secrets`), each sent only
    /// where `bindings` (`[secrets.NAME]` of `collector.toml`) allow.
    pub fn with_secrets(dir: PathBuf, bindings: SecretBindings) -> Outputs {
        Outputs {
            secrets: Some(dir),
            bindings,
            ..Outputs::default()
        }
    }

    /// Outputs whose file outputs' `group` is looked up by `groups` (the daemon's lookup).
    pub fn with_group_lookup(mut self, groups: GroupLookup) -> Outputs {
        self.groups = Some(groups);
        self
    }

    /// Set up the outputs of `set` (a reload). Returns one line per output that could not
    /// start (its subscription's batches are answered 503 until it is fixed).
    pub fn configure(&self, set: &SubscriptionSet) -> Vec<String> {
        let _configuring = self.configuring.lock().unwrap_or_else(|p| p.into_inner());
        let env = StartEnv {
            secrets: self.secrets.as_deref(),
            bindings: &self.bindings,
            groups: self.groups,
            read_private: crate::store::config::read_secret_file,
        };
        let mut problems = Vec::new();
        let mut by_subscription = HashMap::new();
        for subscription in &set.subscriptions {
            let mut outputs = Vec::new();
            for (position, config) in subscription.outputs.iter().enumerate() {
                let label = output_label(&subscription.outputs, position);
                let output = match config.start(&self.pools, &env, &subscription.name) {
                    Ok(Some(output)) => output,
                    Ok(None) => continue,
                    Err(not_started) => {
                        problems.push(not_started.to_string());
                        Arc::new(not_started)
                    }
                };
                outputs.push(Budgeted::new(output, label));
            }
            by_subscription.insert(subscription.name.clone(), Arc::new(outputs));
        }
        for pool in self.pools.all() {
            pool.reloaded();
        }
        *self
            .by_subscription
            .write()
            .unwrap_or_else(|p| p.into_inner()) = by_subscription;
        problems
    }

    /// Close the open files (SIGHUP: rotated files are created anew).
    pub fn reopen(&self) {
        for pool in self.pools.all() {
            pool.reopen();
        }
    }

    /// Shutdown: every pool hands back what it holds (each Kafka producer its messages), so
    /// no batch waits on a broker past the stop. Returns how many messages were handed back.
    pub fn stop(&self) -> usize {
        let _configuring = self.configuring.lock().unwrap_or_else(|p| p.into_inner());
        self.pools.all().iter().map(|pool| pool.stop()).sum()
    }

    /// Store `batch` in every output of its subscription, one after the other; Ok only when
    /// each has it durably (the rule for acknowledging).
    pub fn write(&self, batch: &Batch<'_>) -> Result<(), OutputError> {
        self.write_observed(batch, &mut |_, _, _| {})
    }

    /// [`Outputs::write`], telling `observe` each output's label (see [`output_label`]), the
    /// time it took and whether it stored the batch: the per-output metrics. An output after
    /// one that failed is not tried (the batch is answered 503 anyway).
    pub fn write_observed(
        &self,
        batch: &Batch<'_>,
        observe: &mut dyn FnMut(&str, Duration, bool),
    ) -> Result<(), OutputError> {
        if batch.events.is_empty() {
            return Ok(());
        }
        let outputs = self
            .by_subscription
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(batch.subscription)
            .cloned();
        for output in outputs.iter().flat_map(|o| o.iter()) {
            let started = Instant::now();
            let result = output.write(batch);
            observe(&output.label, started.elapsed(), result.is_ok());
            result?;
        }
        Ok(())
    }
}

/// The metrics' name of the output at `position` of `outputs`: its type (`file`, `kafka`,
/// ...: [`OutputConfig::kind`]), with `-2`, `-3`, ... for the second and later of that type in
/// the subscription. From the configuration only, so the label set stays small and never
/// carries a path or a secret.
pub fn output_label(outputs: &[OutputConfig], position: usize) -> String {
    let kind = outputs[position].kind();
    let nth = outputs[..position]
        .iter()
        .filter(|o| o.kind() == kind)
        .count();
    if nth == 0 {
        kind.to_owned()
    } else {
        format!("{kind}-{}", nth + 1)
    }
}
