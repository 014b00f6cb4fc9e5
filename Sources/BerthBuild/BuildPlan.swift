import Foundation

/// The stages of a Dockerfile and which of them a build needs: the target (`--target`, else the
/// last stage) and, transitively, the stages it starts FROM or copies `--from`; the others are
/// skipped, as dockerd's classic builder skips them.
public struct BuildPlan: Sendable {
    public struct Stage: Sendable {
        public var index: Int
        /// Lower case; nil without `AS`.
        public var name: String?
        /// The FROM argument as written (expanded with the global ARGs when built).
        public var base: String
        public var from: Dockerfile.Instruction
        /// The instructions after FROM.
        public var instructions: [Dockerfile.Instruction]
    }
    /// `ARG`s before the first FROM: usable in FROM lines (and, redeclared, in stages).
    public var globalArgs: [Dockerfile.Instruction]
    public var stages: [Stage]
    let shell: ShellWords

    static let validName = try! NSRegularExpression(pattern: "^[a-z][a-z0-9-_.]*$")

    public init(_ d: Dockerfile) throws {
        shell = ShellWords(escape: d.escape)
        var globals: [Dockerfile.Instruction] = []
        var stages: [Stage] = []
        for i in d.instructions {
            if i.keyword == "from" {
                let words = (i.args.first ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                guard words.count == 1 || (words.count == 3 && words[1].lowercased() == "as") else {
                    throw Dockerfile.ParseError(line: i.line, message: "FROM requires either one or three arguments")
                }
                var name: String? = nil
                if words.count == 3 {
                    let n = words[2].lowercased()
                    guard Self.validName.firstMatch(in: n, range: NSRange(n.startIndex..., in: n)) != nil else {
                        throw Dockerfile.ParseError(line: i.line, message: "invalid name for build stage: \"\(words[2])\", name can't start with a number or contain symbols")
                    }
                    name = n
                }
                stages.append(Stage(index: stages.count, name: name, base: words[0], from: i, instructions: []))
            } else if stages.isEmpty {
                guard i.keyword == "arg" else {
                    throw Dockerfile.ParseError(line: i.line, message: "no build stage in current context", kind: .plain)
                }
                globals.append(i)
            } else {
                stages[stages.count - 1].instructions.append(i)
            }
        }
        guard !stages.isEmpty else { throw Dockerfile.ParseError(line: d.instructions.last?.line ?? 1, message: "no build stage in current context", kind: .plain) }
        globalArgs = globals
        self.stages = stages
    }

    /// The global ARGs' values: their defaults, overridden by `--build-arg`s.
    public func globalArgValues(buildArgs: [String: String]) throws -> [String: String] {
        var env: [String: String] = [:]
        for a in globalArgs {
            let text = a.args.first ?? ""
            let name = String(text.prefix { $0 != "=" })
            if let v = buildArgs[name] { env[name] = v; continue }
            if let eq = text.firstIndex(of: "=") { env[name] = try shell.expand(String(text[text.index(after: eq)...]), env: env) }
        }
        return env
    }

    /// An earlier stage by name or number, as FROM and `COPY --from` refer to them.
    public func stage(_ ref: String, before index: Int) -> Int? {
        let r = ref.lowercased()
        if let s = stages.prefix(index).first(where: { $0.name == r }) { return s.index }
        if let n = Int(ref), n >= 0, n < index { return n }
        return nil
    }

    /// The stages to build, in order, for `target` (nil: the last one).
    public func needed(target: String?, buildArgs: [String: String] = [:]) throws -> [Int] {
        var goal = stages.count - 1
        if let t = target, !t.isEmpty {
            guard let s = stages.first(where: { $0.name == t.lowercased() }) else {
                throw Dockerfile.ParseError(line: 0, message: "failed to reach build target \(t) in Dockerfile", kind: .plain)
            }
            goal = s.index
        }
        let globals = try globalArgValues(buildArgs: buildArgs)
        var need = Set<Int>()
        var todo = [goal]
        while let i = todo.popLast() {
            guard need.insert(i).inserted else { continue }
            let s = stages[i]
            if let dep = stage(try shell.expand(s.base, env: globals), before: i) { todo.append(dep) }
            for inst in s.instructions where inst.keyword == "copy" || inst.keyword == "add" {
                if let from = inst.flag("from"), let dep = stage(from, before: i) { todo.append(dep) }
            }
        }
        return need.sorted()
    }
}
