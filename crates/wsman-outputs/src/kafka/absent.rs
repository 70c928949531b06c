//! A build without the `kafka` feature: no librdkafka, no producer. A Kafka output's check
//! refuses it first ([`crate::OutputSettingError::NotBuilt`]), so nothing here is reached by a
//! configuration; the types keep the output's place in the registry.

use super::{KafkaConfig, KafkaSecrets, KafkaStartError};
use crate::{Pool, Started};

/// No producers: nothing to keep or stop.
#[derive(Default)]
pub struct KafkaClusters;

impl Pool for KafkaClusters {}

/// Why a Kafka output did not start in a build without the producer.
#[derive(Debug, thiserror::Error)]
pub enum KafkaOutputError {
    #[error("this wsmand was built without the Kafka output (the Cargo feature `kafka`)")]
    NotBuilt,
}

impl KafkaClusters {
    pub(super) fn output(
        &self,
        _config: &KafkaConfig,
        _secrets: &KafkaSecrets,
    ) -> Result<Started, KafkaStartError> {
        Err(KafkaOutputError::NotBuilt.into())
    }
}
