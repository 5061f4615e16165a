//! What can go wrong with a media file, in terms the service turns into Matrix errors.

/// A media operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The upload is larger than allowed; nothing was kept.
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The request body ended early or failed while streaming; nothing was kept.
    #[error("the upload could not be read: {0}")]
    Body(String),
    /// The file is not an image this server can thumbnail.
    #[error("the file is not an image that can be thumbnailed: {0}")]
    NotAnImage(String),
    /// The image has more pixels than allowed, so it is not decoded at all.
    #[error("the image is {width}x{height}, more than the limit of {limit} pixels")]
    TooManyPixels {
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// The limit, in pixels.
        limit: u64,
    },
    /// The storage under the files failed.
    #[error("media storage failed: {0}")]
    Storage(#[from] std::io::Error),
}

/// A media result.
pub type Result<T> = std::result::Result<T, Error>;
