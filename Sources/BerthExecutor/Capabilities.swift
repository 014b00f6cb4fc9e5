import BerthSystem
import Foundation

/// Linux capability names and the clamp to what the daemon itself may grant.
public enum Capabilities {
    /// Capability numbers, as in linux/capability.h.
    public static let all: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
        "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
        "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
        "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
        "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
    ]

    /// Docker's default set.
    public static let dockerDefault: [String] = [
        "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
        "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ]

    /// The daemon's bounding set (CapBnd of /proc/self/status); nothing outside it can be granted.
    public static let bounding: Set<String> = {
        guard let s = FS.readText("/proc/self/status"),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("CapBnd:") }),
              let mask = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) else {
            return Set(all)
        }
        var out = Set<String>()
        for (i, n) in all.enumerated() where mask & (1 << UInt64(i)) != 0 { out.insert(n) }
        return out
    }()

    /// Normalises `chown`, `CAP_CHOWN`, `ALL`.
    public static func normalise(_ name: String) -> String {
        let u = name.uppercased()
        return u == "ALL" ? "ALL" : (u.hasPrefix("CAP_") ? u : "CAP_" + u)
    }

    /// The effective list for a container: defaults (or all when privileged), adds, drops, clamped.
    public static func compute(privileged: Bool, add: [String], drop: [String]) throws -> [String] {
        var set: [String] = privileged ? all : dockerDefault
        let adds = add.map(normalise)
        let drops = drop.map(normalise)
        for a in adds {
            if a == "ALL" { set = all; continue }
            guard all.contains(a) else { throw CapabilityError.unknown(a) }
            if !set.contains(a) { set.append(a) }
        }
        if drops.contains("ALL") { set = adds.filter { $0 != "ALL" } } else {
            for d in drops { guard all.contains(d) else { throw CapabilityError.unknown(d) }; set.removeAll { $0 == d } }
        }
        return set.filter { bounding.contains($0) }
    }

    public enum CapabilityError: Error { case unknown(String) }
}
