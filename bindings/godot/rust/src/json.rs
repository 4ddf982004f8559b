//! JSON payloads as Godot Variants: objects become Dictionaries, arrays Arrays, integers
//! ints, other numbers floats.

use godot::prelude::*;
use serde_json::Value;

/// The Variant form of a JSON value.
pub fn to_variant(value: &Value) -> Variant {
    match value {
        Value::Null => Variant::nil(),
        Value::Bool(b) => b.to_variant(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_variant(),
            None => n.as_f64().unwrap_or(0.0).to_variant(),
        },
        Value::String(s) => GString::from(s.as_str()).to_variant(),
        Value::Array(items) => {
            let mut array = VarArray::new();
            for item in items {
                array.push(&to_variant(item));
            }
            array.to_variant()
        }
        Value::Object(map) => {
            let mut dict = VarDictionary::new();
            for (k, v) in map {
                dict.set(&GString::from(k.as_str()).to_variant(), &to_variant(v));
            }
            dict.to_variant()
        }
    }
}
