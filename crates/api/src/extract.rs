//! `Ruma<T>`: the extractor every Matrix endpoint uses. It enforces the body limit, checks the
//! access token the endpoint's metadata asks for, and parses ruma's typed request.

use std::net::IpAddr;

use accord_service::{AuthedUser, Services};
use axum::{
    RequestPartsExt,
    extract::{FromRequest, RawPathParams, Request},
};
use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use ruma::OwnedServerName;
use ruma::api::{
    IncomingRequest, IncomingRequestExt,
    auth_scheme::{
        AccessToken, AccessTokenOptional, AppserviceToken, AppserviceTokenOptional, NoAccessToken, NoAuthentication,
        extract_bearer_or_query_token,
    },
    error::{DeserializationError, ErrorKind, FromHttpRequestError},
    federation::authentication::{ServerSignatures, XMatrix},
    path_builder::PathBuilder,
};

use crate::{ApiError, Result};

/// How an endpoint's ruma authentication scheme is checked, and what it yields.
pub trait ClientAuth {
    /// What the handler receives: the user, maybe a user, the origin server, or nothing.
    type Output: Send + 'static;

    /// Checks the request's credentials (the body is included: `X-Matrix` signs it).
    fn authenticate(
        services: &Services,
        request: &http::Request<&[u8]>,
    ) -> impl Future<Output = Result<Self::Output>> + Send;
}

fn bearer_token(request: &http::Request<&[u8]>) -> Result<Option<String>> {
    extract_bearer_or_query_token(request).map_err(|_| {
        ApiError::new(
            ErrorKind::MissingToken,
            "Malformed Authorization header; use `Bearer <token>`",
        )
    })
}

/// The peer address of the connection a request came on; the listener inserts it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub std::net::SocketAddr);

/// The client's address: the connection's peer, or behind a proxy (`client_api.x_forwarded`)
/// the last address in `X-Forwarded-For`, the one the proxy itself appended (earlier entries
/// are whatever the client sent).
pub(crate) fn client_ip(
    services: &Services,
    parts_headers: &http::HeaderMap,
    extensions: &http::Extensions,
) -> Option<IpAddr> {
    if services.config.client_api.x_forwarded {
        let forwarded = parts_headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|entry| entry.trim().parse::<IpAddr>().ok())
            .next_back();
        if forwarded.is_some() {
            return forwarded;
        }
    }
    extensions.get::<ClientAddr>().map(|addr| addr.0.ip())
}

/// An application service's `as_token` is looked up first (in memory), as Synapse does; the
/// service then acts as `?user_id=` or its sender.
fn authenticate_token(services: &Services, request: &http::Request<&[u8]>, token: &str) -> Result<AuthedUser> {
    // `/register` ignores `?user_id=`: the user it names is the one being registered (mautrix
    // sends it there too), so the service acts as its sender.
    let registering = request.uri().path().ends_with("/register");
    let query = if registering { None } else { request.uri().query() };
    if let Some(acting) = services.authenticate_appservice(token, query) {
        return Ok(acting?);
    }
    Ok(services.sessions.authenticate(token)?)
}

fn required(services: &Services, request: &http::Request<&[u8]>) -> Result<AuthedUser> {
    let token = bearer_token(request)?.ok_or_else(|| ApiError::new(ErrorKind::MissingToken, "Missing access token"))?;
    let user = authenticate_token(services, request, &token)?;
    if user.appservice.is_some() {
        // A service's requests are not a device's activity.
        return Ok(user);
    }
    if !open_to_locked_accounts(request.uri().path()) {
        services.sessions.ensure_not_locked(&user.user_id)?;
    }
    let ip = client_ip(services, request.headers(), request.extensions());
    if let Err(err) = services.devices.touch(&user.user_id, &user.device_id, ip) {
        // Activity tracking must never fail the request itself.
        tracing::warn!(%err, "could not record device activity");
    }
    Ok(user)
}

/// The user a streamed request (a media upload or download, which the [`Ruma`] extractor would
/// buffer) authenticates as: 401 without a valid access token. Checked before anything else
/// of the request, as Complement expects of the media endpoints.
pub(crate) fn authenticate_parts(services: &Services, parts: &http::request::Parts) -> Result<AuthedUser> {
    let request = http::Request::from_parts(parts.clone(), &[][..]);
    required(services, &request)
}

/// The user an admin request's token belongs to, for its audit record; nothing when there is
/// no token or it is not valid (the handler answers that).
pub(crate) fn token_owner(services: &Services, parts: &http::request::Parts) -> Option<ruma::OwnedUserId> {
    let request = http::Request::from_parts(parts.clone(), &[][..]);
    let token = bearer_token(&request).ok()??;
    authenticate_token(services, &request, &token)
        .ok()
        .map(|user| user.user_id)
}

fn optional(services: &Services, request: &http::Request<&[u8]>) -> Result<Option<AuthedUser>> {
    match bearer_token(request)? {
        Some(token) => {
            let user = authenticate_token(services, request, &token)?;
            if user.appservice.is_none() && !open_to_locked_accounts(request.uri().path()) {
                services.sessions.ensure_not_locked(&user.user_id)?;
            }
            Ok(Some(user))
        }
        None => Ok(None),
    }
}

/// What a locked account may still call: logging out (spec) and the versions list (which
/// clients fetch before anything else, as Synapse allows).
fn open_to_locked_accounts(path: &str) -> bool {
    path.ends_with("/logout") || path.ends_with("/logout/all") || path == "/_matrix/client/versions"
}

impl ClientAuth for AccessToken {
    type Output = AuthedUser;
    async fn authenticate(services: &Services, request: &http::Request<&[u8]>) -> Result<AuthedUser> {
        required(services, request)
    }
}

impl ClientAuth for AppserviceToken {
    type Output = AuthedUser;
    async fn authenticate(services: &Services, request: &http::Request<&[u8]>) -> Result<AuthedUser> {
        required(services, request)
    }
}

impl ClientAuth for AccessTokenOptional {
    type Output = Option<AuthedUser>;
    async fn authenticate(services: &Services, request: &http::Request<&[u8]>) -> Result<Option<AuthedUser>> {
        optional(services, request)
    }
}

impl ClientAuth for AppserviceTokenOptional {
    type Output = Option<AuthedUser>;
    async fn authenticate(services: &Services, request: &http::Request<&[u8]>) -> Result<Option<AuthedUser>> {
        optional(services, request)
    }
}

impl ClientAuth for NoAuthentication {
    type Output = ();
    async fn authenticate(_: &Services, _: &http::Request<&[u8]>) -> Result<()> {
        Ok(())
    }
}

impl ClientAuth for NoAccessToken {
    type Output = ();
    async fn authenticate(_: &Services, _: &http::Request<&[u8]>) -> Result<()> {
        Ok(())
    }
}

/// Server-server requests: the `X-Matrix` signature must verify with the origin's key; the
/// handler receives the authenticated origin. Failures are 401 `M_UNAUTHORIZED` (spec).
impl ClientAuth for ServerSignatures {
    type Output = OwnedServerName;
    async fn authenticate(services: &Services, request: &http::Request<&[u8]>) -> Result<OwnedServerName> {
        let x_matrix = XMatrix::extract_from_http_headers(request.headers()).map_err(|err| {
            ApiError::new(
                ErrorKind::Unauthorized,
                format!("Missing or malformed X-Matrix authorization: {err}"),
            )
        })?;
        let origin = services.authenticate_server(&x_matrix, request).await?;
        // Counted after authentication, so a forged origin can't use up a partner's allowance.
        let permit = services.rate_limits.federation.admit(&origin).await?;
        if let Some(mut held) = request
            .extensions()
            .get::<FederationSlot>()
            .and_then(|slot| slot.0.lock().ok())
        {
            *held = Some(permit);
        }
        Ok(origin)
    }
}

/// Where a federation request keeps its rate-limit permit (`rate_limits.federation.concurrent`)
/// until its response is made; the federation router's layer inserts one into each request.
#[derive(Clone, Default)]
pub(crate) struct FederationSlot(
    std::sync::Arc<std::sync::Mutex<Option<accord_service::rate_limits::FederationPermit>>>,
);

/// Holds each federation request's permit for as long as its handler runs.
pub(crate) async fn hold_federation_permit(
    mut request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let slot = FederationSlot::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    drop(slot);
    response
}

/// A parsed, authenticated Matrix request.
pub struct Ruma<T: IncomingRequest>
where
    T::Authentication: ClientAuth,
{
    /// The typed request.
    pub body: T,
    /// The caller, as the endpoint's authentication scheme defines it.
    pub auth: <T::Authentication as ClientAuth>::Output,
    /// The query string as sent, for parameters ruma's type doesn't know (unstable names).
    pub query: Option<String>,
    /// The body as sent, for keys ruma's type doesn't keep (a member event's extra content).
    pub raw_body: Bytes,
    /// The client's address, for limits by address (login, registration).
    pub client_ip: Option<IpAddr>,
}

impl<T> FromRequest<Services> for Ruma<T>
where
    T: IncomingRequest + Send + 'static,
    T::Authentication: ClientAuth,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, services: &Services) -> Result<Self> {
        let (mut parts, body) = request.into_parts();
        let mut path_args: Vec<String> = match parts.extract::<RawPathParams>().await {
            Ok(params) => params.iter().map(|(_, value)| value.to_owned()).collect(),
            Err(_) => Vec::new(),
        };
        // Routes registered without a trailing parameter (`.../state/{type}` for an empty
        // state key) leave the last argument empty.
        let expected = T::PATH_BUILDER
            .all_paths()
            .next()
            .map_or(0, |path| path.matches('{').count());
        while path_args.len() < expected {
            path_args.push(String::new());
        }

        let raw = read_body(body, services.config.client_api.max_request_bytes).await?;
        let auth = {
            let signed = http::Request::from_parts(parts.clone(), raw.as_ref());
            T::Authentication::authenticate(services, &signed).await?
        };
        let body = if raw.is_empty() && matches!(parts.method, Method::POST | Method::PUT) {
            // Clients omit the body of POSTs without required fields; treat it as `{}` as Synapse does.
            Bytes::from_static(b"{}")
        } else {
            // serde_json skips the strings of keys it ignores without checking their UTF-8, so
            // the encoding is checked on its own (spec: request bodies are UTF-8 JSON).
            let valid = std::str::from_utf8(&raw)
                .is_ok_and(|text| text.is_empty() || serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok());
            if !valid {
                return Err(ApiError::new(
                    ErrorKind::NotJson,
                    "Request body is not valid UTF-8 JSON",
                ));
            }
            raw
        };

        let query = parts.uri.query().map(str::to_owned);
        let client_ip = client_ip(services, &parts.headers, &parts.extensions);
        let raw_body = body.clone();
        let request = http::Request::from_parts(parts, body.as_ref());
        let path_refs: Vec<&str> = path_args.iter().map(String::as_str).collect();
        let body = T::try_from_http_request(request, &path_refs).map_err(parse_error)?;
        Ok(Self {
            body,
            auth,
            query,
            raw_body,
            client_ip,
        })
    }
}

/// Reads the whole body, refusing more than `limit` bytes with 413 `M_TOO_LARGE`.
pub(crate) async fn read_body(body: axum::body::Body, limit: usize) -> Result<Bytes> {
    let too_large = || {
        ApiError::new(
            ErrorKind::TooLarge,
            format!("Request body exceeds the limit of {limit} bytes"),
        )
    };
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(too_large()),
        Err(err) => Err(ApiError::new(
            ErrorKind::BadJson,
            format!("Could not read request body: {err}"),
        )),
    }
}

fn parse_error(err: FromHttpRequestError) -> ApiError {
    match err {
        FromHttpRequestError::Deserialization(DeserializationError::Json(err)) => {
            ApiError::new(ErrorKind::BadJson, format!("Invalid request body: {err}"))
        }
        FromHttpRequestError::Deserialization(err) => {
            ApiError::new(ErrorKind::InvalidParam, format!("Invalid request: {err}"))
        }
        FromHttpRequestError::MethodMismatch { expected, received } => {
            ApiError::new(ErrorKind::Unrecognized, format!("Expected {expected}, got {received}"))
        }
        other => ApiError::new(ErrorKind::BadJson, format!("Invalid request: {other}")),
    }
}
