#if canImport(Glibc)
import Glibc
#endif
import BerthArchive
import BerthExecutor
import BerthModels
import BerthStore
import BerthSystem
import CBerthSys
import Foundation

/// diff, export and `docker cp`: files of a container, resolved inside its root.
extension ContainerService {
    public nonisolated func changes(_ ref: String) throws -> [FilesystemChange] {
        let c = try resolve(ref)
        return ContainerFiles.changes(upper: runtime.paths(c.id).upper, lowers: try images.layerPaths(c.image_id),
                                      excluded: ContainerPaths.generatedFiles).map { FilesystemChange(Path: $0.path, Kind: $0.kind) }
    }

    /// The merged root filesystem, mounted for the duration of `body` when the container is not running.
    func withRootFS<T: Sendable>(_ id: String, _ body: @Sendable (String) async throws -> T) async throws -> T {
        guard let c = try store.container(id) else { throw BerthError.notFound("No such container: \(id)") }
        if isRunning(c) { return try await body(runtime.paths(id).rootfs) }
        return try await locks.with(id) {
            let root = try self.runtime.mountRootFS(id, layers: try self.images.layerPaths(c.image_id))
            defer {
                if let cur = try? self.store.container(id), !(cur.status == "running" || cur.status == "paused") {
                    self.runtime.unmountRootFS(id)
                }
            }
            return try await body(root)
        }
    }

    /// Where `path` of the container lives when a mount holds it (nil: the root filesystem),
    /// and the path as seen from there; `hold` is a descriptor the caller closes (-1 for none).
    /// - a volume or bind: the mount's own directory; a volume's subpath is opened beneath the
    ///   volume without following any link and held, so a link another container put in its
    ///   place cannot lead the copy to the host;
    /// - a tmpfs of a running container (it exists only in the container's mount namespace): the
    ///   process's root, opened while a pidfd proves the pid is still the container's. A stopped
    ///   container's tmpfs paths are its root filesystem's, as with dockerd.
    nonisolated func mountedRoot(_ id: String, _ path: String) throws -> (root: String, path: String, hold: Int32)? {
        let p = MountPlan.clean(path)
        let c = try? store.container(id)
        var mounts: [(dst: String, row: MountRecord?)] = ((try? store.mounts(container: id)) ?? []).map { ($0.destination, $0) }
        for dst in (c.flatMap { decode(HostConfig.self, $0.host_config)?.Tmpfs } ?? [:]).keys { mounts.append((MountPlan.clean(dst), nil)) }
        guard let m = mounts.filter({ p == $0.dst || p.hasPrefix($0.dst == "/" ? "/" : $0.dst + "/") })
            .max(by: { $0.dst.count < $1.dst.count }) else { return nil }
        guard let row = m.row, row.type != "tmpfs" else {
            guard let c, isRunning(c), c.pid > 0, let root = processRoot(id, pid: Int32(c.pid)) else { return nil }
            return ("/proc/self/fd/\(root)", p, root)
        }
        var root = row.type == "volume" ? volumes.mountpoint(row.name) : row.source
        var hold: Int32 = -1
        if row.type == "volume" && !row.subpath.isEmpty {
            guard let fd = ContainerFiles.openDirectoryBeneath(root, row.subpath) else {
                throw BerthError.notFound("Could not find the file \(path) in container")
            }
            hold = fd
            root = "/proc/self/fd/\(fd)"
        }
        let rest = p.dropFirst(row.destination.count)
        return (root, rest.isEmpty ? "/" : String(rest), hold)
    }

    /// The root directory of the container's process `pid`, opened while a pidfd proves the pid
    /// is still that container's (never a reused pid's).
    nonisolated func processRoot(_ id: String, pid: Int32) -> Int32? {
        let pidfd = berth_pidfd_open(pid)
        guard pidfd >= 0 else { return nil }
        defer { close(pidfd) }
        guard (FS.readText("/proc/\(pid)/cgroup") ?? "").contains("berth/" + id) else { return nil }
        let root = open("/proc/\(pid)/root", BERTH_O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard root >= 0 else { return nil }
        var poller = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 0) == 0 else { close(root); return nil }   // it exited meanwhile
        return root
    }

    /// `body` over the directory that holds `path` (a mount's, confined to it, or the root
    /// filesystem's), with the path as seen from there.
    func withFilesRoot<T: Sendable>(_ id: String, _ path: String, _ body: @Sendable (String, String) async throws -> T) async throws -> T {
        if let (root, rel, hold) = try mountedRoot(id, path) {
            defer { Syscall.closeQuietly(hold) }
            do { return try await body(root, rel) } catch let e as BerthError where e.kind == .notFound {
                throw BerthError.notFound("Could not find the file \(path) in container")
            }
        }
        return try await withRootFS(id) { root in try await body(root, path) }
    }

    /// Runs an archive producer over the root filesystem, keeping it mounted until the producer
    /// is done with it. The producer runs on a thread of its own, paced by the reader.
    func archiveStream(_ id: String, _ produce: @escaping @Sendable (String, inout TarWriter<StreamingWriter>) throws -> Void)
        async throws -> ChunkStream {
        guard let c = try store.container(id) else { throw BerthError.notFound("No such container: \(id)") }
        let running = isRunning(c)
        let root = running ? runtime.paths(id).rootfs : try runtime.mountRootFS(id, layers: try images.layerPaths(c.image_id))
        let store = self.store, runtime = self.runtime
        return StreamingWriter.stream(onEnd: {
            if !running, let cur = try? store.container(id), !(cur.status == "running" || cur.status == "paused") {
                runtime.unmountRootFS(id)
            }
        }) { w in try produce(root, &w) }
    }

    /// `GET /containers/{id}/export`: the whole root filesystem as a tar stream.
    public func export(_ ref: String) async throws -> ChunkStream {
        let c = try resolve(ref)
        emit("export", c)
        return try await archiveStream(c.id) { root, w in try DirectoryArchiver(root: root).write(to: &w) }
    }

    /// `HEAD /containers/{id}/archive`: the path's stat, base64 JSON.
    public func archiveStat(_ ref: String, path: String) async throws -> String {
        let c = try resolve(ref)
        return try await withFilesRoot(c.id, path) { root, rel in
            try ContainerFiles.pathStat(root: root, path: rel)
        }
    }

    /// `GET /containers/{id}/archive`: the stat header and a tar of the path.
    public func archiveGet(_ ref: String, path: String) async throws -> (stat: String, tar: ChunkStream) {
        let c = try resolve(ref)
        let stat = try await archiveStat(ref, path: path)
        let base = (path as NSString).lastPathComponent
        let name = base.isEmpty || base == "/" ? "." : base
        let produce: @Sendable (String, String, inout TarWriter<StreamingWriter>) throws -> Void = { root, path, w in
            let base = (path as NSString).lastPathComponent
            // A directory is archived through its descriptor; anything else through its parent's.
            if let dir = try? ContainerFiles.open(root: root, path: path, flags: O_RDONLY | O_DIRECTORY) {
                defer { close(dir) }
                var a = DirectoryArchiver(root: "")
                a.prefix = name
                try a.write(rootFd: dir, to: &w)
            } else {
                let parentPath = (path as NSString).deletingLastPathComponent
                let parent = try ContainerFiles.open(root: root, path: parentPath.isEmpty ? "/" : parentPath,
                                                     flags: O_RDONLY | O_DIRECTORY, follow: true)
                defer { close(parent) }
                try DirectoryArchiver.writeSingle(parentFd: parent, leaf: base, name: name, to: &w)
            }
        }
        // Inside a mount: read from its directory (nothing to mount).
        if let (root, rel, hold) = try mountedRoot(c.id, path) {
            return (stat, StreamingWriter.stream(onEnd: { Syscall.closeQuietly(hold) }) { w in try produce(root, rel, &w) })
        }
        let tar = try await archiveStream(c.id) { root, w in try produce(root, path, &w) }
        return (stat, tar)
    }

    /// `PUT /containers/{id}/archive`: unpacks a tar (spooled at `archive`) into a directory of the container.
    public func archivePut(_ ref: String, path: String, archive: String, noOverwriteDirNonDir: Bool, copyUIDGID: Bool) async throws {
        let c = try resolve(ref)
        try await withFilesRoot(c.id, path) { root, path in
            let dir: Int32
            do { dir = try ContainerFiles.open(root: root, path: path, flags: BERTH_O_PATH | O_DIRECTORY, follow: true) }
            catch let e as BerthError where e.kind == .notFound { throw e }
            catch { throw BerthError.invalid("extraction point is not a directory") }
            defer { close(dir) }
            try await Blocking.run("berth-cp", cancellable: { cancel in
                let fd = open(archive, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw BerthError.system("open \(archive): \(Syscall.errnoText())") }
                defer { close(fd) }
                var reader = TarReader(GuardedReader(FileRangeReader(fd: fd), limit: Int64.max, cancel: cancel, what: "the archive"))
                var applier = LayerApplier(root: root)
                applier.convertWhiteouts = false
                applier.preserveOwnership = copyUIDGID
                applier.noOverwriteDirNonDir = noOverwriteDirNonDir
                try applier.apply(&reader, rootFd: dir)
            })
        }
    }
}
