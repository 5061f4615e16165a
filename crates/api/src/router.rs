//! The route table: every endpoint registered from ruma's own path metadata, grouped by spec
//! section, plus the fallbacks that answer unknown paths and wrong methods the Matrix way.

use std::future::Future;

use accord_service::Services;
use axum::{
    Router,
    extract::State,
    response::{IntoResponse, Response},
    routing::{MethodFilter, get, on},
};
use bytes::BytesMut;
use http::StatusCode;
use ruma::api::{IncomingRequest, OutgoingResponse, OutgoingResponseExt, error::ErrorKind, path_builder::PathBuilder};

use crate::{ApiError, ClientAuth, Result, Ruma, client, error_response, synapse_admin};

/// Builds the client-server router over `services`.
pub fn router(services: Services) -> Router {
    let router = Router::new();
    let router = crate::oauth::routes(crate::admin::routes(crate::media::routes(client::routes(router))))
        .route(
            "/_synapse/admin/v1/register",
            get(synapse_admin::get_nonce_route).post(synapse_admin::register_route),
        )
        .route("/.well-known/matrix/client", get(client::well_known::client_route))
        .route("/.well-known/matrix/server", get(client::well_known::server_route))
        .route("/health", get(|| async { "OK" }));
    let router = OTHER_LISTENER_PATHS.iter().fold(router, |router, (path, method)| {
        router.route(path, on(*method, not_on_this_listener))
    });
    with_fallbacks(router)
        .layer(axum::middleware::from_fn_with_state(
            services.clone(),
            crate::admin::audit_trail::record_admin_requests,
        ))
        .with_state(services)
}

/// Endpoints of the other APIs that the client listener doesn't serve (federation and keys
/// have their own listener), registered with the method they take: a
/// request with the right method gets 404, one with a wrong method 405, as on a server that
/// serves them on this port (Synapse; Complement's TestUnknownEndpoints asks for the 405s).
const OTHER_LISTENER_PATHS: &[(&str, MethodFilter)] = &[
    ("/_matrix/federation/v1/version", MethodFilter::GET),
    ("/_matrix/key/v2/server", MethodFilter::GET),
    ("/_matrix/key/v2/query", MethodFilter::POST),
];

async fn not_on_this_listener() -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        ErrorKind::Unrecognized,
        "This endpoint is not served on this listener",
    )
}

/// Answers unknown paths with 404 and wrong methods with 405, both `M_UNRECOGNIZED`.
pub(crate) fn with_fallbacks(router: Router<Services>) -> Router<Services> {
    router
        .fallback(unrecognized)
        .method_not_allowed_fallback(method_not_allowed)
}

async fn unrecognized() -> Response {
    error_response(StatusCode::NOT_FOUND, ErrorKind::Unrecognized, "Unrecognized request")
}

async fn method_not_allowed() -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::Unrecognized,
        "Method not allowed for this endpoint",
    )
}

/// Registers handlers for every path (stable and unstable) ruma knows for their request type.
pub(crate) trait RumaRouter: Sized {
    /// A handler answering with ruma's typed response.
    fn ruma_route<Req, H, Fut>(self, handler: H) -> Self
    where
        Req: IncomingRequest + Send + 'static,
        Req::Authentication: ClientAuth,
        H: Fn(Services, Ruma<Req>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Req::OutgoingResponse>> + Send + 'static,
    {
        self.route_with::<Req, _, _, _>(handler, into_http)
    }

    /// Registers `handler` for `Req`'s paths, rendering success with `render`.
    fn route_with<Req, H, Fut, Out>(self, handler: H, render: fn(Out) -> Response) -> Self
    where
        Req: IncomingRequest + Send + 'static,
        Req::Authentication: ClientAuth,
        H: Fn(Services, Ruma<Req>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Out>> + Send + 'static,
        Out: 'static;
}

impl RumaRouter for Router<Services> {
    fn route_with<Req, H, Fut, Out>(self, handler: H, render: fn(Out) -> Response) -> Self
    where
        Req: IncomingRequest + Send + 'static,
        Req::Authentication: ClientAuth,
        H: Fn(Services, Ruma<Req>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Result<Out>> + Send + 'static,
        Out: 'static,
    {
        let Ok(filter) = MethodFilter::try_from(Req::METHOD) else {
            tracing::error!(method = %Req::METHOD, "ruma endpoint with a method axum can't route; skipped");
            return self;
        };
        let mut router = self;
        for path in Req::PATH_BUILDER.all_paths().flat_map(with_empty_state_key) {
            let handler = handler.clone();
            router = router.route(
                &path,
                on(
                    filter,
                    move |State(services): State<Services>, request: Ruma<Req>| async move {
                        match handler(services, request).await {
                            Ok(out) => render(out),
                            Err(error) => error.into_response(),
                        }
                    },
                ),
            );
        }
        router
    }
}

/// A path, plus for state paths ending in `/{state_key}` the forms clients use for an empty
/// state key: with a trailing slash and without the segment (spec: "the state_key may be
/// omitted, with or without the trailing slash").
fn with_empty_state_key(path: &'static str) -> Vec<String> {
    match path.strip_suffix("/{state_key}") {
        Some(base) => vec![path.to_owned(), format!("{base}/"), base.to_owned()],
        None => vec![path.to_owned()],
    }
}

pub(crate) fn into_http<R: OutgoingResponse>(response: R) -> Response {
    match response.try_into_http_response::<BytesMut>() {
        Ok(response) => response
            .map(|body| axum::body::Body::from(body.freeze()))
            .into_response(),
        Err(err) => ApiError::from(accord_service::Error::Internal(format!(
            "response serialization failed: {err}"
        )))
        .into_response(),
    }
}
