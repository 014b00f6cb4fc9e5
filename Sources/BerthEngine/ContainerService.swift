#if canImport(Glibc)
import Glibc
#endif
import BerthExecutor
import BerthImage
import BerthModels
import BerthStore
import BerthSystem
import Foundation
import Logging
import Synchronization

/// How a container's last run ended, as `wait` reports it.
public struct ExitInfo: Sendable {
    public let code: Int
    public let error: String?
}

struct ListCacheEntry: Sendable {
    let row: ContainerListRow
    let status: String
    let json: [UInt8]
}

/// Container lifecycle: create, start, stop, kill, wait, remove, rename, attach, logs, exec.
/// State lives in the store; this actor keeps only waiters and live sessions.
public actor ContainerService {
    nonisolated let store: Store
    nonisolated let images: ImageStore
    nonisolated let executor: Executor
    nonisolated let events: EventService
    let locks = ContainerLocks()
    let log = Log.logger("containers")

    var exitWaiters: [String: [UInt64: CheckedContinuation<ExitInfo?, Never>]] = [:]
    var removeWaiters: [String: [CheckedContinuation<ExitInfo, Never>]] = [:]
    var pendingAttach: [String: [UInt64: CheckedContinuation<(any StdioSession)?, Never>]] = [:]
    var execSessions: [String: ExecProcess] = [:]
    var nextToken: UInt64 = 1
    /// Encoded list rows, reused while the row and its status text are unchanged.
    nonisolated let listCache = Mutex<[String: ListCacheEntry]>([:])

    init(store: Store, images: ImageStore, executor: Executor, events: EventService) {
        self.store = store
        self.images = images
        self.executor = executor
        self.events = events
    }

    /// Records a container event with Docker's attributes (image, name, labels).
    nonisolated func emit(_ action: String, _ c: ContainerRecord, _ extra: [String: String] = [:]) {
        var attrs = decode([String: String].self, Data(c.labels.utf8)) ?? [:]
        attrs["image"] = c.image_name
        attrs["name"] = c.name
        for (k, v) in extra { attrs[k] = v }
        events.record("container", action, id: c.id, attributes: attrs)
    }

    func token() -> UInt64 { nextToken += 1; return nextToken }

    // MARK: lookup

    /// Finds a container by full id, name (with or without `/`) or unique id prefix.
    public nonisolated func resolve(_ ref: String) throws -> ContainerRecord {
        if ref.count == 64, let c = try store.container(ref) { return c }
        let name = ref.hasPrefix("/") ? String(ref.dropFirst()) : ref
        if let c = try store.container(named: name) { return c }
        if !ref.isEmpty && Identifier.isHex(ref) {
            let ids = try store.containerIDs(prefix: ref)
            if ids.count > 1 { throw BerthError.invalid("Multiple IDs found with provided prefix: \(ref)") }
            if let id = ids.first, let c = try store.container(id) { return c }
        }
        throw BerthError.notFound("No such container: \(ref)")
    }

    nonisolated func decode<T: Decodable>(_ t: T.Type, _ d: Data) -> T? { try? JSONDecoder().decode(t, from: d) }

    nonisolated func isRunning(_ c: ContainerRecord) -> Bool { c.status == "running" || c.status == "paused" }

    // MARK: create

    static let validName = try! NSRegularExpression(pattern: "^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

    nonisolated static func checkName(_ name: String) throws {
        let r = NSRange(name.startIndex..., in: name)
        guard validName.firstMatch(in: name, range: r) != nil else {
            throw BerthError.invalid("Invalid container name (\(name)), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        }
    }

    public func create(name rawName: String?, body: ContainerCreateBody) async throws -> ContainerCreateResponse {
        var warnings: [String] = []
        var name = rawName ?? ""
        if !name.isEmpty {
            try Self.checkName(name)
            if name.hasPrefix("/") { name.removeFirst() }
        }
        guard let imageName = body.config.Image, !imageName.isEmpty else {
            throw BerthError.invalid("config cannot be empty in order to create a container")
        }
        let image = try images.resolve(imageName)
        let imageConfig = try images.config(image).config ?? ContainerConfig()
        var config = Self.merge(body.config, image: imageConfig)
        guard !(config.Entrypoint ?? []).isEmpty || !(config.Cmd ?? []).isEmpty else {
            throw BerthError.invalid("No command specified")
        }
        var hc = body.hostConfig
        if let m = hc.Memory, m > 0, m < 6 * 1024 * 1024 { throw BerthError.invalid("Minimum memory limit allowed is 6MB") }
        if let m = hc.Memory, m > 0, (hc.MemorySwap ?? 0) == 0 { hc.MemorySwap = ResourceRules.defaultSwap(m) }
        if let s = hc.MemorySwap, s > 0, let m = hc.Memory, m > 0, s < m {
            throw BerthError.invalid("Minimum memoryswap limit should be larger than memory limit, see usage")
        }
        try ResourceRules.check(hc)
        try ConfinementRules.check(hc)
        let mode = hc.NetworkMode ?? ""
        if !["", "default", "bridge", "none", "host"].contains(mode) {
            throw BerthError.notFound("network \(mode) not found")
        }
        hc.applyDefaults()
        _ = try executor.logLimits(hc)
        warnings += Self.unsupportedWarnings(body)
        if mode == "host" { config.Hostname = ProcessInfo.processInfo.hostName }

        let id = Identifier.random64()
        if config.Hostname == nil || config.Hostname!.isEmpty { config.Hostname = String(id.prefix(12)) }
        let enc = JSONEncoder()
        var rec = ContainerRecord(id: id, name: name, image_id: image.id, image_name: imageName,
                                  created: Timestamp.nowNanos(), config: try enc.encode(config),
                                  host_config: try enc.encode(hc),
                                  command: Self.commandLine(config),
                                  labels: String(decoding: try enc.encode(config.Labels ?? [:]), as: UTF8.self))
        rec.network_mode = hc.NetworkMode ?? "bridge"
        // A given name that is taken is the caller's conflict; a generated one is drawn again.
        // Nothing is on disk yet (directories come at first start), so a failure leaves nothing.
        for attempt in 0..<10 {
            rec.name = !name.isEmpty ? name : NameGenerator.random() + (attempt > 3 ? "\(attempt)" : "")
            do {
                try store.insertContainer(rec)
                emit("create", rec)
                return ContainerCreateResponse(Id: id, Warnings: warnings)
            } catch let e as BerthError where e.kind == .conflict {
                if !name.isEmpty { throw nameInUse(name) }
            }
        }
        throw BerthError.system("could not generate a unique container name")
    }

    /// dockerd's wording for a taken name.
    nonisolated func nameInUse(_ name: String) -> BerthError {
        let other = (try? store.container(named: name))?.id ?? ""
        return BerthError.conflict("Conflict. The container name \"/\(name)\" is already in use by container \"\(other)\". You have to remove (or rename) that container to be able to reuse that name.")
    }

    /// Fields Berth accepts but does not act on yet, reported in `Warnings` instead of failing.
    nonisolated static func unsupportedWarnings(_ body: ContainerCreateBody) -> [String] {
        let unsupported = ["Binds", "Mounts", "PortBindings", "PublishAllPorts", "VolumesFrom", "Links",
                           "DeviceRequests", "BlkioWeight", "BlkioWeightDevice", "BlkioDeviceReadBps",
                           "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuRealtimePeriod",
                           "CpuRealtimeRuntime", "StorageOpt", "UsernsMode", "Isolation", "VolumeDriver"]
        var out: [String] = []
        for k in unsupported {
            if let v = body.rawHostConfig[k], !v.isZero { out.append("\(k) is not supported by Berth yet and was ignored") }
        }
        if let r = body.hostConfig.RestartPolicy?.Name, !r.isEmpty, r != "no" {
            out.append("RestartPolicy \(r) is not supported by Berth yet and was ignored")
        }
        if let t = body.hostConfig.LogConfig?.Type, !LogLimits.fileDrivers.contains(t) {
            out.append("logging driver \(t) is not supported by Berth; the container logs to a file (k8s-file)")
        }
        if let v = body.config.Healthcheck, !v.isZero { out.append("Healthcheck is not supported by Berth yet and was ignored") }
        return out
    }

    /// The container's config completed from the image's, as dockerd merges them.
    public nonisolated static func merge(_ user: ContainerConfig, image: ContainerConfig) -> ContainerConfig {
        var c = user
        if (c.User ?? "").isEmpty { c.User = image.User ?? "" }
        if c.ExposedPorts == nil { c.ExposedPorts = image.ExposedPorts }
        else if let ip = image.ExposedPorts { for (k, v) in ip where c.ExposedPorts![k] == nil { c.ExposedPorts![k] = v } }
        var env = image.Env ?? []
        for e in user.Env ?? [] {
            let key = String(e.split(separator: "=", maxSplits: 1).first ?? "")
            env.removeAll { String($0.split(separator: "=", maxSplits: 1).first ?? "") == key }
            env.append(e)
        }
        c.Env = env
        if (c.Labels ?? [:]).isEmpty { c.Labels = image.Labels ?? [:] }
        else { for (k, v) in image.Labels ?? [:] where c.Labels![k] == nil { c.Labels![k] = v } }
        if (c.Entrypoint ?? []).isEmpty {
            if (c.Cmd ?? []).isEmpty { c.Cmd = image.Cmd; c.ArgsEscaped = image.ArgsEscaped }
            if c.Entrypoint == nil { c.Entrypoint = image.Entrypoint }
        }
        if (c.WorkingDir ?? "").isEmpty { c.WorkingDir = image.WorkingDir ?? "" }
        if c.Volumes == nil { c.Volumes = image.Volumes }
        if (c.StopSignal ?? "").isEmpty { c.StopSignal = image.StopSignal }
        if c.Healthcheck == nil { c.Healthcheck = image.Healthcheck }
        if c.OnBuild == nil { c.OnBuild = image.OnBuild }
        if c.Shell == nil { c.Shell = image.Shell }
        c.Domainname = c.Domainname ?? ""
        c.AttachStdin = c.AttachStdin ?? false; c.AttachStdout = c.AttachStdout ?? false
        c.AttachStderr = c.AttachStderr ?? false; c.Tty = c.Tty ?? false; c.OpenStdin = c.OpenStdin ?? false
        c.StdinOnce = c.StdinOnce ?? false
        return c
    }

    public nonisolated static func argv(_ c: ContainerConfig) -> [String] { (c.Entrypoint ?? []) + (c.Cmd ?? []) }

    public nonisolated static func commandLine(_ c: ContainerConfig) -> String {
        argv(c).map { $0.contains(" ") ? "\"\($0)\"" : $0 }.joined(separator: " ")
    }

    // MARK: start

    public enum StartOutcome: Sendable { case started, alreadyRunning }

    public func start(_ ref: String) async throws -> StartOutcome {
        let c = try resolve(ref)
        return try await locks.with(c.id) { try await self.startLocked(c.id) }
    }

    func startLocked(_ id: String) async throws -> StartOutcome {
        guard let c = try store.container(id) else { throw BerthError.notFound("No such container: \(id)") }
        if c.status == "paused" { throw BerthError.conflict("cannot start a paused container, try unpause instead") }
        if c.status == "running" { return .alreadyRunning }
        if c.status == "removing" || c.status == "dead" {
            throw BerthError.conflict("container is marked for removal and cannot be started")
        }
        guard let config = decode(ContainerConfig.self, c.config), let hc = decode(HostConfig.self, c.host_config) else {
            throw BerthError.system("container \(id) has an unreadable configuration")
        }
        let argv = Self.argv(config)
        let req = RunRequest(id: id, args: argv, env: config.Env ?? [], workingDir: config.WorkingDir ?? "",
                             user: config.User ?? "", tty: config.Tty ?? false, openStdin: config.OpenStdin ?? false,
                             stdinOnce: config.StdinOnce ?? false, hostname: config.Hostname ?? String(id.prefix(12)),
                             domainname: config.Domainname ?? "", hostConfig: hc,
                             layers: try images.layerPaths(c.image_id))
        let generation = c.run_generation + 1
        let previous = c.status
        do {
            _ = try await executor.start(req, name: c.name) { pid, monitorPid in
                _ = try? self.store.updateContainer(id) { r in
                    r.status = "running"; r.pid = Int64(pid); r.monitor_pid = Int64(monitorPid)
                    r.started_at = Timestamp.nowNanos(); r.finished_at = 0; r.exit_code = 0; r.error = ""
                    r.oom_killed = false; r.run_generation = generation
                }
                await self.connectPendingAttachers(id)
            }
            emit("start", c)
            return .started
        } catch {
            let e = BerthError.wrap(error)
            let code = Executor.exitCode(forStartError: e.message)
            _ = try? store.updateContainer(id) { r in
                r.status = previous == "running" ? "exited" : previous
                r.exit_code = Int64(code); r.error = e.message; r.pid = 0
            }
            failPendingAttachers(id)
            resumeExitWaiters(id, ExitInfo(code: code, error: e.message))
            if hc.AutoRemove == true { try? await removeLocked(id) }
            throw e
        }
    }

    // MARK: exit handling

    /// Called when the monitor wrote an exit file (inotify) and by reconciliation.
    public func handleExit(_ id: String) async {
        guard let c = try? store.container(id), isRunning(c) || c.status == "restarting" else { return }
        guard let st = executor.exitStatus(id) else { return }
        let gen = c.run_generation
        _ = try? store.updateContainer(id) { r in
            r.status = "exited"; r.exit_code = Int64(st.code); r.oom_killed = st.oom
            r.finished_at = st.at; r.pid = 0
        }
        if st.oom { emit("oom", c) }
        emit("die", c, ["exitCode": String(st.code)])
        resumeExitWaiters(id, ExitInfo(code: Int(st.code), error: nil))
        Task { try? await self.locks.with(id) { await self.afterExit(id, generation: gen) } }
    }

    func afterExit(_ id: String, generation: Int64) async {
        guard let c = try? store.container(id), c.run_generation == generation, !isRunning(c) else { return }
        await executor.cleanup(id)
        if let hc = decode(HostConfig.self, c.host_config), hc.AutoRemove == true { try? await removeLocked(id) }
    }

    func resumeExitWaiters(_ id: String, _ info: ExitInfo) {
        let ws = exitWaiters.removeValue(forKey: id) ?? [:]
        for (_, w) in ws { w.resume(returning: info) }
    }

    /// Waits for the next exit, or until `timeout` passes (nil result).
    func waitNextExit(_ id: String, timeout: Duration?) async -> ExitInfo? {
        await register(id, token(), timeout: timeout)
    }

    func register(_ id: String, _ t: UInt64, timeout: Duration?) async -> ExitInfo? {
        if let timeout { Task { try? await Task.sleep(for: timeout); self.timeoutWaiter(id, t) } }
        return await withCheckedContinuation { exitWaiters[id, default: [:]][t] = $0 }
    }

    func timeoutWaiter(_ id: String, _ t: UInt64) {
        if let w = exitWaiters[id]?.removeValue(forKey: t) { w.resume(returning: nil) }
    }

    // MARK: wait

    public func wait(_ ref: String, condition: String) async throws -> ExitInfo {
        let c = try resolve(ref)
        switch condition {
        case "", "not-running":
            if !isRunning(c) { return ExitInfo(code: Int(c.exit_code), error: nil) }
            return await waitNextExit(c.id, timeout: nil) ?? ExitInfo(code: -1, error: nil)
        case "next-exit":
            return await waitNextExit(c.id, timeout: nil) ?? ExitInfo(code: -1, error: nil)
        case "removed":
            return await withCheckedContinuation { removeWaiters[c.id, default: []].append($0) }
        default:
            throw BerthError.invalid("invalid condition: \"\(condition)\"")
        }
    }

    // MARK: stop / kill / restart

    public enum StopOutcome: Sendable, Equatable { case stopped, notRunning }

    public func stop(_ ref: String, timeout: Int?, signal: String?) async throws -> StopOutcome {
        let c = try resolve(ref)
        let r = try await locks.with(c.id) { try await self.stopLocked(c.id, timeout: timeout, signal: signal) }
        if r == .stopped { emit("stop", c) }
        return r
    }

    func stopLocked(_ id: String, timeout: Int?, signal: String?) async throws -> StopOutcome {
        guard let c = try store.container(id) else { throw BerthError.notFound("No such container: \(id)") }
        guard isRunning(c) else { return .notRunning }
        let config = decode(ContainerConfig.self, c.config) ?? ContainerConfig()
        let sig = try Signals.parse(signal ?? ((config.StopSignal ?? "").isEmpty ? "SIGTERM" : config.StopSignal!))
        let secs = timeout ?? config.StopTimeout ?? 10
        let pid = Int32(c.pid)
        if c.status == "paused" { try? await executor.runc.resume(id) }
        if sig != SIGKILL && secs != 0 {
            let t = token()
            let waiter = Task { await self.waitNextExitToken(id, t, timeout: secs < 0 ? nil : .seconds(secs)) }
            await Task.yield()
            Syscall.kill(pid, sig)
            if await waiter.value != nil { return .stopped }
        }
        let t = token()
        let waiter = Task { await self.waitNextExitToken(id, t, timeout: .seconds(30)) }
        await Task.yield()
        Syscall.kill(pid, SIGKILL)
        if await waiter.value == nil {
            throw BerthError.system("container \(id) did not exit after SIGKILL")
        }
        return .stopped
    }

    /// Registers the waiter before the caller signals, so no exit is missed; a container that is
    /// already down answers at once.
    func waitNextExitToken(_ id: String, _ t: UInt64, timeout: Duration?) async -> ExitInfo? {
        if let c = try? store.container(id), !isRunning(c) { return ExitInfo(code: Int(c.exit_code), error: nil) }
        return await register(id, t, timeout: timeout)
    }

    public func kill(_ ref: String, signal: String?) async throws {
        let c = try resolve(ref)
        let sig = try Signals.parse((signal ?? "").isEmpty ? "SIGKILL" : signal!)
        try await locks.with(c.id) {
            guard let cur = try self.store.container(c.id), self.isRunning(cur) else {
                throw BerthError.conflict("Cannot kill container: \(ref): Container \(c.id) is not running")
            }
            if cur.status == "paused" && sig == SIGKILL { try? await self.executor.runc.resume(c.id) }
            guard Syscall.kill(Int32(cur.pid), sig) else {
                throw BerthError.conflict("Cannot kill container: \(ref): Container \(c.id) is not running")
            }
            self.emit("kill", cur, ["signal": String(sig)])
        }
    }

    public func restart(_ ref: String, timeout: Int?, signal: String?) async throws {
        let c = try resolve(ref)
        try await locks.with(c.id) {
            _ = try await self.stopLocked(c.id, timeout: timeout, signal: signal)
            await self.executor.cleanup(c.id)
            _ = try await self.startLocked(c.id)
        }
        emit("restart", c)
    }

    // MARK: remove / rename / prune

    public func remove(_ ref: String, force: Bool) async throws {
        let c = try resolve(ref)
        try await locks.with(c.id) {
            guard let cur = try self.store.container(c.id) else { return }
            if self.isRunning(cur) {
                guard force else {
                    throw BerthError.conflict("cannot remove container \"/\(cur.name)\": container is running: stop the container before removing or force remove")
                }
                _ = try await self.stopLocked(c.id, timeout: 0, signal: "SIGKILL")
            }
            try await self.removeLocked(c.id)
        }
    }

    func removeLocked(_ id: String) async throws {
        guard let c = try store.container(id) else { return }
        try store.updateContainer(id) { $0.status = "removing" }
        await executor.remove(id)
        try store.deleteContainer(id)
        emit("destroy", c)
        let info = ExitInfo(code: Int(c.exit_code), error: nil)
        for w in removeWaiters.removeValue(forKey: id) ?? [] { w.resume(returning: info) }
        resumeExitWaiters(id, info)
        failPendingAttachers(id)
    }

    public func rename(_ ref: String, to newName: String) async throws {
        let c = try resolve(ref)
        guard !newName.isEmpty else { throw BerthError.invalid("Neither old nor new names may be empty") }
        try Self.checkName(newName)
        let name = newName.hasPrefix("/") ? String(newName.dropFirst()) : newName
        if name == c.name { throw BerthError.invalid("Renaming a container with the same name as its current name") }
        do { try store.renameContainer(c.id, to: name) } catch let e as BerthError where e.kind == .conflict {
            throw nameInUse(name)
        }
        var renamed = c
        renamed.name = name
        emit("rename", renamed, ["oldName": "/" + c.name])
    }

    public func prune(filters: Filters) async throws -> PruneContainersResponse {
        try filters.validate(["until", "label", "label!"])
        let until = filters["until"].first.flatMap(Timestamp.parseDockerTime)
        var deleted: [String] = []
        var reclaimed: Int64 = 0
        for c in try store.allContainers() where !isRunning(c) && c.status != "removing" {
            if let until, c.created >= until { continue }
            let labels = decode([String: String].self, Data(c.labels.utf8)) ?? [:]
            if filters.has("label") && !Filters.labelsMatch(filters["label"], labels) { continue }
            if filters.has("label!") && Filters.labelsMatch(filters["label!"], labels) { continue }
            let size = FS.diskUsage(executor.paths(c.id).upper)
            do {
                try await locks.with(c.id) {
                    guard let cur = try self.store.container(c.id), !self.isRunning(cur) else { return }
                    try await self.removeLocked(c.id)
                }
                deleted.append(c.id)
                reclaimed += size
            } catch { log.warning("prune \(c.id): \(error)") }
        }
        return PruneContainersResponse(ContainersDeleted: deleted, SpaceReclaimed: reclaimed)
    }
}
