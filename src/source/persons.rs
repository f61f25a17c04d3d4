//! Reads a persons file (`schemas/persons.schema.json`): a JSON array of person records
//! or JSON Lines. Every record is validated; all problems are reported together and a
//! file with problems is refused whole, so a bad export can never look like leavers.

use super::{DataError, DataErrors};
use crate::model::{Contract, NameConvention, Person};
use chrono::NaiveDate;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

/// Nmbrs employee types.
pub const EMPLOYEE_TYPES: &[&str] = &[
    "applicant",
    "newHire",
    "payroll",
    "formerPayroll",
    "external",
    "formerExternal",
    "rejectedApplicant",
];

const PERSON_KEYS: &[&str] = &[
    "id",
    "employee_number",
    "company",
    "employee_type",
    "first_name",
    "first_name_full",
    "initials",
    "prefix",
    "last_name",
    "partner_prefix",
    "partner_last_name",
    "name_convention",
    "gender",
    "birth_date",
    "business_email",
    "private_email",
    "business_phone",
    "business_mobile",
    "manager_id",
    "extra",
    "contracts",
];
const CONTRACT_KEYS: &[&str] = &[
    "id",
    "start",
    "end",
    "hours_per_week",
    "department",
    "department_code",
    "function",
    "function_code",
    "cost_center",
    "cost_center_code",
    "manager_id",
];

/// Parses and validates a persons file. Records are read one at a time, so memory
/// holds the persons, not a syntax tree of the whole file. A well-formed file is read on
/// all cores, a record per task; a file that is not is read in order, which names the
/// place of the fault.
pub fn parse_persons(file: &str, text: &str) -> Result<Vec<Person>, DataErrors> {
    let text = crate::files::strip_bom(text);
    match split_records(text).and_then(|records| read_in_parallel(file, &records)) {
        Some(read) => read,
        None => read_in_order(file, text),
    }
}

/// One record read on its own: the person (if valid), its id, its problems.
type ReadRecord = (Option<Person>, Option<String>, Vec<DataError>);

/// Reads record number `n` (1-based).
fn read_record(file: &str, n: usize, record: &Value) -> ReadRecord {
    let mut errors = Vec::new();
    let mut r = RecordReader {
        file,
        record: n,
        id: None,
        errors: &mut errors,
    };
    let person = r.person(record);
    let id = r.id.take();
    (person, id, errors)
}

/// The persons of records read one by one, in file order, refusing a second record
/// with an id already seen.
fn assemble(file: &str, read: Vec<ReadRecord>) -> Result<Vec<Person>, DataErrors> {
    let mut errors = Vec::new();
    let mut persons = Vec::with_capacity(read.len());
    let mut seen = HashSet::new();
    for (i, (person, id, mut problems)) in read.into_iter().enumerate() {
        errors.append(&mut problems);
        if let Some(id) = id.filter(|id| !seen.insert(id.clone())) {
            let mut r = RecordReader {
                file,
                record: i + 1,
                id: Some(id),
                errors: &mut errors,
            };
            r.error(
                Some("id".into()),
                "duplicate id: another record already has it".into(),
            );
        } else if let Some(p) = person {
            persons.push(p);
        }
    }
    if errors.is_empty() {
        Ok(persons)
    } else {
        Err(DataErrors(errors))
    }
}

/// Reads the records on all cores; `None` if one is not valid JSON (then the reading
/// in order reports it).
fn read_in_parallel(file: &str, records: &[&str]) -> Option<Result<Vec<Person>, DataErrors>> {
    use rayon::prelude::*;
    use serde::de::DeserializeSeed;
    let read: Option<Vec<ReadRecord>> = records
        .par_iter()
        .enumerate()
        .with_min_len(64)
        .map(|(i, text)| {
            let mut de = serde_json::Deserializer::from_str(text);
            let record = Strict.deserialize(&mut de).ok()?;
            de.end().ok()?;
            Some(read_record(file, i + 1, &record))
        })
        .collect();
    Some(assemble(file, read?))
}

/// Reads the records one after the other.
fn read_in_order(file: &str, text: &str) -> Result<Vec<Person>, DataErrors> {
    let mut read = Vec::new();
    for_each_record(file, text, &mut |record: Value| {
        read.push(read_record(file, read.len() + 1, &record))
    })
    .map_err(|e| DataErrors(vec![e]))?;
    assemble(file, read)
}

/// The records of a JSON array or of JSON Lines, as text, found by a scan of brackets
/// and strings (no parse); `None` when the text is not a plain array of values.
fn split_records(text: &str) -> Option<Vec<&str>> {
    let b = text.as_bytes();
    let ws = |mut i: usize| {
        while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        i
    };
    let mut i = ws(0);
    if b.get(i) != Some(&b'[') {
        // JSON Lines: a record per line.
        return Some(text.lines().filter(|l| !l.trim().is_empty()).collect());
    }
    let mut out = Vec::new();
    i = ws(i + 1);
    if b.get(i) == Some(&b']') {
        return (ws(i + 1) == b.len()).then_some(out);
    }
    loop {
        let start = i;
        let mut depth = 0usize;
        loop {
            match *b.get(i)? {
                b'"' => {
                    i += 1;
                    loop {
                        match *b.get(i)? {
                            b'\\' => i += 2,
                            b'"' => break,
                            _ => i += 1,
                        }
                    }
                    i += 1;
                }
                b'{' | b'[' => {
                    depth += 1;
                    i += 1;
                }
                b'}' | b']' if depth == 0 => break,
                b'}' | b']' => {
                    depth -= 1;
                    i += 1;
                    if depth == 0 {
                        break;
                    }
                }
                b',' if depth == 0 => break,
                _ => i += 1,
            }
        }
        // Every stop above is at an ASCII byte: a character boundary.
        out.push(text.get(start..i)?);
        i = ws(i);
        match *b.get(i)? {
            b',' => i = ws(i + 1),
            b']' => return (ws(i + 1) == b.len()).then_some(out),
            _ => return None,
        }
    }
}

/// Calls `f` with each element of a JSON array.
struct EachRecord<'f>(&'f mut dyn FnMut(Value));

impl<'de> serde::de::Visitor<'de> for EachRecord<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of person records")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element_seed(Strict)? {
            (self.0)(v);
        }
        Ok(())
    }
}

/// A JSON value that refuses duplicate keys in an object (`{"id": "a", "id": "b"}`):
/// which one counts differs from tool to tool, so a record holding both is an error.
struct Strict;

impl<'de> serde::de::DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(Strict)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let v = map.next_value_seed(Strict)?;
            match out.entry(key) {
                serde_json::map::Entry::Vacant(slot) => {
                    slot.insert(v);
                }
                serde_json::map::Entry::Occupied(slot) => {
                    return Err(serde::de::Error::custom(format!(
                        "the key `{}` appears twice in one object; keep one",
                        slot.key()
                    )));
                }
            }
        }
        Ok(Value::Object(out))
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for EachRecord<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

/// Feeds each record of a JSON array or of JSON Lines (blank lines skipped) to `f`.
fn for_each_record(file: &str, text: &str, f: &mut dyn FnMut(Value)) -> Result<(), DataError> {
    use serde::de::DeserializeSeed;
    let err = |record: Option<usize>, message: String| DataError {
        file: file.to_string(),
        record,
        id: None,
        field: None,
        message,
    };
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('[') {
        let mut de = serde_json::Deserializer::from_str(trimmed);
        return EachRecord(f)
            .deserialize(&mut de)
            .and_then(|()| de.end())
            .map_err(|e| {
                err(
                    None,
                    format!("not a valid JSON array of person records: {e}"),
                )
            });
    }
    let mut count = 0;
    for (n, line) in trimmed.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        count += 1;
        let v = {
            use serde::de::DeserializeSeed;
            let mut de = serde_json::Deserializer::from_str(line);
            Strict
                .deserialize(&mut de)
                .and_then(|v| de.end().map(|()| v))
        }
        .map_err(|e| {
            err(
                Some(count),
                format!("line {} is not a JSON object: {e}", n + 1),
            )
        })?;
        f(v);
    }
    Ok(())
}

struct RecordReader<'a> {
    file: &'a str,
    record: usize,
    id: Option<String>,
    errors: &'a mut Vec<DataError>,
}

impl RecordReader<'_> {
    /// Reports every text value holding a control or bidirectional character.
    fn forbidden_chars(&mut self, v: &Value) {
        for (path, c) in crate::model::text::forbidden_in_json(v) {
            self.error(Some(path), crate::model::text::refusal(c));
        }
    }

    fn error(&mut self, field: Option<String>, message: String) {
        self.errors.push(DataError {
            file: self.file.to_string(),
            record: Some(self.record),
            id: self.id.clone(),
            field,
            message,
        });
    }

    fn unknown_keys(&mut self, obj: &Map<String, Value>, known: &[&str], prefix: &str) {
        for key in obj.keys() {
            if !known.contains(&key.as_str()) {
                let hint = crate::suggest::did_you_mean(key, known.iter().copied())
                    .map(|s| format!("; did you mean `{s}`?"))
                    .unwrap_or_else(|| "; put free fields under `extra`".into());
                self.error(
                    Some(format!("{prefix}{key}")),
                    format!("unknown field{hint}"),
                );
            }
        }
    }

    fn string(&mut self, obj: &Map<String, Value>, key: &str, path: &str) -> Option<String> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.error(
                    Some(format!("{path}{key}")),
                    format!("expected a string or null, found {}", kind_of(other)),
                );
                None
            }
        }
    }

    fn required_string(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Option<String> {
        match self.string(obj, key, path) {
            Some(s) if !s.trim().is_empty() => Some(s),
            Some(_) => {
                self.error(Some(format!("{path}{key}")), "must not be empty".into());
                None
            }
            None if obj.get(key).is_none_or(Value::is_null) => {
                self.error(Some(format!("{path}{key}")), "is required".into());
                None
            }
            None => None,
        }
    }

    fn date(&mut self, obj: &Map<String, Value>, key: &str, path: &str) -> Option<NaiveDate> {
        let s = self.string(obj, key, path)?;
        match NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
            Ok(d) if s.len() == 10 => Some(d),
            _ => {
                self.error(
                    Some(format!("{path}{key}")),
                    format!("{s:?} is not a date; write YYYY-MM-DD, e.g. 2026-01-31"),
                );
                None
            }
        }
    }

    fn one_of(&mut self, obj: &Map<String, Value>, key: &str, allowed: &[&str]) -> Option<String> {
        let s = self.string(obj, key, "")?;
        if allowed.contains(&s.as_str()) {
            Some(s)
        } else {
            self.error(
                Some(key.into()),
                format!("{s:?} is not one of: {}", allowed.join(", ")),
            );
            None
        }
    }

    fn person(&mut self, v: &Value) -> Option<Person> {
        let Some(obj) = v.as_object() else {
            self.error(
                None,
                format!("expected a JSON object, found {}", kind_of(v)),
            );
            return None;
        };
        let before = self.errors.len();
        let id = match obj.get("id") {
            Some(Value::Number(n)) => {
                // A number would be turned into text differently by each tool (5, 5.0,
                // 5e0): ids are text, written as such.
                self.id = Some(n.to_string());
                self.error(
                    Some("id".into()),
                    format!("expected text, found the number {n}; write the id in quotes: \"{n}\""),
                );
                return None;
            }
            _ => self.required_string(obj, "id", ""),
        };
        self.id = id.clone();
        self.forbidden_chars(v);
        self.unknown_keys(obj, PERSON_KEYS, "");
        let last_name = self.required_string(obj, "last_name", "");
        let employee_number = match obj.get("employee_number") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64(),
            Some(other) => {
                self.error(
                    Some("employee_number".into()),
                    format!("expected a whole number or null, found {}", kind_of(other)),
                );
                None
            }
        };
        let name_convention = self
            .one_of(
                obj,
                "name_convention",
                &["own", "partner", "own_partner", "partner_own"],
            )
            .and_then(|s| NameConvention::parse(&s));
        let mut extra = BTreeMap::new();
        match obj.get("extra") {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    match v {
                        Value::String(s) => {
                            extra.insert(k.clone(), s.clone());
                        }
                        Value::Number(_) | Value::Bool(_) => {
                            extra.insert(k.clone(), v.to_string());
                        }
                        Value::Null => {}
                        other => self.error(
                            Some(format!("extra.{k}")),
                            format!(
                                "expected text, a number or a boolean, found {}",
                                kind_of(other)
                            ),
                        ),
                    }
                }
            }
            Some(other) => self.error(
                Some("extra".into()),
                format!("expected an object, found {}", kind_of(other)),
            ),
        }
        let contracts = match obj.get("contracts") {
            Some(Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ids = HashSet::new();
                for (i, c) in items.iter().enumerate() {
                    let path = format!("contracts[{i}].");
                    if let Some(c) = self.contract(c, &path) {
                        if ids.insert(c.id.clone()) {
                            out.push(c);
                        } else {
                            self.error(
                                Some(format!("{path}id")),
                                format!("duplicate contract id {:?} in this person", c.id),
                            );
                        }
                    }
                }
                out
            }
            None | Some(Value::Null) => {
                self.error(
                    Some("contracts".into()),
                    "is required (use [] for a person without contracts)".into(),
                );
                Vec::new()
            }
            Some(other) => {
                self.error(
                    Some("contracts".into()),
                    format!("expected an array, found {}", kind_of(other)),
                );
                Vec::new()
            }
        };
        let mut person = Person {
            id: Arc::from(id.unwrap_or_default().as_str()),
            employee_number,
            company: self.string(obj, "company", ""),
            employee_type: self.one_of(obj, "employee_type", EMPLOYEE_TYPES),
            first_name: self.string(obj, "first_name", ""),
            first_name_full: self.string(obj, "first_name_full", ""),
            initials: self.string(obj, "initials", ""),
            prefix: self.string(obj, "prefix", ""),
            last_name: last_name.unwrap_or_default(),
            partner_prefix: self.string(obj, "partner_prefix", ""),
            partner_last_name: self.string(obj, "partner_last_name", ""),
            name_convention,
            gender: self.string(obj, "gender", ""),
            birth_date: self.date(obj, "birth_date", ""),
            business_email: self.string(obj, "business_email", ""),
            private_email: self.string(obj, "private_email", ""),
            business_phone: self.string(obj, "business_phone", ""),
            business_mobile: self.string(obj, "business_mobile", ""),
            manager_id: self.string(obj, "manager_id", ""),
            extra,
            contracts,
            ..Person::default()
        };
        if self.errors.len() > before {
            return None;
        }
        person.compute_names();
        Some(person)
    }

    fn contract(&mut self, v: &Value, path: &str) -> Option<Contract> {
        let Some(obj) = v.as_object() else {
            self.error(
                Some(path.trim_end_matches('.').into()),
                format!("expected a contract object, found {}", kind_of(v)),
            );
            return None;
        };
        self.unknown_keys(obj, CONTRACT_KEYS, path);
        let id = match obj.get("id") {
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => self.required_string(obj, "id", path),
        };
        let start = self.date(obj, "start", path);
        let end = self.date(obj, "end", path);
        if let (Some(s), Some(e)) = (start, end) {
            if e < s {
                self.error(
                    Some(format!("{path}end")),
                    format!("ends ({e}) before it starts ({s})"),
                );
            }
        }
        let hours_per_week = match obj.get("hours_per_week") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => {
                n.as_f64()
                    .filter(|h| (0.0..=168.0).contains(h))
                    .or_else(|| {
                        self.error(
                            Some(format!("{path}hours_per_week")),
                            format!("{n} is not between 0 and 168"),
                        );
                        None
                    })
            }
            Some(other) => {
                self.error(
                    Some(format!("{path}hours_per_week")),
                    format!("expected a number or null, found {}", kind_of(other)),
                );
                None
            }
        };
        Some(Contract {
            id: id?,
            start,
            end,
            hours_per_week,
            department: self.string(obj, "department", path),
            department_code: self.string(obj, "department_code", path),
            function: self.string(obj, "function", path),
            function_code: self.string(obj, "function_code", path),
            cost_center: self.string(obj, "cost_center", path),
            cost_center_code: self.string(obj, "cost_center_code", path),
            manager_id: self.string(obj, "manager_id", path),
        })
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A person as a record of the persons file (the inverse of [`parse_persons`];
/// computed names are left out, the reader computes them).
pub fn person_to_json(p: &Person) -> Value {
    let date = |d: Option<NaiveDate>| d.map_or(Value::Null, |d| Value::String(d.to_string()));
    let contracts: Vec<Value> = p
        .contracts
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": c.id,
                "start": date(c.start),
                "end": date(c.end),
                "hours_per_week": c.hours_per_week,
                "department": c.department,
                "department_code": c.department_code,
                "function": c.function,
                "function_code": c.function_code,
                "cost_center": c.cost_center,
                "cost_center_code": c.cost_center_code,
                "manager_id": c.manager_id,
            })
        })
        .collect();
    serde_json::json!({
        "id": p.id.as_ref(),
        "employee_number": p.employee_number,
        "company": p.company,
        "employee_type": p.employee_type,
        "first_name": p.first_name,
        "first_name_full": p.first_name_full,
        "initials": p.initials,
        "prefix": p.prefix,
        "last_name": p.last_name,
        "partner_prefix": p.partner_prefix,
        "partner_last_name": p.partner_last_name,
        "name_convention": p.name_convention.map(NameConvention::as_str),
        "gender": p.gender,
        "birth_date": date(p.birth_date),
        "business_email": p.business_email,
        "private_email": p.private_email,
        "business_phone": p.business_phone,
        "business_mobile": p.business_mobile,
        "manager_id": p.manager_id,
        "extra": p.extra,
        "contracts": contracts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_array_and_json_lines_alike() {
        let rec = r#"{"id":"p1","last_name":"Berg","prefix":"van der","first_name":"Jan","contracts":[{"id":"c1","start":"2026-01-01"}]}"#;
        let a = parse_persons("a.json", &format!("[{rec}]")).unwrap();
        let b = parse_persons("b.jsonl", &format!("{rec}\n\n")).unwrap();
        assert_eq!(a, b);
        assert_eq!(a[0].display_name, "Jan van der Berg");
    }

    #[test]
    fn reports_every_bad_record_with_place() {
        let text = r#"[
          {"id":"p1","contracts":[]},
          {"id":"p2","last_name":"X","contracts":[{"id":"c","start":"2026-13-01"}]},
          {"id":"p2","last_name":"Y","contracts":[]},
          {"id":"p4","last_name":"Z","lastname":"Z","contracts":[{"id":"c","start":"2026-02-01","end":"2026-01-01"}]}
        ]"#;
        let errs = parse_persons("p.json", text).unwrap_err().0;
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            shown[0].contains("record 1 (id \"p1\"), field `last_name`: is required"),
            "{shown:#?}"
        );
        assert!(shown
            .iter()
            .any(|s| s.contains("record 2") && s.contains("contracts[0].start")));
        assert!(shown
            .iter()
            .any(|s| s.contains("record 3") && s.contains("duplicate id")));
        assert!(shown
            .iter()
            .any(|s| s.contains("`lastname`") && s.contains("did you mean `last_name`")));
        assert!(shown
            .iter()
            .any(|s| s.contains("ends (2026-01-01) before it starts")));
    }

    #[test]
    fn broken_json_is_one_clear_error() {
        let errs = parse_persons("p.json", "[{\"id\": }]").unwrap_err().0;
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.contains("line 1"), "{}", errs[0]);
    }
}
