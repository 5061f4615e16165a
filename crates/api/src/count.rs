//! Counts from requests (`limit`, `max_depth`): ruma's `UInt` as a `usize`, saturating (a
//! count larger than memory can hold is clamped by the service anyway).

use ruma::UInt;

/// `n` as a `usize`, saturating.
pub(crate) fn count(n: UInt) -> usize {
    usize::try_from(u64::from(n)).unwrap_or(usize::MAX)
}
