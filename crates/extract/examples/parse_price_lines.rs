//! Reads one JSON string per line on stdin and prints what `parse_price` makes of each, one JSON
//! line per input: `{"amount":"1299.99","currency":"EUR"}`, or `null` for no price.
//! Used by `scripts/price-parser-compare.py`.

use std::io::{BufRead, Write};

fn main() -> std::io::Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for line in stdin.lock().lines() {
        let line = line?;
        let text: String = serde_json::from_str(&line)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not a JSON string: {e}")))?;
        let answer = pricetrack_extract::parse_price(&text).map(|money| {
            serde_json::json!({
                "amount": money.amount.to_string(),
                "currency": money.currency.map(|c| c.to_string()),
            })
        });
        writeln!(out, "{}", serde_json::Value::from(answer))?;
    }
    out.flush()
}
