//! Telegram counts entity offsets and lengths in UTF-16 code units; Rust strings are
//! UTF-8. These helpers translate between the two without ever panicking: an entity
//! that points outside the text, has a negative or overflowing range, or cuts a
//! surrogate pair (a character outside the Basic Multilingual Plane) in half yields
//! `None`, and the caller ignores the entity.

use std::ops::Range;

/// The byte range of `text` that the UTF-16 range `[offset, offset + length)` covers.
pub fn byte_range(text: &str, offset: i64, length: i64) -> Option<Range<usize>> {
    if offset < 0 || length < 0 {
        return None;
    }
    let start_unit = usize::try_from(offset).ok()?;
    let end_unit = start_unit.checked_add(usize::try_from(length).ok()?)?;
    let mut units = 0usize;
    let mut start = None;
    for (byte, ch) in text.char_indices() {
        if units == start_unit && start.is_none() {
            start = Some(byte);
        }
        if units == end_unit {
            return Some(start?..byte);
        }
        if units > end_unit {
            // The end falls inside this character's surrogate pair.
            return None;
        }
        units += ch.len_utf16();
        if start.is_none() && units > start_unit {
            // The start falls inside a surrogate pair.
            return None;
        }
    }
    if units == start_unit && start.is_none() {
        start = Some(text.len());
    }
    (units == end_unit).then_some(start?..text.len())
}

/// The part of `text` at the UTF-16 range, or `None` (see [`byte_range`]).
pub fn slice(text: &str, offset: i64, length: i64) -> Option<&str> {
    byte_range(text, offset, length).map(|r| &text[r])
}

/// The length of `text` in UTF-16 code units, as Telegram counts it.
pub fn len(text: &str) -> usize {
    text.encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_bmp_characters_are_one_unit() {
        assert_eq!(slice("hello world", 6, 5), Some("world"));
        assert_eq!(slice("héllo", 1, 1), Some("é"));
        assert_eq!(slice("abc", 0, 0), Some(""));
        assert_eq!(slice("abc", 3, 0), Some(""));
        assert_eq!(slice("abc", 0, 3), Some("abc"));
    }

    #[test]
    fn astral_characters_are_two_units() {
        // "😀" is U+1F600: two UTF-16 units, four UTF-8 bytes.
        let text = "😀 @herald_bot hi";
        assert_eq!(slice(text, 3, 11), Some("@herald_bot"));
        assert_eq!(slice(text, 0, 2), Some("😀"));
        assert_eq!(len(text), 17);
    }

    #[test]
    fn ranges_that_split_a_surrogate_pair_are_refused() {
        assert_eq!(slice("😀x", 1, 1), None);
        assert_eq!(slice("😀x", 0, 1), None);
        assert_eq!(slice("x😀", 1, 1), None);
    }

    #[test]
    fn out_of_range_negative_and_overflowing_ranges_are_refused() {
        assert_eq!(slice("abc", 2, 2), None);
        assert_eq!(slice("abc", 4, 0), None);
        assert_eq!(slice("abc", -1, 2), None);
        assert_eq!(slice("abc", 0, -1), None);
        assert_eq!(slice("abc", i64::MAX, i64::MAX), None);
        assert_eq!(slice("", 0, 0), Some(""));
        assert_eq!(slice("", 0, 1), None);
    }

    #[test]
    fn every_valid_range_matches_a_utf16_reference() {
        let text = "a😀é\u{10FFFF}b c";
        let units: Vec<u16> = text.encode_utf16().collect();
        let inside_pair = |i: usize| units.get(i).is_some_and(|u| (0xDC00..=0xDFFF).contains(u));
        for off in 0..=units.len() + 1 {
            for length in 0..=units.len() + 1 {
                let end = off + length;
                let expected = (end <= units.len() && !inside_pair(off) && !inside_pair(end))
                    .then(|| String::from_utf16(&units[off..end]).unwrap());
                assert_eq!(slice(text, off as i64, length as i64).map(str::to_string), expected, "{off} {length}");
            }
        }
    }
}
