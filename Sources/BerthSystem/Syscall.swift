#if canImport(Glibc)
import Glibc
#endif
import CBerthSys
import Foundation

/// The funnel for system calls: retries EINTR and turns errno into a `BerthError`.
public enum Syscall {
    /// Runs `body` until it stops failing with EINTR; a negative result throws with errno text.
    @discardableResult
    public static func call<T: BinaryInteger>(_ what: @autoclosure () -> String, _ body: () -> T) throws -> T {
        while true {
            let r = body()
            if r >= 0 { return r }
            let e = errno
            if e == EINTR { continue }
            throw BerthError.system("\(what()): \(String(cString: strerror(e)))")
        }
    }

    public static func errnoText(_ e: Int32 = errno) -> String { String(cString: strerror(e)) }

    public static func closeQuietly(_ fd: Int32) { if fd >= 0 { _ = Glibc.close(fd) } }

    /// A unix socket of `type` (SOCK_STREAM, SOCK_SEQPACKET) connected to `path`, close-on-exec.
    public static func connectUnix(_ path: String, type: Int32) throws -> Int32 {
        let fd = socket(AF_UNIX, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BerthError.system("socket: \(errnoText())") }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
            Glibc.close(fd)
            throw BerthError.system("socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { p in
            for (i, b) in bytes.enumerated() { p[i] = b }
            p[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let e = errnoText()
            Glibc.close(fd)
            throw BerthError.system("connect to \(path): \(e)")
        }
        return fd
    }

    /// Creates a pipe whose ends are close-on-exec.
    public static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        try call("pipe2") { berth_pipe2(&fds, O_CLOEXEC) }
        return (fds[0], fds[1])
    }

    /// Reads from `fd` until EOF, or until `limit` bytes are in.
    public static func readAll(_ fd: Int32, limit: Int = Int.max) -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while out.count < limit {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, min($0.count, limit - out.count)) }
            if n > 0 { out.append(contentsOf: buf[0..<n]); continue }
            if n < 0 && errno == EINTR { continue }
            return out
        }
        return out
    }

    /// Writes all of `bytes` to `fd`.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        var off = 0
        while off < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + off, bytes.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                throw BerthError.system("write: \(errnoText())")
            }
            off += n
        }
    }

    /// Sends `signal` to `pid`; false when the process no longer exists.
    @discardableResult
    public static func kill(_ pid: Int32, _ signal: Int32) -> Bool { Glibc.kill(pid, signal) == 0 }

    /// True for a live process; a zombie (exited, not yet reaped) does not count.
    public static func processExists(_ pid: Int32) -> Bool {
        guard pid > 0, Glibc.kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let s = FS.readText("/proc/\(pid)/stat"),
              let close = s.lastIndex(of: ")") else { return true }
        let state = s[s.index(after: close)...].dropFirst().first
        return state != "Z" && state != "X"
    }

}

/// File helpers used across Berth; all paths are absolute host paths owned by the daemon.
public enum FS {
    /// Creates `path` and missing parents; the last component gets `mode` (umask aside).
    public static func mkdirAll(_ path: String, mode: mode_t = 0o755) throws {
        if mkdir(path, mode) == 0 { return }
        switch errno {
        case EEXIST:
            if isDirectory(path) { return }
            throw BerthError.system("mkdir \(path): exists and is not a directory")
        case ENOENT:
            let parent = (path as NSString).deletingLastPathComponent
            guard !parent.isEmpty, parent != path else { throw BerthError.system("mkdir \(path): \(Syscall.errnoText())") }
            try mkdirAll(parent, mode: 0o755)
            if mkdir(path, mode) != 0 && errno != EEXIST { throw BerthError.system("mkdir \(path): \(Syscall.errnoText())") }
        default:
            throw BerthError.system("mkdir \(path): \(Syscall.errnoText())")
        }
    }

    public static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    public static func isSymlink(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFLNK
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Removes a file or a tree; a missing path is not an error.
    public static func removeAll(_ path: String) {
        guard exists(path) else { return }
        try? FileManager.default.removeItem(atPath: path)
    }

    /// A whole file as text, read to its end: what /proc files need (their size is 0, and
    /// Foundation's `String(contentsOfFile:)` stops after one page of them). nil if unreadable.
    public static func readText(_ path: String) -> String? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        return String(decoding: Syscall.readAll(fd), as: UTF8.self)
    }

    public static func read(_ path: String) throws -> Data {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw BerthError.notFound("\(path): no such file")
        }
        return d
    }

    /// Writes through a temporary file and rename, so readers see the old or the new content only.
    public static func writeAtomically(_ path: String, _ data: Data, mode: mode_t = 0o644) throws {
        let tmp = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw BerthError.system("create \(tmp): \(Syscall.errnoText())") }
        defer { close(fd) }
        try data.withUnsafeBytes { try Syscall.writeAll(fd, $0) }
        _ = fchmod(fd, mode)
        try Syscall.call("rename \(tmp)") { rename(tmp, path) }
    }

    public static func write(_ path: String, _ string: String, mode: mode_t = 0o644) throws {
        try writeAtomically(path, Data(string.utf8), mode: mode)
    }

    public static func fileSize(_ path: String) -> Int64 {
        var st = stat()
        return lstat(path, &st) == 0 ? Int64(st.st_size) : 0
    }

    /// Disk usage of a tree, counting each inode once (used only for `size=1` listings).
    public static func diskUsage(_ path: String) -> Int64 {
        guard let e = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total: Int64 = 0
        var seen = Set<UInt64>()
        var st = stat()
        while let rel = e.nextObject() as? String {
            if lstat(path + "/" + rel, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG {
                if st.st_nlink > 1 && !seen.insert(UInt64(st.st_ino)).inserted { continue }
                total += Int64(st.st_size)
            }
        }
        return total
    }
}
