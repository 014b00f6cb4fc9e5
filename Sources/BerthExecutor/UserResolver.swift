#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import CBerthSys

/// Resolves `user`, `uid`, `user:group`, `uid:gid` against the container's own /etc/passwd and
/// /etc/group, read confined to the root filesystem.
public struct ResolvedUser: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var additionalGids: [UInt32]
    public var home: String
}

public enum UserResolver {
    struct PasswdEntry { let name: String; let uid: UInt32; let gid: UInt32; let home: String }
    struct GroupEntry { let name: String; let gid: UInt32; let members: [String] }

    public static func resolve(_ spec: String, rootfs: String, groupAdd: [String] = []) throws -> ResolvedUser {
        let passwd = parsePasswd(readConfined(rootfs, "etc/passwd"))
        let groups = parseGroup(readConfined(rootfs, "etc/group"))
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let userPart = parts.first ?? ""
        var uid: UInt32 = 0, gid: UInt32 = 0, home = "/", name = ""
        if userPart.isEmpty {
            if let root = passwd.first(where: { $0.uid == 0 }) { gid = root.gid; home = root.home; name = root.name }
        } else if let n = UInt32(userPart) {
            uid = n
            if let e = passwd.first(where: { $0.uid == n }) { gid = e.gid; home = e.home; name = e.name }
        } else if let e = passwd.first(where: { $0.name == userPart }) {
            uid = e.uid; gid = e.gid; home = e.home; name = e.name
        } else {
            throw BerthError.invalid("unable to find user \(userPart): no matching entries in passwd file")
        }
        if parts.count == 2 && !parts[1].isEmpty {
            let g = parts[1]
            if let n = UInt32(g) { gid = n }
            else if let e = groups.first(where: { $0.name == g }) { gid = e.gid }
            else { throw BerthError.invalid("unable to find group \(g): no matching entries in group file") }
        }
        var extra: [UInt32] = []
        if !name.isEmpty && parts.count == 1 {
            for g in groups where g.members.contains(name) && g.gid != gid { extra.append(g.gid) }
        }
        for g in groupAdd {
            if let n = UInt32(g) { extra.append(n) }
            else if let e = groups.first(where: { $0.name == g }) { extra.append(e.gid) }
            else { throw BerthError.invalid("Unable to find group \(g)") }
        }
        return ResolvedUser(uid: uid, gid: gid, additionalGids: extra, home: home)
    }

    /// The most of /etc/passwd or /etc/group that is read (far above any real one).
    static let sizeCap = 4 << 20

    /// Reads a file inside `root`, resolving symlinks as the container would; "" when absent.
    /// The image decides what is there, so: only a regular file (a FIFO would block, a device
    /// such as /dev/zero never ends), opened without blocking, and at most `sizeCap` bytes.
    public static func readConfined(_ root: String, _ path: String) -> String {
        let rootFd = open(root, BERTH_O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard rootFd >= 0 else { return "" }
        defer { close(rootFd) }
        let fd = berth_openat2(rootFd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0,
                               UInt64(BERTH_RESOLVE_IN_ROOT | BERTH_RESOLVE_NO_MAGICLINKS))
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return "" }
        return String(decoding: Syscall.readAll(fd, limit: sizeCap), as: UTF8.self)
    }

    static func parsePasswd(_ s: String) -> [PasswdEntry] {
        s.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 6, let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { return nil }
            return PasswdEntry(name: String(f[0]), uid: uid, gid: gid, home: f[5].isEmpty ? "/" : String(f[5]))
        }
    }

    static func parseGroup(_ s: String) -> [GroupEntry] {
        s.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 3, let gid = UInt32(f[2]) else { return nil }
            let members = f.count > 3 ? f[3].split(separator: ",").map(String.init) : []
            return GroupEntry(name: String(f[0]), gid: gid, members: members)
        }
    }
}
