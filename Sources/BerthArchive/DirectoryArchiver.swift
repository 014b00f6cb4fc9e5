#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import CBerthSys

/// Turns a directory into tar entries. With `overlayUpper`, the directory is an overlay upper
/// dir and whiteouts become OCI whiteouts: a 0:0 char device → `.wh.NAME`, an opaque dir →
/// the dir plus `.wh..wh..opq` (the native diff of ../shared/EXECUTOR-FACTS.md §3).
public struct DirectoryArchiver {
    public let root: String
    public var overlayUpper = false
    /// Relative paths left out (the bind-mount targets under /etc that the executor creates).
    public var excluded: Set<String> = []

    public init(root: String) { self.root = root }

    /// Entry names get this prefix (`name/` for `docker cp` of a directory named `name`).
    public var prefix = ""

    public func write<W: ByteWriter>(to writer: inout TarWriter<W>) throws {
        var links: [UInt64: String] = [:]
        if !prefix.isEmpty {
            var st = stat()
            if lstat(root, &st) == 0 {
                try writer.write(TarEntry(name: prefix + "/", kind: .directory, mode: UInt32(st.st_mode & 0o7777),
                                          uid: Int(st.st_uid), gid: Int(st.st_gid), mtime: Int64(st.st_mtim.tv_sec)))
            }
        }
        try walk("", &writer, &links)
    }

    private func walk<W: ByteWriter>(_ rel: String, _ w: inout TarWriter<W>, _ links: inout [UInt64: String]) throws {
        let dirPath = rel.isEmpty ? root : root + "/" + rel
        guard let d = opendir(dirPath) else { throw BerthError.system("open \(dirPath): \(Syscall.errnoText())") }
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
            let full = root + "/" + r
            var st = stat()
            guard lstat(full, &st) == 0 else { continue }
            let fmt = st.st_mode & S_IFMT
            try writeEntry(full: full, name: prefix.isEmpty ? r : prefix + "/" + r, rel: r, leaf: n, st: st, fmt: fmt, &w, &links)
        }
    }

    /// Writes one file as the whole archive, named `name` (`docker cp` of a file).
    public static func writeSingle<W: ByteWriter>(path: String, name: String, to w: inout TarWriter<W>) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw BerthError.notFound("\(path): \(Syscall.errnoText())") }
        var links: [UInt64: String] = [:]
        try DirectoryArchiver(root: path).writeEntry(full: path, name: name, rel: name, leaf: name, st: st,
                                                     fmt: st.st_mode & S_IFMT, &w, &links, descend: false)
    }

    func writeEntry<W: ByteWriter>(full: String, name: String, rel r: String, leaf n: String, st: stat, fmt: mode_t,
                                   _ w: inout TarWriter<W>, _ links: inout [UInt64: String], descend: Bool = true) throws {
        do {
            var e = TarEntry(name: name, kind: .file, mode: UInt32(st.st_mode & 0o7777), uid: Int(st.st_uid),
                             gid: Int(st.st_gid), size: 0, mtime: Int64(st.st_mtim.tv_sec))
            switch fmt {
            case S_IFDIR:
                e.kind = .directory
                e.name = name + "/"
                try w.write(e)
                if overlayUpper && isOpaque(full) {
                    try w.write(TarEntry(name: name + "/.wh..wh..opq", kind: .file, mode: 0o644))
                }
                if descend { try walk(r, &w, &links) }
            case S_IFREG:
                if st.st_nlink > 1 {
                    let key = UInt64(st.st_ino)
                    if let first = links[key] {
                        e.kind = .hardlink; e.linkName = first
                        try w.write(e)
                        return
                    }
                    links[key] = name
                }
                e.size = Int64(st.st_size)
                try w.writeHeader(e)
                let fd = open(full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { throw BerthError.system("open \(full): \(Syscall.errnoText())") }
                var left = e.size
                var buf = [UInt8](repeating: 0, count: Int(max(1, min(e.size, 1 << 20))))
                while left > 0 {
                    let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, min($0.count, Int(left))) }
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    try buf.withUnsafeBytes { try w.writeData(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                    left -= Int64(n)
                }
                close(fd)
                if left > 0 {  // the file shrank while reading: keep the archive well-formed
                    let z = [UInt8](repeating: 0, count: Int(left))
                    try z.withUnsafeBytes { try w.writeData($0) }
                }
                try w.finishData(size: e.size)
            case S_IFLNK:
                var buf = [Int8](repeating: 0, count: 4097)
                let n = readlink(full, &buf, 4096)
                e.kind = .symlink
                e.linkName = n > 0 ? String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
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
    }

    private func isOpaque(_ path: String) -> Bool {
        var v = [UInt8](repeating: 0, count: 4)
        let n = v.withUnsafeMutableBytes { berth_lgetxattr(path, "trusted.overlay.opaque", $0.baseAddress, 4) }
        return n == 1 && v[0] == UInt8(ascii: "y")
    }
}
