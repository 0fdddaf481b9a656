//! Words as a caller says them: the tokens of a phrase, and numbers written
//! out ("twenty-one", "fifth", "21st").

/// The lower-case words of `raw`: commas, hyphens, slashes and periods
/// between words separate, `o'clock` stays one word.
pub(crate) fn tokens(raw: &str) -> Vec<String> {
    raw.to_lowercase()
        .replace("o'clock", "oclock")
        .replace("o’clock", "oclock")
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '-' | ';' | '!' | '?'))
        .map(|w| w.trim_matches(|c: char| c == '.' || c == '\'' || c == '"'))
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

const UNITS: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [(&str, u32); 4] = [("twenty", 20), ("thirty", 30), ("forty", 40), ("fifty", 50)];
const ORDINAL_UNITS: [&str; 20] = [
    "zeroth",
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
];
const ORDINAL_TENS: [(&str, u32); 2] = [("twentieth", 20), ("thirtieth", 30)];

/// A number as one word: digits ("21"), a unit or a ten ("five", "thirty").
fn simple_number(word: &str) -> Option<u32> {
    if !word.is_empty() && word.len() <= 4 && word.bytes().all(|b| b.is_ascii_digit()) {
        return word.parse().ok();
    }
    if word == "oh" || word == "o" {
        return Some(0);
    }
    UNITS
        .iter()
        .position(|u| *u == word)
        .and_then(|i| u32::try_from(i).ok())
        .or_else(|| TENS.iter().find(|(t, _)| *t == word).map(|(_, n)| *n))
}

/// An ordinal as one word: "5th", "21st", "fifth", "twentieth".
fn simple_ordinal(word: &str) -> Option<u32> {
    for suffix in ["st", "nd", "rd", "th"] {
        if let Some(digits) = word.strip_suffix(suffix)
            && !digits.is_empty()
            && digits.len() <= 2
            && digits.bytes().all(|b| b.is_ascii_digit())
        {
            return digits.parse().ok();
        }
    }
    ORDINAL_UNITS
        .iter()
        .position(|u| *u == word)
        .and_then(|i| u32::try_from(i).ok())
        .or_else(|| {
            ORDINAL_TENS
                .iter()
                .find(|(t, _)| *t == word)
                .map(|(_, n)| *n)
        })
}

/// Whether a number was said as a count ("five") or as an ordinal ("fifth").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Said {
    Cardinal,
    Ordinal,
}

/// The number that starts `words`, and how many words it took: "twenty one"
/// and "twenty first" take two, "21" and "fifth" one.
pub(crate) fn number_at(words: &[String]) -> Option<(u32, Said, usize)> {
    let first = words.first()?;
    if let Some((_, tens)) = TENS.iter().find(|(t, _)| t == first) {
        if let Some(next) = words.get(1) {
            if let Some(unit) = simple_number(next).filter(|n| (1..=9).contains(n))
                && UNITS.contains(&next.as_str())
            {
                return Some((tens + unit, Said::Cardinal, 2));
            }
            if let Some(unit) = simple_ordinal(next).filter(|n| (1..=9).contains(n))
                && ORDINAL_UNITS.contains(&next.as_str())
            {
                return Some((tens + unit, Said::Ordinal, 2));
            }
        }
        return Some((*tens, Said::Cardinal, 1));
    }
    if let Some(n) = simple_number(first) {
        return Some((n, Said::Cardinal, 1));
    }
    simple_ordinal(first).map(|n| (n, Said::Ordinal, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(raw: &str) -> Vec<String> {
        tokens(raw)
    }

    #[test]
    fn phrases_split_into_words() {
        assert_eq!(
            tokens("Wednesday, January 6, 2027"),
            ["wednesday", "january", "6", "2027"]
        );
        assert_eq!(tokens("3 O'Clock"), ["3", "oclock"]);
        assert_eq!(tokens("twenty-first"), ["twenty", "first"]);
        assert_eq!(tokens("  "), Vec::<String>::new());
    }

    #[test]
    fn numbers_in_words_and_digits() {
        assert_eq!(number_at(&words("21")), Some((21, Said::Cardinal, 1)));
        assert_eq!(number_at(&words("21st")), Some((21, Said::Ordinal, 1)));
        assert_eq!(
            number_at(&words("twenty one")),
            Some((21, Said::Cardinal, 2))
        );
        assert_eq!(
            number_at(&words("twenty-first")),
            Some((21, Said::Ordinal, 2))
        );
        assert_eq!(number_at(&words("thirtieth")), Some((30, Said::Ordinal, 1)));
        assert_eq!(number_at(&words("fifth of")), Some((5, Said::Ordinal, 1)));
        assert_eq!(
            number_at(&words("twenty past")),
            Some((20, Said::Cardinal, 1))
        );
        assert_eq!(number_at(&words("oh five")), Some((0, Said::Cardinal, 1)));
        assert_eq!(number_at(&words("january")), None);
        assert_eq!(number_at(&words("12345")), None);
    }
}
