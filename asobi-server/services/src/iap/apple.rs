//! App Store (StoreKit 2) signed transactions, verified offline.
//!
//! A signed transaction is a JWS in compact serialization whose header is
//! `{"alg":"ES256","x5c":[leaf, intermediate, root]}` (standard base64 DER certificates) and
//! whose payload is Apple's `JWSTransactionDecodedPayload`. [`AppleVerifier::verify`] accepts
//! it when, in this order:
//!
//! 1. it is within the size bounds ([`MAX_SIGNED_TRANSACTION_BYTES`],
//!    [`MAX_X5C_CERTIFICATES`]) and parses (three base64url segments, JSON header);
//! 2. the algorithm is ES256 and `x5c` holds at least a leaf and an intermediate;
//! 3. the leaf chains through the `x5c` certificates to a configured root (rustls-webpki,
//!    every certificate of the path valid at the time given), the leaf carries Apple's
//!    receipt-signing marker extension (`1.2.840.113635.100.6.11.1`) and the leaf's issuer
//!    Apple's WWDR intermediate marker (`1.2.840.113635.100.6.2.1`), as Apple's own
//!    libraries require: without them, any certificate under the Apple root (an Apple Pay
//!    merchant certificate, say) could sign transactions;
//! 4. the ES256 signature over `header.payload` verifies with the leaf's P-256 key;
//! 5. the payload is a transaction for the configured bundle that was not revoked.
//!
//! The root in `x5c` is never trusted as such: only the configured roots are.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use serde::Deserialize;
use webpki::{EndEntityCert, KeyUsage};

use super::{IapConfigError, MAX_SIGNED_TRANSACTION_BYTES, MAX_X5C_CERTIFICATES, VerifyError};

/// DER contents of the OID `1.2.840.113635.100.6.11.1`: Apple's marker on the leaf that
/// signs App Store receipts and transactions.
const APPLE_RECEIPT_SIGNING_OID: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x63, 0x64, 0x06, 0x0b, 0x01];
/// DER contents of the OID `1.2.840.113635.100.6.2.1`: Apple's marker on the Worldwide
/// Developer Relations intermediate CA.
const APPLE_WWDR_INTERMEDIATE_OID: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x63, 0x64, 0x06, 0x02, 0x01];

/// Checks StoreKit 2 signed transactions against configured roots. Cheap to clone.
#[derive(Clone)]
pub struct AppleVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    anchors: Vec<TrustAnchor<'static>>,
    bundle_id: Option<String>,
}

impl std::fmt::Debug for AppleVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppleVerifier")
            .field("roots", &self.inner.anchors.len())
            .field("bundle_id", &self.inner.bundle_id)
            .finish()
    }
}

/// A verified transaction: the fields of Apple's `JWSTransactionDecodedPayload` a grant
/// needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppleTransaction {
    /// `transactionId`.
    pub transaction_id: Option<String>,
    /// `originalTransactionId`: the first purchase of a subscription or restored product.
    pub original_transaction_id: Option<String>,
    /// `productId`.
    pub product_id: String,
    /// `bundleId`.
    pub bundle_id: Option<String>,
    /// `purchaseDate`, Unix ms.
    pub purchase_date: Option<i64>,
    /// `expiresDate` (subscriptions), Unix ms.
    pub expires_date: Option<i64>,
    /// `quantity`; 1 when absent.
    pub quantity: i64,
    /// `type`: `Consumable`, `Non-Consumable`, `Auto-Renewable Subscription`,
    /// `Non-Renewing Subscription` (empty when absent).
    pub kind: String,
    /// `environment`: `Production`, `Sandbox` or `Xcode`.
    pub environment: Option<String>,
    /// `signedDate`: when the App Store signed this JWS, Unix ms.
    pub signed_date: Option<i64>,
    /// `appAccountToken`: the UUID the app attached to the purchase, if any.
    pub app_account_token: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    x5c: Option<Vec<String>>,
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    transaction_id: Option<String>,
    original_transaction_id: Option<String>,
    bundle_id: Option<String>,
    product_id: String,
    purchase_date: Option<i64>,
    expires_date: Option<i64>,
    quantity: Option<i64>,
    #[serde(rename = "type")]
    kind: Option<String>,
    signed_date: Option<i64>,
    environment: Option<String>,
    revocation_date: Option<i64>,
    app_account_token: Option<String>,
}

impl AppleVerifier {
    /// Trusts the root certificate(s) in `pem` (PEM, one or more `CERTIFICATE` blocks) — the
    /// Apple Root CA - G3 in production, a test root in tests. Input without any PEM marker
    /// is read as one DER certificate (Apple publishes `AppleRootCA-G3.cer` as DER).
    /// `bundle_id`: when `Some`, the payload's `bundleId` must equal it.
    pub fn from_pem(
        pem: &[u8],
        bundle_id: Option<String>,
    ) -> Result<AppleVerifier, IapConfigError> {
        let ders: Vec<CertificateDer<'static>> = if contains(pem, b"-----BEGIN") {
            CertificateDer::pem_slice_iter(pem)
                .collect::<Result<_, _>>()
                .map_err(|e| IapConfigError::BadRootPem(e.to_string()))?
        } else if pem.is_empty() {
            Vec::new()
        } else {
            vec![CertificateDer::from(pem.to_vec())]
        };
        if ders.is_empty() {
            return Err(IapConfigError::NoRootCertificate);
        }
        let anchors = ders
            .iter()
            .map(|der| {
                webpki::anchor_from_trusted_cert(der)
                    .map(|anchor| anchor.to_owned())
                    .map_err(|e| IapConfigError::BadRootCertificate(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AppleVerifier {
            inner: Arc::new(Inner { anchors, bundle_id }),
        })
    }

    /// The bundle id transactions must name, if any.
    pub fn bundle_id(&self) -> Option<&str> {
        self.inner.bundle_id.as_deref()
    }

    /// Verifies `signed_transaction` offline at `now_ms` (Unix ms): the chain leaf → `x5c`
    /// intermediates → a configured root (rustls-webpki, every certificate valid at `now_ms`,
    /// a leaf EKU if present must allow serverAuth), Apple's marker extensions, the ES256
    /// signature with the leaf key, then the payload (bundle, revocation).
    pub fn verify(
        &self,
        signed_transaction: &str,
        now_ms: i64,
    ) -> Result<AppleTransaction, VerifyError> {
        if signed_transaction.len() > MAX_SIGNED_TRANSACTION_BYTES {
            return Err(VerifyError::Malformed(format!(
                "signed transaction is {} bytes; the limit is {MAX_SIGNED_TRANSACTION_BYTES}",
                signed_transaction.len()
            )));
        }
        // Surrounding whitespace (a pasted or line-ended receipt) is not part of the JWS.
        let jws = signed_transaction.trim();
        let mut parts = jws.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("not a compact JWS (three dot-separated parts)"));
        };

        let header: Header = decode_json(header_b64, "header")?;
        match header.alg.as_deref() {
            Some("ES256") => {}
            other => {
                return Err(VerifyError::UnsupportedAlgorithm(
                    other.unwrap_or("none").to_owned(),
                ));
            }
        }
        if header.crit.is_some() {
            return Err(malformed("JWS header names critical extensions"));
        }
        let x5c = header.x5c.unwrap_or_default();
        if x5c.len() > MAX_X5C_CERTIFICATES {
            return Err(VerifyError::Malformed(format!(
                "x5c holds {} certificates; the limit is {MAX_X5C_CERTIFICATES}",
                x5c.len()
            )));
        }
        if x5c.len() < 2 {
            return Err(VerifyError::MissingCertificates);
        }
        let certs = x5c
            .iter()
            .map(|b64| STANDARD.decode(b64).map(CertificateDer::from))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| VerifyError::Malformed(format!("x5c certificate base64: {e}")))?;
        let (leaf_der, intermediates) = certs
            .split_first()
            .ok_or(VerifyError::MissingCertificates)?;

        // 3. The chain, then Apple's markers.
        let leaf = EndEntityCert::try_from(leaf_der).map_err(chain_error)?;
        let time =
            UnixTime::since_unix_epoch(Duration::from_millis(u64::try_from(now_ms).unwrap_or(0)));
        let path = leaf
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &self.inner.anchors,
                intermediates,
                time,
                KeyUsage::server_auth(),
                None,
                None,
            )
            .map_err(chain_error)?;
        if !has_extension(leaf_der.as_ref(), APPLE_RECEIPT_SIGNING_OID) {
            return Err(VerifyError::UntrustedChain(
                "leaf lacks Apple's receipt-signing marker (1.2.840.113635.100.6.11.1)".into(),
            ));
        }
        let issuer_has_marker = path
            .intermediate_certificates()
            .next()
            .is_some_and(|cert| has_extension(cert.der().as_ref(), APPLE_WWDR_INTERMEDIATE_OID));
        if !issuer_has_marker {
            return Err(VerifyError::UntrustedChain(
                "leaf's issuer lacks Apple's WWDR intermediate marker (1.2.840.113635.100.6.2.1)"
                    .into(),
            ));
        }

        // 4. The signature over `header.payload`.
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|e| VerifyError::Malformed(format!("signature base64url: {e}")))?;
        let signature = es256_signature_der(&signature).ok_or(VerifyError::BadSignature)?;
        let signing_input_len = header_b64.len() + 1 + payload_b64.len();
        let signing_input = jws
            .get(..signing_input_len)
            .ok_or_else(|| malformed("signing input"))?;
        leaf.verify_signature(
            webpki::ring::ECDSA_P256_SHA256,
            signing_input.as_bytes(),
            &signature,
        )
        .map_err(|_| VerifyError::BadSignature)?;

        // 5. The payload.
        let payload: Payload = decode_json(payload_b64, "payload")?;
        if let Some(expected) = &self.inner.bundle_id
            && payload.bundle_id.as_deref() != Some(expected.as_str())
        {
            return Err(VerifyError::BundleMismatch {
                expected: expected.clone(),
                found: payload.bundle_id,
            });
        }
        if let Some(revoked_at) = payload.revocation_date {
            return Err(VerifyError::Revoked { revoked_at });
        }
        Ok(AppleTransaction {
            transaction_id: payload.transaction_id,
            original_transaction_id: payload.original_transaction_id,
            product_id: payload.product_id,
            bundle_id: payload.bundle_id,
            purchase_date: payload.purchase_date,
            expires_date: payload.expires_date,
            quantity: payload.quantity.unwrap_or(1),
            kind: payload.kind.unwrap_or_default(),
            environment: payload.environment,
            signed_date: payload.signed_date,
            app_account_token: payload.app_account_token,
        })
    }
}

fn malformed(what: &str) -> VerifyError {
    VerifyError::Malformed(what.to_owned())
}

/// A base64url (unpadded) JSON segment.
fn decode_json<T: serde::de::DeserializeOwned>(
    segment: &str,
    what: &str,
) -> Result<T, VerifyError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|e| VerifyError::Malformed(format!("{what} base64url: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| VerifyError::Malformed(format!("{what} JSON: {e}")))
}

/// A webpki refusal as ours: validity problems are `certificate_expired`, the rest
/// `untrusted_chain`.
fn chain_error(e: webpki::Error) -> VerifyError {
    match e {
        webpki::Error::CertExpired { .. }
        | webpki::Error::CertNotValidYet { .. }
        | webpki::Error::InvalidCertValidity => VerifyError::CertificateExpired(e.to_string()),
        _ => VerifyError::UntrustedChain(e.to_string()),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A JWS ES256 signature (raw `r || s`, 32 bytes each) as the ASN.1 DER
/// `SEQUENCE { INTEGER r, INTEGER s }` that webpki's ECDSA verification takes; `None` when
/// it is not 64 bytes.
fn es256_signature_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.len() != 64 {
        return None;
    }
    let (r, s) = raw.split_at(32);
    let mut body = Vec::with_capacity(70);
    for int in [r, s] {
        // Minimal big-endian form: no leading zero bytes, but a zero byte ahead of a set
        // high bit (INTEGER is signed); zero itself is one zero byte.
        let start = int.iter().position(|&b| b != 0).unwrap_or(int.len() - 1);
        let digits = int.get(start..)?;
        let pad = digits.first().is_some_and(|&b| b & 0x80 != 0);
        body.push(0x02);
        body.push(u8::try_from(digits.len() + usize::from(pad)).ok()?);
        if pad {
            body.push(0x00);
        }
        body.extend_from_slice(digits);
    }
    let mut der = Vec::with_capacity(body.len() + 2);
    der.push(0x30);
    der.push(u8::try_from(body.len()).ok()?);
    der.extend_from_slice(&body);
    Some(der)
}

/// One DER element of `input`: `(tag, contents, rest)`; `None` if it does not parse (only
/// low tag numbers and lengths up to 4 bytes, all a certificate needs).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(n)?;
        let len = bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, rest)
    };
    let (contents, rest) = rest.split_at_checked(len)?;
    Some((tag, contents, rest))
}

/// Whether the certificate `der` has an extension with the OID whose DER contents are
/// `oid`: `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { …, [3] { SEQUENCE OF
/// SEQUENCE { extnID OID, … } } }, … }`.
fn has_extension(der: &[u8], oid: &[u8]) -> bool {
    let Some((0x30, certificate, _)) = der_element(der) else {
        return false;
    };
    let Some((0x30, mut tbs, _)) = der_element(certificate) else {
        return false;
    };
    while let Some((tag, contents, rest)) = der_element(tbs) {
        if tag == 0xa3 {
            let Some((0x30, mut extensions, _)) = der_element(contents) else {
                return false;
            };
            while let Some((0x30, extension, rest)) = der_element(extensions) {
                if let Some((0x06, id, _)) = der_element(extension)
                    && id == oid
                {
                    return true;
                }
                extensions = rest;
            }
            return false;
        }
        tbs = rest;
    }
    false
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::iap::test_support::TestChain;

    const BUNDLE: &str = "com.example.game";

    fn now_ms() -> i64 {
        crate::time::now_ms()
    }

    fn payload() -> Value {
        json!({
            "transactionId": "2000000123456789",
            "originalTransactionId": "2000000123456780",
            "bundleId": BUNDLE,
            "productId": "gems_100",
            "purchaseDate": 1_700_000_000_000_i64,
            "originalPurchaseDate": 1_700_000_000_000_i64,
            "quantity": 2,
            "type": "Consumable",
            "inAppOwnershipType": "PURCHASED",
            "signedDate": 1_700_000_001_000_i64,
            "environment": "Sandbox",
            "transactionReason": "PURCHASE",
            "storefront": "JPN",
            "price": 160000,
            "currency": "JPY",
            "appAccountToken": "7e3fb20b-4cdb-47cc-936d-99d65f608138",
        })
    }

    fn verifier(chain: &TestChain, bundle: Option<&str>) -> AppleVerifier {
        AppleVerifier::from_pem(chain.root_pem.as_bytes(), bundle.map(str::to_owned)).unwrap()
    }

    /// Replaces one dot-separated segment of a compact JWS.
    fn with_segment(jws: &str, index: usize, segment: &str) -> String {
        let mut parts: Vec<&str> = jws.split('.').collect();
        parts[index] = segment;
        parts.join(".")
    }

    #[test]
    fn good_transaction_verifies_and_its_fields_come_out() {
        let chain = TestChain::new(false);
        let jws = chain.sign(&payload());
        let tx = verifier(&chain, Some(BUNDLE))
            .verify(&jws, now_ms())
            .unwrap();
        assert_eq!(
            tx,
            AppleTransaction {
                transaction_id: Some("2000000123456789".into()),
                original_transaction_id: Some("2000000123456780".into()),
                product_id: "gems_100".into(),
                bundle_id: Some(BUNDLE.into()),
                purchase_date: Some(1_700_000_000_000),
                expires_date: None,
                quantity: 2,
                kind: "Consumable".into(),
                environment: Some("Sandbox".into()),
                signed_date: Some(1_700_000_001_000),
                app_account_token: Some("7e3fb20b-4cdb-47cc-936d-99d65f608138".into()),
            }
        );
        // No bundle configured: any bundle passes.
        assert!(verifier(&chain, None).verify(&jws, now_ms()).is_ok());
    }

    #[test]
    fn defaults_when_optional_fields_are_absent() {
        let chain = TestChain::new(false);
        let jws = chain
            .sign(&json!({ "productId": "sub_monthly", "expiresDate": 1_800_000_000_000_i64 }));
        let tx = verifier(&chain, None).verify(&jws, now_ms()).unwrap();
        assert_eq!(tx.product_id, "sub_monthly");
        assert_eq!(tx.quantity, 1);
        assert_eq!(tx.kind, "");
        assert_eq!(tx.expires_date, Some(1_800_000_000_000));
        assert_eq!(tx.transaction_id, None);
    }

    #[test]
    fn tampered_payload_is_a_bad_signature() {
        let chain = TestChain::new(false);
        let jws = chain.sign(&payload());
        let mut forged = payload();
        forged["quantity"] = json!(100);
        let forged_b64 = URL_SAFE_NO_PAD.encode(forged.to_string());
        let tampered = with_segment(&jws, 1, &forged_b64);
        let err = verifier(&chain, Some(BUNDLE))
            .verify(&tampered, now_ms())
            .unwrap_err();
        assert_eq!(err.reason(), "bad_signature", "{err}");

        // A signature of the wrong length, or someone else's signature, likewise.
        let short = with_segment(&jws, 2, &URL_SAFE_NO_PAD.encode([1u8; 63]));
        let err = verifier(&chain, None).verify(&short, now_ms()).unwrap_err();
        assert_eq!(err.reason(), "bad_signature", "{err}");
        let other = TestChain::new(false).sign(&payload());
        let swapped = with_segment(&jws, 2, other.split('.').nth(2).unwrap());
        let err = verifier(&chain, None)
            .verify(&swapped, now_ms())
            .unwrap_err();
        assert_eq!(err.reason(), "bad_signature", "{err}");
    }

    #[test]
    fn chain_from_another_root_is_untrusted() {
        let trusted = TestChain::new(false);
        let other = TestChain::new(false);
        let jws = other.sign(&payload());
        let err = verifier(&trusted, Some(BUNDLE))
            .verify(&jws, now_ms())
            .unwrap_err();
        assert_eq!(err.reason(), "untrusted_chain", "{err}");
        assert!(matches!(err, VerifyError::UntrustedChain(_)));
    }

    #[test]
    fn trusted_root_cannot_be_swapped_in_x5c() {
        // The attacker's leaf and intermediate, with the trusted root appended: the
        // intermediate's signature does not verify under the trusted root's key.
        let trusted = TestChain::new(false);
        let other = TestChain::new(false);
        let mut x5c = other.x5c();
        x5c[2] = trusted.x5c()[2].clone();
        let jws = other.sign_with_header(&json!({ "alg": "ES256", "x5c": x5c }), &payload());
        let err = verifier(&trusted, None).verify(&jws, now_ms()).unwrap_err();
        assert_eq!(err.reason(), "untrusted_chain", "{err}");
    }

    #[test]
    fn chain_without_apple_markers_is_untrusted() {
        for (leaf_marker, intermediate_marker) in [(false, true), (true, false), (false, false)] {
            let chain = TestChain::build(false, leaf_marker, intermediate_marker);
            let jws = chain.sign(&payload());
            let err = verifier(&chain, None).verify(&jws, now_ms()).unwrap_err();
            assert_eq!(
                err.reason(),
                "untrusted_chain",
                "leaf marker {leaf_marker}, intermediate marker {intermediate_marker}: {err}"
            );
        }
    }

    #[test]
    fn expired_leaf_is_certificate_expired() {
        let chain = TestChain::new(true);
        let jws = chain.sign(&payload());
        let err = verifier(&chain, Some(BUNDLE))
            .verify(&jws, now_ms())
            .unwrap_err();
        assert_eq!(err.reason(), "certificate_expired", "{err}");
        // Within the leaf's validity (2000–2001) it verifies.
        let in_2000 = 957_139_200_000; // 2000-05-01
        assert!(verifier(&chain, Some(BUNDLE)).verify(&jws, in_2000).is_ok());
        // Before any certificate was valid.
        let err = verifier(&chain, None).verify(&jws, 0).unwrap_err();
        assert_eq!(err.reason(), "certificate_expired", "{err}");
    }

    #[test]
    fn algorithm_other_than_es256_is_refused() {
        let chain = TestChain::new(false);
        for alg in [json!("HS256"), json!("none"), json!("ES384"), Value::Null] {
            let header = json!({ "alg": alg, "x5c": chain.x5c() });
            let jws = chain.sign_with_header(&header, &payload());
            let err = verifier(&chain, None).verify(&jws, now_ms()).unwrap_err();
            assert_eq!(err.reason(), "unsupported_algorithm", "{alg}: {err}");
        }
    }

    #[test]
    fn missing_or_too_many_certificates() {
        let chain = TestChain::new(false);
        let x5c = chain.x5c();
        for header in [
            json!({ "alg": "ES256" }),
            json!({ "alg": "ES256", "x5c": [] }),
            json!({ "alg": "ES256", "x5c": [x5c[0]] }),
        ] {
            let jws = chain.sign_with_header(&header, &payload());
            let err = verifier(&chain, None).verify(&jws, now_ms()).unwrap_err();
            assert_eq!(err.reason(), "missing_certificates", "{header}: {err}");
        }
        // Leaf and intermediate without the root is enough: the root is configured.
        let jws = chain.sign_with_header(
            &json!({ "alg": "ES256", "x5c": [x5c[0], x5c[1]] }),
            &payload(),
        );
        assert!(verifier(&chain, None).verify(&jws, now_ms()).is_ok());

        let six: Vec<String> = std::iter::repeat_n(x5c[1].clone(), 6).collect();
        let jws = chain.sign_with_header(&json!({ "alg": "ES256", "x5c": six }), &payload());
        let err = verifier(&chain, None).verify(&jws, now_ms()).unwrap_err();
        assert_eq!(err.reason(), "malformed", "{err}");
    }

    #[test]
    fn garbage_is_malformed() {
        let chain = TestChain::new(false);
        let v = verifier(&chain, None);
        let jws = chain.sign(&payload());
        let huge = "a".repeat(MAX_SIGNED_TRANSACTION_BYTES + 1);
        let not_json = URL_SAFE_NO_PAD.encode("not json");
        let padded = format!("{}=", jws.split('.').next().unwrap());
        let bad_x5c = chain.sign_with_header(
            &json!({ "alg": "ES256", "x5c": ["!!!", "!!!"] }),
            &payload(),
        );
        let cases = [
            String::new(),
            "garbage".to_owned(),
            "a.b".to_owned(),
            "a.b.c.d".to_owned(),
            "!!.??.##".to_owned(),
            format!("{jws}.extra"),
            with_segment(&jws, 0, &not_json),
            with_segment(&jws, 0, &padded),
            bad_x5c,
            huge,
        ];
        for case in &cases {
            let err = v.verify(case, now_ms()).unwrap_err();
            assert_eq!(err.reason(), "malformed", "{:.60}: {err}", case);
        }
        // A correctly signed payload that is not a transaction.
        let jws = chain.sign(&json!({ "hello": "world" }));
        let err = v.verify(&jws, now_ms()).unwrap_err();
        assert_eq!(err.reason(), "malformed", "{err}");
        // Certificates that are base64 but not DER.
        let header = json!({ "alg": "ES256", "x5c": [STANDARD.encode(b"abc"), chain.x5c()[1]] });
        let err = v
            .verify(&chain.sign_with_header(&header, &payload()), now_ms())
            .unwrap_err();
        assert_eq!(err.reason(), "untrusted_chain", "{err}");
    }

    #[test]
    fn bundle_mismatch_and_revocation() {
        let chain = TestChain::new(false);
        let v = verifier(&chain, Some(BUNDLE));
        let mut other = payload();
        other["bundleId"] = json!("com.example.other");
        let err = v.verify(&chain.sign(&other), now_ms()).unwrap_err();
        assert_eq!(err.reason(), "bundle_mismatch", "{err}");
        assert!(err.to_string().contains("com.example.other"), "{err}");
        let mut none = payload();
        none.as_object_mut().unwrap().remove("bundleId");
        let err = v.verify(&chain.sign(&none), now_ms()).unwrap_err();
        assert_eq!(err.reason(), "bundle_mismatch", "{err}");

        let mut revoked = payload();
        revoked["revocationDate"] = json!(1_700_000_500_000_i64);
        revoked["revocationReason"] = json!(0);
        let err = v.verify(&chain.sign(&revoked), now_ms()).unwrap_err();
        assert_eq!(err.reason(), "revoked", "{err}");
        assert!(matches!(
            err,
            VerifyError::Revoked {
                revoked_at: 1_700_000_500_000
            }
        ));
    }

    #[test]
    fn config_errors() {
        assert!(matches!(
            AppleVerifier::from_pem(b"", None),
            Err(IapConfigError::NoRootCertificate)
        ));
        assert!(AppleVerifier::from_pem(b"-----BEGIN CERTIFICATE-----\n!!!\n", None).is_err());
        assert!(AppleVerifier::from_pem(b"not a certificate", None).is_err());
        // Several roots; DER input.
        let a = TestChain::new(false);
        let b = TestChain::new(false);
        let both = format!("{}{}", a.root_pem, b.root_pem);
        let v = AppleVerifier::from_pem(both.as_bytes(), None).unwrap();
        assert!(v.verify(&a.sign(&payload()), now_ms()).is_ok());
        assert!(v.verify(&b.sign(&payload()), now_ms()).is_ok());
        let v = AppleVerifier::from_pem(&a.chain_der[2], None).unwrap();
        assert!(v.verify(&a.sign(&payload()), now_ms()).is_ok());
    }

    #[test]
    fn es256_signature_der_encodes_minimal_integers() {
        let mut raw = [0u8; 64];
        raw[31] = 0x01; // r = 1
        raw[32] = 0x80; // s has its high bit set: a zero byte goes ahead
        let der = es256_signature_der(&raw).unwrap();
        assert_eq!(&der[..5], &[0x30, 3 + 35, 0x02, 0x01, 0x01]);
        assert_eq!(&der[5..8], &[0x02, 33, 0x00]);
        assert_eq!(der.len(), 2 + 3 + 35);
        let zero = es256_signature_der(&[0u8; 64]).unwrap();
        assert_eq!(zero, vec![0x30, 6, 0x02, 1, 0, 0x02, 1, 0]);
        assert!(es256_signature_der(&[0u8; 65]).is_none());
    }

    // Apple's production chain as it signed transactions in 2021–2023 (public certificates:
    // Apple Root CA - G3, SHA-256 fingerprint 63:34:3A:BF:…:91:79; the WWDR G6 intermediate;
    // the "Prod ECC Mac App Store and iTunes Store Receipt Signing" leaf, valid until
    // 2023-09-24). Checks that webpki, the EKU policy and the marker checks accept the real
    // thing (no signed transaction here, so the chain only).
    const REAL_APPLE_ROOT: &str = "MIICQzCCAcmgAwIBAgIILcX8iNLFS5UwCgYIKoZIzj0EAwMwZzEbMBkGA1UEAwwSQXBwbGUgUm9vdCBDQSAtIEczMSYwJAYDVQQLDB1BcHBsZSBDZXJ0aWZpY2F0aW9uIEF1dGhvcml0eTETMBEGA1UECgwKQXBwbGUgSW5jLjELMAkGA1UEBhMCVVMwHhcNMTQwNDMwMTgxOTA2WhcNMzkwNDMwMTgxOTA2WjBnMRswGQYDVQQDDBJBcHBsZSBSb290IENBIC0gRzMxJjAkBgNVBAsMHUFwcGxlIENlcnRpZmljYXRpb24gQXV0aG9yaXR5MRMwEQYDVQQKDApBcHBsZSBJbmMuMQswCQYDVQQGEwJVUzB2MBAGByqGSM49AgEGBSuBBAAiA2IABJjpLz1AcqTtkyJygRMc3RCV8cWjTnHcFBbZDuWmBSp3ZHtfTjjTuxxEtX/1H7YyYl3J6YRbTzBPEVoA/VhYDKX1DyxNB0cTddqXl5dvMVztK517IDvYuVTZXpmkOlEKMaNCMEAwHQYDVR0OBBYEFLuw3qFYM4iapIqZ3r6966/ayySrMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMAoGCCqGSM49BAMDA2gAMGUCMQCD6cHEFl4aXTQY2e3v9GwOAEZLuN+yRhHFD/3meoyhpmvOwgPUnPWTxnS4at+qIxUCMG1mihDK1A3UT82NQz60imOlM27jbdoXt2QfyFMm+YhidDkLF1vLUagM6BgD56KyKA==";
    const REAL_APPLE_INTERMEDIATE: &str = "MIIDFjCCApygAwIBAgIUIsGhRwp0c2nvU4YSycafPTjzbNcwCgYIKoZIzj0EAwMwZzEbMBkGA1UEAwwSQXBwbGUgUm9vdCBDQSAtIEczMSYwJAYDVQQLDB1BcHBsZSBDZXJ0aWZpY2F0aW9uIEF1dGhvcml0eTETMBEGA1UECgwKQXBwbGUgSW5jLjELMAkGA1UEBhMCVVMwHhcNMjEwMzE3MjAzNzEwWhcNMzYwMzE5MDAwMDAwWjB1MUQwQgYDVQQDDDtBcHBsZSBXb3JsZHdpZGUgRGV2ZWxvcGVyIFJlbGF0aW9ucyBDZXJ0aWZpY2F0aW9uIEF1dGhvcml0eTELMAkGA1UECwwCRzYxEzARBgNVBAoMCkFwcGxlIEluYy4xCzAJBgNVBAYTAlVTMHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEbsQKC94PrlWmZXnXgtxzdVJL8T0SGYngDRGpngn3N6PT8JMEb7FDi4bBmPhCnZ3/sq6PF/cGcKXWsL5vOteRhyJ45x3ASP7cOB+aao90fcpxSv/EZFbniAbNgZGhIhpIo4H6MIH3MBIGA1UdEwEB/wQIMAYBAf8CAQAwHwYDVR0jBBgwFoAUu7DeoVgziJqkipnevr3rr9rLJKswRgYIKwYBBQUHAQEEOjA4MDYGCCsGAQUFBzABhipodHRwOi8vb2NzcC5hcHBsZS5jb20vb2NzcDAzLWFwcGxlcm9vdGNhZzMwNwYDVR0fBDAwLjAsoCqgKIYmaHR0cDovL2NybC5hcHBsZS5jb20vYXBwbGVyb290Y2FnMy5jcmwwHQYDVR0OBBYEFD8vlCNR01DJmig97bB85c+lkGKZMA4GA1UdDwEB/wQEAwIBBjAQBgoqhkiG92NkBgIBBAIFADAKBggqhkjOPQQDAwNoADBlAjBAXhSq5IyKogMCPtw490BaB677CaEGJXufQB/EqZGd6CSjiCtOnuMTbXVXmxxcxfkCMQDTSPxarZXvNrkxU3TkUMI33yzvFVVRT4wxWJC994OsdcZ4+RGNsYDyR5gmdr0nDGg=";
    const REAL_APPLE_LEAF: &str = "MIIEMDCCA7agAwIBAgIQaPoPldvpSoEH0lBrjDPv9jAKBggqhkjOPQQDAzB1MUQwQgYDVQQDDDtBcHBsZSBXb3JsZHdpZGUgRGV2ZWxvcGVyIFJlbGF0aW9ucyBDZXJ0aWZpY2F0aW9uIEF1dGhvcml0eTELMAkGA1UECwwCRzYxEzARBgNVBAoMCkFwcGxlIEluYy4xCzAJBgNVBAYTAlVTMB4XDTIxMDgyNTAyNTAzNFoXDTIzMDkyNDAyNTAzM1owgZIxQDA+BgNVBAMMN1Byb2QgRUNDIE1hYyBBcHAgU3RvcmUgYW5kIGlUdW5lcyBTdG9yZSBSZWNlaXB0IFNpZ25pbmcxLDAqBgNVBAsMI0FwcGxlIFdvcmxkd2lkZSBEZXZlbG9wZXIgUmVsYXRpb25zMRMwEQYDVQQKDApBcHBsZSBJbmMuMQswCQYDVQQGEwJVUzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABOoTcaPcpeipNL9eQ06tCu7pUcwdCXdN8vGqaUjd58Z8tLxiUC0dBeA+euMYggh1/5iAk+FMxUFmA2a1r4aCZ8SjggIIMIICBDAMBgNVHRMBAf8EAjAAMB8GA1UdIwQYMBaAFD8vlCNR01DJmig97bB85c+lkGKZMHAGCCsGAQUFBwEBBGQwYjAtBggrBgEFBQcwAoYhaHR0cDovL2NlcnRzLmFwcGxlLmNvbS93d2RyZzYuZGVyMDEGCCsGAQUFBzABhiVodHRwOi8vb2NzcC5hcHBsZS5jb20vb2NzcDAzLXd3ZHJnNjAyMIIBHgYDVR0gBIIBFTCCAREwggENBgoqhkiG92NkBQYBMIH+MIHDBggrBgEFBQcCAjCBtgyBs1JlbGlhbmNlIG9uIHRoaXMgY2VydGlmaWNhdGUgYnkgYW55IHBhcnR5IGFzc3VtZXMgYWNjZXB0YW5jZSBvZiB0aGUgdGhlbiBhcHBsaWNhYmxlIHN0YW5kYXJkIHRlcm1zIGFuZCBjb25kaXRpb25zIG9mIHVzZSwgY2VydGlmaWNhdGUgcG9saWN5IGFuZCBjZXJ0aWZpY2F0aW9uIHByYWN0aWNlIHN0YXRlbWVudHMuMDYGCCsGAQUFBwIBFipodHRwOi8vd3d3LmFwcGxlLmNvbS9jZXJ0aWZpY2F0ZWF1dGhvcml0eS8wHQYDVR0OBBYEFCOCmMBq//1L5imvVmqX1oCYeqrMMA4GA1UdDwEB/wQEAwIHgDAQBgoqhkiG92NkBgsBBAIFADAKBggqhkjOPQQDAwNoADBlAjEAl4JB9GJHixP2nuibyU1k3wri5psGIxPME05sFKq7hQuzvbeyBu82FozzxmbzpogoAjBLSFl0dZWIYl2ejPV+Di5fBnKPu8mymBQtoE/H2bES0qAs8bNueU3CBjjh1lwnDsI=";

    #[test]
    fn real_apple_chain_passes_the_chain_checks() {
        let root = STANDARD.decode(REAL_APPLE_ROOT).unwrap();
        let v = AppleVerifier::from_pem(&root, None).unwrap();
        let leaf = CertificateDer::from(STANDARD.decode(REAL_APPLE_LEAF).unwrap());
        let intermediates = [
            CertificateDer::from(STANDARD.decode(REAL_APPLE_INTERMEDIATE).unwrap()),
            CertificateDer::from(root.clone()),
        ];
        assert!(has_extension(&leaf, APPLE_RECEIPT_SIGNING_OID));
        assert!(!has_extension(&leaf, APPLE_WWDR_INTERMEDIATE_OID));
        assert!(has_extension(
            &intermediates[0],
            APPLE_WWDR_INTERMEDIATE_OID
        ));
        assert!(!has_extension(&root, APPLE_RECEIPT_SIGNING_OID));

        let ee = EndEntityCert::try_from(&leaf).unwrap();
        let chain_at = |secs: u64| {
            ee.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &v.inner.anchors,
                &intermediates,
                UnixTime::since_unix_epoch(Duration::from_secs(secs)),
                KeyUsage::server_auth(),
                None,
                None,
            )
            .map(|path| {
                path.intermediate_certificates()
                    .next()
                    .is_some_and(|c| has_extension(c.der().as_ref(), APPLE_WWDR_INTERMEDIATE_OID))
            })
            .map_err(chain_error)
        };
        assert!(chain_at(1_681_312_846).unwrap()); // 2023-04-12: inside the leaf's validity
        let err = chain_at(1_700_000_000).unwrap_err(); // 2023-11: the leaf has expired
        assert_eq!(err.reason(), "certificate_expired", "{err}");

        // The full verify on a transaction carrying the real chain gets as far as the
        // signature (which nobody here can make).
        let x5c = [REAL_APPLE_LEAF, REAL_APPLE_INTERMEDIATE, REAL_APPLE_ROOT];
        let chain = TestChain::new(false);
        let jws = chain.sign_with_header(&json!({ "alg": "ES256", "x5c": x5c }), &payload());
        let err = v.verify(&jws, 1_681_312_846_000).unwrap_err();
        assert_eq!(err.reason(), "bad_signature", "{err}");
    }
}
