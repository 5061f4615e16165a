//! One accept loop for plain and TLS listeners, serving HTTP/1.1 and HTTP/2 with hyper, and
//! draining connections gracefully at shutdown.

use std::net::SocketAddr;

use accord_api::ClientAddr;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::{conn::auto::Builder, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::{SHUTDOWN_GRACE, ServerError};

/// Binds `addr` and serves `router` until `shutdown` turns true. Returns the bound address.
pub(crate) async fn spawn(
    which: &'static str,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(SocketAddr, JoinHandle<()>), ServerError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { which, addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { which, addr, source })?;
    let task = tokio::spawn(async move {
        let graceful = GracefulShutdown::new();
        let builder = Builder::new(TokioExecutor::new());
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        tracing::warn!(%err, which, "accept failed");
                        continue;
                    }
                },
                _ = shutdown.wait_for(|stop| *stop) => break,
            };
            let _ = stream.set_nodelay(true);
            // Handlers see the peer address (device activity, later rate limits and audit).
            let service =
                TowerToHyperService::new(router.clone().map_request(move |mut request: http::Request<Incoming>| {
                    request.extensions_mut().insert(ClientAddr(peer));
                    request
                }));
            match &tls {
                None => {
                    let conn = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        if let Err(err) = conn.await {
                            tracing::debug!(%err, %peer, "connection ended with an error");
                        }
                    });
                }
                Some(acceptor) => {
                    let acceptor = acceptor.clone();
                    let builder = builder.clone();
                    let watcher = graceful.watcher();
                    tokio::spawn(async move {
                        let stream = match acceptor.accept(stream).await {
                            Ok(stream) => stream,
                            Err(err) => {
                                tracing::debug!(%err, %peer, "TLS handshake failed");
                                return;
                            }
                        };
                        let conn = builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .into_owned();
                        if let Err(err) = watcher.watch(conn).await {
                            tracing::debug!(%err, %peer, "connection ended with an error");
                        }
                    });
                }
            }
        }
        drop(listener);
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await.is_err() {
            tracing::warn!(which, "connections still open after the grace period; closing them");
        }
    });
    Ok((bound, task))
}
