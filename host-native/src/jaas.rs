//! The JAAS login file ZooKeeper servers take their SASL users from
//! (`java.security.auth.login.config`): sections of login modules with options,
//!
//! ```text
//! Server {
//!     org.apache.zookeeper.server.auth.DigestLoginModule required
//!     user_super="adminsecret"
//!     user_bob="bobsecret";
//! };
//! ```
//!
//! Of it zabkeeper reads one section (`Server` unless `zookeeper.sasl.serverconfig` names
//! another) and in it the DigestLoginModule's `user_NAME="password"` options: DIGEST-MD5 users.
//! Any other login module (Kerberos) in that section stops the start, since it is not built.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::ConfigError;

/// The login module whose `user_` options are DIGEST-MD5 users.
pub const DIGEST_MODULE: &str = "org.apache.zookeeper.server.auth.DigestLoginModule";

/// Reads `section`'s DIGEST-MD5 users from the JAAS file at `path`.
pub fn digest_users(path: &Path, section: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read the JAAS file {}: {e}", path.display())))?;
    users_from_text(&text, section).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
}

fn users_from_text(text: &str, section: &str) -> Result<BTreeMap<String, String>, String> {
    let sections = parse(text)?;
    let Some(modules) = sections.iter().find(|(name, _)| name == section).map(|(_, m)| m) else {
        return Err(format!("no section {section:?} (zookeeper.sasl.serverconfig names the section to read)"));
    };
    let mut users = BTreeMap::new();
    for module in modules {
        if module.class != DIGEST_MODULE {
            return Err(format!(
                "section {section:?}: login module {} is not supported (only {DIGEST_MODULE}: SASL DIGEST-MD5)",
                module.class
            ));
        }
        for (key, value) in &module.options {
            if let Some(user) = key.strip_prefix("user_") {
                if user.is_empty() {
                    return Err(format!("section {section:?}: option {key:?} names no user"));
                }
                users.insert(user.to_string(), value.clone());
            }
        }
    }
    if users.is_empty() {
        return Err(format!("section {section:?} has no user_NAME=\"password\" option"));
    }
    Ok(users)
}

#[derive(Debug, PartialEq, Eq)]
struct Module {
    class: String,
    options: Vec<(String, String)>,
}

#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Punct(char),
}

/// Words, quoted strings (with `\` escapes) and `{ } ; =`; `//`, `/* */` and `#` comments.
fn tokens(text: &str) -> Result<Vec<(usize, Token)>, String> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    let line_of = |at: usize| line_of(text, at);
    while let Some((at, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '#' => while chars.next_if(|&(_, c)| c != '\n').is_some() {},
            '/' if chars.next_if(|&(_, c)| c == '/').is_some() => while chars.next_if(|&(_, c)| c != '\n').is_some() {},
            '/' if chars.next_if(|&(_, c)| c == '*').is_some() => {
                let mut last = ' ';
                loop {
                    match chars.next() {
                        None => return Err(format!("line {}: comment not closed", line_of(at))),
                        Some((_, '/')) if last == '*' => break,
                        Some((_, c)) => last = c,
                    }
                }
            }
            '{' | '}' | ';' | '=' => out.push((at, Token::Punct(c))),
            '"' => {
                let mut value = String::new();
                loop {
                    match chars.next() {
                        None => return Err(format!("line {}: quoted string not closed", line_of(at))),
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, c)) => value.push(c),
                            None => return Err(format!("line {}: quoted string not closed", line_of(at))),
                        },
                        Some((_, c)) => value.push(c),
                    }
                }
                out.push((at, Token::Quoted(value)));
            }
            c => {
                let mut word = String::from(c);
                while let Some((_, c)) = chars.next_if(|&(_, c)| !c.is_whitespace() && !"{};=\"".contains(c)) {
                    word.push(c);
                }
                out.push((at, Token::Word(word)));
            }
        }
    }
    Ok(out)
}

type Tokens<'a> = core::iter::Peekable<core::slice::Iter<'a, (usize, Token)>>;

/// Takes the punctuation `want` or says where it is missing.
fn punct(at: &mut Tokens<'_>, want: char, text: &str) -> Result<(), String> {
    match at.next() {
        Some((_, Token::Punct(c))) if *c == want => Ok(()),
        Some((pos, t)) => Err(format!("line {}: expected '{want}', found {t:?}", line_of(text, *pos))),
        None => Err(format!("expected '{want}' at the end of the file")),
    }
}

fn line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

/// `Name { class flag key=value ... ; ... };` repeated.
fn parse(text: &str) -> Result<Vec<(String, Vec<Module>)>, String> {
    let tokens = tokens(text)?;
    let mut at = tokens.iter().peekable();
    let mut sections = Vec::new();
    let end = text.len();
    while let Some((pos, token)) = at.next() {
        let Token::Word(name) = token else {
            return Err(format!("line {}: expected a section name", line_of(text, *pos)));
        };
        punct(&mut at, '{', text)?;
        let mut modules = Vec::new();
        loop {
            match at.next() {
                Some((_, Token::Punct('}'))) => break,
                Some((p, Token::Word(class))) => {
                    let Some((_, Token::Word(_flag))) = at.next() else {
                        return Err(format!("line {}: {class}: expected a flag (required, ...)", line_of(text, *p)));
                    };
                    let mut options = Vec::new();
                    loop {
                        match at.next() {
                            Some((_, Token::Punct(';'))) => break,
                            Some((p, Token::Word(key))) => {
                                punct(&mut at, '=', text)?;
                                let value = match at.next() {
                                    Some((_, Token::Quoted(v) | Token::Word(v))) => v.clone(),
                                    _ => return Err(format!("line {}: {key}: expected a value", line_of(text, *p))),
                                };
                                options.push((key.clone(), value));
                            }
                            other => {
                                let p = other.map_or(end, |(p, _)| *p);
                                return Err(format!("line {}: expected an option or ';'", line_of(text, p)));
                            }
                        }
                    }
                    modules.push(Module { class: class.clone(), options });
                }
                other => {
                    let p = other.map_or(end, |(p, _)| *p);
                    return Err(format!("line {}: section {name}: expected a login module or '}}'", line_of(text, p)));
                }
            }
        }
        punct(&mut at, ';', text)?;
        sections.push((name.clone(), modules));
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
        // The servers' users.
        Server {
            org.apache.zookeeper.server.auth.DigestLoginModule required
            user_super="adminsecret"   /* the admin */
            user_bob="bob\"s secret"
            user_carol=plain;
        };
        # What a client on this machine logs in as.
        Client {
            org.apache.zookeeper.server.auth.DigestLoginModule required
            username="bob"
            password="bob\"s secret";
        };
    "#;

    #[test]
    fn reads_the_digest_users_of_one_section() {
        let users = users_from_text(FILE, "Server").unwrap();
        assert_eq!(users.len(), 3);
        assert_eq!(users["super"], "adminsecret");
        assert_eq!(users["bob"], "bob\"s secret");
        assert_eq!(users["carol"], "plain");
        assert!(users_from_text(FILE, "Client").unwrap_err().contains("no user_NAME"));
        assert!(users_from_text(FILE, "QuorumServer").unwrap_err().contains("no section"));
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        let kerberos = "Server { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true; };";
        assert!(users_from_text(kerberos, "Server").unwrap_err().contains("not supported"));
        for broken in [
            "Server {",
            "Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_a=\"x\" };",
            "Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_a; };",
            "Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_a=\"x; };",
            "Server { org.apache.zookeeper.server.auth.DigestLoginModule; };",
            "Server { org.apache.zookeeper.server.auth.DigestLoginModule required user_a=x; }",
            "/* open",
            "= Server",
        ] {
            assert!(users_from_text(broken, "Server").is_err(), "{broken}");
        }
    }
}
