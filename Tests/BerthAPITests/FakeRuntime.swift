#if canImport(Glibc)
import Glibc
#endif
import BerthExecutor
import BerthSystem
import Foundation
import Synchronization

/// A `ContainerRuntime` with no root, no runc and no kernel features: processes are tasks that
/// play a tiny script given as the container's command, and everything the real runtime leaves
/// on disk for the engine (exit files, the k8s-file log, the writable layer) is written the same
/// way under a temporary directory. It records what the engine asked of it, for tests to check.
///
/// Commands (the words of argv, or of `sh -c "…"`):
/// `echo WORDS` (stdout), `warn WORDS` (stderr), `exit N`, `true`, `false`, `cat` (stdin to stdout
/// until stdin ends), `oom` (killed by the OOM killer), `test -f PATH` (PATH made with `touch`),
/// `sleep` (runs until signalled; `sleep-hard` ignores SIGTERM), `missing` (cannot be executed).
/// Several commands run in turn when joined with `;`.
final class FakeRuntime: ContainerRuntime {
    let root: String
    let exitDirectory: String

    struct Calls: Sendable {
        var started: [String] = []
        var specs: [String: ContainerSpec] = [:]
        var teardowns: [String: Int] = [:]
        var removed: [String] = []
        var signals: [(pid: Int32, signal: Int32)] = []
        var paused: Set<String> = []
        var updates: [String: OCISpec.Resources] = [:]
        var resizes: [String: (Int, Int)] = [:]
        var stages: [String] = []
        var logRotations: [String] = []
    }
    let calls = Mutex(Calls())

    private struct State {
        var nextPid: Int32 = 5_000_000  // above any kernel pid_max: never a real process
        var processes: [Int32: FakeProcess] = [:]
        var byContainer: [String: FakeProcess] = [:]
        var liveMonitors: Set<Int32> = []
        var files: [String: Set<String>] = [:]
    }
    private let state = Mutex(State())

    init(root: String) throws {
        self.root = root
        exitDirectory = root + "/run/exits"
        try FS.mkdirAll(exitDirectory, mode: 0o700)
    }

    func paths(_ id: String) -> ContainerPaths { ContainerPaths(id: id, dataRoot: root, execRoot: root + "/run") }

    // MARK: test controls

    /// Makes `path` exist in the container (for `test -f`).
    func touch(_ id: String, _ path: String) { state.withLock { _ = $0.files[id, default: []].insert(path) } }
    /// The monitor of the container's current process dies without writing an exit file, as when
    /// the host kills it; with `exitWhileAway`, the exit file is written (the process ended while
    /// berthd was down).
    func loseMonitor(_ id: String, exitCode: Int32? = nil) {
        let p = state.withLock { s -> FakeProcess? in
            guard let p = s.byContainer[id] else { return nil }
            s.liveMonitors.remove(p.monitorPid)
            return p
        }
        guard let p else { return }
        p.detach()
        if let exitCode { writeExit(id, code: exitCode, oom: false) }
    }
    func process(_ id: String) -> FakeProcess? { state.withLock { $0.byContainer[id] } }

    // MARK: ContainerRuntime

    func start(_ spec: ContainerSpec, hooks: StartHooks) async throws -> (pid: Int32, monitorPid: Int32) {
        let p = paths(spec.id)
        try FS.mkdirAll(p.dir, mode: 0o700)
        try prepareLayer(spec.id)
        unlink(p.exitFile)
        unlink(p.dir + "/oom")
        calls.withLock { $0.started.append(spec.id); $0.specs[spec.id] = spec; $0.stages.append("prepare \(spec.id)") }
        let script = FakeScript(spec.process.args)
        if script.cannotExecute {
            throw BerthError.system("OCI runtime create failed: runc create failed: unable to start container process: exec: \"\(spec.process.args.first ?? "")\": executable file not found in $PATH: unknown")
        }
        let (pid, monitorPid) = state.withLock { s -> (Int32, Int32) in
            s.nextPid += 2
            return (s.nextPid, s.nextPid - 1)
        }
        let proc = FakeProcess(pid: pid, monitorPid: monitorPid, script: script, stdinOnce: spec.process.stdinOnce,
                               log: spec.log.keep ? p.log : nil)
        state.withLock { s in
            s.processes[pid] = proc
            s.byContainer[spec.id] = proc
            s.liveMonitors.insert(monitorPid)
        }
        calls.withLock { $0.stages.append("create \(spec.id)") }
        await hooks.created(pid, monitorPid)
        calls.withLock { $0.stages.append("attach \(spec.id)") }
        do {
            try await hooks.setup(pid)
        } catch {
            proc.detach()
            state.withLock { s in s.processes[pid] = nil; s.liveMonitors.remove(monitorPid) }
            throw error
        }
        calls.withLock { $0.stages.append("setup \(spec.id)") }
        let id = spec.id
        proc.run(files: { [weak self] in self?.state.withLock { $0.files[id] ?? [] } ?? [] }) { [weak self] code, oom in
            self?.exited(id, pid: pid, monitorPid: monitorPid, code: code, oom: oom)
        }
        calls.withLock { $0.stages.append("start \(spec.id)") }
        return (pid, monitorPid)
    }

    private func exited(_ id: String, pid: Int32, monitorPid: Int32, code: Int32, oom: Bool) {
        let monitored = state.withLock { s -> Bool in
            s.processes[pid] = nil
            return s.liveMonitors.remove(monitorPid) != nil
        }
        if monitored { writeExit(id, code: code, oom: oom) }
    }

    /// As conmon does: the oom marker, then the exit code, renamed into place (the engine watches
    /// for the rename).
    private func writeExit(_ id: String, code: Int32, oom: Bool) {
        let p = paths(id)
        if oom { FileManager.default.createFile(atPath: p.dir + "/oom", contents: Data()) }
        let tmp = root + "/run/exit-" + id
        FileManager.default.createFile(atPath: tmp, contents: Data("\(code)".utf8))
        rename(tmp, p.exitFile)
    }

    func exitStatus(_ id: String) -> ExitStatus? {
        Monitor.exitStatus(paths(id)).map { ExitStatus(code: $0.code, oom: $0.oom, at: $0.at) }
    }

    func monitorAlive(_ monitorPid: Int32) -> Bool { state.withLock { $0.liveMonitors.contains(monitorPid) } }

    @discardableResult
    func signal(_ pid: Int32, _ signal: Int32) -> Bool {
        calls.withLock { $0.signals.append((pid, signal)) }
        guard let p = state.withLock({ $0.processes[pid] }) else { return false }
        if signal != 0 { p.signal(signal) }
        return true
    }

    func pause(_ id: String) async throws { calls.withLock { _ = $0.paused.insert(id) } }
    func resume(_ id: String) async throws { calls.withLock { _ = $0.paused.remove(id) } }
    func update(_ id: String, _ resources: OCISpec.Resources) async throws { calls.withLock { $0.updates[id] = resources } }
    func resize(_ id: String, height: Int, width: Int) { calls.withLock { $0.resizes[id] = (height, width) } }

    func teardown(_ id: String) async {
        calls.withLock { $0.teardowns[id, default: 0] += 1; $0.stages.append("teardown \(id)") }
    }

    func remove(_ id: String) async {
        await teardown(id)
        calls.withLock { $0.removed.append(id) }
        let p = paths(id)
        FS.removeAll(p.exitFile)
        FS.removeAll(p.dir)
    }

    func attach(_ id: String) throws -> any StdioSession {
        guard let p = state.withLock({ $0.byContainer[id] }) else { throw BerthError.system("no monitor for \(id)") }
        return p.attach()
    }

    func exec(_ id: String, execID: String, _ spec: ExecSpec) throws -> any ExecSession {
        guard let container = state.withLock({ $0.byContainer[id] }), container.isRunning else {
            throw BerthError.conflict("Container \(id) is not running")
        }
        let files = state.withLock { $0.files[id] ?? [] }
        return FakeExec(script: FakeScript(spec.args), files: files, pid: state.withLock { s in s.nextPid += 1; return s.nextPid })
    }

    func prepareProbe(containerID: String, argv: [String]) throws {}

    func probe(containerID: String, argv: [String], timeoutMs: Int64) async -> ProbeResult {
        let files = state.withLock { $0.files[containerID] ?? [] }
        let exec = FakeExec(script: FakeScript(argv), files: files, pid: 0)
        var out: [UInt8] = []
        let reader = Task { for await c in exec.output { out += c.bytes }; return out }
        let code = await exec.wait()
        return ProbeResult(exitCode: Int(code), output: String(decoding: await reader.value, as: UTF8.self))
    }

    func prepareLayer(_ id: String) throws {
        let p = paths(id)
        try FS.mkdirAll(p.upper, mode: 0o755)
        try FS.mkdirAll(p.work, mode: 0o700)
    }

    /// No overlay here: the "root filesystem" is the writable layer alone.
    func mountRootFS(_ id: String, layers: [String]) throws -> String {
        try prepareLayer(id)
        return paths(id).upper
    }

    func unmountRootFS(_ id: String) {}
    func logFiles(_ id: String) -> LogFiles { LogFiles(current: paths(id).log) }
    func resumeLogRotation(_ id: String, _ log: LogSpec) { calls.withLock { $0.logRotations.append(id) } }
}

/// The words of a fake command, split into steps at `;`.
struct FakeScript: Sendable {
    let steps: [[String]]

    init(_ argv: [String]) {
        var words = argv
        if words.count >= 3, words[0].hasSuffix("sh"), words[1] == "-c" {
            words = words[2].split(separator: " ").map(String.init)
        }
        var steps: [[String]] = [[]]
        for w in words {
            if w == ";" { steps.append([]); continue }
            if w.hasSuffix(";") { steps[steps.count - 1].append(String(w.dropLast())); steps.append([]); continue }
            steps[steps.count - 1].append(w)
        }
        self.steps = steps.filter { !$0.isEmpty }
    }

    static let known: Set<String> = ["echo", "warn", "exit", "true", "false", "cat", "oom", "test", "sleep", "sleep-hard"]
    var cannotExecute: Bool { steps.first.map { !Self.known.contains($0[0]) } ?? true }
}

/// Runs a `FakeScript`: output goes to a sink, stdin comes from a stream, signals end it.
final class ScriptRunner: Sendable {
    private struct State {
        var signal: Int32?
        var signalWaiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())
    let stdin: AsyncStream<[UInt8]>
    let stdinInput: AsyncStream<[UInt8]>.Continuation

    init() { (stdin, stdinInput) = AsyncStream.makeStream(of: [UInt8].self) }

    /// Delivers a signal: TERM, INT, HUP, QUIT and KILL end the script (KILL only, for `sleep-hard`).
    func signal(_ sig: Int32) {
        let w = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if s.signal == nil { s.signal = sig }
            defer { s.signalWaiter = nil }
            return s.signalWaiter
        }
        w?.resume()
    }

    private func waitForSignal(hard: Bool) async -> Int32 {
        while true {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    if s.signal != nil { return true }
                    s.signalWaiter = c
                    return false
                }
                if now { c.resume() }
            }
            let sig = state.withLock { s -> Int32? in defer { s.signal = nil }; return s.signal }
            if let sig, !hard || sig == SIGKILL { return sig }
        }
    }

    /// Plays the script; returns the exit code and whether the OOM killer ended it.
    func run(_ script: FakeScript, files: Set<String>, emit: (UInt8, [UInt8]) -> Void) async -> (Int32, Bool) {
        var code: Int32 = 0
        for step in script.steps {
            let args = Array(step.dropFirst())
            switch step[0] {
            case "echo": emit(1, Array((args.joined(separator: " ") + "\n").utf8)); code = 0
            case "warn": emit(2, Array((args.joined(separator: " ") + "\n").utf8)); code = 0
            case "exit": return (Int32(args.first ?? "0") ?? 2, false)
            case "true": code = 0
            case "false": code = 1
            case "oom": return (137, true)
            case "test": code = args.count == 2 && args[0] == "-f" && files.contains(args[1]) ? 0 : 1
            case "cat":
                for await chunk in stdin { emit(1, chunk) }
                code = 0
            case "sleep", "sleep-hard":
                return (128 + (await waitForSignal(hard: step[0] == "sleep-hard")), false)
            default:
                emit(2, Array("exec: \"\(step[0])\": executable file not found in $PATH\n".utf8))
                return (127, false)
            }
        }
        return (code, false)
    }
}

/// A container's process: output to the k8s-file log and to every attached session.
final class FakeProcess: Sendable {
    let pid: Int32
    let monitorPid: Int32
    let script: FakeScript
    let stdinOnce: Bool
    let logPath: String?
    let runner = ScriptRunner()

    private struct State {
        var sessions: [UInt64: AsyncStream<OutputChunk>.Continuation] = [:]
        var next: UInt64 = 0
        var running = true
        /// Lost: the monitor died, nothing more is recorded.
        var detached = false
    }
    private let state = Mutex(State())

    init(pid: Int32, monitorPid: Int32, script: FakeScript, stdinOnce: Bool, log: String?) {
        self.pid = pid; self.monitorPid = monitorPid; self.script = script; self.stdinOnce = stdinOnce; self.logPath = log
    }

    var isRunning: Bool { state.withLock { $0.running } }

    func run(files: @escaping @Sendable () -> Set<String>, exited: @escaping @Sendable (Int32, Bool) -> Void) {
        Task {
            let (code, oom) = await runner.run(script, files: files()) { stream, bytes in self.emit(stream, bytes) }
            let (sessions, detached) = state.withLock { s -> ([AsyncStream<OutputChunk>.Continuation], Bool) in
                s.running = false
                defer { s.sessions = [:] }
                return (Array(s.sessions.values), s.detached)
            }
            for c in sessions { c.finish() }
            if !detached { exited(code, oom) }
        }
    }

    func signal(_ sig: Int32) { runner.signal(sig) }
    func detach() { state.withLock { $0.detached = true }; runner.signal(SIGKILL) }

    private func emit(_ stream: UInt8, _ bytes: [UInt8]) {
        if let logPath {
            var line = Array(Timestamp.rfc3339(nanos: Timestamp.nowNanos()).utf8)
            line += Array((stream == 1 ? " stdout " : " stderr ").utf8)
            var text = bytes
            let full = text.last == 0x0a
            if full { text.removeLast() }
            line += Array((full ? "F " : "P ").utf8) + text + [0x0a]
            let fd = open(logPath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
            if fd >= 0 { _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }; close(fd) }
        }
        for c in state.withLock({ Array($0.sessions.values) }) { c.yield(OutputChunk(stream: stream, bytes: bytes)) }
    }

    func attach() -> any StdioSession {
        let (stream, cont) = AsyncStream.makeStream(of: OutputChunk.self)
        let alive = state.withLock { s -> Bool in
            guard s.running else { return false }
            s.next += 1
            s.sessions[s.next] = cont
            return true
        }
        if !alive { cont.finish() }
        return FakeAttach(output: stream, process: self)
    }

    func writeStdin(_ bytes: [UInt8]) { runner.stdinInput.yield(bytes) }
    func closeStdin() { if stdinOnce { runner.stdinInput.finish() } }
}

final class FakeAttach: StdioSession {
    let output: AsyncStream<OutputChunk>
    let process: FakeProcess
    init(output: AsyncStream<OutputChunk>, process: FakeProcess) { self.output = output; self.process = process }
    func writeStdin(_ bytes: [UInt8]) async { process.writeStdin(bytes) }
    func closeStdin() { process.closeStdin() }
    func close() {}
}

/// An exec (or a health probe): the script runs at once, its output buffered for the reader.
final class FakeExec: ExecSession {
    let output: AsyncStream<OutputChunk>
    let processPid: Int32
    private let runner = ScriptRunner()
    private let done: Task<Int32, Never>

    init(script: FakeScript, files: Set<String>, pid: Int32) {
        let (stream, cont) = AsyncStream.makeStream(of: OutputChunk.self)
        output = stream
        processPid = pid
        let runner = self.runner
        done = Task {
            let (code, _) = await runner.run(script, files: files) { s, b in cont.yield(OutputChunk(stream: s, bytes: b)) }
            cont.finish()
            return code
        }
    }

    func wait() async -> Int32 { await done.value }
    func resize(height: Int, width: Int) {}
    func writeStdin(_ bytes: [UInt8]) async { runner.stdinInput.yield(bytes) }
    func closeStdin() { runner.stdinInput.finish() }
    func close() { runner.signal(SIGKILL) }
}
