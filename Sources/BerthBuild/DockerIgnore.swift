import BerthArchive
import Foundation

/// `.dockerignore` as dockerd reads and matches it: one pattern per line, `#` comments, `!`
/// exceptions, patterns cleaned like paths (leading `/` dropped), Go's `filepath.Match` syntax
/// (`*`, `?`, `[…]`, `\` escapes) plus `**` for any number of directories. A path is excluded when
/// the last pattern matching it (or one of its parent directories) is not an exception.
public struct DockerIgnore: Sendable {
    struct Pattern: Sendable {
        let text: String
        let exclusion: Bool
        let glob: Glob
        /// Path components in the pattern (a parent directory can only match with as many).
        let depth: Int
    }
    let patterns: [Pattern]

    public struct PatternError: Error, Equatable, CustomStringConvertible {
        public var pattern: String
        public var description: String { "syntax error in .dockerignore pattern: \(pattern)" }
    }

    /// A pattern compiled to tokens, matched by dynamic programming in time proportional to
    /// pattern × path (no backtracking: a hostile pattern cannot make it exponential).
    struct Glob: Sendable {
        enum Token: Sendable {
            case byte(UInt8)
            case one                          // `?`: one byte but `/`
            case star                         // `*`: bytes but `/`
            case any                          // `**`: any bytes
            case anyDirs                      // `**/`: nothing, or anything ending in `/`
            case set([UInt8], negated: Bool)  // `[…]`: one byte but `/`
        }
        let tokens: [Token]

        init?(_ pattern: String) {
            let p = Array(pattern.utf8)
            var out: [Token] = []
            var i = 0
            while i < p.count {
                let c = p[i]
                switch c {
                case UInt8(ascii: "*"):
                    if i + 1 < p.count && p[i + 1] == UInt8(ascii: "*") {
                        i += 1
                        if i + 1 < p.count && p[i + 1] == UInt8(ascii: "/") { out.append(.anyDirs); i += 1 } else { out.append(.any) }
                    } else { out.append(.star) }
                case UInt8(ascii: "?"):
                    out.append(.one)
                case UInt8(ascii: "["):
                    var j = i + 1
                    var negated = false
                    if j < p.count && (p[j] == UInt8(ascii: "^") || p[j] == UInt8(ascii: "!")) { negated = true; j += 1 }
                    var members: [UInt8] = []
                    var closed = false
                    while j < p.count {
                        if p[j] == UInt8(ascii: "]") && !members.isEmpty { closed = true; break }
                        if p[j] == UInt8(ascii: "/") { return nil }
                        if p[j] == UInt8(ascii: "\\") && j + 1 < p.count { members.append(p[j + 1]); j += 2; continue }
                        if p[j] == UInt8(ascii: "-") && !members.isEmpty && j + 1 < p.count && p[j + 1] != UInt8(ascii: "]") {
                            let lo = members.removeLast(), hi = p[j + 1]
                            guard lo <= hi else { return nil }
                            members += Array(lo...hi)
                            j += 2
                            continue
                        }
                        members.append(p[j])
                        j += 1
                    }
                    guard closed else { return nil }
                    out.append(.set(members, negated: negated))
                    i = j
                case UInt8(ascii: "\\"):
                    guard i + 1 < p.count else { return nil }
                    out.append(.byte(p[i + 1]))
                    i += 1
                default:
                    out.append(.byte(c))
                }
                i += 1
            }
            tokens = out
        }

        func matches(_ path: String) -> Bool {
            let s = Array(path.utf8)
            let slash = UInt8(ascii: "/")
            // next[j]: the tokens after the current one match s[j...]; filled from the last token back.
            var next = [Bool](repeating: false, count: s.count + 1)
            next[s.count] = true
            for t in tokens.reversed() {
                var cur = [Bool](repeating: false, count: s.count + 1)
                var tail = false   // for `**/`: some k ≥ j with s[k] == "/" and next[k + 1]
                for j in stride(from: s.count, through: 0, by: -1) {
                    let atEnd = j == s.count
                    switch t {
                    case .byte(let b): cur[j] = !atEnd && s[j] == b && next[j + 1]
                    case .one: cur[j] = !atEnd && s[j] != slash && next[j + 1]
                    case .star: cur[j] = next[j] || (!atEnd && s[j] != slash && cur[j + 1])
                    case .any: cur[j] = next[j] || (!atEnd && cur[j + 1])
                    case .anyDirs:
                        if !atEnd && s[j] == slash && next[j + 1] { tail = true }
                        cur[j] = next[j] || tail
                    case .set(let members, let negated):
                        cur[j] = !atEnd && s[j] != slash && members.contains(s[j]) != negated && next[j + 1]
                    }
                }
                next = cur
            }
            return next[0]
        }
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
            // `**/**` means what `**` means; folding the runs keeps the expression linear, so a
            // hostile pattern cannot make matching backtrack exponentially.
            var cleaned = Self.clean(line)
            while cleaned.contains("**/**") { cleaned = cleaned.replacingOccurrences(of: "**/**", with: "**") }
            while cleaned.contains("***") { cleaned = cleaned.replacingOccurrences(of: "***", with: "**") }
            if cleaned.isEmpty || cleaned == "." { continue }
            guard cleaned.utf8.count <= 1024, let glob = Glob(cleaned) else { throw PatternError(pattern: line) }
            out.append(Pattern(text: cleaned, exclusion: exclusion, glob: glob, depth: cleaned.split(separator: "/").count))
        }
        patterns = out
    }

    public var isEmpty: Bool { patterns.isEmpty }

    /// Like Go's `filepath.Clean`, relative to the context root: `./a//b/../c/` → `a/c`.
    static func clean(_ path: String) -> String { cleanArchivePath(path, clamp: true) ?? "" }

    /// Whether `path` (relative to the context, `/`-separated) is left out of the build.
    public func excludes(_ path: String) -> Bool {
        let p = Self.clean(path)
        guard !p.isEmpty else { return false }
        let parents = p.split(separator: "/")
        var excluded = false
        for pattern in patterns {
            var matched = pattern.glob.matches(p)
            // A pattern that matches a parent directory matches what is inside it.
            if !matched {
                let deepest = pattern.text.contains("**") ? parents.count - 1 : min(pattern.depth, parents.count - 1)
                for n in stride(from: deepest, through: 1, by: -1) {
                    if pattern.glob.matches(parents.prefix(n).joined(separator: "/")) { matched = true; break }
                }
            }
            if matched { excluded = !pattern.exclusion }
        }
        return excluded
    }

    /// Whether the path matches a pattern itself (no parent rule, no exceptions): COPY's wildcards.
    public func matchesExactly(_ path: String) -> Bool {
        let p = Self.clean(path)
        return patterns.contains { !$0.exclusion && $0.glob.matches(p) }
    }

}
