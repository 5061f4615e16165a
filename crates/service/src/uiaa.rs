//! User-interactive authentication (spec: client-server API, "User-Interactive Authentication
//! API"): sessions that record completed stages until one advertised flow is complete.
//!
//! Sessions are stored, so a UIA dance survives a restart, and bound to the operation that
//! started them, so a session opened for one endpoint can't authorize another.

use std::sync::Arc;

use accord_core::{Config, time::now_millis};
use accord_db::{Db, TokenUse, UiaaSessionRecord, WriteBatch};
use ruma::{
    UserId,
    api::{
        client::uiaa::{AuthData, AuthFlow, AuthType, UiaaInfo, UserIdentifier},
        error::{ErrorKind, StandardErrorBody},
    },
};

use crate::{
    Error, Result,
    accounts::user_id_from_identifier,
    password_check::{PasswordCheck, Proof},
    rate_limits::{RateClass, RateLimits},
    registration_tokens::RegistrationTokens,
    tokens::random_alphanumeric,
};

/// Sessions older than this are forgotten.
pub(crate) const SESSION_LIFETIME_MS: u64 = 30 * 60 * 1000;

/// What a UIA-protected operation requires.
#[derive(Debug, Clone)]
pub struct UiaaRequirement<'a> {
    /// The flows offered; completing any one of them authorizes.
    pub flows: Vec<AuthFlow>,
    /// A name for the operation (e.g. `"POST /register"`) binding the session to it.
    pub operation: &'a str,
    /// The account whose password `m.login.password` must prove, when there is one.
    pub user: Option<&'a UserId>,
}

impl<'a> UiaaRequirement<'a> {
    /// The single flow `[m.login.password]` proving `user`'s password, for `operation`.
    pub fn password(operation: &'a str, user: &'a UserId) -> Self {
        Self {
            flows: vec![AuthFlow::new(vec![AuthType::Password])],
            operation,
            user: Some(user),
        }
    }
}

/// Proof that UIA completed; carries the session to delete in the operation's own batch.
#[derive(Debug)]
pub struct UiaaCompleted {
    session: String,
    /// The registration token the session used, whose held use now completes.
    registration_token: Option<String>,
}

impl UiaaCompleted {
    /// The registration token the session used, if any.
    pub fn registration_token(&self) -> Option<&str> {
        self.registration_token.as_deref()
    }

    /// Queues deleting the finished session together with the operation's writes, and turning
    /// its held registration token use into a completed one (a row no listing reads when the
    /// token is one of the config's, which have no limits to count).
    pub fn finish(self, db: &Db, batch: &mut WriteBatch) {
        db.delete_uiaa_session(batch, &self.session);
        if let Some(token) = &self.registration_token {
            db.put_registration_token_use(batch, token, &self.session, TokenUse { completed: true });
        }
    }
}

/// Runs UIA sessions.
#[derive(Clone, Debug)]
pub struct Uiaa {
    config: Arc<Config>,
    db: Db,
    rate_limits: RateLimits,
    tokens: RegistrationTokens,
    passwords: PasswordCheck,
}

impl Uiaa {
    pub(crate) fn new(
        config: Arc<Config>,
        db: Db,
        rate_limits: RateLimits,
        tokens: RegistrationTokens,
        passwords: PasswordCheck,
    ) -> Self {
        Self {
            config,
            db,
            rate_limits,
            tokens,
            passwords,
        }
    }

    /// Advances UIA with the client's `auth` dict.
    ///
    /// Returns `Ok` when a flow is complete; otherwise `Err(Error::Uiaa)` carrying the 401 body
    /// (flows, completed stages, session, and the stage's error if the attempt failed).
    pub async fn authenticate(&self, auth: Option<&AuthData>, required: &UiaaRequirement<'_>) -> Result<UiaaCompleted> {
        let session_id = auth.and_then(AuthData::session).map(ToOwned::to_owned);
        let mut record = match &session_id {
            Some(id) => self.load(id, required.operation)?,
            None => UiaaSessionRecord {
                bound_to: required.operation.to_owned(),
                created_ts: now_millis(),
                ..Default::default()
            },
        };
        let session_id = session_id.unwrap_or_else(|| random_alphanumeric(24));

        let mut stage_error = None;
        if let Some(auth) = auth {
            match self.check_stage(auth, required, &session_id, &mut record).await? {
                Ok(stage) => {
                    if !record.completed.contains(&stage) {
                        record.completed.push(stage);
                    }
                }
                Err(error) => stage_error = Some(error),
            }
        }

        let done = stage_error.is_none()
            && required.flows.iter().any(|flow| {
                flow.stages
                    .iter()
                    .all(|stage| record.completed.iter().any(|done| done == stage.as_str()))
            });
        if done {
            return Ok(UiaaCompleted {
                session: session_id,
                registration_token: record.registration_token,
            });
        }

        let mut batch = WriteBatch::new();
        self.db.put_uiaa_session(&mut batch, &session_id, &record);
        self.db.write(batch)?;
        let mut info = UiaaInfo::new(required.flows.clone());
        info.completed = record.completed.iter().map(|s| AuthType::from(s.as_str())).collect();
        info.session = Some(session_id);
        info.auth_error = stage_error.map(Box::new);
        if let Some(params) = self.params(required) {
            info.params = Some(params);
        }
        Err(Error::Uiaa(Box::new(info)))
    }

    fn load(&self, session_id: &str, operation: &str) -> Result<UiaaSessionRecord> {
        let unknown = || {
            Error::new(
                ErrorKind::Unknown,
                format!("Unknown or expired UIA session {session_id}; start again without a session"),
            )
        };
        let record = self.db.get_uiaa_session(session_id)?.ok_or_else(unknown)?;
        if now_millis().saturating_sub(record.created_ts) > SESSION_LIFETIME_MS {
            return Err(unknown());
        }
        if record.bound_to != operation {
            return Err(Error::forbidden(
                "This UIA session was started for a different operation",
            ));
        }
        Ok(record)
    }

    /// Checks one submitted stage. The outer `Result` is for server failures; the inner one is
    /// the stage's verdict (its error goes into the 401 body as the spec asks).
    async fn check_stage(
        &self,
        auth: &AuthData,
        required: &UiaaRequirement<'_>,
        session_id: &str,
        record: &mut UiaaSessionRecord,
    ) -> Result<Result<String, StandardErrorBody>> {
        let Some(stage) = auth.auth_type() else {
            return Ok(Err(StandardErrorBody::new(
                ErrorKind::Unrecognized,
                "Fallback authentication is not supported".to_owned(),
            )));
        };
        let offered = required.flows.iter().any(|flow| flow.stages.contains(&stage));
        if !offered {
            return Ok(Err(StandardErrorBody::new(
                ErrorKind::Unrecognized,
                format!("Stage {stage} is not offered here"),
            )));
        }
        let verdict = match auth {
            AuthData::Dummy(_) => Ok(()),
            AuthData::RegistrationToken(token) => match &record.registration_token {
                // A session holds one use of one token; switching would let it take two.
                Some(held) if held != &token.token => {
                    return Err(Error::invalid_param(
                        "The registration token cannot change during a registration; start again",
                    ));
                }
                Some(_) => Ok(()),
                None if self.tokens.reserve(&token.token, session_id)? => {
                    record.registration_token = Some(token.token.clone());
                    Ok(())
                }
                None => Err(StandardErrorBody::new(
                    ErrorKind::Forbidden,
                    "Invalid registration token: unknown, expired or used up".to_owned(),
                )),
            },
            AuthData::Password(password) => {
                self.check_password(&password.identifier, &password.password, required)
                    .await?
            }
            _ => Err(StandardErrorBody::new(
                ErrorKind::Unrecognized,
                format!("Stage {stage} is not supported"),
            )),
        };
        Ok(verdict.map(|()| stage.as_str().to_owned()))
    }

    async fn check_password(
        &self,
        identifier: &UserIdentifier,
        password: &str,
        required: &UiaaRequirement<'_>,
    ) -> Result<Result<(), StandardErrorBody>> {
        let invalid = || StandardErrorBody::new(ErrorKind::Forbidden, "Invalid username or password".to_owned());
        let Some(expected) = required.user else {
            return Ok(Err(invalid()));
        };
        let claimed = user_id_from_identifier(identifier, &self.config.server_name);
        if claimed.as_deref() != Some(expected) {
            // Another user's credentials can never complete this session: a hard 403, not a
            // stage to retry (Synapse answers so; Complement's TestDeviceManagement checks it).
            return Err(Error::forbidden(
                "The password stage must name the user the request is authenticated as",
            ));
        }
        // Confirming a password is guessing it too: same allowance as login (a bucket of its
        // own, as on Synapse, so a failed confirmation doesn't block logging in).
        let key = format!("uia {expected}");
        self.rate_limits.peek(RateClass::LoginFailedAttempts, &key)?;
        if self.passwords.prove(expected, password).await? == Proof::Failed {
            self.rate_limits.record(RateClass::LoginFailedAttempts, &key);
            return Ok(Err(invalid()));
        }
        Ok(Ok(()))
    }

    fn params(&self, _required: &UiaaRequirement<'_>) -> Option<Box<serde_json::value::RawValue>> {
        serde_json::value::to_raw_value(&serde_json::json!({})).ok()
    }
}
