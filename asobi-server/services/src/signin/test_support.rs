//! Signing keys for tests of sign-in: an identity provider stands in for Google, Apple and the
//! rest by publishing these keys' JWKs and signing ID tokens with them. RSA keys come from
//! fixtures (ring cannot generate RSA keys); EC keys are generated.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents,
};
use serde_json::{Value, json};

/// The RSA fixtures (PKCS#1 DER, 2048 bits).
const RSA_KEYS: [&[u8]; 2] = [
    include_bytes!("testdata/rsa-1.der"),
    include_bytes!("testdata/rsa-2.der"),
];

/// A signing key with its key id.
pub struct TestKey {
    /// `kid` in the JWK and in the tokens it signs.
    pub kid: String,
    pair: Pair,
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl TestKey {
    /// RSA fixture `index` (0 or 1), signing RS256.
    ///
    /// # Panics
    /// On an index past the fixtures (a test bug).
    pub fn rsa(index: usize, kid: &str) -> TestKey {
        let pair = RsaKeyPair::from_der(RSA_KEYS[index]).expect("RSA fixture parses");
        TestKey {
            kid: kid.to_owned(),
            pair: Pair::Rsa(pair),
        }
    }

    /// A fresh P-256 key, signing ES256.
    ///
    /// # Panics
    /// If ring cannot generate a key (no system randomness).
    pub fn ec(kid: &str) -> TestKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("P-256 key generates");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("generated key parses");
        TestKey {
            kid: kid.to_owned(),
            pair: Pair::Ec(pair),
        }
    }

    /// The `alg` this key signs with.
    pub fn alg(&self) -> &'static str {
        match self.pair {
            Pair::Rsa(_) => "RS256",
            Pair::Ec(_) => "ES256",
        }
    }

    /// The public JWK, as a provider's `jwks_uri` lists it.
    pub fn jwk(&self) -> Value {
        let b = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        match &self.pair {
            Pair::Rsa(p) => {
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(p.public());
                json!({"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": b(&c.n), "e": b(&c.e)})
            }
            Pair::Ec(p) => {
                let point = p.public_key().as_ref();
                json!({"kty": "EC", "kid": self.kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                       "x": b(&point[1..33]), "y": b(&point[33..65])})
            }
        }
    }

    /// A compact JWS of `claims` with this key's `alg` and `kid`.
    ///
    /// # Panics
    /// If ring fails to sign (it does not with these keys).
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": self.alg(), "kid": self.kid, "typ": "JWT"});
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let rng = SystemRandom::new();
        let signature = match &self.pair {
            Pair::Rsa(p) => {
                let mut sig = vec![0; p.public().modulus_len()];
                p.sign(&RSA_PKCS1_SHA256, &rng, signed.as_bytes(), &mut sig)
                    .expect("RSA signs");
                sig
            }
            Pair::Ec(p) => p
                .sign(&rng, signed.as_bytes())
                .expect("ECDSA signs")
                .as_ref()
                .to_vec(),
        };
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}
