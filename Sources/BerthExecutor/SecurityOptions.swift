#if canImport(Glibc)
import Glibc
#endif
import BerthSystem
import CBerthSys
import Foundation

/// `--security-opt` as dockerd reads it: `seccomp=unconfined|<profile JSON>`, `no-new-privileges[=bool]`;
/// `apparmor=` and `label=` are accepted and have no effect (neither is active on these hosts, and
/// dockerd ignores them there too).
public struct SecurityOptions: Sendable {
    public enum Seccomp: Sendable { case dockerDefault, unconfined, custom(SeccompProfile) }
    public var seccomp = Seccomp.dockerDefault
    public var noNewPrivileges = false

    public init() {}

    public static func parse(_ opts: [String]) throws -> SecurityOptions {
        var o = SecurityOptions()
        for opt in opts {
            if opt == "no-new-privileges" { o.noNewPrivileges = true; continue }
            if opt == "disable" { continue }
            let sep: Character? = opt.contains("=") ? "=" : opt.contains(":") ? ":" : nil
            guard let sep, let i = opt.firstIndex(of: sep) else { throw BerthError.invalid("invalid --security-opt 1: \"\(opt)\"") }
            let key = String(opt[..<i]), value = String(opt[opt.index(after: i)...])
            switch key {
            case "label", "apparmor":
                continue
            case "seccomp":
                if value == "unconfined" { o.seccomp = .unconfined }
                else if value == "builtin" || value.isEmpty { o.seccomp = .dockerDefault }
                else { o.seccomp = .custom(try SeccompProfile.parse(value)) }
            case "no-new-privileges":
                guard let b = Self.bool(value) else { throw BerthError.invalid("invalid --security-opt 2: \"\(opt)\"") }
                o.noNewPrivileges = b
            default:
                throw BerthError.invalid("invalid --security-opt 2: \"\(opt)\"")
            }
        }
        return o
    }

    static func bool(_ s: String) -> Bool? {
        switch s.lowercased() {
        case "1", "t", "true": return true
        case "0", "f", "false": return false
        default: return nil
        }
    }
}

/// Host devices given to a container (`--device`, `--privileged`) and device cgroup rules.
public enum ContainerDevices {
    /// A `--device` request: the host path, where it appears in the container, the cgroup access.
    public struct Request: Sendable {
        public var PathOnHost: String
        public var PathInContainer: String?
        public var CgroupPermissions: String?
        public init(host: String, container: String?, permissions: String?) {
            PathOnHost = host; PathInContainer = container; CgroupPermissions = permissions
        }
    }

    /// The nodes `--device` names: a device file, or every device under a directory.
    public static func resolve(_ mappings: [Request]) throws -> (devices: [OCISpec.Device], rules: [OCISpec.DeviceRule]) {
        var devices: [OCISpec.Device] = [], rules: [OCISpec.DeviceRule] = []
        for m in mappings {
            let perms = (m.CgroupPermissions ?? "").isEmpty ? "rwm" : m.CgroupPermissions!
            guard !perms.isEmpty, perms.allSatisfy({ "rwm".contains($0) }) else {
                throw BerthError.invalid("invalid device mode: \(perms)")
            }
            let inner = (m.PathInContainer ?? "").isEmpty ? m.PathOnHost : m.PathInContainer!
            var st = stat()
            guard stat(m.PathOnHost, &st) == 0 else {
                throw BerthError.invalid("error gathering device information while adding custom device \"\(m.PathOnHost)\": \(Syscall.errnoText())")
            }
            let found: [(String, stat)] = (st.st_mode & S_IFMT) == S_IFDIR ? walk(m.PathOnHost) : [(m.PathOnHost, st)]
            for (path, s) in found {
                guard let d = device(path, s, inside: inner + String(path.dropFirst(m.PathOnHost.count))) else {
                    if found.count == 1 { throw BerthError.invalid("error gathering device information while adding custom device \"\(m.PathOnHost)\": not a device node") }
                    continue
                }
                devices.append(d)
                rules.append(.init(allow: true, type: d.type, major: d.major, minor: d.minor, access: perms))
            }
        }
        return (devices, rules)
    }

    /// Every device node of the host (`--privileged`), as runc's HostDevices lists them.
    public static func allHostDevices() -> [OCISpec.Device] {
        walk("/dev", skip: ["/dev/pts", "/dev/shm", "/dev/mqueue", "/dev/fd", "/dev/.lxc", "/dev/.lxd-mounts"])
            .compactMap { device($0.0, $0.1, inside: $0.0) }
            .filter { $0.path != "/dev/console" && $0.path != "/dev/ptmx" }
    }

    static func device(_ path: String, _ st: stat, inside: String) -> OCISpec.Device? {
        let fmt = st.st_mode & S_IFMT
        guard fmt == S_IFCHR || fmt == S_IFBLK else { return nil }
        let rdev = UInt64(st.st_rdev)
        return OCISpec.Device(path: inside, type: fmt == S_IFCHR ? "c" : "b", major: Int64(berth_major(rdev)),
                              minor: Int64(berth_minor(rdev)), fileMode: UInt32(st.st_mode & 0o777), uid: st.st_uid, gid: st.st_gid)
    }

    /// Device nodes under `dir` (not following symlinks), depth-bounded.
    static func walk(_ dir: String, skip: Set<String> = [], depth: Int = 0) -> [(String, stat)] {
        guard depth < 8, let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return [] }
        var out: [(String, stat)] = []
        for n in names.sorted() {
            let p = dir + "/" + n
            if skip.contains(p) { continue }
            var st = stat()
            guard lstat(p, &st) == 0 else { continue }
            let fmt = st.st_mode & S_IFMT
            if fmt == S_IFDIR { out += walk(p, skip: skip, depth: depth + 1) }
            else if fmt == S_IFCHR || fmt == S_IFBLK { out.append((p, st)) }
        }
        return out
    }

    /// `--device-cgroup-rule 'c 1:3 mr'`.
    public static func parseRule(_ s: String) throws -> OCISpec.DeviceRule {
        let parts = s.split(separator: " ", omittingEmptySubsequences: true)
        let bad = BerthError.invalid("invalid device cgroup format '\(s)'")
        guard parts.count == 3, ["a", "b", "c"].contains(parts[0]), !parts[2].isEmpty, parts[2].count <= 3,
              parts[2].allSatisfy({ "rwm".contains($0) }) else { throw bad }
        let mm = parts[1].split(separator: ":", omittingEmptySubsequences: false)
        guard mm.count == 2 else { throw bad }
        func num(_ x: Substring) throws -> Int64? {
            if x == "*" { return nil }
            guard let v = Int64(x), v >= 0, v <= Int64(UInt32.max) else { throw bad }
            return v
        }
        return .init(allow: true, type: String(parts[0]), major: try num(mm[0]), minor: try num(mm[1]), access: String(parts[2]))
    }
}

/// `--sysctl`: only what a container's own namespaces hold, as runc enforces it.
public enum Sysctls {
    static let ipc: Set<String> = ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                                   "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"]

    public static func check(_ sysctls: [String: String], hostNetwork: Bool, hostIPC: Bool) throws {
        for key in sysctls.keys.sorted() {
            if ipc.contains(key) || key.hasPrefix("fs.mqueue.") {
                if hostIPC { throw BerthError.invalid("sysctl \"\(key)\" not allowed in host IPC namespace") }
                continue
            }
            if key.hasPrefix("net.") {
                if hostNetwork { throw BerthError.invalid("sysctl \"\(key)\" not allowed in host network namespace") }
                continue
            }
            throw BerthError.invalid("sysctl \"\(key)\" is not in a separate kernel namespace")
        }
    }
}

/// `--init`: Docker's docker-init (tini), bound read-only at /sbin/docker-init.
public enum InitBinary {
    public static let mountPoint = "/sbin/docker-init"
    public static let candidates = ["/usr/bin/docker-init", "/usr/libexec/docker/docker-init", "/usr/bin/tini-static", "/usr/bin/tini"]

    public static func find() throws -> String {
        if let p = candidates.first(where: { access($0, X_OK) == 0 }) { return p }
        throw BerthError.invalid("docker-init binary not found: install tini (Debian's tini package gives /usr/bin/tini-static)")
    }
}
