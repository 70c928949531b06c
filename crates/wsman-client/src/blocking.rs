//! A blocking wrapper for programs without an async runtime: the same operations, each run to
//! completion on a private single-threaded tokio runtime.

use wsman_proto::xml::Element;

use crate::client::{Client, ClientOptions, Resource};
use crate::endpoint::Endpoint;
use crate::enumerate::EnumerateOptions;
use crate::error::ClientError;

/// Blocking counterpart of [`Client`]. Must not be used from inside an async runtime.
#[derive(Debug)]
pub struct BlockingClient {
    runtime: tokio::runtime::Runtime,
    inner: Client,
}

impl BlockingClient {
    /// See [`Client::new`].
    pub fn new(endpoint: Endpoint, options: ClientOptions) -> Result<Self, ClientError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClientError::configuration(format!("cannot start a runtime: {e}")))?;
        let inner = Client::new(endpoint, options)?;
        Ok(Self { runtime, inner })
    }

    /// The async client inside.
    pub fn inner(&self) -> &Client {
        &self.inner
    }

    /// See [`Client::subscribe_pull`].
    pub fn subscribe_pull(
        &self,
        options: &crate::events::SubscribeOptions,
    ) -> Result<crate::events::PullSubscription, ClientError> {
        self.runtime.block_on(self.inner.subscribe_pull(options))
    }

    /// See [`Client::pull_events`].
    pub fn pull_events(
        &self,
        subscription: &crate::events::PullSubscription,
        max_elements: u32,
        max_time: std::time::Duration,
    ) -> Result<Option<crate::events::EventBatch>, ClientError> {
        self.runtime
            .block_on(self.inner.pull_events(subscription, max_elements, max_time))
    }

    /// See [`Client::unsubscribe`].
    pub fn unsubscribe(
        &self,
        subscription: &crate::events::PullSubscription,
    ) -> Result<(), ClientError> {
        self.runtime.block_on(self.inner.unsubscribe(subscription))
    }

    /// See [`Client::deliver`].
    pub fn deliver(
        &self,
        body: Vec<u8>,
        content_type: &str,
        content_encoding: Option<&str>,
        message_id: &str,
    ) -> Result<crate::client::DeliveryReply, ClientError> {
        self.runtime.block_on(
            self.inner
                .deliver(body, content_type, content_encoding, message_id),
        )
    }

    /// See [`Client::identify`].
    pub fn identify(&self) -> Result<Element, ClientError> {
        self.runtime.block_on(self.inner.identify())
    }

    /// See [`Client::get`].
    pub fn get(&self, resource: &Resource) -> Result<Element, ClientError> {
        self.runtime.block_on(self.inner.get(resource))
    }

    /// See [`Client::put`].
    pub fn put(&self, resource: &Resource, body: &str) -> Result<Option<Element>, ClientError> {
        self.runtime.block_on(self.inner.put(resource, body))
    }

    /// See [`Client::create`].
    pub fn create(&self, resource: &Resource, body: &str) -> Result<Element, ClientError> {
        self.runtime.block_on(self.inner.create(resource, body))
    }

    /// See [`Client::delete`].
    pub fn delete(&self, resource: &Resource) -> Result<(), ClientError> {
        self.runtime.block_on(self.inner.delete(resource))
    }

    /// See [`Client::enumerate`].
    pub fn enumerate(
        &self,
        resource: &Resource,
        options: &EnumerateOptions,
    ) -> Result<Vec<Element>, ClientError> {
        self.runtime
            .block_on(self.inner.enumerate(resource, options))
    }

    /// See [`Client::enumerate_each`].
    pub fn enumerate_each(
        &self,
        resource: &Resource,
        options: &EnumerateOptions,
        each: impl FnMut(crate::EnumeratedItem<'_>),
    ) -> Result<usize, ClientError> {
        self.runtime
            .block_on(self.inner.enumerate_each(resource, options, each))
    }

    /// See [`Client::invoke`].
    pub fn invoke(
        &self,
        resource: &Resource,
        method: &str,
        parameters: &[(String, String)],
    ) -> Result<Element, ClientError> {
        self.runtime
            .block_on(self.inner.invoke(resource, method, parameters))
    }

    /// See [`crate::shell::run_command`]: one command in a shell of its own, to completion.
    pub fn run_command(
        &self,
        command: &str,
        arguments: &[String],
        stdin: &[u8],
        shell: &crate::shell::ShellOptions,
        options: &crate::shell::CommandOptions,
    ) -> Result<crate::shell::CommandOutput, ClientError> {
        self.runtime.block_on(crate::shell::run_command(
            &self.inner,
            command,
            arguments,
            stdin,
            shell,
            options,
        ))
    }

    /// See [`Client::invoke_raw`].
    pub fn invoke_raw(
        &self,
        resource: &Resource,
        method: &str,
        body: &str,
    ) -> Result<Element, ClientError> {
        self.runtime
            .block_on(self.inner.invoke_raw(resource, method, body))
    }
}
