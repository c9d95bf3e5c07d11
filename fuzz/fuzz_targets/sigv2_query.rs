//! See `s3_common.rs`: the same properties for V2 presigned URLs.
#![no_main]

mod s3_common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| s3_common::run(data, true));
