//! In-app purchase receipts: deciding whether a store really sold a product, before anything
//! is granted for it. Owns no tables and keeps no purchase history (so it does not refuse a
//! receipt seen before; the caller records transaction ids and settles replays).
//!
//! - [`apple`]: StoreKit 2 signed transactions, verified offline: the JWS's `x5c` chain must
//!   lead to a configured root (the Apple Root CA - G3 in production) and carry Apple's
//!   receipt-signing markers, and the leaf key must have signed the JWS.
//! - [`google`]: Google Play purchase tokens, checked online with the Play Developer API
//!   (`purchases.products.get`) under a service-account credential.
//!
//! Both answer a [`VerifyError`] whose [`VerifyError::reason`] is a stable short string the
//! surfaces put into the error's `details.reason`. A verifier that cannot be built from its
//! configuration says why in an [`IapConfigError`].

pub mod apple;
pub mod google;

pub use apple::{AppleTransaction, AppleVerifier};
pub use google::{GoogleConfig, GooglePurchase, GoogleVerifier};

/// Longest signed transaction accepted, bytes (refused before decoding).
pub const MAX_SIGNED_TRANSACTION_BYTES: usize = 64 * 1024;
/// Most certificates accepted in a JWS `x5c` header.
pub const MAX_X5C_CERTIFICATES: usize = 5;

/// Why a receipt was refused: each variant's [`VerifyError::reason`] is a stable short
/// snake_case string that goes into the error's `details.reason`.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The receipt cannot be read: not a 3-part JWS, bad base64, bad JSON, over the size
    /// bounds, or a product id / token that cannot name a resource.
    #[error("malformed receipt: {0}")]
    Malformed(String),
    /// The JWS names a signature algorithm other than ES256.
    #[error("unsupported signature algorithm {0:?} (only ES256)")]
    UnsupportedAlgorithm(String),
    /// The JWS header has no `x5c`, or fewer than two certificates in it.
    #[error("the receipt carries no certificate chain (x5c with a leaf and an intermediate)")]
    MissingCertificates,
    /// A certificate of the chain is outside its validity period now.
    #[error("certificate outside its validity period: {0}")]
    CertificateExpired(String),
    /// The chain does not lead to a trusted root (unknown issuer, bad certificate signature,
    /// a certificate unfit for its place, or missing Apple receipt-signing markers).
    #[error("certificate chain not trusted: {0}")]
    UntrustedChain(String),
    /// The JWS signature does not verify with the leaf certificate's key.
    #[error("receipt signature does not verify")]
    BadSignature,
    /// The receipt is for another app.
    #[error("receipt is for bundle {found:?}, expected {expected:?}")]
    BundleMismatch {
        /// The configured bundle id.
        expected: String,
        /// The receipt's bundle id.
        found: Option<String>,
    },
    /// The store refunded or revoked the transaction.
    #[error("transaction was revoked (revocationDate {revoked_at})")]
    Revoked {
        /// When, Unix ms.
        revoked_at: i64,
    },
    /// The store answered that it does not know this purchase (HTTP 4xx for the token).
    #[error("store rejected the purchase (HTTP {status})")]
    StoreRejected {
        /// The store's HTTP status.
        status: u16,
    },
    /// The store knows the purchase but it is not in the purchased state (cancelled or
    /// pending).
    #[error("purchase is not in the purchased state (purchaseState {state})")]
    NotPurchased {
        /// The store's purchase state (1 cancelled, 2 pending).
        state: i64,
    },
    /// The store could not be asked: network, timeout, HTTP 5xx, an unreadable answer, or
    /// our own credential was refused. Worth retrying later.
    #[error("store unavailable: {0}")]
    StoreUnavailable(String),
    /// The transaction is from a store environment this server does not accept (a Sandbox
    /// or Xcode purchase on a server that takes only Production ones).
    #[error("transaction environment {found:?} is not accepted here")]
    WrongEnvironment {
        /// The transaction's environment.
        found: Option<String>,
    },
    /// The product is not configured to grant anything here: the purchase is not claimed,
    /// so it can be claimed once the product is configured.
    #[error("product {product_id:?} grants nothing on this server")]
    UnknownProduct {
        /// The product.
        product_id: String,
    },
    /// This store's verification is not configured on this server.
    #[error("{store} receipt verification is not configured")]
    NotConfigured {
        /// `"apple"` or `"google"`.
        store: &'static str,
    },
}

impl VerifyError {
    /// The stable short reason (`malformed`, `bad_signature`, `store_rejected`, …).
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::Malformed(_) => "malformed",
            VerifyError::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            VerifyError::MissingCertificates => "missing_certificates",
            VerifyError::CertificateExpired(_) => "certificate_expired",
            VerifyError::UntrustedChain(_) => "untrusted_chain",
            VerifyError::BadSignature => "bad_signature",
            VerifyError::BundleMismatch { .. } => "bundle_mismatch",
            VerifyError::Revoked { .. } => "revoked",
            VerifyError::StoreRejected { .. } => "store_rejected",
            VerifyError::NotPurchased { .. } => "not_purchased",
            VerifyError::StoreUnavailable(_) => "store_unavailable",
            VerifyError::NotConfigured { .. } => "not_configured",
            VerifyError::WrongEnvironment { .. } => "wrong_environment",
            VerifyError::UnknownProduct { .. } => "unknown_product",
        }
    }

    /// Whether asking again later may succeed (the store could not be reached).
    pub fn is_transient(&self) -> bool {
        matches!(self, VerifyError::StoreUnavailable(_))
    }
}

impl crate::error::Coded for VerifyError {
    fn code(&self) -> asobi_core::protocol::ErrorCode {
        asobi_core::protocol::ErrorCode::IapVerificationFailed
    }

    fn details(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut d = serde_json::Map::new();
        d.insert("reason".into(), self.reason().into());
        d
    }
}

/// Why a verifier could not be built from configuration.
#[derive(Debug, thiserror::Error)]
pub enum IapConfigError {
    /// The Apple root file holds no certificate.
    #[error("no certificate in the Apple root file")]
    NoRootCertificate,
    /// The Apple root file is not readable PEM.
    #[error("Apple root file: {0}")]
    BadRootPem(String),
    /// A root certificate cannot serve as a trust anchor.
    #[error("Apple root certificate: {0}")]
    BadRootCertificate(String),
    /// The Google service-account JSON is unreadable or lacks a field.
    #[error("Google service account: {0}")]
    BadServiceAccount(String),
    /// The service account's private key is not a usable RSA key.
    #[error("Google service account private key: {0}")]
    BadPrivateKey(String),
    /// A configured URL (`api_base`, `token_uri`) is not an http(s) URL.
    #[error("{what} {url:?} is not an http(s) URL")]
    BadUrl {
        /// Which setting.
        what: &'static str,
        /// Its value.
        url: String,
    },
    /// The Google package name is empty.
    #[error("Google package name is empty")]
    EmptyPackageName,
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    HttpClient(String),
}

/// Fixtures for tests here and in integration-test crates: a certificate chain shaped like
/// Apple's that signs StoreKit-style JWS, and a Google service account. Not for production
/// use (keys are generated per call or checked in).
#[doc(hidden)]
pub mod test_support {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, CustomExtension, DnType, IsCa,
        KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, date_time_ymd,
    };
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    use serde_json::{Value, json};

    /// A service-account JSON key file (RSA 2048, generated for tests only) whose
    /// `token_uri` is a placeholder: see [`google_account_json`].
    pub const GOOGLE_TEST_ACCOUNT: &str = include_str!("testdata/google-service-account.json");

    /// [`GOOGLE_TEST_ACCOUNT`] with its `token_uri` replaced.
    pub fn google_account_json(token_uri: &str) -> String {
        let mut account: Value =
            serde_json::from_str(GOOGLE_TEST_ACCOUNT).expect("test account is JSON");
        account["token_uri"] = Value::String(token_uri.to_owned());
        account.to_string()
    }

    /// A root CA, an intermediate CA and a P-256 leaf, shaped like Apple's StoreKit chain
    /// (P-384 CAs, the receipt-signing marker extensions); trust `root_pem` and sign with
    /// [`TestChain::sign`].
    pub struct TestChain {
        /// The root certificate, PEM: what `AppleVerifier::from_pem` trusts.
        pub root_pem: String,
        /// The leaf, intermediate and root certificates, DER, in `x5c` order.
        pub chain_der: Vec<Vec<u8>>,
        leaf_pkcs8: Vec<u8>,
    }

    impl TestChain {
        /// A fresh chain valid from 2000 to 2090; with `expired_leaf`, the leaf's validity
        /// ended in 2001.
        pub fn new(expired_leaf: bool) -> TestChain {
            TestChain::build(expired_leaf, true, true)
        }

        /// A chain whose leaf or intermediate may lack Apple's marker extension
        /// (`leaf_marker`, `intermediate_marker` false): verification must refuse it.
        pub fn build(
            expired_leaf: bool,
            leaf_marker: bool,
            intermediate_marker: bool,
        ) -> TestChain {
            let ca_params = |name: &str, path_len: Option<u8>| {
                let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
                p.distinguished_name.push(DnType::CommonName, name);
                p.distinguished_name
                    .push(DnType::OrganizationName, "Asobi Test");
                p.is_ca = match path_len {
                    Some(n) => IsCa::Ca(BasicConstraints::Constrained(n)),
                    None => IsCa::Ca(BasicConstraints::Unconstrained),
                };
                p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
                p.not_before = date_time_ymd(2000, 1, 1);
                p.not_after = date_time_ymd(2090, 1, 1);
                p
            };

            let root_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).expect("root key");
            let root =
                CertifiedIssuer::self_signed(ca_params("Asobi Test Root CA", None), root_key)
                    .expect("root certificate");

            let mut int_params = ca_params("Asobi Test Intermediate CA", Some(0));
            if intermediate_marker {
                int_params
                    .custom_extensions
                    .push(CustomExtension::from_oid_content(
                        &[1, 2, 840, 113635, 100, 6, 2, 1],
                        vec![0x05, 0x00],
                    ));
            }
            let int_key = KeyPair::generate_for(&PKCS_ECDSA_P384_SHA384).expect("int key");
            let intermediate =
                CertifiedIssuer::signed_by(int_params, int_key, &root).expect("intermediate");

            let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("leaf key");
            let mut leaf_params = CertificateParams::new(Vec::<String>::new()).expect("params");
            leaf_params
                .distinguished_name
                .push(DnType::CommonName, "Asobi Test Receipt Signing");
            leaf_params.is_ca = IsCa::ExplicitNoCa;
            leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            if leaf_marker {
                leaf_params
                    .custom_extensions
                    .push(CustomExtension::from_oid_content(
                        &[1, 2, 840, 113635, 100, 6, 11, 1],
                        vec![0x05, 0x00],
                    ));
            }
            if expired_leaf {
                leaf_params.not_before = date_time_ymd(2000, 1, 1);
                leaf_params.not_after = date_time_ymd(2001, 1, 1);
            } else {
                leaf_params.not_before = date_time_ymd(2000, 1, 1);
                leaf_params.not_after = date_time_ymd(2090, 1, 1);
            }
            let leaf = leaf_params
                .signed_by(&leaf_key, &intermediate)
                .expect("leaf certificate");

            TestChain {
                root_pem: root.pem(),
                chain_der: vec![
                    leaf.der().to_vec(),
                    intermediate.der().to_vec(),
                    root.der().to_vec(),
                ],
                leaf_pkcs8: leaf_key.serialize_der(),
            }
        }

        /// The `x5c` header value: standard base64 of each certificate.
        pub fn x5c(&self) -> Vec<String> {
            self.chain_der
                .iter()
                .map(|der| STANDARD.encode(der))
                .collect()
        }

        /// A compact JWS of `payload` signed ES256 by the leaf, header
        /// `{"alg":"ES256","x5c":[leaf, intermediate, root]}`.
        pub fn sign(&self, payload: &Value) -> String {
            self.sign_with_header(&json!({ "alg": "ES256", "x5c": self.x5c() }), payload)
        }

        /// A compact JWS with the given header, signed ES256 by the leaf whatever the
        /// header says.
        pub fn sign_with_header(&self, header: &Value, payload: &Value) -> String {
            let signing_input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(payload.to_string())
            );
            let rng = SystemRandom::new();
            let key =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.leaf_pkcs8, &rng)
                    .expect("leaf key");
            let sig = key.sign(&rng, signing_input.as_bytes()).expect("sign");
            format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
        }
    }
}
