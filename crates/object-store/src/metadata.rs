//! What is stored beside an object's bytes: its content type and the name the
//! user's file had.

use std::collections::HashMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// User-metadata key (sent as `x-amz-meta-original-file-name`).
const ORIGINAL_FILE_NAME: &str = "original-file-name";

/// Characters kept as they are; everything else (non-ASCII, spaces, quotes,
/// control characters) is percent-encoded, because S3 user metadata travels in
/// HTTP headers, which must be ASCII, and servers trim or refuse the rest.
const KEPT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Metadata given when storing an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMetadata {
    /// MIME type, e.g. `text/csv`.
    pub content_type: String,
    /// The name of the file the user uploaded, kept for display and downloads.
    pub original_file_name: Option<String>,
}

/// What `head` tells about a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Size in bytes.
    pub size: u64,
    /// MIME type, if one was stored.
    pub content_type: Option<String>,
    /// The user's file name, decoded back to the original text.
    pub original_file_name: Option<String>,
}

impl ObjectMetadata {
    /// The S3 user metadata of this object, ASCII only.
    pub(crate) fn user_metadata(&self) -> HashMap<String, String> {
        self.original_file_name
            .iter()
            .map(|name| {
                (ORIGINAL_FILE_NAME.to_owned(), utf8_percent_encode(name, KEPT).to_string())
            })
            .collect()
    }
}

/// The original file name from S3 user metadata; a value that does not decode to
/// UTF-8 (written by another tool) is kept with replacement characters.
pub(crate) fn original_file_name(
    user_metadata: Option<&HashMap<String, String>>,
) -> Option<String> {
    let encoded = user_metadata?.get(ORIGINAL_FILE_NAME)?;
    Some(percent_decode_str(encoded).decode_utf8_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_stored_as_ascii_and_decode_back_unchanged() {
        let name = "Produits été 2024 (copie) #2 – 商品.csv";
        let metadata = ObjectMetadata {
            content_type: "text/csv".to_owned(),
            original_file_name: Some(name.to_owned()),
        };
        let stored = metadata.user_metadata();
        let encoded = &stored[ORIGINAL_FILE_NAME];
        assert!(encoded.is_ascii() && !encoded.contains(' '), "{encoded}");
        assert_eq!(original_file_name(Some(&stored)).as_deref(), Some(name));
    }

    #[test]
    fn no_file_name_means_no_user_metadata() {
        let metadata =
            ObjectMetadata { content_type: "text/csv".to_owned(), original_file_name: None };
        assert!(metadata.user_metadata().is_empty());
        assert_eq!(original_file_name(Some(&HashMap::new())), None);
        assert_eq!(original_file_name(None), None);
    }
}
