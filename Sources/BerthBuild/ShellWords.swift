/// Dockerfile word processing as dockerd does it for FROM, ENV, ARG, LABEL, COPY, ADD, WORKDIR,
/// USER, EXPOSE, VOLUME and STOPSIGNAL: quotes (`'…'` literal, `"…"` with substitution), the
/// escape character, and `$var`, `${var}`, `${var:-word}`, `${var-word}`, `${var:+word}`,
/// `${var+word}`, `${var:?message}`, `${var?message}`. Unset variables are empty.
public struct ShellWords: Sendable {
    public let escape: Character
    public init(escape: Character = "\\") { self.escape = escape }

    public struct ExpansionError: Error, Equatable, CustomStringConvertible {
        public var message: String
        public init(message: String) { self.message = message }
        public var description: String { message }
    }

    /// The most a word may grow to through substitution (a hostile Dockerfile must not bloat berthd).
    public static let maxLength = 1 << 20

    /// One word, quotes removed and variables substituted.
    public func expand(_ word: String, env: [String: String]) throws -> String {
        var s = Scanner(chars: Array(word), escape: escape, env: env, depth: 0)
        return try s.word(splitting: false).first ?? ""
    }

    /// Words separated by unquoted blanks, each expanded (an empty quoted word stays a word).
    public func words(_ text: String, env: [String: String]) throws -> [String] {
        var s = Scanner(chars: Array(text), escape: escape, env: env, depth: 0)
        return try s.word(splitting: true)
    }

    /// Words split at blanks outside quotes, quotes kept and nothing expanded (how dockerd's
    /// parser looks at `key=value` pairs before anything runs).
    public static func unquotedWords(_ text: String, escape: Character = "\\") -> [String] {
        var out: [String] = [], cur = "", quote: Character? = nil, escaped = false
        for c in text {
            if escaped { cur.append(c); escaped = false; continue }
            if c == escape && quote != "'" { cur.append(c); escaped = true; continue }
            if let q = quote { cur.append(c); if c == q { quote = nil }; continue }
            if c == "'" || c == "\"" { quote = c; cur.append(c); continue }
            if c == " " || c == "\t" { if !cur.isEmpty { out.append(cur); cur = "" }; continue }
            cur.append(c)
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    /// ENV and LABEL arguments: `key=value …` (each word expanded, split at its first `=`), or
    /// the legacy `key value with spaces` (one pair; the value is the rest of the line).
    public func pairs(_ text: String, env: [String: String], keyword: String) throws -> [(key: String, value: String)] {
        let first = text.prefix { $0 != " " && $0 != "\t" }
        if !first.contains("=") {
            let rest = text.dropFirst(first.count).drop { $0 == " " || $0 == "\t" }
            guard !rest.isEmpty else { throw ExpansionError(message: "\(keyword.uppercased()) requires at least two arguments") }
            return [(try expand(String(first), env: env), try expand(String(rest), env: env))]
        }
        return try words(text, env: env).map { w in
            guard let eq = w.firstIndex(of: "="), eq != w.startIndex else {
                throw ExpansionError(message: "\(keyword.uppercased()) names can not be blank")
            }
            return (String(w[..<eq]), String(w[w.index(after: eq)...]))
        }
    }

    struct Scanner {
        let chars: [Character]
        let escape: Character
        let env: [String: String]
        let depth: Int
        var i = 0

        init(chars: [Character], escape: Character, env: [String: String], depth: Int) {
            self.chars = chars; self.escape = escape; self.env = env; self.depth = depth
        }

        var atEnd: Bool { i >= chars.count }
        func peek(_ o: Int = 0) -> Character? { i + o < chars.count ? chars[i + o] : nil }

        mutating func word(splitting: Bool) throws -> [String] {
            var out: [String] = []
            var cur = ""
            var started = false
            func check(_ s: String) throws {
                if s.utf8.count > ShellWords.maxLength { throw ExpansionError(message: "a word grows past \(ShellWords.maxLength) bytes") }
            }
            while !atEnd {
                let c = chars[i]
                if splitting && (c == " " || c == "\t") {
                    if started { out.append(cur); cur = ""; started = false }
                    i += 1
                    continue
                }
                started = true
                if c == escape {
                    i += 1
                    if let n = peek() { cur.append(n); i += 1 } else { cur.append(c) }
                } else if c == "'" {
                    i += 1
                    while let n = peek(), n != "'" { cur.append(n); i += 1 }
                    guard peek() == "'" else { throw ExpansionError(message: "unexpected end of statement while looking for matching single-quote") }
                    i += 1
                } else if c == "\"" {
                    i += 1
                    while let n = peek(), n != "\"" {
                        if n == escape, let m = peek(1), m == "\"" || m == "$" || m == escape {
                            cur.append(m); i += 2
                        } else if n == "$" {
                            cur += try variable()
                        } else {
                            cur.append(n); i += 1
                        }
                    }
                    guard peek() == "\"" else { throw ExpansionError(message: "unexpected end of statement while looking for matching double-quote") }
                    i += 1
                } else if c == "$" {
                    cur += try variable()
                } else {
                    cur.append(c)
                    i += 1
                }
                try check(cur)
            }
            if started { out.append(cur) }
            return out
        }

        static func isNameChar(_ c: Character) -> Bool { c.isASCII && (c.isLetter || c.isNumber || c == "_") }

        /// At a `$`: the substitution it starts (a `$` before nothing substitutable stays).
        mutating func variable() throws -> String {
            i += 1
            guard let c = peek() else { return "$" }
            if c == "{" {
                i += 1
                let nameStart = i
                while let n = peek(), Self.isNameChar(n) { i += 1 }
                let name = String(chars[nameStart..<i])
                guard !name.isEmpty else { throw ExpansionError(message: "bad substitution") }
                guard let n = peek() else { throw ExpansionError(message: "missing '}'") }
                if n == "}" { i += 1; return env[name] ?? "" }
                var colon = false
                var op = n
                if n == ":" {
                    colon = true
                    i += 1
                    guard let o = peek() else { throw ExpansionError(message: "missing '}'") }
                    op = o
                }
                guard op == "-" || op == "+" || op == "?" else { throw ExpansionError(message: "unsupported modifier (\(op)) in substitution") }
                i += 1
                // The word runs to the matching `}` (nested braces counted).
                let wordStart = i
                var level = 0
                while let w = peek() {
                    if w == escape { i += 2; continue }
                    if w == "{" { level += 1 } else if w == "}" { if level == 0 { break }; level -= 1 }
                    i += 1
                }
                guard peek() == "}" else { throw ExpansionError(message: "missing '}'") }
                let wordChars = Array(chars[wordStart..<min(i, chars.count)])
                i += 1
                guard depth < 32 else { throw ExpansionError(message: "substitutions nested too deep") }
                var inner = Scanner(chars: wordChars, escape: escape, env: env, depth: depth + 1)
                let word = try inner.word(splitting: false).first ?? ""
                let value = env[name]
                let isSet = colon ? !(value ?? "").isEmpty : value != nil
                switch op {
                case "-": return isSet ? value! : word
                case "+": return isSet ? word : ""
                default:
                    if isSet { return value! }
                    throw ExpansionError(message: "\(name): \(word.isEmpty ? "is not allowed to be unset" : word)")
                }
            }
            guard Self.isNameChar(c) else { return "$" }
            let start = i
            if c.isNumber { i += 1 } else { while let n = peek(), Self.isNameChar(n) { i += 1 } }
            return env[String(chars[start..<i])] ?? ""
        }
    }
}
