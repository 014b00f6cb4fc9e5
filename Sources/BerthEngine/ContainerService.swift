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
    nonisolated let runtime: any ContainerRuntime
    /// The daemon's log limits (`--log-opt`), under each container's own.
    nonisolated let logDefaults: LogLimits
    nonisolated let events: EventService
    nonisolated let networks: NetworkService
    nonisolated let volumes: VolumeService
    let locks = ContainerLocks()
    let log = Log.logger("containers")

    /// `wait` callers: at the next exit, at the final stop (no restart follows), at removal.
    var exitWaiters: [String: [UInt64: CheckedContinuation<ExitInfo?, Never>]] = [:]
    var stopWaiters: [String: [CheckedContinuation<ExitInfo, Never>]] = [:]
    var removeWaiters: [String: [CheckedContinuation<ExitInfo, Never>]] = [:]
    /// Policy restarts waiting for their delay, by container.
    var restartTimers: [String: Task<Void, Never>] = [:]
    /// Health check loops, by container (one task each; no thread of their own).
    var healthTasks: [String: Task<Void, Never>] = [:]
    /// The newest health state of containers being probed (the store has their status).
    nonisolated let liveHealth = Mutex<[String: HealthState]>([:])
    var pendingAttach: [String: [UInt64: CheckedContinuation<(any StdioSession)?, Never>]] = [:]
    var execSessions: [String: any ExecSession] = [:]
    var nextToken: UInt64 = 1
    /// Encoded list rows, reused while the row and its status text are unchanged.
    nonisolated let listCache = Mutex<[String: ListCacheEntry]>([:])

    init(store: Store, images: ImageStore, runtime: any ContainerRuntime, logDefaults: LogLimits, events: EventService,
         networks: NetworkService, volumes: VolumeService) {
        self.networks = networks
        self.volumes = volumes
        self.store = store
        self.logDefaults = logDefaults
        self.images = images
        self.runtime = runtime
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
    public nonisolated func resolve(_ ref: String) throws -> ContainerRecord { try ContainerLookup.resolve(store, ref) }

    nonisolated func decode<T: Decodable>(_ t: T.Type, _ d: Data) -> T? { try? JSONDecoder().decode(t, from: d) }

    /// A process of the container exists (running or paused).
    nonisolated func isRunning(_ c: ContainerRecord) -> Bool { ContainerStatus(stored: c.status).hasProcess }

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
        // Docker's default masked and read-only paths are written into the HostConfig (inspect
        // shows them, as dockerd's); a client's own lists are kept. None for --privileged.
        if !(hc.Privileged ?? false) {
            if hc.MaskedPaths == nil { hc.MaskedPaths = SpecBuilder.maskedPaths }
            if hc.ReadonlyPaths == nil { hc.ReadonlyPaths = SpecBuilder.readonlyPaths }
        }
        if let m = hc.Memory, m > 0, m < 6 * 1024 * 1024 { throw BerthError.invalid("Minimum memory limit allowed is 6MB") }
        if let m = hc.Memory, m > 0, (hc.MemorySwap ?? 0) == 0 { hc.MemorySwap = ResourceRules.defaultSwap(m) }
        if let s = hc.MemorySwap, s > 0, let m = hc.Memory, m > 0, s < m {
            throw BerthError.invalid("Minimum memoryswap limit should be larger than memory limit, see usage")
        }
        try ResourceRules.check(hc)
        try ConfinementRules.check(hc)
        try HealthRules.check(body.config.Healthcheck)
        let restart = try RestartRule(hc.RestartPolicy)
        if restart.kind != .no && hc.AutoRemove == true {
            throw BerthError.invalid("can't create 'AutoRemove' container with restart policy")
        }
        let mode = hc.NetworkMode ?? ""
        if mode.hasPrefix("container:") { _ = try resolve(String(mode.dropFirst(10))) }
        hc.applyDefaults()
        let networkingConfig = body.networkingConfig
        try LegacyLinks.check(hc, store: store)
        let endpoints = try networks.endpointsForCreate(hc, networkingConfig, macAddress: body.config.MacAddress)
        _ = try PortRequest.requests(hc, exposed: config.ExposedPorts)   // bad port specs are a 400 at create, as with dockerd
        _ = try LogOptions.limits(hc.LogConfig, defaults: logDefaults)
        let mountPlan = try MountPlan.resolve(hc, config, store: store)
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
                if !endpoints.isEmpty { do { try await networks.recordEndpoints(id, endpoints) } catch {
                    try? store.deleteContainer(id)
                    throw error
                } }
                do {
                    try recordMounts(id, mountPlan)
                    // Only volumes that may take the image's content need the root filesystem.
                    if mountPlan.mounts.contains(where: { $0.record.copy_up }) { try await populateVolumes(id) }
                } catch {
                    let anonymous = anonymousVolumes(id)
                    try? store.deleteContainer(id)
                    volumes.removeAnonymous(anonymous)
                    throw error
                }
                emit("create", rec)
                return ContainerCreateResponse(Id: id, Warnings: warnings)
            } catch let e as BerthError where e.kind == .conflict {
                if !name.isEmpty { throw nameInUse(name) }
            }
        }
        throw BerthError.system("could not generate a unique container name")
    }

    /// Marks the containers a build runs its steps in: not listed, removed at daemon start.
    public static let buildStepLabel = "com.berth.build-step"

    /// Whether a container's stored labels (JSON) carry the build-step label as a key (a label
    /// value that merely holds the text does not count).
    public nonisolated static func isBuildStep(labels json: String) -> Bool { json.contains("\"" + buildStepLabel + "\":") }

    /// dockerd's wording for a taken name.
    nonisolated func nameInUse(_ name: String) -> BerthError {
        let other = (try? store.container(named: name))?.id ?? ""
        return BerthError.conflict("Conflict. The container name \"/\(name)\" is already in use by container \"\(other)\". You have to remove (or rename) that container to be able to reuse that name.")
    }

    /// Fields Berth accepts but does not act on yet, reported in `Warnings` instead of failing.
    nonisolated static func unsupportedWarnings(_ body: ContainerCreateBody) -> [String] {
        let unsupported = [
                           "DeviceRequests", "BlkioWeight", "BlkioWeightDevice", "BlkioDeviceReadBps",
                           "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps", "CpuRealtimePeriod",
                           "CpuRealtimeRuntime", "StorageOpt", "UsernsMode", "Isolation", "VolumeDriver"]
        var out: [String] = []
        for k in unsupported {
            if let v = body.rawHostConfig[k], !v.isZero { out.append("\(k) is not supported by Berth yet and was ignored") }
        }
        return out
    }

    /// The container's config completed from the image's, as dockerd merges them.
    public nonisolated static func merge(_ user: ContainerConfig, image: ContainerConfig) -> ContainerConfig {
        var c = user
        if (c.User ?? "").isEmpty { c.User = image.User ?? "" }
        if c.ExposedPorts == nil { c.ExposedPorts = image.ExposedPorts }
        else if let ip = image.ExposedPorts { for (k, v) in ip where c.ExposedPorts![k] == nil { c.ExposedPorts![k] = v } }
        if let iv = image.Volumes, !iv.isEmpty { c.Volumes = (c.Volumes ?? [:]).merging(iv) { a, _ in a } }
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
        if (c.StopSignal ?? "").isEmpty { c.StopSignal = image.StopSignal }
        c.Healthcheck = HealthRules.merge(user.Healthcheck, image: image.Healthcheck)
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
        argv(c).map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
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

}
