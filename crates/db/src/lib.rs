//! Accord's database: the one catalog of tables, typed stores over them, and schema
//! migrations run at start.
//!
//! Invariants: every table is declared once, in [`tables`], with its key and value layout; this
//! crate talks to storage only through `accord_storage::KvEngine` (it never names `rocksdb`);
//! stores expose `get_x -> Result<Option<X>>`, `x -> Result<X>` and `put_x`/`delete_x` taking
//! a `&mut WriteBatch`, so one API call commits everything it changes in one atomic batch.

mod account_data;
mod accounts;
mod appservice;
mod audit;
mod cross_signing;
mod database;
mod dehydrated;
mod delayed_events;
mod device_keys;
mod device_lists;
mod devices;
mod edu_queue;
mod erasure;
mod error;
mod federation_backoff;
mod filters;
mod first_admin;
mod key_backup;
mod keys;
mod media;
mod migrations;
mod notifications;
mod oauth;
mod openid;
mod outbound;
mod presence;
mod pushers;
mod registration_tokens;
mod remote_devices;
mod reports;
mod retention;
pub mod rooms;
mod server_keys;
mod server_notices;
mod sessions;
mod sso;
pub mod tables;
mod thread_subscriptions;
mod to_device;
mod uiaa;

pub use accounts::{RateLimitOverride, UserAccount};
pub use appservice::{AppserviceProgress, PendingTransaction};
pub use audit::{AuditBody, AuditEvent, AuditFilter, AuditRecord, AuditVerification, kinds as audit_kinds};
pub use cross_signing::CrossSigningKeys;
pub use database::Db;
pub use dehydrated::DehydratedDevice;
pub use delayed_events::DelayedEventRecord;
pub use device_keys::{FallbackKey, OneTimeKeyRow};
pub use device_lists::LocalDeviceChange;
pub use devices::{DeviceRecord, LastSeen};
pub use error::{Error, Result};
pub use federation_backoff::DestinationBackoff;
pub use first_admin::FirstAdminToken;
pub use key_backup::BackupVersion;
pub use keys::{StoredOldKey, StoredSigningKey};
pub use media::{FILE_REFERENCE, MediaRecord, ThumbnailRecord, thumbnail_reference};
pub use migrations::SCHEMA_VERSION;
pub use notifications::NotificationRecord;
pub use oauth::{AccountPageSession, AuthorizationGrant, DeviceGrant, OAuthClient, PendingAuthorization};
pub use openid::OpenIdSession;
pub use presence::PresenceRecord;
pub use pushers::{PusherProgress, PusherRecord};
pub use registration_tokens::{RegistrationToken, TokenUse};
pub use remote_devices::{RemoteDevice, RemoteDeviceList};
pub use reports::{Report, ReportKind};
pub use sessions::{AccessSession, RefreshSession};
pub use sso::{LoginTokenRecord, SsoAttempt};
pub use thread_subscriptions::ThreadSubscription;
pub use to_device::{PartialDelivery, ToDeviceMessage};
pub use uiaa::UiaaSessionRecord;

pub use accord_storage::{Direction, WriteBatch};
