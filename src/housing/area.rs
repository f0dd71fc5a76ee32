//! Building areas are exact: integer hundredths of a square metre, never floats. Votes are
//! weighed by area, so 89.55 m² must stay 8955, not 8954.999….

#[derive(Debug, PartialEq, Eq)]
pub enum AreaError {
    NotANumber,
    NotPositive,
    TooPrecise,
    TooLarge,
}

/// Largest area a single unit may have (10 万 m²), a guard against typos.
const MAX_CENTI: i64 = 100_000 * 100;

/// Parses a decimal written as text: "89", "89.5", "89.50". Thousands separators are refused.
pub fn parse_text(s: &str) -> Result<i64, AreaError> {
    let s = s.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty() {
        return Err(AreaError::NotANumber);
    }
    if s.starts_with('-') {
        return Err(AreaError::NotPositive);
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AreaError::NotANumber);
    }
    if frac.len() > 2 {
        // Trailing zeros past the second decimal are harmless ("89.500").
        if frac[2..].bytes().any(|b| b != b'0') {
            return Err(AreaError::TooPrecise);
        }
    }
    if whole.len() > 9 {
        return Err(AreaError::TooLarge);
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| AreaError::NotANumber)?
    };
    let mut frac2: String = frac.chars().take(2).collect();
    while frac2.len() < 2 {
        frac2.push('0');
    }
    let centi = whole * 100 + frac2.parse::<i64>().map_err(|_| AreaError::NotANumber)?;
    match centi {
        0 => Err(AreaError::NotPositive),
        c if c > MAX_CENTI => Err(AreaError::TooLarge),
        c => Ok(c),
    }
}

/// A spreadsheet number: its shortest exact decimal form decides (89.55 → "89.55").
pub fn parse_number(f: f64) -> Result<i64, AreaError> {
    if !f.is_finite() {
        return Err(AreaError::NotANumber);
    }
    if f <= 0.0 {
        return Err(AreaError::NotPositive);
    }
    parse_text(&format!("{f}"))
}

/// What [`format`] writes, as the spec declares it on every area the API answers.
pub const PATTERN: &str = r"^[0-9]+\.[0-9]{2}$";

/// What an area sent to the API may look like: digits with at most two decimals ("89",
/// "89.5", "89.55"), or nothing (unknown, or no filter). Declared and enforced on every area
/// input, so a generated client checks it before sending; [`parse_text`] then checks the value.
pub const INPUT_PATTERN: &str = r"^([0-9]{1,9}(\.[0-9]{1,2})?)?$";

/// 8955 → "89.55".
pub fn format(centi: i64) -> String {
    format!("{}.{:02}", centi / 100, centi % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_areas_are_exact_with_at_most_two_decimals() {
        assert_eq!(parse_text("89"), Ok(8900));
        assert_eq!(parse_text("89.5"), Ok(8950));
        assert_eq!(parse_text(" 89.55 "), Ok(8955));
        assert_eq!(parse_text("89.500"), Ok(8950));
        assert_eq!(parse_text("0.01"), Ok(1));
        assert_eq!(parse_text("89.555"), Err(AreaError::TooPrecise));
        assert_eq!(parse_text("0"), Err(AreaError::NotPositive));
        assert_eq!(parse_text("0.00"), Err(AreaError::NotPositive));
        assert_eq!(parse_text("-3"), Err(AreaError::NotPositive));
        assert_eq!(parse_text("1,200"), Err(AreaError::NotANumber));
        assert_eq!(parse_text("八十"), Err(AreaError::NotANumber));
        assert_eq!(parse_text(""), Err(AreaError::NotANumber));
        assert_eq!(parse_text("."), Err(AreaError::NotANumber));
        assert_eq!(parse_text("100001"), Err(AreaError::TooLarge));
    }

    #[test]
    fn spreadsheet_numbers_keep_their_decimal_value() {
        assert_eq!(parse_number(89.55), Ok(8955));
        assert_eq!(parse_number(120.0), Ok(12000));
        assert_eq!(parse_number(0.1 + 0.2), Err(AreaError::TooPrecise));
        assert_eq!(parse_number(0.0), Err(AreaError::NotPositive));
        assert_eq!(parse_number(f64::NAN), Err(AreaError::NotANumber));
        // Summing many exact areas loses nothing.
        let total: i64 = (0..10_000).map(|_| parse_number(89.55).unwrap()).sum();
        assert_eq!(format(total), "895500.00");
        assert_eq!(format(8905), "89.05");
    }
}
