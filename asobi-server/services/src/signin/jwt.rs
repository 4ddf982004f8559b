//! Compact JWS (RFC 7515) as ID tokens carry it: splitting, decoding, and checking the
//! signature against one JSON Web Key (RFC 7517) with ring. Only asymmetric algorithms are
//! accepted (`RS*`, `PS*`, `ES256`, `ES384`, `EdDSA`): `none` and the `HS*` family, which a
//! public key could be abused to forge, are refused by construction.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::Reason;

/// The longest token accepted; real ID tokens are 1–2 KiB.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// A decoded, not yet verified token.
#[derive(Debug)]
pub struct Token<'a> {
    /// `alg` of the header.
    pub alg: String,
    /// `kid` of the header, if any.
    pub kid: Option<String>,
    /// The claims.
    pub claims: Map<String, Value>,
    signed: &'a str,
    signature: Vec<u8>,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

impl<'a> Token<'a> {
    /// Splits and decodes `token` (`header.payload.signature`).
    pub fn decode(token: &'a str) -> Result<Token<'a>, (Reason, String)> {
        let malformed = |why: &str| (Reason::Malformed, why.to_owned());
        if token.len() > MAX_TOKEN_BYTES {
            return Err(malformed("token too long"));
        }
        let (signed, signature) = token
            .rsplit_once('.')
            .ok_or_else(|| malformed("not a compact JWS"))?;
        let (header, payload) = signed
            .split_once('.')
            .ok_or_else(|| malformed("not a compact JWS"))?;
        let bytes = |part: &str, what: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| malformed(&format!("{what} is not base64url")))
        };
        let header: Header = serde_json::from_slice(&bytes(header, "header")?)
            .map_err(|_| malformed("header is not a JWS header"))?;
        let claims: Map<String, Value> = serde_json::from_slice(&bytes(payload, "payload")?)
            .map_err(|_| malformed("payload is not a JSON object"))?;
        Ok(Token {
            alg: header.alg,
            kid: header.kid,
            claims,
            signed,
            signature: bytes(signature, "signature")?,
        })
    }

    /// Checks the signature with `key`.
    pub fn verify(&self, key: &Jwk) -> Result<(), (Reason, String)> {
        if key.alg.as_deref().is_some_and(|a| a != self.alg) {
            return Err((
                Reason::UnsupportedAlgorithm,
                format!("key is for {:?}, token says {}", key.alg, self.alg),
            ));
        }
        let bad = || (Reason::BadSignature, "signature does not verify".to_owned());
        let msg = self.signed.as_bytes();
        let sig = &self.signature;
        match (&key.material, self.alg.as_str()) {
            (Material::Rsa { n, e }, alg) => {
                let params: &signature::RsaParameters = match alg {
                    "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                    "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
                    "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
                    "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
                    "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
                    "PS512" => &signature::RSA_PSS_2048_8192_SHA512,
                    other => return Err(unsupported(other, "RSA")),
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, msg, sig)
                    .map_err(|_| bad())
            }
            (Material::Ec { curve, point }, alg) => {
                let params: &signature::EcdsaVerificationAlgorithm = match (curve.as_str(), alg) {
                    ("P-256", "ES256") => &signature::ECDSA_P256_SHA256_FIXED,
                    ("P-384", "ES384") => &signature::ECDSA_P384_SHA384_FIXED,
                    (_, other) => return Err(unsupported(other, curve)),
                };
                UnparsedPublicKey::new(params, point)
                    .verify(msg, sig)
                    .map_err(|_| bad())
            }
            (Material::Ed25519 { x }, "EdDSA") => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(msg, sig)
                .map_err(|_| bad()),
            (Material::Ed25519 { .. }, other) => Err(unsupported(other, "Ed25519")),
        }
    }
}

fn unsupported(alg: &str, key: &str) -> (Reason, String) {
    (
        Reason::UnsupportedAlgorithm,
        format!("{alg} with a {key} key"),
    )
}

/// One public key of a key set.
#[derive(Debug, Clone)]
pub struct Jwk {
    /// `kid`.
    pub kid: Option<String>,
    /// `alg`, when the key names one.
    pub alg: Option<String>,
    material: Material,
}

#[derive(Debug, Clone)]
enum Material {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ec { curve: String, point: Vec<u8> },
    Ed25519 { x: Vec<u8> },
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<Value>,
}

/// The signing keys of a JWK set document; keys of other kinds or uses are skipped, and a
/// document that is not a key set is an error.
pub fn parse_key_set(doc: &[u8]) -> Result<Vec<Jwk>, String> {
    let set: RawSet = serde_json::from_slice(doc).map_err(|e| format!("not a JWK set: {e}"))?;
    Ok(set
        .keys
        .into_iter()
        .filter_map(|k| serde_json::from_value::<RawJwk>(k).ok())
        .filter(|k| k.use_.as_deref().is_none_or(|u| u == "sig"))
        .filter_map(|k| {
            let b = |v: &Option<String>| v.as_deref().and_then(|s| URL_SAFE_NO_PAD.decode(s).ok());
            let material = match (k.kty.as_str(), k.crv.as_deref()) {
                ("RSA", _) => Material::Rsa {
                    n: b(&k.n)?,
                    e: b(&k.e)?,
                },
                ("EC", Some(curve @ ("P-256" | "P-384"))) => {
                    let (x, y) = (b(&k.x)?, b(&k.y)?);
                    let mut point = Vec::with_capacity(1 + x.len() + y.len());
                    point.push(0x04);
                    point.extend_from_slice(&x);
                    point.extend_from_slice(&y);
                    Material::Ec {
                        curve: curve.to_owned(),
                        point,
                    }
                }
                ("OKP", Some("Ed25519")) => Material::Ed25519 { x: b(&k.x)? },
                _ => return None,
            };
            Some(Jwk {
                kid: k.kid,
                alg: k.alg,
                material,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signin::test_support::TestKey;
    use serde_json::json;

    #[test]
    fn a_token_verifies_with_its_key_and_no_other() {
        for (key, other) in [
            (TestKey::rsa(0, "r1"), TestKey::rsa(1, "r2")),
            (TestKey::ec("e1"), TestKey::ec("e2")),
        ] {
            let token = key.sign(&json!({"sub": "s"}));
            let t = Token::decode(&token).unwrap();
            assert_eq!(t.kid.as_deref(), Some(key.kid.as_str()));
            let set = parse_key_set(
                json!({"keys": [key.jwk(), other.jwk()]})
                    .to_string()
                    .as_bytes(),
            )
            .unwrap();
            assert!(t.verify(&set[0]).is_ok());
            assert_eq!(t.verify(&set[1]).unwrap_err().0, Reason::BadSignature);
        }
    }

    #[test]
    fn symmetric_and_none_algorithms_and_junk_are_refused() {
        let key = TestKey::rsa(0, "r1");
        let set = parse_key_set(json!({"keys": [key.jwk()]}).to_string().as_bytes()).unwrap();
        for alg in ["none", "HS256"] {
            let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": "r1"}).to_string());
            let body = URL_SAFE_NO_PAD.encode(b"{\"sub\":\"x\"}");
            let token = format!("{header}.{body}.");
            let t = Token::decode(&token).unwrap();
            assert_eq!(
                t.verify(&set[0]).unwrap_err().0,
                Reason::UnsupportedAlgorithm
            );
        }
        for junk in ["", "a.b", "a.b.c", &"x".repeat(MAX_TOKEN_BYTES + 1)] {
            assert_eq!(Token::decode(junk).unwrap_err().0, Reason::Malformed);
        }
        assert!(parse_key_set(b"[]").is_err());
        let skipped = parse_key_set(
            br#"{"keys":[{"kty":"oct","k":"AA"},{"kty":"RSA","use":"enc","n":"AQ","e":"AQ"}]}"#,
        )
        .unwrap();
        assert!(skipped.is_empty());
    }
}
