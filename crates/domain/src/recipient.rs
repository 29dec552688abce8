//! Who is emailed when a job ends: the checks every service applies to the address and
//! time zone it is given, and the masked form the message log shows.

/// Longest email address (RFC 5321's limit on a forward path).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest time zone name (IANA names are far shorter).
pub const MAX_TIME_ZONE_CHARS: usize = 64;

/// Checks an email address as given with a job: trimmed, one `@` with text on both
/// sides, a dot in the domain, no spaces or control characters, at most 254 characters.
/// Deliverability is the mail server's to judge; this refuses what is plainly no address.
pub fn parse_email(value: &str) -> Result<String, String> {
    let value = value.trim();
    let (local, domain) = value.rsplit_once('@').unwrap_or_default();
    let well_formed = !local.is_empty()
        && !domain.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !local.contains('@')
        && !value.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>'));
    if !well_formed || value.chars().count() > MAX_EMAIL_CHARS {
        return Err(format!(
            "'{value}' is not an email address: expected name@example.com, at most \
             {MAX_EMAIL_CHARS} characters"
        ));
    }
    Ok(value.to_owned())
}

/// Checks the shape of an IANA time zone name such as `Europe/Paris` or `UTC`; whether
/// the zone exists is checked where times are shown (an unknown one shows UTC).
pub fn parse_time_zone(value: &str) -> Result<String, String> {
    let value = value.trim();
    let well_formed = !value.is_empty()
        && value.chars().count() <= MAX_TIME_ZONE_CHARS
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-' | '+'))
        && !value.contains("..");
    if !well_formed {
        return Err(format!(
            "'{value}' is not a time zone: expected an IANA name such as Europe/Paris"
        ));
    }
    Ok(value.to_owned())
}

/// The address as the message log shows it: the first character of the name, then
/// `***`, then the domain (`v***@example.com`). An operator can tell which address it
/// was without the log disclosing it whole.
pub fn mask_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_trimmed_and_plain_mistakes_refused() {
        assert_eq!(parse_email("  vera@example.com ").as_deref(), Ok("vera@example.com"));
        for bad in [
            "",
            "vera",
            "vera@",
            "@example.com",
            "vera@localhost",
            "ve ra@example.com",
            "vera@example.com>",
            "a@b@example.com",
            "vera@.example.com",
            "vera@example.",
        ] {
            let error = parse_email(bad).expect_err(bad);
            assert!(error.contains("is not an email address"), "{error}");
        }
        let long = format!("{}@example.com", "v".repeat(250));
        assert!(parse_email(&long).is_err());
    }

    #[test]
    fn time_zones_are_iana_shaped_names() {
        for good in ["UTC", "Europe/Paris", "America/Argentina/Buenos_Aires", "Etc/GMT+5"] {
            assert_eq!(parse_time_zone(good).as_deref(), Ok(good));
        }
        for bad in ["", "Europe/Paris; DROP", "../etc/passwd", "Europe Paris"] {
            assert!(parse_time_zone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_log_shows_the_first_letter_and_the_domain() {
        assert_eq!(mask_email("vera@example.com"), "v***@example.com");
        assert_eq!(mask_email("élodie@exemple.fr"), "é***@exemple.fr");
        assert_eq!(mask_email("nonsense"), "***");
    }
}
