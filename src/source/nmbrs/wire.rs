//! The shapes of the Nmbrs REST API answers that Stroom reads, as described in the
//! official OpenAPI file. Everything that may be absent or null is an `Option` (lists:
//! empty), and dates stay text here: normalization parses them and reports bad ones per
//! employee. Ids are optional in the OpenAPI file: an absent one reads as empty, and
//! normalization skips and reports the record instead of failing the import.

use serde::{Deserialize, Deserializer};

/// A list the OpenAPI file marks `nullable: true` (or that is absent): `null` is an
/// empty list, never an error that fails the import.
fn nullable_list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// The paging envelope of every list answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    /// 1-based page number of this answer. (The OpenAPI file types these as plain
    /// integers, so any integer must read; the client ignores what makes no sense.)
    pub page_number: Option<i64>,
    /// Records per page.
    pub page_size: Option<i64>,
    /// Pages in all.
    pub total_pages: Option<i64>,
    /// Records in all.
    pub total_records: Option<i64>,
    /// Link to the next page; `null` on the last one.
    pub next_page: Option<String>,
}

/// `{ pagination, data }`.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    /// The paging envelope.
    pub pagination: Option<Pagination>,
    /// The records of this page.
    #[serde(
        default = "Vec::new",
        deserialize_with = "nullable_list",
        bound(deserialize = "T: Deserialize<'de>")
    )]
    pub data: Vec<T>,
}

/// The Nmbrs error body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// `apiError`, `authenticationError`, `throttlingError`, ...
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// HTTP status.
    pub http_status: Option<u16>,
    /// Nmbrs error code such as 42908.
    pub code: Option<u32>,
    /// Short title.
    pub title: Option<String>,
    /// Details.
    pub detail: Option<String>,
    /// Offending parameters.
    /// The API gateway's own message (`{"statusCode": 401, "message": ...}`), e.g. for a
    /// wrong subscription key.
    pub message: Option<String>,
    #[serde(rename = "invalid-params", default, deserialize_with = "nullable_list")]
    pub invalid_params: Vec<InvalidParam>,
}

/// One offending parameter of an error body.
#[derive(Debug, Clone, Deserialize)]
pub struct InvalidParam {
    /// Parameter name.
    pub name: Option<String>,
    /// Why it was refused.
    pub reason: Option<String>,
}

/// `GET /api/debtors`
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Debtor {
    /// Debtor id.
    #[serde(default)]
    pub debtor_id: String,
    /// Debtor number.
    pub number: Option<String>,
    /// Name.
    pub name: Option<String>,
}

/// `GET /api/debtors/{id}/companies`
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    /// Company id.
    #[serde(default)]
    pub company_id: String,
    /// Company number.
    pub number: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Owning debtor.
    pub debtor_id: Option<String>,
}

/// `GET /api/debtors/{id}/managers`
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DebtorManager {
    /// Manager id.
    #[serde(default)]
    pub manager_id: String,
    /// Manager number.
    pub number: Option<i64>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// E-mail.
    pub email: Option<String>,
}

/// A payroll period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
pub struct Period {
    /// Year.
    #[serde(default)]
    pub year: i32,
    /// Period within the year (month, 4-week or week number).
    #[serde(default)]
    pub period: i32,
}

/// `GET /api/companies/{id}/period`
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentPeriod {
    /// The current period.
    pub period: Period,
    /// `month`, `1-week` or `4-weeks`.
    pub period_type: Option<String>,
}

/// Basic employee info (both in the employee list and in personal info).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BasicInfo {
    /// Employee number.
    pub employee_number: Option<i64>,
    /// Given name as used.
    pub first_name: Option<String>,
    /// Full given names.
    pub first_name_in_full: Option<String>,
    /// Name prefix.
    pub prefix: Option<String>,
    /// Initials.
    pub initials: Option<String>,
    /// Family name (required by Nmbrs, but checked here all the same).
    pub last_name: Option<String>,
    /// Employee type.
    pub employee_type: Option<String>,
}

/// `GET /api/companies/{id}/employees`
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Employee {
    /// Employee id.
    #[serde(default)]
    pub employee_id: String,
    /// Basic info.
    pub employee_basic_info: Option<BasicInfo>,
}

/// Birth info.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BirthInfo {
    /// Birth date (date-time).
    pub birth_date: Option<String>,
    /// Gender.
    pub gender: Option<String>,
}

/// Contact info.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactInfo {
    /// Private e-mail.
    pub private_email: Option<String>,
    /// Business e-mail.
    pub business_email: Option<String>,
    /// Business phone.
    pub business_phone: Option<String>,
    /// Business mobile.
    pub business_mobile_phone: Option<String>,
}

/// Naming convention as Nmbrs sends it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Ascription {
    /// Numeric code.
    pub code: Option<i64>,
    /// Text, such as `B`, `BP` or a description.
    pub ascription: Option<String>,
}

/// Partner info.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartnerInfo {
    /// Partner's name prefix.
    pub partner_prefix: Option<String>,
    /// Partner's family name.
    pub partner_name: Option<String>,
    /// Naming convention.
    pub ascription: Option<Ascription>,
}

/// One version of an employee's personal info.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonalInfo {
    /// Basic info.
    pub basic_info: Option<BasicInfo>,
    /// Birth info.
    pub birth_info: Option<BirthInfo>,
    /// Contact info.
    pub contact_info: Option<ContactInfo>,
    /// Partner info.
    pub partner_info: Option<PartnerInfo>,
    /// Period from which this version applies.
    pub period: Option<Period>,
    /// When it was entered.
    pub created_at: Option<String>,
}

/// `.../employees/personalinfo`
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmployeePersonalInfo {
    /// Employee id.
    #[serde(default)]
    pub employee_id: String,
    /// History.
    #[serde(default, deserialize_with = "nullable_list")]
    pub info: Vec<PersonalInfo>,
}

/// One contract.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contract {
    /// Contract id.
    #[serde(default)]
    pub contract_id: String,
    /// First day.
    pub start_date: Option<String>,
    /// Last day.
    pub end_date: Option<String>,
    /// Without end.
    pub indefinite: Option<bool>,
    /// Hours per week.
    pub hours_per_week: Option<f64>,
    /// When it was entered.
    pub created_at: Option<String>,
}

/// `.../employees/contracts`
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmployeeContracts {
    /// Employee id.
    #[serde(default)]
    pub employee_id: String,
    /// Contracts.
    #[serde(default, deserialize_with = "nullable_list")]
    pub contracts: Vec<Contract>,
}

/// One employment (in service to out of service).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Employment {
    /// Employment id.
    #[serde(default)]
    pub employment_id: String,
    /// In service.
    pub start_date: Option<String>,
    /// Out of service.
    pub end_date: Option<String>,
}

/// `.../employees/employments`
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmployeeEmployments {
    /// Employee id.
    #[serde(default)]
    pub employee_id: String,
    /// Employments.
    #[serde(default, deserialize_with = "nullable_list")]
    pub employments: Vec<Employment>,
}

/// A department or function assignment for a period.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgAssignment {
    /// Code.
    pub code: Option<i64>,
    /// Name.
    pub description: Option<String>,
    /// When it was entered.
    pub created_at: Option<String>,
    /// From which period.
    pub period: Option<Period>,
}

/// `.../employees/departments`
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmployeeDepartments {
    /// Employee id.
    #[serde(default)]
    pub employee_id: String,
    /// History.
    #[serde(default, deserialize_with = "nullable_list")]
    pub departments: Vec<OrgAssignment>,
}

/// `.../employees/functions`
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmployeeFunctions {
    /// Employee id.
    #[serde(default)]
    pub employee_id: String,
    /// History.
    #[serde(default, deserialize_with = "nullable_list")]
    pub functions: Vec<OrgAssignment>,
}

/// A manager assignment for a period.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagerAssignment {
    /// Manager entity id.
    #[serde(default)]
    pub manager_id: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// When it was entered.
    pub created_at: Option<String>,
    /// From which period.
    pub period: Option<Period>,
}

/// `.../employees/managers`
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmployeeManagers {
    /// Employee id.
    #[serde(default)]
    pub employee_id: String,
    /// History.
    #[serde(default, deserialize_with = "nullable_list")]
    pub managers: Vec<ManagerAssignment>,
}

/// Cost center or cost unit reference.
#[derive(Debug, Clone, Deserialize)]
pub struct CodeName {
    /// Code.
    pub code: Option<String>,
    /// Name.
    pub description: Option<String>,
}

/// A cost center assignment for a period.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostCenterAssignment {
    /// The cost center.
    pub cost_centers: Option<CodeName>,
    /// Share of the costs.
    pub percentage: Option<f64>,
    /// The default one of several.
    pub default: Option<bool>,
    /// From which period.
    pub period: Option<Period>,
    /// When it was entered.
    pub created_at: Option<String>,
}

/// `.../employees/costcenters`
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmployeeCostCenters {
    /// Employee id.
    #[serde(default)]
    pub employee_id: String,
    /// History.
    #[serde(default, deserialize_with = "nullable_list")]
    pub employee_cost_centers: Vec<CostCenterAssignment>,
}
