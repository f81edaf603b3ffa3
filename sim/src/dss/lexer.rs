//! An OpenDSS line as tokens (words, bracketed values, `=`), and tokens as key=value pairs.

use super::Val;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Word(String),
    Bracket(String),
    Eq,
}

pub(super) fn tokenize(line: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let cs: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() || c == ',' {
            i += 1;
        } else if c == '!' || (c == '/' && cs.get(i + 1) == Some(&'/')) {
            break;
        } else if c == '=' {
            out.push(Tok::Eq);
            i += 1;
        } else if let Some(close) = match c {
            '(' => Some(')'),
            '[' => Some(']'),
            '{' => Some('}'),
            '"' => Some('"'),
            '\'' => Some('\''),
            _ => None,
        } {
            let mut depth = 1;
            let mut j = i + 1;
            while j < cs.len() {
                if cs[j] == close && close != c {
                    depth -= 1;
                } else if cs[j] == c && close != c {
                    depth += 1;
                } else if cs[j] == close {
                    depth -= 1;
                }
                if depth == 0 {
                    break;
                }
                j += 1;
            }
            if j >= cs.len() {
                return Err(format!("`{c}` is not closed"));
            }
            out.push(Tok::Bracket(cs[i + 1..j].iter().collect()));
            i = j + 1;
        } else {
            let mut j = i;
            while j < cs.len()
                && !cs[j].is_whitespace()
                && !matches!(cs[j], ',' | '=' | '(' | '[' | '{' | '"' | '\'')
            {
                j += 1;
            }
            out.push(Tok::Word(cs[i..j].iter().collect()));
            i = j;
        }
    }
    Ok(out)
}

/// Pair tokens into (key, value); a value without `key=` gets an empty key.
pub(super) fn pairs(toks: &[Tok]) -> Result<Vec<(String, Val)>, String> {
    let mut out = Vec::new();
    let mut i = 0;
    let val = |t: &Tok| match t {
        Tok::Word(w) => Ok(Val {
            text: w.clone(),
            bracketed: false,
        }),
        Tok::Bracket(b) => Ok(Val {
            text: b.clone(),
            bracketed: true,
        }),
        Tok::Eq => Err("`=` without a value".to_string()),
    };
    while i < toks.len() {
        if toks.get(i + 1) == Some(&Tok::Eq) {
            let Tok::Word(k) = &toks[i] else {
                return Err("a property name must be a word".into());
            };
            let v = toks
                .get(i + 2)
                .ok_or_else(|| format!("`{k}=` has no value"))?;
            out.push((k.to_ascii_lowercase(), val(v)?));
            i += 3;
        } else {
            out.push((String::new(), val(&toks[i])?));
            i += 1;
        }
    }
    Ok(out)
}
