//! Quantities: weights in milligrams, volumes in millilitres, counts in units.
//! Parsing of the free-text sizes found on labels and in catalogs ("1/8 oz", "3.5g", "355 ml").

use serde::{Deserialize, Serialize};

pub const MG_PER_G: i64 = 1_000;
/// 1 avoirdupois ounce = 28.349523125 g, rounded to the milligram.
pub const MG_PER_OZ: i64 = 28_350;
pub const MG_PER_LB: i64 = 453_592;
/// 1 US fluid ounce = 29.5735 ml; kept as a ratio in µl to stay exact enough.
pub const UL_PER_FL_OZ: i64 = 29_574;

/// A net content read off a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum NetContent {
    Mass { mg: i64 },
    Volume { ml: i64 },
}

/// Parses a decimal or a fraction ("3.5", "1/8", "1 1/2") into a value scaled by `scale`.
fn parse_number_scaled(text: &str, scale: i64) -> Option<i64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    // mixed fraction "1 1/2"
    if let Some((whole, frac)) = t.split_once(' ') {
        let w = parse_number_scaled(whole, scale)?;
        let f = parse_number_scaled(frac, scale)?;
        return w.checked_add(f);
    }
    if let Some((n, d)) = t.split_once('/') {
        let n: i64 = n.trim().parse().ok()?;
        let d: i64 = d.trim().parse().ok()?;
        // A size is never negative; "i64::MIN/-1" would also overflow the division.
        if n < 0 || d <= 0 {
            return None;
        }
        return n.checked_mul(scale)?.checked_div(d);
    }
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if !whole.chars().all(|c| c.is_ascii_digit() || c == ',') || !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    // A comma separates thousands ("1,200") only before groups of exactly three digits; "3,5"
    // (a French decimal) is ambiguous and not read at all, rather than read as 35.
    if whole.split(',').skip(1).any(|g| g.len() != 3) || whole.starts_with(',') {
        return None;
    }
    let whole: String = whole.chars().filter(|c| *c != ',').collect();
    let w: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut v = w.checked_mul(scale)?;
    let mut place = scale;
    for c in frac.chars() {
        place /= 10;
        if place == 0 {
            break;
        }
        v = v.checked_add((c as i64 - '0' as i64) * place)?;
    }
    Some(v)
}

/// Parses an amount of milligrams written as "200mg", "1,200 mg", "0.5 g".
pub fn parse_mg(text: &str) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    if let Some(n) = t.strip_suffix("mg") {
        return parse_number_scaled(n, 1);
    }
    if let Some(n) = t.strip_suffix('g') {
        return parse_number_scaled(n, MG_PER_G);
    }
    None
}

/// Parses a percentage "18.5%" into basis points (1 % = 100 bp).
pub fn parse_percent_bp(text: &str) -> Option<i64> {
    let t = text.trim();
    let n = t.strip_suffix('%')?;
    let bp = parse_number_scaled(n, 100)?;
    (0..=10_000).contains(&bp).then_some(bp)
}

/// Finds the first pack size in a product name or size field: "1/2 ounce of cannabis",
/// "4 OZ Peanut Butter", "Pre-roll 0.5g", "Soda 355ml", "1oz". Milligram figures in names
/// are potency, not size, and are ignored here.
pub fn find_net_content(text: &str) -> Option<NetContent> {
    let lower = text.to_ascii_lowercase();
    // Tokenize into (number-ish, unit) pairs.
    let chars: Vec<char> = lower.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() || (chars[i] == '.' && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit())) {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || matches!(chars[i], '.' | '/' | ',')) {
                i += 1;
            }
            let number: String = chars[start..i].iter().collect();
            let mut j = i;
            while j < chars.len() && chars[j] == ' ' {
                j += 1;
            }
            let rest: String = chars[j..].iter().take(12).collect();
            let unit_end = rest.find(|c: char| !c.is_ascii_alphabetic() && c != '.' && c != ' ').unwrap_or(rest.len());
            let unit = rest[..unit_end].trim();
            let word = unit.split([' ', '.']).next().unwrap_or("");
            let fl_oz = unit.starts_with("fl oz") || unit.starts_with("fl. oz") || unit.starts_with("floz");
            let content = if fl_oz {
                parse_number_scaled(&number, UL_PER_FL_OZ).map(|ul| NetContent::Volume { ml: ul / 1000 })
            } else {
                match word {
                    "g" | "gr" | "gram" | "grams" | "gm" => parse_number_scaled(&number, MG_PER_G).map(|mg| NetContent::Mass { mg }),
                    "oz" | "ounce" | "ounces" => parse_number_scaled(&number, MG_PER_OZ).map(|mg| NetContent::Mass { mg }),
                    "lb" | "lbs" | "pound" | "pounds" => parse_number_scaled(&number, MG_PER_LB).map(|mg| NetContent::Mass { mg }),
                    "ml" | "milliliter" | "milliliters" | "millilitre" | "millilitres" => parse_number_scaled(&number, 1).map(|ml| NetContent::Volume { ml }),
                    "l" | "liter" | "litre" => parse_number_scaled(&number, 1000).map(|ml| NetContent::Volume { ml }),
                    _ => None,
                }
            };
            if let Some(c) = content {
                let positive = match c {
                    NetContent::Mass { mg } => mg > 0,
                    NetContent::Volume { ml } => ml > 0,
                };
                if positive {
                    return Some(c);
                }
            }
        } else if chars[i].is_ascii_alphabetic() {
            // word sizes: "ounce of", "half ounce", "eighth", "quarter"
            let start = i;
            while i < chars.len() && chars[i].is_ascii_alphabetic() {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let prev_is_digit = start > 0 && chars[..start].iter().rev().find(|c| **c != ' ').is_some_and(|c| c.is_ascii_digit() || *c == '/');
            if !prev_is_digit {
                let mg = match word.as_str() {
                    "ounce" | "oz" => Some(MG_PER_OZ),
                    "eighth" => Some(MG_PER_OZ / 8),
                    "quarter" => Some(MG_PER_OZ / 4),
                    // (`start` counts characters, not bytes: the text may hold any script.)
                    "half" if ["half ounce", "half oz"].iter().any(|w| chars[start..].iter().copied().take(w.len()).eq(w.chars())) => Some(MG_PER_OZ / 2),
                    _ => None,
                };
                if let Some(mg) = mg {
                    return Some(NetContent::Mass { mg });
                }
            }
            continue;
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sizes_are_read_as_integer_milligrams_or_millilitres() {
        assert_eq!(find_net_content("1/2 ounce of cannabis"), Some(NetContent::Mass { mg: 14_175 }));
        assert_eq!(find_net_content("ounce of cannabis"), Some(NetContent::Mass { mg: 28_350 }));
        assert_eq!(find_net_content("4 OZ Peanut Butter"), Some(NetContent::Mass { mg: 113_400 }));
        assert_eq!(find_net_content("Blue Dream Pre-roll 0.5g"), Some(NetContent::Mass { mg: 500 }));
        assert_eq!(find_net_content("Sparkling Soda 355ml"), Some(NetContent::Volume { ml: 355 }));
        assert_eq!(find_net_content("Tincture 2 fl oz"), Some(NetContent::Volume { ml: 59 }));
        assert_eq!(find_net_content("Eighth - OG Kush"), Some(NetContent::Mass { mg: 3_543 }));
        assert_eq!(find_net_content("3.5 grams"), Some(NetContent::Mass { mg: 3_500 }));
        // potency in a name is not a pack size
        assert_eq!(find_net_content("Gummies (100mg)"), None);
        assert_eq!(find_net_content("Chocolate Chunk - Shatter"), None);
        assert_eq!(find_net_content("Capsules (7 Pack)"), None);
    }

    #[test]
    fn names_in_any_script_are_read_by_their_characters_not_their_bytes() {
        // An en dash before the size used to panic the importer (a character index used as a
        // byte index); an accent before it used to turn a half ounce into a whole one.
        assert_eq!(find_net_content("Jack Herer – half ounce"), Some(NetContent::Mass { mg: 14_175 }));
        assert_eq!(find_net_content("Café half ounce"), Some(NetContent::Mass { mg: 14_175 }));
        assert_eq!(find_net_content("Crème brûlée — half oz"), Some(NetContent::Mass { mg: 14_175 }));
        assert_eq!(find_net_content("大麻 half ounce"), Some(NetContent::Mass { mg: 14_175 }));
        assert_eq!(find_net_content("Élan – 3,5 g"), None, "a decimal comma is not read as a size");
    }

    #[test]
    fn fractions_at_the_integer_edges_are_not_read_and_do_not_panic() {
        assert_eq!(parse_mg("-9223372036854775808/-1mg"), None);
        assert_eq!(parse_mg("-1/2 g"), None);
        assert_eq!(parse_mg("1/-2 g"), None);
        assert_eq!(parse_mg("9223372036854775807/1 g"), None, "overflows the scale");
        assert_eq!(parse_mg("1/2 g"), Some(500));
    }

    proptest::proptest! {
        #[test]
        fn no_name_panics_the_size_reader(s in "\\PC{0,40}", bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..60)) {
            let _ = find_net_content(&s);
            let _ = find_net_content(&String::from_utf8_lossy(&bytes));
            let _ = parse_mg(&s);
            let _ = parse_percent_bp(&s);
        }

        #[test]
        fn a_half_ounce_is_half_an_ounce_after_any_non_ascii_prefix(prefix in "[^\\x00-\\x7F]{0,12}") {
            proptest::prop_assert_eq!(find_net_content(&format!("{prefix} half ounce")), Some(NetContent::Mass { mg: 14_175 }));
        }
    }

    #[test]
    fn potency_text_parses_to_integers() {
        assert_eq!(parse_mg("200mg"), Some(200));
        assert_eq!(parse_mg("1,200mg"), Some(1200));
        assert_eq!(parse_mg("25.69mg"), Some(25));
        assert_eq!(parse_mg("0.5 g"), Some(500));
        assert_eq!(parse_mg("strong"), None);
        assert_eq!(parse_percent_bp("18.5%"), Some(1850));
        assert_eq!(parse_percent_bp("180%"), None);
    }
}
