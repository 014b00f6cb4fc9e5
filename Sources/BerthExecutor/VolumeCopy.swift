#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import CBerthSys
import Foundation

/// Docker's copy-up: a volume mounted over a directory of the image starts with that directory's
/// content (files, links, modes, owners, times), the first time, while the volume is empty. The
/// source is resolved inside the root filesystem (`openat2(RESOLVE_IN_ROOT)`) and walked by
/// descriptor without following any link, so nothing outside either root is read or written.
public enum VolumeCopy {
    public static func copyUp(root: String, path: String, into volume: String) throws {
        let dst = open(volume, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard dst >= 0 else { throw BerthError.system("open volume \(volume): \(Syscall.errnoText())") }
        defer { close(dst) }
        guard ContainerFiles.listDirectory(dst).isEmpty else { return }
        let src: Int32
        do { src = try ContainerFiles.open(root: root, path: path, flags: O_RDONLY | O_DIRECTORY) } catch { return }
        defer { close(src) }
        var st = stat()
        if fstat(src, &st) == 0 {
            _ = fchown(dst, st.st_uid, st.st_gid)
            _ = fchmod(dst, st.st_mode & 0o7777)
        }
        try copyTree(src, dst)
    }

    /// Copies the contents of the directory open at `src` into the one open at `dst` (every copy
    /// owned by `owner` when one is given).
    public static func copyTree(_ src: Int32, _ dst: Int32, owner: (uid: uid_t, gid: gid_t)? = nil) throws {
        for name in ContainerFiles.listDirectory(src) { try copyEntry(src, name, dst, name, owner: owner) }
    }

    /// Copies the entry `name` of the directory open at `src` as `newName` into `dst` (a
    /// directory with all it holds), owners, modes and times kept; no link is followed.
    public static func copyEntry(_ src: Int32, _ name: String, _ dst: Int32, _ newName: String,
                                 owner: (uid: uid_t, gid: gid_t)? = nil) throws {
        do {
            var st = stat()
            guard fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
            if let owner { st.st_uid = owner.uid; st.st_gid = owner.gid }
            let mode = st.st_mode & 0o7777
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                guard mkdirat(dst, newName, 0o700) == 0 || errno == EEXIST else { throw fail("mkdir", name) }
                let s = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard s >= 0 else { throw fail("open", name) }
                defer { close(s) }
                let d = openat(dst, newName, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard d >= 0 else { throw fail("open", name) }
                defer { close(d) }
                try copyTree(s, d, owner: owner)
                _ = fchown(d, st.st_uid, st.st_gid)
                _ = fchmod(d, mode)
            case S_IFREG:
                let s = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
                guard s >= 0 else { throw fail("open", name) }
                defer { close(s) }
                let d = openat(dst, newName, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
                guard d >= 0 else { throw fail("create", name) }
                defer { close(d) }
                try copyData(s, d, size: Int(st.st_size), name: name)
                _ = fchown(d, st.st_uid, st.st_gid)
                _ = fchmod(d, mode)
            case S_IFLNK:
                var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlinkat(src, name, &buf, buf.count - 1)
                guard n >= 0 else { throw fail("readlink", name) }
                buf[n] = 0
                guard symlinkat(buf, dst, newName) == 0 else { throw fail("symlink", name) }
                _ = fchownat(dst, newName, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW)
            case S_IFIFO, S_IFCHR, S_IFBLK:
                guard mknodat(dst, newName, st.st_mode, st.st_rdev) == 0 else { throw fail("mknod", name) }
                _ = fchownat(dst, newName, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW)
            default:
                return   // sockets are not copied
            }
            var times = [st.st_atim, st.st_mtim]
            _ = utimensat(dst, newName, &times, AT_SYMLINK_NOFOLLOW)
        }
    }

    /// In the kernel where it can (`copy_file_range`: reflinks on filesystems that have them),
    /// else through a buffer.
    static func copyData(_ s: Int32, _ d: Int32, size: Int, name: String) throws {
        var left = size
        while left > 0 {
            let n = berth_copy_file_range(s, d, min(left, 1 << 30))
            if n > 0 { left -= n; continue }
            if n == 0 { return }
            if errno == EINTR { continue }
            if errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP { break }
            throw fail("copy", name)
        }
        guard left > 0 else { return }
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buf.withUnsafeMutableBytes { read(s, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw fail("read", name) }
            if n == 0 { return }
            try buf.withUnsafeBytes { try Syscall.writeAll(d, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    static func fail(_ what: String, _ name: String) -> BerthError {
        BerthError.system("copying the image's files into the volume: \(what) \(name): \(Syscall.errnoText())")
    }
}
