#!/usr/bin/env python3
"""Writes orders.csv, the input of examples/pipeline.rs: 3000 made-up orders, the same on
every run (a fixed linear congruential generator, no randomness from the system)."""

CUSTOMERS = ["Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries",
             "Wayne Enterprises", "Wonka \"Chocolate\" Ltd", "Tyrell", "Cyberdyne"]
PRODUCTS = ["widget", "gadget", "sprocket", "gizmo", "doohickey", "thingamajig"]
CURRENCIES = ["USD", "EUR", "GBP", "JPY"]

state = 20261125


def rand(n):
    global state
    state = (state * 6364136223846793005 + 1442695040888963407) % 2**64
    return (state >> 33) % n


with open("orders.csv", "w", newline="\n") as out:
    out.write("order_id,customer,product,quantity,unit_price_cents,currency,day\n")
    for order_id in range(1, 3001):
        customer = CUSTOMERS[rand(len(CUSTOMERS))]
        quoted = '"' + customer.replace('"', '""') + '"' if '"' in customer else customer
        out.write(f"{order_id},{quoted},{PRODUCTS[rand(len(PRODUCTS))]},{1 + rand(20)},"
                  f"{100 + rand(99_900)},{CURRENCIES[rand(len(CURRENCIES))]},2026-{1 + rand(12):02}-{1 + rand(28):02}\n")
