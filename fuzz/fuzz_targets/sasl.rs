//! Any bytes as a DIGEST-MD5 digest-response: a user or a refusal, never a panic; a refusal
//! for every password but the right one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zabkeeper_core::server::sasl::{self, Expect};

fuzz_target!(|data: &[u8]| {
    let expect = Expect::zookeeper("0123456789abcdef0123456789abcdef");
    if let Ok(ok) = sasl::verify(data, expect, |user| (user == "bob").then_some("bobsecret")) {
        assert_eq!(ok.user, "bob");
        assert!(ok.rspauth.starts_with(b"rspauth="));
        assert!(sasl::verify(data, expect, |_| Some("other")).is_err());
    }
});
