//! Byte offsets (Stroom's spans) to and from LSP positions: 0-based lines and columns
//! counted in UTF-16 code units, as the protocol's default position encoding says.

use crate::rules::span::{SourceFile, Span};
use lsp_types::{Position, Range};

/// The LSP position of a byte offset (an offset inside a character counts as its start).
pub fn position(file: &SourceFile, offset: u32) -> Position {
    let offset = (offset as usize).min(file.text.len());
    let line = file.line_of(offset as u32) - 1;
    let start = file.line_start(line);
    let column: usize = file
        .text
        .get(start..)
        .unwrap_or("")
        .char_indices()
        .take_while(|(i, _)| start + i < offset)
        .map(|(_, c)| c.len_utf16())
        .sum();
    Position::new(line as u32, column as u32)
}

/// The LSP range of a span.
pub fn range(file: &SourceFile, span: Span) -> Range {
    Range::new(position(file, span.start), position(file, span.end))
}

/// The byte offset of an LSP position in `text`; a position past the end of its line
/// (or of the text) is clamped to it, as the protocol asks.
pub fn offset(text: &str, at: Position) -> usize {
    let mut line_start = 0;
    for _ in 0..at.line {
        match text[line_start..].find('\n') {
            Some(i) => line_start += i + 1,
            None => return text.len(),
        }
    }
    let line = &text[line_start..];
    let line = &line[..line.find('\n').unwrap_or(line.len())];
    let mut units = 0;
    for (i, c) in line.char_indices() {
        if units >= at.character as usize {
            return line_start + i;
        }
        units += c.len_utf16();
    }
    line_start + line.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_count_utf16_units_both_ways() {
        // `ë` is one UTF-16 unit and two bytes; `😀` is two units and four bytes.
        let text = "let a = \"Zoë😀\"\nwhen x\n";
        let file = SourceFile::new("a.stroom", text);
        let quote_end = text.find("\"\n").unwrap_or(0) as u32;
        let p = position(&file, quote_end);
        assert_eq!(p, Position::new(0, 14));
        assert_eq!(offset(text, p), quote_end as usize);
        let when = text.find("when").unwrap_or(0) as u32;
        assert_eq!(position(&file, when), Position::new(1, 0));
        assert_eq!(offset(text, Position::new(1, 0)), when as usize);
        // Past the end of a line or of the text: clamped.
        assert_eq!(offset(text, Position::new(1, 99)), when as usize + 6);
        assert_eq!(offset(text, Position::new(9, 0)), text.len());
    }
}
