//! Read receipts and read markers.

use accord_service::{
    Error, Services,
    rooms::receipts::{READ, READ_PRIVATE, ReceiptSlot, receipt_slot},
};
use ruma::api::client::{
    read_marker::set_read_marker::v3 as set_read_marker,
    receipt::create_receipt::v3::{self as create_receipt, ReceiptType},
};
use ruma::events::receipt::ReceiptThread;

use crate::{ApiError, Result, Ruma};

/// # `POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}`
pub async fn create_receipt_route(
    services: Services,
    request: Ruma<create_receipt::Request>,
) -> Result<create_receipt::Response> {
    let body = request.body;
    let user = &request.auth;
    match body.receipt_type {
        ReceiptType::Read => {
            let slot = receipt_slot(READ, &body.thread)?;
            services.set_receipt_anywhere(user, &body.room_id, &slot, &body.event_id)?
        }
        ReceiptType::ReadPrivate => {
            let slot = receipt_slot(READ_PRIVATE, &body.thread)?;
            services.set_receipt_anywhere(user, &body.room_id, &slot, &body.event_id)?
        }
        ReceiptType::FullyRead if body.thread != ReceiptThread::Unthreaded => {
            return Err(ApiError::from(Error::invalid_param(
                "thread_id can't be given for m.fully_read: the read marker is not threaded",
            )));
        }
        ReceiptType::FullyRead => services.rooms.set_fully_read(user, &body.room_id, &body.event_id)?,
        other => {
            return Err(ApiError::from(Error::invalid_param(format!(
                "Unsupported receipt type {}",
                other.as_str()
            ))));
        }
    }
    Ok(create_receipt::Response::new())
}

/// # `POST /_matrix/client/v3/rooms/{roomId}/read_markers`
pub async fn set_read_marker_route(
    services: Services,
    request: Ruma<set_read_marker::Request>,
) -> Result<set_read_marker::Response> {
    let body = request.body;
    let user = &request.auth;
    if let Some(event_id) = &body.fully_read {
        services.rooms.set_fully_read(user, &body.room_id, event_id)?;
    }
    if let Some(event_id) = &body.read_receipt {
        services.set_receipt_anywhere(user, &body.room_id, &ReceiptSlot::unthreaded(READ), event_id)?;
    }
    if let Some(event_id) = &body.private_read_receipt {
        services.set_receipt_anywhere(user, &body.room_id, &ReceiptSlot::unthreaded(READ_PRIVATE), event_id)?;
    }
    Ok(set_read_marker::Response::new())
}
