//! Schema files -> validated model. Every error names the file and the field
//! path (`fetch.json: response.responses.partitions.records: ...`) because
//! schema files are written by hand and a typo must be easy to find.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct RawApi {
    api_key: i16,
    name: String,
    versions: String,
    flexible_versions: String,
    #[serde(default)]
    about: Option<String>,
    request: RawSide,
    response: RawSide,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct RawSide {
    fields: Vec<RawField>,
    #[serde(default)]
    common_structs: Vec<RawStruct>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct RawStruct {
    name: String,
    fields: Vec<RawField>,
    #[serde(default)]
    about: Option<String>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
struct RawField {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    versions: String,
    #[serde(default)]
    nullable_versions: Option<String>,
    #[serde(default)]
    tag: Option<u32>,
    #[serde(default)]
    tagged_versions: Option<String>,
    #[serde(default)]
    default: Option<Value>,
    #[serde(default)]
    about: Option<String>,
    #[serde(default)]
    fields: Option<Vec<RawField>>,
    #[serde(flatten)]
    extra: BTreeMap<String, Value>,
}

/// An inclusive version range; `lo > hi` is the empty range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub lo: i16,
    pub hi: i16,
}

impl Range {
    pub const NONE: Range = Range { lo: 1, hi: 0 };

    pub fn parse(s: &str) -> Result<Range, String> {
        let s = s.trim();
        let num = |t: &str| -> Result<i16, String> {
            t.trim()
                .parse::<i16>()
                .ok()
                .filter(|v| *v >= 0)
                .ok_or_else(|| {
                    format!("bad version range {s:?} (expected \"N+\", \"N-M\", \"N\" or \"none\")")
                })
        };
        if s == "none" {
            Ok(Range::NONE)
        } else if let Some(a) = s.strip_suffix('+') {
            Ok(Range {
                lo: num(a)?,
                hi: i16::MAX,
            })
        } else if let Some((a, b)) = s.split_once('-') {
            let r = Range {
                lo: num(a)?,
                hi: num(b)?,
            };
            if r.lo > r.hi {
                return Err(format!("bad version range {s:?}: start after end"));
            }
            Ok(r)
        } else {
            let v = num(s)?;
            Ok(Range { lo: v, hi: v })
        }
    }

    pub fn contains(&self, v: i16) -> bool {
        self.lo <= v && v <= self.hi
    }

    pub fn is_empty(&self) -> bool {
        self.lo > self.hi
    }
}

/// A set of versions within the API's supported range, one flag per version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VSet {
    pub min: i16,
    pub bits: Vec<bool>,
}

impl VSet {
    pub fn from_range(r: Range, min: i16, max: i16) -> VSet {
        VSet {
            min,
            bits: (min..=max).map(|v| r.contains(v)).collect(),
        }
    }
    pub fn and(&self, o: &VSet) -> VSet {
        VSet {
            min: self.min,
            bits: self
                .bits
                .iter()
                .zip(&o.bits)
                .map(|(a, b)| *a && *b)
                .collect(),
        }
    }
    pub fn and_not(&self, o: &VSet) -> VSet {
        VSet {
            min: self.min,
            bits: self
                .bits
                .iter()
                .zip(&o.bits)
                .map(|(a, b)| *a && !*b)
                .collect(),
        }
    }
    pub fn all(&self) -> bool {
        self.bits.iter().all(|b| *b)
    }
    pub fn none(&self) -> bool {
        !self.bits.iter().any(|b| *b)
    }
    pub fn subset_of(&self, o: &VSet) -> bool {
        self.bits.iter().zip(&o.bits).all(|(a, b)| !*a || *b)
    }
    /// A boolean Rust expression over `version` that is true exactly in this set
    /// (for versions inside the API range; outside it callers never ask).
    pub fn expr(&self) -> String {
        if self.all() {
            return "true".into();
        }
        if self.none() {
            return "false".into();
        }
        let max = self.min + self.bits.len() as i16 - 1;
        let mut parts = Vec::new();
        let mut i = 0;
        while i < self.bits.len() {
            if !self.bits[i] {
                i += 1;
                continue;
            }
            let mut j = i;
            while j + 1 < self.bits.len() && self.bits[j + 1] {
                j += 1;
            }
            let lo = self.min + i as i16;
            let hi = self.min + j as i16;
            parts.push(if lo == hi {
                format!("version == {lo}")
            } else if lo == self.min {
                format!("version <= {hi}")
            } else if hi == max {
                format!("version >= {lo}")
            } else {
                format!("({lo}..={hi}).contains(&version)")
            });
            i = j + 1;
        }
        parts.join(" || ")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    Bool,
    I8,
    I16,
    U16,
    I32,
    U32,
    I64,
    F64,
    Str,
    Bytes,
    Uuid,
    Records,
    Array(Box<Ty>),
    Struct(String),
}

impl Ty {
    fn primitive(s: &str) -> Option<Ty> {
        Some(match s {
            "bool" => Ty::Bool,
            "int8" => Ty::I8,
            "int16" => Ty::I16,
            "uint16" => Ty::U16,
            "int32" => Ty::I32,
            "uint32" => Ty::U32,
            "int64" => Ty::I64,
            "float64" => Ty::F64,
            "string" => Ty::Str,
            "bytes" => Ty::Bytes,
            "uuid" => Ty::Uuid,
            "records" => Ty::Records,
            _ => return None,
        })
    }

    pub fn is_int(&self) -> bool {
        matches!(
            self,
            Ty::I8 | Ty::I16 | Ty::U16 | Ty::I32 | Ty::U32 | Ty::I64
        )
    }

    /// Types whose Rust form can be `Option<..>` (nullable on the wire).
    fn nullable_ok(&self) -> bool {
        matches!(
            self,
            Ty::Str | Ty::Bytes | Ty::Records | Ty::Array(_) | Ty::Struct(_)
        )
    }
}

/// A field's default as a typed literal.
#[derive(Clone, Debug, PartialEq)]
pub enum Default {
    /// The Rust type's own default (0, false, "", empty, nil, None).
    Trivial,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
}

#[derive(Clone, Debug)]
pub struct Field {
    pub name: String,
    pub ty: Ty,
    /// `Option<..>` in Rust (nullable in some version, or a records field).
    pub optional: bool,
    pub present: VSet,
    pub nullable: VSet,
    pub tag: Option<u32>,
    pub tagged: VSet,
    pub default: Default,
    pub about: String,
    pub versions_text: String,
}

#[derive(Clone, Debug)]
pub struct Struct {
    pub name: String,
    pub about: String,
    pub fields: Vec<Field>,
}

#[derive(Clone, Debug)]
pub struct Side {
    /// The top-level struct first, then nested ones in order of appearance.
    pub structs: Vec<Struct>,
}

#[derive(Clone, Debug)]
pub struct Api {
    pub key: i16,
    pub name: String,
    pub module: String,
    pub min: i16,
    pub max: i16,
    pub flexible: Range,
    pub about: String,
    pub request: Side,
    pub response: Side,
}

pub fn snake_case(camel: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = camel.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower =
                i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if i > 0 && (prev_lower || (prev_upper && next_lower)) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(*c);
        }
    }
    out
}

fn is_snake(s: &str) -> bool {
    let mut it = s.chars();
    matches!(it.next(), Some('a'..='z'))
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_camel(s: &str) -> bool {
    let mut it = s.chars();
    matches!(it.next(), Some('A'..='Z')) && s.chars().all(|c| c.is_ascii_alphanumeric())
}

struct Ctx<'a> {
    file: &'a str,
    min: i16,
    max: i16,
    flexible: VSet,
    errors: &'a mut Vec<String>,
    warnings: &'a mut Vec<String>,
}

impl Ctx<'_> {
    fn err(&mut self, path: &str, msg: impl std::fmt::Display) {
        self.errors
            .push(format!("{}: {}: {}", self.file, path, msg));
    }
    fn extra(&mut self, path: &str, extra: &BTreeMap<String, Value>) {
        for k in extra.keys() {
            self.warnings.push(format!(
                "{}: {}: unknown key {k:?} ignored",
                self.file, path
            ));
        }
    }
    fn range(&mut self, path: &str, what: &str, s: &str) -> VSet {
        match Range::parse(s) {
            Ok(r) => VSet::from_range(r, self.min, self.max),
            Err(e) => {
                self.err(path, format!("{what}: {e}"));
                VSet::from_range(Range::NONE, self.min, self.max)
            }
        }
    }
}

/// Parses and validates one schema file. Errors and warnings are pushed with
/// the file name and field path.
pub fn load(
    file: &str,
    text: &str,
    errors: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Option<Api> {
    let raw: RawApi = match serde_json::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            errors.push(format!("{file}: not a valid schema file: {e}"));
            return None;
        }
    };
    let stem = file.trim_end_matches(".json");
    if !is_camel(&raw.name) {
        errors.push(format!("{file}: name {:?} is not CamelCase", raw.name));
        return None;
    }
    let module = snake_case(&raw.name);
    if module != stem {
        errors.push(format!(
            "{file}: file is named {stem:?} but the API name {:?} asks for {module}.json",
            raw.name
        ));
    }
    let versions = match Range::parse(&raw.versions) {
        Ok(r) if !r.is_empty() && r.hi != i16::MAX => r,
        Ok(_) => {
            errors.push(format!(
                "{file}: versions {:?} must be a closed range such as \"0-4\"",
                raw.versions
            ));
            return None;
        }
        Err(e) => {
            errors.push(format!("{file}: versions: {e}"));
            return None;
        }
    };
    let flexible = match Range::parse(&raw.flexible_versions) {
        Ok(r) => r,
        Err(e) => {
            errors.push(format!("{file}: flexible_versions: {e}"));
            return None;
        }
    };
    let mut ctx = Ctx {
        file,
        min: versions.lo,
        max: versions.hi,
        flexible: VSet::from_range(flexible, versions.lo, versions.hi),
        errors,
        warnings,
    };
    ctx.extra("(top level)", &raw.extra);
    let request = side(
        &mut ctx,
        "request",
        &format!("{}Request", raw.name),
        raw.request,
    );
    let response = side(
        &mut ctx,
        "response",
        &format!("{}Response", raw.name),
        raw.response,
    );
    Some(Api {
        key: raw.api_key,
        name: raw.name,
        module,
        min: versions.lo,
        max: versions.hi,
        flexible,
        about: raw.about.unwrap_or_default(),
        request,
        response,
    })
}

fn side(ctx: &mut Ctx, side_name: &str, top: &str, raw: RawSide) -> Side {
    ctx.extra(side_name, &raw.extra);
    let mut common: BTreeMap<String, RawStruct> = BTreeMap::new();
    for s in raw.common_structs {
        let path = format!("{side_name}.common_structs.{}", s.name);
        if !is_camel(&s.name) {
            ctx.err(&path, "struct name must be CamelCase");
        }
        if common.contains_key(&s.name) {
            ctx.err(&path, "common struct defined twice");
        }
        common.insert(s.name.clone(), s);
    }
    let mut out: Vec<Struct> = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    seen.insert(top.to_string());
    // The top-level struct is built last but must come first.
    let top_fields = fields(ctx, side_name, raw.fields, &common, &mut out, &mut seen, 0);
    out.insert(
        0,
        Struct {
            name: top.to_string(),
            about: String::new(),
            fields: top_fields,
        },
    );
    let used: BTreeSet<String> = out.iter().map(|s| s.name.clone()).collect();
    for name in common.keys() {
        if !used.contains(name) {
            ctx.warnings.push(format!(
                "{}: {side_name}.common_structs.{name}: never used",
                ctx.file
            ));
        }
    }
    Side { structs: out }
}

fn fields(
    ctx: &mut Ctx,
    path: &str,
    raw: Vec<RawField>,
    common: &BTreeMap<String, RawStruct>,
    out: &mut Vec<Struct>,
    seen: &mut BTreeSet<String>,
    depth: usize,
) -> Vec<Field> {
    let mut result = Vec::new();
    let mut names = BTreeSet::new();
    let mut tags = BTreeSet::new();
    for mut f in raw {
        let fpath = format!("{path}.{}", f.name);
        ctx.extra(&fpath, &f.extra);
        if !is_snake(&f.name) {
            ctx.err(&fpath, "field name must be snake_case");
        }
        if f.name == "unknown_tagged_fields" {
            ctx.err(&fpath, "the name unknown_tagged_fields is reserved");
        }
        if !names.insert(f.name.clone()) {
            ctx.err(&fpath, "duplicate field name");
        }
        let present = ctx.range(&fpath, "versions", &f.versions);
        let nullable_raw = ctx.range(
            &fpath,
            "nullable_versions",
            f.nullable_versions.as_deref().unwrap_or("none"),
        );
        let tagged = ctx.range(
            &fpath,
            "tagged_versions",
            f.tagged_versions.as_deref().unwrap_or("none"),
        );
        match (f.tag, &f.tagged_versions) {
            (Some(t), Some(_)) => {
                if !tags.insert(t) {
                    ctx.err(&fpath, format!("tag {t} used twice in this struct"));
                }
                if !tagged.subset_of(&ctx.flexible) {
                    ctx.err(&fpath, "tagged_versions must be flexible versions");
                }
                if !tagged.subset_of(&present) {
                    ctx.err(&fpath, "tagged_versions must be inside versions");
                }
            }
            (None, None) => {}
            _ => ctx.err(&fpath, "tag and tagged_versions go together"),
        }
        // The element type and the nested struct, if any.
        let (is_array, base) = match f.ty.strip_prefix("[]") {
            Some(b) => (true, b.to_string()),
            None => (false, f.ty.clone()),
        };
        let base_ty = match Ty::primitive(&base) {
            Some(Ty::Records) if is_array => {
                ctx.err(&fpath, "[]records is not a type");
                Ty::Records
            }
            Some(t) => {
                if f.fields.is_some() {
                    ctx.err(&fpath, format!("type {} cannot have inline fields", f.ty));
                }
                t
            }
            None => {
                if !is_camel(&base) {
                    ctx.err(&fpath, format!("unknown type {:?}", f.ty));
                }
                let inline = f.fields.take();
                match (inline, common.get(&base)) {
                    (Some(_), Some(_)) => {
                        ctx.err(
                            &fpath,
                            format!("struct {base} has inline fields and is also a common struct"),
                        );
                    }
                    (Some(inline), None) => {
                        if !seen.insert(base.clone()) {
                            ctx.err(
                                &fpath,
                                format!("struct name {base} is defined twice on this side"),
                            );
                        } else if depth > 16 {
                            ctx.err(&fpath, "structs nested too deeply");
                        } else {
                            let fs = fields(ctx, &fpath, inline, common, out, seen, depth + 1);
                            out.push(Struct {
                                name: base.clone(),
                                about: f.about.clone().unwrap_or_default(),
                                fields: fs,
                            });
                        }
                    }
                    (None, Some(c)) => {
                        if seen.insert(base.clone()) && depth <= 16 {
                            let cpath = format!("common_structs.{base}");
                            ctx.extra(&cpath, &c.extra);
                            let raw_fields: Vec<RawField> =
                                c.fields.iter().map(clone_raw).collect();
                            let fs = fields(ctx, &cpath, raw_fields, common, out, seen, depth + 1);
                            out.push(Struct {
                                name: base.clone(),
                                about: c.about.clone().unwrap_or_default(),
                                fields: fs,
                            });
                        }
                    }
                    (None, None) => {
                        ctx.err(
                            &fpath,
                            format!(
                                "type {:?}: no inline fields and no common struct {base}",
                                f.ty
                            ),
                        );
                    }
                }
                Ty::Struct(base)
            }
        };
        let ty = if is_array {
            Ty::Array(Box::new(base_ty))
        } else {
            base_ty
        };
        let nullable = nullable_raw.and(&present);
        if !nullable.none() && !ty.nullable_ok() {
            ctx.err(&fpath, format!("type {} cannot be nullable", f.ty));
        }
        let optional = !nullable.none() || ty == Ty::Records;
        let default = parse_default(ctx, &fpath, &ty, optional, f.default.as_ref());
        if present.none() {
            ctx.warnings.push(format!(
                "{}: {fpath}: versions {:?} lie outside the API's versions; the field is never on the wire",
                ctx.file, f.versions
            ));
        }
        result.push(Field {
            name: f.name,
            ty,
            optional,
            present,
            nullable,
            tag: f.tag,
            tagged,
            default,
            about: f.about.unwrap_or_default(),
            versions_text: f.versions,
        });
    }
    result
}

fn clone_raw(f: &RawField) -> RawField {
    RawField {
        name: f.name.clone(),
        ty: f.ty.clone(),
        versions: f.versions.clone(),
        nullable_versions: f.nullable_versions.clone(),
        tag: f.tag,
        tagged_versions: f.tagged_versions.clone(),
        default: f.default.clone(),
        about: f.about.clone(),
        fields: f.fields.as_ref().map(|v| v.iter().map(clone_raw).collect()),
        extra: BTreeMap::new(),
    }
}

fn parse_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            let s = s.trim();
            let (neg, body) = match s.strip_prefix('-') {
                Some(b) => (true, b),
                None => (false, s),
            };
            let n = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
                i64::from_str_radix(h, 16).ok()?
            } else {
                body.parse::<i64>().ok()?
            };
            Some(if neg { -n } else { n })
        }
        _ => None,
    }
}

fn parse_default(ctx: &mut Ctx, path: &str, ty: &Ty, optional: bool, v: Option<&Value>) -> Default {
    let v = match v {
        None | Some(Value::Null) => return Default::Trivial,
        Some(v) => v,
    };
    let bad = |ctx: &mut Ctx, why: &str| {
        ctx.err(path, format!("default {v}: {why}"));
        Default::Trivial
    };
    match ty {
        t if t.is_int() => {
            let Some(n) = parse_int(v) else {
                return bad(ctx, "not an integer");
            };
            let (lo, hi) = match t {
                Ty::I8 => (i8::MIN as i64, i8::MAX as i64),
                Ty::I16 => (i16::MIN as i64, i16::MAX as i64),
                Ty::U16 => (0, u16::MAX as i64),
                Ty::I32 => (i32::MIN as i64, i32::MAX as i64),
                Ty::U32 => (0, u32::MAX as i64),
                _ => (i64::MIN, i64::MAX),
            };
            if n < lo || n > hi {
                return bad(ctx, "out of range for the type");
            }
            if n == 0 {
                Default::Trivial
            } else {
                Default::Int(n)
            }
        }
        Ty::F64 => {
            let f = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            match f {
                Some(0.0) => Default::Trivial,
                Some(f) if f.is_finite() => Default::Float(f),
                _ => bad(ctx, "not a finite number"),
            }
        }
        Ty::Bool => match v {
            Value::Bool(b) => {
                if *b {
                    Default::Bool(true)
                } else {
                    Default::Trivial
                }
            }
            Value::String(s) if s == "true" => Default::Bool(true),
            Value::String(s) if s == "false" => Default::Trivial,
            _ => bad(ctx, "not a bool"),
        },
        Ty::Str => match v {
            Value::String(s) if s.is_empty() && !optional => Default::Trivial,
            Value::String(s) => Default::Str(s.clone()),
            _ => bad(ctx, "not a string"),
        },
        _ => bad(
            ctx,
            "only null (or no default) is supported for this type; its default is empty/nil",
        ),
    }
}
