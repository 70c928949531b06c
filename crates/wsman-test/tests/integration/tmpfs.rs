//! The harness's tmpfs, under the name the integration tests use.

pub(crate) use wsman_test::tmpfs::Tmpfs;
