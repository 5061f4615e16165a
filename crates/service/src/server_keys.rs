//! Signing keys for other servers (this server's, and others' as a notary) and the check of an
//! inbound request's `X-Matrix` signature, so the HTTP layer never handles federation types.

use ruma::{
    CanonicalJsonObject, OwnedServerName, ServerName,
    api::{
        error::ErrorKind,
        federation::{authentication::XMatrix, discovery::ServerSigningKeys},
    },
    serde::Raw,
};

use crate::{Error, Result, Services};

impl Services {
    /// Federation, or 404 when it is disabled (for the server-server endpoints).
    pub(crate) fn federation_enabled(&self) -> Result<&accord_federation::Federation> {
        self.federation
            .as_ref()
            .ok_or_else(|| Error::not_found("Federation is disabled on this server"))
    }

    /// `/_matrix/key/v2/server`: this server's keys, self-signed.
    pub fn own_server_keys(&self) -> Result<Raw<ServerSigningKeys>> {
        let keys = self
            .federation_enabled()?
            .own_keys()
            .map_err(|err| Error::Internal(err.to_string()))?;
        signed_keys(&keys)
    }

    /// `/_matrix/key/v2/query`: `server`'s keys countersigned by us, when they can be had.
    pub async fn notarised_keys(&self, server: &ServerName) -> Result<Option<Raw<ServerSigningKeys>>> {
        self.federation_enabled()?
            .notarised_keys(server)
            .await
            .as_ref()
            .map(signed_keys)
            .transpose()
    }

    /// The server that signed `request`, once its `X-Matrix` signature verified: 401
    /// `M_UNAUTHORIZED` when it doesn't (spec), 403 `M_FORBIDDEN` for a server closed
    /// federation keeps out.
    pub async fn authenticate_server(
        &self,
        x_matrix: &XMatrix,
        request: &http::Request<&[u8]>,
    ) -> Result<OwnedServerName> {
        let federation = self
            .federation
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::Unauthorized, "Federation is disabled on this server"))?;
        federation
            .verify_request(x_matrix, request)
            .await
            .map_err(|err| match err {
                accord_federation::Error::Forbidden(message) => Error::forbidden(message),
                other => Error::new(ErrorKind::Unauthorized, other.to_string()),
            })
    }
}

/// Signed keys as they travel: the signed JSON itself, never re-encoded through a type (that
/// would drop fields the signatures cover).
fn signed_keys(keys: &CanonicalJsonObject) -> Result<Raw<ServerSigningKeys>> {
    serde_json::value::to_raw_value(keys)
        .map(Raw::from_json)
        .map_err(|err| Error::Internal(format!("signed keys failed to serialize: {err}")))
}
