//! Request and response headers (hand-written: they decide how the body is
//! read, so they cannot come from the body schemas).
//!
//! - Request header v0: api_key, api_version, correlation_id.
//! - v1 adds client_id, a nullable *classic* (int16-length) string — it stays
//!   classic even in v2.
//! - v2 adds a tagged-field section (flexible API versions).
//! - Response header v0: correlation_id; v1 adds a tagged-field section.

use bytes::{Bytes, BytesMut};

use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::messages::ApiKey;
use crate::primitives::*;

/// The header in front of every request body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestHeader {
    /// The API key of the request (kept raw so unknown keys can be reported).
    pub request_api_key: i16,
    /// The API version of the request.
    pub request_api_version: i16,
    /// Chosen by the client; the response carries it back.
    pub correlation_id: i32,
    /// The client id (`client.id`), null allowed (header v1+).
    pub client_id: Option<String>,
    /// Tagged fields (header v2), kept as raw bytes.
    pub unknown_tagged_fields: Vec<RawTaggedField>,
}

impl RequestHeader {
    /// A header for a request of `api_key` in `version`.
    pub fn new(
        api_key: ApiKey,
        version: i16,
        correlation_id: i32,
        client_id: Option<&str>,
    ) -> Self {
        RequestHeader {
            request_api_key: api_key.code(),
            request_api_version: version,
            correlation_id,
            client_id: client_id.map(str::to_string),
            unknown_tagged_fields: Vec::new(),
        }
    }

    /// The API key, if prozess knows it.
    pub fn api_key(&self) -> Option<ApiKey> {
        ApiKey::from_i16(self.request_api_key)
    }

    /// The header version this request uses (from its API key and version).
    /// Unknown API keys are read as header v1, the oldest layout that still
    /// carries a client id.
    pub fn header_version(&self) -> i16 {
        self.api_key()
            .map_or(1, |k| k.request_header_version(self.request_api_version))
    }

    /// Writes the header in `header_version` (0, 1 or 2).
    pub fn encode(&self, header_version: i16, buf: &mut BytesMut) -> Result<(), EncodeError> {
        if !(0..=2).contains(&header_version) {
            return Err(EncodeError::new(
                "RequestHeader",
                format!("header version {header_version} does not exist"),
            ));
        }
        write_i16(buf, self.request_api_key);
        write_i16(buf, self.request_api_version);
        write_i32(buf, self.correlation_id);
        if header_version >= 1 {
            write_nullable_string(buf, false, self.client_id.as_deref())
                .map_err(|e| e.within("RequestHeader.client_id"))?;
        }
        if header_version >= 2 {
            write_unknown_tagged_fields(buf, &self.unknown_tagged_fields);
        }
        Ok(())
    }

    /// Reads a header in `header_version` (0, 1 or 2).
    pub fn decode(buf: &mut Bytes, header_version: i16) -> Result<Self, DecodeError> {
        Self::decode_fields(buf, header_version).map_err(|e| e.within("RequestHeader"))
    }

    fn decode_fields(buf: &mut Bytes, header_version: i16) -> Result<Self, DecodeError> {
        if !(0..=2).contains(&header_version) {
            return Err(DecodeError::new(
                "",
                DecodeErrorKind::InvalidValue(format!(
                    "request header version {header_version} does not exist"
                )),
            ));
        }
        let request_api_key = read_i16(buf).map_err(|e| e.within("request_api_key"))?;
        let request_api_version = read_i16(buf).map_err(|e| e.within("request_api_version"))?;
        let correlation_id = read_i32(buf).map_err(|e| e.within("correlation_id"))?;
        let client_id = if header_version >= 1 {
            read_nullable_string(buf, false).map_err(|e| e.within("client_id"))?
        } else {
            None
        };
        let unknown_tagged_fields = if header_version >= 2 {
            read_unknown_tagged_fields(buf).map_err(|e| e.within("_tagged_fields"))?
        } else {
            Vec::new()
        };
        Ok(RequestHeader {
            request_api_key,
            request_api_version,
            correlation_id,
            client_id,
            unknown_tagged_fields,
        })
    }

    /// Reads a request header whose version follows from its own API key and
    /// version (as a broker does): v2 for flexible versions, else v1.
    pub fn decode_auto(buf: &mut Bytes) -> Result<Self, DecodeError> {
        let mut peek = buf.clone();
        let key = read_i16(&mut peek).map_err(|e| e.within("RequestHeader.request_api_key"))?;
        let version =
            read_i16(&mut peek).map_err(|e| e.within("RequestHeader.request_api_version"))?;
        let header_version = match ApiKey::from_i16(key) {
            Some(k) => k.request_header_version(version),
            None => {
                return Err(DecodeError::new(
                    "RequestHeader.request_api_key",
                    DecodeErrorKind::UnknownApiKey(key),
                ))
            }
        };
        Self::decode(buf, header_version)
    }
}

/// The header in front of every response body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseHeader {
    /// The correlation id of the request this answers.
    pub correlation_id: i32,
    /// Tagged fields (header v1), kept as raw bytes.
    pub unknown_tagged_fields: Vec<RawTaggedField>,
}

impl ResponseHeader {
    /// Writes the header in `header_version` (0 or 1).
    pub fn encode(&self, header_version: i16, buf: &mut BytesMut) -> Result<(), EncodeError> {
        if !(0..=1).contains(&header_version) {
            return Err(EncodeError::new(
                "ResponseHeader",
                format!("header version {header_version} does not exist"),
            ));
        }
        write_i32(buf, self.correlation_id);
        if header_version >= 1 {
            write_unknown_tagged_fields(buf, &self.unknown_tagged_fields);
        }
        Ok(())
    }

    /// Reads a header in `header_version` (0 or 1).
    pub fn decode(buf: &mut Bytes, header_version: i16) -> Result<Self, DecodeError> {
        if !(0..=1).contains(&header_version) {
            return Err(DecodeError::new(
                "ResponseHeader",
                DecodeErrorKind::InvalidValue(format!(
                    "response header version {header_version} does not exist"
                )),
            ));
        }
        let correlation_id =
            read_i32(buf).map_err(|e| e.within("ResponseHeader.correlation_id"))?;
        let unknown_tagged_fields = if header_version >= 1 {
            read_unknown_tagged_fields(buf)
                .map_err(|e| e.within("ResponseHeader._tagged_fields"))?
        } else {
            Vec::new()
        };
        Ok(ResponseHeader {
            correlation_id,
            unknown_tagged_fields,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_header_layouts() {
        let h = RequestHeader {
            request_api_key: 18,
            request_api_version: 3,
            correlation_id: 7,
            client_id: Some("me".into()),
            unknown_tagged_fields: vec![RawTaggedField {
                tag: 5,
                data: Bytes::from_static(&[1]),
            }],
        };
        let mut b = BytesMut::new();
        h.encode(2, &mut b).unwrap();
        assert_eq!(
            &b[..],
            &[0, 18, 0, 3, 0, 0, 0, 7, 0, 2, b'm', b'e', 1, 5, 1, 1]
        );
        assert_eq!(RequestHeader::decode(&mut b.freeze(), 2).unwrap(), h);

        let mut b = BytesMut::new();
        h.encode(0, &mut b).unwrap();
        assert_eq!(b.len(), 8, "v0 has no client id and no tagged fields");
        let d = RequestHeader::decode(&mut b.freeze(), 0).unwrap();
        assert_eq!(d.client_id, None);

        let null_id = RequestHeader {
            client_id: None,
            ..h.clone()
        };
        let mut b = BytesMut::new();
        null_id.encode(1, &mut b).unwrap();
        assert_eq!(&b[8..], &[0xff, 0xff]);
        let d = RequestHeader::decode(&mut b.freeze(), 1).unwrap();
        assert_eq!(d.client_id, None);
        assert!(d.unknown_tagged_fields.is_empty());
    }

    #[test]
    fn response_header_layouts() {
        let h = ResponseHeader {
            correlation_id: -3,
            unknown_tagged_fields: Vec::new(),
        };
        let mut b = BytesMut::new();
        h.encode(1, &mut b).unwrap();
        assert_eq!(&b[..], &[0xff, 0xff, 0xff, 0xfd, 0]);
        assert_eq!(ResponseHeader::decode(&mut b.freeze(), 1).unwrap(), h);
        let mut short = Bytes::from_static(&[0, 0, 1]);
        let e = ResponseHeader::decode(&mut short, 0).unwrap_err();
        assert_eq!(e.field, "ResponseHeader.correlation_id");
    }
}
