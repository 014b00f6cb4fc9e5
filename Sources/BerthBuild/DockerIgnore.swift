import Foundation

/// `.dockerignore` as dockerd reads and matches it: one pattern per line, `#` comments, `!`
/// exceptions, patterns cleaned like paths (leading `/` dropped), Go's `filepath.Match` syntax
/// (`*`, `?`, `[…]`, `\` escapes) plus `**` for any number of directories. A path is excluded when
/// the last pattern matching it (or one of its parent directories) is not an exception.
public struct DockerIgnore: Sendable {
    struct Pattern: Sendable {
        let text: String
        let exclusion: Bool
        let regex: NSRegularExpression
        /// Path components in the pattern (a parent directory can only match with as many).
        let depth: Int
    }
    let patterns: [Pattern]

    public struct PatternError: Error, Equatable, CustomStringConvertible {
        public var pattern: String
        public var description: String { "syntax error in .dockerignore pattern: \(pattern)" }
    }

    public init(_ text: String) throws {
        var out: [Pattern] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = String(raw)
            if line.hasSuffix("\r") { line.removeLast() }
            if line.hasPrefix("#") { continue }
            line = line.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            var exclusion = false
            if line.hasPrefix("!") {
                exclusion = true
                line = String(line.dropFirst()).trimmingCharacters(in: .whitespaces)
            }
            let cleaned = Self.clean(line)
            if cleaned.isEmpty || cleaned == "." { continue }
            guard let re = Self.regex(cleaned) else { throw PatternError(pattern: line) }
            out.append(Pattern(text: cleaned, exclusion: exclusion, regex: re, depth: cleaned.split(separator: "/").count))
        }
        patterns = out
    }

    public var isEmpty: Bool { patterns.isEmpty }

    /// Like Go's `filepath.Clean`, relative to the context root: `./a//b/../c/` → `a/c`.
    static func clean(_ path: String) -> String {
        var parts: [Substring] = []
        for p in path.split(separator: "/") where p != "." && !p.isEmpty {
            if p == ".." { if !parts.isEmpty { parts.removeLast() } } else { parts.append(p) }
        }
        return parts.joined(separator: "/")
    }

    /// A pattern as an anchored regular expression over `/`-separated relative paths.
    static func regex(_ pattern: String) -> NSRegularExpression? {
        var re = "^"
        let chars = Array(pattern)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            switch c {
            case "*":
                if i + 1 < chars.count && chars[i + 1] == "*" {
                    i += 1
                    // `**/` also matches no directory at all; a trailing `**` matches everything.
                    if i + 1 < chars.count && chars[i + 1] == "/" { re += "(.*/)?"; i += 1 } else { re += ".*" }
                } else {
                    re += "[^/]*"
                }
            case "?":
                re += "[^/]"
            case "[":
                var j = i + 1
                var cls = "["
                if j < chars.count && (chars[j] == "^" || chars[j] == "!") { cls += "^"; j += 1 }
                var closed = false
                while j < chars.count {
                    if chars[j] == "]" && cls.count > 1 && cls != "[^" { closed = true; break }
                    if chars[j] == "\\" && j + 1 < chars.count { cls += NSRegularExpression.escapedPattern(for: String(chars[j + 1])); j += 2; continue }
                    if chars[j] == "/" { return nil }
                    cls += chars[j] == "-" ? "-" : NSRegularExpression.escapedPattern(for: String(chars[j]))
                    j += 1
                }
                guard closed else { return nil }
                re += cls + "]"
                i = j
            case "\\":
                guard i + 1 < chars.count else { return nil }
                re += NSRegularExpression.escapedPattern(for: String(chars[i + 1]))
                i += 1
            default:
                re += NSRegularExpression.escapedPattern(for: String(c))
            }
            i += 1
        }
        re += "$"
        return try? NSRegularExpression(pattern: re)
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out of the build.
    public func excludes(_ path: String) -> Bool {
        let p = Self.clean(path)
        guard !p.isEmpty else { return false }
        let parents = p.split(separator: "/")
        var excluded = false
        for pattern in patterns {
            var matched = Self.matches(pattern.regex, p)
            // A pattern that matches a parent directory matches what is inside it.
            if !matched {
                let deepest = pattern.text.contains("**") ? parents.count - 1 : min(pattern.depth, parents.count - 1)
                for n in stride(from: deepest, through: 1, by: -1) {
                    if Self.matches(pattern.regex, parents.prefix(n).joined(separator: "/")) { matched = true; break }
                }
            }
            if matched { excluded = !pattern.exclusion }
        }
        return excluded
    }

    /// Whether the path matches a pattern itself (no parent rule, no exceptions): COPY's wildcards.
    public func matchesExactly(_ path: String) -> Bool {
        let p = Self.clean(path)
        return patterns.contains { !$0.exclusion && Self.matches($0.regex, p) }
    }

    static func matches(_ re: NSRegularExpression, _ s: String) -> Bool {
        re.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
    }
}
