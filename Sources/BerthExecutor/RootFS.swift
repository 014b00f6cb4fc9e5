#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import Foundation
import CBerthSys

/// The container root filesystem: an overlay of the image layers, mounted with the new mount API
/// (one `lowerdir+` per layer, so no page-size limit on options and no chdir; EXECUTOR-FACTS §3).
public enum RootFS {
    /// Mounts `lowers` (top layer first) under `target` with the given upper and work dirs.
    public static func mount(lowers: [String], upper: String, work: String, target: String) throws {
        if isMountPoint(target) { return }
        let fs = fsopen("overlay", UInt32(FSOPEN_CLOEXEC))
        guard fs >= 0 else { throw BerthError.system("fsopen overlay: \(Syscall.errnoText())") }
        defer { close(fs) }
        func set(_ key: String, _ value: String) throws {
            guard fsconfig(fs, FSCONFIG_SET_STRING.rawValue, key, value, 0) == 0 else {
                throw BerthError.system("overlay option \(key)=\(value): \(Syscall.errnoText())")
            }
        }
        for l in lowers { try set("lowerdir+", l) }
        try set("upperdir", upper)
        try set("workdir", work)
        guard fsconfig(fs, FSCONFIG_CMD_CREATE.rawValue, nil, nil, 0) == 0 else {
            throw BerthError.system("create overlay: \(Syscall.errnoText())")
        }
        let m = fsmount(fs, UInt32(FSMOUNT_CLOEXEC), 0)
        guard m >= 0 else { throw BerthError.system("fsmount: \(Syscall.errnoText())") }
        defer { close(m) }
        guard move_mount(m, "", AT_FDCWD, target, UInt32(MOVE_MOUNT_F_EMPTY_PATH)) == 0 else {
            throw BerthError.system("move_mount \(target): \(Syscall.errnoText())")
        }
    }

    public static func unmount(_ target: String) {
        while isMountPoint(target) {
            if umount2(target, Int32(MNT_DETACH)) != 0 { return }
        }
    }

    /// True when `path` is the root of a mount. Only overlays are mounted on container dirs, and
    /// an overlay has its own device number, so comparing with the parent is enough.
    public static func isMountPoint(_ path: String) -> Bool {
        var a = stat(), b = stat()
        guard stat(path, &a) == 0, stat(path + "/..", &b) == 0 else { return false }
        return a.st_dev != b.st_dev || a.st_ino == b.st_ino
    }

    /// Creates an empty file inside the root filesystem unless something is there already (a bind
    /// mount target). The parent is resolved inside the root, so an image whose `/etc` is a
    /// symlink to a host path creates nothing outside it.
    public static func createEmptyConfined(root: String, path: String) {
        let parentPath = (path as NSString).deletingLastPathComponent
        let leaf = (path as NSString).lastPathComponent
        try? mkdirConfined(root: root, path: parentPath)
        let rootFd = open(root, BERTH_O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard rootFd >= 0 else { return }
        defer { close(rootFd) }
        let parent = parentPath.isEmpty ? dup(rootFd)
            : berth_openat2(rootFd, parentPath, BERTH_O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                            UInt64(BERTH_RESOLVE_IN_ROOT | BERTH_RESOLVE_NO_MAGICLINKS))
        guard parent >= 0 else { return }
        defer { close(parent) }
        let fd = openat(parent, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0o644)
        if fd >= 0 { close(fd) }
    }

    /// Creates a directory inside the root filesystem without leaving it (WORKDIR, mount targets).
    public static func mkdirConfined(root: String, path: String, uid: UInt32 = 0, gid: UInt32 = 0) throws {
        let rootFd = open(root, BERTH_O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard rootFd >= 0 else { throw BerthError.system("open \(root): \(Syscall.errnoText())") }
        defer { close(rootFd) }
        var cur = dup(rootFd)
        var prefix = ""
        for comp in path.split(separator: "/") where comp != "." && comp != ".." {
            let c = String(comp)
            prefix = prefix.isEmpty ? c : prefix + "/" + c
            var created = false
            if mkdirat(cur, c, 0o755) == 0 { created = true } else if errno != EEXIST {
                close(cur)
                throw BerthError.system("mkdir \(path): \(Syscall.errnoText())")
            }
            close(cur)
            cur = berth_openat2(rootFd, prefix, BERTH_O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                                UInt64(BERTH_RESOLVE_IN_ROOT | BERTH_RESOLVE_NO_MAGICLINKS))
            guard cur >= 0 else { throw BerthError.invalid("cannot create \(path): not a directory") }
            if created && (uid != 0 || gid != 0) { _ = fchownat(cur, "", uid, gid, BERTH_AT_EMPTY_PATH) }
        }
        close(cur)
    }
}
