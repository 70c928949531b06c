//! Escaping for the text and attribute values we write, and the one rule of which
//! characters XML 1.0 cannot carry (the parser's check calls it too).

/// Escape character data for element content. Characters XML 1.0 forbids even as character
/// references (a process's command line can hold an ESC, a query string a U+FFFF) become
/// U+FFFD, as the event renderer does: a strict client's parser (pypsrp's, Windows' own) would
/// otherwise reject the whole answer.
pub fn escape_text(s: &str) -> std::borrow::Cow<'_, str> {
    escape_with(s, |b| match b {
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'&' => Some("&amp;"),
        _ => None,
    })
}

/// What stands for a character XML 1.0 cannot carry.
const REPLACEMENT: &str = "\u{FFFD}";

/// The length in bytes of a character XML 1.0 excludes from `Char` that starts at `bytes[i]`:
/// a C0 control other than tab, line feed and carriage return, or U+FFFE/U+FFFF (EF BF BE and
/// EF BF BF in UTF-8; `&str` rules out surrogates). The one rule the parser's check, these
/// escapers and the event renderer's call. `i` must be in bounds.
pub fn forbidden_at(bytes: &[u8], i: usize) -> Option<usize> {
    match bytes[i] {
        b'\t' | b'\n' | b'\r' => None,
        0..0x20 => Some(1),
        0xEF if bytes.get(i + 1) == Some(&0xBF)
            && matches!(bytes.get(i + 2), Some(0xBE | 0xBF)) =>
        {
            Some(3)
        }
        _ => None,
    }
}

/// Escape an attribute value (double-quoted).
pub fn escape_attr(s: &str) -> std::borrow::Cow<'_, str> {
    escape_with(s, |b| match b {
        b'<' => Some("&lt;"),
        b'>' => Some("&gt;"),
        b'&' => Some("&amp;"),
        b'"' => Some("&quot;"),
        b'\n' => Some("&#10;"),
        b'\r' => Some("&#13;"),
        b'\t' => Some("&#9;"),
        _ => None,
    })
}

/// Replaces the ASCII bytes `entity` maps, and each character XML forbids by U+FFFD, copying
/// the runs between them whole. Scans bytes, not chars: every byte that starts a change is
/// ASCII or the lead byte 0xEF, both char boundaries in UTF-8, so slicing at them is sound.
fn escape_with(s: &str, entity: impl Fn(u8) -> Option<&'static str>) -> std::borrow::Cow<'_, str> {
    let bytes = s.as_bytes();
    let change_at = |i: usize| -> Option<(&'static str, usize)> {
        entity(bytes[i])
            .map(|e| (e, 1))
            .or_else(|| forbidden_at(bytes, i).map(|len| (REPLACEMENT, len)))
    };
    let Some(first) = (0..bytes.len()).find(|&i| change_at(i).is_some()) else {
        return std::borrow::Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 8);
    let mut copied = 0;
    let mut index = first;
    while index < bytes.len() {
        match change_at(index) {
            Some((replacement, len)) => {
                out.push_str(&s[copied..index]);
                out.push_str(replacement);
                index += len;
                copied = index;
            }
            None => index += 1,
        }
    }
    out.push_str(&s[copied..]);
    std::borrow::Cow::Owned(out)
}
