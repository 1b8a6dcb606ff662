//! The binary's authentication (interface.md section 2): turns a socket's
//! handshake into a user name and auth data, in `query` (development) or
//! `jwt` mode. Name rules (protocol.md 1.3) are the caller's business; this
//! module only finds and verifies the credential.

use std::collections::HashSet;
use std::fmt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::config::{AuthMode, Config, ConfigError, JwtKeySource};

/// Why a socket could not be authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credential was presented at all.
    #[error("no credentials")]
    Missing,
    /// A credential was presented but is not acceptable; the reason is
    /// short and meant for the client and the log (e.g. `token expired`).
    #[error("invalid credentials: {0}")]
    Invalid(String),
}

/// The authentication mode of `--auth`, ready to check handshakes.
#[derive(Clone)]
pub enum Authenticator {
    /// Development mode: the user name is whatever the client says.
    Query {
        /// Query parameters / auth payload fields holding the user name,
        /// the first one present wins.
        params: Vec<String>,
    },
    /// A signed JWT whose `sub` is the user name.
    Jwt(JwtVerifier),
}

/// Verifies JWTs with one key and the one algorithm that fits it.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    algorithm: Algorithm,
    // Boxed: it is most of the enum's size otherwise.
    validation: Box<Validation>,
}

// Hand-written: DecodingKey has no Debug, and an HS256 secret must not end
// up in a log anyway.
impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Authenticator::Query { params } => {
                f.debug_struct("Query").field("params", params).finish()
            }
            Authenticator::Jwt(verifier) => f.debug_tuple("Jwt").field(verifier).finish(),
        }
    }
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

const KEY_FILE_OPTION: &str = "--jwt-public-key-file";

/// Where `query` mode looks without `--auth-query-param`: `user`, then
/// `userName`, the parameter of the original's quickstart client
/// (interface.md 1), so that it logs in as written.
const DEFAULT_QUERY_PARAMS: [&str; 2] = ["user", "userName"];

impl Authenticator {
    /// Builds the authenticator `config` asks for. With a public key file,
    /// reads it and picks RS256 for an RSA key, ES256 for a P-256 EC key.
    /// (An RSA key shorter than 2048 bits loads but verifies nothing: the
    /// crypto backend refuses such keys.)
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        match config.auth {
            AuthMode::Query => Ok(Authenticator::Query {
                params: match &config.auth_query_param {
                    Some(param) => vec![param.clone()],
                    None => DEFAULT_QUERY_PARAMS.iter().map(|p| p.to_string()).collect(),
                },
            }),
            AuthMode::Jwt => {
                let (key, algorithm) = match config.jwt_key_source()? {
                    JwtKeySource::Secret(secret) => (
                        DecodingKey::from_secret(secret.as_bytes()),
                        Algorithm::HS256,
                    ),
                    JwtKeySource::PublicKeyFile(path) => load_public_key(path)?,
                };
                Ok(Authenticator::Jwt(JwtVerifier::new(key, algorithm)))
            }
        }
    }

    /// `query` mode: anyone can claim any name, so the binary warns.
    pub fn is_dev_mode(&self) -> bool {
        matches!(self, Authenticator::Query { .. })
    }

    /// Finds and checks the credential of a handshake: `req` is the HTTP
    /// request that opened the connection, `auth_payload` the socket.io v5
    /// `auth` object if the client sent one. Returns the user name (not yet
    /// checked against the name rule) and the auth data: `{}` in query
    /// mode, every claim but `sub` in jwt mode. Empty values count as
    /// absent.
    pub fn authenticate(
        &self,
        req: &Parts,
        auth_payload: Option<&Value>,
    ) -> Result<(String, Map<String, Value>), AuthError> {
        match self {
            Authenticator::Query { params } => {
                for param in params {
                    let name = match query_param(req, param) {
                        Some(name) => Some(name),
                        None => payload_field(auth_payload, param)?,
                    };
                    if let Some(name) = name {
                        return Ok((name, Map::new()));
                    }
                }
                Err(AuthError::Missing)
            }
            Authenticator::Jwt(verifier) => {
                let token = match payload_field(auth_payload, "token")? {
                    Some(token) => token,
                    None => query_param(req, "token")
                        .or_else(|| bearer_token(req))
                        .ok_or(AuthError::Missing)?,
                };
                verifier.verify(&token)
            }
        }
    }
}

impl JwtVerifier {
    fn new(key: DecodingKey, algorithm: Algorithm) -> Self {
        let mut validation = Validation::new(algorithm);
        // jsonwebtoken silently skips an `exp` or `nbf` it cannot parse as
        // an integer (a float, a string) and adds 60 s of leeway by
        // default; `verify` checks both claims itself instead, strictly.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.required_spec_claims = HashSet::new();
        // There is no audience option; with validate_aud on, any token
        // carrying `aud` would be refused.
        validation.validate_aud = false;
        JwtVerifier {
            key,
            algorithm,
            validation: Box::new(validation),
        }
    }

    fn verify(&self, token: &str) -> Result<(String, Map<String, Value>), AuthError> {
        let invalid = |reason: &str| AuthError::Invalid(reason.to_owned());

        // jsonwebtoken would refuse a foreign `alg` too, but only with a
        // parse error for `none`; reading it first gives a clear reason.
        let header = read_header(token).ok_or_else(|| invalid("malformed token"))?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("malformed token"))?;
        let expected = format!("{:?}", self.algorithm);
        if alg != expected {
            return Err(AuthError::Invalid(format!("algorithm {alg} not allowed")));
        }
        // RFC 7515 4.1.11: extensions listed as critical must be understood,
        // and this server understands none.
        if header.contains_key("crit") {
            return Err(invalid("unsupported critical header parameters"));
        }

        let mut claims =
            jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
                .map_err(|err| invalid(decode_error_reason(err.kind())))?
                .claims;

        // RFC 7519: the token is valid from `nbf` inclusive to `exp`
        // exclusive; no leeway.
        let now = now_seconds();
        if let Some(exp) = claims.get("exp") {
            let exp = exp.as_f64().ok_or_else(|| invalid("invalid exp claim"))?;
            if now >= exp {
                return Err(invalid("token expired"));
            }
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = nbf.as_f64().ok_or_else(|| invalid("invalid nbf claim"))?;
            if now < nbf {
                return Err(invalid("token not yet valid"));
            }
        }

        let name = match claims.remove("sub") {
            None | Some(Value::Null) => return Err(invalid("missing sub claim")),
            Some(Value::String(sub)) if sub.is_empty() => return Err(invalid("empty sub claim")),
            Some(Value::String(sub)) => sub,
            Some(_) => return Err(invalid("sub claim must be a string")),
        };
        Ok((name, claims))
    }
}

fn decode_error_reason(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidSignature | ErrorKind::Crypto(_) => "invalid signature",
        ErrorKind::InvalidAlgorithm => "algorithm not allowed",
        ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidKeyFormat => {
            "server key cannot verify this token"
        }
        _ => "malformed token",
    }
}

/// The header of a compact JWS, read before anything is verified.
fn read_header(token: &str) -> Option<Map<String, Value>> {
    let mut parts = token.split('.');
    let header = parts.next()?;
    let (Some(_payload), Some(_signature), None) = (parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let header = URL_SAFE_NO_PAD.decode(header).ok()?;
    serde_json::from_slice(&header).ok()
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// Reads a PEM public key and picks the one algorithm it can verify.
fn load_public_key(path: &Path) -> Result<(DecodingKey, Algorithm), ConfigError> {
    let invalid = |reason: String| {
        ConfigError::invalid(KEY_FILE_OPTION, format!("{}: {reason}", path.display()))
    };
    let pem = std::fs::read(path).map_err(|err| invalid(format!("cannot read: {err}")))?;
    let text = String::from_utf8_lossy(&pem);

    // jsonwebtoken would take a private key or a certificate as well and
    // then fail every verification; a clear refusal at start is kinder.
    match pem_label(&text) {
        Some("PUBLIC KEY") | Some("RSA PUBLIC KEY") => {}
        Some(label) => {
            return Err(invalid(format!(
                "expected a PEM public key (BEGIN PUBLIC KEY), found {label}"
            )));
        }
        None => return Err(invalid("not a PEM file".to_owned())),
    }

    if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
        return Ok((key, Algorithm::RS256));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
        // jsonwebtoken accepts any curve here, but ES256 only works with
        // P-256; another curve would reject every token.
        if !pem_der(&text).is_some_and(|der| contains(&der, P256_OID)) {
            return Err(invalid(
                "EC key is not on curve P-256, which ES256 requires".to_owned(),
            ));
        }
        return Ok((key, Algorithm::ES256));
    }
    Err(invalid("not an RSA or EC public key".to_owned()))
}

/// DER encoding of OID 1.2.840.10045.3.1.7 (prime256v1 / P-256), as it
/// appears in the SubjectPublicKeyInfo of a P-256 key.
const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The label X of the first `-----BEGIN X-----` line.
fn pem_label(text: &str) -> Option<&str> {
    text.lines().find_map(|line| {
        line.trim()
            .strip_prefix("-----BEGIN ")?
            .strip_suffix("-----")
    })
}

/// The decoded body of the first PEM block.
fn pem_der(text: &str) -> Option<Vec<u8>> {
    let body: String = text
        .lines()
        .map(str::trim)
        .skip_while(|line| !line.starts_with("-----BEGIN "))
        .skip(1)
        .take_while(|line| !line.starts_with("-----END "))
        .collect();
    STANDARD.decode(body).ok()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The first value of query parameter `name` of the handshake URI,
/// percent-decoded with `+` as space (form encoding, which is what
/// socket.io clients produce); empty counts as absent.
fn query_param(req: &Parts, name: &str) -> Option<String> {
    let query = req.uri.query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty())
}

/// Field `name` of the socket.io v5 `auth` payload. A payload that is not
/// an object carries no fields; a field that is there but not a string is
/// a bad credential rather than a missing one.
fn payload_field(payload: Option<&Value>, name: &str) -> Result<Option<String>, AuthError> {
    match payload.and_then(|payload| payload.get(name)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) if value.is_empty() => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(AuthError::Invalid(format!("{name} must be a string"))),
    }
}

/// The token of an `Authorization: Bearer` header (scheme case-insensitive,
/// RFC 7235); other schemes are not our credential.
fn bearer_token(req: &Parts) -> Option<String> {
    let value = req.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const RSA_PRIVATE: &[u8] = include_bytes!("../tests/fixtures/rsa_private.pem");
    const RSA_PUBLIC: &[u8] = include_bytes!("../tests/fixtures/rsa_public.pem");
    const EC_PRIVATE: &[u8] = include_bytes!("../tests/fixtures/ec_private.pem");

    fn fixture(name: &str) -> String {
        format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    fn config(args: &[&str]) -> Config {
        let mut argv = vec!["chat-service"];
        argv.extend_from_slice(args);
        Config::load_from(argv, &|_| None).unwrap()
    }

    fn authenticator(args: &[&str]) -> Authenticator {
        Authenticator::from_config(&config(args)).unwrap()
    }

    fn hs256() -> Authenticator {
        authenticator(&["--auth", "jwt", "--jwt-secret", "s3cret"])
    }

    fn rs256() -> Authenticator {
        authenticator(&[
            "--auth",
            "jwt",
            "--jwt-public-key-file",
            &fixture("rsa_public.pem"),
        ])
    }

    fn es256() -> Authenticator {
        authenticator(&[
            "--auth",
            "jwt",
            "--jwt-public-key-file",
            &fixture("ec_public.pem"),
        ])
    }

    fn parts(uri: &str, authorization: Option<&str>) -> Parts {
        let mut builder = axum::http::Request::builder().uri(uri);
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value);
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn now() -> i64 {
        now_seconds() as i64
    }

    fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
        jsonwebtoken::encode(&Header::new(alg), claims, key).unwrap()
    }

    fn hs(secret: &str, claims: &Value) -> String {
        sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(secret.as_bytes()),
            claims,
        )
    }

    fn with_payload(
        auth: &Authenticator,
        token: &str,
    ) -> Result<(String, Map<String, Value>), AuthError> {
        auth.authenticate(
            &parts("/socket.io/", None),
            Some(&json!({ "token": token })),
        )
    }

    fn invalid(reason: &str) -> Result<(String, Map<String, Value>), AuthError> {
        Err(AuthError::Invalid(reason.to_owned()))
    }

    fn name_of(result: Result<(String, Map<String, Value>), AuthError>) -> String {
        result.unwrap().0
    }

    // ---- query mode ----

    #[test]
    fn query_mode_is_dev_mode() {
        assert!(authenticator(&[]).is_dev_mode());
        assert!(!hs256().is_dev_mode());
    }

    #[test]
    fn query_param_is_percent_and_plus_decoded() {
        let auth = authenticator(&[]);
        let req = parts(
            "/socket.io/?EIO=3&transport=polling&user=J%C3%BCrgen+M%C3%BCller&t=N",
            None,
        );
        let (name, data) = auth.authenticate(&req, None).unwrap();
        assert_eq!(name, "Jürgen Müller");
        assert!(data.is_empty());

        let req = parts("/socket.io/?user=a%2Bb%3Ac", None);
        assert_eq!(
            name_of(auth.authenticate(&req, None)),
            "a+b:c",
            "raw, unchecked"
        );

        let req = parts("/socket.io/?user=first&user=second", None);
        assert_eq!(name_of(auth.authenticate(&req, None)), "first");
    }

    #[test]
    fn query_param_name_is_configurable() {
        let auth = authenticator(&["--auth-query-param", "login"]);
        let req = parts("/socket.io/?user=no&login=yes", None);
        assert_eq!(name_of(auth.authenticate(&req, None)), "yes");
        assert_eq!(
            name_of(auth.authenticate(&parts("/", None), Some(&json!({ "login": "p" })))),
            "p"
        );
    }

    #[test]
    fn default_query_mode_accepts_the_original_quickstarts_user_name_too() {
        let auth = authenticator(&[]);
        let quickstart = parts("/socket.io/?userName=user&token=token&EIO=4", None);
        assert_eq!(name_of(auth.authenticate(&quickstart, None)), "user");
        assert_eq!(
            name_of(auth.authenticate(&parts("/", None), Some(&json!({ "userName": "p" })))),
            "p"
        );
        // `user` wins, from the query or the payload, whatever the order.
        let both = parts("/socket.io/?userName=second&user=first", None);
        assert_eq!(name_of(auth.authenticate(&both, None)), "first");
        let payload = json!({ "user": "first" });
        assert_eq!(
            name_of(auth.authenticate(&quickstart, Some(&payload))),
            "first"
        );
        let empty = parts("/socket.io/?user=&userName=second", None);
        assert_eq!(name_of(auth.authenticate(&empty, None)), "second");
    }

    #[test]
    fn an_explicit_query_param_is_the_only_one() {
        let quickstart = parts("/socket.io/?userName=user&token=token", None);
        let flag = authenticator(&["--auth-query-param", "user"]);
        assert_eq!(
            flag.authenticate(&quickstart, None),
            Err(AuthError::Missing)
        );
        let env = Config::load_from(["chat-service"], &|name| {
            (name == "CHAT_SERVICE_AUTH_QUERY_PARAM").then(|| "user".to_owned())
        })
        .unwrap();
        let env = Authenticator::from_config(&env).unwrap();
        assert_eq!(env.authenticate(&quickstart, None), Err(AuthError::Missing));
        let named = authenticator(&["--auth-query-param", "userName"]);
        assert_eq!(name_of(named.authenticate(&quickstart, None)), "user");
        let other = parts("/socket.io/?user=u", None);
        assert_eq!(named.authenticate(&other, None), Err(AuthError::Missing));
    }

    #[test]
    fn query_mode_falls_back_to_auth_payload() {
        let auth = authenticator(&[]);
        let bare = parts("/socket.io/?EIO=4", None);
        let (name, data) = auth
            .authenticate(&bare, Some(&json!({ "user": "bob" })))
            .unwrap();
        assert_eq!(name, "bob");
        assert!(data.is_empty());

        let req = parts("/socket.io/?user=alice", None);
        assert_eq!(
            name_of(auth.authenticate(&req, Some(&json!({ "user": "bob" })))),
            "alice",
            "query parameter first"
        );

        let empty = parts("/socket.io/?user=", None);
        assert_eq!(
            name_of(auth.authenticate(&empty, Some(&json!({ "user": "bob" })))),
            "bob"
        );
        assert_eq!(
            auth.authenticate(&bare, Some(&json!({ "user": 123 }))),
            invalid("user must be a string")
        );
    }

    #[test]
    fn query_mode_missing() {
        let auth = authenticator(&[]);
        assert_eq!(
            auth.authenticate(&parts("/socket.io/", None), None),
            Err(AuthError::Missing)
        );
        assert_eq!(
            auth.authenticate(
                &parts("/socket.io/?user=", None),
                Some(&json!({ "user": "" }))
            ),
            Err(AuthError::Missing)
        );
        assert_eq!(
            auth.authenticate(&parts("/socket.io/?EIO=3", None), Some(&json!("bob"))),
            Err(AuthError::Missing),
            "a payload that is not an object has no fields"
        );
    }

    // ---- jwt: HS256 ----

    #[test]
    fn hs256_valid_returns_sub_and_other_claims() {
        let exp = now() + 3600;
        let token = hs(
            "s3cret",
            &json!({ "sub": "alice", "exp": exp, "role": "admin", "aud": "chat" }),
        );
        let (name, data) = with_payload(&hs256(), &token).unwrap();
        assert_eq!(name, "alice");
        let expected = json!({ "exp": exp, "role": "admin", "aud": "chat" });
        assert_eq!(Value::Object(data), expected);
    }

    #[test]
    fn hs256_without_exp_is_accepted() {
        let token = hs("s3cret", &json!({ "sub": "alice" }));
        assert_eq!(name_of(with_payload(&hs256(), &token)), "alice");
    }

    #[test]
    fn hs256_expired() {
        let token = hs("s3cret", &json!({ "sub": "alice", "exp": now() - 10 }));
        assert_eq!(with_payload(&hs256(), &token), invalid("token expired"));
        // No leeway: `exp` is the first instant the token is invalid.
        let token = hs("s3cret", &json!({ "sub": "alice", "exp": now() }));
        assert_eq!(with_payload(&hs256(), &token), invalid("token expired"));
        // A fractional `exp` is checked too, not skipped.
        let token = hs(
            "s3cret",
            &json!({ "sub": "alice", "exp": (now() - 10) as f64 + 0.5 }),
        );
        assert_eq!(with_payload(&hs256(), &token), invalid("token expired"));
        let token = hs("s3cret", &json!({ "sub": "alice", "exp": "never" }));
        assert_eq!(with_payload(&hs256(), &token), invalid("invalid exp claim"));
    }

    #[test]
    fn hs256_not_yet_valid() {
        let token = hs("s3cret", &json!({ "sub": "alice", "nbf": now() + 60 }));
        assert_eq!(
            with_payload(&hs256(), &token),
            invalid("token not yet valid")
        );
        let token = hs("s3cret", &json!({ "sub": "alice", "nbf": now() - 1 }));
        assert_eq!(name_of(with_payload(&hs256(), &token)), "alice");
    }

    #[test]
    fn hs256_wrong_secret() {
        let token = hs("other", &json!({ "sub": "alice" }));
        assert_eq!(with_payload(&hs256(), &token), invalid("invalid signature"));
    }

    #[test]
    fn alg_none_is_rejected() {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"alice"}"#);
        for token in [format!("{header}.{claims}."), format!("{header}.{claims}")] {
            for auth in [hs256(), rs256(), es256()] {
                let result = with_payload(&auth, &token);
                assert!(
                    matches!(&result, Err(AuthError::Invalid(r)) if r == "algorithm none not allowed" || r == "malformed token"),
                    "{result:?}"
                );
            }
        }
        let token = format!("{header}.{claims}.");
        assert_eq!(
            with_payload(&hs256(), &token),
            invalid("algorithm none not allowed")
        );
    }

    #[test]
    fn hs256_token_signed_with_the_public_key_is_rejected_by_rs256() {
        // The classic confusion attack: HMAC keyed with the public key PEM.
        let token = sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(RSA_PUBLIC),
            &json!({ "sub": "mallory" }),
        );
        assert_eq!(
            with_payload(&rs256(), &token),
            invalid("algorithm HS256 not allowed")
        );
    }

    #[test]
    fn rs256_token_is_rejected_by_hs256() {
        let key = EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap();
        let token = sign(Algorithm::RS256, &key, &json!({ "sub": "alice" }));
        assert_eq!(
            with_payload(&hs256(), &token),
            invalid("algorithm RS256 not allowed")
        );
    }

    #[test]
    fn bad_sub_claims() {
        let token = hs("s3cret", &json!({ "name": "alice" }));
        assert_eq!(with_payload(&hs256(), &token), invalid("missing sub claim"));
        let token = hs("s3cret", &json!({ "sub": 42 }));
        assert_eq!(
            with_payload(&hs256(), &token),
            invalid("sub claim must be a string")
        );
        let token = hs("s3cret", &json!({ "sub": "" }));
        assert_eq!(with_payload(&hs256(), &token), invalid("empty sub claim"));
    }

    #[test]
    fn malformed_tokens() {
        for token in ["abc", "a.b", "a.b.c.d", "!!.??.__"] {
            assert_eq!(
                with_payload(&hs256(), token),
                invalid("malformed token"),
                "{token}"
            );
        }
        // Valid header, garbage claims.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#);
        let token = format!("{header}.bm90IGpzb24.c2ln");
        assert!(matches!(
            with_payload(&hs256(), &token),
            Err(AuthError::Invalid(_))
        ));
    }

    #[test]
    fn critical_header_extensions_are_rejected() {
        let key = EncodingKey::from_secret(b"s3cret");
        for crit in [json!(["exp"]), json!(["b64"]), json!([])] {
            let header = URL_SAFE_NO_PAD
                .encode(json!({"alg": "HS256", "typ": "JWT", "crit": crit, "exp": 1}).to_string());
            let claims = URL_SAFE_NO_PAD.encode(json!({"sub": "alice"}).to_string());
            let input = format!("{header}.{claims}");
            let signature =
                jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256).unwrap();
            let token = format!("{input}.{signature}");
            assert_eq!(
                with_payload(&hs256(), &token),
                invalid("unsupported critical header parameters"),
                "{crit}"
            );
        }
    }

    // ---- jwt: RS256 / ES256 ----

    #[test]
    fn rs256_valid_and_wrong_key() {
        let key = EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap();
        let token = sign(
            Algorithm::RS256,
            &key,
            &json!({ "sub": "alice", "exp": now() + 60 }),
        );
        assert_eq!(name_of(with_payload(&rs256(), &token)), "alice");

        let pkcs1 = authenticator(&[
            "--auth",
            "jwt",
            "--jwt-public-key-file",
            &fixture("rsa_public_pkcs1.pem"),
        ]);
        assert_eq!(name_of(with_payload(&pkcs1, &token)), "alice");

        let other = authenticator(&[
            "--auth",
            "jwt",
            "--jwt-public-key-file",
            &fixture("rsa_other_public.pem"),
        ]);
        assert_eq!(with_payload(&other, &token), invalid("invalid signature"));
        assert_eq!(
            with_payload(&es256(), &token),
            invalid("algorithm RS256 not allowed")
        );
    }

    #[test]
    fn es256_valid_and_wrong_key() {
        let key = EncodingKey::from_ec_pem(EC_PRIVATE).unwrap();
        let token = sign(
            Algorithm::ES256,
            &key,
            &json!({ "sub": "alice", "team": 7 }),
        );
        let (name, data) = with_payload(&es256(), &token).unwrap();
        assert_eq!(name, "alice");
        assert_eq!(Value::Object(data), json!({ "team": 7 }));

        let other = authenticator(&[
            "--auth",
            "jwt",
            "--jwt-public-key-file",
            &fixture("ec_other_public.pem"),
        ]);
        assert_eq!(with_payload(&other, &token), invalid("invalid signature"));
        assert_eq!(
            with_payload(&rs256(), &token),
            invalid("algorithm ES256 not allowed")
        );
    }

    #[test]
    fn es256_expired() {
        let key = EncodingKey::from_ec_pem(EC_PRIVATE).unwrap();
        let token = sign(
            Algorithm::ES256,
            &key,
            &json!({ "sub": "alice", "exp": now() - 1 }),
        );
        assert_eq!(with_payload(&es256(), &token), invalid("token expired"));
    }

    // ---- where the token comes from ----

    #[test]
    fn token_from_each_place_in_order() {
        let auth = hs256();
        let t = |sub: &str| hs("s3cret", &json!({ "sub": sub }));
        let payload = json!({ "token": t("from-payload") });
        let query = format!("/socket.io/?EIO=4&token={}", t("from-query"));
        let header = format!("Bearer {}", t("from-header"));

        let all = parts(&query, Some(&header));
        assert_eq!(
            name_of(auth.authenticate(&all, Some(&payload))),
            "from-payload"
        );
        assert_eq!(name_of(auth.authenticate(&all, None)), "from-query");
        assert_eq!(
            name_of(auth.authenticate(&all, Some(&json!({ "other": 1 })))),
            "from-query"
        );
        let header_only = parts("/socket.io/?EIO=4", Some(&header));
        assert_eq!(
            name_of(auth.authenticate(&header_only, None)),
            "from-header"
        );
        let lower = format!("bearer  {}", t("from-header"));
        assert_eq!(
            name_of(auth.authenticate(&parts("/", Some(&lower)), None)),
            "from-header"
        );
        let payload_only = parts("/socket.io/", None);
        assert_eq!(
            name_of(auth.authenticate(&payload_only, Some(&payload))),
            "from-payload"
        );
    }

    #[test]
    fn missing_token() {
        let auth = hs256();
        assert_eq!(
            auth.authenticate(&parts("/socket.io/", None), None),
            Err(AuthError::Missing)
        );
        assert_eq!(
            auth.authenticate(
                &parts("/socket.io/?token=", Some("Basic dTpw")),
                Some(&json!({}))
            ),
            Err(AuthError::Missing)
        );
        assert_eq!(
            auth.authenticate(
                &parts("/", Some("Bearer ")),
                Some(&json!({ "token": null }))
            ),
            Err(AuthError::Missing)
        );
        assert_eq!(
            auth.authenticate(&parts("/", None), Some(&json!({ "token": 5 }))),
            invalid("token must be a string")
        );
    }

    // ---- construction ----

    fn key_file_error(path: &str) -> String {
        let config = config(&["--auth", "jwt", "--jwt-public-key-file", path]);
        let message = Authenticator::from_config(&config).unwrap_err().to_string();
        assert!(!message.contains('\n'), "{message}");
        message
    }

    #[test]
    fn key_file_errors() {
        let m = key_file_error("/nonexistent/key.pem");
        assert!(
            m.starts_with(
                "invalid value for --jwt-public-key-file: /nonexistent/key.pem: cannot read: "
            ),
            "{m}"
        );
        let path = fixture("rsa_private.pem");
        assert_eq!(
            key_file_error(&path),
            format!(
                "invalid value for --jwt-public-key-file: {path}: \
                 expected a PEM public key (BEGIN PUBLIC KEY), found PRIVATE KEY"
            )
        );
        let path = fixture("README.md");
        assert_eq!(
            key_file_error(&path),
            format!("invalid value for --jwt-public-key-file: {path}: not a PEM file")
        );
        let path = fixture("ec_p384_public.pem");
        assert_eq!(
            key_file_error(&path),
            format!(
                "invalid value for --jwt-public-key-file: {path}: \
                 EC key is not on curve P-256, which ES256 requires"
            )
        );
    }

    #[test]
    fn from_config_checks_the_key_choice_itself() {
        let mut config = config(&[]);
        config.auth = AuthMode::Jwt;
        assert_eq!(
            Authenticator::from_config(&config).unwrap_err().to_string(),
            "invalid value for --auth: jwt requires --jwt-secret or --jwt-public-key-file"
        );
    }

    #[test]
    fn detected_algorithms_and_debug_without_secret() {
        let debug = format!("{:?}", hs256());
        assert!(
            debug.contains("HS256") && !debug.contains("s3cret"),
            "{debug}"
        );
        assert!(format!("{:?}", rs256()).contains("RS256"));
        assert!(format!("{:?}", es256()).contains("ES256"));
    }
}
