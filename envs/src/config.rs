//! Env configs: Gymnasium's `make` kwargs, typed per env, accepted from Rust, JSON or `key=value,...` strings.
//!
//! `"g=9.81,max_episode_steps=300"` and `"desc=[\"SFF\",\"FHF\",\"FFG\"],is_slippery=False"` both parse;
//! values are read as JSON where they are JSON, Python's `True`/`False`/`None` are accepted, and anything else
//! is a bare string. Each env reads its keys through [`ConfigReader`], which rejects unknown keys and values of
//! the wrong type with the list of valid keys.

use crate::error::{clip, clip_json, Error, Result};
use serde_json::Value;
use std::str::FromStr;

/// Gymnasium's `TimeLimit` kwarg, which every env accepts and which must be at least 1.
pub const MAX_EPISODE_STEPS: &str = "max_episode_steps";

/// An ordered set of env kwargs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EnvConfig {
    entries: Vec<(String, Value)>,
}

impl EnvConfig {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` (replacing an earlier value) and returns the config, for chaining.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.set(key, value.into());
        self
    }

    /// Sets `key`, replacing an earlier value.
    pub fn set(&mut self, key: &str, value: Value) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key.to_string(), value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The config as a JSON object.
    pub fn to_json(&self) -> Value {
        Value::Object(self.entries.iter().cloned().collect())
    }

    /// A config from a JSON object (`{}` and `null` give the empty config).
    pub fn from_json(value: &Value) -> Result<Self> {
        match value {
            Value::Null => Ok(Self::new()),
            Value::Object(map) => Ok(Self { entries: map.iter().map(|(k, v)| (k.clone(), v.clone())).collect() }),
            other => Err(Error::ConfigSyntax(format!("expected a JSON object, got {}", clip_json(other)))),
        }
    }
}

impl FromStr for EnvConfig {
    type Err = Error;

    /// Parses `key=value,key=value`; commas inside brackets or quotes do not split.
    fn from_str(s: &str) -> Result<Self> {
        let mut config = EnvConfig::new();
        for item in split_top_level(s)? {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let (key, raw) = item
                .split_once('=')
                .ok_or_else(|| Error::ConfigSyntax(format!("`{}` is not of the form key=value", clip(item))))?;
            let key = key.trim();
            if key.is_empty() {
                return Err(Error::ConfigSyntax(format!("`{}` has an empty key", clip(item))));
            }
            config.set(key, parse_value(raw.trim()));
        }
        Ok(config)
    }
}

fn split_top_level(s: &str) -> Result<Vec<&str>> {
    let (mut depth, mut quote, mut start) = (0i32, None::<char>, 0usize);
    let mut parts = Vec::new();
    for (i, ch) in s.char_indices() {
        match (quote, ch) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(ch),
            (None, '[' | '{' | '(') => depth += 1,
            (None, ']' | '}' | ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return Err(Error::ConfigSyntax(format!("unbalanced brackets in `{}`", clip(s))));
        }
    }
    if depth != 0 || quote.is_some() {
        return Err(Error::ConfigSyntax(format!("unbalanced brackets or quotes in `{}`", clip(s))));
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn parse_value(raw: &str) -> Value {
    match raw {
        "True" => return Value::Bool(true),
        "False" => return Value::Bool(false),
        "None" => return Value::Null,
        _ => {}
    }
    if let Ok(v) = serde_json::from_str::<Value>(raw) {
        return v;
    }
    // Python-style single-quoted strings and lists: ['SFF', 'FHF'].
    if let Ok(v) = serde_json::from_str::<Value>(&raw.replace('\'', "\"")) {
        return v;
    }
    Value::String(raw.to_string())
}

/// Reads an env's typed keys out of an [`EnvConfig`], remembering which keys are valid.
pub struct ConfigReader<'a> {
    env: &'a str,
    config: &'a EnvConfig,
    valid: Vec<&'static str>,
    defaults: Vec<(&'static str, String)>,
}

thread_local! {
    /// The keys and defaults of the last config read to completion on this thread (for `myriad envs`).
    static LAST_KEYS: std::cell::RefCell<Vec<(&'static str, String)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The keys (with their defaults) that the last successful `ConfigReader::finish` on this thread accepted.
pub(crate) fn last_keys() -> Vec<(&'static str, String)> {
    LAST_KEYS.with(|k| k.borrow().clone())
}

impl<'a> ConfigReader<'a> {
    pub fn new(env: &'a str, config: &'a EnvConfig) -> Self {
        Self { env, config, valid: Vec::new(), defaults: Vec::new() }
    }

    fn bad(&self, key: &str, reason: impl Into<String>) -> Error {
        Error::BadConfigValue { env: clip(self.env), key: clip(key), reason: reason.into() }
    }

    fn take_with_default(&mut self, key: &'static str, default: impl std::fmt::Debug) -> Option<&'a Value> {
        self.defaults.push((key, format!("{default:?}")));
        self.take(key)
    }

    fn take(&mut self, key: &'static str) -> Option<&'a Value> {
        if !self.defaults.iter().any(|(k, _)| *k == key) {
            self.defaults.push((key, "None".into()));
        }
        self.valid.push(key);
        self.config.get(key).filter(|v| !v.is_null())
    }

    /// A finite float.
    pub fn f32(&mut self, key: &'static str, default: f32) -> Result<f32> {
        match self.take_with_default(key, default) {
            None => Ok(default),
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() => Ok(x as f32),
                _ => Err(self.bad(key, format!("expected a finite number, got {}", clip_json(v)))),
            },
        }
    }

    /// A float that must be strictly positive.
    pub fn positive_f32(&mut self, key: &'static str, default: f32) -> Result<f32> {
        let x = self.f32(key, default)?;
        if x > 0.0 {
            Ok(x)
        } else {
            Err(self.bad(key, format!("must be > 0, got {x}")))
        }
    }

    pub fn bool(&mut self, key: &'static str, default: bool) -> Result<bool> {
        match self.take_with_default(key, default) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.bad(key, format!("expected true or false, got {}", clip_json(v)))),
        }
    }

    /// A non-negative integer, if given. `max_episode_steps` must be at least 1 (Gymnasium's `TimeLimit` rejects
    /// 0), whichever env reads it.
    pub fn u32_opt(&mut self, key: &'static str) -> Result<Option<u32>> {
        match self.take(key) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(0) if key == MAX_EPISODE_STEPS => Err(self.bad(key, "must be at least 1, got 0")),
                Some(x) if x <= u32::MAX as u64 => Ok(Some(x as u32)),
                _ => Err(self.bad(key, format!("expected a non-negative integer, got {}", clip_json(v)))),
            },
        }
    }

    pub fn string_opt(&mut self, key: &'static str) -> Result<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.bad(key, format!("expected a string, got {}", clip_json(v)))),
        }
    }

    /// A list of strings, if given.
    pub fn strings_opt(&mut self, key: &'static str) -> Result<Option<Vec<String>>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| self.bad(key, "expected a list of strings")),
            Some(v) => Err(self.bad(key, format!("expected a list of strings, got {}", clip_json(v)))),
        }
    }

    /// A list of numbers, if given.
    pub fn floats_opt(&mut self, key: &'static str) -> Result<Option<Vec<f32>>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_f64().filter(|x| x.is_finite()).map(|x| x as f32))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or_else(|| self.bad(key, "expected a list of finite numbers")),
            Some(v) => Err(self.bad(key, format!("expected a list of numbers, got {}", clip_json(v)))),
        }
    }

    /// An error value for `key`, for checks that span several keys.
    pub fn error(&self, key: &str, reason: impl Into<String>) -> Error {
        self.bad(key, reason)
    }

    /// Fails on any key that no getter asked for.
    pub fn finish(self) -> Result<()> {
        LAST_KEYS.with(|k| *k.borrow_mut() = self.defaults.clone());
        for key in self.config.keys() {
            if !self.valid.contains(&key) {
                let mut valid: Vec<String> = self.valid.iter().map(|s| s.to_string()).collect();
                valid.sort();
                return Err(Error::UnknownConfigKey { env: clip(self.env), key: clip(key), valid });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_value_strings() {
        let c: EnvConfig = "g=9.81, is_slippery=False,desc=['SF','FG'],map_name=8x8,n=3".parse().unwrap();
        assert_eq!(c.get("g"), Some(&Value::from(9.81)));
        assert_eq!(c.get("is_slippery"), Some(&Value::Bool(false)));
        assert_eq!(c.get("desc"), Some(&serde_json::json!(["SF", "FG"])));
        assert_eq!(c.get("map_name"), Some(&Value::from("8x8")));
        assert_eq!(c.get("n"), Some(&Value::from(3)));
        assert!("".parse::<EnvConfig>().unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_syntax() {
        assert!(matches!("g".parse::<EnvConfig>(), Err(Error::ConfigSyntax(_))));
        assert!(matches!("desc=[1,2".parse::<EnvConfig>(), Err(Error::ConfigSyntax(_))));
    }

    #[test]
    fn reader_rejects_unknown_keys_and_bad_types() {
        let c: EnvConfig = "g=abc".parse().unwrap();
        let mut r = ConfigReader::new("Pendulum-v1", &c);
        let err = r.f32("g", 10.0).unwrap_err();
        assert!(err.to_string().contains("expected a finite number"), "{err}");

        let c: EnvConfig = "gee=1".parse().unwrap();
        let mut r = ConfigReader::new("Pendulum-v1", &c);
        r.f32("g", 10.0).unwrap();
        let err = r.finish().unwrap_err();
        assert!(err.to_string().contains("valid keys: `g`"), "{err}");
    }

    #[test]
    fn max_episode_steps_must_be_at_least_one() {
        let c: EnvConfig = "max_episode_steps=0".parse().unwrap();
        let err = ConfigReader::new("CartPole-v1", &c).u32_opt("max_episode_steps").unwrap_err();
        assert!(matches!(&err, Error::BadConfigValue { key, .. } if key == "max_episode_steps"), "{err:?}");
        assert!(err.to_string().contains("`max_episode_steps`: must be at least 1"), "{err}");
        let c: EnvConfig = "max_episode_steps=1,frameskip=0".parse().unwrap();
        let mut r = ConfigReader::new("CartPole-v1", &c);
        assert_eq!(r.u32_opt("max_episode_steps").unwrap(), Some(1));
        // Other integer keys keep 0 (whether 0 is valid is each env's business).
        assert_eq!(r.u32_opt("frameskip").unwrap(), Some(0));
    }

    #[test]
    fn long_keys_and_values_are_clipped_in_errors() {
        let long = "y".repeat(5_000);
        let c = EnvConfig::new().with("g", long.as_str()).with(&long, 1);
        let mut r = ConfigReader::new("Pendulum-v1", &c);
        let err = r.f32("g", 10.0).unwrap_err().to_string();
        assert!(err.len() < 400 && err.contains("…"), "{err}");
        let err = r.finish().unwrap_err().to_string();
        assert!(err.len() < 400 && err.contains("…"), "{err}");
        let err = format!("{long}=[1").parse::<EnvConfig>().unwrap_err().to_string();
        assert!(err.len() < 400 && err.contains("…"), "{err}");
    }
}
