//! The normalized data Stroom works on: persons with contracts, the current state of the
//! targets, and the values rules compute with.

pub mod group;
pub mod kind;
pub mod live;
pub mod names;
pub mod notice;
pub mod person;
pub mod state;
pub mod text;
pub mod value;

pub use kind::Kind;
pub use person::{Contract, NameConvention, Person};
pub use state::{AccountState, GrantState, State};
pub use value::{Ty, Value};

/// The calendar date in Europe/Amsterdam at a moment: UTC+1, and UTC+2 from the last
/// Sunday of March 01:00 UTC until the last Sunday of October 01:00 UTC (the EU rule).
pub fn dutch_date(now: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
    use chrono::{Datelike, Duration, NaiveDate, TimeZone, Weekday};
    let year = now.year();
    let last_sunday = |month: u32| {
        let first_next = if month == 12 {
            NaiveDate::from_ymd_opt(year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(year, month + 1, 1)
        };
        first_next.and_then(|d| d.pred_opt()).map(|mut d| {
            while d.weekday() != Weekday::Sun {
                d = d.pred_opt().unwrap_or(d);
            }
            d
        })
    };
    let switch = |d: Option<NaiveDate>| {
        d.and_then(|d| d.and_hms_opt(1, 0, 0))
            .map(|t| chrono::Utc.from_utc_datetime(&t))
    };
    let summer = match (switch(last_sunday(3)), switch(last_sunday(10))) {
        (Some(from), Some(until)) => from <= now && now < until,
        _ => false,
    };
    (now + Duration::hours(if summer { 2 } else { 1 })).date_naive()
}

#[cfg(test)]
mod tests {
    use super::dutch_date;
    use chrono::{TimeZone, Utc};

    #[test]
    fn dutch_date_follows_amsterdam_time() {
        let at = |y, m, d, h, min| dutch_date(Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap());
        // Winter: 23:30 UTC is already tomorrow in Amsterdam.
        assert_eq!(at(2026, 1, 31, 23, 30).to_string(), "2026-02-01");
        assert_eq!(at(2026, 1, 31, 22, 30).to_string(), "2026-01-31");
        // Summer: 22:30 UTC is tomorrow.
        assert_eq!(at(2026, 7, 31, 22, 30).to_string(), "2026-08-01");
        assert_eq!(at(2026, 7, 31, 21, 30).to_string(), "2026-07-31");
        // Switches: 2026-03-29 and 2026-10-25 at 01:00 UTC.
        assert_eq!(at(2026, 3, 29, 0, 59).to_string(), "2026-03-29");
        assert_eq!(at(2026, 10, 24, 22, 30).to_string(), "2026-10-25");
        assert_eq!(at(2026, 10, 25, 22, 30).to_string(), "2026-10-25");
    }
}
