//! Which characters HR text may hold. A control character (NUL, escape, a line break in a
//! name) or a bidirectional override (U+202E turns "exe.txt" around on screen) in a name
//! would reach account names, addresses and display names: such values are refused at
//! intake, with the person and field named. And how text is folded to ASCII (`ascii`),
//! for the rules' `ascii()` and everything that makes names from names.

use unicode_normalization::UnicodeNormalization;

/// The first character of `s` that HR text must not hold, if any: C0 and C1 controls
/// (tab included), and the Unicode bidirectional formatting characters.
pub fn forbidden_char(s: &str) -> Option<char> {
    // Most HR text is printable ASCII: one pass over the bytes settles it.
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    s.chars().find(|c| {
        c.is_control()
            || matches!(
                c,
                '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
            )
    })
}

/// Every text value in a JSON record that holds a forbidden character: its field path
/// (`contracts[0].department`) and the character. Records are shallow, but a stack
/// keeps the walk free of recursion whatever they hold.
pub fn forbidden_in_json(v: &serde_json::Value) -> Vec<(String, char)> {
    use serde_json::Value;
    // The common case, a clean record, is found without building a single path.
    fn any(v: &Value) -> bool {
        match v {
            Value::String(s) => forbidden_char(s).is_some(),
            // serde_json stops nesting at 128 levels, so this recursion is bounded.
            Value::Array(items) => items.iter().any(any),
            Value::Object(map) => map.values().any(any),
            _ => false,
        }
    }
    if !any(v) {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut stack = vec![(v, String::new())];
    while let Some((v, path)) = stack.pop() {
        match v {
            Value::String(s) => {
                if let Some(c) = forbidden_char(s) {
                    found.push((path, c));
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate().rev() {
                    stack.push((item, format!("{path}[{i}]")));
                }
            }
            Value::Object(map) => {
                for (k, item) in map.iter().rev() {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    stack.push((item, p));
                }
            }
            _ => {}
        }
    }
    found
}

/// The message for a forbidden character found at intake.
pub fn refusal(c: char) -> String {
    format!(
        "holds {}; control and bidirectional characters are refused (they would reach \
         account names and addresses): correct it at the source",
        describe(c)
    )
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

/// Transliterates to ASCII: letters lose their accents (é→e, ü→u), ligatures and special
/// letters are spelled out (ß→ss, æ→ae, ø→o, ł→l, Ĳ→IJ), and what has no letter form is
/// dropped. ASCII text passes unchanged.
pub fn ascii(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        if let Some(spelled) = special_letter(c) {
            out.push_str(spelled);
            continue;
        }
        for d in c.nfd() {
            if d.is_ascii() {
                out.push(d);
            } else if let Some(spelled) = special_letter(d) {
                out.push_str(spelled);
            }
        }
    }
    out
}

fn special_letter(c: char) -> Option<&'static str> {
    Some(match c {
        'ß' => "ss",
        'ẞ' => "SS",
        'æ' => "ae",
        'Æ' => "AE",
        'œ' => "oe",
        'Œ' => "OE",
        'ø' => "o",
        'Ø' => "O",
        'ł' => "l",
        'Ł' => "L",
        'đ' => "d",
        'Đ' => "D",
        'ð' => "d",
        'Ð' => "D",
        'þ' => "th",
        'Þ' => "TH",
        'ı' => "i",
        'ĳ' => "ij",
        'Ĳ' => "IJ",
        'ﬁ' => "fi",
        'ﬂ' => "fl",
        '\u{2019}' | '\u{2018}' | '\u{02BC}' => "'",
        '\u{2010}' | '\u{2011}' | '\u{2013}' => "-",
        _ => return None,
    })
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
