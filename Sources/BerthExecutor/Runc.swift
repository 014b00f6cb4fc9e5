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

    /// What `runc delete` does for a container whose init has exited and that has no hooks
    /// (Berth's never have): its cgroups and its state directory go. Done here it saves a runc
    /// process (~6 ms) on every container exit. False, with nothing guessed at, when the state
    /// is not that plain one (init still alive, a cgroup still holding tasks): then the caller
    /// asks runc.
    public func deleteStopped(_ id: String) -> Bool {
        struct State: Decodable {
            let init_process_pid: Int32
            let init_process_start: UInt64
            let cgroup_paths: [String: String]?
        }
        let dir = root + "/" + id
        guard let data = FileManager.default.contents(atPath: dir + "/state.json"),
              let state = try? JSONDecoder().decode(State.self, from: data) else { return false }
        if Self.processStart(state.init_process_pid) == state.init_process_start { return false }  // still running
        for path in Set((state.cgroup_paths ?? [:]).values) where path.hasPrefix("/sys/fs/cgroup/") {
            if rmdir(path) != 0 && errno != ENOENT { return false }
        }
        FS.removeAll(dir)
        return true
    }

    /// A process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), which
    /// tells a live process from a later one that reuses its pid.
    static func processStart(_ pid: Int32) -> UInt64? {
        guard pid > 0, let stat = FS.readText("/proc/\(pid)/stat"),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? UInt64(fields[19]) : nil
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
