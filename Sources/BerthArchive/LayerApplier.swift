#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import CBerthSys

/// Unpacks a layer tar into a directory, never writing outside it.
///
/// Every parent directory is opened with `openat2(RESOLVE_IN_ROOT)`, so `..` and symlinks
/// (absolute or relative) resolve inside the root, as the container will later see them; the
/// entry itself is then created relative to that parent and never followed. Hardlink targets are
/// resolved the same way. OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`) become overlay whiteouts:
/// a 0:0 character device and the `trusted.overlay.opaque` xattr.
public struct LayerApplier {
    public let root: String
    /// When false (plain extraction, e.g. `docker cp`), whiteout names are ordinary files.
    public var convertWhiteouts = true
    /// Set ownership from the archive (root daemon); off for tests that run unprivileged.
    public var preserveOwnership = getuid() == 0
    /// Refuse to replace a directory with a non-directory or the other way round (`docker cp`).
    public var noOverwriteDirNonDir = false

    /// Told of every entry as it is extracted (the build context's checksums).
    public var observer: (any TarEntryObserver)? = nil
    public init(root: String) { self.root = root }

    /// Extracts all entries; returns the number of bytes of file data written.
    @discardableResult
    public func apply<R: ByteReader>(_ reader: inout TarReader<R>) throws -> Int64 {
        let rootFd = open(root, BERTH_O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard rootFd >= 0 else { throw BerthError.system("open \(root): \(Syscall.errnoText())") }
        defer { close(rootFd) }
        return try apply(&reader, rootFd: rootFd)
    }

    /// Extracts into the directory open at `rootFd` (resolved by the caller, e.g. inside a container).
    @discardableResult
    public func apply<R: ByteReader>(_ reader: inout TarReader<R>, rootFd: Int32) throws -> Int64 {
        var dirTimes: [(String, Int64)] = []
        var written: Int64 = 0
        defer { observer?.finish() }
        while let entry = try reader.next() {
            observer?.entry(entry)
            guard let path = cleanArchivePath(entry.name) else {
                throw BerthError.invalid("archive entry \(entry.name) escapes the extraction root")
            }
            if path.isEmpty { continue }  // the root itself
            let (parentPath, name) = split(path)
            let parent = try openParent(rootFd, parentPath)
            defer { close(parent) }

            if convertWhiteouts && name.hasPrefix(".wh.") {
                if name == ".wh..wh..opq" {
                    let d = openat(parent, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                    let y: [UInt8] = [UInt8(ascii: "y")]
                    let r = d < 0 ? -1 : y.withUnsafeBytes { berth_fsetxattr(d, "trusted.overlay.opaque", $0.baseAddress, 1, 0) }
                    Syscall.closeQuietly(d)
                    if r != 0 { throw BerthError.system("set opaque on \(parentPath): \(Syscall.errnoText())") }
                } else {
                    let target = String(name.dropFirst(4))
                    removeExisting(parent, target, keepDirectory: false)
                    try Syscall.call("whiteout \(path)") { mknodat(parent, target, S_IFCHR | 0, dev_t(berth_makedev(0, 0))) }
                }
                continue
            }

            if noOverwriteDirNonDir {
                var st = stat()
                if fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
                    let isDir = (st.st_mode & S_IFMT) == S_IFDIR
                    if isDir && entry.kind != .directory {
                        throw BerthError.invalid("cannot overwrite directory \"/\(path)\" with non-directory")
                    }
                    if !isDir && entry.kind == .directory {
                        throw BerthError.invalid("cannot overwrite non-directory \"/\(path)\" with directory")
                    }
                }
            }
            removeExisting(parent, name, keepDirectory: entry.kind == .directory)
            switch entry.kind {
            case .directory:
                if mkdirat(parent, name, 0o700) != 0 && errno != EEXIST {
                    throw BerthError.system("mkdir \(path): \(Syscall.errnoText())")
                }
                // Metadata through a descriptor of the directory itself: if the name was swapped
                // for a symlink meanwhile (a running container during `docker cp`), the open fails.
                let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { throw BerthError.system("open \(path): \(Syscall.errnoText())") }
                defer { close(fd) }
                try setMetadata(fd, entry)
                dirTimes.append((path, entry.mtime))
                continue
            case .file, .other:
                let fd = try createFile(parent, name, path)
                defer { close(fd) }
                try reader.readData { chunk in try Syscall.writeAll(fd, chunk) }
                written &+= entry.size
                try setMetadata(fd, entry)
                var ts = [timespec(tv_sec: Int(entry.mtime), tv_nsec: 0), timespec(tv_sec: Int(entry.mtime), tv_nsec: 0)]
                _ = futimens(fd, &ts)
                continue
            case .symlink:
                try Syscall.call("symlink \(path)") { symlinkat(entry.linkName, parent, name) }
                if preserveOwnership { _ = fchownat(parent, name, uid_t(entry.uid), gid_t(entry.gid), AT_SYMLINK_NOFOLLOW) }
            case .hardlink:
                guard let target = cleanArchivePath(entry.linkName), !target.isEmpty else {
                    throw BerthError.invalid("hardlink \(entry.name) points outside the root")
                }
                let (tp, tn) = split(target)
                let tparent = try openParent(rootFd, tp, create: false)
                defer { close(tparent) }
                try Syscall.call("link \(path)") { linkat(tparent, tn, parent, name, 0) }
                continue  // a hardlink shares the target's metadata
            case .charDevice, .blockDevice, .fifo:
                let type: mode_t = entry.kind == .charDevice ? S_IFCHR : entry.kind == .blockDevice ? S_IFBLK : S_IFIFO
                try Syscall.call("mknod \(path)") {
                    mknodat(parent, name, type | mode_t(entry.mode & 0o777), dev_t(berth_makedev(entry.devMajor, entry.devMinor)))
                }
                try setNodeMetadata(parent, name, type, entry)
            }
            var ts = [timespec(tv_sec: Int(entry.mtime), tv_nsec: 0), timespec(tv_sec: Int(entry.mtime), tv_nsec: 0)]
            _ = utimensat(parent, name, &ts, AT_SYMLINK_NOFOLLOW)
        }
        // Directory times last, deepest first, since creating children touched them.
        for (path, mtime) in dirTimes.reversed() {
            let (pp, n) = split(path)
            if let p = try? openParent(rootFd, pp, create: false) {
                var ts = [timespec(tv_sec: Int(mtime), tv_nsec: 0), timespec(tv_sec: Int(mtime), tv_nsec: 0)]
                _ = utimensat(p, n, &ts, AT_SYMLINK_NOFOLLOW)
                close(p)
            }
        }
        return written
    }

    private func split(_ path: String) -> (String, String) {
        if let i = path.lastIndex(of: "/") { return (String(path[..<i]), String(path[path.index(after: i)...])) }
        return ("", path)
    }

    /// Opens a directory inside the root (resolving as the container would), creating missing ones.
    private func openParent(_ rootFd: Int32, _ path: String, create: Bool = true, depth: Int = 0) throws -> Int32 {
        if path.isEmpty { return dup(rootFd) }
        let flags = BERTH_O_PATH | O_DIRECTORY | O_CLOEXEC
        let resolve = UInt64(BERTH_RESOLVE_IN_ROOT | BERTH_RESOLVE_NO_MAGICLINKS)
        let fd = berth_openat2(rootFd, path, flags, 0, resolve)
        if fd >= 0 { return fd }
        guard create, errno == ENOENT, depth < 16 else { throw BerthError.system("open \(path) in layer: \(Syscall.errnoText())") }
        var prefix = ""
        for comp in path.split(separator: "/") {
            let c = String(comp)
            let parent = try openParent(rootFd, prefix, create: true, depth: depth + 1)
            defer { close(parent) }
            let next = prefix.isEmpty ? c : prefix + "/" + c
            if mkdirat(parent, c, 0o755) != 0 && errno != EEXIST {
                throw BerthError.system("mkdir \(next): \(Syscall.errnoText())")
            }
            let probe = berth_openat2(rootFd, next, flags, 0, resolve)
            if probe >= 0 { close(probe); prefix = next; continue }
            // A dangling symlink: create its target, read as the container would (inside the root).
            var buf = [Int8](repeating: 0, count: 4097)
            let n = readlinkat(parent, c, &buf, 4096)
            guard n > 0 else { throw BerthError.system("open \(next) in layer: \(Syscall.errnoText())") }
            let target = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let resolved = target.hasPrefix("/") ? target : (prefix.isEmpty ? target : prefix + "/" + target)
            guard let clean = cleanArchivePath(resolved, clamp: true) else { throw BerthError.invalid("bad link \(next)") }
            close(try openParent(rootFd, clean, create: true, depth: depth + 1))
            prefix = next
        }
        let done = berth_openat2(rootFd, path, flags, 0, resolve)
        guard done >= 0 else { throw BerthError.system("open \(path) in layer: \(Syscall.errnoText())") }
        return done
    }

    private func removeExisting(_ parent: Int32, _ name: String, keepDirectory: Bool) {
        var st = stat()
        guard fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        let isDir = (st.st_mode & S_IFMT) == S_IFDIR
        if isDir && keepDirectory { return }
        if isDir { removeTree(parent, name) } else { unlinkat(parent, name, 0) }
    }

    private func removeTree(_ parent: Int32, _ name: String) {
        let fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd >= 0, let d = fdopendir(fd) {
            var names: [String] = []
            while let e = readdir(d) {
                let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                if n != "." && n != ".." { names.append(n) }
            }
            let dfd = dirfd(d)
            for n in names {
                var st = stat()
                if fstatat(dfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 && (st.st_mode & S_IFMT) == S_IFDIR {
                    removeTree(dfd, n)
                } else { unlinkat(dfd, n, 0) }
            }
            closedir(d)
        }
        unlinkat(parent, name, AT_REMOVEDIR)
    }

    /// Creates a regular file that did not exist a moment ago (`O_EXCL`, never following a
    /// symlink, never opening a FIFO or device someone put there since `removeExisting`).
    private func createFile(_ parent: Int32, _ name: String, _ path: String) throws -> Int32 {
        for attempt in 0..<2 {
            let fd = openat(parent, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd >= 0 { return fd }
            guard errno == EEXIST, attempt == 0 else { break }
            removeExisting(parent, name, keepDirectory: false)
        }
        throw BerthError.system("create \(path): \(Syscall.errnoText())")
    }

    /// Ownership, mode and xattrs through the entry's own descriptor: nothing here follows a path.
    private func setMetadata(_ fd: Int32, _ e: TarEntry) throws {
        if preserveOwnership { _ = fchown(fd, uid_t(e.uid), gid_t(e.gid)) }
        _ = fchmod(fd, mode_t(e.mode & 0o7777))
        for (k, v) in e.xattrs where !k.hasPrefix("trusted.overlay.") {
            _ = v.withUnsafeBytes { berth_fsetxattr(fd, k, $0.baseAddress, v.count, 0) }
        }
    }

    /// Devices and FIFOs cannot be opened for their metadata (that would open the device), so
    /// they are reached as an `O_PATH` descriptor, checked to still be the node just made, and
    /// changed through its `/proc/self/fd` link, which names that inode and no path.
    private func setNodeMetadata(_ parent: Int32, _ name: String, _ type: mode_t, _ e: TarEntry) throws {
        if preserveOwnership { _ = fchownat(parent, name, uid_t(e.uid), gid_t(e.gid), AT_SYMLINK_NOFOLLOW) }
        let fd = openat(parent, name, BERTH_O_PATH | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == type else { return }
        _ = chmod("/proc/self/fd/\(fd)", mode_t(e.mode & 0o7777))
    }
}

/// Watches an archive being extracted: each entry's header, in order; `finish` at the end.
public protocol TarEntryObserver: AnyObject {
    func entry(_ entry: TarEntry)
    func finish()
}
