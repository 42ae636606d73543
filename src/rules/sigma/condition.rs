//! The Sigma condition grammar: `and`, `or`, `not`, parentheses, `N of pattern`, `all of
//! pattern`, `N of them`, `all of them`. Precedence, tightest first: `not`, `and`, `or`.

use super::super::matcher::Expr;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Not,
    Of,
    All,
    Them,
    Number(usize),
    Ident(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' {
            out.push(Token::Open);
            chars.next();
        } else if c == ')' {
            out.push(Token::Close);
            chars.next();
        } else if c == '|' {
            return Err(
                "aggregation expressions ('| count() ...') are deprecated in Sigma and not \
                 supported: write a correlation rule instead"
                    .into(),
            );
        } else if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.') {
            let mut end = i;
            while let Some(&(j, c)) = chars.peek() {
                if c.is_alphanumeric() || matches!(c, '_' | '*' | '-' | '.') {
                    end = j + c.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let word = &text[i..end];
            out.push(match word.to_ascii_lowercase().as_str() {
                "and" => Token::And,
                "or" => Token::Or,
                "not" => Token::Not,
                "of" => Token::Of,
                "all" => Token::All,
                "them" => Token::Them,
                _ => match word.parse::<usize>() {
                    Ok(n) => Token::Number(n),
                    Err(_) => Token::Ident(word.to_string()),
                },
            });
        } else {
            return Err(format!("unexpected character {c:?} at position {i}"));
        }
    }
    Ok(out)
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    /// Names of the detection's search identifiers, in document order.
    names: &'a [String],
}

/// Parses a condition over the given search identifiers; `Expr::Search(i)` refers to `names[i]`.
pub fn parse(text: &str, names: &[String]) -> Result<Expr, String> {
    let mut p = Parser {
        tokens: tokenize(text)?,
        pos: 0,
        names,
    };
    if p.tokens.is_empty() {
        return Err("empty condition".into());
    }
    let expr = p.or()?;
    if let Some(t) = p.tokens.get(p.pos) {
        return Err(format!(
            "unexpected {} after a complete expression",
            describe(t)
        ));
    }
    Ok(expr)
}

fn describe(t: &Token) -> String {
    match t {
        Token::Open => "'('".into(),
        Token::Close => "')'".into(),
        Token::And => "'and'".into(),
        Token::Or => "'or'".into(),
        Token::Not => "'not'".into(),
        Token::Of => "'of'".into(),
        Token::All => "'all'".into(),
        Token::Them => "'them'".into(),
        Token::Number(n) => format!("'{n}'"),
        Token::Ident(s) => format!("'{s}'"),
    }
}

impl Parser<'_> {
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.and()?];
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.not()?];
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Expr::And(items)
        })
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(&Token::Not) {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Token::Open) => {
                let e = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(e),
                    Some(t) => Err(format!("expected ')', found {}", describe(&t))),
                    None => Err("missing ')'".into()),
                }
            }
            Some(Token::All) => self.quantified(None),
            Some(Token::Number(n)) => {
                if n == 0 {
                    return Err("'0 of' can never match".into());
                }
                self.quantified(Some(n))
            }
            Some(Token::Ident(name)) => {
                if name.contains('*') {
                    return Err(format!(
                        "pattern '{name}' is only allowed after '1 of' or 'all of'"
                    ));
                }
                match self.names.iter().position(|n| *n == name) {
                    Some(i) => Ok(Expr::Search(i)),
                    None => Err(format!(
                        "condition refers to '{name}', which is not defined in detection"
                    )),
                }
            }
            Some(t) => Err(format!("unexpected {}", describe(&t))),
            None => Err("condition ends too early".into()),
        }
    }

    /// `N of X` / `all of X` where X is a pattern or `them`; `count` None means all.
    fn quantified(&mut self, count: Option<usize>) -> Result<Expr, String> {
        if self.next() != Some(Token::Of) {
            return Err("expected 'of' after a quantifier".into());
        }
        let matched: Vec<usize> = match self.next() {
            // `them` leaves out identifiers starting with an underscore, as Sigma specifies.
            Some(Token::Them) => (0..self.names.len())
                .filter(|&i| !self.names[i].starts_with('_'))
                .collect(),
            Some(Token::Ident(pattern)) => {
                let found: Vec<usize> = (0..self.names.len())
                    .filter(|&i| glob_match(&pattern, &self.names[i]))
                    .collect();
                if found.is_empty() {
                    return Err(format!("'{pattern}' matches no search identifier"));
                }
                found
            }
            Some(t) => {
                return Err(format!(
                    "expected a pattern or 'them', found {}",
                    describe(&t)
                ))
            }
            None => return Err("expected a pattern or 'them'".into()),
        };
        if matched.is_empty() {
            return Err("'them' matches no search identifier".into());
        }
        let items: Vec<Expr> = matched.into_iter().map(Expr::Search).collect();
        Ok(match count {
            None => Expr::And(items),
            Some(1) => Expr::Or(items),
            Some(n) => Expr::AtLeast(n, items),
        })
    }
}

/// `*` matches any run of characters in an identifier pattern.
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["selection", "filter_a", "filter_b", "_hidden"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn p(s: &str) -> Result<Expr, String> {
        parse(s, &names())
    }

    #[test]
    fn precedence_and_grouping() {
        assert_eq!(
            p("selection and not filter_a or filter_b").unwrap(),
            Expr::Or(vec![
                Expr::And(vec![Expr::Search(0), Expr::Not(Box::new(Expr::Search(1)))]),
                Expr::Search(2)
            ])
        );
        assert_eq!(
            p("selection and (filter_a or filter_b)").unwrap(),
            Expr::And(vec![
                Expr::Search(0),
                Expr::Or(vec![Expr::Search(1), Expr::Search(2)])
            ])
        );
        assert_eq!(
            p("not not selection").unwrap(),
            Expr::Not(Box::new(Expr::Not(Box::new(Expr::Search(0)))))
        );
    }

    #[test]
    fn quantifiers() {
        assert_eq!(
            p("selection and not 1 of filter_*").unwrap(),
            Expr::And(vec![
                Expr::Search(0),
                Expr::Not(Box::new(Expr::Or(vec![Expr::Search(1), Expr::Search(2)])))
            ])
        );
        assert_eq!(
            p("all of them").unwrap(),
            Expr::And(vec![Expr::Search(0), Expr::Search(1), Expr::Search(2)])
        );
        assert_eq!(
            p("2 of *").unwrap(),
            Expr::AtLeast(2, (0..4).map(Expr::Search).collect())
        );
        assert_eq!(p("1 of _h*").unwrap(), Expr::Or(vec![Expr::Search(3)]));
    }

    #[test]
    fn errors_are_specific() {
        assert!(p("selection and").unwrap_err().contains("ends too early"));
        assert!(p("(selection").unwrap_err().contains("missing ')'"));
        assert!(p("nope")
            .unwrap_err()
            .contains("'nope', which is not defined"));
        assert!(p("1 of x*")
            .unwrap_err()
            .contains("matches no search identifier"));
        assert!(p("selection | count() > 5")
            .unwrap_err()
            .contains("correlation rule"));
        assert!(p("selection filter_a")
            .unwrap_err()
            .contains("after a complete expression"));
        assert!(p("sel*").unwrap_err().contains("only allowed after"));
    }

    #[test]
    fn glob() {
        assert!(glob_match("sel*", "selection"));
        assert!(glob_match("*", "x"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "acb"));
        assert!(!glob_match("ab*ba", "aba"));
    }
}
