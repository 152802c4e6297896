//! The wall-clock budget: parsing `1h30m`, the tolerance a run must keep, and display.

use std::time::Duration;
use thiserror::Error;

#[derive(Debug, Error, PartialEq)]
pub enum BudgetError {
    #[error(
        "invalid budget {0:?}: use a number with a unit h, m or s, or several of them, \
         for example 90s, 30m, 1h, 24h or 1h30m"
    )]
    Syntax(String),
    #[error("invalid budget {0:?}: it must be longer than zero")]
    Zero(String),
    #[error("invalid budget {0:?}: more than {max_hours} hours is not supported", max_hours = MAX_HOURS)]
    TooLong(String),
}

const MAX_HOURS: u64 = 24 * 31;

/// Parses `90s`, `30m`, `1h`, `24h`, `1h30m`, `1.5h`: units h, m, s, each at most once, in
/// that order.
pub fn parse_budget(text: &str) -> Result<Duration, BudgetError> {
    let syntax = || BudgetError::Syntax(text.to_string());
    let s = text.trim().to_ascii_lowercase();
    if s.is_empty() {
        return Err(syntax());
    }
    let mut total = 0.0f64;
    let mut rest = s.as_str();
    let mut last_unit_rank = 0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(syntax)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| syntax())?;
        let unit = rest[number_len..].chars().next().ok_or_else(syntax)?;
        let (rank, seconds) = match unit {
            'h' => (1, 3600.0),
            'm' => (2, 60.0),
            's' => (3, 1.0),
            _ => return Err(syntax()),
        };
        if rank <= last_unit_rank {
            return Err(syntax());
        }
        last_unit_rank = rank;
        total += number * seconds;
        rest = &rest[number_len + 1..];
    }
    if total > (MAX_HOURS * 3600) as f64 {
        return Err(BudgetError::TooLong(text.to_string()));
    }
    let budget = Duration::from_secs_f64(total);
    if budget < Duration::from_millis(1) {
        return Err(BudgetError::Zero(text.to_string()));
    }
    Ok(budget)
}

/// How far past its budget a run may end: 1% of the budget, but at least 5 seconds.
pub fn tolerance(budget: Duration) -> Duration {
    (budget / 100).max(Duration::from_secs(5))
}

pub use report::format_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let secs = |s| parse_budget(s).unwrap().as_secs_f64();
        assert_eq!(secs("90s"), 90.0);
        assert_eq!(secs("30m"), 1800.0);
        assert_eq!(secs("1h"), 3600.0);
        assert_eq!(secs("24h"), 86_400.0);
        assert_eq!(secs("1h30m"), 5400.0);
        assert_eq!(secs("1h0m5s"), 3605.0);
        assert_eq!(secs("1.5h"), 5400.0);
        assert_eq!(secs(" 2M "), 120.0);
    }

    #[test]
    fn rejects_malformed_budgets() {
        for bad in [
            "", "1", "h", "1x", "1h1h", "30m1h", "1..5h", "-1h", "1h 30m", "m30",
        ] {
            assert!(
                matches!(parse_budget(bad), Err(BudgetError::Syntax(_))),
                "{bad:?} was accepted"
            );
        }
        assert_eq!(parse_budget("0s"), Err(BudgetError::Zero("0s".into())));
        assert!(matches!(
            parse_budget("1000h"),
            Err(BudgetError::TooLong(_))
        ));
        let msg = parse_budget("soon").unwrap_err().to_string();
        assert!(msg.contains("\"soon\"") && msg.contains("1h30m"), "{msg}");
    }

    #[test]
    fn tolerance_is_one_percent_or_five_seconds() {
        assert_eq!(
            tolerance(Duration::from_secs(3600)),
            Duration::from_secs(36)
        );
        assert_eq!(tolerance(Duration::from_secs(120)), Duration::from_secs(5));
        assert_eq!(
            tolerance(Duration::from_secs(86_400)),
            Duration::from_secs(864)
        );
    }
}
