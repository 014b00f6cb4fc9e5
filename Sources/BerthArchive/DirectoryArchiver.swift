#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import CBerthSys

/// Turns a directory into tar entries. With `overlayUpper`, the directory is an overlay upper
/// dir and whiteouts become OCI whiteouts: a 0:0 char device → `.wh.NAME`, an opaque dir →
/// the dir plus `.wh..wh..opq` (the native diff of ../shared/EXECUTOR-FACTS.md §3).
///
/// The walk goes through directory descriptors (`openat`, `fstatat`, `readlinkat`, all without
/// following symlinks), so a tree that changes while it is read — a container swapping a
/// directory for a symlink during `docker cp` — cannot send the walk outside it.
public struct DirectoryArchiver {
    public let root: String
    public var overlayUpper = false
    /// Relative paths left out (the bind-mount targets under /etc that the executor creates).
    public var excluded: Set<String> = []
    /// Entry names get this prefix (`name/` for `docker cp` of a directory named `name`).
    public var prefix = ""

    public init(root: String) { self.root = root }

    public func write<W: ByteWriter>(to writer: inout TarWriter<W>) throws {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw BerthError.system("open \(root): \(Syscall.errnoText())") }
        defer { close(fd) }
        try write(rootFd: fd, to: &writer)
    }

    /// Archives the directory open at `rootFd` (resolved by the caller, e.g. inside a container).
    public func write<W: ByteWriter>(rootFd: Int32, to writer: inout TarWriter<W>) throws {
        var links: [UInt64: String] = [:]
        if !prefix.isEmpty {
            var st = stat()
            if fstat(rootFd, &st) == 0 {
                try writer.write(TarEntry(name: prefix + "/", kind: .directory, mode: UInt32(st.st_mode & 0o7777),
                                          uid: Int(st.st_uid), gid: Int(st.st_gid), mtime: Int64(st.st_mtim.tv_sec)))
            }
        }
        try walk(dirFd: rootFd, rel: "", &writer, &links)
    }

    /// Writes one file (not a directory) as the whole archive, named `name`: `parentFd` holds it as `leaf`.
    public static func writeSingle<W: ByteWriter>(parentFd: Int32, leaf: String, name: String, to w: inout TarWriter<W>) throws {
        var st = stat()
        guard fstatat(parentFd, leaf, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw BerthError.notFound("\(name): \(Syscall.errnoText())")
        }
        var links: [UInt64: String] = [:]
        try DirectoryArchiver(root: "").entry(dirFd: parentFd, leaf: leaf, name: name, rel: name, st: st, &w, &links, descend: false)
    }

    /// Whether everything in the directory open at `fd` is excluded.
    private func onlyExcluded(_ fd: Int32, rel: String) -> Bool {
        let listFd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard listFd >= 0, let d = fdopendir(listFd) else { Syscall.closeQuietly(listFd); return false }
        defer { closedir(d) }
        while let e = readdir(d) {
            let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if n != "." && n != ".." && !excluded.contains(rel + "/" + n) { return false }
        }
        return true
    }

    private func walk<W: ByteWriter>(dirFd: Int32, rel: String, _ w: inout TarWriter<W>, _ links: inout [UInt64: String]) throws {
        let listFd = openat(dirFd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard listFd >= 0, let d = fdopendir(listFd) else { throw BerthError.system("open \(rel.isEmpty ? root : rel): \(Syscall.errnoText())") }
        var names: [String] = []
        while let e = readdir(d) {
            let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if n != "." && n != ".." { names.append(n) }
        }
        closedir(d)
        names.sort()
        for n in names {
            let r = rel.isEmpty ? n : rel + "/" + n
            if excluded.contains(r) { continue }
            var st = stat()
            guard fstatat(dirFd, n, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            try entry(dirFd: dirFd, leaf: n, name: prefix.isEmpty ? r : prefix + "/" + r, rel: r, st: st, &w, &links)
        }
    }

    private func entry<W: ByteWriter>(dirFd: Int32, leaf n: String, name: String, rel r: String, st: stat,
                                      _ w: inout TarWriter<W>, _ links: inout [UInt64: String], descend: Bool = true) throws {
        let fmt = st.st_mode & S_IFMT
        var e = TarEntry(name: name, kind: .file, mode: UInt32(st.st_mode & 0o7777), uid: Int(st.st_uid),
                         gid: Int(st.st_gid), size: 0, mtime: Int64(st.st_mtim.tv_sec))
        switch fmt {
        case S_IFDIR:
            e.kind = .directory
            e.name = name + "/"
            let sub = descend ? openat(dirFd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1
            defer { Syscall.closeQuietly(sub) }
            // A directory in an overlay upper only because excluded files were written in it
            // (/etc for the hosts files berthd makes) is no change of the container's.
            if sub >= 0 && overlayUpper && excluded.contains(where: { $0.hasPrefix(r + "/") }) && !isOpaque(sub)
                && onlyExcluded(sub, rel: r) { return }
            try w.write(e)
            guard descend else { return }
            guard sub >= 0 else { return }  // replaced while we looked: skip it
            if overlayUpper && isOpaque(sub) {
                try w.write(TarEntry(name: name + "/.wh..wh..opq", kind: .file, mode: 0o644))
            }
            try walk(dirFd: sub, rel: r, &w, &links)
        case S_IFREG:
            if st.st_nlink > 1 {
                let key = UInt64(st.st_ino)
                if let first = links[key] {
                    e.kind = .hardlink; e.linkName = first
                    try w.write(e)
                    return
                }
            }
            // O_NONBLOCK: if the file was swapped for a FIFO since the stat, the open must not
            // wait for a writer; the check after it skips anything that is no longer this file.
            let fd = openat(dirFd, n, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else { return }
            defer { close(fd) }
            var now = stat()
            guard fstat(fd, &now) == 0, now.st_mode & S_IFMT == S_IFREG, now.st_ino == st.st_ino, now.st_dev == st.st_dev else { return }
            if st.st_nlink > 1 { links[UInt64(st.st_ino)] = name }
            e.size = Int64(st.st_size)
            try w.writeHeader(e)
            var left = e.size
            var buf = [UInt8](repeating: 0, count: Int(max(1, min(e.size, 1 << 20))))
            while left > 0 {
                let got = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, min($0.count, Int(left))) }
                if got < 0 && errno == EINTR { continue }
                if got <= 0 { break }
                try buf.withUnsafeBytes { try w.writeData(UnsafeRawBufferPointer(rebasing: $0[0..<got])) }
                left -= Int64(got)
            }
            if left > 0 {  // the file shrank while reading: keep the archive well-formed
                let z = [UInt8](repeating: 0, count: Int(left))
                try z.withUnsafeBytes { try w.writeData($0) }
            }
            try w.finishData(size: e.size)
        case S_IFLNK:
            var buf = [Int8](repeating: 0, count: 4097)
            let len = readlinkat(dirFd, n, &buf, 4096)
            e.kind = .symlink
            e.linkName = len > 0 ? String(decoding: buf[0..<len].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
            try w.write(e)
        case S_IFCHR, S_IFBLK:
            let dev = UInt64(st.st_rdev)
            if overlayUpper && fmt == S_IFCHR && dev == 0 {
                let parent = name.contains("/") ? String(name[..<name.lastIndex(of: "/")!]) + "/" : ""
                try w.write(TarEntry(name: parent + ".wh." + n, kind: .file, mode: 0o644))
                return
            }
            e.kind = fmt == S_IFCHR ? .charDevice : .blockDevice
            e.devMajor = berth_major(dev); e.devMinor = berth_minor(dev)
            try w.write(e)
        case S_IFIFO:
            e.kind = .fifo
            try w.write(e)
        default:
            return  // sockets are not archived
        }
    }

    private func isOpaque(_ fd: Int32) -> Bool {
        var v = [UInt8](repeating: 0, count: 4)
        let n = v.withUnsafeMutableBytes { berth_fgetxattr(fd, "trusted.overlay.opaque", $0.baseAddress, 4) }
        return n == 1 && v[0] == UInt8(ascii: "y")
    }
}
