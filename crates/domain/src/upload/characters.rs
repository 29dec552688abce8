//! Naming a character in a message so that the user can find it: a visible one is
//! shown in quotes, an invisible one (a zero-width space, a no-break space, a tab, a
//! bidirectional mark) by its code point and Unicode name, which quotes cannot show.

/// The character as a message shows it: `a space`, `'/'`, or for an invisible
/// character its code point and name, e.g. `U+200B ZERO WIDTH SPACE`.
pub fn describe(character: char) -> String {
    if character == ' ' {
        return "a space".to_owned();
    }
    if !is_invisible(character) {
        return format!("'{character}'");
    }
    let code_point = format!("U+{:04X}", u32::from(character));
    match name(character) {
        Some(name) => format!("{code_point} {name}"),
        None => format!("{code_point} (a control character)"),
    }
}

/// The Unicode name; control characters have none, so the common ones get their
/// standard alias.
fn name(character: char) -> Option<String> {
    let alias = match character {
        '\0' => Some("NULL"),
        '\t' => Some("CHARACTER TABULATION"),
        '\n' => Some("LINE FEED"),
        '\u{0B}' => Some("LINE TABULATION"),
        '\u{0C}' => Some("FORM FEED"),
        '\r' => Some("CARRIAGE RETURN"),
        '\u{85}' => Some("NEXT LINE"),
        _ => None,
    };
    alias
        .map(str::to_owned)
        .or_else(|| unicode_names2::name(character).map(|name| name.to_string()))
}

/// `value` as a message quotes it: each invisible character replaced by its code
/// point in angle brackets (`WH1<U+200B>`), so that none hides in the text or, like a
/// right-to-left override, turns the rest of the message around.
pub fn shown(value: &str) -> String {
    let mut text = String::with_capacity(value.len());
    for character in value.chars() {
        if is_invisible(character) && character != ' ' {
            text.push_str(&format!("<U+{:04X}>", u32::from(character)));
        } else {
            text.push(character);
        }
    }
    text
}

/// Whether the character shows nothing (or only blank space) where it stands: control
/// and format characters, whitespace other than the plain space, and the few letters
/// that render empty.
pub fn is_invisible(character: char) -> bool {
    character.is_control()
        || (character.is_whitespace() && character != ' ')
        || matches!(
            character,
            '\u{AD}'
                | '\u{34F}'
                | '\u{61C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF9}'..='\u{FFFB}'
                | '\u{E0000}'..='\u{E007F}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visible_character_is_quoted_and_a_space_is_named() {
        assert_eq!(describe('/'), "'/'");
        assert_eq!(describe('Ä'), "'Ä'");
        assert_eq!(describe(' '), "a space");
    }

    #[test]
    fn a_quoted_value_shows_its_invisible_characters_by_code_point() {
        assert_eq!(shown("WH1\u{200B}"), "WH1<U+200B>");
        assert_eq!(shown("BIDI-1\u{202E}x"), "BIDI-1<U+202E>x");
        assert_eq!(shown("Zöne 1"), "Zöne 1");
    }

    #[test]
    fn an_invisible_character_is_named_by_code_point_and_unicode_name() {
        assert_eq!(describe('\u{200B}'), "U+200B ZERO WIDTH SPACE");
        assert_eq!(describe('\u{A0}'), "U+00A0 NO-BREAK SPACE");
        assert_eq!(describe('\u{FEFF}'), "U+FEFF ZERO WIDTH NO-BREAK SPACE");
        assert_eq!(describe('\u{202E}'), "U+202E RIGHT-TO-LEFT OVERRIDE");
        assert_eq!(describe('\t'), "U+0009 CHARACTER TABULATION");
        assert_eq!(describe('\u{7}'), "U+0007 (a control character)");
    }
}
