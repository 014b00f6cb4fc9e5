#if canImport(Glibc)
import Glibc
#endif
import BerthExecutor
import BerthImage
import BerthModels
import BerthNetwork
import BerthRegistry
import BerthStore
import BerthSystem
import Foundation
import Logging
import Synchronization

/// Daemon settings that the engine needs.
public struct EngineConfig: Sendable {
    public var dataRoot: String
    public var execRoot: String
    public var logLimits: LogLimits
    public var registries: RegistryConfig
    /// The most a layer or a compressed archive may expand to (`--max-decompressed-size`).
    public var expansionLimit: Int64
    public var network: NetworkConfig
    /// How to run the resolver process (`berthd resolver`); nil: berthd answers DNS itself.
    public var resolverCommand: [String]?
    public init(dataRoot: String, execRoot: String, logLimits: LogLimits = .defaults, registries: RegistryConfig = RegistryConfig(),
                expansionLimit: Int64 = LayerStore.defaultExpansionLimit, network: NetworkConfig = NetworkConfig()) {
        self.dataRoot = dataRoot; self.execRoot = execRoot; self.logLimits = logLimits; self.registries = registries
        self.expansionLimit = expansionLimit; self.network = network
    }
}

/// Everything berthd serves, wired together: store, images, executor, services.
public final class Engine: Sendable {
    public static let version = "0.1.0"
    public static let apiVersion = "1.47"
    public static let minAPIVersion = "1.24"

    public let config: EngineConfig
    public let store: Store
    public let imageStore: ImageStore
    public let images: ImageService
    /// What runs containers: `Executor` (runc) unless a test passes its own.
    public let runtime: any ContainerRuntime
    public let containers: ContainerService
    public let events: EventService
    public let pulls: PullService
    public let pushes: PushService
    public let networks: NetworkService
    public let volumes: VolumeService
    let log = Log.logger("engine")
    private let exitWatch = Mutex<UInt64?>(nil)

    public init(config: EngineConfig, runtime: (any ContainerRuntime)? = nil, networkHost: (any NetworkHost)? = nil) throws {
        self.config = config
        try FS.mkdirAll(config.dataRoot, mode: 0o711)
        try FS.mkdirAll(config.execRoot, mode: 0o711)
        store = try Store(path: config.dataRoot + "/berth.db")
        imageStore = try ImageStore(dataRoot: config.dataRoot, store: store, expansionLimit: config.expansionLimit)
        images = ImageService(images: imageStore)
        self.runtime = try runtime ?? Executor(dataRoot: config.dataRoot, execRoot: config.execRoot)
        events = EventService(store: store)
        pulls = PullService(images: imageStore, registries: config.registries, events: events)
        pushes = PushService(images: imageStore, registries: config.registries, events: events)
        let host: any NetworkHost
        if let networkHost { host = networkHost } else {
            do { host = try LinuxNetworkHost() } catch { host = UnavailableNetworkHost(reason: "\(error)") }
        }
        let names: any NameService = config.resolverCommand.map {
            ResolverProcess(command: $0, execRoot: config.execRoot, database: config.dataRoot + "/berth.db")
        } ?? InProcessNames(store: store, host: host)
        networks = NetworkService(store: store, host: host, config: config.network,
                                  execRoot: config.execRoot, events: events, names: names)
        volumes = try VolumeService(store: store, dataRoot: config.dataRoot, events: events)
        containers = ContainerService(store: store, images: imageStore, runtime: self.runtime,
                                      logDefaults: config.logLimits, events: events, networks: networks, volumes: volumes)
    }

    /// Watches monitor exit files, then brings the store in line with what really runs.
    public func start() async throws {
        let svc = containers
        let token = try FileWatcher.shared.watch(runtime.exitDirectory, mask: UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO)) { name in
            guard name.count == 64, Identifier.isHex(name) else { return }
            Task { await svc.handleExit(name) }
        }
        exitWatch.withLock { $0 = token }
        try imageStore.layers.reconcile()
        try imageStore.reconcileBlobs()
        // A layer committed just before a crash, by a build step or commit whose image was never
        // registered: nothing names it.
        try await imageStore.dropUnreferencedLayers()
        volumes.reconcile()
        let all = (try? store.allContainers()) ?? []
        try await networks.start(running: all.filter { ContainerStatus(stored: $0.status).hasProcess })
        await reconcileContainers(all)
        // Volume mounts (local driver options) that no running container needs any more.
        volumes.unmountUnused(((try? store.allVolumes()) ?? []).map(\.name))
    }

    /// Stops watching: exits are no longer recorded, waiting restarts and health probes end.
    /// Containers keep running (their monitors record exits for the next start). What berthd
    /// does on its way out; tests use it for a daemon that went away.
    public func stop() async {
        if let token = exitWatch.withLock({ t -> UInt64? in defer { t = nil }; return t }) { FileWatcher.shared.unwatch(token) }
        await containers.stopBackgroundWork()
    }

    /// Start-up pass: running containers whose monitor is alive stay running; the others go
    /// through the state machine (`ContainerService.reconcile`): exits recorded, restart policies
    /// applied, waiting restarts scheduled again, half-removed containers finished.
    func reconcileContainers(_ all: [ContainerRecord]) async {
        for c in all where ContainerService.isBuildStep(labels: c.labels) {
            // A build that berthd did not live to finish: its step container goes.
            log.info("removing the step container \(c.id.prefix(12)) of an interrupted build")
            try? await containers.remove(c.id, force: true)
        }
        for c in all where !ContainerService.isBuildStep(labels: c.labels) {
            let status = ContainerStatus(stored: c.status)
            if status.hasProcess || status == .restarting, let hc = try? JSONDecoder().decode(HostConfig.self, from: c.host_config),
               let logSpec = try? LogOptions.spec(hc.LogConfig, defaults: config.logLimits) {
                // Files a log switch made while berthd was away, and keeps watching.
                runtime.resumeLogRotation(c.id, logSpec)
            }
            let alive = c.monitor_pid > 0 && runtime.monitorAlive(Int32(c.monitor_pid))
            if status.hasProcess && alive && runtime.exitStatus(c.id) == nil {
                log.info("container \(c.id.prefix(12)) still running (pid \(c.pid))")
                await containers.resumeHealth(c.id)
                continue
            }
            await containers.reconcile(c, monitorAlive: alive)
        }
    }

    // MARK: system

    static func kernelVersion() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: u.release) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }

    public func versionInfo() -> VersionResponse {
        VersionResponse(version: Self.version, apiVersion: Self.apiVersion, minAPIVersion: Self.minAPIVersion,
                        kernel: Self.kernelVersion(), arch: ImageStore.arch)
    }

    public func info() throws -> SystemInfo {
        let all = try store.allContainers()
        let running = all.filter { $0.status == ContainerStatus.running.rawValue || $0.status == ContainerStatus.restarting.rawValue }.count
        let paused = all.filter { $0.status == ContainerStatus.paused.rawValue }.count
        var osName = "Linux"
        if let os = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8),
           let line = os.split(separator: "\n").first(where: { $0.hasPrefix("PRETTY_NAME=") }) {
            osName = String(line.dropFirst(12)).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        let nfd = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        var info = SystemInfo(ID: Self.daemonID(config.dataRoot), Containers: all.count, ContainersRunning: running,
                          ContainersPaused: paused, ContainersStopped: all.count - running - paused,
                          Images: try store.allImages().count, KernelVersion: Self.kernelVersion(),
                          OperatingSystem: osName, Architecture: Self.machine(), NCPU: ProcessInfo.processInfo.activeProcessorCount,
                          MemTotal: Int64(ProcessInfo.processInfo.physicalMemory), DockerRootDir: config.dataRoot,
                          Name: ProcessInfo.processInfo.hostName, ServerVersion: Self.version, NFd: nfd,
                          SystemTime: Timestamp.rfc3339(nanos: Timestamp.nowNanos()), listeners: events.listenerCount)
        info.RuncCommit = ["ID": Self.runcCommit, "Expected": Self.runcCommit]
        return info
    }

    /// runc's own version (`runc --version`'s commit line), read once.
    static let runcCommit: String = {
        guard let r = try? Subprocess.runBlocking(["runc", "--version"]), r.status == 0 else { return "" }
        let line = r.stdoutText.split(separator: "\n").first { $0.hasPrefix("commit:") } ?? ""
        return line.dropFirst("commit:".count).trimmingCharacters(in: .whitespaces)
    }()

    static func machine() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: u.machine) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }

    /// A stable daemon id kept in the data root.
    static func daemonID(_ root: String) -> String {
        let path = root + "/engine-id"
        if let s = try? String(contentsOfFile: path, encoding: .utf8), !s.isEmpty { return s }
        let id = UUID().uuidString.lowercased()
        try? FS.write(path, id)
        return id
    }
}
