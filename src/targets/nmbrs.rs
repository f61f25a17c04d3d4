//! Nmbrs write-back: the business e-mail (and phones, private e-mail) a rule writes
//! back, through `PUT /api/employees/{id}/personalInfo`.
//!
//! Read-modify-write: the current personal info is read first, and the whole
//! `contactInfo` is sent back with only the intended fields changed, because the API
//! does not promise that omitted fields are kept. A value that is already there is
//! not written again. `basicInfo` is never sent.

use super::{AccountRef, Entitlement, Target, TargetError, TargetResult};
use crate::source::nmbrs::client::Client;
use crate::source::nmbrs::normalize::current;
use crate::source::nmbrs::NmbrsError;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The write-back target.
pub struct NmbrsWriteback {
    client: Client,
    runtime: tokio::runtime::Runtime,
    /// Person (employee) id → company id, from the last import.
    companies: HashMap<String, String>,
}

/// Person field → Nmbrs `contactInfo` field.
pub const FIELDS: &[(&str, &str)] = &[
    ("business_email", "businessEmail"),
    ("business_phone", "businessPhone"),
    ("business_mobile", "businessMobilePhone"),
    ("private_email", "privateEmail"),
];

fn classify(e: NmbrsError) -> TargetError {
    match &e {
        NmbrsError::Api {
            status: 400 | 403 | 404 | 409 | 422,
            ..
        } => TargetError::refused(e.to_string()),
        NmbrsError::NotSignedIn { .. }
        | NmbrsError::TokenRefused { .. }
        | NmbrsError::Config(_) => TargetError::fatal(e.to_string()),
        _ => TargetError::transient(e.to_string()),
    }
}

impl NmbrsWriteback {
    /// A write-back target over a signed-in client. `companies` maps each person id to
    /// its Nmbrs company id (`extra.nmbrs_company_id` of the imported persons).
    pub fn new(client: Client, companies: HashMap<String, String>) -> TargetResult<Self> {
        let runtime = crate::http::runtime()
            .map_err(|e| TargetError::fatal(format!("cannot start the async runtime: {e}")))?;
        Ok(Self {
            client,
            runtime,
            companies,
        })
    }

    fn refuse<T>(&self, what: &str) -> TargetResult<T> {
        Err(TargetError::refused(format!(
            "Nmbrs takes only write-backs ({what} is not possible there)"
        )))
    }

    async fn write(
        &self,
        employee: &str,
        company: &str,
        values: &Map<String, Value>,
    ) -> Result<(), NmbrsError> {
        let now = crate::source::nmbrs::current_period(&self.client, company).await?;
        let list: Vec<Value> = self
            .client
            .get_all(format!(
                "/api/companies/{company}/employees/personalinfo?employeeId={}",
                crate::http::encode(employee)
            ))
            .await?;
        let history: Vec<Value> = list
            .into_iter()
            .filter(|e| e.get("employeeId").and_then(Value::as_str) == Some(employee))
            .flat_map(|e| {
                e.get("info")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        let current = current(&history, now, |i| {
            let period = i
                .get("period")
                .and_then(|p| serde_json::from_value(p.clone()).ok());
            (period, i.get("createdAt").and_then(Value::as_str))
        });
        let Some(current) = current else {
            return Err(NmbrsError::BadAnswer {
                endpoint: "/employees/personalinfo".into(),
                message: format!("no personal info for employee {employee}"),
            });
        };
        let mut contact = current
            .get("contactInfo")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut changed = false;
        for (field, value) in values {
            let Some((_, key)) = FIELDS.iter().find(|(f, _)| f == field) else {
                return Err(NmbrsError::Config(format!(
                    "`{field}` cannot be written back to Nmbrs; use one of business_email, business_phone, business_mobile, private_email"
                )));
            };
            if contact.get(*key) != Some(value) {
                contact.insert((*key).to_string(), value.clone());
                changed = true;
            }
        }
        if !changed {
            return Ok(());
        }
        let mut body = serde_json::json!({ "contactInfo": contact });
        if let Some(p) = now {
            body["period"] = serde_json::json!(p);
        }
        let _: Value = self
            .client
            .put(&format!("/api/employees/{employee}/personalInfo"), &body)
            .await?;
        Ok(())
    }
}

impl Target for NmbrsWriteback {
    fn name(&self) -> &str {
        "nmbrs"
    }

    fn preview(&self, a: &crate::plan::read::PlannedAction) -> Option<String> {
        let field = a.field.as_deref()?;
        let key = FIELDS
            .iter()
            .find(|(f, _)| *f == field)
            .map_or(field, |(_, k)| *k);
        Some(format!(
            "GET the current personal info, then PUT /api/employees/{}/personalInfo with contactInfo.{key} = {:?} (other contact fields as read)",
            a.person,
            a.value.as_deref().unwrap_or("")
        ))
    }

    fn correlate(&self, person: &str) -> TargetResult<Option<AccountRef>> {
        Ok(self.companies.contains_key(person).then(|| AccountRef {
            id: person.to_string(),
            enabled: None,
        }))
    }

    fn read_grants(&self, _: &AccountRef) -> TargetResult<Vec<(String, String)>> {
        Ok(Vec::new())
    }

    fn create(&self, _: &str, _: &Map<String, Value>) -> TargetResult<AccountRef> {
        self.refuse("creating an account")
    }

    fn update(&self, account: &AccountRef, values: &Map<String, Value>) -> TargetResult<()> {
        let Some(company) = self.companies.get(&account.id) else {
            return Err(TargetError::refused(format!(
                "employee {} is not in the last Nmbrs import",
                account.id
            )));
        };
        self.runtime
            .block_on(self.write(&account.id, company, values))
            .map_err(classify)
    }

    fn enable(&self, _: &AccountRef) -> TargetResult<()> {
        self.refuse("enabling")
    }

    fn disable(&self, _: &AccountRef) -> TargetResult<()> {
        self.refuse("disabling")
    }

    fn delete(&self, _: &AccountRef) -> TargetResult<()> {
        self.refuse("deleting")
    }

    fn grant(&self, _: &AccountRef, _: &Entitlement) -> TargetResult<()> {
        self.refuse("granting")
    }

    fn revoke(&self, _: &AccountRef, _: &Entitlement) -> TargetResult<()> {
        self.refuse("revoking")
    }
}
