//! Given events, when a command, then events or a refusal.

use chrono::TimeZone;
use cqrs_es::test::TestFramework;

use super::*;

fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, 0, 0, 0)
        .single()
        .expect("valid date")
}

fn set(day: u32, input: &str, output: &str) -> PricingCommand {
    PricingCommand::SetPrice {
        model: ModelName::parse("claude-sonnet").expect("name"),
        input: PricePerMillion::parse("input", input).expect("price"),
        output: PricePerMillion::parse("output", output).expect("price"),
        effective_from: at(day),
    }
}

fn price(input: i64, output: i64, day: u32) -> Price {
    Price {
        input_usd_per_million: Decimal::new(input, 2),
        output_usd_per_million: Decimal::new(output, 2),
        effective_from: at(day),
    }
}

#[test]
fn a_million_tokens_each_way_on_claude_sonnet_cost_exactly_18_usd() {
    assert_eq!(price(300, 1500, 1).cost(1_000_000, 1_000_000), Decimal::from(18));
}

#[test]
fn costs_are_exact_to_the_last_digit() {
    let one_token = price(50, 150, 1).cost(1, 0);
    assert_eq!(one_token, Decimal::new(5, 7), "0.0000005 USD");
    let many: Decimal = (0..1000).map(|_| one_token).sum();
    assert_eq!(many, Decimal::new(5, 4));
}

#[test]
fn the_price_in_force_is_the_latest_that_started_before() {
    let mut model = ModelPrice::default();
    for event in [set(1, "3", "15"), set(10, "2", "10")]
        .into_iter()
        .flat_map(|command| ModelPrice::default().decide(command).expect("decides"))
    {
        model.apply(event);
    }
    assert_eq!(model.price_at(at(5)), Some(price(300, 1500, 1)));
    assert_eq!(model.price_at(at(10)), Some(price(200, 1000, 10)));
    assert_eq!(
        model.price_at(Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).single().expect("date")),
        None
    );
}

#[test]
fn a_price_cannot_rewrite_history() {
    TestFramework::<ModelPrice>::with(())
        .given(ModelPrice::default().decide(set(10, "3", "15")).expect("decides"))
        .when(set(5, "1", "1"))
        .then_expect_error(PricingError::BeforeLatest { latest: at(10) });
}

#[test]
fn prices_must_be_exact_non_negative_decimals() {
    assert!(PricePerMillion::parse("input", "-1").is_err());
    assert!(PricePerMillion::parse("input", "0.0000001").is_err());
    assert!(PricePerMillion::parse("input", "abc").is_err());
    assert!(PricePerMillion::parse("input", "0").is_ok());
    assert!(ModelName::parse("llama3.1:8b").is_ok());
    assert!(ModelName::parse("no spaces").is_err());
}
