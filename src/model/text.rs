//! Which characters HR text may hold. A control character (NUL, escape, a line break in a
//! name) or a bidirectional override (U+202E turns "exe.txt" around on screen) in a name
//! would reach account names, addresses and display names: such values are refused at
//! intake, with the person and field named.

/// The first character of `s` that HR text must not hold, if any: C0 and C1 controls
/// (tab included), and the Unicode bidirectional formatting characters.
pub fn forbidden_char(s: &str) -> Option<char> {
    s.chars().find(|c| {
        c.is_control()
            || matches!(
                c,
                '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            )
    })
}

/// How a forbidden character is named in an error: `U+202E (right-to-left override)`.
pub fn describe(c: char) -> String {
    let name = match c {
        '\0' => " (NUL)",
        '\t' => " (tab)",
        '\n' | '\r' => " (line break)",
        '\u{1b}' => " (escape)",
        '\u{202e}' => " (right-to-left override)",
        '\u{202d}' => " (left-to-right override)",
        c if c.is_control() => " (control character)",
        _ => " (bidirectional formatting)",
    };
    format!("U+{:04X}{name}", c as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_are_forbidden_letters_are_not() {
        assert_eq!(forbidden_char("Jan\0"), Some('\0'));
        assert_eq!(forbidden_char("a\u{202e}b"), Some('\u{202e}'));
        assert_eq!(forbidden_char("a\u{85}"), Some('\u{85}'));
        assert_eq!(forbidden_char("Çelik-Ünal d'Ancona 😀"), None);
        assert_eq!(describe('\u{202e}'), "U+202E (right-to-left override)");
    }
}
