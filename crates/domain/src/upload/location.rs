//! Warehouse Upload rows: the columns of a warehouse locations file, their rules and
//! the messages users see. The reference for users is `docs/upload-formats.md`.

use std::fmt;

use super::Rejection;
use super::characters::describe;
use super::fields::{bounded, text, width_problem};
use super::header::{ColumnIndex, ColumnSpec};

/// The columns of a warehouse locations file.
pub const COLUMNS: &[ColumnSpec] = &[
    ColumnSpec { name: "warehouse", aliases: &["warehouse_id", "warehouse_ref"], required: true },
    ColumnSpec { name: "location_code", aliases: &["location", "bin"], required: true },
    ColumnSpec { name: "zone", aliases: &[], required: false },
    ColumnSpec { name: "aisle", aliases: &[], required: false },
    ColumnSpec { name: "bay", aliases: &[], required: false },
    ColumnSpec { name: "level", aliases: &[], required: false },
    ColumnSpec { name: "location_type", aliases: &[], required: false },
    ColumnSpec { name: "pickable", aliases: &[], required: false },
    ColumnSpec { name: "capacity", aliases: &[], required: false },
];

/// Longest warehouse reference accepted.
pub const WAREHOUSE_MAX_CHARS: usize = 64;
/// Longest location code accepted.
pub const LOCATION_CODE_MAX_CHARS: usize = 32;
/// Longest zone, aisle, bay or level code accepted.
pub const SHORT_CODE_MAX_CHARS: usize = 16;
/// Largest capacity accepted.
pub const CAPACITY_MAX: u32 = 1_000_000;

/// What a location is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LocationType {
    /// A pick face, where orders are picked from.
    Pick,
    /// Bulk storage.
    Bulk,
    /// Reserve stock that replenishes pick faces.
    Reserve,
    /// A staging lane for outbound or inbound goods.
    Staging,
    /// A dock door.
    Dock,
}

impl LocationType {
    /// Every location type, in documentation order.
    pub const ALL: [LocationType; 5] =
        [Self::Pick, Self::Bulk, Self::Reserve, Self::Staging, Self::Dock];

    /// The name used in files and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pick => "pick",
            Self::Bulk => "bulk",
            Self::Reserve => "reserve",
            Self::Staging => "staging",
            Self::Dock => "dock",
        }
    }

    /// The type named `name`, any case.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for LocationType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A valid location row, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The warehouse reference, as the account's users type it.
    pub warehouse_id: String,
    /// The location's code, uppercase; unique per warehouse.
    pub location_code: String,
    /// Zone code, up to 16 characters.
    pub zone: Option<String>,
    /// Aisle code, up to 16 characters.
    pub aisle: Option<String>,
    /// Bay code, up to 16 characters.
    pub bay: Option<String>,
    /// Level code, up to 16 characters.
    pub level: Option<String>,
    /// What the location is used for.
    pub location_type: Option<LocationType>,
    /// Whether orders may be picked from the location.
    pub pickable: Option<bool>,
    /// How many units fit, 0 to 1,000,000.
    pub capacity: Option<u32>,
}

/// Parses data row `row` (1-based) given the raw fields and the resolved header.
/// `warehouse_exists` tells whether a warehouse reference belongs to the job's
/// account. Every problem of the row is reported, separated by "; ".
pub fn parse(
    row: u64,
    fields: &[&[u8]],
    index: &ColumnIndex,
    warehouse_exists: impl Fn(&str) -> bool,
) -> Result<Location, Rejection> {
    let raw = |column: &str| index.position(column).and_then(|p| fields.get(p)).copied();
    let mut problems = Vec::new();
    let mut unreadable = Vec::new();
    let mut field = |column: &'static str| -> Option<String> {
        match raw(column).map(|bytes| text(bytes, column)).unwrap_or(Ok(None)) {
            Ok(value) => value,
            Err(problem) => {
                problems.push(problem);
                unreadable.push(column);
                None
            }
        }
    };
    let warehouse_text = field("warehouse");
    let code_text = field("location_code");
    let [zone, aisle, bay, level] = ["zone", "aisle", "bay", "level"].map(&mut field);
    let type_text = field("location_type");
    let pickable_text = field("pickable");
    let capacity_text = field("capacity");

    if let Some(problem) = width_problem(fields.len(), index.width) {
        problems.insert(0, problem);
    }
    // A required column that could not be read is already reported as unreadable.
    let required = |value: Option<String>, column: &'static str| match value {
        Some(value) => Ok(Some(value)),
        None if unreadable.contains(&column) => Ok(None),
        None => Err(format!("{column}: is required")),
    };
    let warehouse = check(
        &mut problems,
        required(warehouse_text, "warehouse")
            .and_then(|value| bounded(value, "warehouse", WAREHOUSE_MAX_CHARS))
            .and_then(|value| value.map(|id| known(id, &warehouse_exists)).transpose()),
    );
    let location_code = check(
        &mut problems,
        required(code_text.clone(), "location_code")
            .and_then(|value| value.map(location_code).transpose()),
    );
    let [zone, aisle, bay, level] =
        [(zone, "zone"), (aisle, "aisle"), (bay, "bay"), (level, "level")].map(
            |(value, column)| {
                check(&mut problems, value.map(|code| short_code(code, column)).transpose())
            },
        );
    let location_type = check(&mut problems, type_text.map(location_type).transpose());
    let pickable = check(&mut problems, pickable_text.map(pickable).transpose());
    let capacity = check(&mut problems, capacity_text.map(capacity).transpose());

    match (warehouse, location_code) {
        (Some(Some(warehouse_id)), Some(Some(location_code))) if problems.is_empty() => {
            Ok(Location {
                warehouse_id,
                location_code,
                zone: zone.flatten(),
                aisle: aisle.flatten(),
                bay: bay.flatten(),
                level: level.flatten(),
                location_type: location_type.flatten(),
                pickable: pickable.flatten(),
                capacity: capacity.flatten(),
            })
        }
        _ => Err(Rejection { row, key: code_text, reason: problems.join("; ") }),
    }
}

fn check<T>(problems: &mut Vec<String>, result: Result<T, String>) -> Option<T> {
    result.map_err(|problem| problems.push(problem)).ok()
}

/// Reference rule: the warehouse must exist in the job's account.
fn known(warehouse_id: String, warehouse_exists: impl Fn(&str) -> bool) -> Result<String, String> {
    if warehouse_exists(&warehouse_id) {
        Ok(warehouse_id)
    } else {
        Err(format!("warehouse: '{warehouse_id}' does not exist in this account"))
    }
}

/// Location code rule: 1 to 32 letters, digits, '-' or '.'; lowercase is uppercased.
pub fn location_code(code: String) -> Result<String, String> {
    let length = code.chars().count();
    if length > LOCATION_CODE_MAX_CHARS {
        return Err(format!(
            "location_code: is {length} characters long; location codes are at most {LOCATION_CODE_MAX_CHARS}"
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.');
    if let Some(bad) = code.chars().find(|&c| !allowed(c)) {
        return Err(format!(
            "location_code: '{code}' contains {}; location codes may contain letters, digits, '-' and '.'",
            describe(bad)
        ));
    }
    Ok(code.to_ascii_uppercase())
}

/// Zone, aisle, bay and level rule: up to 16 letters, digits, '-', '_' or '.', kept as given.
pub fn short_code(code: String, column: &str) -> Result<String, String> {
    let length = code.chars().count();
    if length > SHORT_CODE_MAX_CHARS {
        return Err(format!(
            "{column}: is {length} characters long; the maximum is {SHORT_CODE_MAX_CHARS}"
        ));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if let Some(bad) = code.chars().find(|&c| !allowed(c)) {
        return Err(format!(
            "{column}: '{code}' contains {}; use letters, digits, '-', '_' and '.'",
            describe(bad)
        ));
    }
    Ok(code)
}

/// Location type rule: one of the [`LocationType`] names, any case.
pub fn location_type(name: String) -> Result<LocationType, String> {
    LocationType::parse(&name).ok_or_else(|| {
        format!(
            "location_type: '{name}' is not a location type; use pick, bulk, reserve, staging or dock"
        )
    })
}

/// Pickable rule: true/false, yes/no or 1/0, any case.
pub fn pickable(value: String) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => {
            Err(format!("pickable: '{value}' is not true or false; use true/false, yes/no or 1/0"))
        }
    }
}

/// Capacity rule: a whole number from 0 to 1,000,000.
pub fn capacity(value: String) -> Result<u32, String> {
    let unsigned = value.strip_prefix('-').unwrap_or(&value);
    if unsigned.is_empty() || !unsigned.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "capacity: '{value}' is not a whole number; use digits only, e.g. 250"
        ));
    }
    let out_of_range =
        || format!("capacity: {value} is out of range; it must be between 0 and {CAPACITY_MAX}");
    // Too many digits for i64 is out of range too, not "not a number".
    let number: i64 = value.parse().map_err(|_| out_of_range())?;
    u32::try_from(number).ok().filter(|number| *number <= CAPACITY_MAX).ok_or_else(out_of_range)
}

/// A character as a message names it: "a space" or the character quoted.
#[cfg(test)]
mod tests;
