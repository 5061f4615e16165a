//! Thumbnails (spec: client-server API, "Thumbnails"): a requested size is served from the
//! nearest configured size at least as large (Synapse pre-generates a fixed list; Accord makes
//! each on first request and the caller caches it). `scale` fits the image inside the box,
//! `crop` fills the box and cuts the overflow; neither ever upscales. An image's dimensions are
//! read from its header and checked against a pixel limit before any decoding, so a
//! decompression bomb costs a header read.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, Limits, imageops::FilterType};

use crate::{Error, Result};

/// How a thumbnail fits its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Fit inside the box, keeping the aspect ratio.
    Scale,
    /// Fill the box exactly, cutting what overflows (centred).
    Crop,
}

impl Method {
    /// The spec's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scale => "scale",
            Self::Crop => "crop",
        }
    }
}

/// One thumbnail size: a box and how to fit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ThumbnailSize {
    /// Box width, pixels.
    pub width: u32,
    /// Box height, pixels.
    pub height: u32,
    /// How the image fits the box.
    pub method: Method,
}

/// A made thumbnail.
#[derive(Debug, Clone)]
pub struct Thumbnail {
    /// The encoded image.
    pub bytes: Vec<u8>,
    /// Its type: `image/jpeg` for JPEG sources, `image/png` for the rest (keeps transparency).
    pub content_type: &'static str,
    /// Its width.
    pub width: u32,
    /// Its height.
    pub height: u32,
}

/// The configured size that serves a request for `width`x`height` by `method`: the smallest
/// of that method at least as large in both dimensions, else the largest of that method; of
/// the other method when none of this one is configured. `None` when nothing is configured.
pub fn choose_size(width: u32, height: u32, method: Method, configured: &[ThumbnailSize]) -> Option<ThumbnailSize> {
    let same: Vec<&ThumbnailSize> = configured.iter().filter(|s| s.method == method).collect();
    let candidates = if same.is_empty() {
        configured.iter().collect()
    } else {
        same
    };
    let area = |s: &ThumbnailSize| u64::from(s.width) * u64::from(s.height);
    candidates
        .iter()
        .filter(|s| s.width >= width && s.height >= height)
        .min_by_key(|s| area(s))
        .or_else(|| candidates.iter().max_by_key(|s| area(s)))
        .map(|s| **s)
}

/// Makes a thumbnail of `source` (an encoded image) for `size`, refusing images of more than
/// `max_pixels` pixels before decoding them.
pub fn make_thumbnail(source: &[u8], size: ThumbnailSize, max_pixels: u64) -> Result<Thumbnail> {
    let not_image = |err: &dyn std::fmt::Display| Error::NotAnImage(err.to_string());
    let reader = ImageReader::new(Cursor::new(source))
        .with_guessed_format()
        .map_err(|err| not_image(&err))?;
    let format = reader
        .format()
        .ok_or_else(|| Error::NotAnImage("unknown image format".to_owned()))?;
    let (width, height) = ImageReader::with_format(Cursor::new(source), format)
        .into_dimensions()
        .map_err(|err| not_image(&err))?;
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(Error::TooManyPixels {
            width,
            height,
            limit: max_pixels,
        });
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    // Four bytes per pixel, twice over for the decoder's working copies.
    limits.max_alloc = Some(max_pixels.saturating_mul(8));
    let mut reader = ImageReader::with_format(Cursor::new(source), format);
    reader.limits(limits);
    let image = reader.decode().map_err(|err| not_image(&err))?;
    let thumbnail = fit(&image, size);
    let (output, content_type) = match format {
        ImageFormat::Jpeg => (ImageFormat::Jpeg, "image/jpeg"),
        _ => (ImageFormat::Png, "image/png"),
    };
    let thumbnail = if output == ImageFormat::Jpeg {
        DynamicImage::ImageRgb8(thumbnail.to_rgb8())
    } else {
        thumbnail
    };
    let mut bytes = Vec::new();
    thumbnail
        .write_to(&mut Cursor::new(&mut bytes), output)
        .map_err(|err| Error::NotAnImage(format!("encoding the thumbnail failed: {err}")))?;
    Ok(Thumbnail {
        bytes,
        content_type,
        width: thumbnail.width(),
        height: thumbnail.height(),
    })
}

/// An image's width and height, from its header alone (nothing decoded).
pub fn image_dimensions(source: &[u8]) -> Option<(u32, u32)> {
    ImageReader::new(Cursor::new(source))
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()
}

/// Resizes `image` into `size` without upscaling.
fn fit(image: &DynamicImage, size: ThumbnailSize) -> DynamicImage {
    let (w, h) = (image.width(), image.height());
    let (box_w, box_h) = (size.width.max(1), size.height.max(1));
    match size.method {
        Method::Scale if w <= box_w && h <= box_h => image.clone(),
        Method::Scale => image.resize(box_w, box_h, FilterType::Triangle),
        Method::Crop if w >= box_w && h >= box_h => image.resize_to_fill(box_w, box_h, FilterType::Triangle),
        Method::Crop => {
            // Too small to fill the box: cut it to the box's shape at full resolution.
            let scale = f64::min(f64::from(w) / f64::from(box_w), f64::from(h) / f64::from(box_h));
            let crop_w = ((f64::from(box_w) * scale).round() as u32).clamp(1, w);
            let crop_h = ((f64::from(box_h) * scale).round() as u32).clamp(1, h);
            image.crop_imm((w - crop_w) / 2, (h - crop_h) / 2, crop_w, crop_h)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Rgba};

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = ImageBuffer::from_pixel(width, height, Rgba([200u8, 10, 10, 255]));
        let mut bytes = Vec::new();
        DynamicImage::ImageRgba8(image)
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .expect("encode");
        bytes
    }

    const SIZES: &[ThumbnailSize] = &[
        ThumbnailSize {
            width: 32,
            height: 32,
            method: Method::Crop,
        },
        ThumbnailSize {
            width: 96,
            height: 96,
            method: Method::Crop,
        },
        ThumbnailSize {
            width: 320,
            height: 240,
            method: Method::Scale,
        },
        ThumbnailSize {
            width: 640,
            height: 480,
            method: Method::Scale,
        },
    ];

    #[test]
    fn the_smallest_size_at_least_as_large_is_chosen() {
        let pick = |w, h, m| choose_size(w, h, m, SIZES).map(|s| (s.width, s.height, s.method));
        assert_eq!(pick(40, 40, Method::Crop), Some((96, 96, Method::Crop)));
        assert_eq!(pick(1000, 1000, Method::Scale), Some((640, 480, Method::Scale)));
        assert_eq!(pick(1, 1, Method::Scale), Some((320, 240, Method::Scale)));
        assert_eq!(choose_size(1, 1, Method::Crop, &[]), None);
    }

    #[test]
    fn scale_fits_crop_fills_and_nothing_upscales() {
        let source = png(400, 200);
        let scaled = make_thumbnail(&source, SIZES[2], 1 << 20).expect("scale");
        assert_eq!(
            (scaled.width, scaled.height, scaled.content_type),
            (320, 160, "image/png")
        );
        let cropped = make_thumbnail(&source, SIZES[1], 1 << 20).expect("crop");
        assert_eq!((cropped.width, cropped.height), (96, 96));
        let small = make_thumbnail(&png(10, 20), SIZES[3], 1 << 20).expect("small");
        assert_eq!((small.width, small.height), (10, 20));
        let small_crop = make_thumbnail(&png(10, 20), SIZES[0], 1 << 20).expect("small crop");
        assert_eq!((small_crop.width, small_crop.height), (10, 10));
        let decoded = image::load_from_memory(&scaled.bytes).expect("a real png");
        assert_eq!(decoded.width(), 320);
    }

    #[test]
    fn too_many_pixels_are_refused_before_decoding() {
        let err = make_thumbnail(&png(100, 100), SIZES[0], 9_999).expect_err("refused");
        assert!(
            matches!(
                err,
                Error::TooManyPixels {
                    width: 100,
                    height: 100,
                    ..
                }
            ),
            "{err}"
        );
        let err = make_thumbnail(b"not an image at all", SIZES[0], 1 << 20).expect_err("refused");
        assert!(matches!(err, Error::NotAnImage(_)), "{err}");
    }
}
