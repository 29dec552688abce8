//! The query string of an upload request, arbitrary bytes, as ingest's server reads
//! it: `axum::extract::Query::try_from_uri` into a product upload's `UploadQuery` and a
//! warehouse upload's `OptionsQuery`. Must hold: no panic, whatever the query.
#![no_main]

use axum::extract::Query;
use axum::http::Uri;
use ingest::query::{OptionsQuery, UploadQuery};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(uri) = format!("/v1/uploads/products?{query}").parse::<Uri>() else {
        return;
    };
    if let Ok(Query(upload)) = Query::<UploadQuery>::try_from_uri(&uri) {
        let _ = format!("{upload:?}");
    }
    if let Ok(Query(options)) = Query::<OptionsQuery>::try_from_uri(&uri) {
        let _ = format!("{options:?}");
    }
});
