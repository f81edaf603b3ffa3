//! A load command's payload: Home Assistant's plain `ON` / `OFF`, or JSON as the web takes it,
//! `{"to": "on" | "off" | "reset", "confirm": bool}`. Anything else is refused with what was
//! wrong, for the refusal the client logs and publishes back.

use crate::control::{Switch, To};

/// The longest payload read; a command is a few bytes.
const MAX: usize = 256;

pub fn parse(payload: &[u8]) -> Result<Switch, String> {
    if payload.len() > MAX {
        return Err(format!(
            "a command is at most {MAX} bytes, this one {}",
            payload.len()
        ));
    }
    let text = std::str::from_utf8(payload).map_err(|e| format!("not UTF-8: {e}"))?;
    match text.trim() {
        "ON" | "on" => Ok(Switch {
            to: To::On,
            confirm: false,
        }),
        "OFF" | "off" => Ok(Switch {
            to: To::Off,
            confirm: false,
        }),
        t if t.starts_with('{') => serde_json::from_str(t).map_err(|e| format!("JSON: {e}")),
        t => Err(format!("expected ON, OFF or {{\"to\": ...}}, got {t:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn home_assistants_payloads_and_the_webs_json() {
        assert_eq!(
            parse(b"ON"),
            Ok(Switch {
                to: To::On,
                confirm: false
            })
        );
        assert_eq!(
            parse(b"OFF\n"),
            Ok(Switch {
                to: To::Off,
                confirm: false
            })
        );
        assert_eq!(
            parse(br#"{"to": "off", "confirm": true}"#),
            Ok(Switch {
                to: To::Off,
                confirm: true
            })
        );
        assert_eq!(
            parse(br#"{"to":"reset"}"#),
            Ok(Switch {
                to: To::Reset,
                confirm: false
            })
        );
    }

    #[test]
    fn bad_payloads_say_what_is_wrong() {
        for (p, says) in [
            (&b"TOGGLE"[..], "expected ON, OFF"),
            (br#"{"to": "up"}"#, "unknown variant"),
            (br#"{"to": "on", "user": "admin"}"#, "unknown field"),
            (br#"{"confirm": true}"#, "missing field `to`"),
            (&[0xff, 0xfe][..], "not UTF-8"),
            (&[b' '; 300][..], "at most 256 bytes"),
        ] {
            let e = parse(p).unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }

    proptest! {
        /// No payload panics.
        #[test]
        fn any_bytes_parse_or_are_refused(p in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&p);
        }
    }
}
