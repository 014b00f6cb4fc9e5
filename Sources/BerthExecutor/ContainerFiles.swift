#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import CBerthSys
import Foundation

/// One entry of `docker diff`: kind 0 changed, 1 added, 2 deleted.
public struct FileChange: Sendable, Equatable {
    public var path: String
    public var kind: Int
    public init(path: String, kind: Int) { self.path = path; self.kind = kind }
}

/// File-level views of a container: changes against its image, and paths resolved inside its root.
public enum ContainerFiles {
    /// `path` inside `root` with its links followed the container's way (they stay inside), as a
    /// path relative to `root` ("" for the root itself); nil when it does not resolve there.
    public static func resolvedInside(root: String, _ path: String, flags: Int32 = BERTH_O_PATH) -> String? {
        guard let fd = try? open(root: root, path: path, flags: flags, follow: true) else { return nil }
        defer { close(fd) }
        guard let real = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)") else { return nil }
        let rootReal = URL(fileURLWithPath: root).resolvingSymlinksInPath().path
        if real == rootReal { return "" }
        return real.hasPrefix(rootReal + "/") ? String(real.dropFirst(rootReal.count + 1)) : nil
    }

    /// The directory `rel` beneath `root`, reached without following any link (a volume's
    /// subpath, which a container may have swapped for one): an `O_PATH` descriptor, or nil.
    public static func openDirectoryBeneath(_ root: String, _ rel: String) -> Int32? {
        let rootFd = Glibc.open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFd >= 0 else { return nil }
        defer { close(rootFd) }
        let fd = berth_openat2(rootFd, rel, BERTH_O_PATH | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW, 0,
                               UInt64(BERTH_RESOLVE_BENEATH | BERTH_RESOLVE_NO_SYMLINKS))
        return fd >= 0 ? fd : nil
    }

    /// `docker diff`: walks the overlay upper dir. A 0:0 device is a deletion; a path that exists
    /// in a lower layer is a change, otherwise an addition. A directory is shown as changed only
    /// when something under it is, so the executor's own /etc mount targets do not show.
    /// The upper dir belongs to a possibly running container, so the walk goes through directory
    /// descriptors and never follows a symlink (a swapped directory cannot list a host one).
    public static func changes(upper: String, lowers: [String], excluded: Set<String>) -> [FileChange] {
        var out: [FileChange] = []
        func inLower(_ rel: String) -> Bool { lowers.contains { FS.exists($0 + "/" + rel) } }
        @discardableResult
        func walk(_ dirFd: Int32, _ rel: String, added: Bool) -> Bool {
            var any = false
            for n in listDirectory(dirFd) {
                let r = rel.isEmpty ? n : rel + "/" + n
                if excluded.contains(r) { continue }
                var st = stat()
                guard fstatat(dirFd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                let fmt = st.st_mode & S_IFMT
                if fmt == S_IFCHR && st.st_rdev == 0 {
                    out.append(FileChange(path: "/" + r, kind: 2)); any = true; continue
                }
                let isAdded = added || !inLower(r)
                if fmt == S_IFDIR {
                    let index = out.count
                    let sub = openat(dirFd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                    let childChanged = sub >= 0 ? walk(sub, r, added: isAdded) : false
                    Syscall.closeQuietly(sub)
                    if isAdded || childChanged {
                        out.insert(FileChange(path: "/" + r, kind: isAdded ? 1 : 0), at: index)
                        any = true
                    }
                } else {
                    out.append(FileChange(path: "/" + r, kind: isAdded ? 1 : 0)); any = true
                }
            }
            return any
        }
        let top = Glibc.open(upper, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard top >= 0 else { return [] }
        defer { close(top) }
        walk(top, "", added: false)
        return out
    }

    /// The names in the directory open at `dirFd`, sorted, without `.` and `..`.
    static func listDirectory(_ dirFd: Int32) -> [String] {
        let listFd = openat(dirFd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard listFd >= 0, let d = fdopendir(listFd) else { Syscall.closeQuietly(listFd); return [] }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if n != "." && n != ".." { names.append(n) }
        }
        return names.sorted()
    }

    /// Opens `path` inside `root` as the container would resolve it (symlinks, absolute or with
    /// `..`, stay inside): `openat2(RESOLVE_IN_ROOT)`. The final component is not followed unless
    /// `follow`. The caller owns the returned descriptor.
    public static func open(root: String, path: String, flags: Int32, follow: Bool = false) throws -> Int32 {
        let rootFd = Glibc.open(root, BERTH_O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard rootFd >= 0 else { throw BerthError.system("open \(root): \(Syscall.errnoText())") }
        defer { close(rootFd) }
        let rel = path.hasPrefix("/") ? String(path.dropFirst()) : path
        let fd = rel.isEmpty || rel == "."
            ? openat(rootFd, ".", flags | O_CLOEXEC)
            : berth_openat2(rootFd, rel, flags | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW), 0,
                            UInt64(BERTH_RESOLVE_IN_ROOT | BERTH_RESOLVE_NO_MAGICLINKS))
        guard fd >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw BerthError.notFound("Could not find the file \(path) in container") }
            throw BerthError.system("resolve \(path): \(Syscall.errnoText())")
        }
        return fd
    }

    /// The `X-Docker-Container-Path-Stat` value of `path` inside `root`: base64 of {name, size,
    /// mode (Go FileMode), mtime, linkTarget}. Read through a descriptor of the path itself, so a
    /// component swapped for a symlink after the resolution cannot make it describe a host file.
    public static func pathStat(root: String, path: String) throws -> String {
        let fd = try open(root: root, path: path, flags: BERTH_O_PATH)
        defer { close(fd) }
        var st = stat()
        guard fstatat(fd, "", &st, BERTH_AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0 else {
            throw BerthError.notFound("Could not find the file \(path) in container")
        }
        var mode = UInt32(st.st_mode & 0o777)
        let fmt = st.st_mode & S_IFMT
        if fmt == S_IFDIR { mode |= 1 << 31 }
        if fmt == S_IFLNK { mode |= 1 << 27 }
        if fmt == S_IFIFO { mode |= 1 << 25 }
        if fmt == S_IFSOCK { mode |= 1 << 24 }
        if fmt == S_IFCHR { mode |= (1 << 26) | (1 << 21) }
        if fmt == S_IFBLK { mode |= 1 << 26 }
        if st.st_mode & S_ISUID != 0 { mode |= 1 << 23 }
        if st.st_mode & S_ISGID != 0 { mode |= 1 << 22 }
        if st.st_mode & S_ISVTX != 0 { mode |= 1 << 20 }
        var link = ""
        if fmt == S_IFLNK {
            var buf = [Int8](repeating: 0, count: 4097)
            let n = readlinkat(fd, "", &buf, 4096)
            if n > 0 { link = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        }
        struct PathStat: Encodable { let name: String; let size: Int64; let mode: UInt32; let mtime: String; let linkTarget: String }
        let mtime = Timestamp.rfc3339(nanos: Timestamp.nanosSaturating(seconds: Int64(st.st_mtim.tv_sec), nanos: Int64(st.st_mtim.tv_nsec)))
        let base = (path as NSString).lastPathComponent
        let json = try JSONEncoder().encode(PathStat(name: base.isEmpty ? "/" : base, size: Int64(st.st_size), mode: mode,
                                                     mtime: mtime, linkTarget: link))
        return json.base64EncodedString()
    }
}
