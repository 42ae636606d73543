//! IAM's wildcards (`*` any run of characters, `?` one character; actions case-insensitive,
//! resource ARNs case-sensitive) and policy variables (`${aws:username}` and the like),
//! resolved for the principal the policy is evaluated for.

use std::collections::BTreeMap;

/// What the policy variables of a principal resolve to. A variable with no value here makes
/// the pattern undecidable: the statement then depends on the request (conditional).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    pub username: Option<String>,
    pub userid: Option<String>,
    pub account: Option<String>,
    pub principal_arn: Option<String>,
    /// `aws:PrincipalTag/KEY`, keys lower-cased.
    pub tags: BTreeMap<String, String>,
}

impl Vars {
    fn get(&self, name: &str) -> Option<String> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "*" => Some("*".into()),
            "?" => Some("?".into()),
            "$" => Some("$".into()),
            "aws:username" => self.username.clone(),
            "aws:userid" => self.userid.clone(),
            "aws:principalaccount" => self.account.clone(),
            "aws:principalarn" => self.principal_arn.clone(),
            _ => lower
                .strip_prefix("aws:principaltag/")
                .and_then(|k| self.tags.get(k).cloned()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Byte(u8),
    /// A character taken literally although it is a wildcard (`${*}`, `${?}`).
    Literal(u8),
    Any,
    One,
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    tokens: Vec<Token>,
    case_insensitive: bool,
}

/// The result of compiling a pattern for a principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compiled {
    Pattern(Pattern),
    /// A variable without a value here: decided only by the request.
    Undecidable(String),
}

impl Pattern {
    /// An action pattern (`iam:Create*`): compared without regard to case, no variables.
    pub fn action(text: &str) -> Pattern {
        Pattern::tokens(text, true)
    }

    /// A resource pattern with its variables resolved; `${name, 'default'}` takes the default
    /// when the variable has no value.
    pub fn resource(text: &str, vars: &Vars) -> Compiled {
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.extend(tokens_of(&rest[..start]));
            let Some(len) = rest[start..].find('}') else {
                out.extend(tokens_of(&rest[start..]));
                rest = "";
                break;
            };
            let inner = &rest[start + 2..start + len];
            let (name, default) = match inner.split_once(',') {
                Some((n, d)) => (n.trim(), Some(d.trim().trim_matches('\''))),
                None => (inner.trim(), None),
            };
            // A variable's value is taken literally, `${*}` and `${?}` included.
            match vars.get(name).or(default.map(str::to_string)) {
                Some(v) => out.extend(v.bytes().map(Token::Literal)),
                None => return Compiled::Undecidable(format!("${{{inner}}}")),
            }
            rest = &rest[start + len + 1..];
        }
        out.extend(tokens_of(rest));
        Compiled::Pattern(Pattern {
            tokens: out,
            case_insensitive: false,
        })
    }

    fn tokens(text: &str, case_insensitive: bool) -> Pattern {
        Pattern {
            tokens: tokens_of(text).collect(),
            case_insensitive,
        }
    }

    /// Whether the pattern is `*` alone (matches everything).
    pub fn is_everything(&self) -> bool {
        !self.tokens.is_empty() && self.tokens.iter().all(|t| *t == Token::Any)
    }

    pub fn matches(&self, text: &str) -> bool {
        let text = text.as_bytes();
        let eq = |t: &Token, c: u8| match t {
            Token::Byte(b) | Token::Literal(b) => {
                if self.case_insensitive {
                    b.eq_ignore_ascii_case(&c)
                } else {
                    *b == c
                }
            }
            Token::One => true,
            Token::Any => false,
        };
        // Greedy matching with one backtrack point per `*`: linear in practice.
        let (mut p, mut t) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::Any) => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(tok) if eq(tok, text[t]) => {
                    p += 1;
                    t += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|t| *t == Token::Any)
    }
}

fn tokens_of(text: &str) -> impl Iterator<Item = Token> + '_ {
    text.bytes().map(|b| match b {
        b'*' => Token::Any,
        b'?' => Token::One,
        b => Token::Byte(b),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(p: &str) -> Pattern {
        match Pattern::resource(p, &Vars::default()) {
            Compiled::Pattern(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wildcards() {
        let p = Pattern::action("iam:Create*");
        assert!(p.matches("iam:CreateUser") && p.matches("IAM:createaccesskey"));
        assert!(!p.matches("iam:DeleteUser"));
        assert!(Pattern::action("s3:Get?bject").matches("s3:GetObject"));
        assert!(!Pattern::action("s3:Get?bject").matches("s3:GetOObject"));
        assert!(
            Pattern::action("*").matches("anything:atall") && Pattern::action("*").is_everything()
        );
        assert!(Pattern::action("*:*").matches("ec2:RunInstances"));
        assert!(Pattern::action("*Instances").matches("ec2:RunInstances"));
        assert!(
            Pattern::action("a*b*c").matches("axxbyyc")
                && !Pattern::action("a*b*c").matches("axxbyy")
        );
        // Resource ARNs are case-sensitive.
        assert!(resource("arn:aws:s3:::Bucket/*").matches("arn:aws:s3:::Bucket/k"));
        assert!(!resource("arn:aws:s3:::Bucket/*").matches("arn:aws:s3:::bucket/k"));
    }

    #[test]
    fn variables_resolve_per_principal() {
        let vars = Vars {
            username: Some("alice".into()),
            account: Some("111122223333".into()),
            tags: [("team".to_string(), "blue".to_string())].into(),
            ..Vars::default()
        };
        let own = match Pattern::resource("arn:aws:iam::*:user/${aws:username}", &vars) {
            Compiled::Pattern(p) => p,
            other => panic!("{other:?}"),
        };
        assert!(own.matches("arn:aws:iam::111122223333:user/alice"));
        assert!(!own.matches("arn:aws:iam::111122223333:user/bob"));
        let tagged = match Pattern::resource("arn:aws:s3:::${aws:PrincipalTag/Team}-data/*", &vars)
        {
            Compiled::Pattern(p) => p,
            other => panic!("{other:?}"),
        };
        assert!(tagged.matches("arn:aws:s3:::blue-data/x"));
        // A role has no user name: the statement is decided by the request.
        assert_eq!(
            Pattern::resource("arn:aws:iam::*:user/${aws:username}", &Vars::default()),
            Compiled::Undecidable("${aws:username}".into())
        );
        // A default stands in; ${*} is a literal star.
        let d = match Pattern::resource("arn:aws:s3:::b/${aws:PrincipalTag/x, 'none'}/${*}", &vars)
        {
            Compiled::Pattern(p) => p,
            other => panic!("{other:?}"),
        };
        assert!(d.matches("arn:aws:s3:::b/none/*") && !d.matches("arn:aws:s3:::b/none/k"));
    }
}
