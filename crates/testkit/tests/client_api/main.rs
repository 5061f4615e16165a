//! Client-server API integration tests: each starts real Accord servers in-process on
//! 127.0.0.1 with RocksDB in a temp dir and talks HTTP to them.

mod account;
mod account_data;
mod conformance_accounts;
mod conformance_rooms;
mod conformance_sync;
mod cross_signing;
mod devices;
mod discovery;
mod e2ee_keys;
mod federation;
mod federation_bad_input;
mod federation_conformance;
mod federation_dag;
mod federation_keys;
mod federation_knock;
mod federation_membership;
mod federation_queries;
mod federation_restricted;
mod federation_sender;
mod federation_support;
mod http_errors;
mod invite_permission;
mod key_backup;
mod login;
mod pdu_integrity;
mod persistence;
mod profile;
mod push_rules;
mod register;
mod rooms;
mod storage_faults;
mod sync;
mod tls;
mod to_device;
