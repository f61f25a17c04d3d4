//! Every diagnostic code, rendered as a person sees it (snapshots), and the promise that
//! all errors of a file come out in one run.

use crate::common::checked;
use stroom::rules::diagnostic::render_human;

fn report(src: &str) -> String {
    let c = checked(src);
    render_human(&c.diagnostics, &c.sources, false)
}

fn codes(src: &str) -> Vec<&'static str> {
    checked(src).diagnostics.iter().map(|d| d.code()).collect()
}

macro_rules! diagnostic_snapshots {
    ($($name:ident: $code:literal => $src:expr;)*) => {
        $(
            #[test]
            fn $name() {
                let src: &str = $src;
                assert!(codes(src).contains(&$code), "{:?}", codes(src));
                insta::assert_snapshot!(stringify!($name), report(src));
            }
        )*
    };
}

diagnostic_snapshots! {
    syntax_single_equals: "stroom::syntax" => "default target ad\nwhen department = \"Sales\" grant group \"CRM\"\n";
    syntax_double_ampersand: "stroom::syntax" => "default target ad\nwhen a == 1 && b == 2 grant group \"X\"\n";
    syntax_missing_grant: "stroom::syntax" => "default target ad\nwhen department == \"Sales\"\n\nlet x = 1\n";
    syntax_reserved_word: "stroom::syntax" => "let when = 1\n";
    bad_literal_date: "stroom::bad_literal" => "default target ad\nwhen contract.start >= 2026-02-30 grant group \"X\"\n";
    bad_literal_escape: "stroom::bad_literal" => "default target ad\nwhen true grant group \"a\\qb\"\n";
    quoted_date: "stroom::type_mismatch" => "default target ad\nwhen contract.start <= \"2026-01-01\" grant group \"X\"\n";
    duration_without_unit: "stroom::type_mismatch" => "default target ad\nwhen today - contract.start > 30 grant group \"X\"\n";
    condition_not_boolean: "stroom::type_mismatch" => "default target ad\nwhen department grant group \"X\"\n";
    unknown_field: "stroom::unknown_field" => "default target ad\nwhen departmnet == \"Sales\" grant group \"X\"\n";
    unknown_contract_field: "stroom::unknown_field" => "default target ad\nwhen contract.hours >= 16 grant group \"X\"\n";
    unknown_function: "stroom::unknown_function" => "default target ad\nwhen lowercase(department) == \"it\" grant group \"X\"\n";
    wrong_arity: "stroom::wrong_arity" => "default target ad\nwhen left(department) == \"I\" grant group \"X\"\n";
    unknown_target: "stroom::unknown_target" => "when true grant group \"X\" in entraid\n";
    unknown_kind: "stroom::unknown_kind" => "default target ad\nwhen true grant groep \"X\"\n";
    no_target: "stroom::no_target" => "when true grant group \"X\"\n";
    duplicate_rule: "stroom::duplicate_rule" => "default target ad\nrule \"a\" { grant group \"X\" }\nrule \"a\" { grant group \"Y\" }\n";
    duplicate_let: "stroom::duplicate_let" => "let a = 1\nlet a = 2\ndefault target ad\nwhen a == 1 grant group \"X\"\n";
    let_cycle: "stroom::let_cycle" => "let a = b\nlet b = a\ndefault target ad\nwhen a grant group \"X\"\n";
    unused_let: "stroom::unused_let" => "let unused = 1\n";
    forbid_reachable: "stroom::forbid_reachable" => "default target ad\nwhen department == \"Finance\" grant group \"A\"\nwhen function == \"Controller\" grant group \"B\"\nforbid group \"A\" with group \"B\"\n";
    never_fires: "stroom::never_fires" => "default target ad\nwhen department == \"Sales\" and department == \"HR\" grant group \"X\"\n";
    never_fires_range: "stroom::never_fires" => "default target ad\nwhen contract.hours_per_week > 32 and contract.hours_per_week < 24 grant group \"X\"\n";
    bad_threshold: "stroom::bad_threshold" => "threshold disabel max 10\n";
    include_missing: "stroom::include" => "include \"nope.stroom\"\n";
    unknown_writeback_field: "stroom::unknown_writeback_field" => "writeback buisness_email = \"x\"\n";
    licence_in_ad: "stroom::wrong_target" => "when true grant license \"E3\" in ad\n";
    writeback_unknown_attribute: "stroom::unknown_account_attribute" => "account in entra { set mail = \"x\" }\nwriteback business_email from entra.mial\n";
    bad_sort_key: "stroom::bad_sort_key" => "primary contract by hours desc\n";
    duplicate_declaration: "stroom::duplicate_declaration" => "default target ad\ndefault target entra\n";
    bad_group_setting: "stroom::bad_group" => "group \"DEP-*\" in ad {\n    descripton \"Department {name}\"\n}\n";
    bad_group_type: "stroom::bad_group" => "group \"DEP-*\" in entra {\n    type distribution\n}\n";
    bad_group_target: "stroom::bad_group" => "group \"DEP-*\" in exchange\n";
    bad_group_pattern: "stroom::bad_group" => "group \"*\" in ad\n";
    bad_group_ou: "stroom::bad_group" => "group \"DEP-*\" in ad {\n    ou \"Departments\"\n}\n";
    duplicate_group: "stroom::duplicate_declaration" => "group \"DEP-*\" in ad\ngroup \"dep-*\" in ad\n";
    attribute_not_mapped: "stroom::attribute_not_taken" => "target portal\naccount in portal {\n    set userName = \"x\"\n    set phoneNumbers = \"06\"\n}\n";
    attribute_misspelt: "stroom::attribute_not_taken" => "target portal\naccount in portal {\n    set userName = \"x\"\n    set departement = department\n}\n";
}

#[test]
fn all_errors_of_a_file_in_one_run() {
    let src = "default target ad\n\
               when department = \"Sales\" grant group \"A\"\n\
               when departmnet == \"Sales\" grant group \"B\"\n\
               when contract.start <= \"2026-01-01\" grant group \"C\"\n\
               when true grant groep \"D\"\n\
               when a || b grant group \"E\"\n";
    let mut got = codes(src);
    got.sort_unstable();
    assert_eq!(
        got,
        vec![
            "stroom::syntax",
            "stroom::syntax",
            "stroom::type_mismatch",
            "stroom::unknown_field",
            "stroom::unknown_kind"
        ]
    );
}

#[test]
fn every_diagnostic_has_code_label_and_help() {
    let srcs = [
        "when department = \"Sales\" grant group \"A\"",
        "default target ad\nwhen departmnet == 1 grant group \"B\"",
        "when true grant license \"E3\" in ad",
        "let a = b\nlet b = a\nwhen a grant group \"X\" in ad",
        "default target ad\nwhen department == \"S\" and department == \"H\" grant group \"X\"",
    ];
    for src in srcs {
        for d in checked(src).diagnostics {
            assert!(d.code().starts_with("stroom::"));
            assert!(!d.label.is_empty(), "{d:?}");
            assert!(!d.help.is_empty(), "{d:?}");
        }
    }
}
