#if canImport(Glibc)
import Glibc
#endif
import BerthModels
import BerthSystem
import Foundation
import Logging

/// Runs containers on this host: root filesystem, OCI bundle, monitor, runc.
/// Holds no per-container state in memory; everything is on disk or in the monitor.
public final class Executor: Sendable {
    public let dataRoot: String
    public let execRoot: String
    public let runc: Runc
    public let monitor: Monitor
    /// The daemon's log limits; a container's `LogConfig` options override them.
    public let logDefaults: LogLimits
    let logRotator = LogRotator()
    let log = Log.logger("executor")

    public init(dataRoot: String, execRoot: String, logDefaults: LogLimits = .defaults) throws {
        self.dataRoot = dataRoot
        self.execRoot = execRoot
        self.logDefaults = logDefaults
        runc = Runc(root: execRoot + "/runc")
        monitor = Monitor(runc: runc)
        for d in [dataRoot + "/containers", execRoot + "/runc", execRoot + "/containers", execRoot + "/exits",
                  execRoot + "/sock", execRoot + "/exec"] {
            try FS.mkdirAll(d, mode: 0o711)
        }
    }

    public var exitDirectory: String { execRoot + "/exits" }

    public func paths(_ id: String) -> ContainerPaths { ContainerPaths(id: id, dataRoot: dataRoot, execRoot: execRoot) }

    /// The container's directory and writable layer, made at first start (or commit), not at
    /// create: `docker create` touches only the database. Idempotent.
    public func prepareLayer(_ id: String) throws {
        let p = paths(id)
        for d in [p.dir, p.upper, p.work, p.rootfs, p.persist] where !FS.isDirectory(d) {
            try FS.mkdirAll(d, mode: d == p.upper ? 0o755 : 0o710)
        }
    }

    /// Mounts the root filesystem (if it is not) and returns its path.
    public func mountRootFS(_ id: String, layers: [String]) throws -> String {
        let p = paths(id)
        try prepareLayer(id)
        var lowers = Array(layers.reversed())
        if lowers.isEmpty {
            let empty = dataRoot + "/containers/.empty"
            try FS.mkdirAll(empty, mode: 0o755)
            lowers = [empty]
        }
        try RootFS.mount(lowers: lowers, upper: p.upper, work: p.work, target: p.rootfs)
        return p.rootfs
    }

    /// Starts a container; `beforeStart` runs after the monitor created it and before its process
    /// runs, so attached clients see every byte.
    public func start(_ req: RunRequest, name: String, beforeStart: @Sendable (_ pid: Int32, _ monitorPid: Int32) async -> Void)
        async throws -> (pid: Int32, monitorPid: Int32) {
        let p = paths(req.id)
        try FS.mkdirAll(p.bundle, mode: 0o700)
        let rootfs = try mountRootFS(req.id, layers: req.layers)
        do {
            try writeEtcFiles(req, p)
            let user = try UserResolver.resolve(req.user, rootfs: rootfs, groupAdd: req.hostConfig.GroupAdd ?? [])
            if !req.workingDir.isEmpty && req.workingDir != "/" {
                try RootFS.mkdirConfined(root: rootfs, path: req.workingDir, uid: user.uid, gid: user.gid)
            }
            for t in ContainerPaths.generatedFiles { RootFS.createEmptyConfined(root: rootfs, path: t) }
            let spec = try SpecBuilder.build(req, paths: p, user: user)
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            try FS.writeAtomically(p.bundle + "/config.json", try enc.encode(spec), mode: 0o600)
            if runc.exists(req.id) { await runc.delete(req.id, force: true) }
            FS.removeAll(p.exitFile)
            FS.removeAll(p.persist + "/exit")
            FS.removeAll(p.persist + "/oom")
            FS.removeAll(p.dir + "/oom")
            let limits = try logLimits(req.hostConfig)
            let created: (pid: Int32, monitorPid: Int32)
            do {
                created = try await monitor.create(paths: p, name: name,
                                                   options: .init(tty: req.tty, stdin: req.openStdin, stdinOnce: req.stdinOnce,
                                                                  logSizeMax: limits.maxSize,
                                                                  keepLog: LogLimits.readable(req.hostConfig.LogConfig)))
            } catch let e as BerthError {
                throw Self.classifyCreateError(e.message)
            }
            if LogLimits.readable(req.hostConfig.LogConfig) { logRotator.track(p, limits: limits) }
            await beforeStart(created.pid, created.monitorPid)
            do {
                try await runc.start(req.id)
            } catch {
                Syscall.kill(created.pid, SIGKILL)
                throw error
            }
            return created
        } catch {
            await runc.delete(req.id, force: true)
            RootFS.unmount(rootfs)
            throw error
        }
    }

    /// runc's create errors as dockerd words and classifies them.
    static func classifyCreateError(_ msg: String) -> BerthError {
        let text = "failed to create task for container: OCI runtime create failed: \(msg): unknown"
        if msg.contains("executable file not found") || msg.contains("no such file or directory")
            || msg.contains("permission denied") {
            return BerthError(.invalidArgument, text)
        }
        return BerthError.system(text)
    }

    /// Exit code hint for a failed start, as dockerd records it.
    public static func exitCode(forStartError message: String) -> Int {
        if message.contains("executable file not found") || message.contains("no such file or directory") { return 127 }
        if message.contains("permission denied") { return 126 }
        return 128
    }

    func writeEtcFiles(_ req: RunRequest, _ p: ContainerPaths) throws {
        let hc = req.hostConfig
        let host = hc.NetworkMode == "host"
        var hostname = host ? (ProcessInfo.processInfo.hostName) : req.hostname
        if hostname.isEmpty { hostname = String(req.id.prefix(12)) }
        try FS.write(p.hostname, hostname + "\n")
        var hosts: String
        if host, let h = try? String(contentsOfFile: "/etc/hosts", encoding: .utf8) { hosts = h } else {
            hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
                + "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
        }
        for e in hc.ExtraHosts ?? [] {
            let parts = e.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { hosts += "\(parts[1])\t\(parts[0])\n" }
        }
        try FS.write(p.hosts, hosts)
        var resolv = (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? ""
        if !host {
            // Loopback resolvers of the host are unreachable from the container's namespace.
            let kept = resolv.split(separator: "\n").filter { l in
                let f = l.split(separator: " ", omittingEmptySubsequences: true)
                return !(f.first == "nameserver" && f.count > 1 && (f[1].hasPrefix("127.") || f[1] == "::1"))
            }
            resolv = kept.joined(separator: "\n") + "\n"
        }
        if let dns = hc.Dns, !dns.isEmpty || !(hc.DnsSearch ?? []).isEmpty || !(hc.DnsOptions ?? []).isEmpty {
            var lines = resolv.split(separator: "\n").map(String.init)
            if !dns.isEmpty { lines.removeAll { $0.hasPrefix("nameserver") }; lines += dns.map { "nameserver " + $0 } }
            if let s = hc.DnsSearch, !s.isEmpty { lines.removeAll { $0.hasPrefix("search") }; lines.append("search " + s.joined(separator: " ")) }
            if let o = hc.DnsOptions, !o.isEmpty { lines.removeAll { $0.hasPrefix("options") }; lines.append("options " + o.joined(separator: " ")) }
            resolv = lines.joined(separator: "\n") + "\n"
        }
        try FS.write(p.resolvConf, resolv)
    }

    /// After the container's process exited: runtime state, mounts and cgroups go away.
    public func cleanup(_ id: String) async {
        let p = paths(id)
        logRotator.untrack(id)
        if runc.exists(id) && !runc.deleteStopped(id) { await runc.delete(id, force: true) }
        RootFS.unmount(p.rootfs)
        for ctrl in ["unified", "systemd"] {
            rmdir("/sys/fs/cgroup/\(ctrl)/berth/\(id)")
        }
    }

    /// Removes every file of a container (after `cleanup`).
    public func remove(_ id: String) async {
        let p = paths(id)
        await cleanup(id)
        FS.removeAll(p.bundle)
        FS.removeAll(p.exitFile)
        FS.removeAll(execRoot + "/sock/" + p.socketName)
        FS.removeAll(execRoot + "/exec/" + id)
        FS.removeAll(p.dir)
    }

    /// Applies new resource limits to a running container (`runc update -r -`).
    public func update(_ id: String, _ resources: OCISpec.Resources) async throws {
        struct Body: Encodable { let memory: OCISpec.Memory?; let cpu: OCISpec.CPU?; let pids: OCISpec.Pids? }
        let json = try JSONEncoder().encode(Body(memory: resources.memory, cpu: resources.cpu, pids: resources.pids))
        try await runc.update(id, json: Array(json))
    }

    public func attach(_ id: String) throws -> AttachSocket { try AttachSocket(path: paths(id).attachSocket) }

    public func exitStatus(_ id: String) -> (code: Int32, oom: Bool, at: Int64)? { Monitor.exitStatus(paths(id)) }

    /// Starts a process inside a running container.
    public func exec(containerID: String, execID: String, process: OCISpec.Process, attachStdin: Bool) throws -> ExecProcess {
        try ExecProcess(runc: runc, containerID: containerID, process: process,
                        workDir: execRoot + "/exec/" + containerID + "/" + execID, attachStdin: attachStdin)
    }

    /// The process spec of an exec, derived from the container's bundle.
    public func execProcess(containerID: String, args: [String], env: [String], user: String?, workingDir: String?,
                            tty: Bool, privileged: Bool) throws -> OCISpec.Process {
        let p = paths(containerID)
        let spec: OCISpec
        do { spec = try JSONDecoder().decode(OCISpec.self, from: try FS.read(p.bundle + "/config.json")) }
        catch { throw BerthError.conflict("Container \(containerID) is not running") }
        var proc = spec.process
        proc.args = args
        proc.terminal = tty
        var merged = proc.env
        for e in env {
            let key = e.split(separator: "=", maxSplits: 1).first.map(String.init) ?? e
            merged.removeAll { $0.hasPrefix(key + "=") || $0 == key }
            merged.append(e)
        }
        proc.env = merged
        if let u = user, !u.isEmpty {
            let r = try UserResolver.resolve(u, rootfs: p.rootfs)
            proc.user = .init(uid: r.uid, gid: r.gid, additionalGids: r.additionalGids.isEmpty ? nil : r.additionalGids, umask: nil)
        }
        if let w = workingDir, !w.isEmpty { proc.cwd = w }
        if privileged {
            let caps = try Capabilities.compute(privileged: true, add: [], drop: [])
            proc.capabilities = .init(bounding: caps, effective: caps, permitted: caps, inheritable: nil, ambient: nil)
        }
        return proc
    }
}

extension Executor {
    /// A container's log limits (throws on options dockerd would refuse).
    public func logLimits(_ hostConfig: HostConfig) throws -> LogLimits {
        try logDefaults.forContainer(hostConfig.LogConfig)
    }

    /// After a berthd restart: keeps filing a running container's full log files.
    public func resumeLogRotation(_ id: String, _ hostConfig: HostConfig) {
        logRotator.track(paths(id), limits: (try? logLimits(hostConfig)) ?? logDefaults)
    }

    /// Every file of the container's log, oldest first.
    public func logFiles(_ id: String) -> LogFiles { LogFiles(current: paths(id).log) }
}
