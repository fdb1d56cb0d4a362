//! Sprig's integer math and conversions (spf13/cast semantics: unparsable input is 0)
//! and `until`/`untilStep`/`seq`. The decimal-based `addf`/`subf`/`mulf`/`divf` are not
//! offered: their results depend on shopspring/decimal rounding.

use super::{Ctx, FnResult, P, Registry, i, s};
use crate::strconv::{parse_float, parse_int};
use crate::value::Value;

pub(super) fn register(r: &mut Registry) {
    r.add("atoi", &[P::Str], None, |_, a| {
        let t = String::from_utf8_lossy(s(arg(a, 0))).into_owned();
        Ok(Value::Int(parse_int(&t, 10).unwrap_or(0)))
    });
    r.add("int", &[P::Any], None, |_, a| {
        Ok(Value::Int(to_int(arg(a, 0))))
    });
    r.add("int64", &[P::Any], None, |_, a| {
        Ok(Value::Int(to_int(arg(a, 0))))
    });
    r.add("float64", &[P::Any], None, |_, a| {
        Ok(Value::Float(to_float(arg(a, 0))))
    });
    r.add("toDecimal", &[P::Any], None, to_decimal);
    r.add("add1", &[P::Any], None, |_, a| {
        Ok(Value::Int(to_int(arg(a, 0)).wrapping_add(1)))
    });
    r.add("add", &[], Some(P::Any), |_, a| {
        Ok(Value::Int(
            a.iter().fold(0i64, |acc, v| acc.wrapping_add(to_int(v))),
        ))
    });
    r.add("sub", &[P::Any, P::Any], None, |_, a| {
        Ok(Value::Int(
            to_int(arg(a, 0)).wrapping_sub(to_int(arg(a, 1))),
        ))
    });
    r.add("mul", &[P::Any], Some(P::Any), |_, a| {
        let first = to_int(arg(a, 0));
        Ok(Value::Int(
            a.iter()
                .skip(1)
                .fold(first, |acc, v| acc.wrapping_mul(to_int(v))),
        ))
    });
    r.add("div", &[P::Any, P::Any], None, |_, a| {
        let (x, y) = (to_int(arg(a, 0)), to_int(arg(a, 1)));
        if y == 0 {
            return Err(DIVIDE_BY_ZERO.into());
        }
        Ok(Value::Int(x.wrapping_div(y)))
    });
    r.add("mod", &[P::Any, P::Any], None, |_, a| {
        let (x, y) = (to_int(arg(a, 0)), to_int(arg(a, 1)));
        if y == 0 {
            return Err(DIVIDE_BY_ZERO.into());
        }
        Ok(Value::Int(x.wrapping_rem(y)))
    });
    for name in ["max", "biggest"] {
        r.add(name, &[P::Any], Some(P::Any), |_, a| {
            Ok(Value::Int(a.iter().map(to_int).max().unwrap_or(0)))
        });
    }
    r.add("min", &[P::Any], Some(P::Any), |_, a| {
        Ok(Value::Int(a.iter().map(to_int).min().unwrap_or(0)))
    });
    r.add("maxf", &[P::Any], Some(P::Any), |_, a| {
        let first = to_float(arg(a, 0));
        Ok(Value::Float(
            a.iter().skip(1).map(to_float).fold(first, go_max),
        ))
    });
    r.add("minf", &[P::Any], Some(P::Any), |_, a| {
        let first = to_float(arg(a, 0));
        Ok(Value::Float(
            a.iter().skip(1).map(to_float).fold(first, go_min),
        ))
    });
    r.add("floor", &[P::Any], None, |_, a| {
        Ok(Value::Float(to_float(arg(a, 0)).floor()))
    });
    r.add("ceil", &[P::Any], None, |_, a| {
        Ok(Value::Float(to_float(arg(a, 0)).ceil()))
    });
    r.add("round", &[P::Any, P::Int], Some(P::Float), round);
    r.add("until", &[P::Int], None, |ctx, a| {
        let n = i(arg(a, 0));
        until_step(ctx, 0, n, if n < 0 { -1 } else { 1 })
    });
    r.add("untilStep", &[P::Int, P::Int, P::Int], None, |ctx, a| {
        until_step(ctx, i(arg(a, 0)), i(arg(a, 1)), i(arg(a, 2)))
    });
    r.add("seq", &[], Some(P::Int), seq);
}

const DIVIDE_BY_ZERO: &str = "runtime error: integer divide by zero";

fn arg(a: &[Value], n: usize) -> &Value {
    a.get(n).unwrap_or(&Value::Missing)
}

/// Go's float-to-int64 conversion on amd64 (out of range and NaN give MinInt64).
fn float_to_int(f: f64) -> i64 {
    if f.is_nan() || !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
        return i64::MIN;
    }
    f as i64
}

/// cast's trimZeroDecimal: "12.00" reads as "12".
fn trim_zero_decimal(s: &str) -> &str {
    let b = s.as_bytes();
    let mut found_zero = false;
    for (i, c) in b.iter().enumerate().rev() {
        match c {
            b'.' => {
                if found_zero {
                    // '.' is ASCII, so `i` is a char boundary.
                    return s.get(..i).unwrap_or(s);
                }
            }
            b'0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// cast.ToInt64 (and ToInt): errors read as 0.
pub(crate) fn to_int(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        Value::Float(f) => float_to_int(*f),
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => {
            let t = String::from_utf8_lossy(s);
            parse_int(trim_zero_decimal(&t), 0).unwrap_or(0)
        }
        _ => 0,
    }
}

/// cast.ToFloat64: errors read as 0.
pub(crate) fn to_float(v: &Value) -> f64 {
    match v {
        Value::Int(n) => *n as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => parse_float(&String::from_utf8_lossy(s)).unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Go's math.Max: NaN wins, +0 beats -0.
fn go_max(x: f64, y: f64) -> f64 {
    if x.is_infinite() && x > 0.0 || y.is_infinite() && y > 0.0 {
        return f64::INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && y == 0.0 {
        return if x.is_sign_negative() { y } else { x };
    }
    if x > y { x } else { y }
}

/// Go's math.Min: NaN wins, -0 beats +0.
fn go_min(x: f64, y: f64) -> f64 {
    if x.is_infinite() && x < 0.0 || y.is_infinite() && y < 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && y == 0.0 {
        return if x.is_sign_negative() { x } else { y };
    }
    if x < y { x } else { y }
}

fn to_decimal(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let text = ctx.strval(arg(a, 0))?;
    Ok(Value::Int(
        parse_int(&String::from_utf8_lossy(&text), 8).unwrap_or(0),
    ))
}

fn round(_: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let round_on = match a.get(2) {
        Some(Value::Float(f)) => *f,
        _ => 0.5,
    };
    let val = to_float(arg(a, 0));
    let places = i(arg(a, 1)).clamp(-400, 400) as i32;
    let pow = if places >= 0 {
        10f64.powi(places)
    } else {
        1.0 / 10f64.powi(-places)
    };
    let digit = pow * val;
    let rounded = if digit.fract() >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    Ok(Value::Float(rounded / pow))
}

/// Sprig's untilStep, refusing lists past the size limit before building them.
fn until_step(ctx: &mut Ctx<'_>, start: i64, stop: i64, step: i64) -> FnResult {
    let items = step_values(ctx, start, stop, step)?;
    ctx.list(items.into_iter().map(Value::Int).collect())
}

fn step_values(ctx: &Ctx<'_>, start: i64, stop: i64, step: i64) -> Result<Vec<i64>, String> {
    let ok = (stop < start && step < 0) || (stop >= start && step > 0);
    if !ok || start == stop {
        return Ok(Vec::new());
    }
    let span = (i128::from(stop) - i128::from(start)).unsigned_abs();
    let n = span.div_ceil(i128::from(step).unsigned_abs());
    ctx.check_len(usize::try_from(n).unwrap_or(usize::MAX))?;
    let mut out = Vec::with_capacity(n as usize);
    let mut v = i128::from(start);
    for _ in 0..n {
        out.push(v as i64);
        v += i128::from(step);
    }
    Ok(out)
}

fn seq(ctx: &mut Ctx<'_>, a: &[Value]) -> FnResult {
    let p: Vec<i64> = a.iter().map(i).collect();
    let values = match p.as_slice() {
        [end] => {
            let inc = if *end < 1 { -1 } else { 1 };
            step_values(ctx, 1, end.saturating_add(inc), inc)?
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            step_values(ctx, *start, end.saturating_add(step), step)?
        }
        [start, step, end] => {
            let mut inc = 1;
            if end < start {
                inc = -1;
                if *step > 0 {
                    return ctx.string(Vec::new());
                }
            }
            step_values(ctx, *start, end.saturating_add(inc), *step)?
        }
        _ => Vec::new(),
    };
    let text: Vec<String> = values.iter().map(i64::to_string).collect();
    ctx.string(text.join(" ").into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cast_reads_like_spf13_cast() {
        assert_eq!(to_int(&Value::str("42")), 42);
        assert_eq!(to_int(&Value::str("12.00")), 12);
        assert_eq!(to_int(&Value::str("12.5")), 0);
        assert_eq!(to_int(&Value::str("0x10")), 16);
        assert_eq!(to_int(&Value::str("010")), 8);
        assert_eq!(to_int(&Value::str("abc")), 0);
        assert_eq!(to_int(&Value::Float(3.9)), 3);
        assert_eq!(to_int(&Value::Bool(true)), 1);
        assert_eq!(to_int(&Value::Nil), 0);
        assert_eq!(to_float(&Value::str("1.5")), 1.5);
        assert_eq!(to_float(&Value::str("x")), 0.0);
        assert_eq!(trim_zero_decimal("1."), "1.");
        assert_eq!(trim_zero_decimal("100"), "100");
    }

    #[test]
    fn max_and_min_follow_go_math() {
        assert!(go_max(1.0, f64::NAN).is_nan());
        assert_eq!(go_max(-0.0, 0.0).to_bits(), 0f64.to_bits());
        assert_eq!(go_min(-0.0, 0.0).to_bits(), (-0f64).to_bits());
    }
}
