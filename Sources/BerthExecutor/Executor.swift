#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import Foundation
import Logging

/// The container runtime of this host (`ContainerRuntime`): root filesystem, OCI bundle,
/// monitor (conmon), runc. Holds no per-container state in memory; everything is on disk or in
/// the monitor.
public final class Executor: ContainerRuntime {
    public let dataRoot: String
    public let execRoot: String
    public let runc: Runc
    public let monitor: Monitor
    let logRotator = LogRotator()
    let log = Log.logger("executor")

    public init(dataRoot: String, execRoot: String) throws {
        self.dataRoot = dataRoot
        self.execRoot = execRoot
        runc = Runc(root: execRoot + "/runc")
        monitor = Monitor(runc: runc)
        for d in [dataRoot + "/containers", execRoot + "/runc", execRoot + "/containers", execRoot + "/exits",
                  execRoot + "/sock", execRoot + "/exec"] {
            try FS.mkdirAll(d, mode: 0o711)
        }
        try FS.mkdirAll(execRoot + "/pinned", mode: 0o700)
        PinnedMounts.releaseAll(under: execRoot + "/pinned")
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

    /// The start pipeline (`ContainerRuntime`): prepare, create, attach, setup, start.
    public func start(_ spec: ContainerSpec, hooks: StartHooks) async throws -> (pid: Int32, monitorPid: Int32) {
        let p = paths(spec.id)
        try FS.mkdirAll(p.bundle, mode: 0o700)
        // prepare: the root filesystem, the /etc files, the user, the bundle
        let rootfs = try mountRootFS(spec.id, layers: spec.layers)
        do {
            try FS.write(p.hostname, spec.etc.hostname)
            try FS.write(p.hosts, spec.etc.hosts)
            try FS.write(p.resolvConf, spec.etc.resolvConf)
            let user = try UserResolver.resolve(spec.process.user, rootfs: rootfs, groupAdd: spec.process.additionalGroups)
            if !spec.process.cwd.isEmpty && spec.process.cwd != "/" {
                try RootFS.mkdirConfined(root: rootfs, path: spec.process.cwd, uid: user.uid, gid: user.gid)
            }
            for t in ContainerPaths.generatedFiles { RootFS.createEmptyConfined(root: rootfs, path: t) }
            var spec = spec
            let pinnedDir = execRoot + "/pinned/" + spec.id
            let pinned = try PinnedMounts.pin(&spec, under: pinnedDir)
            // runc has made its own mounts once create returns: the clones go then.
            defer { if !pinned.isEmpty { PinnedMounts.release(pinned, dir: pinnedDir) } }
            let oci = try SpecBuilder.build(spec, paths: p, user: user)
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            try FS.writeAtomically(p.bundle + "/config.json", try enc.encode(oci), mode: 0o600)
            if runc.exists(spec.id) { await runc.delete(spec.id, force: true) }
            FS.removeAll(p.exitFile)
            FS.removeAll(p.persist + "/exit")
            FS.removeAll(p.persist + "/oom")
            FS.removeAll(p.dir + "/oom")
            // create: the monitor runs `runc create`
            let created: (pid: Int32, monitorPid: Int32)
            do {
                created = try await monitor.create(paths: p, name: spec.name,
                                                   options: .init(tty: spec.process.tty, stdin: spec.process.openStdin,
                                                                  stdinOnce: spec.process.stdinOnce,
                                                                  logSizeMax: spec.log.limits.maxSize, keepLog: spec.log.keep))
            } catch let e as BerthError {
                throw Self.classifyCreateError(e.message)
            }
            if spec.log.keep { logRotator.track(p, limits: spec.log.limits) }
            // attach, setup, start
            await hooks.created(created.pid, created.monitorPid)
            do {
                try await hooks.setup(created.pid)
                try await runc.start(spec.id)
            } catch {
                Syscall.kill(created.pid, SIGKILL)
                throw error
            }
            return created
        } catch {
            await runc.delete(spec.id, force: true)
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

    /// After the container's process exited: runtime state, mounts and cgroups go away.
    public func teardown(_ id: String) async {
        let p = paths(id)
        logRotator.untrack(id)
        if runc.exists(id) && !runc.deleteStopped(id) { await runc.delete(id, force: true) }
        RootFS.unmount(p.rootfs)
        for ctrl in ["unified", "systemd"] {
            rmdir("/sys/fs/cgroup/\(ctrl)/berth/\(id)")
        }
    }

    /// Removes every file of a container (after `teardown`).
    public func remove(_ id: String) async {
        let p = paths(id)
        await teardown(id)
        FS.removeAll(p.bundle)
        FS.removeAll(p.exitFile)
        FS.removeAll(execRoot + "/sock/" + p.socketName)
        FS.removeAll(execRoot + "/exec/" + id)
        // The container's directory (its writable layer can be large) leaves at once by a rename
        // into the data root's tmp, emptied behind the answer (and at start, after a crash).
        let trash = dataRoot + "/tmp/container-" + id
        if rename(p.dir, trash) == 0 {
            Task.detached(priority: .background) { FS.removeAll(trash) }
        } else {
            FS.removeAll(p.dir)
        }
    }

    /// Applies new resource limits to a running container (`runc update -r -`).
    public func update(_ id: String, _ resources: OCISpec.Resources) async throws {
        struct Body: Encodable { let memory: OCISpec.Memory?; let cpu: OCISpec.CPU?; let pids: OCISpec.Pids? }
        let json = try JSONEncoder().encode(Body(memory: resources.memory, cpu: resources.cpu, pids: resources.pids))
        try await runc.update(id, json: Array(json))
    }

    public func attach(_ id: String) throws -> any StdioSession { try AttachSocket(path: paths(id).attachSocket) }

    public func exitStatus(_ id: String) -> ExitStatus? {
        Monitor.exitStatus(paths(id)).map { ExitStatus(code: $0.code, oom: $0.oom, at: $0.at) }
    }

    public func monitorAlive(_ monitorPid: Int32) -> Bool {
        guard monitorPid > 0, let cmd = FS.readText("/proc/\(monitorPid)/comm") else { return false }
        return cmd.hasPrefix("conmon")
    }

    @discardableResult
    public func signal(_ pid: Int32, _ signal: Int32) -> Bool { Syscall.kill(pid, signal) }

    public func pause(_ id: String) async throws { try await runc.pause(id) }
    public func resume(_ id: String) async throws { try await runc.resume(id) }

    /// Resizes the container's terminal through the monitor's control fifo (`1 H W`).
    public func resize(_ id: String, height: Int, width: Int) {
        guard height > 0, width > 0 else { return }
        let fd = open(paths(id).ctlFifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let msg = Array("1 \(height) \(width)\n".utf8)
        _ = msg.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    }

    public func unmountRootFS(_ id: String) { RootFS.unmount(paths(id).rootfs) }

    /// Starts a process inside a running container.
    public func exec(_ id: String, execID: String, _ spec: ExecSpec) throws -> any ExecSession {
        let process = try execProcess(containerID: id, args: spec.args, env: spec.env, user: spec.user, workingDir: spec.workingDir,
                                      tty: spec.tty, privileged: spec.privileged)
        return try ExecProcess(runc: runc, containerID: id, process: process,
                               workDir: execRoot + "/exec/" + id + "/" + execID, attachStdin: spec.attachStdin)
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
    /// After a berthd restart: keeps filing a running container's full log files.
    public func resumeLogRotation(_ id: String, _ log: LogSpec) {
        if log.keep { logRotator.track(paths(id), limits: log.limits) }
    }

    /// Every file of the container's log, oldest first.
    public func logFiles(_ id: String) -> LogFiles { LogFiles(current: paths(id).log) }
}
