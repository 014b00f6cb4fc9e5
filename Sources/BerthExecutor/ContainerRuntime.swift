#if canImport(Glibc)
import Glibc
#endif
import BerthSystem

/// The seam between the engine (Docker's semantics, the state machine, the store) and what runs
/// containers on this host. `Executor` (runc under conmon) is the real one; tests put a fake in
/// its place. Everything crosses it resolved (`ContainerSpec`, `ExecSpec`): no Docker wire types.
///
/// Start is a pipeline: prepare (root filesystem, /etc files, user, bundle) → create (the
/// monitor runs `runc create`) → attach (`hooks.created`: attachers connect before any output)
/// → setup (`hooks.setup`: e.g. network plumbing into the new namespaces) → start (`runc start`).
/// When the process ends, the runtime writes its exit status into `exitDirectory` (the engine
/// watches it) and `teardown` releases what the run held — also for a container that exited
/// while berthd was down.
public protocol ContainerRuntime: Sendable {
    /// Where exit statuses appear, one file per container id.
    var exitDirectory: String { get }
    func paths(_ id: String) -> ContainerPaths

    func start(_ spec: ContainerSpec, hooks: StartHooks) async throws -> (pid: Int32, monitorPid: Int32)
    func exitStatus(_ id: String) -> ExitStatus?
    /// Whether the monitor of a container started by an earlier berthd still runs.
    func monitorAlive(_ monitorPid: Int32) -> Bool
    @discardableResult func signal(_ pid: Int32, _ signal: Int32) -> Bool
    func pause(_ id: String) async throws
    func resume(_ id: String) async throws
    func update(_ id: String, _ resources: OCISpec.Resources) async throws
    func resize(_ id: String, height: Int, width: Int)
    func teardown(_ id: String) async
    /// Removes every file of the container (after `teardown`).
    func remove(_ id: String) async

    func attach(_ id: String) throws -> any StdioSession
    func exec(_ id: String, execID: String, _ spec: ExecSpec) throws -> any ExecSession
    func prepareProbe(containerID: String, argv: [String]) throws
    func probe(containerID: String, argv: [String], timeoutMs: Int64) async -> ProbeResult

    /// The writable layer (made at first start or commit).
    func prepareLayer(_ id: String) throws
    /// Mounts the root filesystem if needed and returns its path.
    func mountRootFS(_ id: String, layers: [String]) throws -> String
    func unmountRootFS(_ id: String)
    func logFiles(_ id: String) -> LogFiles
    /// After a berthd restart: keeps filing a running container's full log files.
    func resumeLogRotation(_ id: String, _ log: LogSpec)
}

/// Steps of the start pipeline the engine fills in.
public struct StartHooks: Sendable {
    /// The process exists but has not run: attachers connect now.
    public var created: @Sendable (_ pid: Int32, _ monitorPid: Int32) async -> Void
    /// Before the process runs, after `created` (network setup goes here); a failure aborts the start.
    public var setup: @Sendable (_ pid: Int32) async throws -> Void

    public init(created: @escaping @Sendable (Int32, Int32) async -> Void = { _, _ in },
                setup: @escaping @Sendable (Int32) async throws -> Void = { _ in }) {
        self.created = created; self.setup = setup
    }
}

/// How a container's process ended.
public struct ExitStatus: Sendable, Equatable {
    public var code: Int32
    public var oom: Bool
    /// When it exited (nanoseconds since the epoch).
    public var at: Int64
    public init(code: Int32, oom: Bool, at: Int64) { self.code = code; self.oom = oom; self.at = at }
}

/// A process started in a running container.
public protocol ExecSession: StdioSession {
    /// Waits for it and returns its exit code.
    func wait() async -> Int32
    func resize(height: Int, width: Int)
    /// Its host pid, once known (0 before).
    var processPid: Int32 { get }
}

public struct ProbeResult: Sendable {
    public let exitCode: Int
    public let output: String
    public init(exitCode: Int, output: String) { self.exitCode = exitCode; self.output = output }
}
