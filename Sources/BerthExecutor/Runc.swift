import BerthSystem
import Foundation

/// The one wrapper around the runc binary. Every call goes through `run`.
public struct Runc: Sendable {
    public let binary: String
    public let root: String

    public init(binary: String = "runc", root: String) {
        self.binary = binary
        self.root = root
    }

    var base: [String] { [binary, "--root", root] }

    @discardableResult
    func run(_ args: [String], input: [UInt8]? = nil) async throws -> Subprocess.Result {
        let r = try await Subprocess.run(base + args, input: input)
        if r.status != 0 {
            throw BerthError.system("runc \(args.first ?? ""): \(Self.errorText(r.stderrText))")
        }
        return r
    }

    /// runc prints logrus lines (`time=… level=error msg="…"`); keep the message.
    public static func errorText(_ s: String) -> String {
        let t = s.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let r = t.range(of: "msg=\"") else { return t }
        var out = ""
        var escaped = false
        for ch in t[r.upperBound...] {
            if escaped { out.append(ch); escaped = false; continue }
            if ch == "\\" { escaped = true; continue }
            if ch == "\"" { break }
            out.append(ch)
        }
        return out
    }

    public func start(_ id: String) async throws { try await run(["start", id]) }

    public func kill(_ id: String, signal: Int32, all: Bool = false) async throws {
        try await run(["kill"] + (all ? ["--all"] : []) + [id, String(signal)])
    }

    public func delete(_ id: String, force: Bool = false) async {
        _ = try? await Subprocess.run(base + ["delete"] + (force ? ["--force"] : []) + [id])
    }

    public func update(_ id: String, json: [UInt8]) async throws { try await run(["update", "-r", "-", id], input: json) }

    public func pause(_ id: String) async throws { try await run(["pause", id]) }
    public func resume(_ id: String) async throws { try await run(["resume", id]) }

    /// `created`, `running`, `paused`, `stopped`, or nil when runc does not know the container.
    public func state(_ id: String) async -> (status: String, pid: Int32)? {
        guard let r = try? await Subprocess.run(base + ["state", id]), r.status == 0,
              let obj = try? JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any],
              let status = obj["status"] as? String else { return nil }
        return (status, Int32((obj["pid"] as? Int) ?? 0))
    }

    /// Whether runc holds state for `id` (its state dir exists).
    public func exists(_ id: String) -> Bool { FS.exists(root + "/" + id) }
}
