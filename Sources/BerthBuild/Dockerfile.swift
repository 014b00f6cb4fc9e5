import Foundation

/// A Dockerfile read into instructions, as dockerd's parser reads it: parser directives at the
/// top (`# escape=`, `# syntax=`), comments, line continuations with the escape character,
/// JSON and shell forms, leading `--flag=value`s. Nothing here runs or expands anything.
public struct Dockerfile: Sendable, Equatable {
    public var instructions: [Instruction]
    /// The escape character (`\` unless `# escape=` said otherwise).
    public var escape: Character
    /// `# syntax=` was given (dockerd's classic builder ignores it, with a warning).
    public var syntax: String?
    /// Notes the build prints (an empty continuation line, an ignored directive).
    public var warnings: [String]

    public struct Instruction: Sendable, Equatable {
        /// Lower case: `from`, `run`, `copy`, …
        public var keyword: String
        /// `--name=value` flags before the arguments (a flag without `=` has an empty value).
        public var flags: [(name: String, value: String)]
        /// The arguments: the JSON array's strings, or the rest of the line (shell form) as one.
        public var args: [String]
        public var json: Bool
        /// The instruction as written (continuations joined), for messages and history.
        public var original: String
        /// The line it starts on (1-based).
        public var line: Int

        public func flag(_ name: String) -> String? { flags.last { $0.name == name }?.value }

        public static func == (a: Instruction, b: Instruction) -> Bool {
            a.keyword == b.keyword && a.args == b.args && a.json == b.json && a.original == b.original && a.line == b.line
                && a.flags.map(\.name) == b.flags.map(\.name) && a.flags.map(\.value) == b.flags.map(\.value)
        }
    }

    public static let keywords: Set<String> = ["from", "run", "cmd", "entrypoint", "env", "arg", "label", "expose", "volume",
                                               "workdir", "user", "copy", "add", "shell", "stopsignal", "healthcheck",
                                               "onbuild", "maintainer"]
    /// Instructions whose arguments may be a JSON array.
    static let jsonForms: Set<String> = ["run", "cmd", "entrypoint", "shell", "volume", "copy", "add", "healthcheck"]
    /// Instructions that take `--flag`s before their arguments.
    static let takesFlags: Set<String> = ["from", "run", "copy", "add", "healthcheck"]
    /// The longest Dockerfile read (dockerd has no limit; a hostile one must not bloat berthd).
    public static let maxSize = 16 << 20

    /// A Dockerfile refused before anything runs; dockerd answers these with a 400 and words
    /// them by where its parser found them.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public enum Kind: Sendable, Equatable {
            /// An instruction's own arguments or flags: "dockerfile parse error on line N: …".
            case instruction
            /// The file's syntax (lines, pairs, directives): "failed to parse Dockerfile: …".
            case syntax
            /// Said as it is (no stage yet, no such target).
            case plain
        }
        public var line: Int
        public var message: String
        public var kind: Kind = .instruction
        public init(line: Int, message: String, kind: Kind = .instruction) {
            self.line = line; self.message = message; self.kind = kind
        }
        public var description: String {
            switch kind {
            case .instruction: return "dockerfile parse error on line \(line): \(message)"
            case .syntax: return "failed to parse Dockerfile: \(message)"
            case .plain: return message
            }
        }
    }

    public init(parsing text: String) throws {
        guard text.utf8.count <= Self.maxSize else { throw ParseError(line: 0, message: "the Dockerfile is larger than \(Self.maxSize) bytes", kind: .plain) }
        var escape: Character = "\\"
        var syntax: String? = nil
        var warnings: [String] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
        var i = 0
        // Parser directives: `# key=value` lines at the very top, each key once.
        var seen = Set<String>()
        while i < lines.count {
            let t = lines[i].trimmingCharacters(in: .whitespaces)
            guard t.hasPrefix("#"), let eq = t.firstIndex(of: "=") else { break }
            let key = t.dropFirst().prefix(upTo: eq).trimmingCharacters(in: .whitespaces).lowercased()
            let value = String(t[t.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
            guard key == "escape" || key == "syntax", !key.contains(" ") else { break }
            if seen.contains(key) { throw ParseError(line: i + 1, message: "only one \(key) parser directive can be used", kind: .syntax) }
            seen.insert(key)
            if key == "escape" {
                guard value == "\\" || value == "`" else { throw ParseError(line: i + 1, message: "invalid escape token '\(value)' does not match ` or \\", kind: .syntax) }
                escape = Character(value)
            } else {
                syntax = value
                warnings.append("the syntax parser directive is ignored by this builder: \(value)")
            }
            i += 1
        }
        var out: [Instruction] = []
        while i < lines.count {
            let start = i
            var raw = lines[i]
            i += 1
            let trimmed = raw.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            // Continuations: a line ending with the escape character (and maybe blanks) goes on;
            // comment lines inside are dropped, an empty one is noted.
            var joined = ""
            while true {
                let body = raw.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
                if body.last == escape {
                    joined += String(body.dropLast())
                    var next: String? = nil
                    while i < lines.count {
                        let l = lines[i]
                        i += 1
                        let lt = l.trimmingCharacters(in: .whitespaces)
                        if lt.hasPrefix("#") { continue }
                        if lt.isEmpty { warnings.append("empty continuation line found in: \(joined.prefix(60))"); continue }
                        next = l
                        break
                    }
                    guard let n = next else { break }
                    raw = n
                } else {
                    joined += raw
                    break
                }
            }
            out.append(try Self.instruction(joined.trimmingCharacters(in: .whitespaces), line: start + 1))
        }
        if out.isEmpty {
            throw ParseError(line: lines.count, message: text.isEmpty ? "the Dockerfile (Dockerfile) cannot be empty" : "file with no instructions",
                             kind: text.isEmpty ? .plain : .syntax)
        }
        instructions = out
        self.escape = escape
        self.syntax = syntax
        self.warnings = warnings
    }

    /// One instruction from its text (an ONBUILD trigger is read this way).
    public static func instruction(_ text: String, line: Int) throws -> Instruction {
        let word = text.prefix { !$0.isWhitespace }
        let keyword = word.lowercased()
        guard keywords.contains(keyword) else { throw ParseError(line: line, message: "unknown instruction: \(word.uppercased())") }
        var rest = text.dropFirst(word.count).drop { $0.isWhitespace }
        var flags: [(String, String)] = []
        if takesFlags.contains(keyword) {
            while rest.hasPrefix("--") {
                let token = rest.prefix { !$0.isWhitespace }
                let body = token.dropFirst(2)
                if body.isEmpty { break }   // a bare `--` ends the flags
                if let eq = body.firstIndex(of: "=") {
                    flags.append((String(body[..<eq]), String(body[body.index(after: eq)...])))
                } else {
                    flags.append((String(body), ""))
                }
                rest = rest.dropFirst(token.count).drop { $0.isWhitespace }
            }
        }
        let args = String(rest)
        if jsonForms.contains(keyword), args.hasPrefix("["), let data = args.data(using: .utf8),
           let array = try? JSONSerialization.jsonObject(with: data) as? [Any], array.allSatisfy({ $0 is String }) {
            let inst = Instruction(keyword: keyword, flags: flags, args: array.map { $0 as! String }, json: true, original: text, line: line)
            for f in flags where !(knownFlags[keyword] ?? []).contains(f.0) {
                throw ParseError(line: line, message: "Unknown flag: \(f.0)")
            }
            if (keyword == "copy" || keyword == "add") && inst.args.count < 2 {
                throw ParseError(line: line, message: "\(keyword.uppercased()) requires at least two arguments, but only one was provided. Destination could not be determined")
            }
            if keyword == "volume" && inst.args.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
                throw ParseError(line: line, message: "VOLUME specified can not be an empty string")
            }
            return inst
        }
        let inst = Instruction(keyword: keyword, flags: flags, args: [args], json: false, original: text, line: line)
        try check(inst)
        return inst
    }

    /// The flags each instruction takes (dockerd's parser refuses others).
    static let knownFlags: [String: Set<String>] = [
        "from": ["platform"], "run": ["mount", "network", "security"],
        "copy": ["from", "chown", "chmod", "link", "parents", "exclude"],
        "add": ["chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"],
        "healthcheck": ["interval", "timeout", "start-period", "start-interval", "retries"],
    ]

    /// What dockerd's parser checks of an instruction in shell form before anything runs.
    static func check(_ i: Instruction) throws {
        let name = i.keyword.uppercased()
        func fail(_ m: String, _ kind: ParseError.Kind = .instruction) -> ParseError { ParseError(line: i.line, message: m, kind: kind) }
        for f in i.flags where !(knownFlags[i.keyword] ?? []).contains(f.name) { throw fail("Unknown flag: \(f.name)") }
        let text = i.args.first ?? ""
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        switch i.keyword {
        case "env", "label", "arg", "volume", "expose", "onbuild", "healthcheck":
            if text.isEmpty { throw fail("\(name) requires at least one argument") }
            if i.keyword == "env" || i.keyword == "label" {
                // The old form (`ENV name value`) needs a value; the new one `=` in every word.
                if let first = fields.first, !first.contains("=") {
                    if fields.count < 2 { throw fail("\(name) must have two arguments", .syntax) }
                } else if let bad = ShellWords.unquotedWords(text).first(where: { !$0.contains("=") }) {
                    throw fail("Syntax error - can't find = in \(GoText.quote(bad)). Must be of the form: name=value", .syntax)
                }
            }
            if i.keyword == "healthcheck" { try checkHealthcheck(i, fail) }
            if i.keyword == "onbuild", let w = fields.first?.lowercased() {
                if w == "onbuild" { throw fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed") }
                if w == "from" || w == "maintainer" { throw fail("\(w.uppercased()) isn't allowed as an ONBUILD trigger") }
            }
        case "workdir", "user", "stopsignal", "maintainer":
            if fields.count != 1 && i.keyword != "maintainer" || text.isEmpty { throw fail("\(name) requires exactly one argument") }
        case "copy", "add":
            if fields.count < 2 { throw fail("\(name) requires at least two arguments, but only one was provided. Destination could not be determined") }
        case "shell":
            throw fail("SHELL requires the arguments to be in JSON form")
        default:
            break
        }
    }

    static func checkHealthcheck(_ i: Instruction, _ fail: (String, ParseError.Kind) -> ParseError) throws {
        let words = (i.args.first ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" })
        let type = words.first.map { $0.uppercased() } ?? ""
        if type == "NONE" {
            if words.count > 1 || !i.flags.isEmpty { throw fail("HEALTHCHECK NONE takes no arguments", .instruction) }
            return
        }
        guard type == "CMD" else { throw fail("Unknown type \(GoText.quote(String(words.first ?? ""))) in HEALTHCHECK (try CMD)", .instruction) }
        if words.count < 2 { throw fail("Missing command after HEALTHCHECK CMD", .instruction) }
        for f in i.flags where f.name != "retries" {
            guard let ns = HealthDuration.parse(f.value) else { throw fail("time: invalid duration \(GoText.quote(f.value))", .instruction) }
            if ns != 0 && ns < 1_000_000 { throw fail("Interval \(GoText.quote(f.name)) cannot be less than 1ms", .instruction) }
        }
        if let r = i.flag("retries") {
            guard let n = Int(r) else { throw fail("strconv.ParseInt: parsing \(GoText.quote(r)): invalid syntax", .instruction) }
            if n < 0 { throw fail("--retries cannot be negative (\(n))", .instruction) }
        }
    }
}
