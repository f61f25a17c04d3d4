//! Times parse and check of a generated rule set:
//! `cargo run --release --example checkbench -- 10000`

fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let text = stroom::generate::rules(n, 7);
    for _ in 0..5 {
        let t = std::time::Instant::now();
        let parsed = stroom::rules::load::parse_sources(&[("bench.stroom", &text)]);
        let parse = t.elapsed();
        let c = stroom::rules::check::check(parsed);
        println!(
            "parse {parse:.2?} + check {:.2?} = {:.2?} for {n} statements ({} diagnostics)",
            t.elapsed() - parse,
            t.elapsed(),
            c.diagnostics.len()
        );
    }
}
