//! Emulated ticket systems for the ticket tests: ServiceNow's Change Management and Table APIs, and
//! Jira Cloud with Jira Service Management, as real HTTP/1.1 servers on 127.0.0.1 (port 0, through
//! tests/it/host's server), serving the routes sluice reads and writes with the documented behaviour
//! and quirks (see servicenow.rs and jira.rs). Neither system can run here; every answer served is
//! checked against the vendors' descriptions in tests/fixtures/ticket (Atlassian's OpenAPI for Jira
//! and Jira Service Management; for ServiceNow, which publishes its API reference as documentation,
//! the schemas written from it).

#![allow(dead_code)]
#![allow(clippy::doc_markdown, clippy::many_single_char_names)]

pub mod jira;
pub mod servicenow;
