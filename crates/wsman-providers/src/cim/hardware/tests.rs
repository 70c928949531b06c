use super::*;

#[test]
fn base_units_follow_the_cim_value_map() {
    assert_eq!(base_units(1, false), (2, 0)); // degrees C
    assert_eq!(base_units(4, false), (5, 0)); // volts
    assert_eq!(base_units(18, false), (19, 0)); // RPM
    assert_eq!(base_units(19, false), (20, 0)); // Hz
    assert_eq!(base_units(22, false), (21, 0)); // seconds
    assert_eq!(base_units(21, false), (21, -3)); // milliseconds
    assert_eq!(base_units(34, false), (31, 0)); // meters
    assert_eq!(base_units(50, false), (47, 0)); // henries
    assert_eq!(base_units(54, false), (49, 0)); // ohms
    assert_eq!(base_units(58, false), (53, 0)); // PPM
    assert_eq!(base_units(66, false), (60, 0)); // bits
    assert_eq!(base_units(72, false), (61, 6)); // megabytes
    assert_eq!(base_units(76, false), (64, 0)); // quadwords
    assert_eq!(base_units(6, true), (65, 0)); // percentage
}

#[test]
fn states_and_health_from_the_comparison_bits() {
    let mut n = Numeric {
        reading: Some(1),
        status: Some(0),
        ..Numeric::default()
    };
    assert_eq!(threshold_state(&n), ("Normal", 5));
    n.status = Some(0b001000);
    assert_eq!(threshold_state(&n), ("Upper Non-Critical", 10));
    n.status = Some(0b011000);
    assert_eq!(threshold_state(&n), ("Upper Critical", 25));
    n.status = Some(0b000111);
    assert_eq!(threshold_state(&n), ("Lower Fatal", 30));
    n.reading = None;
    assert_eq!(threshold_state(&n), ("Unknown", 0));
}
