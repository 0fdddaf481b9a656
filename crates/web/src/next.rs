//! Where to go after signing in: only one of our own paths (no open redirect).

/// `next` when it is a path on this site, else `None`.
///
/// Accepted: an absolute path (`/…`) without a scheme, an authority, a
/// backslash, whitespace or control characters — also once percent-decoded
/// (up to three times), so `%2F%2Fevil.example` and `/%5Cevil.example` are
/// refused as well as `//evil.example`, `/\evil.example` and `https:…`.
pub fn safe_next(next: &str) -> Option<&str> {
    if next.len() > 2000 {
        return None;
    }
    let mut candidate = next.to_owned();
    for _ in 0..4 {
        if !plain_path(&candidate) {
            return None;
        }
        match percent_decode(&candidate) {
            Some(decoded) if decoded == candidate => break,
            Some(decoded) => candidate = decoded,
            None => return None,
        }
    }
    Some(next)
}

fn plain_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && !p.contains('\\')
        && !p.chars().any(|c| c.is_control() || c.is_whitespace())
        && !p
            .split(['?', '#'])
            .next()
            .is_some_and(|path| path.contains(':'))
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8 or an escape
/// is malformed.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encodes a value for a query string.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_paths_are_kept() {
        for ok in [
            "/",
            "/appointment/0190aa3e-0000-7000-8000-000000000001",
            "/?date=2030-03-01&view=week",
            "/book?calendar=x#top",
            "/book?date=2030-03-04%3A",
        ] {
            assert_eq!(safe_next(ok), Some(ok), "{ok}");
        }
    }

    #[test]
    fn other_sites_are_refused() {
        for bad in [
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example",
            "https:evil.example",
            "javascript:alert(1)",
            "evil.example",
            "",
            "%2F%2Fevil.example",
            "/%2Fevil.example",
            "/%5Cevil.example",
            "/%252F%252Fevil.example",
            "/%2F%252Fevil.example",
            "/%09/evil.example",
            "/ /evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/x:y",
            // Strict: none of our paths has whitespace, even encoded.
            "/a%20b",
            "/%",
            "/%zz",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn encoding_keeps_slashes_and_escapes_the_rest() {
        assert_eq!(encode("/?a=1&b=2"), "/%3Fa%3D1%26b%3D2");
    }
}
