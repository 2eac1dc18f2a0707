//! Parsing setting values from text, shared by every layer.

use super::registry::Kind;

/// Checks `raw` against `kind`; `Err` carries nothing because the caller knows the
/// setting and words the message.
pub fn check(kind: Kind, raw: &str) -> Result<(), ()> {
    match kind {
        Kind::Text => Ok(()),
        Kind::Bool => parse_bool(raw).map(|_| ()),
        Kind::UInt { min, max } => parse_uint(raw, min, max).map(|_| ()),
        Kind::Float { min, max } => parse_float(raw, min, max).map(|_| ()),
        Kind::Choice(words) => {
            if words.iter().any(|w| w.eq_ignore_ascii_case(raw.trim())) {
                Ok(())
            } else {
                Err(())
            }
        }
        Kind::Url => {
            let t = raw.trim();
            let rest = t.strip_prefix("http://").or_else(|| t.strip_prefix("https://")).ok_or(())?;
            if rest.is_empty() || rest.starts_with('/') || t.chars().any(char::is_whitespace) {
                Err(())
            } else {
                Ok(())
            }
        }
    }
}

pub fn parse_bool(raw: &str) -> Result<bool, ()> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(()),
    }
}

pub fn parse_uint(raw: &str, min: u64, max: u64) -> Result<u64, ()> {
    let v: u64 = raw.trim().parse().map_err(|_| ())?;
    if (min..=max).contains(&v) { Ok(v) } else { Err(()) }
}

pub fn parse_float(raw: &str, min: f64, max: f64) -> Result<f64, ()> {
    let v: f64 = raw.trim().parse().map_err(|_| ())?;
    if v.is_finite() && v >= min && v <= max { Ok(v) } else { Err(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert!(check(Kind::Bool, "Yes").is_ok());
        assert!(check(Kind::Bool, "maybe").is_err());
        assert!(check(Kind::UInt { min: 1, max: 5 }, "5").is_ok());
        assert!(check(Kind::UInt { min: 1, max: 5 }, "6").is_err());
        assert!(check(Kind::UInt { min: 1, max: 5 }, "-1").is_err());
        assert!(check(Kind::Float { min: 0.0, max: 2.0 }, "NaN").is_err());
        assert!(check(Kind::Choice(&["a", "b"]), "B").is_ok());
        assert!(check(Kind::Url, "http://127.0.0.1:8080/v1").is_ok());
        assert!(check(Kind::Url, "ftp://x").is_err());
        assert!(check(Kind::Url, "http://").is_err());
    }
}
