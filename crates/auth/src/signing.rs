//! A key pair that signs RS256 tokens as an identity provider does: the gateway's
//! demo users sign in with one, and tests make their own.

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey, LineEnding};
use serde::Serialize;

/// An RSA key pair that signs RS256 tokens.
#[derive(Clone)]
pub struct SigningKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
    public_pem: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey")
    }
}

/// A key pair that could not be made, or a token that could not be signed.
#[derive(Debug, thiserror::Error)]
#[error("signing failed: {0}")]
pub struct SigningError(String);

impl SigningKey {
    /// A fresh 2048-bit key pair.
    pub fn generate() -> Result<Self, SigningError> {
        let error = |e: &dyn std::fmt::Display| SigningError(e.to_string());
        let private = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).map_err(|e| error(&e))?;
        let private_pem = private.to_pkcs1_pem(LineEnding::LF).map_err(|e| error(&e))?;
        let public_pem =
            private.to_public_key().to_pkcs1_pem(LineEnding::LF).map_err(|e| error(&e))?;
        Ok(Self {
            encoding: EncodingKey::from_rsa_pem(private_pem.as_bytes()).map_err(|e| error(&e))?,
            decoding: DecodingKey::from_rsa_pem(public_pem.as_bytes()).map_err(|e| error(&e))?,
            public_pem,
        })
    }

    /// The public key that verifies this key's tokens.
    pub fn decoding_key(&self) -> DecodingKey {
        self.decoding.clone()
    }

    /// The public key, PEM-encoded (PKCS#1).
    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }

    /// A token with exactly `claims` (any JSON object, so that tests can leave out
    /// or add claims), signed RS256.
    pub fn sign(&self, claims: &impl Serialize) -> Result<String, SigningError> {
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &self.encoding)
            .map_err(|e| SigningError(e.to_string()))
    }

    /// A token with exactly `claims`, signed RS256, naming this key `key_id` in its
    /// header, as an identity provider that publishes a JWKS does.
    pub fn sign_with_key_id(
        &self,
        key_id: &str,
        claims: &impl Serialize,
    ) -> Result<String, SigningError> {
        let header = Header { kid: Some(key_id.to_owned()), ..Header::new(Algorithm::RS256) };
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| SigningError(e.to_string()))
    }

    /// The public key as a JWK named `key_id`, for a JWKS document.
    pub fn jwk(&self, key_id: &str) -> Result<Jwk, SigningError> {
        let mut jwk = Jwk::from_encoding_key(&self.encoding, Algorithm::RS256)
            .map_err(|e| SigningError(e.to_string()))?;
        jwk.common.key_id = Some(key_id.to_owned());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(jwk)
    }
}
