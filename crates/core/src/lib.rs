//! Accord's shared vocabulary: the configuration (one TOML file, overridable by environment),
//! and small value types every layer uses.
//!
//! Invariant: no storage engine, web framework or network client here; every other crate may
//! depend on this one, so it stays light.

pub mod appservice;
pub mod config;
pub mod glob;
pub mod identity;
pub mod pdu;
pub mod time;

pub use config::{Config, ConfigError};
pub use identity::ServerIdentity;
pub use pdu::{Pdu, PduError};
