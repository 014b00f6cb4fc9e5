import BerthExecutor
import BerthModels
import BerthStore
import BerthSystem
import Foundation

extension ContainerService {
    // MARK: attach

    /// What the API needs before answering an attach: the container exists; Tty picks the framing.
    public nonisolated func attachTarget(_ ref: String) throws -> (id: String, tty: Bool, openStdin: Bool) {
        let c = try resolve(ref)
        try check(c, .attach)
        let config = decode(ContainerConfig.self, c.config) ?? ContainerConfig()
        return (c.id, config.Tty ?? false, config.OpenStdin ?? false)
    }

    /// Connects to the container's stdio. A container that is not running yet is waited for:
    /// the docker CLI attaches first and starts second. Nil when it will not run (removed, failed).
    public func openAttach(_ id: String) async -> (any StdioSession)? {
        if let c = try? store.container(id) { emit("attach", c) }
        if let c = try? store.container(id), c.status == "running" {
            return try? runtime.attach(id)
        }
        let t = token()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { pendingAttach[id, default: [:]][t] = $0 }
        } onCancel: {
            Task { await self.cancelPendingAttach(id, t) }
        }
    }

    func cancelPendingAttach(_ id: String, _ t: UInt64) {
        if let c = pendingAttach[id]?.removeValue(forKey: t) { c.resume(returning: nil) }
    }

    func connectPendingAttachers(_ id: String) {
        for (_, c) in pendingAttach.removeValue(forKey: id) ?? [:] {
            c.resume(returning: try? runtime.attach(id))
        }
    }

    func failPendingAttachers(_ id: String) {
        for (_, c) in pendingAttach.removeValue(forKey: id) ?? [:] { c.resume(returning: nil) }
    }

    // MARK: logs

    /// The container's log in Docker's stream format (`options.tty` is set from the container),
    /// read as the caller pulls it; with `follow`, live until the container stops.
    /// `framed` false gives the raw text whatever the container's Tty (a websocket attach).
    public nonisolated func logs(_ ref: String, options: ContainerLog.Options, follow: Bool, framed: Bool = true) throws
        -> (tty: Bool, chunks: ContainerLog.Chunks) {
        let c = try resolve(ref)
        if !LogOptions.readable(decode(HostConfig.self, c.host_config)?.LogConfig) {
            throw BerthError.notImplemented("configured logging driver does not support reading")
        }
        let config = decode(ContainerConfig.self, c.config) ?? ContainerConfig()
        var o = options
        o.tty = !framed || (config.Tty ?? false)
        let store = self.store
        let id = c.id
        let live: ContainerLog.Follow? = follow && isRunning(c)
            ? ContainerLog.Follow(exitFile: runtime.paths(c.id).exitFile) {
                guard let cur = try? store.container(id) else { return true }
                return !(cur.status == "running" || cur.status == "paused")
            } : nil
        return (o.tty, ContainerLog(files: runtime.logFiles(c.id)).chunks(options: o, follow: live))
    }

    // MARK: exec

    public func createExec(_ ref: String, config: ExecConfig) throws -> String {
        let c = try resolve(ref)
        try check(c, .exec)
        guard let cmd = config.Cmd, !cmd.isEmpty else { throw BerthError.invalid("No exec command specified") }
        let id = Identifier.random64()
        try store.insertExec(ExecRecord(id: id, container_id: c.id, config: try JSONEncoder().encode(config),
                                        created: Timestamp.nowNanos()))
        emit("exec_create: " + cmd.joined(separator: " "), c, ["execID": id])
        return id
    }

    public nonisolated func execTarget(_ id: String) throws -> (config: ExecConfig, containerID: String) {
        guard let e = try store.exec(id), let cfg = decode(ExecConfig.self, e.config) else {
            throw BerthError.notFound("No such exec instance: \(id)")
        }
        return (cfg, e.container_id)
    }

    /// Starts an exec; the caller streams the session's output and then calls `finishExec`.
    public func startExec(_ id: String) async throws -> any ExecSession {
        guard let e = try store.exec(id), let cfg = decode(ExecConfig.self, e.config) else {
            throw BerthError.notFound("No such exec instance: \(id)")
        }
        if e.running || e.exit_code != nil { throw BerthError.conflict("Error: Exec command \(id) has already run") }
        guard let c = try store.container(e.container_id) else {
            throw BerthError.conflict("Container \(e.container_id) is not running")
        }
        try check(c, .exec)
        let spec = ExecSpec(args: cfg.Cmd ?? [], env: cfg.Env ?? [], user: cfg.User, workingDir: cfg.WorkingDir,
                            tty: cfg.Tty ?? false, privileged: cfg.Privileged ?? false, attachStdin: cfg.AttachStdin ?? false)
        let p = try runtime.exec(c.id, execID: id, spec)
        execSessions[id] = p
        try store.updateExec(id) { $0.running = true }
        emit("exec_start: " + (cfg.Cmd ?? []).joined(separator: " "), c, ["execID": id])
        return p
    }

    /// Waits for the exec'd process and records its exit code (before the client reads it).
    public func finishExec(_ id: String, _ p: any ExecSession) async -> Int32 {
        let pid = p.processPid
        let code = await p.wait()
        execSessions[id] = nil
        try? store.updateExec(id) { $0.running = false; $0.exit_code = Int64(code); $0.pid = Int64(pid) }
        if let e = try? store.exec(id), let c = try? store.container(e.container_id) {
            emit("exec_die", c, ["execID": id, "exitCode": String(code)])
        }
        return code
    }

    public func resizeExec(_ id: String, height: Int, width: Int) throws {
        _ = try execTarget(id)
        execSessions[id]?.resize(height: height, width: width)
    }

    public nonisolated func inspectExec(_ id: String) throws -> ExecInspect {
        guard let e = try store.exec(id), let cfg = decode(ExecConfig.self, e.config) else {
            throw BerthError.notFound("No such exec instance: \(id)")
        }
        let cmd = cfg.Cmd ?? []
        return ExecInspect(ID: id, ContainerID: e.container_id, Running: e.running, ExitCode: e.exit_code.map(Int.init),
                           ProcessConfig: .init(arguments: Array(cmd.dropFirst()), entrypoint: cmd.first ?? "",
                                                privileged: cfg.Privileged ?? false, tty: cfg.Tty ?? false, user: cfg.User ?? ""),
                           OpenStdin: cfg.AttachStdin ?? false, OpenStdout: cfg.AttachStdout ?? false,
                           OpenStderr: cfg.AttachStderr ?? false, Pid: Int(e.pid))
    }
}
