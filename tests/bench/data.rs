//! The benchmark's product files: deterministic, every column of the Product Upload
//! filled with a valid value, written row by row (never held in memory).

use std::io::{BufWriter, Write};
use std::path::Path;

/// The columns of a product file, in the order the baseline's `\copy` names them.
pub const COLUMNS: &str = "sku,name,description,barcode,weight_kg,length_cm,width_cm,height_cm,price,hs_code,country_of_origin";

const COUNTRIES: [&str; 10] = ["DE", "FR", "US", "CN", "GB", "NL", "PL", "IT", "ES", "JP"];

/// Which version of the catalogue a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Every row as first imported.
    Original,
    /// The same SKUs, with the price and description of 3 rows in 10 changed.
    Revised,
}

/// Whether row `row` differs between the two versions.
pub fn is_revised(row: u64) -> bool {
    row % 10 < 3
}

/// Writes a product file of `rows` rows of `version` to `path`.
pub fn write_products(path: &Path, rows: u64, version: Version) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    writeln!(out, "{COLUMNS}")?;
    for row in 1..=rows {
        let revised = version == Version::Revised && is_revised(row);
        let (edition, cents) = if revised { ("revised", 49) } else { ("first", 99) };
        writeln!(
            out,
            "SKU-{row:09},Product {row},\"Sturdy product {row}, {edition} edition\",{barcode},{weight}.{grams:03},{length}.50,{width}.25,{height}.00,{price}.{cents},{hs},{country}",
            barcode = ean13(row),
            weight = row % 50,
            grams = row % 1000,
            length = 10 + row % 90,
            width = 5 + row % 40,
            height = 1 + row % 30,
            price = row % 1000,
            hs = 847_130 + row % 20,
            country = COUNTRIES[(row % 10) as usize],
        )?;
    }
    out.flush()
}

/// A valid EAN-13 for row `row`: twelve digits and their check digit.
fn ean13(row: u64) -> String {
    let body = format!("{:012}", 400_000_000_000 + row);
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(index, digit)| u32::from(digit - b'0') * if index % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

#[cfg(test)]
mod tests {
    use bgjobs_domain::upload::{header, product};

    use super::*;

    /// Both files of `rows` rows, as `(original, revised)` text.
    fn files(rows: u64) -> (String, String) {
        let unique = format!("bgjobs-bench-data-{}-{rows}", std::process::id());
        let dir = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&dir).unwrap();
        let (original, revised) = (dir.join("original.csv"), dir.join("revised.csv"));
        write_products(&original, rows, Version::Original).unwrap();
        write_products(&revised, rows, Version::Revised).unwrap();
        let texts =
            (std::fs::read_to_string(original).unwrap(), std::fs::read_to_string(revised).unwrap());
        std::fs::remove_dir_all(dir).unwrap();
        texts
    }

    #[test]
    fn every_row_is_a_valid_product_with_every_column() {
        let (original, revised) = files(200);
        for text in [original, revised] {
            let mut reader = csv::Reader::from_reader(text.as_bytes());
            let names: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
            let index = header::resolve(&names, product::COLUMNS).unwrap();
            let mut rows = 0;
            for (row, record) in reader.byte_records().enumerate() {
                let record = record.unwrap();
                let fields: Vec<&[u8]> = record.iter().collect();
                let parsed = product::parse(row as u64 + 1, &fields, &index);
                let parsed = parsed.unwrap_or_else(|rejection| panic!("row {row}: {rejection:?}"));
                assert!(parsed.barcode.is_some() && parsed.country_of_origin.is_some());
                assert!(parsed.height_cm.is_some() && parsed.description.is_some());
                rows += 1;
            }
            assert_eq!(rows, 200);
        }
    }

    #[test]
    fn the_revised_file_changes_three_rows_in_ten() {
        let (original, revised) = files(20);
        let changed =
            original.lines().zip(revised.lines()).filter(|(before, after)| before != after);
        assert_eq!(changed.count(), 6);
        assert_eq!(original.lines().count(), 21);
    }
}
