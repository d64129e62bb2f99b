//! A CSV pipeline: parse, an expensive convert stage on a worker pool, encode to JSON lines.
//!
//! ```text
//! orders.csv --parse--> Order --ordered_pool(convert)--> Priced --encode--> JSON lines
//! ```
//!
//! The convert stage runs on `ordered_pool`, so it uses several cores, yet the output
//! comes out in the input's order, and memory stays bounded however slow one row is. The
//! program prints the first rows and a checksum of the whole output, checks that 1 and 2
//! workers give the same output, and prints the wall-clock speed-up of 2 workers over 1.
//!
//! Run it with `cargo run --release --example pipeline`.

use gosync::chan::{self, Receiver};
use gosync::fan_in::ordered_pool;
use std::fmt::Write as _;
use std::thread;
use std::time::{Duration, Instant};

/// The shipped input (3000 orders); `examples/data/gen_orders.py` regenerates it.
const ORDERS_CSV: &str = include_str!("data/orders.csv");

/// One parsed row.
struct Order {
    id: u64,
    customer: String,
    product: String,
    quantity: u32,
    unit_price_cents: u64,
    currency: String,
    day: String,
}

/// One converted row: the total in euro cents and a fraud score.
struct Priced {
    order: Order,
    total_eur_cents: u64,
    risk: u32,
}

fn main() {
    let rows = ORDERS_CSV.lines().count() - 1;
    let (one, time_one) = run(1);
    let (two, time_two) = run(2);
    assert_eq!(one, two, "the output does not depend on the number of workers");

    println!("first 3 of {rows} JSON lines, in input order:");
    for line in one.lines().take(3) {
        println!("  {line}");
    }
    println!("checksum of all {} lines: {:016x}", one.lines().count(), fnv1a(one.as_bytes()));
    println!(
        "1 worker: {:.0} ms, 2 workers: {:.0} ms, speed-up {:.2}x",
        ms(time_one),
        ms(time_two),
        time_one.as_secs_f64() / time_two.as_secs_f64()
    );
}

/// Runs the whole pipeline with `workers` converting threads; returns the output and the
/// wall-clock time it took.
fn run(workers: usize) -> (String, Duration) {
    let start = Instant::now();
    let orders = parse(ORDERS_CSV);
    let priced = ordered_pool(orders, workers, convert);
    let mut out = String::new();
    for row in &priced {
        encode(&row, &mut out);
    }
    (out, start.elapsed())
}

/// The parse stage: a thread that turns CSV lines into orders, on a small bounded channel.
fn parse(csv: &'static str) -> Receiver<Order> {
    let (tx, rx) = chan::bounded(64);
    thread::spawn(move || {
        for line in csv.lines().skip(1) {
            if tx.send(parse_line(line)).is_err() {
                return; // nobody reads any more
            }
        }
    });
    rx
}

/// Splits one CSV line (quoted fields with `""` escapes allowed) into an order.
fn parse_line(line: &str) -> Order {
    let fields = split_csv(line);
    let field = |i: usize| fields[i].as_str();
    Order {
        id: field(0).parse().expect("order_id"),
        customer: field(1).to_owned(),
        product: field(2).to_owned(),
        quantity: field(3).parse().expect("quantity"),
        unit_price_cents: field(4).parse().expect("unit_price_cents"),
        currency: field(5).to_owned(),
        day: field(6).to_owned(),
    }
}

fn split_csv(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

/// The expensive stage: currency conversion, and a deliberately slow "risk model" (a
/// hundred thousand rounds of mixing) standing in for real work.
fn convert(order: Order) -> Priced {
    let rate_per_mille = match order.currency.as_str() {
        "USD" => 920,
        "GBP" => 1170,
        "JPY" => 6,
        _ => 1000,
    };
    let total_eur_cents = order.unit_price_cents * u64::from(order.quantity) * rate_per_mille / 1000;
    let mut x = order.id ^ total_eur_cents.rotate_left(17);
    for _ in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    Priced { order, total_eur_cents, risk: (x % 100) as u32 }
}

/// The encode stage: one JSON object per line, written by hand.
fn encode(row: &Priced, out: &mut String) {
    let o = &row.order;
    out.push_str("{\"order_id\":");
    write!(out, "{}", o.id).unwrap();
    for (key, value) in [("customer", &o.customer), ("product", &o.product), ("day", &o.day)] {
        write!(out, ",\"{key}\":").unwrap();
        json_string(value, out);
    }
    writeln!(
        out,
        ",\"quantity\":{},\"total_eur\":{}.{:02},\"risk\":{}}}",
        o.quantity,
        row.total_eur_cents / 100,
        row.total_eur_cents % 100,
        row.risk
    )
    .unwrap();
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => write!(out, "\\u{:04x}", c as u32).unwrap(),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// FNV-1a, 64 bits: a checksum to compare runs by.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
