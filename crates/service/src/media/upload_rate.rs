//! Upload rate limiting: a token bucket per user (`media.max_uploads_per_minute`, bursts up to
//! that many), so one account can't fill the disk or the CPU with a loop of uploads. Over the
//! limit an upload (or a `/create`) gets 429 `M_LIMIT_EXCEEDED` with `retry_after_ms`.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use parking_lot::Mutex;
use ruma::{
    OwnedUserId, UserId,
    api::error::{ErrorKind, LimitExceededErrorData, RetryAfter},
};

use crate::{Error, Result};

/// Buckets are forgotten after this long idle (a full bucket is the same as none).
const IDLE: Duration = Duration::from_secs(300);

/// Per-user upload allowance.
#[derive(Debug, Default)]
pub(super) struct UploadRate {
    buckets: Mutex<HashMap<OwnedUserId, (f64, Instant)>>,
}

impl UploadRate {
    /// Takes one upload from `user_id`'s bucket, or says when the next one is allowed.
    pub(super) fn take(&self, user_id: &UserId, per_minute: u32) -> Result<()> {
        if per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(per_minute);
        let per_second = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock();
        if buckets.len() > 10_000 {
            buckets.retain(|_, (_, at)| now.duration_since(*at) < IDLE);
        }
        let (tokens, updated) = buckets.entry(user_id.to_owned()).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*updated).as_secs_f64() * per_second).min(capacity);
        *updated = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            return Ok(());
        }
        let wait = Duration::from_secs_f64((1.0 - *tokens) / per_second);
        let mut data = LimitExceededErrorData::new();
        data.retry_after = Some(RetryAfter::Delay(wait));
        Err(Error::new(
            ErrorKind::LimitExceeded(data),
            format!("Too many uploads: at most {per_minute} a minute (media.max_uploads_per_minute)"),
        ))
    }
}
