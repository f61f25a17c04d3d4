//! Reads the current-state file (`schemas/state.schema.json`).

use super::DataError;
use crate::model::State;

/// Parses a state document. Errors name the JSON path of the bad value.
pub fn parse_state(file: &str, text: &str) -> Result<State, DataError> {
    let text = crate::files::strip_bom(text);
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize::<_, State>(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let (record, field) = split_path(&path);
        DataError {
            file: file.to_string(),
            record,
            id: None,
            field,
            message: format!("{inner} (line {}, column {})", inner.line(), inner.column()),
        }
    })
}

/// `accounts[3].enabled` → record 4 of `accounts`, field `accounts[3].enabled`.
fn split_path(path: &str) -> (Option<usize>, Option<String>) {
    if path == "." || path.is_empty() {
        return (None, None);
    }
    let record = path
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once(']'))
        .and_then(|(n, _)| n.parse::<usize>().ok())
        .map(|n| n + 1);
    (record, Some(path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_bad_field() {
        let text = r#"{"accounts":[{"person":"p","target":"ad","enabled":"yes"}]}"#;
        let err = parse_state("state.json", text).unwrap_err();
        assert_eq!(err.record, Some(1));
        assert_eq!(err.field.as_deref(), Some("accounts[0].enabled"));
        assert!(err.to_string().contains("state.json, record 1"), "{err}");
    }

    #[test]
    fn rejects_unknown_fields() {
        let err = parse_state("s.json", r#"{"acounts":[]}"#).unwrap_err();
        assert!(err.message.contains("unknown field"), "{err}");
    }
}
