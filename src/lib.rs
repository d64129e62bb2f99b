//! gosync (docs to come)
#![cfg_attr(not(any(feature = "std", loom)), no_std)]
#![allow(dead_code)]
extern crate alloc;
mod primitive;
mod waiter;
