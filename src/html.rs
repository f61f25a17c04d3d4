//! Self-contained HTML pages for people (`--format html`): one file that opens
//! without a network (styles inline, charts as inline SVG, no script), with a content
//! security policy that forbids loading anything, so a report mailed or attached to a
//! ticket shows the same everywhere and leaks nothing when opened.

use std::fmt::Write;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1d2330}
h1{font-size:1.5rem;margin:0 0 .25rem}h2{font-size:1.15rem;margin:2rem 0 .5rem;border-bottom:1px solid #d8dce4;padding-bottom:.25rem}
h3{font-size:1rem;margin:1.25rem 0 .25rem}.muted{color:#5b6475}
table{border-collapse:collapse;width:100%;margin:.25rem 0 1rem}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eceef2;vertical-align:top}
th{background:#f4f5f8;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f4f5f8;padding:0 .2rem;border-radius:3px}
.blocked{background:#fdecec;border:1px solid #e5a3a3;border-radius:6px;padding:.75rem 1rem;margin:1rem 0}
.blocked h2{border:0;margin:0 0 .25rem;color:#9b1c1c}
.note{background:#fff8e6;border-left:4px solid #e0b341;padding:.4rem .75rem;margin:.4rem 0}
.cols{display:flex;gap:1.5rem;flex-wrap:wrap}.cols>div{flex:1 1 14rem}
ul.people{margin:.25rem 0;padding-left:1.2rem}
";

/// A whole page: `title`, then `body` (already HTML).
pub fn page(title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 2048);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    );
    out
}

/// A horizontal bar chart as inline SVG: one bar per `(label, value)`, with the value
/// written beside it and a text alternative for screen readers.
pub fn bar_chart(title: &str, bars: &[(String, u64)]) -> String {
    const ROW: usize = 22;
    const LABEL: usize = 150;
    const WIDTH: usize = 560;
    let max = bars.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let height = bars.len() * ROW + 4;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg role=\"img\" aria-label=\"{}\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(title)
    );
    let room = (WIDTH - LABEL - 70) as u64;
    for (k, (label, value)) in bars.iter().enumerate() {
        let y = k * ROW + 2;
        let w = (value * room / max).max(u64::from(*value > 0));
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\" fill=\"#1d2330\">{}</text>\
             <rect x=\"{LABEL}\" y=\"{}\" width=\"{w}\" height=\"{}\" rx=\"3\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#1d2330\">{value}</text>",
            LABEL - 8,
            y + 15,
            escape(label),
            y + 3,
            ROW - 6,
            colour(k),
            LABEL as u64 + w + 6,
            y + 15,
        );
    }
    out.push_str("</svg>");
    out
}

fn colour(k: usize) -> &'static str {
    const PALETTE: [&str; 6] = [
        "#3b6fd4", "#2f9e6e", "#d08a1c", "#b6433b", "#7a55c2", "#4a8fa3",
    ];
    PALETTE[k % PALETTE.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cannot_become_markup() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        let svg = bar_chart("a<b", &[("<x>".into(), 0), ("y".into(), 3)]);
        assert!(svg.contains("aria-label=\"a&lt;b\"") && svg.contains("&lt;x&gt;"));
        assert!(page("t", "").contains("default-src 'none'"));
    }
}
