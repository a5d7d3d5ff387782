//! A JSON tree that keeps numbers as their source text, so that `19.99` never goes through an
//! `f64`. Built on `serde_json`'s `RawValue`: each level is parsed into raw children, and a
//! number's raw text is kept as is.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Deeper levels are dropped (read as `null`): JSON-LD is shallow, and each level re-reads its
/// subtree, so this bounds the work done on hostile input.
const MAX_DEPTH: usize = 24;

/// A JSON value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// The number exactly as written, e.g. `19.99` or `1e3`.
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The value of a key of an object (the first one, should the key be repeated).
    pub(crate) fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a string value.
    #[cfg(test)]
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    /// The items of an array, or the value itself as a one-item list (JSON-LD allows both).
    pub(crate) fn items(&self) -> Vec<&Json> {
        match self {
            Json::Array(items) => items.iter().collect(),
            Json::Null => Vec::new(),
            other => vec![other],
        }
    }

    /// Strings of a value that is a string or an array of strings (e.g. `@type`), or a
    /// `{"@value": ...}` / `{"@id": ...}` object.
    pub(crate) fn strings(&self) -> Vec<&str> {
        match self {
            Json::String(s) => vec![s.as_str()],
            Json::Array(items) => items.iter().flat_map(Json::strings).collect(),
            Json::Object(_) => self.get("@value").or_else(|| self.get("@id")).map(Json::strings).unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

/// An object's entries with their values still raw.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Entries<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, &'de RawValue>()? {
                    entries.push((key, value));
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

/// Parses JSON text; `None` when it is not valid JSON.
pub(crate) fn parse(text: &str) -> Option<Json> {
    let raw: &RawValue = serde_json::from_str(text).ok()?;
    Some(from_raw(raw, 0))
}

fn from_raw(raw: &RawValue, depth: usize) -> Json {
    let text = raw.get();
    match text.as_bytes().first() {
        Some(b'{') if depth < MAX_DEPTH => match serde_json::from_str::<Entries<'_>>(text) {
            Ok(Entries(entries)) => {
                Json::Object(entries.into_iter().map(|(k, v)| (k, from_raw(v, depth + 1))).collect())
            }
            Err(_) => Json::Null,
        },
        Some(b'[') if depth < MAX_DEPTH => match serde_json::from_str::<Vec<&RawValue>>(text) {
            Ok(items) => Json::Array(items.into_iter().map(|v| from_raw(v, depth + 1)).collect()),
            Err(_) => Json::Null,
        },
        Some(b'"') => serde_json::from_str::<String>(text).map_or(Json::Null, Json::String),
        Some(b't') => Json::Bool(true),
        Some(b'f') => Json::Bool(false),
        Some(b'-' | b'0'..=b'9') => Json::Number(text.to_owned()),
        _ => Json::Null,
    }
}

/// Repairs what shops commonly get wrong in JSON-LD blocks: HTML comment or CDATA wrappers,
/// raw control characters (newlines) inside strings, and trailing commas.
pub(crate) fn sanitize(text: &str) -> String {
    let mut body = text.trim();
    for prefix in ["<!--", "//<![CDATA[", "<![CDATA["] {
        body = body.strip_prefix(prefix).unwrap_or(body).trim();
    }
    for suffix in ["-->", "//]]>", "]]>"] {
        body = body.strip_suffix(suffix).unwrap_or(body).trim();
    }
    let chars: Vec<char> = body.chars().collect();
    let mut out = String::with_capacity(body.len());
    let mut in_string = false;
    let mut escaped = false;
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            out.push(if c.is_control() { ' ' } else { c });
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            ',' => {
                let next = chars.iter().skip(i + 1).find(|c| !c.is_whitespace());
                if !matches!(next, Some('}' | ']')) {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_text() {
        let json = parse(r#"{"price": 19.99, "n": [1e3, -0.5], "s": "x\"y", "t": true}"#).expect("valid");
        assert_eq!(json.get("price"), Some(&Json::Number("19.99".into())));
        assert_eq!(json.get("n"), Some(&Json::Array(vec![Json::Number("1e3".into()), Json::Number("-0.5".into())])));
        assert_eq!(json.get("s").and_then(Json::as_str), Some("x\"y"));
        assert_eq!(json.get("t"), Some(&Json::Bool(true)));
    }

    #[test]
    fn deep_nesting_is_cut() {
        let text = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        // serde_json refuses more than 128 levels; either way, no stack overflow.
        let _ = parse(&text);
        let text = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(&text).is_some());
    }

    #[test]
    fn sanitizer_repairs_common_mistakes() {
        let fixed = sanitize("<!-- {\"a\": \"line\nbreak\", \"b\": [1, 2,], } -->");
        let json = parse(&fixed).expect("repaired");
        assert_eq!(json.get("a").and_then(Json::as_str), Some("line break"));
    }
}
