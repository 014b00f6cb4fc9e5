#if canImport(Glibc)
import Glibc
#endif
import BerthModels
import BerthSystem
import CBerthSys
import Foundation

/// File-level views of a container: changes against its image, and paths resolved inside its root.
public enum ContainerFiles {
    /// `docker diff`: walks the overlay upper dir. A 0:0 device is a deletion; a path that exists
    /// in a lower layer is a change, otherwise an addition. A directory is shown as changed only
    /// when something under it is, so the executor's own /etc mount targets do not show.
    public static func changes(upper: String, lowers: [String], excluded: Set<String>) -> [FilesystemChange] {
        var out: [FilesystemChange] = []
        func inLower(_ rel: String) -> Bool { lowers.contains { FS.exists($0 + "/" + rel) } }
        @discardableResult
        func walk(_ rel: String, added: Bool) -> Bool {
            let dir = rel.isEmpty ? upper : upper + "/" + rel
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return false }
            var any = false
            for n in names.sorted() {
                let r = rel.isEmpty ? n : rel + "/" + n
                if excluded.contains(r) { continue }
                var st = stat()
                guard lstat(upper + "/" + r, &st) == 0 else { continue }
                let fmt = st.st_mode & S_IFMT
                if fmt == S_IFCHR && st.st_rdev == 0 {
                    out.append(FilesystemChange(Path: "/" + r, Kind: 2)); any = true; continue
                }
                let isAdded = added || !inLower(r)
                if fmt == S_IFDIR {
                    let index = out.count
                    let childChanged = walk(r, added: isAdded)
                    if isAdded || childChanged {
                        out.insert(FilesystemChange(Path: "/" + r, Kind: isAdded ? 1 : 0), at: index)
                        any = true
                    }
                } else {
                    out.append(FilesystemChange(Path: "/" + r, Kind: isAdded ? 1 : 0)); any = true
                }
            }
            return any
        }
        walk("", added: false)
        return out
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

    /// The host path `path` resolves to inside `root` (for stat only; file access goes through descriptors).
    public static func resolve(root: String, path: String, follow: Bool = false) throws -> String {
        let fd = try open(root: root, path: path, flags: BERTH_O_PATH, follow: follow)
        defer { close(fd) }
        var buf = [Int8](repeating: 0, count: 4097)
        let n = readlink("/proc/self/fd/\(fd)", &buf, 4096)
        guard n > 0 else { throw BerthError.system("resolve \(path): \(Syscall.errnoText())") }
        let real = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard real == root || real.hasPrefix(root + "/") else { throw BerthError.invalid("\(path) resolves outside the container") }
        return real
    }

    /// The `X-Docker-Container-Path-Stat` value: base64 of {name, size, mode (Go FileMode), mtime, linkTarget}.
    public static func pathStat(hostPath: String, root: String, name: String) throws -> String {
        var st = stat()
        guard lstat(hostPath, &st) == 0 else { throw BerthError.notFound("Could not find the file \(name) in container") }
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
            let n = readlink(hostPath, &buf, 4096)
            if n > 0 { link = String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        }
        struct PathStat: Encodable { let name: String; let size: Int64; let mode: UInt32; let mtime: String; let linkTarget: String }
        let mtime = Timestamp.rfc3339(nanos: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
        let json = try JSONEncoder().encode(PathStat(name: (name as NSString).lastPathComponent.isEmpty ? "/" : (name as NSString).lastPathComponent,
                                                     size: Int64(st.st_size), mode: mode, mtime: mtime, linkTarget: link))
        return json.base64EncodedString()
    }
}
