//! String literals' escapes, decoded as Python decodes them. The printer escapes `"` and `\`,
//! writes control characters as `\n`, `\t` ... or three octal digits, and moves strings that are
//! not ASCII into the constant table, so only ASCII escapes occur in its code; the rest of
//! Python's escapes are decoded too, and `\N{name}` is refused.

/// The text of a literal written `raw` between its quotes, or why it is malformed.
pub(super) fn decode(raw: &str) -> Result<String, String> {
    if !raw.contains('\\') {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(escape) = chars.next() else {
            return Err("a string ends with a lone `\\`".into());
        };
        match escape {
            '\n' => {}
            '\\' | '\'' | '"' => out.push(escape),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '0'..='7' => out.push(octal(escape, &mut chars)),
            'x' => out.push(hex(&mut chars, 2, 'x')?),
            'u' => out.push(hex(&mut chars, 4, 'u')?),
            'U' => out.push(hex(&mut chars, 8, 'U')?),
            'N' => return Err("`\\N{...}` escapes are not supported".into()),
            other => {
                // Python keeps an unknown escape as it is written.
                out.push('\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// The character of an octal escape: `first` and up to two more octal digits.
fn octal(first: char, chars: &mut std::str::Chars<'_>) -> char {
    let mut value = first.to_digit(8).unwrap_or(0);
    for _ in 0..2 {
        let mut ahead = chars.clone();
        match ahead.next().and_then(|c| c.to_digit(8)) {
            Some(digit) => {
                value = value * 8 + digit;
                *chars = ahead;
            }
            None => break,
        }
    }
    // At most 0o777: always a character.
    char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The character of a `\x`, `\u` or `\U` escape (`letter`): exactly `digits` hex digits.
fn hex(chars: &mut std::str::Chars<'_>, digits: usize, letter: char) -> Result<char, String> {
    let mut value = 0u32;
    for _ in 0..digits {
        let digit = chars
            .next()
            .and_then(|c| c.to_digit(16))
            .ok_or_else(|| format!("a `\\{letter}` escape needs {digits} hexadecimal digits"))?;
        value = value * 16 + digit;
    }
    char::from_u32(value).ok_or_else(|| format!("`\\{letter}{value:x}` is not a Unicode character"))
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn python_escapes_are_decoded() {
        for (raw, text) in [
            ("plain", "plain"),
            (r#"a\"b\'c\\d"#, "a\"b'c\\d"),
            (r"\n\t\r\a\b\f\v", "\n\t\r\x07\x08\x0c\x0b"),
            (r"\001\12\7x\0", "\x01\n\x07x\0"),
            (r"\101\1011", "AA1"),
            (r"\x41\u00e9\U0001F600", "Aé😀"),
            (r"\d\q", r"\d\q"),
            ("line\\\nnext", "linenext"),
            ("é\\n", "é\n"),
        ] {
            assert_eq!(decode(raw).unwrap(), text, "{raw}");
        }
    }

    #[test]
    fn malformed_escapes_are_refused() {
        for (raw, message) in [
            (r"\x4", "a `\\x` escape needs 2 hexadecimal digits"),
            (r"\u12g4", "a `\\u` escape needs 4 hexadecimal digits"),
            (r"\UFFFFFFFF", "`\\Uffffffff` is not a Unicode character"),
            (r"\ud800", "`\\ud800` is not a Unicode character"),
            (r"\N{DASH}", "`\\N{...}` escapes are not supported"),
            ("a\\", "a string ends with a lone `\\`"),
        ] {
            assert_eq!(decode(raw).unwrap_err(), message, "{raw}");
        }
    }
}
