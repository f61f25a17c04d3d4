//! The normalized person record (see `schemas/persons.schema.json`) and the fields rules
//! can read from it.

use super::names;
use super::value::{Ty, Value};
use chrono::NaiveDate;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Nmbrs "naamstelling": which family names make up the name, in which order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameConvention {
    /// Own name only (B).
    #[default]
    Own,
    /// Partner's name only (P).
    Partner,
    /// Own name, then partner's (BP).
    OwnPartner,
    /// Partner's name, then own (PB).
    PartnerOwn,
}

impl NameConvention {
    /// Parses the JSON spelling (`own`, `partner`, `own_partner`, `partner_own`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "own" => Some(Self::Own),
            "partner" => Some(Self::Partner),
            "own_partner" => Some(Self::OwnPartner),
            "partner_own" => Some(Self::PartnerOwn),
            _ => None,
        }
    }

    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Own => "own",
            Self::Partner => "partner",
            Self::OwnPartner => "own_partner",
            Self::PartnerOwn => "partner_own",
        }
    }
}

/// One employment contract.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contract {
    /// Contract id, unique within the person.
    pub id: String,
    /// First day (inclusive).
    pub start: Option<NaiveDate>,
    /// Last day (inclusive); `None` = indefinite.
    pub end: Option<NaiveDate>,
    /// Contract hours.
    pub hours_per_week: Option<f64>,
    /// Department name.
    pub department: Option<String>,
    /// Department code.
    pub department_code: Option<String>,
    /// Function (job title).
    pub function: Option<String>,
    /// Function code.
    pub function_code: Option<String>,
    /// Cost center name.
    pub cost_center: Option<String>,
    /// Cost center code.
    pub cost_center_code: Option<String>,
    /// The manager's person id for this contract.
    pub manager_id: Option<String>,
}

impl Contract {
    /// True when `day` lies between start and end, inclusive.
    pub fn is_active_on(&self, day: NaiveDate) -> bool {
        self.start.is_some_and(|s| s <= day) && self.end.is_none_or(|e| day <= e)
    }
}

/// A normalized person with contracts and computed name fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Person {
    /// Stable id (unique in the persons file).
    pub id: Arc<str>,
    /// Nmbrs employee number.
    pub employee_number: Option<i64>,
    /// Company name.
    pub company: Option<String>,
    /// Nmbrs employee type (`payroll`, `external`, ...).
    pub employee_type: Option<String>,
    /// Given name as used.
    pub first_name: Option<String>,
    /// Full given names.
    pub first_name_full: Option<String>,
    /// Initials.
    pub initials: Option<String>,
    /// Own name prefix (`van der`).
    pub prefix: Option<String>,
    /// Own family name.
    pub last_name: String,
    /// Partner's name prefix.
    pub partner_prefix: Option<String>,
    /// Partner's family name.
    pub partner_last_name: Option<String>,
    /// Naming convention.
    pub name_convention: Option<NameConvention>,
    /// Gender as Nmbrs has it.
    pub gender: Option<String>,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// Business e-mail (the usual write-back field).
    pub business_email: Option<String>,
    /// Private e-mail.
    pub private_email: Option<String>,
    /// Business phone.
    pub business_phone: Option<String>,
    /// Business mobile.
    pub business_mobile: Option<String>,
    /// The manager's person id.
    pub manager_id: Option<String>,
    /// Free fields.
    pub extra: BTreeMap<String, String>,
    /// Contracts, in file order.
    pub contracts: Vec<Contract>,
    /// Computed: `Jan van der Berg-de Vries`.
    pub display_name: String,
    /// Computed: `Van der Berg-de Vries`.
    pub family_name: String,
    /// Computed: `Van der Berg-de Vries, Jan`.
    pub name_last_first: String,
}

impl Person {
    /// Fills the computed name fields from the name parts.
    pub fn compute_names(&mut self) {
        let n = names::compose(self);
        self.display_name = n.display_name;
        self.family_name = n.family_name;
        self.name_last_first = n.name_last_first;
    }
}

/// A field of the person record that rules can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PersonField {
    /// `id`
    Id,
    /// `employee_number`
    EmployeeNumber,
    /// `company`
    Company,
    /// `employee_type`
    EmployeeType,
    /// `first_name`
    FirstName,
    /// `first_name_full`
    FirstNameFull,
    /// `initials`
    Initials,
    /// `prefix`
    Prefix,
    /// `last_name`
    LastName,
    /// `partner_prefix`
    PartnerPrefix,
    /// `partner_last_name`
    PartnerLastName,
    /// `name_convention`
    NameConvention,
    /// `gender`
    Gender,
    /// `birth_date`
    BirthDate,
    /// `business_email`
    BusinessEmail,
    /// `private_email`
    PrivateEmail,
    /// `business_phone`
    BusinessPhone,
    /// `business_mobile`
    BusinessMobile,
    /// `manager_id`
    ManagerId,
    /// computed `display_name`
    DisplayName,
    /// computed `family_name`
    FamilyName,
    /// computed `name_last_first`
    NameLastFirst,
}

/// Person fields: name, field, type, description (for the book and did-you-mean).
pub const PERSON_FIELDS: &[(&str, PersonField, Ty, &str)] = &[
    ("id", PersonField::Id, Ty::Str, "stable person id"),
    (
        "employee_number",
        PersonField::EmployeeNumber,
        Ty::Int,
        "Nmbrs employee number",
    ),
    ("company", PersonField::Company, Ty::Str, "company name"),
    (
        "employee_type",
        PersonField::EmployeeType,
        Ty::Str,
        "payroll, external, newHire, ...",
    ),
    (
        "first_name",
        PersonField::FirstName,
        Ty::Str,
        "given name as used",
    ),
    (
        "first_name_full",
        PersonField::FirstNameFull,
        Ty::Str,
        "all given names",
    ),
    ("initials", PersonField::Initials, Ty::Str, "initials"),
    (
        "prefix",
        PersonField::Prefix,
        Ty::Str,
        "own name prefix (van der)",
    ),
    (
        "last_name",
        PersonField::LastName,
        Ty::Str,
        "own family name",
    ),
    (
        "partner_prefix",
        PersonField::PartnerPrefix,
        Ty::Str,
        "partner's name prefix",
    ),
    (
        "partner_last_name",
        PersonField::PartnerLastName,
        Ty::Str,
        "partner's family name",
    ),
    (
        "name_convention",
        PersonField::NameConvention,
        Ty::Str,
        "own, partner, own_partner, partner_own",
    ),
    ("gender", PersonField::Gender, Ty::Str, "gender"),
    ("birth_date", PersonField::BirthDate, Ty::Date, "birth date"),
    (
        "business_email",
        PersonField::BusinessEmail,
        Ty::Str,
        "business e-mail",
    ),
    (
        "private_email",
        PersonField::PrivateEmail,
        Ty::Str,
        "private e-mail",
    ),
    (
        "business_phone",
        PersonField::BusinessPhone,
        Ty::Str,
        "business phone",
    ),
    (
        "business_mobile",
        PersonField::BusinessMobile,
        Ty::Str,
        "business mobile",
    ),
    (
        "manager_id",
        PersonField::ManagerId,
        Ty::Str,
        "manager's person id",
    ),
    (
        "display_name",
        PersonField::DisplayName,
        Ty::Str,
        "computed: Jan van der Berg-de Vries",
    ),
    (
        "family_name",
        PersonField::FamilyName,
        Ty::Str,
        "computed: Van der Berg-de Vries",
    ),
    (
        "name_last_first",
        PersonField::NameLastFirst,
        Ty::Str,
        "computed: Van der Berg-de Vries, Jan",
    ),
];

fn opt(s: &Option<String>) -> Value<'_> {
    match s {
        Some(s) => Value::Str(Cow::Borrowed(s.as_str())),
        None => Value::Null,
    }
}

fn text(s: &str) -> Value<'_> {
    Value::Str(Cow::Borrowed(s))
}

impl PersonField {
    /// Where the value comes from in Nmbrs (the book's mapping table, for hovers).
    pub fn nmbrs_origin(self) -> &'static str {
        use PersonField::*;
        match self {
            Id => "`employeeId`",
            EmployeeNumber => "`basicInfo.employeeNumber`",
            Company => "the company's `name` (its id is `extra.nmbrs_company_id`)",
            EmployeeType => "`basicInfo.employeeType`",
            FirstName => "`basicInfo.firstName`",
            FirstNameFull => "`basicInfo.firstNameInFull`",
            Initials => "`basicInfo.initials`",
            Prefix => "`basicInfo.prefix`",
            LastName => "`basicInfo.lastName`",
            PartnerPrefix => "`partnerInfo.partnerPrefix`",
            PartnerLastName => "`partnerInfo.partnerName`",
            NameConvention => "`partnerInfo.ascription` (B, P, BP, PB or codes 0-3)",
            Gender => "`birthInfo.gender`",
            BirthDate => "`birthInfo.birthDate`",
            BusinessEmail => "`contactInfo.businessEmail` (the usual write-back field)",
            PrivateEmail => "`contactInfo.privateEmail`",
            BusinessPhone => "`contactInfo.businessPhone`",
            BusinessMobile => "`contactInfo.businessMobilePhone`",
            ManagerId => {
                "the current `managers[]` entry, linked to an employee by e-mail, number or name"
            }
            DisplayName | FamilyName | NameLastFirst => {
                "computed by Stroom from the name parts and `name_convention`"
            }
        }
    }

    /// Reads the field.
    pub fn get(self, p: &Person) -> Value<'_> {
        match self {
            PersonField::Id => text(&p.id),
            PersonField::EmployeeNumber => p.employee_number.map_or(Value::Null, Value::Int),
            PersonField::Company => opt(&p.company),
            PersonField::EmployeeType => opt(&p.employee_type),
            PersonField::FirstName => opt(&p.first_name),
            PersonField::FirstNameFull => opt(&p.first_name_full),
            PersonField::Initials => opt(&p.initials),
            PersonField::Prefix => opt(&p.prefix),
            PersonField::LastName => text(&p.last_name),
            PersonField::PartnerPrefix => opt(&p.partner_prefix),
            PersonField::PartnerLastName => opt(&p.partner_last_name),
            PersonField::NameConvention => {
                p.name_convention.map_or(Value::Null, |c| text(c.as_str()))
            }
            PersonField::Gender => opt(&p.gender),
            PersonField::BirthDate => p.birth_date.map_or(Value::Null, Value::Date),
            PersonField::BusinessEmail => opt(&p.business_email),
            PersonField::PrivateEmail => opt(&p.private_email),
            PersonField::BusinessPhone => opt(&p.business_phone),
            PersonField::BusinessMobile => opt(&p.business_mobile),
            PersonField::ManagerId => opt(&p.manager_id),
            PersonField::DisplayName => text(&p.display_name),
            PersonField::FamilyName => text(&p.family_name),
            PersonField::NameLastFirst => text(&p.name_last_first),
        }
    }

    /// The field's text, read without building a value: `None` if this is not a text
    /// field, `Some(None)` if the text is missing.
    pub fn text(self, p: &Person) -> Option<Option<&str>> {
        Some(match self {
            PersonField::Id => Some(&*p.id),
            PersonField::Company => p.company.as_deref(),
            PersonField::EmployeeType => p.employee_type.as_deref(),
            PersonField::FirstName => p.first_name.as_deref(),
            PersonField::FirstNameFull => p.first_name_full.as_deref(),
            PersonField::Initials => p.initials.as_deref(),
            PersonField::Prefix => p.prefix.as_deref(),
            PersonField::LastName => Some(p.last_name.as_str()),
            PersonField::PartnerPrefix => p.partner_prefix.as_deref(),
            PersonField::PartnerLastName => p.partner_last_name.as_deref(),
            PersonField::NameConvention => p.name_convention.map(NameConvention::as_str),
            PersonField::Gender => p.gender.as_deref(),
            PersonField::BusinessEmail => p.business_email.as_deref(),
            PersonField::PrivateEmail => p.private_email.as_deref(),
            PersonField::BusinessPhone => p.business_phone.as_deref(),
            PersonField::BusinessMobile => p.business_mobile.as_deref(),
            PersonField::ManagerId => p.manager_id.as_deref(),
            PersonField::DisplayName => Some(p.display_name.as_str()),
            PersonField::FamilyName => Some(p.family_name.as_str()),
            PersonField::NameLastFirst => Some(p.name_last_first.as_str()),
            PersonField::EmployeeNumber | PersonField::BirthDate => return None,
        })
    }

    /// Looks a field up by name.
    pub fn by_name(name: &str) -> Option<(PersonField, Ty)> {
        PERSON_FIELDS
            .iter()
            .find(|(n, ..)| *n == name)
            .map(|(_, f, t, _)| (*f, t.clone()))
    }
}

/// A field of a contract that rules can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContractField {
    /// `id`
    Id,
    /// `start`
    Start,
    /// `end`
    End,
    /// `hours_per_week`
    HoursPerWeek,
    /// `department`
    Department,
    /// `department_code`
    DepartmentCode,
    /// `function`
    Function,
    /// `function_code`
    FunctionCode,
    /// `cost_center`
    CostCenter,
    /// `cost_center_code`
    CostCenterCode,
    /// `manager_id`
    ManagerId,
    /// computed `active`: start <= today <= end
    Active,
}

/// Contract fields: name, field, type, description.
pub const CONTRACT_FIELDS: &[(&str, ContractField, Ty, &str)] = &[
    ("id", ContractField::Id, Ty::Str, "contract id"),
    ("start", ContractField::Start, Ty::Date, "first day"),
    (
        "end",
        ContractField::End,
        Ty::Date,
        "last day (null: indefinite)",
    ),
    (
        "hours_per_week",
        ContractField::HoursPerWeek,
        Ty::Dec,
        "contract hours",
    ),
    (
        "department",
        ContractField::Department,
        Ty::Str,
        "department name",
    ),
    (
        "department_code",
        ContractField::DepartmentCode,
        Ty::Str,
        "department code",
    ),
    (
        "function",
        ContractField::Function,
        Ty::Str,
        "function (job title)",
    ),
    (
        "function_code",
        ContractField::FunctionCode,
        Ty::Str,
        "function code",
    ),
    (
        "cost_center",
        ContractField::CostCenter,
        Ty::Str,
        "cost center name",
    ),
    (
        "cost_center_code",
        ContractField::CostCenterCode,
        Ty::Str,
        "cost center code",
    ),
    (
        "manager_id",
        ContractField::ManagerId,
        Ty::Str,
        "manager's person id",
    ),
    (
        "active",
        ContractField::Active,
        Ty::Bool,
        "computed: start <= today <= end",
    ),
];

impl ContractField {
    /// Where the value comes from in Nmbrs (the book's mapping table, for hovers).
    pub fn nmbrs_origin(self) -> &'static str {
        use ContractField::*;
        match self {
            Id => "`contracts[].contractId`",
            Start => "`contracts[].startDate`",
            End => "`contracts[].endDate`, capped by `employments[].endDate`",
            HoursPerWeek => "`contracts[].hoursPerWeek`",
            Department => "the current `departments[].description`",
            DepartmentCode => "the current `departments[].code`",
            Function => "the current `functions[].description`",
            FunctionCode => "the current `functions[].code`",
            CostCenter => "the current default `costcenters[]` entry's description",
            CostCenterCode => "the current default `costcenters[]` entry's code",
            ManagerId => "the current `managers[]` entry, linked to an employee",
            Active => "computed by Stroom: start <= today <= end",
        }
    }

    /// Reads the field; `today` is needed for `active`.
    pub fn get(self, c: &Contract, today: NaiveDate) -> Value<'_> {
        match self {
            ContractField::Id => text(&c.id),
            ContractField::Start => c.start.map_or(Value::Null, Value::Date),
            ContractField::End => c.end.map_or(Value::Null, Value::Date),
            ContractField::HoursPerWeek => c.hours_per_week.map_or(Value::Null, Value::Dec),
            ContractField::Department => opt(&c.department),
            ContractField::DepartmentCode => opt(&c.department_code),
            ContractField::Function => opt(&c.function),
            ContractField::FunctionCode => opt(&c.function_code),
            ContractField::CostCenter => opt(&c.cost_center),
            ContractField::CostCenterCode => opt(&c.cost_center_code),
            ContractField::ManagerId => opt(&c.manager_id),
            ContractField::Active => Value::Bool(c.is_active_on(today)),
        }
    }

    /// The field's text, read without building a value: `None` if this is not a text
    /// field, `Some(None)` if the text is missing.
    pub fn text(self, c: &Contract) -> Option<Option<&str>> {
        Some(match self {
            ContractField::Id => Some(c.id.as_str()),
            ContractField::Department => c.department.as_deref(),
            ContractField::DepartmentCode => c.department_code.as_deref(),
            ContractField::Function => c.function.as_deref(),
            ContractField::FunctionCode => c.function_code.as_deref(),
            ContractField::CostCenter => c.cost_center.as_deref(),
            ContractField::CostCenterCode => c.cost_center_code.as_deref(),
            ContractField::ManagerId => c.manager_id.as_deref(),
            ContractField::Start
            | ContractField::End
            | ContractField::HoursPerWeek
            | ContractField::Active => return None,
        })
    }

    /// Looks a field up by name.
    pub fn by_name(name: &str) -> Option<(ContractField, Ty)> {
        CONTRACT_FIELDS
            .iter()
            .find(|(n, ..)| *n == name)
            .map(|(_, f, t, _)| (*f, t.clone()))
    }
}

/// Why [`find_person`] found no single person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FindError {
    /// Nobody fits the key.
    Nobody(String),
    /// Several persons fit: the key and "id (name)" of each.
    Several(String, Vec<String>),
}

impl std::fmt::Display for FindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FindError::Nobody(key) => {
                write!(f, "no person with id, employee number or name {key:?}")
            }
            FindError::Several(key, fits) => write!(
                f,
                "{} persons fit {key:?}: {}; give the id",
                fits.len(),
                fits.join(", ")
            ),
        }
    }
}

/// The person a command line names: by id, by Nmbrs employee number, or by display
/// name (without regard to case). A name or number that fits several persons is an
/// error that lists them, never a guess.
pub fn find_person<'p>(persons: &'p [Person], key: &str) -> Result<&'p Person, FindError> {
    let key = key.trim();
    if let Some(p) = persons.iter().find(|p| &*p.id == key) {
        return Ok(p);
    }
    let found: Vec<&Person> = match key.parse::<i64>() {
        Ok(n) => persons
            .iter()
            .filter(|p| p.employee_number == Some(n))
            .collect(),
        Err(_) => persons
            .iter()
            .filter(|p| p.display_name.to_lowercase() == key.to_lowercase())
            .collect(),
    };
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(FindError::Nobody(key.to_string())),
        several => Err(FindError::Several(
            key.to_string(),
            several
                .iter()
                .map(|p| format!("{} ({})", p.id, p.display_name))
                .collect(),
        )),
    }
}
