//! `Ruma<T>`: the extractor every Matrix endpoint uses. It enforces the body limit, checks the
//! access token the endpoint's metadata asks for, and parses ruma's typed request.

use accord_service::{AuthedUser, Services};
use axum::{
    RequestPartsExt,
    extract::{FromRequest, RawPathParams, Request},
};
use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use ruma::api::{
    IncomingRequest, IncomingRequestExt,
    auth_scheme::{
        AccessToken, AccessTokenOptional, AppserviceToken, AppserviceTokenOptional, NoAccessToken, NoAuthentication,
        extract_bearer_or_query_token,
    },
    error::{DeserializationError, ErrorKind, FromHttpRequestError},
    path_builder::PathBuilder,
};

use crate::{ApiError, Result};

/// How an endpoint's ruma authentication scheme is checked, and what it yields.
pub trait ClientAuth {
    /// What the handler receives: the user, maybe a user, or nothing.
    type Output: Send + 'static;

    /// Checks the token (if any) the request carried.
    fn authenticate(services: &Services, token: Option<String>) -> Result<Self::Output>;
}

fn required(services: &Services, token: Option<String>) -> Result<AuthedUser> {
    let token = token.ok_or_else(|| ApiError::new(ErrorKind::MissingToken, "Missing access token"))?;
    Ok(services.sessions.authenticate(&token)?)
}

impl ClientAuth for AccessToken {
    type Output = AuthedUser;
    fn authenticate(services: &Services, token: Option<String>) -> Result<AuthedUser> {
        required(services, token)
    }
}

impl ClientAuth for AppserviceToken {
    type Output = AuthedUser;
    fn authenticate(services: &Services, token: Option<String>) -> Result<AuthedUser> {
        required(services, token)
    }
}

impl ClientAuth for AccessTokenOptional {
    type Output = Option<AuthedUser>;
    fn authenticate(services: &Services, token: Option<String>) -> Result<Option<AuthedUser>> {
        token.map(|token| required(services, Some(token))).transpose()
    }
}

impl ClientAuth for AppserviceTokenOptional {
    type Output = Option<AuthedUser>;
    fn authenticate(services: &Services, token: Option<String>) -> Result<Option<AuthedUser>> {
        token.map(|token| required(services, Some(token))).transpose()
    }
}

impl ClientAuth for NoAuthentication {
    type Output = ();
    fn authenticate(_: &Services, _: Option<String>) -> Result<()> {
        Ok(())
    }
}

impl ClientAuth for NoAccessToken {
    type Output = ();
    fn authenticate(_: &Services, _: Option<String>) -> Result<()> {
        Ok(())
    }
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

        let token = {
            let probe = http::Request::from_parts(parts.clone(), ());
            extract_bearer_or_query_token(&probe).map_err(|_| {
                ApiError::new(
                    ErrorKind::MissingToken,
                    "Malformed Authorization header; use `Bearer <token>`",
                )
            })?
        };
        let auth = T::Authentication::authenticate(services, token)?;

        let body = read_body(body, services.config.client_api.max_request_bytes).await?;
        let body = if body.is_empty() && matches!(parts.method, Method::POST | Method::PUT) {
            // Clients omit the body of POSTs without required fields; treat it as `{}` as Synapse does.
            Bytes::from_static(b"{}")
        } else {
            if !body.is_empty() && serde_json::from_slice::<serde::de::IgnoredAny>(&body).is_err() {
                return Err(ApiError::new(ErrorKind::NotJson, "Request body is not valid JSON"));
            }
            body
        };

        let request = http::Request::from_parts(parts, body.as_ref());
        let path_refs: Vec<&str> = path_args.iter().map(String::as_str).collect();
        let body = T::try_from_http_request(request, &path_refs).map_err(parse_error)?;
        Ok(Self { body, auth })
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
