//! Accord's HTTP surface: the `Ruma<T>` extractor that turns a request into ruma's typed
//! request (authenticating it per the endpoint's metadata), the route table registered from
//! ruma's path metadata, the handlers, and the one place errors become Matrix JSON.
//!
//! Invariants: handlers only check request shape and call `accord-service`; the mapping from
//! error kind to HTTP status lives only in [`error`]; no storage or engine types here.

mod admin;
pub mod client;
mod count;
mod error;
mod extract;
pub mod federation;
mod media;
mod oauth;
mod pages;
mod raw;
mod router;
mod synapse_admin;

pub use error::{ApiError, Result, error_response};
pub use extract::{ClientAddr, ClientAuth, Ruma};
pub use federation::router as federation_router;
pub use router::router;
