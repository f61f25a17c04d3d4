//! The reconcile report as a self-contained HTML page (`stroom reconcile --format
//! html`): per target the counts with a chart, then what needs a look first
//! (conflicts, ambiguous, matched, missing), unmanaged accounts, drift and exclusions.

use super::{Report, Situation};
use crate::html::{bar_chart, escape, page};
use std::fmt::Write;

impl Report {
    /// The report as one HTML page (no network needed to view it).
    pub fn render_html(&self) -> String {
        let mut b = String::new();
        let _ = writeln!(b, "<h1>Stroom reconcile on {}</h1>", self.today);
        for t in &self.targets {
            let c = &t.counts;
            let _ = writeln!(
                b,
                "<h2>{}</h2>\n<p class=\"muted\">{} account(s) read in {} request(s)</p>",
                escape(&t.target),
                c.accounts,
                t.calls
            );
            let bars: Vec<(String, u64)> = c
                .findings()
                .into_iter()
                .map(|(k, n)| (k.to_string(), n as u64))
                .collect();
            b.push_str(&bar_chart(&format!("{}: findings", t.target), &bars));
            for situation in Situation::REPORT_ORDER {
                let rows: Vec<_> = t
                    .persons
                    .iter()
                    .filter(|p| p.situation == situation)
                    .collect();
                if rows.is_empty() {
                    continue;
                }
                let _ = write!(
                    b,
                    "<h3>{} ({})</h3><table><tr><th>person</th><th>account</th><th>detail</th></tr>",
                    situation.as_str(),
                    rows.len()
                );
                for p in rows {
                    let number = p
                        .employee_number
                        .map(|n| format!(" (#{n})"))
                        .unwrap_or_default();
                    let mut accounts: Vec<String> =
                        p.account.iter().map(|a| escape(&a.name)).collect();
                    accounts.extend(
                        p.candidates
                            .iter()
                            .map(|a| format!("candidate {}", escape(&a.name))),
                    );
                    let _ = write!(
                        b,
                        "<tr><td>{}{number}<br><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                        escape(&p.name),
                        escape(&p.person),
                        accounts.join("<br>"),
                        escape(&p.detail)
                    );
                }
                b.push_str("</table>\n");
            }
            if !t.unmanaged.is_empty() {
                let _ = write!(
                    b,
                    "<h3>unmanaged ({})</h3><table><tr><th>account</th><th>enabled</th><th>created</th><th>last logon</th><th>detail</th></tr>",
                    t.unmanaged.len()
                );
                for u in &t.unmanaged {
                    let enabled = match u.account.enabled {
                        Some(true) => "yes",
                        Some(false) => "no",
                        None => "unknown",
                    };
                    let _ = write!(
                        b,
                        "<tr><td>{}</td><td>{enabled}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        escape(&u.account.name),
                        escape(u.created.as_deref().unwrap_or("unknown")),
                        escape(u.last_logon.as_deref().unwrap_or("never or unknown")),
                        escape(&u.detail)
                    );
                }
                b.push_str("</table>\n");
            }
            if !t.drift.is_empty() {
                let _ = write!(
                    b,
                    "<h3>drift ({})</h3><table><tr><th>person</th><th>account</th><th>difference</th></tr>",
                    t.drift.len()
                );
                for d in &t.drift {
                    let _ = write!(
                        b,
                        "<tr><td>{}<br><code>{}</code></td><td>{}</td><td>{}{}</td></tr>",
                        escape(&d.person_name),
                        escape(&d.person),
                        escape(&d.account),
                        escape(&d.what.describe()),
                        escape(d.marker())
                    );
                }
                b.push_str("</table>\n");
            }
            if !t.excluded.is_empty() {
                let _ = write!(
                    b,
                    "<h3>excluded ({})</h3><table><tr><th>account</th><th>until</th><th>reason</th></tr>",
                    t.excluded.len()
                );
                for e in &t.excluded {
                    let _ = write!(
                        b,
                        "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                        escape(&e.account.name),
                        e.until.map(|u| u.to_string()).unwrap_or_default(),
                        escape(e.reason.as_deref().unwrap_or(""))
                    );
                }
                b.push_str("</table>\n");
            }
        }
        if !self.notes.is_empty() {
            b.push_str("<h2>Notes</h2>\n");
            for n in &self.notes {
                let _ = writeln!(b, "<p class=\"note\">{}</p>", escape(n));
            }
        }
        page(&format!("Stroom reconcile on {}", self.today), &b)
    }
}
