//! `GET /_matrix/client/v1/media/config` and its legacy twin: the upload size limit.

use accord_service::Services;
#[allow(deprecated)]
use ruma::{
    UInt,
    api::client::{authenticated_media::get_media_config::v1 as config, media::get_media_config::v3 as legacy_config},
};

use crate::{Result, Ruma};

fn upload_size(services: &Services) -> UInt {
    UInt::try_from(services.media.max_upload_size()).unwrap_or(UInt::MAX)
}

/// # `GET /_matrix/client/v1/media/config`
pub(crate) async fn get_media_config_route(services: Services, _: Ruma<config::Request>) -> Result<config::Response> {
    Ok(config::Response::new(upload_size(&services)))
}

/// # `GET /_matrix/media/v3/config`
///
/// Deprecated by the spec (v1.11) and still asked by older clients and Complement's
/// TestMediaConfig.
#[allow(deprecated)]
pub(crate) async fn get_legacy_media_config_route(
    services: Services,
    _: Ruma<legacy_config::Request>,
) -> Result<legacy_config::Response> {
    Ok(legacy_config::Response::new(upload_size(&services)))
}
