//! Model -> Rust source for `$OUT_DIR/messages.rs`.
//!
//! The generated code leans on small helpers in `messages::codec` (arrays,
//! nullable values, tagged sections, error paths) so that each field costs a
//! line or two and the crate stays quick to compile.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::model::{Api, Default, Field, Side, Struct, Ty};

const KEYWORDS: &[&str] = &[
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for",
    "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return",
    "self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where",
    "while", "async", "await", "dyn", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
];

fn ident(name: &str) -> String {
    if KEYWORDS.contains(&name) {
        format!("r#{name}")
    } else {
        name.to_string()
    }
}

fn doc(out: &mut String, indent: &str, text: &str) {
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            let _ = writeln!(out, "{indent}///");
        } else {
            let _ = writeln!(out, "{indent}/// {line}");
        }
    }
}

fn rust_base(ty: &Ty) -> String {
    match ty {
        Ty::Bool => "bool".into(),
        Ty::I8 => "i8".into(),
        Ty::I16 => "i16".into(),
        Ty::U16 => "u16".into(),
        Ty::I32 => "i32".into(),
        Ty::U32 => "u32".into(),
        Ty::I64 => "i64".into(),
        Ty::F64 => "f64".into(),
        Ty::Str => "String".into(),
        Ty::Bytes | Ty::Records => "Bytes".into(),
        Ty::Uuid => "Uuid".into(),
        Ty::Array(e) => format!("Vec<{}>", rust_base(e)),
        Ty::Struct(s) => s.clone(),
    }
}

fn rust_type(f: &Field) -> String {
    if f.optional {
        format!("Option<{}>", rust_base(&f.ty))
    } else {
        rust_base(&f.ty)
    }
}

/// Smallest number of bytes one value of `ty` takes on the wire in any
/// version: the bound `read_array_len` checks a length against.
fn min_size(ty: &Ty, structs: &BTreeMap<&str, &Struct>, depth: usize) -> usize {
    match ty {
        Ty::Bool | Ty::I8 => 1,
        Ty::I16 | Ty::U16 => 2,
        Ty::I32 | Ty::U32 => 4,
        Ty::I64 | Ty::F64 => 8,
        Ty::Uuid => 16,
        // Compact lengths take at least one byte.
        Ty::Str | Ty::Bytes | Ty::Records | Ty::Array(_) => 1,
        Ty::Struct(name) => {
            if depth > 16 {
                return 1;
            }
            let Some(s) = structs.get(name.as_str()) else {
                return 1;
            };
            let n: usize = s
                .fields
                .iter()
                .filter(|f| f.present.all() && f.tagged.none())
                .map(|f| {
                    if f.optional && matches!(f.ty, Ty::Struct(_)) {
                        1
                    } else {
                        min_size(&f.ty, structs, depth + 1)
                    }
                })
                .sum();
            n.max(1)
        }
    }
}

struct Gen<'a> {
    structs: BTreeMap<&'a str, &'a Struct>,
}

impl Gen<'_> {
    /// An expression of type `Result<T, DecodeError>` reading one value of `ty`
    /// from `buf` (an expression of type `&mut Bytes`).
    fn dec(&self, ty: &Ty, optional: bool, nullable: &str, buf: &str) -> String {
        match ty {
            Ty::Bool => format!("read_bool({buf})"),
            Ty::I8 => format!("read_i8({buf})"),
            Ty::I16 => format!("read_i16({buf})"),
            Ty::U16 => format!("read_u16({buf})"),
            Ty::I32 => format!("read_i32({buf})"),
            Ty::U32 => format!("read_u32({buf})"),
            Ty::I64 => format!("read_i64({buf})"),
            Ty::F64 => format!("read_f64({buf})"),
            Ty::Uuid => format!("read_uuid({buf})"),
            Ty::Records => format!("read_nullable_bytes({buf}, flex)"),
            Ty::Str if optional => format!("codec::read_opt_string({buf}, flex, {nullable})"),
            Ty::Str => format!("read_string({buf}, flex)"),
            Ty::Bytes if optional => format!("codec::read_opt_bytes({buf}, flex, {nullable})"),
            Ty::Bytes => format!("read_bytes({buf}, flex)"),
            Ty::Array(e) => {
                let min = min_size(e, &self.structs, 0);
                let elem = self.dec(e, false, "false", "b");
                if optional {
                    format!("codec::read_opt_vec({buf}, flex, {min}, {nullable}, |b| {elem})")
                } else {
                    format!("codec::read_vec({buf}, flex, {min}, |b| {elem})")
                }
            }
            Ty::Struct(s) if optional => {
                format!("codec::read_opt_struct({buf}, {nullable}, |b| {s}::decode(b, version))")
            }
            Ty::Struct(s) => format!("{s}::decode({buf}, version)"),
        }
    }

    /// Statement(s) writing the value `v` (an expression of type `&T`) to
    /// `buf`, adding `name` to error paths.
    fn enc_stmt(&self, ty: &Ty, optional: bool, nullable: &str, v: &Place, name: &str) -> String {
        match self.enc(ty, optional, nullable, v) {
            Enc::Plain(s) => format!("{s};"),
            Enc::Fallible(s) => format!("codec::en({s}, {name:?})?;"),
        }
    }

    fn enc(&self, ty: &Ty, optional: bool, nullable: &str, p: &Place) -> Enc {
        let (val, r, v) = (&p.val, &p.refr, &p.recv);
        match ty {
            Ty::Bool => Enc::Plain(format!("write_bool(buf, {val})")),
            Ty::I8 => Enc::Plain(format!("write_i8(buf, {val})")),
            Ty::I16 => Enc::Plain(format!("write_i16(buf, {val})")),
            Ty::U16 => Enc::Plain(format!("write_u16(buf, {val})")),
            Ty::I32 => Enc::Plain(format!("write_i32(buf, {val})")),
            Ty::U32 => Enc::Plain(format!("write_u32(buf, {val})")),
            Ty::I64 => Enc::Plain(format!("write_i64(buf, {val})")),
            Ty::F64 => Enc::Plain(format!("write_f64(buf, {val})")),
            Ty::Uuid => Enc::Plain(format!("write_uuid(buf, {r})")),
            Ty::Records => Enc::Fallible(format!("write_nullable_bytes(buf, flex, {v}.as_deref())")),
            Ty::Str if optional => Enc::Fallible(format!(
                "codec::write_opt_string(buf, flex, {v}.as_deref(), {nullable})"
            )),
            Ty::Str => Enc::Fallible(format!("write_string(buf, flex, {r})")),
            Ty::Bytes if optional => Enc::Fallible(format!(
                "codec::write_opt_bytes(buf, flex, {v}.as_deref(), {nullable})"
            )),
            Ty::Bytes => Enc::Fallible(format!("write_bytes(buf, flex, {r})")),
            Ty::Array(e) => {
                let elem = match self.enc(e, false, "false", &Place::elem()) {
                    Enc::Plain(s) => format!("{{ {s}; Ok(()) }}"),
                    Enc::Fallible(s) => s,
                };
                if optional {
                    Enc::Fallible(format!(
                        "codec::write_opt_vec(buf, flex, {v}.as_deref(), {nullable}, |buf, e| {elem})"
                    ))
                } else {
                    Enc::Fallible(format!("codec::write_vec(buf, flex, {r}, |buf, e| {elem})"))
                }
            }
            Ty::Struct(_) if optional => Enc::Fallible(format!(
                "codec::write_opt_struct(buf, {v}.as_ref(), {nullable}, |buf, s| s.encode(version, buf))"
            )),
            Ty::Struct(_) => Enc::Fallible(format!("{v}.encode(version, buf)")),
        }
    }
}

/// How to refer to the value being written: by value (`Copy` types), by
/// reference, and as a method receiver.
struct Place {
    val: String,
    refr: String,
    recv: String,
}

impl Place {
    fn field(name: &str) -> Place {
        let p = format!("self.{}", ident(name));
        Place {
            val: p.clone(),
            refr: format!("&{p}"),
            recv: p,
        }
    }
    fn elem() -> Place {
        Place {
            val: "*e".into(),
            refr: "e".into(),
            recv: "e".into(),
        }
    }
}

enum Enc {
    Plain(String),
    Fallible(String),
}

fn int_lit(n: i64) -> String {
    n.to_string()
}

fn float_lit(f: f64) -> String {
    let s = format!("{f:?}");
    if s.contains('.') || s.contains('e') {
        s
    } else {
        format!("{s}.0")
    }
}

/// The default value of a field as an expression, `None` when it is the Rust
/// type's own `Default`.
fn default_expr(f: &Field) -> Option<String> {
    let inner = match &f.default {
        Default::Trivial => return None,
        Default::Int(n) => int_lit(*n),
        Default::Float(x) => float_lit(*x),
        Default::Bool(b) => b.to_string(),
        Default::Str(s) => format!("String::from({s:?})"),
    };
    Some(if f.optional {
        format!("Some({inner})")
    } else {
        inner
    })
}

/// A boolean expression: the field (at `owner.x`) differs from its default.
fn differs_from_default(f: &Field, owner: &str) -> String {
    default_test(f, owner, true)
}

/// A boolean expression: the field (at `owner.x`) holds its default.
fn holds_default(f: &Field, owner: &str) -> String {
    default_test(f, owner, false)
}

fn default_test(f: &Field, owner: &str, differs: bool) -> String {
    let v = format!("{owner}.{}", ident(&f.name));
    let (ne, not) = if differs { ("!=", "!") } else { ("==", "") };
    if f.optional {
        return match &f.default {
            Default::Trivial if differs => format!("{v}.is_some()"),
            Default::Trivial => format!("{v}.is_none()"),
            Default::Str(s) => format!("{v}.as_deref() {ne} Some({s:?})"),
            _ => format!("{v} {ne} {}", default_expr(f).unwrap_or_default()),
        };
    }
    match (&f.ty, &f.default) {
        (Ty::Bool, Default::Bool(true)) => format!("{}{v}", if differs { "!" } else { "" }),
        (Ty::Bool, _) => format!("{}{v}", if differs { "" } else { "!" }),
        (Ty::Str, Default::Str(s)) => format!("{v} {ne} {s:?}"),
        (Ty::Str | Ty::Bytes | Ty::Array(_), _) => format!("{not}{v}.is_empty()"),
        (Ty::Uuid, _) => format!("{not}{v}.is_nil()"),
        (Ty::Struct(s), _) => format!("{v} {ne} {s}::default()"),
        (Ty::F64, Default::Float(x)) => format!("{v} {ne} {}", float_lit(*x)),
        (Ty::F64, _) => format!("{v} {ne} 0.0"),
        (_, Default::Int(n)) => format!("{v} {ne} {}", int_lit(*n)),
        _ => format!("{v} {ne} 0"),
    }
}

/// A non-default sample value for the round-trip tests; `k` varies it per field.
fn sample_value(ty: &Ty, f: &Field, k: i64) -> String {
    match ty {
        Ty::Bool => match f.default {
            Default::Bool(true) => "false".into(),
            _ => "true".into(),
        },
        t if t.is_int() => {
            let mut n = k;
            if f.default == Default::Int(n) {
                n += 1;
            }
            int_lit(n)
        }
        Ty::F64 => float_lit(k as f64 + 0.5),
        Ty::Str => format!("String::from(\"{}-{k}\")", f.name),
        Ty::Bytes => format!("Bytes::from_static(&[{k}, 0xab])"),
        Ty::Records => format!("Bytes::from_static(b\"records-{k}\")"),
        Ty::Uuid => format!("Uuid::from_u128({k})"),
        Ty::Array(e) => format!("vec![{}]", sample_value(e, f, k)),
        Ty::Struct(s) => format!("{s}::__sample(version, fill_absent)"),
        _ => unreachable!("all types covered"),
    }
}

fn emit_struct(out: &mut String, g: &Gen, s: &Struct, top: Option<(&Api, &str)>) {
    let ind = "        ";
    doc(out, "    ", &s.about);
    if let Some((api, side)) = top {
        let _ = writeln!(
            out,
            "    /// {} {side}, versions {}-{} (flexible: {}).",
            api.name,
            api.min,
            api.max,
            flexible_text(api)
        );
    }
    let derive_default = s.fields.iter().all(|f| default_expr(f).is_none());
    if derive_default {
        out.push_str("    #[derive(Debug, Clone, PartialEq, Default)]\n");
    } else {
        out.push_str("    #[derive(Debug, Clone, PartialEq)]\n");
    }
    let _ = writeln!(out, "    pub struct {} {{", s.name);
    for f in &s.fields {
        doc(out, ind, &f.about);
        let mut notes = format!("Versions: {}", f.versions_text);
        if !f.nullable.none() {
            let _ = write!(notes, "; nullable where `{}`", f.nullable.expr());
        }
        if let Some(t) = f.tag {
            let _ = write!(notes, "; tagged (tag {t}) where `{}`", f.tagged.expr());
        }
        let _ = writeln!(out, "{ind}///\n{ind}/// {notes}.");
        let _ = writeln!(out, "{ind}pub {}: {},", ident(&f.name), rust_type(f));
    }
    let _ = writeln!(
        out,
        "{ind}/// Tagged fields this version of prozess does not know (and known ones the sender wrote with their default value); kept and written back in tag order.\n{ind}pub unknown_tagged_fields: Vec<RawTaggedField>,\n    }}\n"
    );
    if !derive_default {
        let _ = writeln!(
            out,
            "    impl Default for {} {{\n        fn default() -> Self {{\n            {} {{",
            s.name, s.name
        );
        for f in &s.fields {
            let e = default_expr(f).unwrap_or_else(|| "Default::default()".into());
            let _ = writeln!(out, "                {}: {e},", ident(&f.name));
        }
        out.push_str("                unknown_tagged_fields: Vec::new(),\n            }\n        }\n    }\n\n");
    }

    let _ = writeln!(out, "    impl {} {{", s.name);
    // encode
    let (enc_name, dec_name) = if top.is_some() {
        ("encode_fields", "decode_fields")
    } else {
        ("encode", "decode")
    };
    if let Some((api, _)) = top {
        let _ = writeln!(
            out,
            "        /// Writes this message's body in `version`; other versions than {min}-{max} are an error.
        pub fn encode(&self, version: i16, buf: &mut BytesMut) -> Result<(), EncodeError> {{
            if !(super::MIN_VERSION..=super::MAX_VERSION).contains(&version) {{
                return Err(EncodeError::new({name:?}, format!(\"version {{version}} is not supported (supported: {min}-{max})\")));
            }}
            self.encode_fields(version, buf).map_err(|e| e.within({name:?}))
        }}

        /// Reads this message's body in `version` from `buf`, advancing it past the body.
        pub fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {{
            if !(super::MIN_VERSION..=super::MAX_VERSION).contains(&version) {{
                return Err(DecodeError::new({name:?}, DecodeErrorKind::UnsupportedVersion {{ api: {name:?}, version }}));
            }}
            Self::decode_fields(buf, version).map_err(|e| e.within({name:?}))
        }}
",
            min = api.min,
            max = api.max,
            name = s.name
        );
        let _ = writeln!(out, "        fn {enc_name}(&self, version: i16, buf: &mut BytesMut) -> Result<(), EncodeError> {{");
    } else {
        let _ = writeln!(out, "        /// Writes this struct in `version` of the enclosing message.\n        pub fn {enc_name}(&self, version: i16, buf: &mut BytesMut) -> Result<(), EncodeError> {{");
    }
    out.push_str("            let flex = super::flexible(version);\n");
    for f in &s.fields {
        let regular = f.present.and_not(&f.tagged);
        if regular.none() {
            continue;
        }
        let nullable = f.nullable.expr();
        let stmt = g.enc_stmt(
            &f.ty,
            f.optional,
            &nullable,
            &Place::field(&f.name),
            &f.name,
        );
        if regular.all() {
            let _ = writeln!(out, "            {stmt}");
        } else {
            let _ = writeln!(
                out,
                "            if {} {{\n                {stmt}\n            }}",
                regular.expr()
            );
        }
    }
    let has_tagged = s.fields.iter().any(|f| !f.tagged.none());
    let m = if has_tagged { "mut " } else { "" };
    let _ = writeln!(
        out,
        "            if flex {{\n                let {m}tagged = codec::TaggedWriter::default();"
    );
    for f in s.fields.iter().filter(|f| !f.tagged.none()) {
        let tag = f.tag.unwrap_or(0);
        let cond = if f.tagged.all() {
            differs_from_default(f, "self")
        } else {
            format!(
                "({}) && {}",
                f.tagged.expr(),
                differs_from_default(f, "self")
            )
        };
        let nullable = f.nullable.expr();
        let stmt = g.enc_stmt(
            &f.ty,
            f.optional,
            &nullable,
            &Place::field(&f.name),
            &f.name,
        );
        let _ = writeln!(
            out,
            "                if {cond} {{\n                    let buf = tagged.field({tag});\n                    {stmt}\n                }}"
        );
    }
    out.push_str("                tagged.finish(buf, &self.unknown_tagged_fields);\n            }\n            Ok(())\n        }\n\n");

    // decode
    if top.is_none() {
        let _ = writeln!(out, "        /// Reads this struct in `version` of the enclosing message.\n        pub fn {dec_name}(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {{");
    } else {
        let _ = writeln!(
            out,
            "        fn {dec_name}(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError> {{"
        );
    }
    out.push_str("            let flex = super::flexible(version);\n            let mut this = Self::default();\n");
    for f in &s.fields {
        let regular = f.present.and_not(&f.tagged);
        if regular.none() {
            continue;
        }
        let nullable = f.nullable.expr();
        let e = g.dec(&f.ty, f.optional, &nullable, "buf");
        let stmt = format!("this.{} = codec::de({e}, {:?})?;", ident(&f.name), f.name);
        if regular.all() {
            let _ = writeln!(out, "            {stmt}");
        } else {
            let _ = writeln!(
                out,
                "            if {} {{\n                {stmt}\n            }}",
                regular.expr()
            );
        }
    }
    let _ = writeln!(out, "            if flex {{\n                let n = codec::de(read_tagged_count(buf), \"_tagged_fields\")?;\n                let mut last_tag = None;\n                for _ in 0..n {{\n                    let (tag, {m}data) = codec::de(read_tagged_field(buf), \"_tagged_fields\")?;\n                    codec::check_tag_order(&mut last_tag, tag)?;");
    if has_tagged {
        out.push_str("                    match tag {\n");
    }
    for f in s.fields.iter().filter(|f| !f.tagged.none()) {
        let tag = f.tag.unwrap_or(0);
        let guard = if f.tagged.all() {
            String::new()
        } else {
            format!(" if {}", f.tagged.expr())
        };
        let nullable = f.nullable.expr();
        let e = g.dec(&f.ty, f.optional, &nullable, "&mut data");
        let _ = writeln!(
            out,
            "                        {tag}{guard} => {{\n                            let raw = data.clone();\n                            this.{id} = codec::de({e}, {n:?})?;\n                            codec::tagged_done(&data, {n:?})?;\n                            if {implicit} {{\n                                // Written although it holds its default: keep the\n                                // bytes so the frame re-encodes identically.\n                                this.unknown_tagged_fields.push(RawTaggedField {{ tag, data: raw }});\n                            }}\n                        }}",
            id = ident(&f.name),
            n = f.name,
            implicit = holds_default(f, "this")
        );
    }
    if has_tagged {
        out.push_str("                        _ => this.unknown_tagged_fields.push(RawTaggedField { tag, data }),\n                    }\n");
    } else {
        out.push_str(
            "                    this.unknown_tagged_fields.push(RawTaggedField { tag, data });\n",
        );
    }
    out.push_str("                }\n            }\n            Ok(this)\n        }\n\n");

    // sample
    out.push_str("        /// A value with every field present in `version` set to a non-default\n        /// value (and, with `fill_absent`, the absent ones too): test support.\n        #[doc(hidden)]\n        pub fn __sample(version: i16, fill_absent: bool) -> Self {\n            let _ = fill_absent;\n            let mut this = Self::default();\n");
    for (i, f) in s.fields.iter().enumerate() {
        let k = i as i64 + 1;
        let v = sample_value(&f.ty, f, k);
        let v = if f.optional { format!("Some({v})") } else { v };
        let cond = if f.present.all() {
            String::new()
        } else if f.present.none() {
            "fill_absent".to_string()
        } else {
            format!("fill_absent || {}", wrap(&f.present.expr()))
        };
        if cond.is_empty() {
            let _ = writeln!(out, "            this.{} = {v};", ident(&f.name));
        } else {
            let _ = writeln!(
                out,
                "            if {cond} {{\n                this.{} = {v};\n            }}",
                ident(&f.name)
            );
        }
    }
    out.push_str("            if fill_absent || super::flexible(version) {\n                this.unknown_tagged_fields.push(RawTaggedField { tag: 9999, data: Bytes::from_static(&[0x2a, 0x07]) });\n            }\n            this\n        }\n    }\n\n");
}

fn wrap(e: &str) -> String {
    if e.contains("||") {
        format!("({e})")
    } else {
        e.to_string()
    }
}

fn flexible_text(api: &Api) -> String {
    if api.flexible.is_empty() || api.flexible.lo > api.max {
        "none".into()
    } else if api.flexible.hi == i16::MAX {
        format!("{}+", api.flexible.lo)
    } else {
        format!("{}-{}", api.flexible.lo, api.flexible.hi)
    }
}

fn flexible_expr(api: &Api) -> String {
    let f = api.flexible;
    if f.is_empty() {
        "false".into()
    } else if f.hi == i16::MAX {
        format!("version >= {}", f.lo)
    } else if f.lo == f.hi {
        format!("version == {}", f.lo)
    } else {
        format!("({}..={}).contains(&version)", f.lo, f.hi)
    }
}

fn emit_side(out: &mut String, api: &Api, side: &Side, which: &str) {
    let g = Gen {
        structs: side.structs.iter().map(|s| (s.name.as_str(), s)).collect(),
    };
    let _ = writeln!(
        out,
        "    /// The {which} of {name}.\n    pub mod {which} {{\n        #[allow(unused_imports)]\n        use crate::messages::codec::{{self, *}};\n",
        name = api.name
    );
    // Indent the struct code by four more spaces.
    let mut body = String::new();
    for (i, s) in side.structs.iter().enumerate() {
        let top = if i == 0 { Some((api, which)) } else { None };
        emit_struct(&mut body, &g, s, top);
    }
    for line in body.lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "    {line}");
        }
    }
    out.push_str("    }\n\n");
}

pub fn generate(apis: &[Api]) -> String {
    let mut out = String::new();
    out.push_str("// @generated by protocol/build.rs from protocol/schema/*.json. Do not edit.\n\n#[allow(unused_imports)]\nuse crate::messages::codec::*;\n\n");
    for api in apis {
        doc(&mut out, "", &api.about);
        let _ = writeln!(
            out,
            "///\n/// API key {}, versions {}-{}, flexible versions: {}.\npub mod {} {{",
            api.key,
            api.min,
            api.max,
            flexible_text(api),
            api.module
        );
        let flex = flexible_expr(api);
        let param = if flex == "false" {
            "_version"
        } else {
            "version"
        };
        let _ = writeln!(
            out,
            "    /// Oldest supported version.\n    pub const MIN_VERSION: i16 = {};\n    /// Newest supported version.\n    pub const MAX_VERSION: i16 = {};\n\n    /// Whether `version` uses the flexible (compact, tagged) encoding.\n    pub fn flexible({param}: i16) -> bool {{\n        {flex}\n    }}\n",
            api.min, api.max
        );
        emit_side(&mut out, api, &api.request, "request");
        emit_side(&mut out, api, &api.response, "response");
        out.push_str("}\n");
        let _ = writeln!(
            out,
            "pub use {m}::request::{n}Request;\npub use {m}::response::{n}Response;\n",
            m = api.module,
            n = api.name
        );
    }
    emit_api_key(&mut out, apis);
    emit_body(&mut out, apis, "Request", "request");
    emit_body(&mut out, apis, "Response", "response");
    out
}

fn emit_api_key(out: &mut String, apis: &[Api]) {
    out.push_str("/// Every Kafka API prozess speaks, with its key and supported versions.\n#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\n#[repr(i16)]\npub enum ApiKey {\n");
    for a in apis {
        let _ = writeln!(
            out,
            "    /// {} (key {}).\n    {} = {},",
            a.name, a.key, a.name, a.key
        );
    }
    out.push_str("}\n\nimpl ApiKey {\n    /// All keys, in key order.\n");
    let _ = writeln!(out, "    pub const ALL: [ApiKey; {}] = [", apis.len());
    for a in apis {
        let _ = writeln!(out, "        ApiKey::{},", a.name);
    }
    out.push_str("    ];\n\n    /// The key for a wire value, `None` for keys prozess does not know.\n    pub fn from_i16(key: i16) -> Option<ApiKey> {\n        match key {\n");
    for a in apis {
        let _ = writeln!(out, "            {} => Some(ApiKey::{}),", a.key, a.name);
    }
    out.push_str("            _ => None,\n        }\n    }\n\n    /// The wire value of the key.\n    pub fn code(self) -> i16 {\n        self as i16\n    }\n\n    /// The API's name as in the Kafka protocol guide (`Fetch`).\n    pub fn name(self) -> &'static str {\n        match self {\n");
    for a in apis {
        let _ = writeln!(out, "            ApiKey::{n} => {n:?},", n = a.name);
    }
    out.push_str("        }\n    }\n\n    /// The (oldest, newest) version prozess can encode and decode.\n    pub fn supported_versions(self) -> (i16, i16) {\n        match self {\n");
    for a in apis {
        let _ = writeln!(
            out,
            "            ApiKey::{} => ({}, {}),",
            a.name, a.min, a.max
        );
    }
    out.push_str("        }\n    }\n\n    /// Whether `version` of this API is flexible (also for versions newer than\n    /// prozess supports, so headers of unknown versions can still be read).\n    pub fn is_flexible(self, version: i16) -> bool {\n        match self {\n");
    for a in apis {
        let _ = writeln!(
            out,
            "            ApiKey::{} => {}::flexible(version),",
            a.name, a.module
        );
    }
    out.push_str("        }\n    }\n\n    /// Request header version for `version` of this API: 2 if flexible, else 1.\n    pub fn request_header_version(self, version: i16) -> i16 {\n        if self.is_flexible(version) {\n            2\n        } else {\n            1\n        }\n    }\n\n    /// Response header version for `version` of this API: 1 if flexible, else 0;\n    /// always 0 for ApiVersions, whose response a client must read before it\n    /// knows which versions the broker speaks (KIP-511).\n    pub fn response_header_version(self, version: i16) -> i16 {\n");
    if apis.iter().any(|a| a.key == 18) {
        let name = &apis
            .iter()
            .find(|a| a.key == 18)
            .map(|a| a.name.clone())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "        if self == ApiKey::{name} {{\n            return 0;\n        }}"
        );
    }
    out.push_str("        if self.is_flexible(version) {\n            1\n        } else {\n            0\n        }\n    }\n}\n\nimpl std::fmt::Display for ApiKey {\n    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {\n        f.write_str(self.name())\n    }\n}\n\n");
}

fn emit_body(out: &mut String, apis: &[Api], kind: &str, side: &str) {
    let _ = writeln!(
        out,
        "/// A {side} body of any API, one variant per API.\n#[allow(clippy::large_enum_variant)]\n#[derive(Debug, Clone, PartialEq)]\npub enum {kind}Body {{"
    );
    for a in apis {
        let _ = writeln!(out, "    /// {n}{kind}.\n    {n}({n}{kind}),", n = a.name);
    }
    let _ = writeln!(out, "}}\n\nimpl {kind}Body {{\n    /// The API this body belongs to.\n    pub fn api_key(&self) -> ApiKey {{\n        match self {{");
    for a in apis {
        let _ = writeln!(
            out,
            "            {kind}Body::{n}(_) => ApiKey::{n},",
            n = a.name
        );
    }
    let _ = writeln!(out, "        }}\n    }}\n\n    /// Writes the body in `version`.\n    pub fn encode(&self, version: i16, buf: &mut BytesMut) -> Result<(), EncodeError> {{\n        match self {{");
    for a in apis {
        let _ = writeln!(
            out,
            "            {kind}Body::{n}(m) => m.encode(version, buf),",
            n = a.name
        );
    }
    let _ = writeln!(out, "        }}\n    }}\n\n    /// Reads a body of `api_key` in `version` from `buf`, advancing it past the body.\n    pub fn decode(api_key: ApiKey, version: i16, buf: &mut Bytes) -> Result<Self, DecodeError> {{\n        Ok(match api_key {{");
    for a in apis {
        let _ = writeln!(
            out,
            "            ApiKey::{n} => {kind}Body::{n}({n}{kind}::decode(buf, version)?),",
            n = a.name
        );
    }
    let _ = writeln!(out, "        }})\n    }}\n\n    /// Test support: see the structs' `__sample`.\n    #[doc(hidden)]\n    pub fn __sample(api_key: ApiKey, version: i16, fill_absent: bool) -> Self {{\n        match api_key {{");
    for a in apis {
        let _ = writeln!(out, "            ApiKey::{n} => {kind}Body::{n}({n}{kind}::__sample(version, fill_absent)),", n = a.name);
    }
    out.push_str("        }\n    }\n}\n\n");
    for a in apis {
        let _ = writeln!(
            out,
            "impl From<{n}{kind}> for {kind}Body {{\n    fn from(m: {n}{kind}) -> Self {{\n        {kind}Body::{n}(m)\n    }}\n}}\n",
            n = a.name
        );
    }
}
