//! A product upload file, arbitrary bytes, through the product-upload consumer's
//! reader and row rules (`bgjobs_upload::reader` with `product::parse`), its results
//! lines written as the results file writes them. See `bgjobs_fuzz::read_upload` for
//! what must hold.
#![no_main]

use bgjobs_domain::upload::product;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let skus = bgjobs_fuzz::read_upload(data, product::COLUMNS, product::parse, |product| {
        product.sku.clone()
    });
    for sku in skus {
        assert!(product::sku(sku.clone()).is_ok(), "a valid row with SKU {sku:?}");
    }
});
