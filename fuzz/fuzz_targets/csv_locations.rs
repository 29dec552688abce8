//! A warehouse-location upload file, arbitrary bytes, through the warehouse-upload
//! consumer's reader and row rules (`bgjobs_upload::reader` with `location::parse`,
//! warehouses `WH1` and `WH2` in the account), its results lines written as the
//! results file writes them. See `bgjobs_fuzz::read_upload` for what must hold.
#![no_main]

use bgjobs_domain::upload::header::ColumnIndex;
use bgjobs_domain::upload::location;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parse = |row, fields: &[&[u8]], index: &ColumnIndex| {
        location::parse(row, fields, index, |warehouse| ["WH1", "WH2"].contains(&warehouse))
    };
    let codes = bgjobs_fuzz::read_upload(data, location::COLUMNS, parse, |location| {
        assert!(["WH1", "WH2"].contains(&location.warehouse_id.as_str()), "another warehouse");
        location.location_code.clone()
    });
    for code in codes {
        assert!(location::location_code(code.clone()).is_ok(), "a valid row with code {code:?}");
    }
});
